//! Region resolution and endpoints (spec oci-signing-config-session.md §5.1–5.4).

use std::path::Path;

use ociauth::env::MapEnv;
use ociauth::regions::{
    self, Region, RegionError, RegionMetadata, RegionSource, Service, all_realms, all_regions,
    builtin_region, endpoint, endpoint_with_override, resolve_region, resolve_region_detailed,
    resolve_region_with,
};

fn no_env() -> MapEnv {
    MapEnv::new()
}

fn resolve(input: &str) -> Region {
    resolve_region(input, &no_env()).unwrap()
}

fn os(r: &Region) -> String {
    endpoint(Service::ObjectStorage, r)
}

/// A HOME with `.oci/regions-config.json` holding `text`.
fn home_with_regions_config(text: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".oci")).unwrap();
    std::fs::write(home.path().join(".oci/regions-config.json"), text).unwrap();
    home
}

fn env_home(home: &Path) -> MapEnv {
    MapEnv::new().with("HOME", home.to_str().unwrap())
}

#[test]
fn frankfurt_by_short_code_every_service() {
    for input in ["fra", "FRA", "Fra", "eu-frankfurt-1", "EU-FRANKFURT-1"] {
        let r = resolve(input);
        assert_eq!(
            r,
            Region {
                id: "eu-frankfurt-1".into(),
                realm_key: "oc1".into(),
                domain: "oraclecloud.com".into()
            },
            "{input}"
        );
    }
    let r = resolve("fra");
    assert_eq!(
        endpoint(Service::ObjectStorage, &r),
        "https://objectstorage.eu-frankfurt-1.oraclecloud.com"
    );
    assert_eq!(
        endpoint(Service::Identity, &r),
        "https://identity.eu-frankfurt-1.oci.oraclecloud.com"
    );
    assert_eq!(
        endpoint(Service::Auth, &r),
        "https://auth.eu-frankfurt-1.oraclecloud.com"
    );
    assert_eq!(
        endpoint(Service::Login, &r),
        "https://login.eu-frankfurt-1.oraclecloud.com"
    );
    assert_eq!(
        endpoint(Service::Iaas, &r),
        "https://iaas.eu-frankfurt-1.oraclecloud.com"
    );
    assert_eq!(
        endpoint_with_override(Service::Identity, &r, None),
        "https://identity.eu-frankfurt-1.oci.oraclecloud.com/20160918"
    );
    assert_eq!(
        endpoint_with_override(Service::ObjectStorage, &r, None),
        "https://objectstorage.eu-frankfurt-1.oraclecloud.com"
    );
    assert_eq!(
        endpoint_with_override(Service::Auth, &r, None),
        "https://auth.eu-frankfurt-1.oraclecloud.com/v1"
    );
    assert_eq!(
        endpoint_with_override(Service::Iaas, &r, None),
        "https://iaas.eu-frankfurt-1.oraclecloud.com/20160918"
    );
    assert_eq!(
        resolve_region_detailed("fra", &no_env()).unwrap().1,
        RegionSource::Builtin
    );
}

#[test]
fn base_paths() {
    assert_eq!(Service::ObjectStorage.base_path(), "");
    assert_eq!(Service::Identity.base_path(), "/20160918");
    assert_eq!(Service::Iaas.base_path(), "/20160918");
    assert_eq!(Service::Auth.base_path(), "/v1");
    assert_eq!(Service::Login.base_path(), "/v1");
}

#[test]
fn realms_from_the_spec_examples() {
    let r = resolve("us-gov-ashburn-1");
    assert_eq!(r.realm_key, "oc3");
    assert_eq!(
        os(&r),
        "https://objectstorage.us-gov-ashburn-1.oraclegovcloud.com"
    );
    assert_eq!(
        endpoint(Service::Identity, &r),
        "https://identity.us-gov-ashburn-1.oci.oraclegovcloud.com"
    );
    let r = resolve("uk-gov-london-1");
    assert_eq!(r.realm_key, "oc4");
    assert_eq!(
        endpoint(Service::Auth, &r),
        "https://auth.uk-gov-london-1.oraclegovcloud.uk"
    );
    let r = resolve("eu-frankfurt-2");
    assert_eq!(r.realm_key, "oc19");
    assert_eq!(
        os(&r),
        "https://objectstorage.eu-frankfurt-2.oraclecloud.eu"
    );
    assert_eq!(os(&resolve("STR")), os(&r));
    assert_eq!(
        os(&resolve("hnw")),
        "https://objectstorage.sa-riodejaneiro-1.oraclecloud52.com"
    );
    assert_eq!(
        os(&resolve("lfi")),
        "https://objectstorage.us-langley-1.oraclegovcloud.com"
    );
}

#[test]
fn unknown_region_falls_back_to_oc1() {
    let (r, src) = resolve_region_detailed("xx-new-1", &no_env()).unwrap();
    assert_eq!(src, RegionSource::FallbackOc1);
    assert!(!src.is_known());
    assert_eq!(r.realm_key, "oc1");
    assert_eq!(os(&r), "https://objectstorage.xx-new-1.oraclecloud.com");
    assert_eq!(
        endpoint(Service::Identity, &r),
        "https://identity.xx-new-1.oci.oraclecloud.com"
    );
    // An unknown three-letter code is not a short code: it is used as the identifier.
    assert_eq!(
        os(&resolve("XYZ")),
        "https://objectstorage.xyz.oraclecloud.com"
    );
}

#[test]
fn default_realm_for_unknown_regions_only() {
    let env = MapEnv::new().with("OCI_DEFAULT_REALM", "emu.test:8443");
    let (r, src) = resolve_region_detailed("xx-emu-1", &env).unwrap();
    assert_eq!(src, RegionSource::DefaultRealm);
    assert_eq!(
        r,
        Region {
            id: "xx-emu-1".into(),
            realm_key: "unknown".into(),
            domain: "emu.test:8443".into()
        }
    );
    assert_eq!(
        endpoint(Service::Auth, &r),
        "https://auth.xx-emu-1.emu.test:8443"
    );
    assert_eq!(
        endpoint(Service::Identity, &r),
        "https://identity.xx-emu-1.oci.emu.test:8443"
    );
    // Known regions keep their realm.
    assert_eq!(
        os(&resolve_region("fra", &env).unwrap()),
        "https://objectstorage.eu-frankfurt-1.oraclecloud.com"
    );
    // An empty OCI_DEFAULT_REALM is ignored, as in the SDK.
    let env = MapEnv::new().with("OCI_DEFAULT_REALM", "");
    assert_eq!(
        os(&resolve_region("xx-emu-1", &env).unwrap()),
        "https://objectstorage.xx-emu-1.oraclecloud.com"
    );
}

#[test]
fn dotted_region_is_a_full_domain() {
    let env = MapEnv::new().with("OCI_DEFAULT_REALM", "ignored.example");
    let (r, src) = resolve_region_detailed("My.Custom.Domain", &env).unwrap();
    assert_eq!(src, RegionSource::FullDomain);
    assert!(r.is_full_domain());
    assert_eq!(
        r,
        Region {
            id: "my.custom.domain".into(),
            realm_key: "".into(),
            domain: "my.custom.domain".into()
        }
    );
    assert_eq!(os(&r), "https://objectstorage.my.custom.domain");
    assert_eq!(
        endpoint(Service::Identity, &r),
        "https://identity.my.custom.domain"
    );
    assert_eq!(endpoint(Service::Auth, &r), "https://auth.my.custom.domain");
    assert_eq!(
        endpoint_with_override(Service::Iaas, &r, None),
        "https://iaas.my.custom.domain/20160918"
    );
    assert_eq!(
        os(&resolve("127.0.0.1:8765")),
        "https://objectstorage.127.0.0.1:8765"
    );
}

#[test]
fn empty_or_whitespace_is_rejected() {
    for input in ["", " ", "eu frankfurt", " fra", "fra\n", "fra\t"] {
        let err = resolve_region(input, &no_env()).unwrap_err();
        assert_eq!(err, RegionError::Invalid(input.to_string()));
    }
    assert_eq!(
        resolve_region("eu frankfurt", &no_env())
            .unwrap_err()
            .to_string(),
        "invalid region \"eu frankfurt\": a region can not be empty or contain whitespace (use an identifier like eu-frankfurt-1 or a short code like fra)"
    );
    // It converts into the crate error.
    let e: ociauth::Error = resolve_region("", &no_env()).unwrap_err().into();
    assert_eq!(
        e.to_string(),
        "invalid region \"\": a region can not be empty or contain whitespace (use an identifier like eu-frankfurt-1 or a short code like fra)"
    );
}

#[test]
fn endpoint_override_follows_the_cli_rule() {
    let r = resolve("fra");
    let ov = |s, url| endpoint_with_override(s, &r, Some(url));
    assert_eq!(
        ov(Service::ObjectStorage, "http://127.0.0.1:8765"),
        "http://127.0.0.1:8765"
    );
    assert_eq!(
        ov(Service::Identity, "http://127.0.0.1:8765"),
        "http://127.0.0.1:8765/20160918"
    );
    assert_eq!(
        ov(Service::Identity, "http://127.0.0.1:8765/20160918"),
        "http://127.0.0.1:8765/20160918"
    );
    assert_eq!(
        ov(Service::Identity, "http://127.0.0.1:8765/20160918/"),
        "http://127.0.0.1:8765/20160918/"
    );
    // Kept byte for byte, as the SDK does (no slash trimming).
    assert_eq!(
        ov(Service::Iaas, "http://127.0.0.1:8765/"),
        "http://127.0.0.1:8765//20160918"
    );
    assert_eq!(
        ov(Service::Auth, "https://auth.example"),
        "https://auth.example/v1"
    );
    assert_eq!(
        ov(Service::Auth, "https://auth.example/v1"),
        "https://auth.example/v1"
    );
}

#[test]
fn the_builtin_table() {
    let regions = all_regions();
    assert_eq!(regions.len(), 85);
    assert_eq!(all_realms().len(), 20);
    let fra = regions.iter().find(|r| r.key == "FRA").unwrap();
    assert_eq!(fra.name, "eu-frankfurt-1");
    assert_eq!(fra.realm_key, "oc1");
    assert_eq!(fra.domain, "oraclecloud.com");
    assert_eq!(
        (regions[0].key.as_str(), regions[0].name.as_str()),
        ("LEJ", "af-casablanca-1")
    );
    let mut keys: Vec<_> = regions.iter().map(|r| r.key.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 85);
    for r in regions {
        assert_eq!(r.key.len(), 3);
        assert_eq!(r.key, r.key.to_ascii_uppercase());
        assert_eq!(resolve(&r.key), r.region());
        assert_eq!(resolve(&r.name), r.region());
        assert_eq!(builtin_region(&r.key.to_lowercase()), Some(r.region()));
    }
    let domains: Vec<_> = all_realms()
        .iter()
        .map(|r| format!("{}={}", r.key, r.domain))
        .collect();
    assert_eq!(
        domains.join(" "),
        "oc1=oraclecloud.com oc2=oraclegovcloud.com oc3=oraclegovcloud.com oc4=oraclegovcloud.uk \
         oc8=oraclecloud8.com oc9=oraclecloud9.com oc10=oraclecloud10.com oc14=oraclecloud14.com \
         oc15=oraclecloud15.com oc19=oraclecloud.eu oc20=oraclecloud20.com oc21=oraclecloud21.com \
         oc23=oraclecloud23.com oc24=oraclecloud24.com oc26=oraclecloud26.com oc29=oraclecloud29.com \
         oc35=oraclecloud35.com oc42=oraclecloud42.com oc51=oraclecloud51.com oc52=oraclecloud52.com"
    );
    assert_eq!(builtin_region("xx-new-1"), None);
}

const CUSTOM: &str = r#"[
  {"realmKey": "OC99", "realmDomainComponent": "Example.COM", "regionKey": "XYZ", "regionIdentifier": "XX-Custom-1"},
  {"realmKey": "oc1", "realmDomainComponent": "ignored.example", "regionKey": "abc", "regionIdentifier": "xx-inoc1-1"},
  {"realmKey": "oc98", "realmDomainComponent": "second.example", "regionKey": "xyz", "regionIdentifier": "xx-second-1"}
]"#;

#[test]
fn regions_config_file_adds_regions() {
    let home = home_with_regions_config(CUSTOM);
    let env = env_home(home.path());
    for input in ["xx-custom-1", "XYZ", "xyz"] {
        let (r, src) = resolve_region_detailed(input, &env).unwrap();
        assert_eq!(src, RegionSource::RegionsConfigFile, "{input}");
        assert!(src.is_known());
        assert_eq!(
            r,
            Region {
                id: "xx-custom-1".into(),
                realm_key: "oc99".into(),
                domain: "example.com".into()
            },
            "{input}"
        );
        assert_eq!(os(&r), "https://objectstorage.xx-custom-1.example.com");
        assert_eq!(
            endpoint(Service::Identity, &r),
            "https://identity.xx-custom-1.oci.example.com"
        );
    }
    // A built-in realm keeps its domain; a later entry never overrides an earlier one.
    assert_eq!(
        os(&resolve_region("abc", &env).unwrap()),
        "https://objectstorage.xx-inoc1-1.oraclecloud.com"
    );
    assert_eq!(
        os(&resolve_region("xx-second-1", &env).unwrap()),
        "https://objectstorage.xx-second-1.second.example"
    );
    // Built-in regions do not read the file; unknown ones still fall back.
    assert_eq!(
        os(&resolve_region("fra", &env).unwrap()),
        "https://objectstorage.eu-frankfurt-1.oraclecloud.com"
    );
    let (r, src) = resolve_region_detailed("xx-other-1", &env).unwrap();
    assert_eq!(src, RegionSource::FallbackOc1);
    assert_eq!(os(&r), "https://objectstorage.xx-other-1.oraclecloud.com");
    assert_eq!(
        regions::regions_config_path(&env).unwrap(),
        home.path().join(".oci/regions-config.json")
    );
}

#[test]
fn regions_config_file_wins_over_the_variable() {
    let home = home_with_regions_config(CUSTOM);
    // The variable is not even parsed when the file knows the region.
    let env = env_home(home.path()).with("OCI_REGION_METADATA", "{not json");
    assert_eq!(
        os(&resolve_region("xyz", &env).unwrap()),
        "https://objectstorage.xx-custom-1.example.com"
    );
    let env = env_home(home.path()).with(
        "OCI_REGION_METADATA",
        r#"{"realmKey":"oc97","realmDomainComponent":"env.example","regionKey":"XYZ","regionIdentifier":"xx-env-1"}"#,
    );
    assert_eq!(
        os(&resolve_region("xyz", &env).unwrap()),
        "https://objectstorage.xx-custom-1.example.com"
    );
    let (r, src) = resolve_region_detailed("xx-env-1", &env).unwrap();
    assert_eq!(src, RegionSource::EnvMetadata);
    assert_eq!(os(&r), "https://objectstorage.xx-env-1.env.example");
}

fn config_error(text: &str, region: &str) -> String {
    let home = home_with_regions_config(text);
    let err = resolve_region(region, &env_home(home.path())).unwrap_err();
    let path = home.path().join(".oci/regions-config.json");
    let msg = err.to_string();
    assert!(
        matches!(&err, RegionError::Metadata { origin, .. } if *origin == path.display().to_string()),
        "{err:?}"
    );
    msg.strip_prefix(&format!("{}: ", path.display()))
        .unwrap()
        .to_string()
}

#[test]
fn malformed_regions_config_file_is_an_error() {
    assert_eq!(
        config_error("[{", "xx-new-1"),
        "not valid JSON (EOF while parsing an object at line 1 column 2); expected an array of objects with \"realmKey\", \"realmDomainComponent\", \"regionKey\", \"regionIdentifier\""
    );
    assert_eq!(
        config_error(r#"{"realmKey":"oc1"}"#, "xx-new-1"),
        "expected a JSON array of objects with \"realmKey\", \"realmDomainComponent\", \"regionKey\", \"regionIdentifier\", found an object"
    );
    assert_eq!(
        config_error(
            r#"[{"realmKey":"oc9","realmDomainComponent":"a.b","regionKey":"q","regionIdentifier":"xx-q-1"}, 7]"#,
            "xx-new-1"
        ),
        "entry 1: expected a JSON object with \"realmKey\", \"realmDomainComponent\", \"regionKey\", \"regionIdentifier\", found a number"
    );
    assert_eq!(
        config_error(
            r#"[{"realmKey":"oc9","realmDomainComponent":"a.b","regionIdentifier":"xx-q-1"}]"#,
            "xx-q-1"
        ),
        "entry 0: missing \"regionKey\" (needs \"realmKey\", \"realmDomainComponent\", \"regionKey\", \"regionIdentifier\")"
    );
    assert_eq!(
        config_error(
            r#"[{"realmKey":"","realmDomainComponent":"a.b","regionKey":"q","regionIdentifier":"xx-q-1"}]"#,
            "xx-q-1"
        ),
        "entry 0: \"realmKey\" is empty"
    );
    assert_eq!(
        config_error(
            r#"[{"realmKey":"oc9","realmDomainComponent":"a.b","regionKey":5,"regionIdentifier":"xx-q-1"}]"#,
            "xx-q-1"
        ),
        "entry 0: \"regionKey\" must be a string, found a number"
    );
    // A broken file does not matter for built-in regions.
    let home = home_with_regions_config("garbage");
    assert_eq!(
        os(&resolve_region("iad", &env_home(home.path())).unwrap()),
        "https://objectstorage.us-ashburn-1.oraclecloud.com"
    );
}

#[cfg(unix)]
#[test]
fn unreadable_regions_config_file_is_an_error() {
    // A directory where the file should be cannot be read as a file (works as root too).
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".oci/regions-config.json")).unwrap();
    let err = resolve_region("xx-new-1", &env_home(home.path())).unwrap_err();
    let msg = err.to_string();
    let path = home.path().join(".oci/regions-config.json");
    assert_eq!(
        msg,
        format!(
            "{}: cannot read the regions file (Is a directory (os error 21)); fix its permissions or remove it",
            path.display()
        )
    );
}

#[test]
fn missing_home_or_file_is_fine() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(
        os(&resolve_region("xx-new-1", &env_home(home.path())).unwrap()),
        "https://objectstorage.xx-new-1.oraclecloud.com"
    );
    assert_eq!(regions::regions_config_path(&no_env()), None);
}

#[test]
fn region_metadata_variable() {
    let env = MapEnv::new().with(
        "OCI_REGION_METADATA",
        r#"{"realmKey":"OC77","realmDomainComponent":"Meta.Example","regionKey":"MMM","regionIdentifier":"xx-meta-1","extra":1}"#,
    );
    for input in ["xx-meta-1", "MMM", "mmm"] {
        let (r, src) = resolve_region_detailed(input, &env).unwrap();
        assert_eq!(src, RegionSource::EnvMetadata);
        assert_eq!(
            r,
            Region {
                id: "xx-meta-1".into(),
                realm_key: "oc77".into(),
                domain: "meta.example".into()
            }
        );
        assert_eq!(
            endpoint(Service::Auth, &r),
            "https://auth.xx-meta-1.meta.example"
        );
    }
    // Other regions are unaffected; an empty variable is ignored.
    assert_eq!(
        os(&resolve_region("xx-new-1", &env).unwrap()),
        "https://objectstorage.xx-new-1.oraclecloud.com"
    );
    let env = MapEnv::new().with("OCI_REGION_METADATA", "");
    assert_eq!(
        os(&resolve_region("xx-meta-1", &env).unwrap()),
        "https://objectstorage.xx-meta-1.oraclecloud.com"
    );
}

#[test]
fn malformed_region_metadata_variable_is_an_error() {
    let err = |v: &str| {
        resolve_region("xx-new-1", &MapEnv::new().with("OCI_REGION_METADATA", v))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("{oops"),
        "OCI_REGION_METADATA: not valid JSON (key must be a string at line 1 column 2); expected one object with \"realmKey\", \"realmDomainComponent\", \"regionKey\", \"regionIdentifier\""
    );
    assert_eq!(
        err("[]"),
        "OCI_REGION_METADATA: expected a JSON object with \"realmKey\", \"realmDomainComponent\", \"regionKey\", \"regionIdentifier\", found an array"
    );
    assert_eq!(
        err(r#"{"realmKey":"oc1","realmDomainComponent":"x","regionKey":"k"}"#),
        "OCI_REGION_METADATA: missing \"regionIdentifier\" (needs \"realmKey\", \"realmDomainComponent\", \"regionKey\", \"regionIdentifier\")"
    );
    // Not consulted for built-in regions.
    assert!(resolve_region("fra", &MapEnv::new().with("OCI_REGION_METADATA", "{oops")).is_ok());
}

#[test]
fn instance_metadata_hook() {
    let imds = RegionMetadata::parse(
        r#"{"realmKey":"oc1","realmDomainComponent":"oraclecloud.com","regionKey":"QQQ","regionIdentifier":"xx-imds-1"}"#,
        "instance metadata regionInfo",
    )
    .unwrap();
    assert_eq!(imds.region_key, "qqq");
    let (r, src) = resolve_region_with("qqq", &no_env(), Some(&imds)).unwrap();
    assert_eq!(src, RegionSource::Imds);
    assert_eq!(os(&r), "https://objectstorage.xx-imds-1.oraclecloud.com");
    // The variable comes first.
    let env = MapEnv::new().with(
        "OCI_REGION_METADATA",
        r#"{"realmKey":"oc9","realmDomainComponent":"oraclecloud9.com","regionKey":"QQQ","regionIdentifier":"xx-env-1"}"#,
    );
    let (r, src) = resolve_region_with("qqq", &env, Some(&imds)).unwrap();
    assert_eq!(src, RegionSource::EnvMetadata);
    assert_eq!(os(&r), "https://objectstorage.xx-env-1.oraclecloud9.com");
    assert_eq!(
        RegionMetadata::parse("null", "instance metadata regionInfo")
            .unwrap_err()
            .to_string(),
        "instance metadata regionInfo: expected a JSON object with \"realmKey\", \"realmDomainComponent\", \"regionKey\", \"regionIdentifier\", found null"
    );
}
