//! OKE workload identity against a fake proxymux over TLS with a private cluster CA.

mod principals_fake;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use ociauth::CredentialsProvider;
use ociauth::env::{Clock, ManualClock, MapEnv};
use ociauth::jwt;
use ociauth::providers::oke_workload_identity::{
    OkeWorkloadIdentityOptions, OkeWorkloadIdentityProvider,
};
use ociauth::providers::principal::{PrincipalErrorKind, RetryPolicy};

use principals_fake::*;

/// A fake proxymux: answers the quoted base64 envelope with an RPST bound to `podKey`.
struct Proxymux {
    server: Server,
    faults: Arc<Mutex<Vec<Resp>>>,
    ca_pem: String,
    /// Answer without the surrounding quotes (Python tolerates it).
    unquoted: Arc<Mutex<bool>>,
}

async fn proxymux(clock: ManualClock) -> Proxymux {
    let (acceptor, ca_pem) = tls_server();
    let faults: Arc<Mutex<Vec<Resp>>> = Arc::default();
    let unquoted: Arc<Mutex<bool>> = Arc::default();
    let (f, u) = (Arc::clone(&faults), Arc::clone(&unquoted));
    let handler = Arc::new(move |req: &Req| {
        {
            let mut f = f.lock().unwrap();
            if !f.is_empty() {
                return f.remove(0);
            }
        }
        if req.method != "POST" || req.path() != "/resourcePrincipalSessionTokens" {
            return Resp::error(404, "NotFound", "no such path");
        }
        let body = req.json();
        let session = spki_b64(body["podKey"].as_str().unwrap());
        let now = clock.now();
        let token = mint(
            json!({"sub": "ocid1.pod", "res_tenant": RES_TENANCY, "ptype": "resource"}),
            now,
            Duration::from_secs(1200),
            Some(&session),
        );
        let inner =
            B64.encode(serde_json::to_vec(&json!({ "token": format!("ST${token}") })).unwrap());
        let text = if *u.lock().unwrap() {
            inner
        } else {
            format!("\"{inner}\"")
        };
        Resp::raw(200, "application/json", text.into_bytes())
    });
    Proxymux {
        server: Server::start_tls(handler, acceptor).await,
        faults,
        ca_pem,
        unquoted,
    }
}

struct Pod {
    dir: tempfile::TempDir,
    env: MapEnv,
    opts: OkeWorkloadIdentityOptions,
}

fn sa_token(clock: &ManualClock, n: u32) -> String {
    mint(
        json!({"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:ns:sa", "n": n}),
        clock.now(),
        Duration::from_secs(3600),
        None,
    )
}

fn pod(mux: &Proxymux, clock: &ManualClock) -> Pod {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), sa_token(clock, 1)).unwrap();
    std::fs::write(dir.path().join("ca.crt"), &mux.ca_pem).unwrap();
    let env = MapEnv::new()
        .with("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .with(
            "OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH",
            dir.path().join("ca.crt").to_str().unwrap(),
        )
        .with("OCI_RESOURCE_PRINCIPAL_REGION", "iad");
    let opts = OkeWorkloadIdentityOptions {
        service_account_token_path: Some(dir.path().join("token")),
        proxymux_port: mux.server.addr.port(),
        retry: fast(RetryPolicy::SERVICE),
        ..OkeWorkloadIdentityOptions::default()
    };
    Pod { dir, env, opts }
}

fn provider(p: &Pod, clock: &ManualClock) -> OkeWorkloadIdentityProvider {
    OkeWorkloadIdentityProvider::from_env(
        p.opts.clone(),
        Arc::new(p.env.clone()),
        Arc::new(clock.clone()),
    )
    .unwrap()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn outside_kubernetes_it_is_not_configured() {
    let e = OkeWorkloadIdentityProvider::from_env(
        OkeWorkloadIdentityOptions::default(),
        Arc::new(MapEnv::new()),
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "oke_workload_identity: KUBERNETES_SERVICE_HOST is not set: this is not a Kubernetes pod \
         (OKE workload identity runs in pods of an enhanced OKE cluster)"
    );
    assert_eq!(e.kind(), PrincipalErrorKind::NotConfigured);
    assert_eq!(e.variable(), Some("KUBERNETES_SERVICE_HOST"));
    // The default port and path, IPv6 in brackets.
    let p = OkeWorkloadIdentityProvider::from_env(
        OkeWorkloadIdentityOptions::default(),
        Arc::new(MapEnv::new().with("KUBERNETES_SERVICE_HOST", "fd00::1")),
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap();
    assert_eq!(
        p.endpoint(),
        "https://[fd00::1]:12250/resourcePrincipalSessionTokens"
    );
}

#[tokio::test]
async fn exchanges_the_service_account_token_over_tls_with_the_cluster_ca() {
    let clock = ManualClock::new(t0());
    let mux = proxymux(clock.clone()).await;
    let pod = pod(&mux, &clock);
    let p = provider(&pod, &clock);
    let c = p.fetch().await.unwrap();

    let reqs = mux.server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.target, "/resourcePrincipalSessionTokens");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {}", sa_token(&clock, 1)).as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let id = r.header("opc-request-id").unwrap();
    let parts: Vec<&str> = id.split('/').collect();
    assert_eq!(parts.len(), 3, "{id}");
    assert!(
        parts
            .iter()
            .all(|p| p.len() == 32 && p.bytes().all(|b| b.is_ascii_hexdigit())),
        "{id}"
    );
    // Python's body: sanitized SPKI, json.dumps spacing.
    let pod_key = B64.encode(c.private_key().public_key_der());
    assert_eq!(
        std::str::from_utf8(&r.body).unwrap(),
        format!("{{\"podKey\": \"{pod_key}\"}}")
    );

    // ST$ stripped from the envelope; the RPST is bound to the session key.
    let token = c.token().unwrap();
    assert!(token.starts_with("eyJ"));
    assert_eq!(
        token_session_key(token, clock.now()).unwrap().spki_der(),
        c.private_key().public_key_der()
    );
    assert_eq!(c.region(), Some("us-ashburn-1"));
    assert_eq!(c.tenancy(), Some(RES_TENANCY));
    assert_eq!(c.expires_at(), Some(t0() + Duration::from_secs(1200)));
    assert_eq!(c.source(), "oke_workload_identity");
    let dbg = format!("{p:?} {c:?} {:?}", pod.opts);
    assert!(
        !dbg.contains(token) && !dbg.contains(&sa_token(&clock, 1)),
        "{dbg}"
    );

    // The token file is read again, and every refresh has a new session key.
    write(&pod.dir.path().join("token"), &sa_token(&clock, 2));
    *mux.unquoted.lock().unwrap() = true;
    let d = p.fetch().await.unwrap();
    assert_ne!(d.private_key(), c.private_key());
    let second = &mux.server.requests()[1];
    let sent = second
        .header("authorization")
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap();
    assert_eq!(
        jwt::decode_unverified(sent).unwrap().claim("n"),
        Some(&json!(2))
    );
}

#[tokio::test]
async fn a_basic_cluster_gets_a_clear_error_without_retries() {
    let clock = ManualClock::new(t0());
    let mux = proxymux(clock.clone()).await;
    mux.faults
        .lock()
        .unwrap()
        .push(Resp::error(403, "Forbidden", "not allowed"));
    let pod = pod(&mux, &clock);
    let e = provider(&pod, &clock).fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "oke_workload_identity: the proxymux token request (POST \
             https://127.0.0.1:{}/resourcePrincipalSessionTokens) failed: 403 Forbidden: not \
             allowed; the cluster is not an enhanced cluster: OKE workload identity needs an \
             enhanced cluster (please ensure the cluster type is enhanced)",
            mux.server.addr.port()
        )
    );
    assert_eq!(e.status(), Some(403));
    assert!(!e.is_transient());
    assert_eq!(mux.server.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let clock = ManualClock::new(t0());
    let mux = proxymux(clock.clone()).await;
    mux.faults.lock().unwrap().extend([
        Resp::error(500, "InternalServerError", "boom"),
        Resp::error(429, "TooManyRequests", "slow"),
    ]);
    let pod = pod(&mux, &clock);
    let cached = provider(&pod, &clock).cached();
    cached.credentials().await.unwrap();
    assert_eq!(mux.server.requests().len(), 3);
    // Each attempt has its own request id.
    let ids: Vec<String> = mux
        .server
        .requests()
        .iter()
        .map(|r| r.header("opc-request-id").unwrap().to_string())
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);
}

#[tokio::test]
async fn an_expired_service_account_token_is_not_sent() {
    let clock = ManualClock::new(t0());
    let mux = proxymux(clock.clone()).await;
    let pod = pod(&mux, &clock);
    let p = provider(&pod, &clock);
    clock.advance(Duration::from_secs(3600));
    let e = p.fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "oke_workload_identity: the service account token at {} has expired (exp {}, now {})",
            pod.dir.path().join("token").display(),
            epoch(t0()) + 3600,
            epoch(t0()) + 3600
        )
    );
    assert_eq!(e.kind(), PrincipalErrorKind::Expired);
    assert!(e.is_transient());
    write(&pod.dir.path().join("token"), "not a jwt");
    let e = p.fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "oke_workload_identity: the service account token at {}: not a JWT: expected three \
             dot-separated parts (header.payload.signature), found 1",
            pod.dir.path().join("token").display()
        )
    );
    assert!(mux.server.requests().is_empty());
}

#[tokio::test]
async fn only_the_cluster_ca_is_trusted() {
    let clock = ManualClock::new(t0());
    let mux = proxymux(clock.clone()).await;
    let pod = pod(&mux, &clock);
    let (_, other_ca) = tls_server();
    write(&pod.dir.path().join("ca.crt"), &other_ca);
    let e = provider(&pod, &clock).fetch().await.unwrap_err();
    assert_eq!(e.kind(), PrincipalErrorKind::Transport);
    assert!(!e.is_transient());
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "oke_workload_identity: the proxymux token request (POST \
             https://127.0.0.1:{}/resourcePrincipalSessionTokens) failed: the server's certificate \
             is not trusted (",
            mux.server.addr.port()
        )),
        "{msg}"
    );
    assert!(
        msg.ends_with(&format!(
            ") (the proxymux certificate must be issued by the cluster CA in {}; set \
             OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH if the CA is elsewhere)",
            pod.dir.path().join("ca.crt").display()
        )),
        "{msg}"
    );
    assert!(mux.server.requests().is_empty());

    std::fs::remove_file(pod.dir.path().join("ca.crt")).unwrap();
    let e = provider(&pod, &clock).fetch().await.unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "oke_workload_identity: could not read the CA certificate file {}: ",
            pod.dir.path().join("ca.crt").display()
        )),
        "{e}"
    );
    assert!(e.to_string().ends_with(
        " (set OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH if the cluster CA is elsewhere)"
    ));
}

#[tokio::test]
async fn a_malformed_envelope_is_refused() {
    let clock = ManualClock::new(t0());
    let mux = proxymux(clock.clone()).await;
    mux.faults
        .lock()
        .unwrap()
        .push(Resp::raw(200, "application/json", b"\"%%%\"".to_vec()));
    let pod = pod(&mux, &clock);
    let e = provider(&pod, &clock).fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "oke_workload_identity: the proxymux token request (POST \
             https://127.0.0.1:{}/resourcePrincipalSessionTokens): the answer is not base64 of a \
             JSON object",
            mux.server.addr.port()
        )
    );
    assert_eq!(e.kind(), PrincipalErrorKind::InvalidResponse);
}

#[tokio::test]
async fn a_literal_token_from_the_environment() {
    let clock = ManualClock::new(t0());
    let mux = proxymux(clock.clone()).await;
    let mut pod = pod(&mux, &clock);
    pod.opts.service_account_token_path = None;
    pod.env = pod.env.clone().with(
        "OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_STRING",
        sa_token(&clock, 7),
    );
    provider(&pod, &clock).fetch().await.unwrap();
    let sent = mux.server.requests()[0]
        .header("authorization")
        .unwrap()
        .to_string();
    assert_eq!(sent, format!("Bearer {}", sa_token(&clock, 7)));
}
