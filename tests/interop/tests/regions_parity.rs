//! Our region resolution and endpoints against the official Python SDK 2.189 (and the CLI's
//! browser-login URL): every built-in region by identifier and by short code, unknown, dotted,
//! `OCI_DEFAULT_REALM`, `~/.oci/regions-config.json`, `OCI_REGION_METADATA` and `--endpoint`
//! overrides. The SDK side is `py/regions_dump.py`.

use std::path::Path;

use ociauth::env::MapEnv;
use ociauth::regions::{Service, all_regions, endpoint, endpoint_with_override, resolve_region};
use serde_json::{Value, json};

const OVERRIDES: [&str; 5] = [
    "http://127.0.0.1:8765",
    "http://127.0.0.1:8765/",
    "http://127.0.0.1:8765/20160918",
    "http://127.0.0.1:8765/20160918/",
    "https://emu.test:8443/base",
];

/// Runs the SDK dump in `home` with the extra environment variables `vars`, and compares
/// every endpoint with ours. Returns how many values were compared.
fn compare(
    venv: &Path,
    home: &Path,
    vars: &[(&str, &str)],
    inputs: &[String],
    overrides: &[&str],
) -> usize {
    let request = json!({"inputs": inputs, "overrides": overrides}).to_string();
    let mut cmd = interop_tests::python(venv);
    cmd.arg(interop_tests::py_script("regions_dump.py"))
        .arg(&request)
        .env("HOME", home)
        .current_dir(home);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run regions_dump.py");
    assert!(
        out.status.success(),
        "regions_dump.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("dump is JSON");
    assert_eq!(results.len(), inputs.len());

    let mut env = MapEnv::new().with("HOME", home.to_str().expect("utf-8 temp path"));
    for (k, v) in vars {
        env = env.with(k, *v);
    }
    let mut mismatches = Vec::new();
    let mut compared = 0;
    let mut check = |what: String, ours: String, theirs: &Value| {
        compared += 1;
        if theirs.as_str() != Some(ours.as_str()) {
            mismatches.push(format!("{what}: ours {ours:?}, SDK {theirs}"));
        }
    };
    let services = [
        ("objectstorage", Service::ObjectStorage),
        ("identity", Service::Identity),
        ("iaas", Service::Iaas),
    ];
    for (input, res) in inputs.iter().zip(&results) {
        assert_eq!(res["input"].as_str(), Some(input.as_str()));
        assert!(res.get("error").is_none(), "SDK failed for {input}: {res}");
        let region = resolve_region(input, &env)
            .unwrap_or_else(|e| panic!("we could not resolve {input:?}: {e}"));
        for (name, svc) in services {
            check(
                format!("{input} {name}"),
                endpoint(svc, &region),
                &res[name],
            );
            check(
                format!("{input} {name} with base path"),
                endpoint_with_override(svc, &region, None),
                &res[format!("{name}_base")],
            );
            for url in overrides {
                check(
                    format!("{input} {name} --endpoint {url}"),
                    endpoint_with_override(svc, &region, Some(url)),
                    &res["overrides"][*url][name],
                );
            }
        }
        check(
            format!("{input} auth"),
            endpoint(Service::Auth, &region),
            &res["auth"],
        );
        if !res["login"].is_null() {
            check(
                format!("{input} login"),
                format!(
                    "{}{}/oauth2/authorize",
                    endpoint(Service::Login, &region),
                    Service::Login.base_path()
                ),
                &res["login"],
            );
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} endpoints differ from the SDK:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    compared
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn builtin_regions_and_short_codes_match_the_sdk() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for r in all_regions() {
        inputs.push(r.name.clone());
        inputs.push(r.key.clone());
        inputs.push(r.key.to_lowercase());
    }
    assert_eq!(inputs.len(), 255);
    inputs.extend(strings(&[
        "EU-Frankfurt-1",
        "xx-new-1",
        "XYZ",
        "my.custom.domain",
        "Objectstorage.Example.COM",
        "127.0.0.1:8765",
    ]));
    let n = compare(&venv, home.path(), &[], &inputs, &[]);
    // 3 services x 2 + auth per input, plus the login URL for the 256 known ones.
    assert_eq!(n, inputs.len() * 7 + 256);
}

#[test]
fn endpoint_overrides_match_the_sdk() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let inputs = strings(&["fra", "xx-new-1", "my.custom.domain"]);
    compare(&venv, home.path(), &[], &inputs, &OVERRIDES);
}

#[test]
fn default_realm_matches_the_sdk() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let inputs = strings(&["xx-emu-1", "fra", "us-gov-ashburn-1", "my.custom.domain"]);
    compare(
        &venv,
        home.path(),
        &[("OCI_DEFAULT_REALM", "emu.test:8443")],
        &inputs,
        &[],
    );
}

const CUSTOM: &str = r#"[
  {"realmKey": "OC99", "realmDomainComponent": "Example.COM", "regionKey": "XYZ", "regionIdentifier": "XX-Custom-1"},
  {"realmKey": "oc1", "realmDomainComponent": "ignored.example", "regionKey": "abc", "regionIdentifier": "xx-inoc1-1"},
  {"realmKey": "oc98", "realmDomainComponent": "second.example", "regionKey": "xyz", "regionIdentifier": "xx-second-1"},
  {"realmKey": "oc99", "realmDomainComponent": "other.example", "regionKey": "ddd", "regionIdentifier": "xx-samerealm-1"}
]"#;

const METADATA: &str = r#"{"realmKey":"OC77","realmDomainComponent":"Meta.Example","regionKey":"MMM","regionIdentifier":"xx-meta-1"}"#;

fn home_with_regions_config() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".oci")).unwrap();
    std::fs::write(home.path().join(".oci/regions-config.json"), CUSTOM).unwrap();
    home
}

#[test]
fn regions_config_file_matches_the_sdk() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let home = home_with_regions_config();
    let inputs = strings(&[
        "xyz",
        "XYZ",
        "xx-custom-1",
        "abc",
        "xx-inoc1-1",
        "xx-second-1",
        "DDD",
        "xx-other-1",
        "fra",
    ]);
    compare(&venv, home.path(), &[], &inputs, &[]);
    // With the variable too: the file comes first, the variable adds its own region.
    compare(
        &venv,
        home.path(),
        &[("OCI_REGION_METADATA", METADATA)],
        &strings(&["xyz", "xx-meta-1", "mmm", "xx-other-1"]),
        &[],
    );
}

#[test]
fn region_metadata_variable_matches_the_sdk() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let inputs = strings(&["xx-meta-1", "MMM", "mmm", "xx-new-1", "fra"]);
    compare(
        &venv,
        home.path(),
        &[("OCI_REGION_METADATA", METADATA)],
        &inputs,
        &[],
    );
    compare(
        &venv,
        home.path(),
        &[
            ("OCI_REGION_METADATA", METADATA),
            ("OCI_DEFAULT_REALM", "emu.test:8443"),
        ],
        &strings(&["xx-meta-1", "xx-new-1"]),
        &[],
    );
}
