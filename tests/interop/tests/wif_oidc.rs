//! Workload identity federation end to end with a real OpenID provider (panva `oidc-provider`,
//! run by node from `tests/interop/idp`, installed by `scripts/setup-idp.sh`):
//!
//! 1. our library gets a client-credentials JWT with a resource indicator from the IdP,
//!    exchanges it at the emulator's identity domain and reads the namespace with the UPST;
//! 2. the exchanged token saved as a session profile works with the official `oci` CLI
//!    (`--auth security_token`), unchanged;
//! 3. the official Python SDK's `TokenExchangeSigner` exchanges the same kind of token at the
//!    emulator and reads the namespace.
//!
//! Without node_modules the tests skip on a developer's machine and fail under CI (`CI` set),
//! like the virtualenv rule of [`interop_tests::venv`].

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use interop_tests::{oci_cli, ociauth_bin, py_script, python, repo_root, venv};
use oci_emulator::identity_domain::NewTrust;
use oci_emulator::{EmulatorConfig, RunningEmulator};
use ociauth::client::{Client, ClientOptions};
use ociauth::providers::workload_identity_federation::{
    ClientAuth, SessionProfileOptions, TokenExchangeConfig, WorkloadIdentityFederationProvider,
    write_session_profile,
};
use ociauth::subject_token::{
    ClientAuthMethod, OidcClientCredentials, OidcClientCredentialsSource, Secret,
    SubjectTokenSource,
};

const IDP_CLIENT: &str = "wif-client";
const IDP_SECRET: &str = "idp-client-secret-for-tests";
const OCI_CLIENT: &str = "oci-wif-app";
const OCI_SECRET: &str = "oci-wif-app-secret";
const AUDIENCE: &str = "https://cloud.oracle.com";
const REGION: &str = "us-ashburn-1";

/// `tests/interop/idp` when its node_modules are installed; `None` (skip) outside CI.
fn idp_dir() -> Option<PathBuf> {
    let dir = repo_root().join("tests/interop/idp");
    let installed = dir.join("node_modules/oidc-provider/package.json").exists();
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if installed && node {
        return Some(dir);
    }
    let why = if node {
        format!("no node_modules in {}", dir.display())
    } else {
        "node is not installed".to_string()
    };
    if std::env::var_os("CI").is_some() {
        panic!(
            "the OpenID provider for the WIF tests is missing under CI ({why}); run scripts/setup-idp.sh"
        );
    }
    eprintln!("SKIP: {why} (run scripts/setup-idp.sh)");
    None
}

/// The IdP process; killed when dropped.
struct Idp {
    child: Child,
    issuer: String,
    _keys: tempfile::TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port, chosen here and handed to the IdP.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_idp(dir: &Path) -> Idp {
    let keys = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new("node")
        .arg(dir.join("idp.mjs"))
        .args(["--port", &port.to_string(), "--key-dir"])
        .arg(keys.path())
        .env("IDP_CLIENT_SECRET", IDP_SECRET)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node idp.mjs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("IDP_READY ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let issuer = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(u) => u,
        Err(_) => {
            let _ = child.kill();
            panic!("the IdP did not print IDP_READY within 30 s");
        }
    };
    assert_eq!(issuer, format!("http://127.0.0.1:{port}"));
    Idp {
        child,
        issuer,
        _keys: keys,
    }
}

/// The IdP's discovery document: (token endpoint, JWKS URL).
async fn discover(issuer: &str) -> (String, String) {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["issuer"], serde_json::json!(issuer));
    (
        v["token_endpoint"].as_str().unwrap().to_string(),
        v["jwks_uri"].as_str().unwrap().to_string(),
    )
}

struct World {
    _dir: tempfile::TempDir,
    emu: RunningEmulator,
    idp: Idp,
    token_endpoint: String,
}

async fn world(idp_dir: &Path) -> World {
    let dir = tempfile::tempdir().unwrap();
    let emu = oci_emulator::start(EmulatorConfig::new(dir.path()).log(Arc::new(|_: &str| {})))
        .await
        .unwrap();
    let idp = start_idp(idp_dir);
    let (token_endpoint, jwks) = discover(&idp.issuer).await;
    let d = emu.identity_domain();
    d.add_oauth_app("ci", Some(OCI_CLIENT), Some(OCI_SECRET))
        .unwrap();
    d.add_trust(NewTrust {
        name: "oidc-provider".into(),
        issuer: idp.issuer.clone(),
        jwks_url: Some(jwks),
        audiences: vec![AUDIENCE.into()],
        oauth_clients: vec![OCI_CLIENT.into()],
        impersonation: vec![("groups co deployers".into(), "emulator-user".into())],
        active: true,
        ..NewTrust::default()
    })
    .unwrap();
    World {
        _dir: dir,
        emu,
        idp,
        token_endpoint,
    }
}

fn idp_source(w: &World) -> OidcClientCredentialsSource {
    OidcClientCredentialsSource::new(OidcClientCredentials {
        token_url: w.token_endpoint.clone(),
        client_id: IDP_CLIENT.into(),
        client_secret: Secret::new(IDP_SECRET),
        scope: Some("oci".into()),
        resource: Some(AUDIENCE.into()),
        audience: None,
        auth: ClientAuthMethod::Basic,
    })
    .unwrap()
}

fn exchange_config(w: &World) -> TokenExchangeConfig {
    let mut c = TokenExchangeConfig::new(
        w.emu.base_url(),
        ClientAuth::ClientSecret {
            client_id: OCI_CLIENT.into(),
            client_secret: Secret::new(OCI_SECRET),
        },
    );
    c.region = Some(REGION.into());
    c
}

fn user_id(emu: &RunningEmulator) -> String {
    emu.state()
        .users()
        .into_iter()
        .find(|u| u.name == "emulator-user")
        .unwrap()
        .id
}

#[test]
fn library_exchanges_a_real_idp_token_and_the_official_cli_uses_the_saved_profile() {
    let Some(idp_dir) = idp_dir() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(world(&idp_dir));

    // The IdP's access token: an RS256 at+jwt for the requested resource.
    let subject = rt.block_on(idp_source(&w).token()).unwrap();
    let claims = subject.decode().unwrap();
    assert_eq!(claims.header()["typ"], serde_json::json!("at+jwt"));
    assert_eq!(claims.alg(), Some("RS256"));
    assert_eq!(claims.claim_str("aud"), Some(AUDIENCE));
    assert_eq!(claims.claim_str("iss"), Some(w.idp.issuer.as_str()));

    // Exchange and call Object Storage with the UPST.
    let provider =
        WorkloadIdentityFederationProvider::new(exchange_config(&w), Arc::new(idp_source(&w)))
            .unwrap();
    let exchanged = rt.block_on(provider.exchange()).unwrap();
    assert_eq!(exchanged.subject(), Some(user_id(&w.emu).as_str()));
    assert_eq!(
        exchanged.claims().claim_str("source_authn_prin"),
        Some(IDP_CLIENT)
    );
    let client = Client::new(
        Arc::new(provider.caching()),
        ClientOptions {
            no_retry: true,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let ns = rt
        .block_on(ociauth::object_storage::get_namespace(
            &client,
            &w.emu.base_url(),
            None,
        ))
        .unwrap();
    assert_eq!(ns, w.emu.state().namespace());

    // Saved as a session profile, the official CLI reads it unchanged.
    let Some(venv) = venv() else { return };
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = cfg_dir.path().join("config");
    write_session_profile(
        &exchanged,
        &SessionProfileOptions {
            config_file: config.clone(),
            profile: "wif".into(),
            session_dir: None,
            region: REGION.into(),
            tenancy: None,
        },
    )
    .unwrap();
    let out = oci_cli(&venv)
        .args([
            "os",
            "ns",
            "get",
            "--auth",
            "security_token",
            "--profile",
            "wif",
        ])
        .arg("--config-file")
        .arg(&config)
        .args(["--endpoint", &w.emu.base_url(), "--no-retry"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{{\n  \"data\": \"{ns}\"\n}}\n")
    );

    // The same through the ociauth CLI: `session exchange` with the IdP as the subject source
    // (its client-credentials grant), then `os ns get --auth security_token`.
    let home = tempfile::tempdir().unwrap();
    let idp_secret = cfg_dir.path().join("idp-secret");
    let oci_secret = cfg_dir.path().join("oci-secret");
    std::fs::write(&idp_secret, IDP_SECRET).unwrap();
    std::fs::write(&oci_secret, OCI_SECRET).unwrap();
    let cli_config = cfg_dir.path().join("cli-config");
    let ociauth = |args: &[&str]| {
        let out = std::process::Command::new(ociauth_bin())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("SUPPRESS_LABEL_WARNING", "True")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ociauth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let base = w.emu.base_url();
    let cli_config_s = cli_config.to_str().unwrap();
    ociauth(&[
        "session",
        "exchange",
        "--domain-url",
        &base,
        "--client-id",
        OCI_CLIENT,
        "--client-secret-file",
        oci_secret.to_str().unwrap(),
        "--oidc-token-endpoint",
        &w.token_endpoint,
        "--oidc-client-id",
        IDP_CLIENT,
        "--oidc-client-secret-file",
        idp_secret.to_str().unwrap(),
        "--oidc-scope",
        "oci",
        "--oidc-resource",
        AUDIENCE,
        "--profile-name",
        "wif-cli",
        "--region",
        REGION,
        "--config-location",
        cli_config_s,
    ]);
    let stdout = ociauth(&[
        "os",
        "ns",
        "get",
        "--auth",
        "security_token",
        "--profile",
        "wif-cli",
        "--config-file",
        cli_config_s,
        "--endpoint",
        &base,
    ]);
    assert_eq!(stdout, format!("{{\n  \"data\": \"{ns}\"\n}}\n"));
}

#[test]
fn official_python_token_exchange_signer_against_the_emulator() {
    let Some(idp_dir) = idp_dir() else { return };
    let Some(venv) = venv() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(world(&idp_dir));
    let subject = rt.block_on(idp_source(&w).token()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("jwt");
    std::fs::write(&token_file, subject.as_str()).unwrap();
    let out = python(&venv)
        .arg(py_script("wif_exchange.py"))
        .env("WIF_DOMAIN_URL", w.emu.base_url())
        .env("WIF_CLIENT_ID", OCI_CLIENT)
        .env("WIF_CLIENT_SECRET", OCI_SECRET)
        .env("WIF_SUBJECT_TOKEN_FILE", &token_file)
        .env("WIF_ENDPOINT", w.emu.base_url())
        .env("WIF_REGION", REGION)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "namespace": w.emu.state().namespace(),
            "sub": user_id(&w.emu),
            "key_bits": 2048,
            "exchanges": 1,
        })
    );
}
