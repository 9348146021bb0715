//! Session archives against the official CLI 3.95.1 (spec oci-signing-config-session.md §4.6):
//! an archive written by `ociauth::session::export_archive` is imported by
//! `oci session import --force` (and the imported session passes `oci session validate --local`),
//! and an archive written by `oci session export` is imported by
//! `ociauth::session::import_archive`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ociauth::env::MapEnv;
use ociauth::jwt;
use ociauth::keys::PrivateKey;
use ociauth::session::{self, ImportOptions, NewSession, SessionKey};
use serde_json::json;

const TENANCY: &str = "ocid1.tenancy.oc1..aaaatenancy";
const USER: &str = "ocid1.user.oc1..aaaauser";

/// A UPST-shaped token bound to `key` (`jwk` claim), valid for an hour.
fn token_for(key: &PrivateKey) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "sub": USER,
        "tenant": TENANCY,
        "iat": now,
        "exp": now + 3600,
        "sess_exp": jwt::format_sess_exp(UNIX_EPOCH + Duration::from_secs(now + 86400)).unwrap(),
        "ptype": "user",
        "jwk": jwt::RsaJwk::from_private_key(key, Some("k")).unwrap().to_json().to_string(),
    });
    jwt::sign_rs256(
        &json!({"kid": "k"}),
        &claims,
        &PrivateKey::generate().unwrap(),
    )
    .unwrap()
}

/// A session profile `sess1` written by us under `home` (config `home/.oci/config`, files in
/// `home/.oci/sessions/sess1`), with a `[DEFAULT]` `user` that the export carries along.
fn our_session(home: &Path) -> (PrivateKey, String) {
    let oci = home.join(".oci");
    std::fs::create_dir_all(&oci).unwrap();
    std::fs::write(
        oci.join("config"),
        "[DEFAULT]\nuser=ocid1.user.oc1..inherited\n",
    )
    .unwrap();
    let key = PrivateKey::generate().unwrap();
    let token = token_for(&key);
    session::persist_session(&NewSession {
        config_path: &oci.join("config"),
        token_dir: &oci.join("sessions"),
        profile: "sess1",
        token: &token,
        key: SessionKey::Private(&key),
        passphrase: None,
        store_passphrase: false,
        region: "us-ashburn-1",
        tenancy: TENANCY,
    })
    .unwrap();
    (key, token)
}

fn run(cmd: &mut std::process::Command) -> (String, String) {
    let out = cmd.output().expect("run oci");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "oci failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    (stdout, stderr)
}

#[test]
fn official_cli_imports_our_archive() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let (key, token) = our_session(&ours);
    let env = MapEnv::new().with("HOME", ours.to_str().unwrap());
    let archive = session::export_archive(
        &ours.join(".oci/config"),
        "sess1",
        &tmp.path().join("exported"),
        false,
        &env,
    )
    .unwrap();

    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".oci")).unwrap();
    let (_, stderr) = run(interop_tests::oci_cli(&venv)
        .args(["session", "import", "--session-archive"])
        .arg(&archive)
        .arg("--force")
        .env("HOME", &home)
        .current_dir(&home));
    let config = home.join(".oci/config");
    assert!(
        stderr.contains(&format!(
            "Imported profile sess1 written to: {}",
            config.display()
        )),
        "{stderr}"
    );
    let dir = home.join(".oci/sessions/sess1");
    assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), token);
    assert_eq!(
        std::fs::read(dir.join("oci_api_key.pem")).unwrap(),
        std::fs::read(ours.join(".oci/sessions/sess1/oci_api_key.pem")).unwrap()
    );
    // The official writer drops `user` and points at the imported files.
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.ends_with(&format!(
            "[sess1]\nfingerprint={}\nkey_file={}\ntenancy={TENANCY}\nregion=us-ashburn-1\nsecurity_token_file={}\n",
            key.fingerprint(),
            dir.join("oci_api_key.pem").display(),
            dir.join("token").display()
        )),
        "{text}"
    );

    // The official CLI accepts the imported token and key.
    let (_, stderr) = run(interop_tests::oci_cli(&venv)
        .args([
            "session",
            "validate",
            "--local",
            "--profile",
            "sess1",
            "--config-file",
        ])
        .arg(&config)
        .env("HOME", &home)
        .current_dir(&home));
    assert!(stderr.contains("Session is valid until "), "{stderr}");
}

#[test]
fn we_import_the_official_cli_archive() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (key, token) = our_session(&home);
    let out = tmp.path().join("official");
    let (_, stderr) = run(interop_tests::oci_cli(&venv)
        .args([
            "session",
            "export",
            "--profile",
            "sess1",
            "--force",
            "--output-file",
        ])
        .arg(&out)
        .arg("--config-file")
        .arg(home.join(".oci/config"))
        .env("HOME", &home)
        .current_dir(&home));
    let archive = tmp.path().join("official.zip");
    assert!(
        stderr.contains(&format!("Export file written to: {}", archive.display())),
        "{stderr}"
    );

    let other = tmp.path().join("other");
    let config = other.join("config");
    let imported = session::import_archive(
        &archive,
        &config,
        &other.join("sessions"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(imported.profile, "sess1");
    let dir = other.join("sessions/sess1");
    assert_eq!(imported.dir, dir);
    assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), token);
    assert_eq!(
        std::fs::read(dir.join("oci_api_key.pem")).unwrap(),
        std::fs::read(home.join(".oci/sessions/sess1/oci_api_key.pem")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        format!(
            "[sess1]\nfingerprint={}\nkey_file={}\ntenancy={TENANCY}\nregion=us-ashburn-1\nsecurity_token_file={}\n",
            key.fingerprint(),
            dir.join("oci_api_key.pem").display(),
            dir.join("token").display()
        )
    );
    let loaded = session::load_key_file(&dir.join("oci_api_key.pem"), None).unwrap();
    assert_eq!(loaded, key);
}
