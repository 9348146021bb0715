//! The emulator's persistent state: one tenancy with its namespace and compartment, users with
//! their API keys, buckets and object metadata. Kept in memory, saved as `DIR/state.json` after
//! every change (atomically, 0600); object bytes live in `DIR/objects/<uuid>`.
//!
//! Layout of a state directory:
//! ```text
//! DIR/state.json          this state (JSON)
//! DIR/config              an OCI config file for the first user ([DEFAULT] profile)
//! DIR/credentials.txt     the first user's console password (login page), written on first start
//! DIR/keys/<user>.pem     private API keys the emulator generated (PKCS#8 + OCI_API_KEY label)
//! DIR/objects/<uuid>      object bytes
//! ```
//! Another process (`oci-emulator add-user`, `add-api-key`) may change `state.json` while a server
//! runs: the server reloads it when an API-key lookup misses and the file changed on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ociauth::env::Clock;
use ociauth::fsutil;
use ociauth::keys::{KeyError, OCI_API_KEY_LABEL, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};

/// File name of the state inside the state directory.
pub const STATE_FILE: &str = "state.json";
/// File name of the generated OCI config file.
pub const CONFIG_FILE: &str = "config";
/// Region written to the generated config and reported by the emulator.
pub const DEFAULT_REGION: &str = "us-ashburn-1";
/// Name of the user created on first start.
pub const DEFAULT_USER_NAME: &str = "emulator-user";
/// File name of the first user's console credentials.
pub const CREDENTIALS_FILE: &str = "credentials.txt";
/// Version of the `state.json` layout this build reads and writes.
pub const STATE_VERSION: u32 = 1;

/// Why the state could not be loaded, created or changed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{}: {source} (check that the state directory exists and is writable)", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a valid emulator state file ({source}); move it away to start with a fresh state", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: state version {found} is not supported by this emulator (it writes version {STATE_VERSION}); use a matching oci-emulator or a fresh --state directory", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("no user {0} in the emulator state; create one with `oci-emulator add-user`")]
    UnknownUser(String),
    #[error("user name {0:?} is already taken; choose another --name")]
    DuplicateUserName(String),
    #[error("invalid user name {0:?}: use 1 to 100 characters from A-Z a-z 0-9 . _ -")]
    InvalidUserName(String),
    #[error("user {user} already has the API key with fingerprint {fingerprint}")]
    DuplicateKey { user: String, fingerprint: String },
    #[error("cannot make an API key: {0}")]
    Key(#[from] KeyError),
    #[error("cannot set the password: {0}")]
    Password(#[from] crate::auth::PasswordError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Milliseconds since the Unix epoch (how times are stored).
pub type Millis = u64;

pub(crate) fn to_millis(t: SystemTime) -> Millis {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn from_millis(ms: Millis) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// RFC 3339 with milliseconds and `Z`, as OCI writes `timeCreated` (`2026-11-28T17:03:43.123Z`).
pub fn rfc3339(ms: Millis) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            ms % 1000
        ),
        Err(_) => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// The whole persisted state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateData {
    pub version: u32,
    pub region: String,
    pub tenancy: Tenancy,
    pub namespace: String,
    pub compartment: Compartment,
    pub users: Vec<User>,
    /// Buckets by name (sorted, as ListBuckets returns them).
    #[serde(default)]
    pub buckets: BTreeMap<String, Bucket>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenancy {
    pub id: String,
    pub name: String,
    pub time_created: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compartment {
    pub id: String,
    pub name: String,
    pub time_created: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: String,
    pub description: String,
    pub time_created: Millis,
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    /// Console password for the login page (`None` in state files from before passwords).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<crate::auth::PasswordHash>,
}

/// A registered API signing key (public half only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub fingerprint: String,
    /// `-----BEGIN PUBLIC KEY-----` PEM.
    pub key_value: String,
    pub time_created: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub id: String,
    pub name: String,
    pub compartment_id: String,
    pub created_by: String,
    pub time_created: Millis,
    pub etag: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub freeform_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub defined_tags: serde_json::Map<String, serde_json::Value>,
    pub public_access_type: String,
    pub storage_tier: String,
    #[serde(default)]
    pub object_events_enabled: bool,
    /// Objects by name (sorted, as ListObjects returns them).
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectMeta>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// File name under `DIR/objects/`.
    pub file: String,
    pub size: u64,
    /// base64 MD5 of the bytes.
    pub md5: String,
    pub etag: String,
    pub time_created: Millis,
    pub time_modified: Millis,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `opc-meta-*` headers, keys without the prefix, lower case.
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
}

/// Random identifiers in OCI's shapes.
pub mod ids {
    const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

    /// Random bytes from uuid v4 (the only RNG this crate needs), skipping the version byte.
    fn random_bytes(n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 16);
        while out.len() < n {
            let u = uuid::Uuid::new_v4();
            let b = u.as_bytes();
            out.extend_from_slice(&b[..6]);
            out.extend_from_slice(&b[7..]);
        }
        out.truncate(n);
        out
    }

    /// `n` characters of lower-case base32 (`a-z2-7`), as OCIDs use.
    pub fn base32(n: usize) -> String {
        // Byte 8 of a v4 uuid has two fixed high bits; only the low five bits are used here.
        random_bytes(n)
            .into_iter()
            .map(|b| BASE32[usize::from(b & 31)] as char)
            .collect()
    }

    /// `ocid1.<kind>.oc1.<region key>.aaaaaaaa<52 random base32>`; `region_key` is empty for
    /// global resources (tenancy, user, compartment), giving `ocid1.user.oc1..aaaa…`.
    pub fn ocid(kind: &str, region_key: &str) -> String {
        format!("ocid1.{kind}.oc1.{region_key}.aaaaaaaa{}", base32(52))
    }

    /// A namespace like OCI's: 12 characters, a letter first, then letters and digits.
    pub fn namespace() -> String {
        const ALNUM: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut s = String::with_capacity(12);
        for b in random_bytes(64) {
            // Rejection sampling keeps the distribution uniform.
            if b >= 252 {
                continue;
            }
            let pool: &[u8] = if s.is_empty() { &ALNUM[..26] } else { ALNUM };
            s.push(pool[usize::from(b) % pool.len()] as char);
            if s.len() == 12 {
                break;
            }
        }
        while s.len() < 12 {
            s.push('a');
        }
        s
    }

    /// An entity tag: a random uuid, as Object Storage uses.
    pub fn etag() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// A request id: 32 upper-case hex digits (the SDKs' format).
    pub fn request_id() -> String {
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .to_ascii_uppercase()
    }
}

/// A user as seen from outside (`Debug`-safe: no secrets in it anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub fingerprints: Vec<String>,
}

/// What was created by [`State::open`] on first start.
#[derive(Debug, Clone)]
pub struct Created {
    pub user_id: String,
    pub key_file: PathBuf,
}

/// Modification stamp of `state.json`, to notice writes by another process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp_of(path: &Path) -> Option<FileStamp> {
    std::fs::metadata(path).ok().map(|m| FileStamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

struct Inner {
    data: StateData,
    stamp: Option<FileStamp>,
}

/// The emulator state, shared by the server and the in-process API.
pub struct State {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("dir", &self.dir).finish()
    }
}

fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl State {
    /// Open the state in `dir`, creating a fresh tenancy, user, API key and config file when
    /// `dir` holds no state yet. The second value says what was created, if anything.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<(State, Option<Created>), StateError> {
        fsutil::create_private_dir(dir).map_err(io_err(dir))?;
        // Absolute paths go into the config file, so it works from any working directory.
        let dir = dir.canonicalize().map_err(io_err(dir))?;
        for sub in ["keys", "objects"] {
            let p = dir.join(sub);
            fsutil::create_private_dir(&p).map_err(io_err(&p))?;
        }
        let state_path = dir.join(STATE_FILE);
        if state_path.exists() {
            let data = load(&state_path)?;
            let stamp = stamp_of(&state_path);
            let state = State {
                dir,
                clock,
                inner: Mutex::new(Inner { data, stamp }),
            };
            state.restore_config()?;
            state.ensure_first_password()?;
            return Ok((state, None));
        }

        let now = to_millis(clock.now());
        let tenancy_id = ids::ocid("tenancy", "");
        let data = StateData {
            version: STATE_VERSION,
            region: DEFAULT_REGION.to_string(),
            tenancy: Tenancy {
                id: tenancy_id.clone(),
                name: "emulator-tenancy".to_string(),
                time_created: now,
            },
            namespace: ids::namespace(),
            compartment: Compartment {
                id: ids::ocid("compartment", ""),
                name: "emulator-compartment".to_string(),
                time_created: now,
            },
            users: Vec::new(),
            buckets: BTreeMap::new(),
        };
        let state = State {
            dir,
            clock,
            inner: Mutex::new(Inner { data, stamp: None }),
        };
        let user_id = state.add_user(Some(DEFAULT_USER_NAME))?;
        let key = PrivateKey::generate()?;
        let key_file = state.write_private_key(DEFAULT_USER_NAME, &key)?;
        let fingerprint = state.add_api_key(&user_id, &PublicKey::from(&key))?;
        state.write_config(&user_id, &fingerprint, &key_file)?;
        state.ensure_first_password()?;
        Ok((state, Some(Created { user_id, key_file })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `DIR/config`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }
    /// `DIR/state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }
    /// `DIR/objects`.
    pub fn objects_dir(&self) -> PathBuf {
        self.dir.join("objects")
    }
    /// `DIR/keys/<name>.pem`.
    pub fn key_path(&self, user_name: &str) -> PathBuf {
        self.dir.join("keys").join(format!("{user_name}.pem"))
    }

    pub fn tenancy_id(&self) -> String {
        self.lock().data.tenancy.id.clone()
    }
    pub fn namespace(&self) -> String {
        self.lock().data.namespace.clone()
    }
    pub fn compartment_id(&self) -> String {
        self.lock().data.compartment.id.clone()
    }
    pub fn region(&self) -> String {
        self.lock().data.region.clone()
    }

    /// All users with the fingerprints of their keys.
    pub fn users(&self) -> Vec<UserInfo> {
        self.lock()
            .data
            .users
            .iter()
            .map(|u| UserInfo {
                id: u.id.clone(),
                name: u.name.clone(),
                fingerprints: u.api_keys.iter().map(|k| k.fingerprint.clone()).collect(),
            })
            .collect()
    }

    /// A copy of the whole state (for handlers that render it).
    pub fn snapshot(&self) -> StateData {
        self.lock().data.clone()
    }

    /// Read part of the state.
    pub fn read<R>(&self, f: impl FnOnce(&StateData) -> R) -> R {
        f(&self.lock().data)
    }

    /// Change the state and save it. `f` works on a copy, which replaces the state only when `f`
    /// succeeds and the file was written; on any error nothing changes.
    pub fn update<R, E: From<StateError>>(
        &self,
        f: impl FnOnce(&mut StateData) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut inner = self.lock();
        let mut data = inner.data.clone();
        let out = f(&mut data)?;
        let path = self.state_path();
        save(&path, &data)?;
        inner.data = data;
        inner.stamp = stamp_of(&path);
        Ok(out)
    }

    /// Reload `state.json` when another process changed it. Returns whether it reloaded.
    pub fn reload_if_changed(&self) -> Result<bool, StateError> {
        let path = self.state_path();
        let mut inner = self.lock();
        let now = stamp_of(&path);
        if now.is_none() || now == inner.stamp {
            return Ok(false);
        }
        inner.data = load(&path)?;
        inner.stamp = now;
        Ok(true)
    }

    /// Register a new user; returns its OCID. `None` picks a free name `user-N`.
    pub fn add_user(&self, name: Option<&str>) -> Result<String, StateError> {
        let now = to_millis(self.clock.now());
        let _ = self.reload_if_changed()?;
        self.update(|d| {
            let name = match name {
                Some(n) => n.to_string(),
                None => (1..)
                    .map(|i| format!("user-{i}"))
                    .find(|n| !d.users.iter().any(|u| &u.name == n))
                    .unwrap_or_else(|| format!("user-{}", ids::base32(8))),
            };
            if !valid_user_name(&name) {
                return Err(StateError::InvalidUserName(name));
            }
            if d.users.iter().any(|u| u.name == name) {
                return Err(StateError::DuplicateUserName(name));
            }
            let id = ids::ocid("user", "");
            d.users.push(User {
                id: id.clone(),
                name,
                description: "emulator user".to_string(),
                time_created: now,
                api_keys: Vec::new(),
                password: None,
            });
            Ok(id)
        })
    }

    /// Register an API key for a user; returns its fingerprint.
    pub fn add_api_key(&self, user_id: &str, key: &PublicKey) -> Result<String, StateError> {
        let now = to_millis(self.clock.now());
        let fingerprint = key.fingerprint();
        let _ = self.reload_if_changed()?;
        self.update(|d| {
            let user = d
                .users
                .iter_mut()
                .find(|u| u.id == user_id)
                .ok_or_else(|| StateError::UnknownUser(user_id.to_string()))?;
            if user.api_keys.iter().any(|k| k.fingerprint == fingerprint) {
                return Err(StateError::DuplicateKey {
                    user: user_id.to_string(),
                    fingerprint: fingerprint.clone(),
                });
            }
            user.api_keys.push(ApiKey {
                fingerprint: fingerprint.clone(),
                key_value: key.to_pem(),
                time_created: now,
            });
            Ok(fingerprint.clone())
        })
    }

    /// The public key registered as `tenancy/user/fingerprint`, if any. On a miss, reloads a
    /// state file that another process changed and looks again.
    pub fn api_key(&self, tenancy: &str, user: &str, fingerprint: &str) -> Option<PublicKey> {
        let find = |d: &StateData| -> Option<String> {
            if d.tenancy.id != tenancy {
                return None;
            }
            d.users
                .iter()
                .find(|u| u.id == user)?
                .api_keys
                .iter()
                .find(|k| k.fingerprint == fingerprint)
                .map(|k| k.key_value.clone())
        };
        let pem = match self.read(find) {
            Some(p) => Some(p),
            None => match self.reload_if_changed() {
                Ok(true) => self.read(find),
                Ok(false) => None,
                Err(e) => {
                    tracing::warn!("cannot reload the emulator state: {e}");
                    None
                }
            },
        }?;
        match PublicKey::from_pem(pem.as_bytes()) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::warn!("stored API key {fingerprint} of {user} does not parse: {e}");
                None
            }
        }
    }

    /// Write a private key as `DIR/keys/<name>.pem`: PKCS#8 PEM followed by the `OCI_API_KEY`
    /// label line (as `oci setup keys` does), mode 0600.
    pub fn write_private_key(
        &self,
        user_name: &str,
        key: &PrivateKey,
    ) -> Result<PathBuf, StateError> {
        let path = self.key_path(user_name);
        let pem = key.to_pkcs8_pem(None)?;
        let mut text = zeroize::Zeroizing::new(String::with_capacity(pem.len() + 16));
        text.push_str(&pem);
        text.push_str(OCI_API_KEY_LABEL);
        text.push('\n');
        fsutil::write_private_atomic(&path, text.as_bytes()).map_err(io_err(&path))?;
        Ok(path)
    }

    /// Rewrite a deleted `DIR/config` for the first user, when its key file is still there.
    fn restore_config(&self) -> Result<(), StateError> {
        if self.config_path().exists() {
            return Ok(());
        }
        let first = self.read(|d| {
            d.users
                .iter()
                .find(|u| u.name == DEFAULT_USER_NAME)
                .and_then(|u| {
                    u.api_keys
                        .first()
                        .map(|k| (u.id.clone(), k.fingerprint.clone()))
                })
        });
        let key_file = self.key_path(DEFAULT_USER_NAME);
        match first {
            Some((user, fingerprint)) if key_file.exists() => {
                self.write_config(&user, &fingerprint, &key_file)
            }
            _ => Ok(()),
        }
    }

    /// `DIR/credentials.txt`: the first user's console login.
    pub fn credentials_path(&self) -> PathBuf {
        self.dir.join(CREDENTIALS_FILE)
    }

    /// Set the console password of a user (OCID or name); returns the user's OCID. Only a salted
    /// hash is stored ([`crate::auth::PasswordHash`]).
    pub fn set_password(&self, user: &str, password: &str) -> Result<String, StateError> {
        let hash = crate::auth::PasswordHash::new(password)?;
        let _ = self.reload_if_changed()?;
        self.update(|d| {
            let u = d
                .users
                .iter_mut()
                .find(|u| u.id == user || u.name == user)
                .ok_or_else(|| StateError::UnknownUser(user.to_string()))?;
            u.password = Some(hash);
            Ok(u.id.clone())
        })
    }

    /// Give the first user a random console password when it has none (first start, or a state
    /// from before passwords), written to `DIR/credentials.txt` (0600). Returns whether it did.
    fn ensure_first_password(&self) -> Result<bool, StateError> {
        let needs = self.read(|d| {
            d.users
                .iter()
                .any(|u| u.name == DEFAULT_USER_NAME && u.password.is_none())
        });
        if !needs {
            return Ok(false);
        }
        let password = zeroize::Zeroizing::new(crate::auth::generate_password()?);
        let text = zeroize::Zeroizing::new(format!(
            "# Console login of the OCI emulator (the page at /v1/oauth2/authorize that\n\
             # `oci session authenticate` opens). Change it with `oci-emulator set-password`.\n\
             user={DEFAULT_USER_NAME}\npassword={}\n",
            password.as_str()
        ));
        let path = self.credentials_path();
        fsutil::write_private_atomic(&path, text.as_bytes()).map_err(io_err(&path))?;
        self.set_password(DEFAULT_USER_NAME, &password)?;
        Ok(true)
    }

    /// Write `DIR/config` with a `[DEFAULT]` profile for the given user and key.
    pub fn write_config(
        &self,
        user_id: &str,
        fingerprint: &str,
        key_file: &Path,
    ) -> Result<(), StateError> {
        let (tenancy, region) = self.read(|d| (d.tenancy.id.clone(), d.region.clone()));
        let text = format!(
            "[DEFAULT]\nuser={user_id}\nfingerprint={fingerprint}\nkey_file={}\ntenancy={tenancy}\nregion={region}\n",
            key_file.display()
        );
        let path = self.config_path();
        fsutil::write_private_atomic(&path, text.as_bytes()).map_err(io_err(&path))
    }
}

fn load(path: &Path) -> Result<StateData, StateError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u32,
    }
    let v: VersionOnly = serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    if v.version != STATE_VERSION {
        return Err(StateError::Version {
            path: path.to_path_buf(),
            found: v.version,
        });
    }
    serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

fn save(path: &Path, data: &StateData) -> Result<(), StateError> {
    let mut bytes = serde_json::to_vec_pretty(data).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    fsutil::write_private_atomic(path, &bytes).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_oci_shapes() {
        let t = ids::ocid("tenancy", "");
        assert!(t.starts_with("ocid1.tenancy.oc1..aaaaaaaa"), "{t}");
        assert_eq!(t.len(), "ocid1.tenancy.oc1..".len() + 60);
        assert!(
            t["ocid1.tenancy.oc1..".len()..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        );
        assert_ne!(t, ids::ocid("tenancy", ""));
        let ns = ids::namespace();
        assert_eq!(ns.len(), 12);
        assert!(ns.as_bytes()[0].is_ascii_lowercase());
        assert!(
            ns.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        let r = ids::request_id();
        assert_eq!(r.len(), 32);
        assert!(
            r.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        );
    }

    #[test]
    fn rfc3339_millis() {
        assert_eq!(rfc3339(1_389_000_000_123), "2014-01-06T09:20:00.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn user_names() {
        assert!(valid_user_name("emulator-user"));
        assert!(!valid_user_name("../x"));
        assert!(!valid_user_name(".."));
        assert!(!valid_user_name(""));
    }
}
