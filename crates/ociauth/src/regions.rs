//! Realms, regions and service endpoints, resolved exactly as the official Python SDK
//! (`oci.regions`, 2.189) does.
//!
//! The built-in tables (20 realms, 85 regions with their short codes) are data:
//! `regions.json`, embedded at compile time and parsed once.
//!
//! # Resolving a region ([`resolve_region`])
//! 1. The input is lower-cased. An empty input, or one containing whitespace, is rejected
//!    (the Go SDK's rule; Python would build a broken URL instead).
//! 2. A built-in short code maps to its identifier (`FRA` → `eu-frankfurt-1`); a built-in
//!    identifier is used as is.
//! 3. Otherwise, in this order, until one of them knows the input (as `regionIdentifier` or
//!    `regionKey`):
//!    - `~/.oci/regions-config.json`, a JSON array of
//!      `{"realmKey", "realmDomainComponent", "regionKey", "regionIdentifier"}`;
//!    - the environment variable `OCI_REGION_METADATA`, one such object;
//!    - the instance metadata service, **not queried here**: see [`resolve_region_with`].
//!
//!    As in the SDK, every value is lower-cased and entries are merged into the lookup tables
//!    first-wins: an entry never overrides a built-in region, short code or realm domain
//!    (an entry `{"realmKey": "oc1", "realmDomainComponent": "example.com", …}` still gets
//!    `oraclecloud.com`), and of two entries for the same name the earlier one counts.
//! 4. A region containing `.` is a full domain: `https://<service>.<region>`.
//! 5. Any other unknown region uses `OCI_DEFAULT_REALM` as its second-level domain when that
//!    variable is set and not empty, else realm `oc1` (`oraclecloud.com`).
//!
//! **[I] Errors instead of silence.** The SDK logs and ignores a `regions-config.json` or an
//! `OCI_REGION_METADATA` it cannot read or parse, and skips entries with a missing or empty
//! field. Here each of these is a [`RegionError::Metadata`] naming the file or variable (and the
//! entry), because silently falling back to `oc1` sends requests — and credentials — to the
//! wrong realm. The sources are consulted lazily, as in the SDK: a broken file does not matter
//! while only built-in regions are used, and `OCI_REGION_METADATA` is not read when the file
//! already knows the region. Unlike the SDK, which reads each source once per process, every
//! call reads them again, so each call gives what a fresh SDK process would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use crate::env::Env;

/// Variable holding one extra region object (PySDK, GoSDK).
pub const OCI_REGION_METADATA: &str = "OCI_REGION_METADATA";
/// Variable holding the second-level domain for unknown regions (PySDK, GoSDK).
pub const OCI_DEFAULT_REALM: &str = "OCI_DEFAULT_REALM";
/// The regions file, relative to the home directory.
pub const REGIONS_CONFIG_FILE: &str = ".oci/regions-config.json";

/// The `realm_key` of an unknown region whose domain came from `OCI_DEFAULT_REALM`
/// (the key the Python SDK files it under).
pub const UNKNOWN_REALM: &str = "unknown";

/// A resolved region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region {
    /// Lower-case region identifier (`eu-frankfurt-1`); for a full-domain region, the domain
    /// itself (`my.custom.domain`).
    pub id: String,
    /// Lower-case realm key (`oc1`); [`UNKNOWN_REALM`] when the domain came from
    /// `OCI_DEFAULT_REALM`; empty for a full-domain region.
    pub realm_key: String,
    /// Second-level domain (`oraclecloud.com`); for a full-domain region, the whole domain
    /// (equal to `id`).
    pub domain: String,
}

impl Region {
    /// The region is a full domain (its identifier contains `.`): endpoints are
    /// `https://<service>.<id>`, with no realm domain appended.
    pub fn is_full_domain(&self) -> bool {
        self.id.contains('.')
    }
}

/// Where [`resolve_region_detailed`] found a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionSource {
    /// The built-in table (identifier or short code).
    Builtin,
    /// `~/.oci/regions-config.json`.
    RegionsConfigFile,
    /// `OCI_REGION_METADATA`.
    EnvMetadata,
    /// Instance metadata passed to [`resolve_region_with`].
    Imds,
    /// Unknown, contains `.`: used as the full domain.
    FullDomain,
    /// Unknown: second-level domain from `OCI_DEFAULT_REALM`.
    DefaultRealm,
    /// Unknown: assumed to be in realm `oc1`.
    FallbackOc1,
}

impl RegionSource {
    /// The region was found in a table (built-in, file, variable or IMDS) rather than guessed.
    pub fn is_known(self) -> bool {
        matches!(
            self,
            RegionSource::Builtin
                | RegionSource::RegionsConfigFile
                | RegionSource::EnvMetadata
                | RegionSource::Imds
        )
    }
}

/// Why a region could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// Empty, or contains whitespace.
    #[error(
        "invalid region {0:?}: a region can not be empty or contain whitespace (use an identifier like eu-frankfurt-1 or a short code like fra)"
    )]
    Invalid(String),
    /// `regions-config.json`, `OCI_REGION_METADATA` or IMDS region info is unreadable or malformed.
    #[error("{origin}: {detail}")]
    Metadata {
        /// The file path, `OCI_REGION_METADATA`, or `instance metadata regionInfo`.
        origin: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// The embedded `regions.json` does not parse (a build defect; covered by tests).
    #[error("the built-in region table is corrupt: {0}")]
    BuiltinTable(String),
}

/// An OCI service with a regional endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// `https://objectstorage.{region}.{domain}`, base path none.
    ObjectStorage,
    /// `https://identity.{region}.oci.{domain}`, base path `/20160918`.
    Identity,
    /// `https://auth.{region}.{domain}` (session refresh, GenerateUpst, federation), base path `/v1`.
    Auth,
    /// `https://login.{region}.{domain}` (browser login), base path `/v1`.
    Login,
    /// `https://iaas.{region}.{domain}` (core/compute), base path `/20160918`.
    Iaas,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 5] = [
        Service::ObjectStorage,
        Service::Identity,
        Service::Auth,
        Service::Login,
        Service::Iaas,
    ];

    /// The first label of the service's host name.
    pub fn host_prefix(self) -> &'static str {
        match self {
            Service::ObjectStorage => "objectstorage",
            Service::Identity => "identity",
            Service::Auth => "auth",
            Service::Login => "login",
            Service::Iaas => "iaas",
        }
    }

    /// The path every operation of the service starts with.
    ///
    /// Object Storage: `""` (the SDK's base path `/` means "use the endpoint as is").
    /// Login: `/v1` **[I]**: the browser URL is `{endpoint}/v1/oauth2/authorize`, so the caller
    /// appends `/oauth2/authorize`, as it appends `/authentication/refresh` for Auth.
    pub fn base_path(self) -> &'static str {
        match self {
            Service::ObjectStorage => "",
            Service::Identity | Service::Iaas => "/20160918",
            Service::Auth | Service::Login => "/v1",
        }
    }

    /// Identity's endpoints carry an extra `oci.` label before the realm domain.
    fn realm_infix(self) -> &'static str {
        match self {
            Service::Identity => "oci.",
            _ => "",
        }
    }
}

/// The service's endpoint in the region: scheme and host, no base path, no trailing `/`.
///
/// `endpoint(Service::ObjectStorage, fra)` = `https://objectstorage.eu-frankfurt-1.oraclecloud.com`;
/// `endpoint(Service::Identity, fra)` = `https://identity.eu-frankfurt-1.oci.oraclecloud.com`;
/// a full-domain region `my.custom.domain` gives `https://objectstorage.my.custom.domain` for
/// every service (identity too, as in the SDK).
pub fn endpoint(service: Service, region: &Region) -> String {
    if region.is_full_domain() {
        format!("https://{}.{}", service.host_prefix(), region.id)
    } else {
        format!(
            "https://{}.{}.{}{}",
            service.host_prefix(),
            region.id,
            service.realm_infix(),
            region.domain
        )
    }
}

/// The base URL requests are built on: the regional endpoint plus the base path, or, with the
/// CLI's `--endpoint URL`, that URL instead.
///
/// The override follows the SDK's rule (`BaseClient.endpoint` setter): the base path is appended
/// unless the URL already ends with it or with it plus `/`. The URL is otherwise kept byte for
/// byte (a trailing `/` is not removed, as the SDK does not remove it). Object Storage has no
/// base path, so its override is used as given: `http://127.0.0.1:8765` → requests go to
/// `http://127.0.0.1:8765/n`.
pub fn endpoint_with_override(
    service: Service,
    region: &Region,
    endpoint_override: Option<&str>,
) -> String {
    let base = service.base_path();
    match endpoint_override {
        Some(url) => {
            if base.is_empty() || url.ends_with(base) || url.ends_with(&format!("{base}/")) {
                url.to_string()
            } else {
                format!("{url}{base}")
            }
        }
        None => format!("{}{}", endpoint(service, region), base),
    }
}

/// One built-in region, for listings (`ociauth iam region list`, the emulator's
/// `GET /20160918/regions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionInfo {
    /// Upper-case short code, as the Identity API's `key` (`FRA`).
    pub key: String,
    /// Region identifier, as the Identity API's `name` (`eu-frankfurt-1`).
    pub name: String,
    /// Realm key (`oc1`).
    pub realm_key: String,
    /// The realm's second-level domain (`oraclecloud.com`).
    pub domain: String,
}

impl RegionInfo {
    /// The region as [`resolve_region`] would give it.
    pub fn region(&self) -> Region {
        Region {
            id: self.name.clone(),
            realm_key: self.realm_key.clone(),
            domain: self.domain.clone(),
        }
    }
}

/// One built-in realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmInfo {
    /// Realm key (`oc1`).
    pub key: String,
    /// Second-level domain (`oraclecloud.com`).
    pub domain: String,
}

/// The built-in regions, in the order of `regions.json` (by realm, then identifier).
/// Empty only if the embedded table is corrupt, which the tests rule out.
pub fn all_regions() -> &'static [RegionInfo] {
    match &*TABLES {
        Ok(t) => &t.regions,
        Err(_) => &[],
    }
}

/// The built-in realms, in the order of `regions.json`.
pub fn all_realms() -> &'static [RealmInfo] {
    match &*TABLES {
        Ok(t) => &t.realms,
        Err(_) => &[],
    }
}

/// A built-in region by identifier or short code, any case; no file, variable or fallback.
pub fn builtin_region(input: &str) -> Option<Region> {
    let t = TABLES.as_ref().ok()?;
    let name = input.to_ascii_lowercase();
    let id = t
        .short_codes
        .get(&name)
        .map_or(name.as_str(), |s| s.as_str());
    t.by_id.get(id).map(|&i| t.regions[i].region())
}

/// One region object, as in `regions-config.json`, `OCI_REGION_METADATA` and the instance
/// metadata service's `/opc/v2/instance/regionInfo`. Values are lower-cased when parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionMetadata {
    pub realm_key: String,
    pub realm_domain_component: String,
    pub region_key: String,
    pub region_identifier: String,
}

const METADATA_FIELDS: [&str; 4] = [
    "realmKey",
    "realmDomainComponent",
    "regionKey",
    "regionIdentifier",
];

impl RegionMetadata {
    /// From one JSON object. All four fields must be non-empty strings; other keys are ignored.
    /// The error (a sentence without the origin) says which field is wrong.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let obj = value.as_object().ok_or_else(|| {
            format!(
                "expected a JSON object with {}, found {}",
                fields_list(),
                json_kind(value)
            )
        })?;
        let mut vals = Vec::with_capacity(4);
        for f in METADATA_FIELDS {
            match obj.get(f) {
                None => return Err(format!("missing \"{f}\" (needs {})", fields_list())),
                Some(Value::String(s)) if s.is_empty() => {
                    return Err(format!("\"{f}\" is empty"));
                }
                Some(Value::String(s)) => vals.push(s.to_lowercase()),
                Some(other) => {
                    return Err(format!(
                        "\"{f}\" must be a string, found {}",
                        json_kind(other)
                    ));
                }
            }
        }
        let mut it = vals.into_iter();
        let mut next = || it.next().unwrap_or_default();
        Ok(Self {
            realm_key: next(),
            realm_domain_component: next(),
            region_key: next(),
            region_identifier: next(),
        })
    }

    /// From the text of one JSON object (`OCI_REGION_METADATA`, the IMDS `regionInfo` body).
    /// `origin` names the source in the error.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RegionError> {
        let value: Value = serde_json::from_str(text).map_err(|e| RegionError::Metadata {
            origin: origin.to_string(),
            detail: format!(
                "not valid JSON ({e}); expected one object with {}",
                fields_list()
            ),
        })?;
        Self::from_json(&value).map_err(|detail| RegionError::Metadata {
            origin: origin.to_string(),
            detail,
        })
    }

    fn names(&self, lower_input: &str) -> bool {
        self.region_identifier == lower_input || self.region_key == lower_input
    }
}

fn fields_list() -> String {
    METADATA_FIELDS
        .iter()
        .map(|f| format!("\"{f}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Resolve a region name (identifier, short code, custom region, or full domain) to a region.
/// See the module documentation for the rules. Does not query the instance metadata service.
pub fn resolve_region(input: &str, env: &dyn Env) -> Result<Region, RegionError> {
    resolve_region_with(input, env, None).map(|(r, _)| r)
}

/// [`resolve_region`], also saying where the region came from (the CLI's session login accepts
/// only [known](RegionSource::is_known) regions).
pub fn resolve_region_detailed(
    input: &str,
    env: &dyn Env,
) -> Result<(Region, RegionSource), RegionError> {
    resolve_region_with(input, env, None)
}

/// [`resolve_region_detailed`] with instance metadata: the hook for the opt-in IMDS lookup
/// (`GET http://169.254.169.254/opc/v2/instance/regionInfo`, `Authorization: Bearer Oracle`,
/// enabled in the CLI by `OCI_CLI_USE_INSTANCE_METADATA_SERVICE`), which this module does not
/// perform because it is network I/O.
///
/// The caller fetches the body, parses it with [`RegionMetadata::parse`] and passes it here; it
/// is consulted after `regions-config.json` and `OCI_REGION_METADATA` and before the
/// full-domain and default-realm rules, as in the SDK. [`builtin_region`] tells a caller
/// whether the lookup can be skipped.
pub fn resolve_region_with(
    input: &str,
    env: &dyn Env,
    imds: Option<&RegionMetadata>,
) -> Result<(Region, RegionSource), RegionError> {
    if input.is_empty() || input.chars().any(char::is_whitespace) {
        return Err(RegionError::Invalid(input.to_string()));
    }
    let tables = TABLES
        .as_ref()
        .map_err(|e| RegionError::BuiltinTable(e.clone()))?;
    let name = input.to_lowercase();

    let mut overlay = Overlay::new(tables);
    let source = if overlay.knows(&name) {
        RegionSource::Builtin
    } else {
        consult_sources(&name, env, imds, &mut overlay)?
    };

    let id = overlay
        .short_code(&name)
        .map(str::to_string)
        .unwrap_or(name);
    if id.contains('.') {
        let region = Region {
            domain: id.clone(),
            id,
            realm_key: String::new(),
        };
        let source = if source.is_known() {
            source
        } else {
            RegionSource::FullDomain
        };
        return Ok((region, source));
    }
    if let Some(realm) = overlay.region_realm(&id) {
        let domain = overlay.realm_domain(realm).unwrap_or_default().to_string();
        return Ok((
            Region {
                realm_key: realm.to_string(),
                id,
                domain,
            },
            source,
        ));
    }
    if let Some(fallback) = env.var(OCI_DEFAULT_REALM).filter(|d| !d.is_empty()) {
        return Ok((
            Region {
                id,
                realm_key: UNKNOWN_REALM.to_string(),
                domain: fallback,
            },
            RegionSource::DefaultRealm,
        ));
    }
    let domain = tables
        .realm_domains
        .get("oc1")
        .cloned()
        .unwrap_or_else(|| "oraclecloud.com".to_string());
    Ok((
        Region {
            id,
            realm_key: "oc1".to_string(),
            domain,
        },
        RegionSource::FallbackOc1,
    ))
}

/// Steps 3 of the module documentation: merges the external sources into `overlay` until one
/// of them names `name`; `FallbackOc1` when none does.
fn consult_sources(
    name: &str,
    env: &dyn Env,
    imds: Option<&RegionMetadata>,
    overlay: &mut Overlay<'_>,
) -> Result<RegionSource, RegionError> {
    if let Some(path) = regions_config_path(env)
        && let Some(entries) = read_regions_config(&path)?
    {
        let mut matched = false;
        for m in &entries {
            overlay.add(m);
            matched |= m.names(name);
        }
        if matched {
            return Ok(RegionSource::RegionsConfigFile);
        }
    }
    if let Some(text) = env.var(OCI_REGION_METADATA).filter(|t| !t.is_empty()) {
        let m = RegionMetadata::parse(&text, OCI_REGION_METADATA)?;
        overlay.add(&m);
        if m.names(name) {
            return Ok(RegionSource::EnvMetadata);
        }
    }
    if let Some(m) = imds {
        overlay.add(m);
        if m.names(name) {
            return Ok(RegionSource::Imds);
        }
    }
    Ok(RegionSource::FallbackOc1)
}

/// Reads `regions-config.json`: `Ok(None)` when it does not exist.
fn read_regions_config(path: &Path) -> Result<Option<Vec<RegionMetadata>>, RegionError> {
    let origin = || path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(RegionError::Metadata {
                origin: origin(),
                detail: format!(
                    "cannot read the regions file ({e}); fix its permissions or remove it"
                ),
            });
        }
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| RegionError::Metadata {
        origin: origin(),
        detail: format!(
            "not valid JSON ({e}); expected an array of objects with {}",
            fields_list()
        ),
    })?;
    let items = value.as_array().ok_or_else(|| RegionError::Metadata {
        origin: origin(),
        detail: format!(
            "expected a JSON array of objects with {}, found {}",
            fields_list(),
            json_kind(&value)
        ),
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            RegionMetadata::from_json(item).map_err(|detail| RegionError::Metadata {
                origin: origin(),
                detail: format!("entry {i}: {detail}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The built-in lookups plus entries from external sources, first-wins (the SDK's
/// `_add_region_information_to_lookup`): an added entry never replaces a built-in or an
/// earlier added value.
struct Overlay<'a> {
    tables: &'a Tables,
    short_codes: HashMap<String, String>,
    region_realms: HashMap<String, String>,
    realms: HashMap<String, String>,
}

impl<'a> Overlay<'a> {
    fn new(tables: &'a Tables) -> Self {
        Self {
            tables,
            short_codes: HashMap::new(),
            region_realms: HashMap::new(),
            realms: HashMap::new(),
        }
    }

    fn short_code(&self, name: &str) -> Option<&str> {
        self.tables
            .short_codes
            .get(name)
            .or_else(|| self.short_codes.get(name))
            .map(String::as_str)
    }

    fn region_realm(&self, id: &str) -> Option<&str> {
        match self.tables.by_id.get(id) {
            Some(&i) => Some(self.tables.regions[i].realm_key.as_str()),
            None => self.region_realms.get(id).map(String::as_str),
        }
    }

    fn realm_domain(&self, realm: &str) -> Option<&str> {
        self.tables
            .realm_domains
            .get(realm)
            .or_else(|| self.realms.get(realm))
            .map(String::as_str)
    }

    fn knows(&self, name: &str) -> bool {
        self.short_code(name).is_some() || self.region_realm(name).is_some()
    }

    fn add(&mut self, m: &RegionMetadata) {
        if self.short_code(&m.region_key).is_none() {
            self.short_codes
                .insert(m.region_key.clone(), m.region_identifier.clone());
        }
        if self.region_realm(&m.region_identifier).is_none() {
            self.region_realms
                .insert(m.region_identifier.clone(), m.realm_key.clone());
        }
        if self.realm_domain(&m.realm_key).is_none() {
            self.realms
                .insert(m.realm_key.clone(), m.realm_domain_component.clone());
        }
    }
}

/// The embedded table, as stored in `regions.json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[allow(dead_code)]
    source: String,
    realms: Vec<RealmRow>,
    regions: Vec<RegionRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RealmRow {
    key: String,
    domain: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionRow {
    id: String,
    key: String,
    realm: String,
}

struct Tables {
    realms: Vec<RealmInfo>,
    regions: Vec<RegionInfo>,
    realm_domains: HashMap<String, String>,
    /// lower-case short code → identifier
    short_codes: HashMap<String, String>,
    /// identifier → index in `regions`
    by_id: HashMap<String, usize>,
}

static TABLES: LazyLock<Result<Tables, String>> =
    LazyLock::new(|| parse_tables(include_str!("regions.json")));

fn parse_tables(text: &str) -> Result<Tables, String> {
    let file: TableFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let realm_domains: HashMap<String, String> = file
        .realms
        .iter()
        .map(|r| (r.key.clone(), r.domain.clone()))
        .collect();
    let realms = file
        .realms
        .into_iter()
        .map(|r| RealmInfo {
            key: r.key,
            domain: r.domain,
        })
        .collect();
    let mut regions = Vec::with_capacity(file.regions.len());
    let mut short_codes = HashMap::new();
    let mut by_id = HashMap::new();
    for row in file.regions {
        let domain = realm_domains
            .get(&row.realm)
            .ok_or_else(|| format!("region {} names unknown realm {}", row.id, row.realm))?
            .clone();
        if short_codes
            .insert(row.key.clone(), row.id.clone())
            .is_some()
        {
            return Err(format!("short code {} appears twice", row.key));
        }
        if by_id.insert(row.id.clone(), regions.len()).is_some() {
            return Err(format!("region {} appears twice", row.id));
        }
        regions.push(RegionInfo {
            key: row.key.to_ascii_uppercase(),
            name: row.id,
            realm_key: row.realm,
            domain,
        });
    }
    Ok(Tables {
        realms,
        regions,
        realm_domains,
        short_codes,
        by_id,
    })
}

/// The path of `regions-config.json` for this environment, if the home directory is known.
pub fn regions_config_path(env: &dyn Env) -> Option<PathBuf> {
    env.home_dir().map(|h| h.join(REGIONS_CONFIG_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses() {
        let t = TABLES.as_ref().expect("regions.json parses");
        assert_eq!(t.realms.len(), 20);
        assert_eq!(t.regions.len(), 85);
        assert_eq!(t.short_codes.len(), 85);
    }

    #[test]
    fn table_defects_are_reported() {
        let bad_realm =
            r#"{"source":"x","realms":[],"regions":[{"id":"a-b-1","key":"abc","realm":"oc1"}]}"#;
        assert_eq!(
            parse_tables(bad_realm).err().as_deref(),
            Some("region a-b-1 names unknown realm oc1")
        );
        let dup = r#"{"source":"x","realms":[{"key":"oc1","domain":"d"}],"regions":[{"id":"a-b-1","key":"abc","realm":"oc1"},{"id":"a-b-2","key":"abc","realm":"oc1"}]}"#;
        assert_eq!(
            parse_tables(dup).err().as_deref(),
            Some("short code abc appears twice")
        );
    }
}
