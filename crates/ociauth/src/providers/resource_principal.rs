//! Resource principals: an OCI resource (a function, a notebook, a database node) signs as
//! itself with a resource principal session token (RPST) (spec §3).
//!
//! `OCI_RESOURCE_PRINCIPAL_VERSION` selects the flavour:
//!
//! - **2.2** (the platform injects the token): `OCI_RESOURCE_PRINCIPAL_RPST` and
//!   `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM` (required), `…_PRIVATE_PEM_PASSPHRASE` and
//!   `OCI_RESOURCE_PRINCIPAL_REGION` (optional). Each value is the thing itself or, when it is an
//!   absolute path, the file holding it. Files are read again on every fetch, so a token the
//!   platform renews on disk is picked up (the key is parsed again only when its bytes change).
//!   The passphrase is a file path when the key is (Go requires both to be of one kind; Python
//!   means to but cannot read the file); a literal key takes a literal passphrase. No network.
//! - **1.1** (a resource hosted on an instance): an instance principal (§2, built from
//!   [`ResourcePrincipalOptions::instance_principal`]) signs `GET {RPT_ENDPOINT}{RPT_PATH}`
//!   (default path `/20180711/resourcePrincipalToken/{id}`, `{id}` from
//!   `OCI_RESOURCE_PRINCIPAL_RPT_ID` or the metadata service's `/instance/id`, lower-cased),
//!   then `POST {RPST_ENDPOINT}/v1/resourcePrincipalSessionToken` (default endpoint
//!   `https://auth.{region}.{domain}`) with a fresh session key. Unlike the SDKs, the instance id
//!   is read from the metadata service `OCI_METADATA_BASE_URL` names (spec §2.2 pitfall).
//! - **3.0** (nested): the leaf (`OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE` = 2.2 or 1.1,
//!   its variables suffixed `_FOR_LEAF_RESOURCE`) signs
//!   `GET {OCI_RESOURCE_PRINCIPAL_RPT_URL_FOR_PARENT_RESOURCE}`; an `opc-parent-rpt-url` answer
//!   header names the next level up (at most 10 levels; a URL seen twice is a loop), each level
//!   signed with the token of the one below; every level's token is bound to the leaf's session
//!   key and comes from `POST {OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT_FOR_PARENT_RESOURCE}/v1/resourcePrincipalSessionToken`.
//!   The 2.1.x leaves (Python only) are not implemented.
//!
//! RPT and RPST calls are retried like the SDK's `DEFAULT_RETRY_STRATEGY`
//! ([`RetryPolicy::SERVICE`]); a 401 renews the signing token once and retries.
//!
//! Credentials carry the region (2.2: `OCI_RESOURCE_PRINCIPAL_REGION`, short codes resolved;
//! 1.1: the instance's; 3.0: the leaf's) and the tenancy from the RPST's `res_tenant` claim
//! (**[I]** for 1.1, where Python reports the instance's tenancy; ours falls back to it when the
//! claim is missing).
//!
//! Wrap in [`CachingProvider`] ([`ResourcePrincipalProvider::cached`]): refresh
//! `min(5 min, half the lifetime)` before `exp` (the Go SDK's `exp − 300 s`; the Python signers
//! refresh only on 401), single flight, and on a 401 the next fetch re-reads files / renews
//! tokens (for 1.1 and 3.0 the signing instance principal or leaf is renewed too).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::cache::CachingProvider;
use crate::credentials::{BoxFuture, Credentials, CredentialsProvider, StaticProvider};
use crate::env::{Clock, Env};
use crate::keys::PrivateKey;
use crate::regions::{self, Region, Service};

use super::instance_principal::{InstancePrincipalOptions, InstancePrincipalProvider};
use super::principal::{
    self, HttpSettings, PrincipalError, PrincipalErrorKind, RetryPolicy, ServiceCaller,
    SessionToken, Target,
};

/// The provider's name in credentials and errors.
pub const SOURCE: &str = "resource_principal";

pub const OCI_RESOURCE_PRINCIPAL_VERSION: &str = "OCI_RESOURCE_PRINCIPAL_VERSION";
pub const OCI_RESOURCE_PRINCIPAL_RPST: &str = "OCI_RESOURCE_PRINCIPAL_RPST";
pub const OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM: &str = "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM";
pub const OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE: &str =
    "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE";
pub const OCI_RESOURCE_PRINCIPAL_REGION: &str = "OCI_RESOURCE_PRINCIPAL_REGION";
pub const OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT: &str = "OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT";
pub const OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT: &str = "OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT";
pub const OCI_RESOURCE_PRINCIPAL_RPT_PATH: &str = "OCI_RESOURCE_PRINCIPAL_RPT_PATH";
pub const OCI_RESOURCE_PRINCIPAL_RPT_ID: &str = "OCI_RESOURCE_PRINCIPAL_RPT_ID";
pub const OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE: &str =
    "OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE";
pub const OCI_RESOURCE_PRINCIPAL_RPT_URL_FOR_PARENT_RESOURCE: &str =
    "OCI_RESOURCE_PRINCIPAL_RPT_URL_FOR_PARENT_RESOURCE";
pub const OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT_FOR_PARENT_RESOURCE: &str =
    "OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT_FOR_PARENT_RESOURCE";
/// Appended to the leaf's variable names under 3.0.
pub const LEAF_SUFFIX: &str = "_FOR_LEAF_RESOURCE";

/// The RPT path when `OCI_RESOURCE_PRINCIPAL_RPT_PATH` is unset; `{id}` is replaced.
pub const DEFAULT_RPT_PATH: &str = "/20180711/resourcePrincipalToken/{id}";
/// The RPST path on the RPST endpoint.
pub const RPST_PATH: &str = "/v1/resourcePrincipalSessionToken";
/// The answer header naming the next parent's RPT URL (3.0).
pub const PARENT_RPT_URL_HEADER: &str = "opc-parent-rpt-url";
/// The most parent levels 3.0 follows.
pub const MAX_NESTED_PARENT_DEPTH: usize = 10;

/// Settings for the networked flavours.
#[derive(Debug, Clone)]
pub struct ResourcePrincipalOptions {
    /// The instance principal that signs under 1.1 (and a 1.1 leaf under 3.0).
    pub instance_principal: InstancePrincipalOptions,
    /// CA certificates (PEM) trusted for the RPT/RPST endpoints besides the system roots.
    pub ca_bundle: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Budget for each RPT/RPST call.
    pub retry: RetryPolicy,
}

impl Default for ResourcePrincipalOptions {
    fn default() -> Self {
        Self {
            instance_principal: InstancePrincipalOptions::default(),
            ca_bundle: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::SERVICE,
        }
    }
}

/// A variable's value, `None` when unset or blank.
fn var(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.trim().is_empty())
}

/// Variable names for the top level or, under 3.0, the leaf.
#[derive(Debug, Clone, Copy)]
struct Names {
    suffix: &'static str,
}

impl Names {
    const TOP: Names = Names { suffix: "" };
    const LEAF: Names = Names {
        suffix: LEAF_SUFFIX,
    };
    fn of(self, base: &str) -> String {
        format!("{base}{}", self.suffix)
    }
}

/// A value-or-path variable (spec §3.2).
#[derive(Clone)]
enum Source {
    Value(Zeroizing<String>),
    Path(PathBuf),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Value(_) => f.write_str("Value(<redacted>)"),
            Source::Path(p) => f.debug_tuple("Path").field(p).finish(),
        }
    }
}

impl Source {
    fn from_value(v: String) -> Self {
        if principal::is_absolute_path(v.trim()) {
            Source::Path(PathBuf::from(v.trim()))
        } else {
            Source::Value(Zeroizing::new(v))
        }
    }

    /// `"OCI_RESOURCE_PRINCIPAL_RPST"` or `"/var/rp/token (OCI_RESOURCE_PRINCIPAL_RPST)"`.
    fn describe(&self, var: &str) -> String {
        match self {
            Source::Value(_) => var.to_string(),
            Source::Path(p) => format!("{} ({var})", p.display()),
        }
    }

    fn read(&self, var: &str, what: &str) -> Result<Zeroizing<Vec<u8>>, PrincipalError> {
        match self {
            Source::Value(v) => Ok(Zeroizing::new(v.as_bytes().to_vec())),
            Source::Path(p) => std::fs::read(p).map(Zeroizing::new).map_err(|e| {
                PrincipalError::invalid_var(
                    SOURCE,
                    var,
                    format!(
                        "could not read the {what} file {} ({var}): {e}",
                        p.display()
                    ),
                )
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2.2
// ---------------------------------------------------------------------------------------------

struct Rp22 {
    rpst_var: String,
    rpst: Source,
    key_var: String,
    key: Source,
    pass_var: String,
    passphrase: Option<Source>,
    region: Option<Region>,
    clock: Arc<dyn Clock>,
    /// The last key parsed, by the SHA-256 of its PEM and passphrase.
    key_cache: Mutex<Option<([u8; 32], PrivateKey)>>,
}

impl std::fmt::Debug for Rp22 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rp22")
            .field("rpst", &self.rpst)
            .field("key", &self.key)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<set>"))
            .field("region", &self.region.as_ref().map(|r| r.id.as_str()))
            .finish()
    }
}

fn resolve_region_var(env: &dyn Env, name: &str) -> Result<Option<Region>, PrincipalError> {
    let Some(raw) = var(env, name) else {
        return Ok(None);
    };
    regions::resolve_region(raw.trim(), env)
        .map(Some)
        .map_err(|e| PrincipalError::invalid_var(SOURCE, name, format!("{name}: {e}")))
}

impl Rp22 {
    fn from_env(
        env: &dyn Env,
        names: Names,
        clock: Arc<dyn Clock>,
        version_var: &str,
    ) -> Result<Self, PrincipalError> {
        let required = |base: &str, what: &str| -> Result<(String, Source), PrincipalError> {
            let name = names.of(base);
            match var(env, &name) {
                Some(v) => Ok((name, Source::from_value(v))),
                None => Err(PrincipalError::invalid_var(
                    SOURCE,
                    &name,
                    format!(
                        "{name} is not set ({version_var} is 2.2: set it to the {what} or to the \
                         absolute path of a file holding it)"
                    ),
                )),
            }
        };
        let (rpst_var, rpst) = required(
            OCI_RESOURCE_PRINCIPAL_RPST,
            "resource principal session token",
        )?;
        let (key_var, key) = required(OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM, "PEM private key")?;
        let pass_var = names.of(OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE);
        let passphrase = match (var(env, &pass_var), &key) {
            (None, _) => None,
            (Some(p), Source::Path(_)) => {
                if !principal::is_absolute_path(p.trim()) {
                    return Err(PrincipalError::invalid_var(
                        SOURCE,
                        &pass_var,
                        format!(
                            "{pass_var} must be the absolute path of a file holding the \
                             passphrase, because {key_var} is a path"
                        ),
                    ));
                }
                Some(Source::Path(PathBuf::from(p.trim())))
            }
            (Some(p), Source::Value(_)) => Some(Source::Value(Zeroizing::new(p))),
        };
        let region = resolve_region_var(env, &names.of(OCI_RESOURCE_PRINCIPAL_REGION))?;
        let rp = Self {
            rpst_var,
            rpst,
            key_var,
            key,
            pass_var,
            passphrase,
            region,
            clock,
            key_cache: Mutex::new(None),
        };
        // Literal values cannot change: check them now rather than at the first request.
        if let Source::Value(_) = rp.key {
            rp.load_key()?;
        }
        if let Source::Value(_) = rp.rpst {
            rp.load_token()?;
        }
        Ok(rp)
    }

    fn load_token(&self) -> Result<SessionToken, PrincipalError> {
        let raw = self
            .rpst
            .read(&self.rpst_var, "resource principal session token")?;
        let text = std::str::from_utf8(&raw).map_err(|_| {
            PrincipalError::invalid_var(
                SOURCE,
                &self.rpst_var,
                format!("{} is not UTF-8 text", self.rpst.describe(&self.rpst_var)),
            )
        })?;
        let source = format!(
            "the session token in {}",
            self.rpst.describe(&self.rpst_var)
        );
        SessionToken::parse(SOURCE, &source, text).map_err(|e| {
            PrincipalError::invalid_var(SOURCE, &self.rpst_var, e.message().to_string())
        })
    }

    fn load_key(&self) -> Result<PrivateKey, PrincipalError> {
        let pem = self.key.read(&self.key_var, "private key")?;
        let pass = match &self.passphrase {
            None => None,
            Some(s) => {
                let raw = s.read(&self.pass_var, "passphrase")?;
                // A file's trailing newline is not part of the passphrase.
                let end = raw
                    .iter()
                    .rposition(|b| *b != b'\n' && *b != b'\r')
                    .map_or(0, |i| i + 1);
                Some(Zeroizing::new(raw[..end].to_vec()))
            }
        };
        let mut h = Sha256::new();
        h.update(&*pem);
        h.update([0u8]);
        if let Some(p) = &pass {
            h.update(&**p);
        }
        let digest: [u8; 32] = h.finalize().into();
        let mut cache = self.key_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((d, k)) = cache.as_ref()
            && *d == digest
        {
            return Ok(k.clone());
        }
        let key =
            PrivateKey::from_pem(&pem, pass.as_deref().map(|p| p.as_slice())).map_err(|e| {
                PrincipalError::invalid_var(
                    SOURCE,
                    &self.key_var,
                    format!(
                        "the private key in {}: {e}",
                        self.key.describe(&self.key_var)
                    ),
                )
            })?;
        *cache = Some((digest, key.clone()));
        Ok(key)
    }

    fn fetch(&self) -> Result<Credentials, PrincipalError> {
        let token = self.load_token()?;
        let now = self.clock.now();
        if token.expires_at <= now {
            let (transient, what) = match self.rpst {
                Source::Path(_) => (true, "the platform has not renewed the file yet"),
                Source::Value(_) => (false, "the platform must start the program with a new one"),
            };
            return Err(PrincipalError::new(
                SOURCE,
                PrincipalErrorKind::Expired,
                format!(
                    "the session token in {} expired at {} (now {}); {what}",
                    self.rpst.describe(&self.rpst_var),
                    httpdate::fmt_http_date(token.expires_at),
                    httpdate::fmt_http_date(now)
                ),
            )
            .with_transient(transient));
        }
        let key = self.load_key()?;
        let mut c =
            Credentials::security_token(&token.token, key, SOURCE).with_expiry(token.expires_at);
        if let Some(r) = &self.region {
            c = c.with_region(r.id.as_str());
        }
        if let Some(t) = token.claim("res_tenant") {
            c = c.with_tenancy(t);
        }
        Ok(c)
    }
}

// ---------------------------------------------------------------------------------------------
// 1.1
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Rp11 {
    ip: Arc<CachingProvider<InstancePrincipalProvider>>,
    rpt_endpoint: String,
    rpst_endpoint: Option<String>,
    rpt_path: String,
    rpt_id: Option<String>,
    caller: ServiceCaller,
}

fn endpoint_var(env: &dyn Env, name: &str) -> Result<Option<String>, PrincipalError> {
    let Some(v) = var(env, name) else {
        return Ok(None);
    };
    let v = v.trim().trim_end_matches('/').to_string();
    Target::parse(SOURCE, name, &v).map_err(|e| {
        PrincipalError::invalid_var(SOURCE, name, format!("{name}: {}", e.message()))
    })?;
    Ok(Some(v))
}

impl Rp11 {
    fn from_env(
        env: Arc<dyn Env>,
        names: Names,
        clock: Arc<dyn Clock>,
        opts: &ResourcePrincipalOptions,
        caller: ServiceCaller,
        version_var: &str,
    ) -> Result<Self, PrincipalError> {
        let rpt_var = names.of(OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT);
        let rpt_endpoint = endpoint_var(env.as_ref(), &rpt_var)?.ok_or_else(|| {
            PrincipalError::invalid_var(
                SOURCE,
                &rpt_var,
                format!(
                    "{rpt_var} is not set ({version_var} is 1.1: set it to the base URL of the \
                     service that issues this resource's resource principal tokens)"
                ),
            )
        })?;
        let rpst_endpoint = endpoint_var(
            env.as_ref(),
            &names.of(OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT),
        )?;
        let rpt_path = var(env.as_ref(), &names.of(OCI_RESOURCE_PRINCIPAL_RPT_PATH))
            .map(|p| p.trim().to_string())
            .unwrap_or_else(|| DEFAULT_RPT_PATH.to_string());
        let rpt_id = var(env.as_ref(), &names.of(OCI_RESOURCE_PRINCIPAL_RPT_ID))
            .map(|s| s.trim().to_string());
        let ip = InstancePrincipalProvider::new(opts.instance_principal.clone(), env, clock)
            .map_err(|e| {
                principal::wrap(
                    SOURCE,
                    "the instance principal for resource principal 1.1",
                    e,
                )
            })?;
        Ok(Self {
            ip: Arc::new(ip.cached()),
            rpt_endpoint,
            rpst_endpoint,
            rpt_path,
            rpt_id,
            caller,
        })
    }

    async fn fetch(&self) -> Result<Credentials, PrincipalError> {
        let ip_creds = self.ip.credentials().await.map_err(|e| {
            principal::upstream(SOURCE, "getting the instance principal token failed", &e)
        })?;
        let id = match &self.rpt_id {
            Some(id) => id.clone(),
            None => self.ip.inner().instance_id().await.map_err(|e| {
                principal::wrap(
                    SOURCE,
                    "reading the instance id for the resource principal token path",
                    e,
                )
            })?,
        };
        let mut path = self.rpt_path.replace("{id}", &id);
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let (rpt, spst, _) = rpt_call(
            &self.caller,
            &format!("{}{path}", self.rpt_endpoint),
            self.ip.as_ref(),
        )
        .await?;
        let region = match self.ip.inner().region() {
            Some(r) => r,
            None => self
                .ip
                .inner()
                .fetch_region()
                .await
                .map_err(|e| principal::wrap(SOURCE, "the instance region", e))?,
        };
        let rpst_base = self
            .rpst_endpoint
            .clone()
            .unwrap_or_else(|| regions::endpoint(Service::Auth, &region));
        let session_key = principal::new_session_key(SOURCE).await?;
        let token = rpst_call(
            &self.caller,
            &rpst_base,
            &rpt,
            &spst,
            &session_key,
            self.ip.as_ref(),
        )
        .await?;
        let tenancy = token
            .claim("res_tenant")
            .or_else(|| ip_creds.tenancy().map(str::to_string));
        let mut c = Credentials::security_token(&token.token, session_key, SOURCE)
            .with_expiry(token.expires_at)
            .with_region(region.id.as_str());
        if let Some(t) = tenancy {
            c = c.with_tenancy(t);
        }
        Ok(c)
    }
}

/// `GET` an RPT: `(resourcePrincipalToken, servicePrincipalSessionToken, opc-parent-rpt-url)`.
async fn rpt_call(
    caller: &ServiceCaller,
    url: &str,
    signer: &dyn CredentialsProvider,
) -> Result<(Zeroizing<String>, Zeroizing<String>, Option<String>), PrincipalError> {
    let what = "the resource principal token request";
    let endpoint = format!("GET {url}");
    let reply = caller
        .call(what, reqwest::Method::GET, url, None, signer)
        .await?;
    let obj = principal::json_object(SOURCE, what, &endpoint, &reply.body)?;
    let rpt = principal::json_string(SOURCE, what, &endpoint, &obj, "resourcePrincipalToken")?;
    let spst = principal::json_string(
        SOURCE,
        what,
        &endpoint,
        &obj,
        "servicePrincipalSessionToken",
    )?;
    let parent = reply
        .header(PARENT_RPT_URL_HEADER)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Ok((Zeroizing::new(rpt), Zeroizing::new(spst), parent))
}

/// `POST {base}/v1/resourcePrincipalSessionToken`: the RPST bound to `session_key`.
async fn rpst_call(
    caller: &ServiceCaller,
    base: &str,
    rpt: &str,
    spst: &str,
    session_key: &PrivateKey,
    signer: &dyn CredentialsProvider,
) -> Result<SessionToken, PrincipalError> {
    let what = "the resource principal session token request";
    let url = format!("{}{RPST_PATH}", base.trim_end_matches('/'));
    let endpoint = format!("POST {url}");
    let mut body = serde_json::Map::new();
    body.insert("resourcePrincipalToken".into(), rpt.into());
    body.insert("servicePrincipalSessionToken".into(), spst.into());
    body.insert(
        "sessionPublicKey".into(),
        principal::sanitized_public_key(session_key).into(),
    );
    let body = Zeroizing::new(
        crate::client::python_json_dumps(&serde_json::Value::Object(body)).into_bytes(),
    );
    let reply = caller
        .call(what, reqwest::Method::POST, &url, Some(&body), signer)
        .await?;
    let obj = principal::json_object(SOURCE, what, &endpoint, &reply.body)?;
    let token = principal::json_string(SOURCE, what, &endpoint, &obj, "token")?;
    let source = format!("the token from {endpoint}");
    let token = SessionToken::parse(SOURCE, &source, &token)?;
    token.check_not_expired(SOURCE, &source, caller.clock.now())?;
    Ok(token)
}

// ---------------------------------------------------------------------------------------------
// 3.0
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Rp30 {
    leaf: Arc<CachingProvider<ResourcePrincipalProvider>>,
    parent_rpt_url: String,
    parent_rpst_endpoint: String,
    caller: ServiceCaller,
}

impl Rp30 {
    async fn fetch(&self) -> Result<Credentials, PrincipalError> {
        let leaf_creds = self.leaf.credentials().await.map_err(|e| {
            principal::upstream(SOURCE, "getting the leaf resource's token failed", &e)
        })?;
        let region = leaf_creds.region().map(str::to_string);
        let mut signer: Arc<dyn CredentialsProvider> = self.leaf.clone();
        let mut url = self.parent_rpt_url.clone();
        let mut visited = vec![url.clone()];
        loop {
            let (rpt, spst, next) = rpt_call(&self.caller, &url, signer.as_ref()).await?;
            // The key of the token that signs is the leaf's session key (renewed if a 401 made
            // the leaf fetch a new token): every level's token is bound to it.
            let session_key = signer
                .credentials()
                .await
                .map_err(|e| principal::upstream(SOURCE, "getting the signing token failed", &e))?
                .private_key()
                .clone();
            let token = rpst_call(
                &self.caller,
                &self.parent_rpst_endpoint,
                &rpt,
                &spst,
                &session_key,
                signer.as_ref(),
            )
            .await?;
            let mut c = Credentials::security_token(&token.token, session_key, SOURCE)
                .with_expiry(token.expires_at);
            if let Some(r) = &region {
                c = c.with_region(r.as_str());
            }
            if let Some(t) = token.claim("res_tenant") {
                c = c.with_tenancy(t);
            }
            let Some(next) = next else {
                return Ok(c);
            };
            if visited.contains(&next) || visited.len() >= MAX_NESTED_PARENT_DEPTH {
                return Err(PrincipalError::invalid_response(
                    SOURCE,
                    format!(
                        "the nested resource principals went over the maximum of \
                         {MAX_NESTED_PARENT_DEPTH} parent levels or loop: {url} answered \
                         {PARENT_RPT_URL_HEADER}: {next}"
                    ),
                ));
            }
            visited.push(next.clone());
            signer = Arc::new(StaticProvider(c));
            url = next;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Flavor {
    V22(Rp22),
    V11(Rp11),
    V30(Rp30),
}

/// A resource principal as the environment describes it. Each [`fetch`](Self::fetch) reads the
/// platform's files or asks the token services again; use [`cached`](Self::cached).
#[derive(Debug)]
pub struct ResourcePrincipalProvider {
    flavor: Flavor,
    clock: Arc<dyn Clock>,
}

impl ResourcePrincipalProvider {
    /// Read the `OCI_RESOURCE_PRINCIPAL_*` variables and check them (literal keys and tokens
    /// are parsed here). No network I/O happens here.
    ///
    /// `OCI_RESOURCE_PRINCIPAL_VERSION` unset is [`PrincipalErrorKind::NotConfigured`]; every
    /// other problem is "configured but broken" and names the variable.
    pub fn from_env(
        opts: ResourcePrincipalOptions,
        env: Arc<dyn Env>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PrincipalError> {
        let Some(version) = var(env.as_ref(), OCI_RESOURCE_PRINCIPAL_VERSION) else {
            return Err(PrincipalError::not_configured(
                SOURCE,
                OCI_RESOURCE_PRINCIPAL_VERSION,
                format!(
                    "{OCI_RESOURCE_PRINCIPAL_VERSION} is not defined: resource principals are \
                     not configured in this environment (OCI services that support them set it \
                     to 2.2, 1.1 or 3.0)"
                ),
            ));
        };
        let caller = || -> Result<ServiceCaller, PrincipalError> {
            Ok(ServiceCaller {
                provider: SOURCE,
                http: principal::http_client(
                    SOURCE,
                    &HttpSettings {
                        connect_timeout: opts.connect_timeout,
                        timeout: opts.timeout,
                        extra_ca: opts.ca_bundle.as_deref(),
                        ..HttpSettings::default()
                    },
                )?,
                retry: opts.retry,
                clock: Arc::clone(&clock),
            })
        };
        let flavor = match version.trim() {
            "2.2" => Flavor::V22(Rp22::from_env(
                env.as_ref(),
                Names::TOP,
                Arc::clone(&clock),
                OCI_RESOURCE_PRINCIPAL_VERSION,
            )?),
            "1.1" => Flavor::V11(Rp11::from_env(
                Arc::clone(&env),
                Names::TOP,
                Arc::clone(&clock),
                &opts,
                caller()?,
                OCI_RESOURCE_PRINCIPAL_VERSION,
            )?),
            "3.0" => {
                let leaf_var = OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE;
                let leaf = match var(env.as_ref(), leaf_var).as_deref().map(str::trim) {
                    Some("2.2") => Flavor::V22(Rp22::from_env(
                        env.as_ref(),
                        Names::LEAF,
                        Arc::clone(&clock),
                        leaf_var,
                    )?),
                    Some("1.1") => Flavor::V11(Rp11::from_env(
                        Arc::clone(&env),
                        Names::LEAF,
                        Arc::clone(&clock),
                        &opts,
                        caller()?,
                        leaf_var,
                    )?),
                    Some(other) => {
                        return Err(PrincipalError::invalid_var(
                            SOURCE,
                            leaf_var,
                            format!(
                                "Unsupported {leaf_var}: {other} (this library supports leaf \
                                 versions 2.2 and 1.1)"
                            ),
                        ));
                    }
                    None => {
                        return Err(PrincipalError::invalid_var(
                            SOURCE,
                            leaf_var,
                            format!(
                                "{leaf_var} is not set ({OCI_RESOURCE_PRINCIPAL_VERSION} is 3.0: \
                                 set it to the leaf resource's version, 2.2 or 1.1)"
                            ),
                        ));
                    }
                };
                let required = |name: &str, what: &str| {
                    endpoint_var(env.as_ref(), name)?.ok_or_else(|| {
                        PrincipalError::invalid_var(
                            SOURCE,
                            name,
                            format!(
                                "{name} is not set ({OCI_RESOURCE_PRINCIPAL_VERSION} is 3.0: set \
                                 it to {what})"
                            ),
                        )
                    })
                };
                let parent_rpt_url = required(
                    OCI_RESOURCE_PRINCIPAL_RPT_URL_FOR_PARENT_RESOURCE,
                    "the full URL of the parent resource's resource principal token",
                )?;
                let parent_rpst_endpoint = required(
                    OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT_FOR_PARENT_RESOURCE,
                    "the base URL of the service that issues the parent's session tokens",
                )?;
                let leaf = ResourcePrincipalProvider {
                    flavor: leaf,
                    clock: Arc::clone(&clock),
                };
                Flavor::V30(Rp30 {
                    leaf: Arc::new(leaf.cached()),
                    parent_rpt_url,
                    parent_rpst_endpoint,
                    caller: caller()?,
                })
            }
            other => {
                return Err(PrincipalError::invalid_var(
                    SOURCE,
                    OCI_RESOURCE_PRINCIPAL_VERSION,
                    format!(
                        "Unsupported {OCI_RESOURCE_PRINCIPAL_VERSION}: {other} (this library \
                         supports 2.2, 1.1 and 3.0)"
                    ),
                ));
            }
        };
        Ok(Self { flavor, clock })
    }

    /// `"2.2"`, `"1.1"` or `"3.0"`.
    pub fn version(&self) -> &'static str {
        match self.flavor {
            Flavor::V22(_) => "2.2",
            Flavor::V11(_) => "1.1",
            Flavor::V30(_) => "3.0",
        }
    }

    /// Wrap in a [`CachingProvider`] (refresh ahead of expiry, single flight, invalidate on 401).
    pub fn cached(self) -> CachingProvider<Self> {
        let clock = Arc::clone(&self.clock);
        CachingProvider::new(self, clock)
    }

    /// Read or request a session token now.
    pub async fn fetch(&self) -> Result<Credentials, PrincipalError> {
        match &self.flavor {
            Flavor::V22(rp) => rp.fetch(),
            Flavor::V11(rp) => rp.fetch().await,
            Flavor::V30(rp) => rp.fetch().await,
        }
    }
}

impl CredentialsProvider for ResourcePrincipalProvider {
    fn credentials(&self) -> BoxFuture<'_, crate::Result<Credentials>> {
        Box::pin(async move { self.fetch().await.map_err(Into::into) })
    }

    /// 2.2 re-reads its files on every fetch anyway; 1.1 and 3.0 also renew the token that signs
    /// their requests (the instance principal, the leaf).
    fn invalidate(&self) {
        match &self.flavor {
            Flavor::V22(_) => {}
            Flavor::V11(rp) => rp.ip.invalidate(),
            Flavor::V30(rp) => rp.leaf.invalidate(),
        }
    }

    fn name(&self) -> &'static str {
        SOURCE
    }
}

/// A resource-principal provider with refresh ahead of expiry:
/// `from_env(opts, env, clock).cached()`.
pub fn resource_principal(
    opts: ResourcePrincipalOptions,
    env: Arc<dyn Env>,
    clock: Arc<dyn Clock>,
) -> Result<CachingProvider<ResourcePrincipalProvider>, PrincipalError> {
    Ok(ResourcePrincipalProvider::from_env(opts, env, clock)?.cached())
}
