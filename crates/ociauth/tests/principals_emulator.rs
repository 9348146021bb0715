//! The principal providers against the real emulator (not the in-test fakes): tokens renewed
//! ahead of expiry across several short lifetimes without a single 401, one federation call per
//! refresh however many tasks sign at once, and a renewal refused after a tenancy change
//! surfacing its own error through the client.
//!
//! Counts come from the emulator's request log (one line per request: `METHOD PATH STATUS …`).
//! Lifetimes are a few seconds, so these tests sleep for real; nothing asserts on durations.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_emulator::principals::{NewCluster, NewInstance};
use oci_emulator::{EmulatorConfig, Fault, RunningEmulator, TokenLifetimes};
use ociauth::client::{Client, ClientOptions};
use ociauth::env::{MapEnv, SystemClock};
use ociauth::object_storage;
use ociauth::providers::instance_principal::{InstancePrincipalOptions, instance_principal};
use ociauth::providers::oke_workload_identity::{
    OkeWorkloadIdentityOptions, oke_workload_identity,
};
use ociauth::{CredentialsProvider, Error};

struct Emu {
    emu: RunningEmulator,
    log: Arc<Mutex<Vec<String>>>,
    _state: tempfile::TempDir,
}

impl Emu {
    async fn start(principal_lifetime: Duration) -> Emu {
        let state = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = log.clone();
        let cfg = EmulatorConfig::new(state.path())
            .log(Arc::new(move |l: &str| {
                sink.lock().unwrap().push(l.to_string())
            }))
            .token_lifetimes(TokenLifetimes {
                principal: principal_lifetime,
                ..TokenLifetimes::default()
            })
            .oke_port(0);
        Emu {
            emu: oci_emulator::start(cfg).await.unwrap(),
            log,
            _state: state,
        }
    }
    fn count(&self, prefix: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
    /// A client signing as the emulator's current instance.
    fn ip_client(&self) -> Client {
        let env = MapEnv::new().with("OCI_METADATA_BASE_URL", self.emu.imds_base_url());
        let provider = instance_principal(
            InstancePrincipalOptions {
                federation_endpoint: Some(self.emu.federation_endpoint()),
                ..InstancePrincipalOptions::default()
            },
            Arc::new(env),
            Arc::new(SystemClock),
        )
        .unwrap();
        Client::new(Arc::new(provider), ClientOptions::default()).unwrap()
    }
    /// A client signing as service account apps/builder of the enhanced cluster `prod`.
    fn oke_client(&self, dir: &std::path::Path) -> Client {
        let p = self.emu.principals();
        p.add_cluster(NewCluster {
            name: Some("prod".into()),
            basic: false,
        })
        .unwrap();
        let sa = oci_emulator::oke::mint_sa_token(
            p,
            "prod",
            "apps",
            "builder",
            Duration::from_secs(3600),
        )
        .unwrap();
        let token_file = dir.join("sa-token");
        std::fs::write(&token_file, sa).unwrap();
        let oke = self.emu.oke().unwrap();
        let env = MapEnv::new()
            .with("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .with(
                "OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH",
                oke.ca_path().to_string_lossy(),
            )
            .with("OCI_RESOURCE_PRINCIPAL_REGION", "iad");
        let provider = oke_workload_identity(
            OkeWorkloadIdentityOptions {
                service_account_token_path: Some(token_file),
                proxymux_port: oke.addr().port(),
                ..OkeWorkloadIdentityOptions::default()
            },
            Arc::new(env),
            Arc::new(SystemClock),
        )
        .unwrap();
        Client::new(Arc::new(provider), ClientOptions::default()).unwrap()
    }
}

/// Sign `GET /n` every 200 ms for `span`; every call must succeed.
async fn sign_for(client: Client, endpoint: String, ns: String, span: Duration) -> usize {
    let start = Instant::now();
    let mut calls = 0;
    while start.elapsed() < span {
        let got = object_storage::get_namespace(&client, &endpoint, None).await;
        assert_eq!(got.unwrap(), ns);
        calls += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_renewed_across_several_short_lifetimes_without_a_401() {
    // 4 s tokens, refreshed when half their life is left; 13 s spans at least three lifetimes.
    let e = Emu::start(Duration::from_secs(4)).await;
    let dir = tempfile::tempdir().unwrap();
    let ns = e.emu.state().namespace();
    let span = Duration::from_secs(13);
    let ip = tokio::spawn(sign_for(e.ip_client(), e.emu.base_url(), ns.clone(), span));
    let oke = tokio::spawn(sign_for(
        e.oke_client(dir.path()),
        e.emu.base_url(),
        ns,
        span,
    ));
    let calls = ip.await.unwrap() + oke.await.unwrap();
    assert!(calls >= 20, "{calls}");

    assert_eq!(e.count("GET /n 401"), 0, "{}", e.log_text());
    assert_eq!(e.count("GET /n 200"), calls);
    // Renewed several times each (13 s / at most 3 s between refreshes), and never on a 401.
    let fed = e.count("POST /v1/x509 200");
    let oke = e.count("POST /resourcePrincipalSessionTokens 200");
    assert!(fed >= 4, "{fed} federation calls\n{}", e.log_text());
    assert!(oke >= 4, "{oke} proxymux calls\n{}", e.log_text());
    // The region is read once; the identity once per token.
    assert_eq!(e.count("GET /opc/v2/instance/region 200"), 1);
    assert_eq!(e.count("GET /opc/v2/identity/cert.pem 200"), fed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_tasks_make_one_federation_call_per_refresh() {
    // 6 s tokens: refreshed once at most 3 s of their life has passed; rounds 3.5 s apart.
    let e = Emu::start(Duration::from_secs(6)).await;
    let client = e.ip_client();
    let ns = e.emu.state().namespace();
    let url = e.emu.base_url();
    for round in 1..=3 {
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (client, url, ns, barrier) =
                    (client.clone(), url.clone(), ns.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let got = object_storage::get_namespace(&client, &url, None).await;
                    assert_eq!(got.unwrap(), ns);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            e.count("POST /v1/x509"),
            round,
            "round {round}\n{}",
            e.log_text()
        );
        assert_eq!(e.count("GET /n 200"), 20 * round);
        tokio::time::sleep(Duration::from_millis(3500)).await;
    }
    assert_eq!(e.count("GET /n 401"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_refused_for_a_changed_tenancy_is_the_error_not_the_401() {
    let e = Emu::start(Duration::from_secs(600)).await;
    let p = e.emu.principals();
    // The default instance first (made on first use), so that it stays the current one.
    p.current_instance().unwrap();
    p.add_instance(NewInstance {
        name: Some("moved".into()),
        ..NewInstance::default()
    })
    .unwrap();
    let other = "ocid1.tenancy.oc1..aaaaaaaaother";
    let moved = p.rotate_cert("moved", Some(other)).unwrap();
    let client = e.ip_client();
    let url = e.emu.base_url();
    let ns = e.emu.state().namespace();
    // The first token is fine.
    assert_eq!(
        object_storage::get_namespace(&client, &url, None)
            .await
            .unwrap(),
        ns
    );
    // Then the certificate names another tenancy, and the service refuses the token.
    for f in [
        Fault::body("/opc/v2/identity/cert.pem", 200, &moved.cert_pem),
        Fault::body("/opc/v2/identity/key.pem", 200, &moved.key_pem),
        Fault::status("/n", 401).method("GET"),
    ] {
        e.emu.inject_fault(f).unwrap();
    }
    let err = object_storage::get_namespace(&client, &url, None)
        .await
        .unwrap_err();
    let tenancy = e.emu.state().tenancy_id();
    match &err {
        Error::Credentials {
            provider,
            message,
            transient,
        } => {
            assert_eq!(*provider, "instance_principal");
            assert_eq!(
                message,
                &format!(
                    "the refreshed instance certificate names the tenancy {other}, but this \
                     provider started with {tenancy}; refusing to switch tenancies (restart the \
                     program to use the new tenancy)"
                )
            );
            assert!(!transient);
        }
        other => panic!("expected the renewal's error, got {other:?}"),
    }
    // No federation call was made with the other tenancy's certificate.
    assert_eq!(e.count("POST /v1/x509"), 1);
    // Once the metadata service is back to the instance's own identity, it works again.
    assert_eq!(
        object_storage::get_namespace(&client, &url, None)
            .await
            .unwrap(),
        ns
    );
    assert!(client.provider().credentials().await.is_ok());
}
