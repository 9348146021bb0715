//! The principals registry: compute instances (instance principals), resources (resource
//! principals) and OKE clusters (workload identity), with their key material.
//!
//! Kept apart from `state.json` so that the services that use it stay independent of the core
//! state. Layout inside the state directory:
//! ```text
//! DIR/principals.json                 instances, resources, clusters (JSON, 0600)
//! DIR/pki/root-ca.pem, root-ca.key.pem           the instance-identity root CA
//! DIR/pki/intermediate.pem, intermediate.key.pem the intermediate ("PKISVC Identity Intermediate r2")
//! DIR/instances/<name>/identity.pem   leaf certificate + its PKCS#1 key (one file, swapped atomically)
//! DIR/resources/<name>/key.pem        a resource's own key (RP 2.1.x signing key)
//! DIR/oke/<cluster>/sa-signing.pem    the cluster's service-account token signing key
//! ```
//! Another process (`oci-emulator add-instance`, `rotate-cert`, …) may change these while a server
//! runs: `principals.json` is re-read whenever its modification stamp changes, and certificate
//! files are read on every use.
//!
//! Which instance the metadata service answers for: the *current* instance (the first one made,
//! or the one chosen with [`Principals::set_current_instance`]); when there is none, the first
//! request creates `emulator-instance`, so `OCI_METADATA_BASE_URL=http://127.0.0.1:PORT/opc/v2`
//! works on a fresh state.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use ociauth::env::Clock;
use ociauth::fsutil;
use ociauth::keys::{KeyError, PrivateKey};
use serde::{Deserialize, Serialize};

use crate::certs::{self, Attr, CertError, CertInfo, CertSpec, Issuer, Kind};
use crate::state::{Millis, State, ids, to_millis};

/// File name of the registry inside the state directory.
pub const PRINCIPALS_FILE: &str = "principals.json";
/// Name of the instance made on first use of the metadata service.
pub const DEFAULT_INSTANCE_NAME: &str = "emulator-instance";
/// Lifetime of a leaf certificate; it is renewed on use once expired (real leaves rotate often).
pub const LEAF_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const INTERMEDIATE_LIFETIME: Duration = Duration::from_secs(5 * 365 * 24 * 3600);
/// Certificates start this long before "now", so small clock differences do not matter.
const BACKDATE: Duration = Duration::from_secs(3600);
const VERSION: u32 = 1;

/// Why a principal could not be made, found or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PrincipalsError {
    #[error("{}: {source} (check that the state directory exists and is writable)", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a valid principals file ({source}); move it away to start afresh", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: {source}; delete it to have the emulator make a new one", path.display())]
    BadMaterial {
        path: PathBuf,
        #[source]
        source: CertError,
    },
    #[error("cannot make a key: {0}")]
    Key(#[from] KeyError),
    #[error("cannot make a certificate: {0}")]
    Cert(#[from] CertError),
    #[error(
        "no {kind} named {name:?} in the emulator state; list them with `oci-emulator principals --state DIR`"
    )]
    Unknown { kind: &'static str, name: String },
    #[error("{kind} {name:?} already exists; choose another --name")]
    Duplicate { kind: &'static str, name: String },
    #[error("invalid {kind} {field} {value:?}: use 1 to 63 characters from a-z 0-9 and -")]
    InvalidName {
        kind: &'static str,
        field: &'static str,
        value: String,
    },
    #[error(
        "unknown region {0:?}; give an OCI region identifier such as us-ashburn-1 or a short code such as iad"
    )]
    UnknownRegion(String),
    #[error("cannot issue the token: {0}")]
    Token(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PrincipalsError + '_ {
    move |source| PrincipalsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A compute instance that can act as an instance principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub name: String,
    pub id: String,
    pub display_name: String,
    pub compartment_id: String,
    /// Region identifier (`us-ashburn-1`).
    pub region: String,
    /// Text served at `/instance/region`; `None`: the lower-case short code (`iad`), as older
    /// regions answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_text: Option<String>,
    /// Serve `/opc/v1` (no `Authorization` needed) as well; off: `/opc/v1/*` is 404.
    #[serde(default)]
    pub imds_v1: bool,
    pub availability_domain: String,
    pub fault_domain: String,
    pub shape: String,
    pub time_created: Millis,
    /// The tenancy the leaf certificate names in `opc-tenant:` when it differs from the
    /// emulator's (set by `rotate-cert --cert-tenant`, to test the SDKs' tenancy-change check;
    /// federation refuses such a certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_tenant: Option<String>,
}

/// A resource that can act as a resource principal (a function, an autonomous database, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub name: String,
    pub id: String,
    /// The OCID kind and the `res_type` claim (`fnfunc`, `autonomousdatabase`, …).
    pub resource_type: String,
    pub compartment_id: String,
    /// Region identifier.
    pub region: String,
    /// RP 1.1: the instance (name) that hosts the resource and may fetch its resource principal
    /// token with its instance-principal token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// RP 3.0: the parent resource (name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// RP 2.1.x: the public half of the resource's own key (`DIR/resources/<name>/key.pem`).
    pub public_key: String,
    pub time_created: Millis,
}

/// An OKE cluster with workload identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkeCluster {
    pub name: String,
    pub id: String,
    pub compartment_id: String,
    pub region: String,
    /// `false`: a "basic" cluster, whose proxymux answers 403.
    pub enhanced: bool,
    /// `iss` of the service-account tokens it signs.
    pub issuer: String,
    pub time_created: Millis,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    current_instance: Option<String>,
    #[serde(default)]
    instances: Vec<Instance>,
    #[serde(default)]
    resources: Vec<Resource>,
    #[serde(default)]
    clusters: Vec<OkeCluster>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

struct Inner {
    data: Data,
    stamp: Option<Stamp>,
}

/// A certificate with its key, loaded from the state directory.
#[derive(Clone)]
pub struct CertAndKey {
    pub cert: CertInfo,
    pub key: PrivateKey,
}

impl std::fmt::Debug for CertAndKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAndKey")
            .field("subject", &self.cert.subject_values)
            .finish_non_exhaustive()
    }
}

/// The instance-identity CA chain.
#[derive(Debug, Clone)]
pub struct Pki {
    pub root: CertAndKey,
    pub intermediate: CertAndKey,
}

/// What the metadata service serves under `identity/`.
#[derive(Clone)]
pub struct InstanceIdentity {
    pub cert_pem: String,
    /// PKCS#1 PEM of the leaf key (secret).
    pub key_pem: zeroize::Zeroizing<String>,
    pub intermediate_pem: String,
    pub leaf: CertInfo,
}

impl std::fmt::Debug for InstanceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceIdentity")
            .field("subject", &self.leaf.subject_values)
            .finish_non_exhaustive()
    }
}

/// Options for a new instance.
#[derive(Debug, Clone, Default)]
pub struct NewInstance {
    /// Name (default `instance-N`; `emulator-instance` for the implicit one).
    pub name: Option<String>,
    /// Region identifier or short code (default: the emulator's region).
    pub region: Option<String>,
    /// Text for `/instance/region` (default: the short code).
    pub region_text: Option<String>,
    /// Also serve `/opc/v1`.
    pub imds_v1: bool,
}

/// Options for a new resource.
#[derive(Debug, Clone, Default)]
pub struct NewResource {
    pub name: Option<String>,
    /// OCID kind / `res_type` (default `fnfunc`).
    pub resource_type: Option<String>,
    /// Host instance name (RP 1.1).
    pub instance: Option<String>,
    /// Parent resource name (RP 3.0).
    pub parent: Option<String>,
}

/// Options for a new OKE cluster.
#[derive(Debug, Clone, Default)]
pub struct NewCluster {
    pub name: Option<String>,
    /// A basic cluster (proxymux answers 403).
    pub basic: bool,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `(identifier, lower-case short code)` of a built-in region given by either.
pub fn region_codes(input: &str) -> Option<(String, String)> {
    let r = ociauth::regions::builtin_region(input)?;
    let key = ociauth::regions::all_regions()
        .iter()
        .find(|i| i.name == r.id)?
        .key
        .to_ascii_lowercase();
    Some((r.id, key))
}

/// The registry, shared by the services and the in-process API.
pub struct Principals {
    dir: PathBuf,
    state: Arc<State>,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
    /// Serialise the slow, must-happen-once creations (default instance, CA chain, leaves);
    /// taken in that order only.
    default_lock: Mutex<()>,
    pki_lock: Mutex<()>,
    leaf_lock: Mutex<()>,
    internal_key: Mutex<Option<PrivateKey>>,
}

impl std::fmt::Debug for Principals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principals")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Principals {
    /// Open the registry of `state` (nothing is created until first needed).
    pub fn open(state: Arc<State>, clock: Arc<dyn Clock>) -> Result<Self, PrincipalsError> {
        let dir = state.dir().to_path_buf();
        let path = dir.join(PRINCIPALS_FILE);
        let (data, stamp) = if path.exists() {
            (load(&path)?, stamp_of(&path))
        } else {
            (
                Data {
                    version: VERSION,
                    ..Data::default()
                },
                None,
            )
        };
        Ok(Self {
            dir,
            state,
            clock,
            inner: Mutex::new(Inner { data, stamp }),
            default_lock: Mutex::new(()),
            pki_lock: Mutex::new(()),
            leaf_lock: Mutex::new(()),
            internal_key: Mutex::new(None),
        })
    }

    /// The key that signs the emulator's opaque intermediate tokens (resource principal tokens
    /// and service principal session tokens): `DIR/keys/principals-internal.pem`, made on first
    /// use. These tokens carry no `jwk`, so they can never pass as `ST$` tokens.
    pub fn internal_key(&self) -> Result<PrivateKey, PrincipalsError> {
        let mut slot = self.internal_key.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let path = self.dir.join("keys").join("principals-internal.pem");
        let key = match read_opt(&path)? {
            Some(pem) => PrivateKey::from_pem(pem.as_bytes(), None)?,
            None => {
                let key = PrivateKey::generate()?;
                let pem = key.to_pkcs8_pem(None)?;
                fsutil::write_private_atomic(&path, pem.as_bytes()).map_err(io_err(&path))?;
                key
            }
        };
        *slot = Some(key.clone());
        Ok(key)
    }

    fn path(&self) -> PathBuf {
        self.dir.join(PRINCIPALS_FILE)
    }

    /// The core state (tenancy, compartment, region).
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.path();
        let now = stamp_of(&path);
        if now.is_some() && now != inner.stamp {
            match load(&path) {
                Ok(d) => {
                    inner.data = d;
                    inner.stamp = now;
                }
                Err(e) => tracing::warn!("cannot reload {}: {e}", path.display()),
            }
        }
        inner
    }

    fn read<R>(&self, f: impl FnOnce(&Data) -> R) -> R {
        f(&self.lock().data)
    }

    fn update<R>(
        &self,
        f: impl FnOnce(&mut Data) -> Result<R, PrincipalsError>,
    ) -> Result<R, PrincipalsError> {
        let mut inner = self.lock();
        let mut data = inner.data.clone();
        let out = f(&mut data)?;
        data.version = VERSION;
        let path = self.path();
        let mut bytes =
            serde_json::to_vec_pretty(&data).map_err(|source| PrincipalsError::Corrupt {
                path: path.clone(),
                source,
            })?;
        bytes.push(b'\n');
        fsutil::write_private_atomic(&path, &bytes).map_err(io_err(&path))?;
        inner.data = data;
        inner.stamp = stamp_of(&path);
        Ok(out)
    }

    // ----- instances -------------------------------------------------------------------------

    pub fn instances(&self) -> Vec<Instance> {
        self.read(|d| d.instances.clone())
    }

    /// An instance by name or OCID.
    pub fn instance(&self, name_or_id: &str) -> Option<Instance> {
        self.read(|d| {
            d.instances
                .iter()
                .find(|i| i.name == name_or_id || i.id == name_or_id)
                .cloned()
        })
    }

    fn instance_or_err(&self, name_or_id: &str) -> Result<Instance, PrincipalsError> {
        self.instance(name_or_id)
            .ok_or_else(|| PrincipalsError::Unknown {
                kind: "instance",
                name: name_or_id.to_string(),
            })
    }

    /// Register an instance and make its leaf certificate.
    pub fn add_instance(&self, opts: NewInstance) -> Result<Instance, PrincipalsError> {
        let region_in = opts.region.unwrap_or_else(|| self.state.region());
        let (region, short) =
            region_codes(&region_in).ok_or(PrincipalsError::UnknownRegion(region_in))?;
        let now = to_millis(self.clock.now());
        let compartment = self.state.compartment_id();
        let inst = self.update(|d| {
            let name = match opts.name {
                Some(n) => n,
                None => (1..)
                    .map(|i| format!("instance-{i}"))
                    .find(|n| !d.instances.iter().any(|x| &x.name == n))
                    .unwrap_or_else(|| format!("instance-{}", ids::base32(8))),
            };
            if !valid_name(&name) {
                return Err(PrincipalsError::InvalidName {
                    kind: "instance",
                    field: "name",
                    value: name,
                });
            }
            if d.instances.iter().any(|x| x.name == name) {
                return Err(PrincipalsError::Duplicate {
                    kind: "instance",
                    name,
                });
            }
            let inst = Instance {
                id: ids::ocid("instance", &short),
                display_name: name.clone(),
                name,
                compartment_id: compartment.clone(),
                region: region.clone(),
                region_text: opts.region_text.clone(),
                imds_v1: opts.imds_v1,
                availability_domain: format!("Emul:{}-AD-1", short.to_ascii_uppercase()),
                fault_domain: "FAULT-DOMAIN-1".to_string(),
                shape: "VM.Standard.E4.Flex".to_string(),
                time_created: now,
                cert_tenant: None,
            };
            d.instances.push(inst.clone());
            if d.current_instance.is_none() {
                d.current_instance = Some(inst.name.clone());
            }
            Ok(inst)
        })?;
        self.issue_leaf(&inst)?;
        Ok(inst)
    }

    /// The instance the default metadata paths answer for, created on first use.
    pub fn current_instance(&self) -> Result<Instance, PrincipalsError> {
        let found = self.read(|d| {
            d.current_instance
                .as_ref()
                .and_then(|c| d.instances.iter().find(|i| &i.name == c))
                .or_else(|| d.instances.first())
                .cloned()
        });
        if let Some(i) = found {
            return Ok(i);
        }
        let _making = self.default_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = self.read(|d| d.instances.first().cloned()) {
            return Ok(i);
        }
        self.add_instance(NewInstance {
            name: Some(DEFAULT_INSTANCE_NAME.to_string()),
            ..NewInstance::default()
        })
    }

    /// Make `name` the instance the default metadata paths answer for.
    pub fn set_current_instance(&self, name_or_id: &str) -> Result<(), PrincipalsError> {
        let inst = self.instance_or_err(name_or_id)?;
        self.update(|d| {
            d.current_instance = Some(inst.name.clone());
            Ok(())
        })
    }

    /// Change how an instance's metadata service answers (region text, v1).
    pub fn configure_instance(
        &self,
        name_or_id: &str,
        region_text: Option<Option<String>>,
        imds_v1: Option<bool>,
    ) -> Result<Instance, PrincipalsError> {
        let inst = self.instance_or_err(name_or_id)?;
        self.update(|d| {
            let i = d
                .instances
                .iter_mut()
                .find(|i| i.name == inst.name)
                .ok_or_else(|| PrincipalsError::Unknown {
                    kind: "instance",
                    name: inst.name.clone(),
                })?;
            if let Some(t) = region_text {
                i.region_text = t;
            }
            if let Some(v) = imds_v1 {
                i.imds_v1 = v;
            }
            Ok(i.clone())
        })
    }

    /// `DIR/instances/<name>/identity.pem`.
    pub fn identity_path(&self, name: &str) -> PathBuf {
        self.dir.join("instances").join(name).join("identity.pem")
    }

    /// Replace the instance's leaf key and certificate. `cert_tenant` `Some(t)` writes `t` into
    /// `opc-tenant:` from now on (to test the SDKs' tenancy-change check); `Some("")` goes back to
    /// the emulator's tenancy; `None` keeps the current choice.
    pub fn rotate_cert(
        &self,
        name_or_id: &str,
        cert_tenant: Option<&str>,
    ) -> Result<InstanceIdentity, PrincipalsError> {
        let mut inst = self.instance_or_err(name_or_id)?;
        if let Some(t) = cert_tenant {
            let t = (!t.is_empty()).then(|| t.to_string());
            inst = self.update(|d| {
                let i = d
                    .instances
                    .iter_mut()
                    .find(|i| i.name == inst.name)
                    .ok_or_else(|| PrincipalsError::Unknown {
                        kind: "instance",
                        name: inst.name.clone(),
                    })?;
                i.cert_tenant = t;
                Ok(i.clone())
            })?;
        }
        self.issue_leaf(&inst)?;
        self.identity(&inst)
    }

    /// The tenancy an instance's certificate names.
    pub fn cert_tenant(&self, inst: &Instance) -> String {
        inst.cert_tenant
            .clone()
            .unwrap_or_else(|| self.state.tenancy_id())
    }

    fn issue_leaf(&self, inst: &Instance) -> Result<(), PrincipalsError> {
        let pki = self.pki()?;
        let key = PrivateKey::generate()?;
        let now = self.clock.now();
        let subject = [
            Attr::Cn(inst.id.clone()),
            Attr::Ou("opc-certtype:instance".to_string()),
            Attr::Ou(format!("opc-instance:{}", inst.id)),
            Attr::Ou(format!("opc-compartment:{}", inst.compartment_id)),
            Attr::Ou(format!("opc-tenant:{}", self.cert_tenant(inst))),
        ];
        let der = certs::build(
            &CertSpec {
                subject: &subject,
                spki_der: key.public_key_der(),
                not_before: now - BACKDATE,
                not_after: now + LEAF_LIFETIME,
                kind: Kind::Leaf,
            },
            Some(Issuer {
                name_der: &pki.intermediate.cert.subject_der,
                spki_der: &pki.intermediate.cert.spki_der,
                key: &pki.intermediate.key,
            }),
            &key,
        )?;
        let mut text = zeroize::Zeroizing::new(certs::cert_pem(&der));
        text.push_str(&certs::pkcs1_pem(&key)?);
        let path = self.identity_path(&inst.name);
        fsutil::write_private_atomic(&path, text.as_bytes()).map_err(io_err(&path))
    }

    fn load_leaf(&self, name: &str) -> Result<Option<CertAndKey>, PrincipalsError> {
        let path = self.identity_path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => zeroize::Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(PrincipalsError::Io { path, source }),
        };
        load_cert_and_key(&path, &text).map(Some)
    }

    /// The instance's current leaf (renewed when missing, expired, or not issued by the current
    /// intermediate), its key and the intermediate, as the metadata service serves them.
    pub fn identity(&self, inst: &Instance) -> Result<InstanceIdentity, PrincipalsError> {
        let pki = self.pki()?;
        let now = self.clock.now();
        let usable =
            |l: &CertAndKey| l.cert.valid_at(now) && l.cert.issued_by(&pki.intermediate.cert);
        let leaf = match self.load_leaf(&inst.name)? {
            Some(l) if usable(&l) => l,
            _ => {
                let _making = self.leaf_lock.lock().unwrap_or_else(|p| p.into_inner());
                match self.load_leaf(&inst.name)? {
                    Some(l) if usable(&l) => l,
                    _ => {
                        self.issue_leaf(inst)?;
                        self.load_leaf(&inst.name)?
                            .ok_or_else(|| PrincipalsError::Io {
                                path: self.identity_path(&inst.name),
                                source: std::io::Error::other("the new certificate vanished"),
                            })?
                    }
                }
            }
        };
        Ok(InstanceIdentity {
            cert_pem: certs::cert_pem(&leaf.cert.der),
            key_pem: certs::pkcs1_pem(&leaf.key)?,
            intermediate_pem: certs::cert_pem(&pki.intermediate.cert.der),
            leaf: leaf.cert,
        })
    }

    /// The CA chain, made on first use.
    pub fn pki(&self) -> Result<Pki, PrincipalsError> {
        let pki_dir = self.dir.join("pki");
        let root_path = pki_dir.join("root-ca.pem");
        let int_path = pki_dir.join("intermediate.pem");
        if let (Some(root), Some(intermediate)) = (read_opt(&root_path)?, read_opt(&int_path)?) {
            return Ok(Pki {
                root: load_cert_and_key(&root_path, &root)?,
                intermediate: load_cert_and_key(&int_path, &intermediate)?,
            });
        }
        let _making = self.pki_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(root), Some(intermediate)) = (read_opt(&root_path)?, read_opt(&int_path)?) {
            return Ok(Pki {
                root: load_cert_and_key(&root_path, &root)?,
                intermediate: load_cert_and_key(&int_path, &intermediate)?,
            });
        }
        let now = self.clock.now();
        let root_key = PrivateKey::generate()?;
        let root_der = certs::build(
            &CertSpec {
                subject: &[Attr::Cn(certs::ROOT_CN.to_string())],
                spki_der: root_key.public_key_der(),
                not_before: now - BACKDATE,
                not_after: now + CA_LIFETIME,
                kind: Kind::Ca(None),
            },
            None,
            &root_key,
        )?;
        let root = CertAndKey {
            cert: CertInfo::parse(&root_der)?,
            key: root_key,
        };
        let int_key = PrivateKey::generate()?;
        let int_der = certs::build(
            &CertSpec {
                subject: &[Attr::Cn(certs::INTERMEDIATE_CN.to_string())],
                spki_der: int_key.public_key_der(),
                not_before: now - BACKDATE,
                not_after: now + INTERMEDIATE_LIFETIME,
                kind: Kind::Ca(Some(0)),
            },
            Some(Issuer {
                name_der: &root.cert.subject_der,
                spki_der: &root.cert.spki_der,
                key: &root.key,
            }),
            &int_key,
        )?;
        let intermediate = CertAndKey {
            cert: CertInfo::parse(&int_der)?,
            key: int_key,
        };
        // Intermediate first: a reader needs both, and the root is checked first.
        write_cert_and_key(&int_path, &intermediate)?;
        write_cert_and_key(&root_path, &root)?;
        Ok(Pki { root, intermediate })
    }

    // ----- resources -------------------------------------------------------------------------

    pub fn resources(&self) -> Vec<Resource> {
        self.read(|d| d.resources.clone())
    }

    /// A resource by name or OCID.
    pub fn resource(&self, name_or_id: &str) -> Option<Resource> {
        self.read(|d| {
            d.resources
                .iter()
                .find(|r| r.name == name_or_id || r.id == name_or_id)
                .cloned()
        })
    }

    /// `DIR/resources/<name>/key.pem`: the resource's own key (PKCS#8 PEM).
    pub fn resource_key_path(&self, name: &str) -> PathBuf {
        self.dir.join("resources").join(name).join("key.pem")
    }

    /// The resource's own private key.
    pub fn resource_key(&self, res: &Resource) -> Result<PrivateKey, PrincipalsError> {
        read_key(&self.resource_key_path(&res.name))
    }

    /// Register a resource, with its own key pair.
    pub fn add_resource(&self, opts: NewResource) -> Result<Resource, PrincipalsError> {
        let rtype = opts.resource_type.unwrap_or_else(|| "fnfunc".to_string());
        if rtype.is_empty()
            || rtype.len() > 40
            || !rtype
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(PrincipalsError::InvalidName {
                kind: "resource",
                field: "type",
                value: rtype,
            });
        }
        if let Some(i) = &opts.instance {
            self.instance_or_err(i)?;
        }
        if let Some(p) = &opts.parent
            && self.resource(p).is_none()
        {
            return Err(PrincipalsError::Unknown {
                kind: "resource",
                name: p.clone(),
            });
        }
        let region = self.state.region();
        let (region, short) =
            region_codes(&region).ok_or(PrincipalsError::UnknownRegion(region))?;
        let key = PrivateKey::generate()?;
        let now = to_millis(self.clock.now());
        let compartment = self.state.compartment_id();
        let res = self.update(|d| {
            let name = match opts.name {
                Some(n) => n,
                None => (1..)
                    .map(|i| format!("resource-{i}"))
                    .find(|n| !d.resources.iter().any(|x| &x.name == n))
                    .unwrap_or_else(|| format!("resource-{}", ids::base32(8))),
            };
            if !valid_name(&name) {
                return Err(PrincipalsError::InvalidName {
                    kind: "resource",
                    field: "name",
                    value: name,
                });
            }
            if d.resources.iter().any(|x| x.name == name) {
                return Err(PrincipalsError::Duplicate {
                    kind: "resource",
                    name,
                });
            }
            // Names, not OCIDs, link principals together.
            let instance = opts
                .instance
                .as_ref()
                .and_then(|i| d.instances.iter().find(|x| &x.name == i || &x.id == i))
                .map(|x| x.name.clone());
            let parent = opts
                .parent
                .as_ref()
                .and_then(|p| d.resources.iter().find(|x| &x.name == p || &x.id == p))
                .map(|x| x.name.clone());
            let res = Resource {
                id: ids::ocid(&rtype, &short),
                name,
                resource_type: rtype.clone(),
                compartment_id: compartment.clone(),
                region: region.clone(),
                instance,
                parent,
                public_key: key.public_key_pem(),
                time_created: now,
            };
            d.resources.push(res.clone());
            Ok(res)
        })?;
        let path = self.resource_key_path(&res.name);
        let pem = key.to_pkcs8_pem(None)?;
        fsutil::write_private_atomic(&path, pem.as_bytes()).map_err(io_err(&path))?;
        Ok(res)
    }

    // ----- OKE clusters ----------------------------------------------------------------------

    pub fn clusters(&self) -> Vec<OkeCluster> {
        self.read(|d| d.clusters.clone())
    }

    /// A cluster by name or OCID.
    pub fn cluster(&self, name_or_id: &str) -> Option<OkeCluster> {
        self.read(|d| {
            d.clusters
                .iter()
                .find(|c| c.name == name_or_id || c.id == name_or_id)
                .cloned()
        })
    }

    /// `DIR/oke/<cluster>/sa-signing.pem`.
    pub fn cluster_key_path(&self, name: &str) -> PathBuf {
        self.dir.join("oke").join(name).join("sa-signing.pem")
    }

    /// The key the cluster signs service-account tokens with.
    pub fn cluster_key(&self, c: &OkeCluster) -> Result<PrivateKey, PrincipalsError> {
        read_key(&self.cluster_key_path(&c.name))
    }

    /// Register an OKE cluster and make its service-account signing key.
    pub fn add_cluster(&self, opts: NewCluster) -> Result<OkeCluster, PrincipalsError> {
        let region = self.state.region();
        let (region, short) =
            region_codes(&region).ok_or(PrincipalsError::UnknownRegion(region))?;
        let key = PrivateKey::generate()?;
        let now = to_millis(self.clock.now());
        let compartment = self.state.compartment_id();
        let c = self.update(|d| {
            let name = match opts.name {
                Some(n) => n,
                None => (1..)
                    .map(|i| format!("cluster-{i}"))
                    .find(|n| !d.clusters.iter().any(|x| &x.name == n))
                    .unwrap_or_else(|| format!("cluster-{}", ids::base32(8))),
            };
            if !valid_name(&name) {
                return Err(PrincipalsError::InvalidName {
                    kind: "cluster",
                    field: "name",
                    value: name,
                });
            }
            if d.clusters.iter().any(|x| x.name == name) {
                return Err(PrincipalsError::Duplicate {
                    kind: "cluster",
                    name,
                });
            }
            let id = ids::ocid("cluster", &short);
            let c = OkeCluster {
                issuer: format!("https://{name}.oke.emulator.invalid"),
                id,
                name,
                compartment_id: compartment.clone(),
                region: region.clone(),
                enhanced: !opts.basic,
                time_created: now,
            };
            d.clusters.push(c.clone());
            Ok(c)
        })?;
        let path = self.cluster_key_path(&c.name);
        let pem = key.to_pkcs8_pem(None)?;
        fsutil::write_private_atomic(&path, pem.as_bytes()).map_err(io_err(&path))?;
        Ok(c)
    }

    /// Switch a cluster between enhanced and basic.
    pub fn set_cluster_enhanced(
        &self,
        name_or_id: &str,
        enhanced: bool,
    ) -> Result<OkeCluster, PrincipalsError> {
        self.update(|d| {
            let c = d
                .clusters
                .iter_mut()
                .find(|c| c.name == name_or_id || c.id == name_or_id)
                .ok_or_else(|| PrincipalsError::Unknown {
                    kind: "cluster",
                    name: name_or_id.to_string(),
                })?;
            c.enhanced = enhanced;
            Ok(c.clone())
        })
    }
}

fn read_opt(path: &Path) -> Result<Option<zeroize::Zeroizing<String>>, PrincipalsError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(zeroize::Zeroizing::new(t))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PrincipalsError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A file holding a certificate PEM followed by its key PEM.
fn load_cert_and_key(path: &Path, text: &str) -> Result<CertAndKey, PrincipalsError> {
    let bad = |source: CertError| PrincipalsError::BadMaterial {
        path: path.to_path_buf(),
        source,
    };
    let der = certs::pem_decode(text, "CERTIFICATE").map_err(bad)?;
    let cert = CertInfo::parse(&der).map_err(bad)?;
    let key = PrivateKey::from_pem(text.as_bytes(), None)?;
    Ok(CertAndKey { cert, key })
}

fn write_cert_and_key(path: &Path, ck: &CertAndKey) -> Result<(), PrincipalsError> {
    let mut text = zeroize::Zeroizing::new(certs::cert_pem(&ck.cert.der));
    text.push_str(&ck.key.to_pkcs8_pem(None)?);
    fsutil::write_private_atomic(path, text.as_bytes()).map_err(io_err(path))
}

fn load(path: &Path) -> Result<Data, PrincipalsError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|source| PrincipalsError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// A private key the emulator keeps in its state directory (PKCS#8 PEM).
fn read_key(path: &Path) -> Result<PrivateKey, PrincipalsError> {
    let pem = zeroize::Zeroizing::new(std::fs::read(path).map_err(io_err(path))?);
    Ok(PrivateKey::from_pem(&pem, None)?)
}
