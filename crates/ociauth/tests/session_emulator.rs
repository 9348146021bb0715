//! Session tokens against the real emulator: a library task that signs requests for several
//! (shortened) token lifetimes, with automatic refresh through `/v1/authentication/refresh`,
//! never gets a 401.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_emulator::{EmulatorConfig, TokenLifetimes};
use ociauth::client::{Client, ClientOptions};
use ociauth::config::{self, ConfigOptions};
use ociauth::env::MapEnv;
use ociauth::keys::{OCI_API_KEY_LABEL, PrivateKey, PublicKey};
use ociauth::object_storage;
use ociauth::providers::api_key::{ApiKeyConfig, ApiKeyProvider};
use ociauth::providers::session_token::{SessionTokenConfig, SessionTokenProvider};
use ociauth::session;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_refresh_keeps_a_long_task_signed_across_many_token_lifetimes() {
    let state = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    let lifetime = Duration::from_secs(3);
    let emu = oci_emulator::start(
        EmulatorConfig::new(state.path())
            .log(Arc::new(move |l: &str| {
                sink.lock().unwrap().push(l.to_string())
            }))
            .token_lifetimes(TokenLifetimes {
                session: lifetime,
                session_max: Duration::from_secs(3600),
                ..TokenLifetimes::default()
            }),
    )
    .await
    .unwrap();
    let base = emu.base_url();

    // A session from the emulator's API-key user (as `session authenticate --no-browser`).
    let env = MapEnv::new();
    let resolved = config::resolve(
        &ConfigOptions {
            config_file: Some(emu.config_path()),
            ..ConfigOptions::default()
        },
        &env,
    )
    .unwrap();
    let api =
        ApiKeyProvider::new(ApiKeyConfig::from_profile(&resolved.profile, &env).unwrap()).unwrap();
    let api_client = Client::new(Arc::new(api), ClientOptions::default()).unwrap();
    let session_key = PrivateKey::generate().unwrap();
    let token = session::generate_upst(
        &api_client,
        &format!("{base}/v1"),
        &PublicKey::from(&session_key),
        5,
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let key_file = dir.path().join("oci_api_key.pem");
    session::write_token_file(&token_file, &token).unwrap();
    let pem = session_key.to_pkcs8_pem(None).unwrap();
    ociauth::fsutil::write_private_atomic(
        &key_file,
        format!("{}{OCI_API_KEY_LABEL}", &*pem).as_bytes(),
    )
    .unwrap();

    let provider = SessionTokenProvider::new(SessionTokenConfig {
        token_file: token_file.clone(),
        key_file,
        passphrase: None,
        region: None,
        profile: Some("long-task".into()),
    })
    .unwrap()
    .auto_refresh(true)
    .refresh_endpoint(base.clone());
    let client = Client::new(
        Arc::new(provider),
        ClientOptions {
            no_retry: true,
            ..ClientOptions::default()
        },
    )
    .unwrap();

    // Sign for four token lifetimes; every call must succeed.
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < lifetime * 4 {
        let ns = object_storage::get_namespace(&client, &base, None)
            .await
            .unwrap_or_else(|e| panic!("call {calls} failed after {:?}: {e}", started.elapsed()));
        assert_eq!(ns, emu.state().namespace());
        calls += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let log = log.lock().unwrap().join("\n");
    let refreshes = log
        .lines()
        .filter(|l| l.starts_with("POST /v1/authentication/refresh 200"))
        .count();
    assert!(
        refreshes >= 3,
        "expected a refresh per lifetime, saw {refreshes}:\n{log}"
    );
    assert!(!log.contains(" 401 "), "a request was refused:\n{log}");
    // The refreshed token went to disk, without a trailing newline, for other tools to use.
    let on_disk = std::fs::read_to_string(&token_file).unwrap();
    assert_ne!(on_disk, token);
    assert!(!on_disk.ends_with('\n'));
    assert!(calls >= 20, "only {calls} calls");
}
