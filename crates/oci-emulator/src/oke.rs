//! OKE workload identity: the cluster's "proxymux" (spec oci-principals-wif.md §4), on its own
//! TLS port (`serve --oke-port`; the SDKs use 12250), with a self-signed cluster CA.
//!
//! `POST /resourcePrincipalSessionTokens` with `Authorization: Bearer <service-account JWT>` and
//! `{"podKey": "<session public key>"}` (base64 DER, as Python sends, or full PEM, as Go sends).
//! The answer is a JSON *string literal* holding base64 of `{"token": "ST$<RPST>"}` — the quotes
//! matter (Go strips the first and last byte).
//!
//! The service-account token must be an RS256 JWT whose `iss` names a registered cluster
//! ([`crate::principals::OkeCluster::issuer`]), signed with that cluster's key (mint one with
//! [`mint_sa_token`] / `oci-emulator mint-sa-token`), with `exp` in the future and
//! `sub = system:serviceaccount:<namespace>:<name>`; otherwise **401**. A *basic* cluster
//! answers **403** (the SDKs then say "Please ensure the cluster type is enhanced").
//!
//! The RPST: `ptype: workload`, `sub: <cluster OCID>/<namespace>/<service account>`, claims
//! `cluster_id`, `namespace`, `service_account`, `service_account_uid`, `res_type: workload`,
//! `res_tenant`, `res_compartment`, `ttype: res`, `opc-tenant`, `opc-compartment` (OCI's exact
//! claim set is not published [I]), valid for `lifetimes.principal`, bound to `podKey`.
//!
//! TLS material (`DIR/oke/`): `ca.pem` — the cluster CA certificate to give the SDKs
//! (`OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH`); `server.pem` — the proxymux certificate (SANs
//! `IP:127.0.0.1`, `DNS:localhost`) and its key. Both are made on first start and reused.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ociauth::jwt;
use ociauth::keys::PublicKey;
use serde_json::{Map, json};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::certs;
use crate::principals::{OkeCluster, Principals, PrincipalsError};
use crate::server::{ApiError, AppState};
use crate::tokens::TokenRequest;
use crate::verify::{Rejection, unauthenticated};

/// The port the SDKs use for the proxymux.
pub const PROXYMUX_PORT: u16 = 12250;
/// Audience of minted service-account tokens.
pub const SA_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// Why the proxymux could not start.
#[derive(Debug, thiserror::Error)]
pub enum OkeError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make the OKE TLS certificates: {0}")]
    Cert(String),
    #[error("{}: {0}; delete DIR/oke/server.pem and ca.pem to have new ones made", path.display())]
    BadMaterial { path: PathBuf, what: String },
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OkeError + '_ {
    move |source| OkeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `DIR/oke/ca.pem`: the cluster CA certificate clients must trust.
pub fn ca_path(state_dir: &Path) -> PathBuf {
    state_dir.join("oke").join("ca.pem")
}

/// Load (or make) the proxymux certificate chain and key.
fn tls_material(
    state_dir: &Path,
    now: SystemTime,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), OkeError> {
    let dir = state_dir.join("oke");
    let ca_file = ca_path(state_dir);
    let server_file = dir.join("server.pem");
    if ca_file.exists() && server_file.exists() {
        let bad = |what: String| OkeError::BadMaterial {
            path: server_file.clone(),
            what,
        };
        let ca = std::fs::read_to_string(&ca_file).map_err(io_err(&ca_file))?;
        let server = zeroize::Zeroizing::new(
            std::fs::read_to_string(&server_file).map_err(io_err(&server_file))?,
        );
        let ca_der = certs::pem_decode(&ca, "CERTIFICATE").map_err(|e| bad(e.to_string()))?;
        let cert_der = certs::pem_decode(&server, "CERTIFICATE").map_err(|e| bad(e.to_string()))?;
        let key_der = certs::pem_decode(&server, "PRIVATE KEY").map_err(|e| bad(e.to_string()))?;
        let valid = certs::CertInfo::parse(&cert_der)
            .map(|c| c.valid_at(now))
            .unwrap_or(false);
        if valid {
            return Ok((
                vec![CertificateDer::from(cert_der), CertificateDer::from(ca_der)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
            ));
        }
    }
    let cert_err = |e: rcgen::Error| OkeError::Cert(e.to_string());
    let not_before = time::OffsetDateTime::from(now) - time::Duration::hours(1);
    let ca_key = rcgen::KeyPair::generate().map_err(cert_err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "oci-emulator OKE cluster CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_before + time::Duration::days(3650);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_err)?;
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .map_err(cert_err)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "oci-emulator OKE proxymux");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_before + time::Duration::days(825);
    let key = rcgen::KeyPair::generate().map_err(cert_err)?;
    let cert = params.signed_by(&key, &issuer).map_err(cert_err)?;
    let mut server_text = zeroize::Zeroizing::new(certs::cert_pem(cert.der()));
    server_text.push_str(&key.serialize_pem());
    ociauth::fsutil::write_private_atomic(&server_file, server_text.as_bytes())
        .map_err(io_err(&server_file))?;
    ociauth::fsutil::write_private_atomic(&ca_file, certs::cert_pem(ca_cert.der()).as_bytes())
        .map_err(io_err(&ca_file))?;
    Ok((
        vec![cert.der().clone(), ca_cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    ))
}

/// A running proxymux.
pub struct OkeServer {
    addr: SocketAddr,
    ca_path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for OkeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OkeServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl OkeServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }
    /// The cluster CA certificate (PEM file) that signs the proxymux certificate.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }
    pub(crate) async fn shutdown(mut self) {
        self.acceptor.abort();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for OkeServer {
    fn drop(&mut self) {
        self.acceptor.abort();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Accepted TLS connections, handed over by the acceptor task (handshakes run concurrently, so
/// a slow client cannot hold up others).
struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Start the proxymux on `bind:port` (0: any free port).
pub(crate) async fn start(app: AppState, bind: IpAddr, port: u16) -> Result<OkeServer, OkeError> {
    let state_dir = app.store.dir().to_path_buf();
    let (chain, key) = tls_material(&state_dir, app.clock.now())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OkeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| OkeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let addr = SocketAddr::new(bind, port);
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| OkeError::Io {
            path: PathBuf::from(addr.to_string()),
            source,
        })?;
    let local = tcp.local_addr().map_err(|source| OkeError::Io {
        path: PathBuf::from(addr.to_string()),
        source,
    })?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let accept_task = tokio::spawn(async move {
        loop {
            let (stream, peer) = match tcp.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("OKE proxymux accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!("OKE proxymux TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!("OKE proxymux TLS handshake timed out"),
                }
            });
        }
    });
    let router = crate::server::finish(routes(), app);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = TlsListener { rx, local };
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    Ok(OkeServer {
        addr: local,
        ca_path: ca_path(&state_dir),
        stop: Some(stop_tx),
        task: Some(task),
        acceptor: accept_task,
    })
}

fn routes() -> Router<AppState> {
    Router::new().route("/resourcePrincipalSessionTokens", post(session_tokens))
}

fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Who a valid service-account token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub cluster: OkeCluster,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Check a service-account token: issuer, signature, time, subject. `Err` is a log reason.
pub fn validate_sa_token(
    p: &Principals,
    token: &str,
    now: SystemTime,
) -> Result<ServiceAccount, String> {
    let unverified =
        jwt::decode_unverified(token).map_err(|e| format!("service-account token: {e}"))?;
    let iss = unverified
        .claim_str("iss")
        .ok_or("service-account token has no iss")?;
    let cluster = p
        .clusters()
        .into_iter()
        .find(|c| c.issuer == iss)
        .ok_or_else(|| format!("service-account token issuer {iss} is no registered cluster"))?;
    let key = p.cluster_key(&cluster).map_err(|e| e.to_string())?;
    let t = jwt::verify_rs256(token, &PublicKey::from(&key))
        .map_err(|e| format!("service-account token signature: {e}"))?;
    let exp = t.exp().ok_or("service-account token has no exp")?;
    if exp <= epoch(now) {
        return Err(format!(
            "service-account token expired {} s ago",
            epoch(now) - exp
        ));
    }
    if let Some(nbf) = t.nbf()
        && nbf > epoch(now) + 60
    {
        return Err("service-account token is not valid yet (nbf)".into());
    }
    let sub = t.sub().unwrap_or_default();
    let mut parts = sub.splitn(4, ':');
    let (Some("system"), Some("serviceaccount"), Some(ns), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "service-account token sub {sub:?} is not system:serviceaccount:<namespace>:<name>"
        ));
    };
    let uid = t
        .claim("kubernetes.io")
        .and_then(|k| k.get("serviceaccount"))
        .and_then(|s| s.get("uid"))
        .and_then(|u| u.as_str())
        .unwrap_or_default()
        .to_string();
    Ok(ServiceAccount {
        cluster,
        namespace: ns.to_string(),
        name: name.to_string(),
        uid,
    })
}

/// Mint a service-account token for `namespace/service_account` in `cluster`, as the
/// cluster's API server would project it into a pod.
pub fn mint_sa_token(
    p: &Principals,
    cluster: &str,
    namespace: &str,
    service_account: &str,
    lifetime: Duration,
) -> Result<String, PrincipalsError> {
    let c = p.cluster(cluster).ok_or_else(|| PrincipalsError::Unknown {
        kind: "cluster",
        name: cluster.to_string(),
    })?;
    let key = p.cluster_key(&c)?;
    let now = p.now();
    let claims = json!({
        "aud": [SA_AUDIENCE],
        "exp": epoch(now + lifetime),
        "iat": epoch(now),
        "iss": c.issuer,
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": service_account, "uid": uuid::Uuid::new_v4().to_string()},
        },
        "nbf": epoch(now),
        "sub": format!("system:serviceaccount:{namespace}:{service_account}"),
    });
    let kid = format!("{}-sa", c.name);
    jwt::sign_rs256(&json!({ "kid": kid }), &claims, &key)
        .map_err(|e| PrincipalsError::Token(e.to_string()))
}

async fn session_tokens(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let reject = |reason: String| {
        unauthenticated(Rejection {
            reason,
            key_id: None,
        })
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    let Some(token) = bearer else {
        return reject("no Authorization: Bearer <service-account token>".into());
    };
    let now = app.clock.now();
    let sa = match validate_sa_token(&app.principals, &token, now) {
        Ok(sa) => sa,
        Err(why) => return reject(why),
    };
    if !sa.cluster.enhanced {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Workload identity is available on enhanced clusters only.",
        )
        .into_response();
    }
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::bad_request(format!("The request body is not valid JSON: {e}"))
                .into_response();
        }
    };
    let Some(pod_key) = v.get("podKey").and_then(|k| k.as_str()) else {
        return ApiError::missing("podKey").into_response();
    };
    let Some(session_key) =
        certs::decode_posted(pod_key).and_then(|d| PublicKey::from_spki_der(&d).ok())
    else {
        return ApiError::bad_request(
            "'podKey' must be an RSA public key (PEM, or base64 DER SubjectPublicKeyInfo).",
        )
        .into_response();
    };
    let tenancy = app.store.tenancy_id();
    let subject = format!("{}/{}/{}", sa.cluster.id, sa.namespace, sa.name);
    let mut extra = Map::new();
    extra.insert("cluster_id".into(), json!(sa.cluster.id));
    extra.insert("namespace".into(), json!(sa.namespace));
    extra.insert("service_account".into(), json!(sa.name));
    extra.insert("service_account_uid".into(), json!(sa.uid));
    extra.insert("res_type".into(), json!("workload"));
    extra.insert("res_tenant".into(), json!(tenancy));
    extra.insert("res_compartment".into(), json!(sa.cluster.compartment_id));
    extra.insert("ttype".into(), json!("res"));
    extra.insert("opc-tenant".into(), json!(tenancy));
    extra.insert("opc-compartment".into(), json!(sa.cluster.compartment_id));
    let request = TokenRequest {
        ptype: "workload".to_string(),
        subject,
        tenancy,
        lifetime: app.tokens.lifetimes.principal,
        session_end: None,
        extra,
    };
    let rpst = match app.tokens.issue(&request, &session_key) {
        Ok(t) => t,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let inner = format!(r#"{{"token": "ST${rpst}"}}"#);
    let body = format!("\"{}\"", B64.encode(inner.as_bytes()));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
