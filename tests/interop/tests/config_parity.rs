//! Parity of `ociauth::config` with the official Python SDK (`oci` 2.189.0, CPython 3.11
//! configparser) on tricky config files, the CLI's "Config Errors" table, and files edited by
//! `upsert_profile`/`remove_profile` as configparser reads them.
//!
//! Inputs: `data/config/*.ini`, listed with the profiles to load in `data/config/cases.json`.
//! Expected differences are listed there too ("deviations") and checked to be exactly that.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use ociauth::config::{self, ConfigError, InvalidConfig, KeyProblem, Problem};
use ociauth::env::MapEnv;
use serde_json::{Value, json};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/config")
}

/// Run `config_dump.py` with `args`, feeding `stdin`, with `HOME` set; parse its JSON output.
fn dump(venv: &Path, home: &Path, args: &[&str], stdin: &Value) -> Value {
    let mut cmd = interop_tests::python(venv);
    cmd.arg(interop_tests::py_script("config_dump.py"))
        .args(args)
        .env("HOME", home)
        .env("PYTHONUTF8", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "config_dump.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("config_dump.py prints JSON")
}

/// The Python exception each of our errors corresponds to, spelled out here on purpose (and
/// checked against `ConfigError::python_exception`).
fn python_name(e: &ConfigError) -> &'static str {
    let name = match e {
        ConfigError::NotFound { .. } | ConfigError::Unreadable { .. } => "ConfigFileNotFound",
        ConfigError::NotUtf8 { .. } => "UnicodeDecodeError",
        ConfigError::MissingSectionHeader { .. } => "MissingSectionHeaderError",
        ConfigError::DuplicateSection { .. } => "DuplicateSectionError",
        ConfigError::DuplicateOption { .. } => "DuplicateOptionError",
        ConfigError::Parsing { .. } => "ParsingError",
        ConfigError::ProfileNotFound { .. } => "ProfileNotFound",
        ConfigError::InvalidBool { .. } => "ValueError",
        ConfigError::KeyContentInFile { .. } => "ValueError",
        ConfigError::InvalidKeyFilePath { .. } => "InvalidKeyFilePath",
        other => panic!("from_file cannot return {other:?}"),
    };
    assert_eq!(e.python_exception(), Some(name), "{e:?}");
    name
}

/// Our profile as the SDK's `from_file` dict: its defaults overlaid with the profile.
fn sdk_dict(p: &config::Profile) -> (BTreeMap<String, Value>, Vec<String>) {
    let mut m = BTreeMap::new();
    m.insert("log_requests".to_string(), json!(p.log_requests()));
    m.insert("additional_user_agent".to_string(), json!(""));
    m.insert("pass_phrase".to_string(), Value::Null);
    let mut order = Vec::new();
    for (k, v) in p.iter() {
        if k != "log_requests" {
            m.insert(k.to_string(), json!(v));
        }
        order.push(k.to_string());
    }
    (m, order)
}

const SDK_DEFAULT_KEYS: [&str; 3] = ["log_requests", "additional_user_agent", "pass_phrase"];

/// Keys of a Python result in dict order, without the three SDK defaults (whose position is
/// fixed by `dict(DEFAULT_CONFIG)`), to compare the order configparser gives.
fn py_order(cfg: &serde_json::Map<String, Value>) -> Vec<String> {
    cfg.keys()
        .filter(|k| !SDK_DEFAULT_KEYS.contains(&k.as_str()))
        .cloned()
        .collect()
}

fn compare_error(case: &str, ours: &ConfigError, py: &Value) {
    let py_err = py["error"].as_str().unwrap();
    let py_msg = py["message"].as_str().unwrap();
    assert_eq!(
        python_name(ours),
        py_err,
        "{case}: ours {ours:?}, python {py}"
    );
    let msg = ours.to_string();
    assert!(!msg.contains('\n'), "{case}: message is one line: {msg:?}");
    match ours {
        ConfigError::NotFound { .. } | ConfigError::InvalidKeyFilePath { .. } => {
            assert_eq!(msg, py_msg, "{case}")
        }
        ConfigError::ProfileNotFound { .. } | ConfigError::KeyContentInFile { .. } => {
            assert!(
                msg.starts_with(py_msg),
                "{case}: {msg:?} vs python {py_msg:?}"
            )
        }
        ConfigError::InvalidBool { .. } => {
            assert!(msg.contains(py_msg), "{case}: {msg:?} vs python {py_msg:?}")
        }
        ConfigError::MissingSectionHeader { line, .. } => {
            assert_eq!(json!(line), py["lineno"], "{case}")
        }
        ConfigError::DuplicateSection { line, section, .. } => {
            assert_eq!(json!(line), py["lineno"], "{case}");
            assert_eq!(json!(section), py["section"], "{case}");
        }
        ConfigError::DuplicateOption {
            line, section, key, ..
        } => {
            assert_eq!(json!(line), py["lineno"], "{case}");
            assert_eq!(json!(section), py["section"], "{case}");
            assert_eq!(json!(key), py["option"], "{case}");
        }
        ConfigError::Parsing { problems, .. } => {
            let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
            assert_eq!(json!(lines), py["lines"], "{case}");
        }
        _ => {}
    }
}

#[test]
fn config_files_read_like_the_sdk() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let dir = data_dir();
    let manifest: serde_json::Map<String, Value> =
        serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();

    // Every data file is a case.
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".ini"))
        .collect();
    on_disk.sort();
    let listed: Vec<String> = manifest
        .iter()
        .filter(|(_, c)| c.get("absent").is_none())
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(on_disk, listed, "cases.json must list every .ini file");
    assert!(on_disk.len() >= 25);

    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("key.pem"), "not checked by from_file").unwrap();
    let env = MapEnv::new().with("HOME", home.path().to_str().unwrap());

    let mut requests = Vec::new();
    for (file, case) in &manifest {
        for profile in case["profiles"].as_array().unwrap() {
            requests.push(json!({
                "file": dir.join(file).to_str().unwrap(),
                "profile": profile,
            }));
        }
    }
    let results = dump(
        &venv,
        home.path(),
        &["--batch"],
        &Value::Array(requests.clone()),
    );
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), requests.len());

    let (mut oks, mut errors, mut deviations) = (0, 0, 0);
    for (req, py) in requests.iter().zip(results) {
        let file = req["file"].as_str().unwrap();
        let profile = req["profile"].as_str().unwrap();
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        let case = format!("{name} [{profile}]");
        let ours = config::from_file(file, profile, &env);
        let deviation = &manifest[name]["deviations"][profile];

        match deviation["kind"].as_str() {
            Some("bom") => {
                // Python reads U+FEFF as text: MissingSectionHeaderError at line 1. We skip it.
                assert_eq!(py["error"], "MissingSectionHeaderError", "{case}");
                assert_eq!(py["lineno"], 1, "{case}");
                let p = ours.unwrap_or_else(|e| panic!("{case}: {e}"));
                assert_eq!(p.get("region"), Some("us-ashburn-1"));
                deviations += 1;
                continue;
            }
            Some("key_file_line") => {
                // The SDK's text search misses a key_file inherited from [DEFAULT]; we name it.
                let e = ours.expect_err(&case);
                assert_eq!(python_name(&e), py["error"].as_str().unwrap(), "{case}");
                let ours_part = deviation["ours"].as_str().unwrap();
                let msg = e.to_string();
                assert!(msg.contains(ours_part), "{case}: {msg}");
                assert_eq!(msg.replace(ours_part, ""), py["message"].as_str().unwrap());
                deviations += 1;
                continue;
            }
            Some(other) => panic!("unknown deviation {other}"),
            None => {}
        }

        match (&ours, py.get("config")) {
            (Ok(p), Some(Value::Object(cfg))) => {
                let (dict, order) = sdk_dict(p);
                let py_dict: BTreeMap<String, Value> =
                    cfg.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(dict, py_dict, "{case}");
                let order: Vec<String> = order
                    .into_iter()
                    .filter(|k| !SDK_DEFAULT_KEYS.contains(&k.as_str()))
                    .collect();
                assert_eq!(order, py_order(cfg), "{case}: key order");
                oks += 1;
            }
            (Err(e), None) => {
                compare_error(&case, e, py);
                errors += 1;
            }
            _ => panic!("{case}: ours {ours:?}, python {py}"),
        }
    }
    // The data set really covers both outcomes.
    assert!(oks >= 40, "{oks} successful loads");
    assert!(errors >= 25, "{errors} errors");
    assert_eq!(deviations, 2);
}

#[test]
fn config_errors_table_matches_the_cli() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    use Problem::{Malformed, Missing};
    let sets: Vec<Vec<(&'static str, Problem)>> = vec![
        vec![("user", Missing)],
        vec![("fingerprint", Missing), ("user", Malformed)],
        vec![("tenancy", Malformed), ("region", Missing)],
        vec![("region", Missing)],
        vec![("key_file", Missing)],
        vec![
            ("user", Missing),
            ("tenancy", Missing),
            ("fingerprint", Missing),
            ("key_file", Missing),
            ("region", Missing),
        ],
        vec![("fingerprint", Malformed)],
        vec![("tenancy", Missing), ("user", Malformed)],
    ];
    let rows: Vec<Value> = sets
        .iter()
        .map(|s| json!(s.iter().map(|(k, p)| [k, p.as_str()]).collect::<Vec<_>>()))
        .collect();
    let home = tempfile::tempdir().unwrap();
    let tables = dump(&venv, home.path(), &["--table"], &Value::Array(rows));
    for (set, py) in sets.iter().zip(tables.as_array().unwrap()) {
        let ours = InvalidConfig {
            config_file: "/cfg".to_string(),
            profile: "DEFAULT".to_string(),
            problems: set
                .iter()
                .map(|(key, problem)| KeyProblem {
                    key,
                    problem: *problem,
                })
                .collect(),
        };
        assert_eq!(ours.table(), py.as_str().unwrap(), "{set:?}");
    }
}

/// Files edited by `upsert_profile`/`remove_profile` read, in Python, as the original file with
/// only that section changed.
#[test]
fn edited_files_read_back_in_python() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let sources = [
        "01_default_inheritance.ini",
        "03_inline_comments_kept.ini",
        "04_continuation_lines.ini",
        "12_crlf.ini",
        "13_cr_only.ini",
        "14_tabs.ini",
        "26_repeated_default.ini",
        "28_header_trailing_text.ini",
        "37_session_profile_inherits_user.ini",
    ];
    let new_entries = [
        (
            "fingerprint",
            "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99",
        ),
        ("key_file", "/home/u/.oci/sessions/NEW/oci_api_key.pem"),
        ("tenancy", "ocid1.tenancy.oc1..aaaa"),
        ("region", "us-ashburn-1"),
        ("security_token_file", "/home/u/.oci/sessions/NEW/token"),
    ];
    // (source, edit, edited file)
    let mut edits: Vec<(String, String, PathBuf)> = Vec::new();
    for src in sources {
        let original = dir_file(src);
        for (edit, target) in [
            ("append NEW", "NEW"),
            ("replace DEFAULT", "DEFAULT"),
            ("remove DEFAULT", "DEFAULT"),
            ("replace first", "first"),
            ("remove first", "first"),
        ] {
            let first = config::ConfigFile::load(&original)
                .unwrap()
                .section_names()
                .next()
                .map(str::to_string);
            let section = if target == "first" {
                match &first {
                    // Only names the writer accepts.
                    Some(f) if config::validate_profile_name(f).is_ok() => f.clone(),
                    _ => continue,
                }
            } else {
                target.to_string()
            };
            let path = work
                .path()
                .join(format!("{src}.{}.{section}", edit.replace(' ', "_")));
            std::fs::copy(&original, &path).unwrap();
            if edit.starts_with("remove") {
                let text = std::fs::read_to_string(&original).unwrap();
                let present = text
                    .split(['\r', '\n'])
                    .any(|l| l.trim_start().starts_with(&format!("[{section}]")));
                assert_eq!(
                    config::remove_profile(&path, &section).unwrap(),
                    present,
                    "{src} {edit}"
                );
                if !present {
                    assert_eq!(
                        std::fs::read(&path).unwrap(),
                        std::fs::read(&original).unwrap()
                    );
                    continue;
                }
            } else {
                config::upsert_profile(&path, &section, &new_entries).unwrap();
            }
            edits.push((src.to_string(), format!("{edit} [{section}]"), path));
        }
    }
    assert!(edits.len() >= 35, "{}", edits.len());

    let mut args: Vec<String> = vec!["--sections".to_string()];
    args.extend(
        sources
            .iter()
            .map(|s| dir_file(s).to_str().unwrap().to_string()),
    );
    args.extend(
        edits
            .iter()
            .map(|(_, _, p)| p.to_str().unwrap().to_string()),
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = dump(&venv, home.path(), &argv, &Value::Null);
    let out = out.as_array().unwrap();
    let (originals, edited) = out.split_at(sources.len());

    for ((src, edit, path), py) in edits.iter().zip(edited) {
        let before = &originals[sources.iter().position(|s| s == src).unwrap()]["own"];
        let after = py
            .get("own")
            .unwrap_or_else(|| panic!("{src} {edit}: python cannot read {}: {py}", path.display()));
        let section = edit.split('[').nth(1).unwrap().trim_end_matches(']');
        // Every other section keeps exactly its own keys.
        for (name, keys) in before.as_object().unwrap() {
            if name != section {
                assert_eq!(&after[name], keys, "{src} {edit}: [{name}]");
            }
        }
        if edit.starts_with("remove") {
            if section == "DEFAULT" {
                assert_eq!(after["DEFAULT"], json!({}), "{src} {edit}");
            } else {
                assert!(after.get(section).is_none(), "{src} {edit}");
            }
            assert_eq!(
                after.as_object().unwrap().len(),
                before.as_object().unwrap().len() - usize::from(section != "DEFAULT"),
                "{src} {edit}"
            );
        } else {
            let want: serde_json::Map<String, Value> = new_entries
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            assert_eq!(after[section], Value::Object(want), "{src} {edit}");
            // The merged view configparser gives the section: DEFAULT under it.
            if section != "DEFAULT" {
                let mut merged = after["DEFAULT"].as_object().unwrap().clone();
                for (k, v) in &new_entries {
                    merged.insert(k.to_string(), json!(v));
                }
                assert_eq!(
                    py["sections"][section],
                    Value::Object(merged),
                    "{src} {edit}"
                );
            }
        }
    }
}

fn dir_file(name: &str) -> PathBuf {
    data_dir().join(name)
}
