//! Small in-test fakes for the principal providers (the real emulator replaces them in the
//! integration tests): a raw HTTP/1.1 server, plain or TLS, that records every request and
//! answers through a handler; a CA → intermediate → leaf chain minted with rcgen; a fake OCI
//! (IMDS, `/v1/x509`, RPT and RPST endpoints) that verifies every signature the way OCI does,
//! with `ociauth::signer::{parse_authorization, signing_string}` and `keys::PublicKey`.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::net::TcpListener;

use ociauth::env::{Clock, ManualClock};
use ociauth::jwt::{self, RsaJwk};
use ociauth::keys::PublicKey;
use ociauth::providers::principal::RetryPolicy;
use ociauth::{PrivateKey, signer};

pub const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaainstancetenancy";
pub const OTHER_TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaaothertenancy";
pub const RES_TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaaresourcetenancy";
pub const INSTANCE_ID: &str = "ocid1.instance.oc1.phx.AAAAinstance";

/// A fixed, readable start time for the manual clock (2026-01-01T00:00:00Z).
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Retry budgets with millisecond waits.
pub fn fast(p: RetryPolicy) -> RetryPolicy {
    p.with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// One RSA key per test binary for each role (key generation is slow in debug builds).
pub fn cached_key(slot: usize) -> PrivateKey {
    static KEYS: Mutex<Vec<Option<PrivateKey>>> = Mutex::new(Vec::new());
    let mut keys = KEYS.lock().unwrap();
    if keys.len() <= slot {
        keys.resize(slot + 1, None);
    }
    keys[slot]
        .get_or_insert_with(|| PrivateKey::generate().unwrap())
        .clone()
}

// ---------------------------------------------------------------------------------------------
// HTTP server
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Verify the `Authorization: Signature` header with `key` as OCI does. Returns the
    /// parameters (key id, signed header list).
    pub fn verify_signature(&self, key: &PublicKey) -> Result<signer::AuthorizationParams, String> {
        let auth = self
            .header("authorization")
            .ok_or("no authorization header")?;
        let params = signer::parse_authorization(auth).map_err(|e| e.to_string())?;
        let ss = signer::signing_string(&params.headers, &self.method, &self.target, |n| {
            self.header(n).map(str::trim)
        })
        .map_err(|e| e.to_string())?;
        let sig = B64.decode(&params.signature).map_err(|e| e.to_string())?;
        if !key.verify_sha256(ss.as_bytes(), &sig) {
            return Err(format!("signature does not verify over:\n{ss}"));
        }
        if params.headers.iter().any(|h| h == "x-content-sha256") {
            if self.header("x-content-sha256") != Some(&signer::body_sha256(&self.body)) {
                return Err("x-content-sha256 does not match the body".into());
            }
            if self.header("content-length") != Some(&self.body.len().to_string()) {
                return Err("content-length does not match the body".into());
            }
        }
        Ok(params)
    }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Resp {
    pub fn json(status: u16, body: Value) -> Self {
        Self::raw(
            status,
            "application/json",
            serde_json::to_vec(&body).unwrap(),
        )
    }
    pub fn text(status: u16, body: &str) -> Self {
        Self::raw(status, "text/plain", body.as_bytes().to_vec())
    }
    pub fn raw(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            delay: Duration::ZERO,
        }
    }
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(status, json!({"code": code, "message": message}))
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

pub type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<Req>>>,
    tls: bool,
}

impl Server {
    pub async fn start(handler: Handler) -> Self {
        Self::start_inner(handler, None).await
    }

    pub async fn start_tls(handler: Handler, acceptor: tokio_rustls::TlsAcceptor) -> Self {
        Self::start_inner(handler, Some(acceptor)).await
    }

    async fn start_inner(handler: Handler, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server {
            addr: listener.local_addr().unwrap(),
            log: Arc::default(),
            tls: tls.is_some(),
        };
        let log = Arc::clone(&server.log);
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (log, handler, tls) = (Arc::clone(&log), Arc::clone(&handler), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(sock).await {
                                serve(stream, log, handler).await;
                            }
                        }
                        None => serve(sock, log, handler).await,
                    }
                });
            }
        });
        server
    }

    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path().starts_with(prefix))
            .count()
    }
}

/// One request per connection (`connection: close`).
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    log: Arc<Mutex<Vec<Req>>>,
    handler: Handler,
) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    let req = Req {
        method,
        target,
        headers,
        body,
    };
    log.lock().unwrap().push(req.clone());
    let resp = handler(&req);
    if !resp.delay.is_zero() {
        tokio::time::sleep(resp.delay).await;
    }
    let mut out = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut stream = reader.into_inner();
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.write_all(&resp.body).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// A port on which nothing listens (connection refused).
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// An IMDS identity: leaf (subject OU=opc-tenant:<tenancy>), its RSA key, the intermediate.
#[derive(Clone)]
pub struct Chain {
    pub leaf_pem: String,
    pub leaf_der: Vec<u8>,
    pub leaf_key: PrivateKey,
    pub intermediate_pem: String,
    pub intermediate_der: Vec<u8>,
    pub tenancy: String,
}

pub fn chain(tenancy: &str, leaf_key: PrivateKey) -> Chain {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let root_key = KeyPair::generate().unwrap();
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.distinguished_name
        .push(DnType::CommonName, "PKISVC Fake Root");
    let root_issuer = rcgen::Issuer::new(root, root_key);

    let inter_key = KeyPair::generate().unwrap();
    let mut inter = CertificateParams::new(Vec::<String>::new()).unwrap();
    inter.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    inter
        .distinguished_name
        .push(DnType::CommonName, "PKISVC Identity Intermediate r2");
    let inter_cert = inter.signed_by(&inter_key, &root_issuer).unwrap();
    let inter_issuer = rcgen::Issuer::new(inter, inter_key);

    let leaf_kp = KeyPair::from_pem(&leaf_key.to_pkcs8_pem(None).unwrap()).unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, INSTANCE_ID);
    leaf.distinguished_name
        .push(DnType::OrganizationalUnitName, "opc-certtype:instance");
    // A second OU (rcgen keeps one value per attribute type, so the same OID as a custom type).
    leaf.distinguished_name.push(
        DnType::CustomDnType(vec![2, 5, 4, 11]),
        format!("opc-tenant:{tenancy}"),
    );
    let leaf_cert = leaf.signed_by(&leaf_kp, &inter_issuer).unwrap();
    Chain {
        leaf_pem: leaf_cert.pem(),
        leaf_der: leaf_cert.der().to_vec(),
        leaf_key,
        intermediate_pem: inter_cert.pem(),
        intermediate_der: inter_cert.der().to_vec(),
        tenancy: tenancy.to_string(),
    }
}

/// A TLS acceptor for 127.0.0.1 and the PEM of the CA that issued its certificate.
pub fn tls_server() -> (tokio_rustls::TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fake cluster CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_cert.pem(),
    )
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// The fake token service's signing key.
pub fn token_key() -> PrivateKey {
    cached_key(0)
}

/// A JWT with `claims`, `iat`/`exp` from `now` and `lifetime`, and `jwk` (a JSON string, as in
/// RPSTs) for `session` when given.
pub fn mint(
    mut claims: Value,
    now: SystemTime,
    lifetime: Duration,
    session: Option<&PublicKey>,
) -> String {
    let obj = claims.as_object_mut().unwrap();
    obj.insert("iat".into(), json!(epoch(now)));
    obj.insert("exp".into(), json!(epoch(now + lifetime)));
    if let Some(k) = session {
        let jwk = RsaJwk::from_public_key(k, None)
            .unwrap()
            .to_json()
            .to_string();
        obj.insert("jwk".into(), json!(jwk));
    }
    jwt::sign_rs256(&Value::Null, &claims, &token_key()).unwrap()
}

/// The session key a `ST$` token is bound to (its `jwk` claim), after checking the token's
/// signature and expiry at `now`.
pub fn token_session_key(token: &str, now: SystemTime) -> Result<PublicKey, String> {
    let t = jwt::verify_rs256(token, &PublicKey::from(&token_key())).map_err(|e| e.to_string())?;
    if t.exp().unwrap_or(0) <= epoch(now) {
        return Err("the token has expired".into());
    }
    let jwk = match t.claim("jwk") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|e| e.to_string())?,
        Some(v) => v.clone(),
        None => return Err("the token has no jwk".into()),
    };
    RsaJwk::from_json(&jwk)
        .and_then(|j| j.public_key())
        .map_err(|e| e.to_string())
}

/// Verify a request signed with `ST$<token>`; returns the token's claims and the signed headers.
pub fn verify_session_signed(
    req: &Req,
    now: SystemTime,
) -> Result<(jwt::Jwt, Vec<String>), String> {
    let auth = req
        .header("authorization")
        .ok_or("no authorization header")?;
    let params = signer::parse_authorization(auth).map_err(|e| e.to_string())?;
    let token = params
        .key_id
        .strip_prefix("ST$")
        .ok_or("keyId is not ST$<token>")?;
    let key = token_session_key(token, now)?;
    let params = req.verify_signature(&key)?;
    Ok((jwt::decode_unverified(token).unwrap(), params.headers))
}

/// The SubjectPublicKeyInfo in a "sanitized PEM" (base64 DER) field.
pub fn spki_b64(v: &str) -> PublicKey {
    PublicKey::from_spki_der(&B64.decode(v).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A fake OCI: IMDS, /v1/x509, RPT and RPST
// ---------------------------------------------------------------------------------------------

pub struct OciState {
    pub chain: Chain,
    pub region: String,
    pub instance_id: String,
    pub lifetime: Duration,
    pub clock: ManualClock,
    /// Answers served instead of the real ones, in order, per path (e.g. `/v1/x509`).
    pub faults: HashMap<String, VecDeque<Resp>>,
    pub federation_delay: Duration,
    /// Verification failures (tests assert there are none).
    pub failures: Vec<String>,
    /// Served for `/opc/v2/identity/key.pem` once instead of the real key (rotation race).
    pub wrong_key_once: Option<PrivateKey>,
    /// RPT paths → `opc-parent-rpt-url` to answer with.
    pub parent_headers: HashMap<String, String>,
    pub minted: usize,
}

#[derive(Clone)]
pub struct FakeOci {
    pub server: Server,
    pub state: Arc<Mutex<OciState>>,
}

impl FakeOci {
    pub async fn start(clock: ManualClock) -> Self {
        let state = Arc::new(Mutex::new(OciState {
            chain: chain(TENANCY, cached_key(1)),
            region: "phx".into(),
            instance_id: INSTANCE_ID.into(),
            lifetime: Duration::from_secs(1200),
            clock,
            faults: HashMap::new(),
            federation_delay: Duration::ZERO,
            failures: Vec::new(),
            wrong_key_once: None,
            parent_headers: HashMap::new(),
            minted: 0,
        }));
        let st = Arc::clone(&state);
        let server = Server::start(Arc::new(move |req: &Req| handle(&st, req))).await;
        Self { server, state }
    }

    pub fn imds_base(&self) -> String {
        format!("{}/opc/v2", self.server.base())
    }
    pub fn federation_url(&self) -> String {
        format!("{}/v1/x509", self.server.base())
    }
    pub fn fault(&self, path: &str, resp: Resp) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(path.to_string())
            .or_default()
            .push_back(resp);
    }
    pub fn failures(&self) -> Vec<String> {
        self.state.lock().unwrap().failures.clone()
    }
    pub fn federation_calls(&self) -> usize {
        self.server.count("POST", "/v1/x509")
    }
}

fn handle(st: &Arc<Mutex<OciState>>, req: &Req) -> Resp {
    let mut s = st.lock().unwrap();
    let path = req.path().to_string();
    if let Some(q) = s.faults.get_mut(&path)
        && let Some(r) = q.pop_front()
    {
        return r;
    }
    let now = s.clock.now();
    let fail = |s: &mut OciState, why: String| {
        s.failures.push(format!("{} {path}: {why}", req.method));
        Resp::error(401, "NotAuthenticated", &why)
    };
    if let Some(rest) = path.strip_prefix("/opc/v2") {
        if req.header("authorization") != Some("Bearer Oracle") {
            return fail(
                &mut s,
                "IMDS request without Authorization: Bearer Oracle".into(),
            );
        }
        return match rest {
            "/instance/region" => Resp::text(200, &format!("{}\n", s.region)),
            "/instance/id" => Resp::text(200, &s.instance_id),
            "/identity/cert.pem" => Resp::text(200, &s.chain.leaf_pem),
            "/identity/key.pem" => match s.wrong_key_once.take() {
                Some(k) => Resp::text(200, &k.to_pkcs8_pem(None).unwrap()),
                None => Resp::text(200, &s.chain.leaf_key.to_pkcs8_pem(None).unwrap()),
            },
            "/identity/intermediate.pem" => Resp::text(200, &s.chain.intermediate_pem),
            _ => Resp::text(404, "not found"),
        };
    }
    match (req.method.as_str(), path.as_str()) {
        ("POST", "/v1/x509") => match verify_federation(&s.chain, req) {
            Err(why) => fail(&mut s, why),
            Ok(session) => {
                s.minted += 1;
                let token = mint(
                    json!({"sub": s.instance_id, "tenant": s.chain.tenancy, "opc-tenant": s.chain.tenancy,
                           "ptype": "instance", "ttype": "x509", "n": s.minted}),
                    now,
                    s.lifetime,
                    Some(&session),
                );
                Resp::json(200, json!({ "token": token })).delayed(s.federation_delay)
            }
        },
        ("POST", "/v1/resourcePrincipalSessionToken") => match verify_session_signed(req, now) {
            Err(why) => fail(&mut s, why),
            Ok((_, headers)) => {
                let want = [
                    "date",
                    "(request-target)",
                    "host",
                    "content-length",
                    "content-type",
                    "x-content-sha256",
                ];
                if headers != want {
                    return fail(&mut s, format!("RPST POST signed {headers:?}"));
                }
                let body = req.json();
                let keys: Vec<&str> = body
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                if keys
                    != [
                        "resourcePrincipalToken",
                        "servicePrincipalSessionToken",
                        "sessionPublicKey",
                    ]
                {
                    return fail(&mut s, format!("RPST body keys {keys:?}"));
                }
                let session = spki_b64(body["sessionPublicKey"].as_str().unwrap());
                s.minted += 1;
                let token = mint(
                    json!({"sub": "ocid1.datascience.oc1..res", "res_tenant": RES_TENANCY,
                           "res_compartment": "ocid1.compartment.oc1..c", "ptype": "resource",
                           "rpt": body["resourcePrincipalToken"], "n": s.minted}),
                    now,
                    s.lifetime,
                    Some(&session),
                );
                Resp::json(200, json!({ "token": token }))
            }
        },
        ("GET", p) if p.contains("resourcePrincipalToken") || p.starts_with("/parent") => {
            match verify_session_signed(req, now) {
                Err(why) => fail(&mut s, why),
                Ok((_, headers)) => {
                    if headers != ["date", "(request-target)", "host"] {
                        return fail(&mut s, format!("RPT GET signed {headers:?}"));
                    }
                    let mut r = Resp::json(
                        200,
                        json!({"resourcePrincipalToken": format!("rpt:{p}"), "servicePrincipalSessionToken": "spst"}),
                    );
                    if let Some(next) = s.parent_headers.get(p) {
                        r = r.with_header("opc-parent-rpt-url", next);
                    }
                    r
                }
            }
        }
        ("GET", "/n") => match verify_session_signed(req, now) {
            Err(why) => Resp::error(401, "NotAuthenticated", &why),
            Ok(_) => Resp::json(200, json!("fakenamespace")),
        },
        _ => Resp::error(404, "NotFound", "no such path"),
    }
}

/// Check a `/v1/x509` request as the Auth service would; returns the session public key.
fn verify_federation(chain: &Chain, req: &Req) -> Result<PublicKey, String> {
    let leaf_pub = PublicKey::from(&chain.leaf_key);
    let params = req.verify_signature(&leaf_pub)?;
    let want = [
        "date",
        "(request-target)",
        "content-length",
        "content-type",
        "x-content-sha256",
    ];
    if params.headers != want {
        return Err(format!("signed headers {:?}", params.headers));
    }
    let body = req.json();
    let (tenancy, rest) = params.key_id.split_once('/').ok_or("keyId without '/'")?;
    if tenancy != chain.tenancy {
        return Err(format!("keyId tenancy {tenancy}"));
    }
    match rest.split_once('/') {
        Some(("fed-x509-sha256", fp)) => {
            use sha2::Digest as _;
            let want: Vec<String> = sha2::Sha256::digest(&chain.leaf_der)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if fp != want.join(":") {
                return Err(format!("sha256 fingerprint {fp}"));
            }
            if body["fingerprintAlgorithm"] != "SHA256" {
                return Err("fed-x509-sha256 without fingerprintAlgorithm SHA256".into());
            }
        }
        Some(("fed-x509", fp)) => {
            let d = aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                &chain.leaf_der,
            );
            let want: Vec<String> = d.as_ref().iter().map(|b| format!("{b:02X}")).collect();
            if fp != want.join(":") {
                return Err(format!("sha1 fingerprint {fp}"));
            }
            if body.get("fingerprintAlgorithm").is_some() {
                return Err("fed-x509 with fingerprintAlgorithm".into());
            }
        }
        _ => return Err(format!("keyId form {rest}")),
    }
    if body["certificate"] != B64.encode(&chain.leaf_der) {
        return Err("certificate is not the leaf".into());
    }
    if body["intermediateCertificates"] != json!([B64.encode(&chain.intermediate_der)]) {
        return Err("intermediateCertificates is not [intermediate]".into());
    }
    Ok(spki_b64(body["publicKey"].as_str().ok_or("no publicKey")?))
}
