//! The official `oci` CLI inside `ociauth exec`: a workload identity federation profile whose
//! session tokens live 20 s; the CLI runs after the first token has expired and still
//! succeeds, because `ociauth exec` renewed the token file it reads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use interop_tests::{oci_cli, repo_root, venv, without_preset_ca_bundles};
use oci_emulator::identity_domain::NewTrust;
use oci_emulator::{EmulatorConfig, TokenLifetimes};
use ociauth::jwt;
use ociauth::keys::PrivateKey;
use serde_json::json;

const ISSUER: &str = "https://ci.example.test";
const AUD: &str = "https://cloud.oracle.com";
const CLIENT_ID: &str = "wif-app";
const CLIENT_SECRET: &str = "wif-app-secret";
/// Lifetime of each exchanged session token.
const LIFETIME: u64 = 20;

/// The `ociauth` binary, built for this test run.
fn ociauth_bin() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "ociauth-cli", "--bin", "ociauth"])
        .current_dir(repo_root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building ociauth failed");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("debug/ociauth")
}

fn epoch_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn exp_of(token_file: &Path) -> i64 {
    let token = std::fs::read_to_string(token_file).unwrap();
    jwt::decode_unverified(&token).unwrap().exp().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_cli_inside_exec_outlives_the_first_token() {
    let Some(venv) = venv() else { return };
    let bin = ociauth_bin();
    let state = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let emu = oci_emulator::start(
        EmulatorConfig::new(state.path())
            .log(Arc::new(|_: &str| {}))
            .token_lifetimes(TokenLifetimes {
                federation: Duration::from_secs(LIFETIME),
                ..TokenLifetimes::default()
            }),
    )
    .await
    .unwrap();

    // The issuer: a key whose public half the trust holds (no JWKS endpoint needed).
    let issuer_key = PrivateKey::generate().unwrap();
    let d = emu.identity_domain();
    d.add_oauth_app("ci", Some(CLIENT_ID), Some(CLIENT_SECRET))
        .unwrap();
    d.add_trust(NewTrust {
        name: "ci".into(),
        issuer: ISSUER.into(),
        public_certificate: Some(issuer_key.public_key_pem()),
        audiences: vec![AUD.into()],
        oauth_clients: vec![CLIENT_ID.into()],
        impersonation: vec![("sub eq deploy".into(), "emulator-user".into())],
        active: true,
        ..NewTrust::default()
    })
    .unwrap();
    let subject = jwt::sign_rs256(
        &json!({"kid": "k1", "typ": "JWT"}),
        &json!({"iss": ISSUER, "aud": AUD, "sub": "deploy", "iat": epoch_now(), "exp": epoch_now() + 3600}),
        &issuer_key,
    )
    .unwrap();
    let subject_file = write(files.path(), "subject.jwt", &subject);
    let secret_file = write(files.path(), "secret", CLIENT_SECRET);
    std::fs::create_dir_all(home.path().join(".oci")).unwrap();
    let config = write(
        &home.path().join(".oci"),
        "config",
        &format!(
            "[ci]\ntoken_exchange_domain_url={}\ntoken_exchange_client_id={CLIENT_ID}\ntoken_exchange_client_secret_file={}\nworkload_identity_token_path={}\nregion=us-ashburn-1\n",
            emu.base_url(),
            secret_file.display(),
            subject_file.display()
        ),
    );

    // Inside exec: keep the first token, wait until it has expired, then run the official CLI.
    let token_file = home.path().join(".oci/sessions/ci/token");
    let first = files.path().join("first-token");
    let ran_at = files.path().join("ran-at");
    let oci = PathBuf::from(oci_cli(&venv).get_program());
    let script = format!(
        "cp '{token}' '{first}' && sleep {wait} && date +%s > '{ran_at}' && '{oci}' os ns get --auth security_token --profile ci --config-file '{config}' --endpoint {url} --no-retry",
        token = token_file.display(),
        first = first.display(),
        wait = LIFETIME + 3,
        ran_at = ran_at.display(),
        oci = oci.display(),
        config = config.display(),
        url = emu.base_url(),
    );
    // The environment `oci_cli` gives the official CLI: quiet, no OCI_* of the developer's shell,
    // no preset CA bundles.
    let mut exec = Command::new(&bin);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("OCI_")) {
            exec.env_remove(k);
        }
    }
    without_preset_ca_bundles(&mut exec);
    exec.env("SUPPRESS_LABEL_WARNING", "True")
        .env("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "True")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    exec.env("HOME", home.path())
        .args(["exec", "--profile", "ci", "--config-file"])
        .arg(&config)
        .args(["--", "sh", "-c", &script]);
    let out = tokio::task::spawn_blocking(move || exec.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert_eq!(
        stdout,
        format!("{{\n  \"data\": \"{}\"\n}}\n", emu.state().namespace())
    );
    let ran: i64 = std::fs::read_to_string(&ran_at)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        exp_of(&first) < ran,
        "the official CLI ran after the first token expired"
    );
    assert!(exp_of(&token_file) > ran, "a renewed token was on disk");
    emu.shutdown().await;
}
