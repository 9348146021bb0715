//! Session tokens (spec oci-signing-config-session.md §4, §6, §7 items 8-10): the browser login
//! URL, the callback server, persisting a session, the session-token provider (file watching,
//! expiry, automatic refresh against an in-test refresh endpoint that verifies `ST$` signatures
//! with the key bound into the token), concurrent refreshers (tasks, providers and a child
//! process), GenerateUpst, validate, export/import and terminate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use ociauth::client::{Client, ClientOptions};
use ociauth::credentials::BoxFuture;
use ociauth::env::{Clock, ManualClock, MapEnv, SystemClock};
use ociauth::jwt::{self, RsaJwk};
use ociauth::keys::{PrivateKey, PublicKey};
use ociauth::providers::api_key::ApiKeyProvider;
use ociauth::providers::session_token::{
    SessionTokenConfig, SessionTokenProvider, session_over_message,
};
use ociauth::regions::{Region, resolve_region};
use ociauth::session::{
    self, CallbackServer, ImportOptions, NewSession, SessionError, SessionKey, msg,
};
use ociauth::{CredentialsProvider, signer};

const DOC_KEY: &str = include_str!("data/doc_key_pkcs1.pem");
const TENANCY: &str = "ocid1.tenancy.oc1..aaaatenancy";
const USER: &str = "ocid1.user.oc1..aaaauser";

/// The spec's example URL (§4.1), captured from the official CLI with the doc key.
const SPEC_URL: &str = "https://login.us-ashburn-1.oraclecloud.com/v1/oauth2/authorize?action=login&client_id=iaas_console&response_type=token+id_token&nonce=00000000-0000-4000-8000-000000000000&scope=openid&public_key=eyJrdHkiOiAiUlNBIiwgIm4iOiAid2hSRFJzTjk4aG9vY3ZkcVE0MlVJWmRBdC1xenlZX2dyMzBndlBxdHZJY1FOZXRVQlRWSGRkOExnazFIS3RFSGRxckFYdjlvUmNuTmd3aVNZTklkUy1fUHVtZUZERWV4RG5LWDNWQlBSMzk1djRiUGhWRWVPYmdTWGd5dFIwaFJ3X0d4eWctcExfQlR4bnlVNkxYUHRzWXljS0dJdnRZYXFkWHlIcEdzYk1rIiwgImUiOiAiQVFBQiIsICJraWQiOiAiSWdub3JlZCJ9&redirect_uri=http%3A%2F%2Flocalhost%3A8181&tenant=mytenancy";

fn doc_key() -> PrivateKey {
    PrivateKey::from_pem(DOC_KEY.as_bytes(), None).unwrap()
}

fn session_key() -> PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    K.get_or_init(|| PrivateKey::generate().unwrap()).clone()
}

fn server_key() -> PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    K.get_or_init(|| PrivateKey::generate().unwrap()).clone()
}

fn ashburn() -> Region {
    resolve_region("us-ashburn-1", &MapEnv::new()).unwrap()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// =============================================================================================
// Login URL
// =============================================================================================

#[test]
fn login_url_matches_the_spec_example_byte_for_byte() {
    let public = PublicKey::from(&doc_key());
    let url = session::login_url(
        &ashburn(),
        &public,
        "00000000-0000-4000-8000-000000000000",
        Some("mytenancy"),
        None,
        session::DEFAULT_CALLBACK_PORT,
    )
    .unwrap();
    assert_eq!(url, SPEC_URL);

    assert_eq!(
        session::login_jwk_json(&public).unwrap(),
        r#"{"kty": "RSA", "n": "whRDRsN98hoocvdqQ42UIZdAt-qzyY_gr30gvPqtvIcQNetUBTVHdd8Lgk1HKtEHdqrAXv9oRcnNgwiSYNIdS-_PumeFDEexDnKX3VBPR395v4bPhVEeObgSXgytR0hRw_Gxyg-pL_BTxnyU6LXPtsYycKGIvtYaqdXyHpGsbMk", "e": "AQAB", "kid": "Ignored"}"#
    );
}

#[test]
fn login_url_encodes_like_python_urlencode() {
    let public = PublicKey::from(&doc_key());
    let url = session::login_url(
        &resolve_region("fra", &MapEnv::new()).unwrap(),
        &public,
        "n-1",
        Some("my tenancy/ä+x"),
        Some("Okta IdP"),
        9999,
    )
    .unwrap();
    assert!(
        url.starts_with("https://login.eu-frankfurt-1.oraclecloud.com/v1/oauth2/authorize?action=login&client_id=iaas_console&response_type=token+id_token&nonce=n-1&scope=openid&public_key=")
    );
    assert!(
        url.ends_with(
            "&redirect_uri=http%3A%2F%2Flocalhost%3A9999&tenant=my+tenancy%2F%C3%A4%2Bx&provider=Okta+IdP"
        ),
        "{url}"
    );
    // The public key is base64url *with* padding: a 2048-bit key's JWK is 398 bytes, which
    // encodes to a multiple of 4 ending in '='.
    let key = session_key();
    let url =
        session::login_url(&ashburn(), &PublicKey::from(&key), "n", None, None, 8181).unwrap();
    let b64 = url
        .split('&')
        .find_map(|p| p.strip_prefix("public_key="))
        .unwrap();
    let b64 = b64.replace("%3D", "=");
    assert_eq!(b64.len() % 4, 0);
    let decoded = String::from_utf8(URL_SAFE.decode(&b64).unwrap()).unwrap();
    let jwk: Value = serde_json::from_str(&decoded).unwrap();
    let expect = RsaJwk::from_private_key(&key, None).unwrap();
    assert_eq!(jwk["n"], expect.n.as_str());
    assert_eq!(jwk["e"], "AQAB");
    assert!(!url.contains("tenant="));
}

// =============================================================================================
// Callback server
// =============================================================================================

#[tokio::test]
async fn callback_server_relays_the_token() {
    let server = CallbackServer::bind(0).unwrap();
    let port = server.port();
    assert_ne!(port, 0);
    assert_eq!(server.redirect_uri(), format!("http://localhost:{port}"));
    let waiter = tokio::spawn(server.wait(Duration::from_secs(10)));

    let http = reqwest::Client::new();
    let page = http
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("window.location.hash"), "{html}");
    assert!(html.contains("'/token?' + fragment"), "{html}");
    assert!(html.contains(msg::AUTHORIZATION_COMPLETED));

    // A request without a token does not complete the wait.
    let r = http
        .get(format!("http://localhost:{port}/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    assert!(!waiter.is_finished());

    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln+/=";
    let r = http
        .get(format!(
            "http://127.0.0.1:{port}/token?security_token={}&other=1",
            url_encode(token)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(waiter.await.unwrap().unwrap(), token);
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn callback_server_refuses_foreign_host_headers() {
    let server = CallbackServer::bind(0).unwrap();
    let port = server.port();
    let waiter = tokio::spawn(server.wait(Duration::from_secs(2)));
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(b"GET /token?security_token=planted HTTP/1.1\r\nHost: evil.example:8181\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.0 400 "), "{out}");
    let e = waiter.await.unwrap().unwrap_err();
    assert!(matches!(e, SessionError::CallbackTimeout { .. }), "{e}");
}

#[tokio::test]
async fn callback_server_port_in_use_and_timeout() {
    let first = CallbackServer::bind(0).unwrap();
    let port = first.port();
    let e = CallbackServer::bind(port).unwrap_err();
    assert!(matches!(e, SessionError::PortInUse { port: p, .. } if p == port));
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("port {port} is already in use (")),
        "{text}"
    );
    assert!(text.contains(&format!("http://localhost:{port}")), "{text}");

    // Another program on [::1]:port would get the browser (and the token): refused too.
    if let Ok(v6) = std::net::TcpListener::bind("[::1]:0") {
        let p6 = v6.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", p6)).is_ok() {
            let e = CallbackServer::bind(p6).unwrap_err();
            assert!(
                matches!(e, SessionError::PortInUse { port: p, .. } if p == p6),
                "{e}"
            );
        }
    }

    let start = std::time::Instant::now();
    let e = first.wait(Duration::from_millis(300)).await.unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(matches!(e, SessionError::CallbackTimeout { port: p, .. } if p == port));
    assert!(
        e.to_string().starts_with(&format!(
            "no login arrived at http://localhost:{port} within 0 s"
        )),
        "{e}"
    );
}

// =============================================================================================
// Persisting
// =============================================================================================

/// A UPST as the emulator's token service makes it: signed by the server key, the session's
/// public key bound in the `jwk` claim.
fn issue(session_pub: &PublicKey, iat: u64, exp: u64, sess_exp: Option<u64>) -> String {
    let jwk = RsaJwk::from_public_key(session_pub, Some("k")).unwrap();
    let mut jwk = jwk.to_json();
    jwk["alg"] = json!("RS256");
    jwk["use"] = json!("sig");
    let mut claims = json!({
        "sub": USER,
        "tenant": TENANCY,
        "iat": iat,
        "exp": exp,
        "ptype": "user",
        "jwk": jwk.to_string(),
    });
    if let Some(s) = sess_exp {
        claims["sess_exp"] = json!(jwt::format_sess_exp(at(s)).unwrap());
    }
    jwt::sign_rs256(&json!({"kid": "asw"}), &claims, &server_key()).unwrap()
}

fn now_secs() -> u64 {
    secs(SystemTime::now())
}

struct Sess {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
    token_dir: PathBuf,
}

fn sess_dir() -> Sess {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().to_path_buf();
    Sess {
        config: root.join("config"),
        token_dir: root.join("sessions"),
        root,
        _dir: d,
    }
}

fn persist(s: &Sess, profile: &str, token: &str, key: &PrivateKey) -> session::PersistedSession {
    session::persist_session(&NewSession {
        config_path: &s.config,
        token_dir: &s.token_dir,
        profile,
        token,
        key: SessionKey::Private(key),
        passphrase: None,
        store_passphrase: false,
        region: "us-ashburn-1",
        tenancy: TENANCY,
    })
    .unwrap()
}

#[test]
fn persist_writes_files_and_profile_like_the_cli() {
    let s = sess_dir();
    let existing = "# my config\n[DEFAULT]\nuser=ocid1.user.oc1..other\nregion = eu-frankfurt-1\n\n[other]\n# keep me\ntenancy=x\n";
    std::fs::write(&s.config, existing).unwrap();
    let key = session_key();
    let token = issue(&PublicKey::from(&key), 1, 2, None);
    let p = persist(&s, "sess1", &token, &key);

    let dir = s.token_dir.join("sess1");
    assert_eq!(p.dir, dir);
    assert_eq!(p.token_file, dir.join("token"));
    assert_eq!(
        p.key_file.as_deref(),
        Some(dir.join("oci_api_key.pem").as_path())
    );
    assert_eq!(p.fingerprint, key.fingerprint());
    assert_eq!(std::fs::read_to_string(&p.token_file).unwrap(), token);
    let pem = std::fs::read_to_string(dir.join("oci_api_key.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(
        pem.ends_with("-----END PRIVATE KEY-----\nOCI_API_KEY"),
        "{pem}"
    );
    assert_eq!(PrivateKey::from_pem(pem.as_bytes(), None).unwrap(), key);
    assert_eq!(
        std::fs::read_to_string(dir.join("oci_api_key_public.pem")).unwrap(),
        key.public_key_pem()
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&s.token_dir), 0o700);
        assert_eq!(mode(&dir), 0o700);
        for f in ["oci_api_key.pem", "oci_api_key_public.pem", "token"] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        assert_eq!(mode(&s.config), 0o600);
    }
    let expected = format!(
        "{existing}\n[sess1]\nfingerprint={}\nkey_file={}\ntenancy={TENANCY}\nregion=us-ashburn-1\nsecurity_token_file={}\n",
        key.fingerprint(),
        dir.join("oci_api_key.pem").display(),
        dir.join("token").display()
    );
    assert_eq!(std::fs::read_to_string(&s.config).unwrap(), expected);

    // Authenticating again replaces the section in place and keeps the rest.
    let key2 = PrivateKey::generate().unwrap();
    let token2 = issue(&PublicKey::from(&key2), 3, 4, None);
    session::persist_session(&NewSession {
        config_path: &s.config,
        token_dir: &s.token_dir,
        profile: "sess1",
        token: &token2,
        key: SessionKey::Private(&key2),
        passphrase: Some("s3cret pass"),
        store_passphrase: true,
        region: "fra",
        tenancy: TENANCY,
    })
    .unwrap();
    let expected = format!(
        "{existing}\n[sess1]\nfingerprint={}\nkey_file={}\ntenancy={TENANCY}\nregion=fra\npass_phrase=s3cret pass\nsecurity_token_file={}\n",
        key2.fingerprint(),
        dir.join("oci_api_key.pem").display(),
        dir.join("token").display()
    );
    assert_eq!(std::fs::read_to_string(&s.config).unwrap(), expected);
    let pem = std::fs::read_to_string(dir.join("oci_api_key.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert!(pem.ends_with("-----END ENCRYPTED PRIVATE KEY-----\nOCI_API_KEY"));
    assert_eq!(
        PrivateKey::from_pem(pem.as_bytes(), Some(b"s3cret pass")).unwrap(),
        key2
    );
    assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), token2);
}

#[test]
fn persist_public_key_only_and_bad_names() {
    let s = sess_dir();
    let key = session_key();
    let public = PublicKey::from(&key);
    let p = session::persist_session(&NewSession {
        config_path: &s.config,
        token_dir: &s.token_dir,
        profile: "pub",
        token: "a.b.c",
        key: SessionKey::PublicOnly(&public),
        passphrase: None,
        store_passphrase: false,
        region: "phx",
        tenancy: TENANCY,
    })
    .unwrap();
    assert_eq!(p.key_file, None);
    assert!(!p.dir.join("oci_api_key.pem").exists());
    assert_eq!(
        std::fs::read_to_string(&s.config).unwrap(),
        format!(
            "[pub]\nfingerprint={}\nkey_file=Update_private_key_path\ntenancy={TENANCY}\nregion=phx\nsecurity_token_file={}\n",
            key.fingerprint(),
            p.dir.join("token").display()
        )
    );

    for bad in ["..", "a/b", ""] {
        let e = session::persist_session(&NewSession {
            config_path: &s.config,
            token_dir: &s.token_dir,
            profile: bad,
            token: "a.b.c",
            key: SessionKey::PublicOnly(&public),
            passphrase: None,
            store_passphrase: false,
            region: "phx",
            tenancy: TENANCY,
        })
        .unwrap_err();
        assert!(matches!(e, SessionError::Config(_)), "{bad}: {e}");
    }
    assert!(!s.root.join("a").exists());
}

// =============================================================================================
// A small HTTP server for the auth endpoints
// =============================================================================================

#[derive(Debug, Clone)]
struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = Arc<dyn Fn(Req) -> BoxFuture<'static, (u16, String)> + Send + Sync>;

async fn serve(handler: Handler) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut rl = lines.next().unwrap().split(' ');
                let (method, target) = (
                    rl.next().unwrap().to_string(),
                    rl.next().unwrap().to_string(),
                );
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < len {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => body.extend_from_slice(&chunk[..n]),
                    }
                }
                let (status, text) = handler(Req {
                    method,
                    target,
                    headers,
                    body,
                })
                .await;
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = stream.write_all(resp.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// The refresh endpoint, verifying requests as OCI would (spec §4.4 [I] rules).
struct Upst {
    clock: Arc<dyn Clock>,
    lifetime: u64,
    delay: Duration,
    refreshes: AtomicUsize,
    refuse: AtomicBool,
    failures: Mutex<Vec<String>>,
}

impl Upst {
    fn new(clock: Arc<dyn Clock>, lifetime: u64) -> Arc<Self> {
        Arc::new(Self {
            clock,
            lifetime,
            delay: Duration::ZERO,
            refreshes: AtomicUsize::new(0),
            refuse: AtomicBool::new(false),
            failures: Mutex::new(Vec::new()),
        })
    }

    fn with_delay(clock: Arc<dyn Clock>, lifetime: u64, delay: Duration) -> Arc<Self> {
        let mut u = Self::new(clock, lifetime);
        Arc::get_mut(&mut u).unwrap().delay = delay;
        u
    }

    fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }

    fn check(&self, req: &Req) -> Result<String, String> {
        if req.method != "POST" || req.target != "/v1/authentication/refresh" {
            return Err(format!("unexpected {} {}", req.method, req.target));
        }
        let auth = req.header("authorization").ok_or("no authorization")?;
        let params = signer::parse_authorization(auth).map_err(|e| e.to_string())?;
        if params.headers
            != [
                "date",
                "(request-target)",
                "host",
                "content-length",
                "content-type",
                "x-content-sha256",
            ]
        {
            return Err(format!("signed headers {:?}", params.headers));
        }
        let token = params
            .key_id
            .strip_prefix("ST$")
            .ok_or("keyId is not ST$")?;
        let claims = jwt::verify_rs256(token, &PublicKey::from(&server_key()))
            .map_err(|e| format!("token: {e}"))?;
        let jwk: Value = serde_json::from_str(claims.claim_str("jwk").ok_or("no jwk")?)
            .map_err(|e| e.to_string())?;
        let bound = RsaJwk::from_json(&jwk).unwrap().public_key().unwrap();
        let ss =
            signer::signing_string(&params.headers, &req.method, &req.target, |n| req.header(n))
                .map_err(|e| e.to_string())?;
        let sig = B64.decode(&params.signature).map_err(|e| e.to_string())?;
        if !bound.verify_sha256(ss.as_bytes(), &sig) {
            return Err("signature does not verify with the bound key".into());
        }
        if req.header("x-content-sha256") != Some(signer::body_sha256(&req.body).as_str()) {
            return Err("x-content-sha256 mismatch".into());
        }
        let want = format!("{{\"currentToken\": \"{token}\"}}");
        if req.body != want.as_bytes() {
            return Err(format!("body {:?}", String::from_utf8_lossy(&req.body)));
        }
        if req.headers.iter().any(|(k, _)| k.starts_with("opc-")) {
            return Err("opc-* header sent".into());
        }
        Ok(token.to_string())
    }

    fn handle(&self, req: Req) -> (u16, String) {
        let token = match self.check(&req) {
            Ok(t) => t,
            Err(e) => {
                self.failures.lock().unwrap().push(e.clone());
                return (400, json!({"code": "Bad", "message": e}).to_string());
            }
        };
        let claims = jwt::decode_unverified(&token).unwrap();
        let now = secs(self.clock.now());
        let exp = claims.exp().unwrap() as u64;
        let sess_exp = claims.sess_exp().map(secs);
        if self.refuse.load(Ordering::SeqCst) || now > exp || sess_exp.is_some_and(|s| now >= s) {
            return (
                401,
                json!({"code": "NotAuthenticated", "message": "no"}).to_string(),
            );
        }
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let new_exp = sess_exp.map_or(now + self.lifetime, |s| (now + self.lifetime).min(s));
        let jwk: Value = serde_json::from_str(claims.claim_str("jwk").unwrap()).unwrap();
        let public = RsaJwk::from_json(&jwk).unwrap().public_key().unwrap();
        (
            200,
            json!({"token": issue(&public, now, new_exp, sess_exp)}).to_string(),
        )
    }

    async fn start(self: &Arc<Self>) -> String {
        let me = self.clone();
        serve(Arc::new(move |req| {
            let me = me.clone();
            Box::pin(async move {
                if !me.delay.is_zero() {
                    tokio::time::sleep(me.delay).await;
                }
                me.handle(req)
            })
        }))
        .await
    }
}

// =============================================================================================
// The provider
// =============================================================================================

fn provider(s: &Sess, profile: &str) -> SessionTokenProvider {
    let dir = s.token_dir.join(profile);
    SessionTokenProvider::new(SessionTokenConfig {
        token_file: dir.join("token"),
        key_file: dir.join("oci_api_key.pem"),
        passphrase: None,
        region: Some(ashburn()),
        profile: Some(profile.to_string()),
    })
    .unwrap()
}

#[tokio::test]
async fn provider_signs_with_the_token_and_rereads_changed_files() {
    let s = sess_dir();
    let key = session_key();
    let now = now_secs();
    let t1 = issue(&PublicKey::from(&key), now, now + 3600, None);
    let p = persist(&s, "p", &t1, &key);
    // A trailing newline (a hand-edited file) is trimmed.
    std::fs::write(&p.token_file, format!("{t1}\n")).unwrap();
    let prov = provider(&s, "p");
    let c = prov.credentials().await.unwrap();
    assert_eq!(c.key_id(), format!("ST${t1}"));
    assert_eq!(c.token(), Some(t1.as_str()));
    assert_eq!(c.expires_at(), Some(at(now + 3600)));
    assert_eq!(c.region(), Some("us-ashburn-1"));
    assert_eq!(c.tenancy(), Some(TENANCY));
    assert_eq!(c.private_key(), &key);
    assert_eq!(prov.name(), "security_token");
    assert!(!format!("{prov:?}").contains(&t1));

    // Replaced atomically by another process (new inode).
    let t2 = issue(&PublicKey::from(&key), now, now + 3601, None);
    session::write_token_file(&p.token_file, &t2).unwrap();
    assert_eq!(prov.credentials().await.unwrap().token(), Some(t2.as_str()));

    // Rewritten in place (same inode, another length), as the official CLI does.
    let t3 = issue(&PublicKey::from(&key), now, now + 3600, Some(now + 86400));
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p.token_file)
        .unwrap();
    std::fs::write(&p.token_file, &t3).unwrap();
    assert_eq!(prov.credentials().await.unwrap().token(), Some(t3.as_str()));

    // A new login replaces key and token.
    let key2 = PrivateKey::generate().unwrap();
    let t4 = issue(&PublicKey::from(&key2), now, now + 3600, None);
    persist(&s, "p", &t4, &key2);
    let c = prov.credentials().await.unwrap();
    assert_eq!(c.token(), Some(t4.as_str()));
    assert_eq!(c.private_key(), &key2);

    // A torn/garbage file while the previous token is valid: the previous one is kept.
    std::fs::write(&p.token_file, "eyJhbGciOi").unwrap();
    assert_eq!(prov.credentials().await.unwrap().token(), Some(t4.as_str()));
}

#[tokio::test]
async fn provider_errors_name_the_profile_and_the_fix() {
    let s = sess_dir();
    let key = session_key();
    let clock = ManualClock::new(at(1_800_000_000));
    let t = issue(
        &PublicKey::from(&key),
        1_800_000_000,
        1_800_003_600,
        Some(1_800_086_400),
    );
    persist(&s, "work", &t, &key);
    let prov = provider(&s, "work").clock(Arc::new(clock.clone()));
    assert!(prov.credentials().await.is_ok());
    // exp itself is still valid (the CLI: expired iff now > exp).
    clock.set(at(1_800_003_600));
    assert!(prov.credentials().await.is_ok());
    clock.set(at(1_800_003_601));
    let e = prov.credentials().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "security_token: the session token for profile work expired at 2027-01-15T09:00:00Z; run `ociauth session refresh --profile work`, or `ociauth session authenticate --profile-name work` if the refresh is refused"
    );
    clock.set(at(1_800_086_400));
    let e = prov.credentials().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "security_token: the session for profile work has expired and can no longer be refreshed; run `ociauth session authenticate --profile-name work`"
    );
    assert_eq!(
        session_over_message("work"),
        "the session for profile work has expired and can no longer be refreshed; run `ociauth session authenticate --profile-name work`"
    );

    // Missing files.
    std::fs::remove_file(s.token_dir.join("work/token")).unwrap();
    let e = prov.credentials().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "security_token: the session token file {} of profile work does not exist; run `ociauth session authenticate --profile-name work`",
            s.token_dir.join("work/token").display()
        )
    );
    std::fs::write(s.token_dir.join("work/token"), "not a jwt").unwrap();
    let e = prov.credentials().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("does not hold a session token (not a JWT"),
        "{e}"
    );
}

#[tokio::test]
async fn provider_from_profile_uses_the_cli_messages() {
    let s = sess_dir();
    let key = session_key();
    let t = issue(&PublicKey::from(&key), now_secs(), now_secs() + 60, None);
    persist(&s, "p", &t, &key);
    let env = MapEnv::new().with("HOME", s.root.to_str().unwrap());
    let cfg = ociauth::config::ConfigFile::load(&s.config).unwrap();
    let prov = SessionTokenProvider::from_profile(&cfg.profile("p").unwrap(), &env).unwrap();
    assert_eq!(prov.profile_name(), "p");
    assert_eq!(
        prov.refresh_url().as_deref(),
        Some("https://auth.us-ashburn-1.oraclecloud.com/v1/authentication/refresh")
    );
    assert_eq!(prov.credentials().await.unwrap().token(), Some(t.as_str()));

    let e = SessionTokenProvider::from_profile(&cfg.profile("DEFAULT").unwrap(), &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "security_token: ERROR: Config value for 'security_token_file' must be specified when using --auth security_token"
    );
    let missing = ociauth::config::Profile::from_pairs(
        "x",
        &[("security_token_file", "~/nope/token"), ("key_file", "k")],
    );
    let e = SessionTokenProvider::from_profile(&missing, &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "security_token: ERROR: File specified by 'security_token_file' does not exist: {}",
            s.root.join("nope/token").display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_refresh_never_hands_out_an_expired_token() {
    let s = sess_dir();
    let key = session_key();
    let start = 1_800_000_000;
    let clock = ManualClock::new(at(start));
    let upst = Upst::new(Arc::new(clock.clone()), 2);
    let base = upst.start().await;
    let t = issue(&PublicKey::from(&key), start, start + 2, None);
    persist(&s, "auto", &t, &key);
    let prov = Arc::new(
        provider(&s, "auto")
            .auto_refresh(true)
            .refresh_endpoint(&base)
            .clock(Arc::new(clock.clone())),
    );
    assert_eq!(
        prov.refresh_url(),
        Some(format!("{base}/v1/authentication/refresh"))
    );

    // 40 steps of 250 ms = 10 s = five token lifetimes; a request is signed at every step.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let c = prov.credentials().await.unwrap();
        let now = clock.now();
        let exp = c.expires_at().unwrap();
        assert!(secs(now) <= secs(exp), "expired token at {now:?}");
        // A refresh happens once less than half the lifetime (1 s) is left.
        assert!(now + Duration::from_secs(1) < exp, "{now:?} {exp:?}");
        seen.insert(c.token().unwrap().to_string());
        // The signature the client would send verifies with the bound key.
        let signed = signer::sign(
            &signer::Request {
                method: "GET",
                target: "/n",
                host: "objectstorage.us-ashburn-1.oraclecloud.com",
                headers: &[],
                body: signer::Body::Bytes(&[]),
            },
            &signer::SignOptions::default(),
            c.key_id(),
            c.private_key(),
            now,
        )
        .unwrap();
        assert!(signed.authorization.contains("keyId=\"ST$"));
        clock.advance(Duration::from_millis(250));
    }
    assert!(upst.failures().is_empty(), "{:?}", upst.failures());
    let n = upst.refreshes.load(Ordering::SeqCst);
    // Refreshed at 1 s, 2 s, … 9 s: each time exactly one second of the token was left.
    assert_eq!(n, 9);
    assert_eq!(seen.len(), n + 1);
    // The file holds the last token, without a newline.
    let last = prov.credentials().await.unwrap();
    let on_disk = std::fs::read_to_string(s.token_dir.join("auto/token")).unwrap();
    assert_eq!(Some(on_disk.as_str()), last.token());
    #[cfg(unix)]
    assert_eq!(mode(&s.token_dir.join("auto/token")), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_refresh_with_real_short_lifetimes() {
    let s = sess_dir();
    let key = session_key();
    let upst = Upst::new(Arc::new(SystemClock), 2);
    let base = upst.start().await;
    let now = now_secs();
    persist(
        &s,
        "rt",
        &issue(&PublicKey::from(&key), now, now + 2, None),
        &key,
    );
    let prov = provider(&s, "rt")
        .auto_refresh(true)
        .refresh_endpoint(&base);
    let end = std::time::Instant::now() + Duration::from_millis(4500);
    while std::time::Instant::now() < end {
        let c = prov.credentials().await.unwrap();
        assert!(now_secs() <= secs(c.expires_at().unwrap()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(upst.failures().is_empty(), "{:?}", upst.failures());
    assert!(upst.refreshes.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_refresh_is_single_flight() {
    let s = sess_dir();
    let key = session_key();
    let start = 1_800_000_000;
    let clock = ManualClock::new(at(start));
    let upst = Upst::with_delay(Arc::new(clock.clone()), 600, Duration::from_millis(150));
    let base = upst.start().await;
    persist(
        &s,
        "sf",
        &issue(&PublicKey::from(&key), start, start + 600, None),
        &key,
    );
    let prov = Arc::new(
        provider(&s, "sf")
            .auto_refresh(true)
            .refresh_endpoint(&base)
            .clock(Arc::new(clock.clone())),
    );
    clock.advance(Duration::from_secs(590));
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let p = prov.clone();
            tokio::spawn(async move { p.credentials().await.unwrap() })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap().token().unwrap().to_string());
    }
    assert_eq!(upst.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(tokens.len(), 1);
    assert!(upst.failures().is_empty(), "{:?}", upst.failures());
}

#[tokio::test]
async fn auto_refresh_respects_sess_exp_and_401() {
    let s = sess_dir();
    let key = session_key();
    let start = 1_800_000_000;
    let clock = ManualClock::new(at(start));
    let upst = Upst::new(Arc::new(clock.clone()), 10);
    let base = upst.start().await;
    // The session ends 25 s after login; tokens live 10 s.
    persist(
        &s,
        "end",
        &issue(&PublicKey::from(&key), start, start + 10, Some(start + 25)),
        &key,
    );
    let prov = provider(&s, "end")
        .auto_refresh(true)
        .refresh_endpoint(&base)
        .clock(Arc::new(clock.clone()));
    let mut last_exp = 0;
    for _ in 0..26 {
        let c = prov.credentials().await.unwrap();
        last_exp = secs(c.expires_at().unwrap());
        assert!(last_exp <= start + 25);
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(last_exp, start + 25);
    // Refreshes at ~5 s and ~10 s left… the token that reaches sess_exp is not refreshed again.
    let n = upst.refreshes.load(Ordering::SeqCst);
    assert!((2..=4).contains(&n), "{n}");
    clock.set(at(start + 26));
    let e = prov.credentials().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("security_token: {}", session_over_message("end"))
    );
    assert_eq!(upst.refreshes.load(Ordering::SeqCst), n);
    assert!(upst.failures().is_empty(), "{:?}", upst.failures());

    // The service refusing (401) also ends it: the token is used until exp, then the message.
    let s = sess_dir();
    let clock = ManualClock::new(at(start));
    let upst = Upst::new(Arc::new(clock.clone()), 10);
    upst.refuse.store(true, Ordering::SeqCst);
    let base = upst.start().await;
    let t = issue(
        &PublicKey::from(&key),
        start,
        start + 10,
        Some(start + 86400),
    );
    persist(&s, "gone", &t, &key);
    let prov = provider(&s, "gone")
        .auto_refresh(true)
        .refresh_endpoint(&base)
        .clock(Arc::new(clock.clone()));
    clock.set(at(start + 8));
    assert_eq!(prov.credentials().await.unwrap().token(), Some(t.as_str()));
    clock.set(at(start + 11));
    let e = prov.credentials().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("security_token: {}", session_over_message("gone"))
    );
}

#[tokio::test]
async fn refresh_failure_keeps_the_valid_token() {
    let s = sess_dir();
    let key = session_key();
    let start = 1_800_000_000;
    let clock = ManualClock::new(at(start));
    let t = issue(&PublicKey::from(&key), start, start + 10, None);
    persist(&s, "down", &t, &key);
    let prov = provider(&s, "down")
        .auto_refresh(true)
        .refresh_endpoint("http://127.0.0.1:9")
        .clock(Arc::new(clock.clone()));
    clock.set(at(start + 8));
    assert_eq!(prov.credentials().await.unwrap().token(), Some(t.as_str()));
    clock.set(at(start + 11));
    let e = prov.credentials().await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(
        e.to_string().starts_with(
            "security_token: the session token for profile down expired and refreshing it failed: could not reach http://127.0.0.1:9/v1/authentication/refresh"
        ),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_providers_on_the_same_files_refresh_once() {
    let s = sess_dir();
    let key = session_key();
    let start = 1_800_000_000;
    let clock = ManualClock::new(at(start));
    let upst = Upst::with_delay(Arc::new(clock.clone()), 600, Duration::from_millis(300));
    let base = upst.start().await;
    persist(
        &s,
        "two",
        &issue(&PublicKey::from(&key), start, start + 600, None),
        &key,
    );
    let mk = || {
        Arc::new(
            provider(&s, "two")
                .auto_refresh(true)
                .refresh_endpoint(&base)
                .clock(Arc::new(clock.clone())),
        )
    };
    let (a, b) = (mk(), mk());
    clock.advance(Duration::from_secs(500));
    let (ca, cb) = tokio::join!(a.credentials(), b.credentials());
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    assert_eq!(upst.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(ca.token(), cb.token());
    let on_disk = std::fs::read_to_string(s.token_dir.join("two/token")).unwrap();
    assert_eq!(Some(on_disk.as_str()), ca.token());
    assert_eq!(secs(ca.expires_at().unwrap()), start + 1100);
    assert!(s.token_dir.join("two/token.lock").exists());
    assert!(upst.failures().is_empty(), "{:?}", upst.failures());
}

/// Runs as a child process of `two_processes_refresh_once` (a no-op otherwise).
#[tokio::test]
async fn child_refresher() {
    let Ok(token_file) = std::env::var("OCIAUTH_TEST_CHILD_TOKEN_FILE") else {
        return;
    };
    let url = std::env::var("OCIAUTH_TEST_CHILD_URL").unwrap();
    let seen = std::env::var("OCIAUTH_TEST_CHILD_SEEN").unwrap();
    let token_file = PathBuf::from(token_file);
    let key = session::load_key_file(&token_file.with_file_name("oci_api_key.pem"), None).unwrap();
    let http = session::default_http_client().unwrap();
    let out = session::refresh_token_file(
        &http,
        &url,
        &token_file,
        &key,
        Some(&seen),
        at(1_800_000_500),
    )
    .await
    .unwrap();
    println!("CHILD-RESULT elsewhere={}", out.refreshed_elsewhere);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_once() {
    let s = sess_dir();
    let key = session_key();
    let start = 1_800_000_000;
    let clock = ManualClock::new(at(start + 500));
    let upst = Upst::with_delay(Arc::new(clock.clone()), 600, Duration::from_millis(700));
    let base = upst.start().await;
    let old = issue(&PublicKey::from(&key), start, start + 600, None);
    let p = persist(&s, "proc", &old, &key);
    let url = format!("{base}/v1/authentication/refresh");

    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_refresher",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OCIAUTH_TEST_CHILD_TOKEN_FILE", &p.token_file)
        .env("OCIAUTH_TEST_CHILD_URL", &url)
        .env("OCIAUTH_TEST_CHILD_SEEN", &old)
        .output();
    let http = session::default_http_client().unwrap();
    let ours =
        session::refresh_token_file(&http, &url, &p.token_file, &key, Some(&old), clock.now());
    let (child, ours) = tokio::join!(child, ours);
    let child = child.unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
    let ours = ours.unwrap();
    let child_elsewhere = stdout.contains("CHILD-RESULT elsewhere=true");
    assert!(stdout.contains("CHILD-RESULT elsewhere="), "{stdout}");
    // Exactly one of the two sent the refresh; the other found the new token.
    assert_ne!(child_elsewhere, ours.refreshed_elsewhere);
    assert_eq!(upst.refreshes.load(Ordering::SeqCst), 1);
    let on_disk = std::fs::read_to_string(&p.token_file).unwrap();
    assert_eq!(on_disk, ours.token);
    assert_ne!(on_disk, old);
    jwt::verify_rs256(&on_disk, &PublicKey::from(&server_key())).unwrap();
    assert!(upst.failures().is_empty(), "{:?}", upst.failures());
}

// =============================================================================================
// `session refresh`, `validate`, GenerateUpst
// =============================================================================================

#[tokio::test]
async fn refresh_plan_and_cli_messages() {
    let s = sess_dir();
    let key = session_key();
    let clock = ManualClock::new(at(1_800_000_000));
    let upst = Upst::new(Arc::new(clock.clone()), 3600);
    let base = upst.start().await;
    let t = issue(&PublicKey::from(&key), 1_800_000_000, 1_800_003_600, None);
    persist(&s, "r", &t, &key);
    let env = MapEnv::new().with("HOME", s.root.to_str().unwrap());
    let cfg = ociauth::config::ConfigFile::load(&s.config).unwrap();

    let plan =
        session::RefreshPlan::from_profile(&cfg.profile("r").unwrap(), &env, None, None).unwrap();
    assert_eq!(
        msg::attempting_refresh(&plan.url),
        "Attempting to refresh token from https://auth.us-ashburn-1.oraclecloud.com/v1/authentication/refresh"
    );
    let plan =
        session::RefreshPlan::from_profile(&cfg.profile("r").unwrap(), &env, None, Some(&base))
            .unwrap();
    let http = session::default_http_client().unwrap();
    clock.advance(Duration::from_secs(60));
    let new = plan.run(&http, clock.now()).await.unwrap();
    assert_ne!(new, t);
    assert_eq!(
        std::fs::read_to_string(s.token_dir.join("r/token")).unwrap(),
        new
    );

    upst.refuse.store(true, Ordering::SeqCst);
    let e = plan.run(&http, clock.now()).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "Your session is no longer valid and cannot be refreshed. Please use 'oci session authenticate' to create a new session."
    );
    assert!(upst.failures().is_empty(), "{:?}", upst.failures());

    let e = session::RefreshPlan::from_profile(&cfg.profile("DEFAULT").unwrap(), &env, None, None)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ERROR: Cannot refresh a profile that does not have a value for 'security_token_file'"
    );
    std::fs::remove_file(s.token_dir.join("r/token")).unwrap();
    let e = session::RefreshPlan::from_profile(&cfg.profile("r").unwrap(), &env, None, None)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "ERROR: Cannot refresh token, 'security_token_file' does not exist: {}",
            s.token_dir.join("r/token").display()
        )
    );

    // Another status: the CLI's message (typo included) with the body.
    let base = serve(Arc::new(|_req| {
        Box::pin(async { (500, "{\"code\": \"InternalError\"}".to_string()) })
    }))
    .await;
    let e = session::request_refresh(
        &http,
        &format!("{base}/v1/authentication/refresh"),
        &t,
        &key,
        clock.now(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ERROR: Failed to refresh sesison. Error: {\"code\": \"InternalError\"}"
    );
    assert!(e.is_transient());
}

#[tokio::test]
async fn refresh_request_is_what_the_cli_sends() {
    let key = session_key();
    let seen: Arc<Mutex<Option<Req>>> = Arc::default();
    let rec = seen.clone();
    let base = serve(Arc::new(move |req| {
        *rec.lock().unwrap() = Some(req);
        Box::pin(async { (200, "{\"token\": \" new.tok.en \"}".to_string()) })
    }))
    .await;
    let http = session::default_http_client().unwrap();
    let now = at(1_800_000_000);
    let got = session::request_refresh(
        &http,
        &format!("{base}/v1/authentication/refresh"),
        "a.b.c\n",
        &key,
        now,
    )
    .await
    .unwrap();
    assert_eq!(got, "new.tok.en");
    let req = seen.lock().unwrap().clone().unwrap();
    assert_eq!(req.body, br#"{"currentToken": "a.b.c"}"#);
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("accept"), Some("*/*"));
    assert_eq!(req.header("content-length"), Some("25"));
    assert_eq!(req.header("date"), Some("Fri, 15 Jan 2027 08:00:00 GMT"));
    assert_eq!(req.header("host"), Some(&base["http://".len()..]));
    let auth = signer::parse_authorization(req.header("authorization").unwrap()).unwrap();
    assert_eq!(auth.key_id, "ST$a.b.c");
    assert_eq!(
        auth.headers.join(" "),
        "date (request-target) host content-length content-type x-content-sha256"
    );
    let ss = signer::signing_string(&auth.headers, "POST", &req.target, |n| req.header(n)).unwrap();
    assert!(
        PublicKey::from(&key).verify_sha256(ss.as_bytes(), &B64.decode(&auth.signature).unwrap())
    );
    assert!(
        !req.headers
            .iter()
            .any(|(k, _)| k.to_ascii_lowercase().starts_with("opc-"))
    );
}

#[test]
fn validate_local_and_messages() {
    let key = session_key();
    let t = issue(&PublicKey::from(&key), 1_800_000_000, 1_800_003_600, None);
    assert_eq!(
        session::validate_local(&t, at(1_800_003_600)).unwrap(),
        at(1_800_003_600)
    );
    let e = session::validate_local(&t, at(1_800_003_601)).unwrap_err();
    assert_eq!(e.to_string(), "Session has expired");
    assert_eq!(e.to_string(), msg::SESSION_EXPIRED);
    assert_eq!(
        msg::valid_until(at(1_800_003_600), time::UtcOffset::UTC),
        "Session is valid until 2027-01-15 09:00:00"
    );
    assert_eq!(
        msg::valid_until(
            at(1_800_003_600),
            time::UtcOffset::from_hms(-5, 0, 0).unwrap()
        ),
        "Session is valid until 2027-01-15 04:00:00"
    );
    assert!(matches!(
        session::validate_local("nope", at(0)),
        Err(SessionError::BadToken(_))
    ));
    let info =
        session::token_info(&issue(&PublicKey::from(&key), 5, 6, Some(1_800_086_400))).unwrap();
    assert_eq!(info.user.as_deref(), Some(USER));
    assert_eq!(info.tenancy.as_deref(), Some(TENANCY));
    assert_eq!(info.issued_at, Some(at(5)));
    assert_eq!(info.expires_at, Some(at(6)));
    assert_eq!(info.session_expires_at, Some(at(1_800_086_400)));
    assert_eq!(
        msg::try_out("oci", "/h/.oci/config", "p", false),
        "\n    Try out your newly created session credentials with the following example command:\n\n    oci iam region list --config-file /h/.oci/config --profile p --auth security_token\n"
    );
}

#[tokio::test]
async fn generate_upst_sends_the_cli_body() {
    let api_key = PrivateKey::generate().unwrap();
    let fp = api_key.fingerprint().to_string();
    let seen: Arc<Mutex<Option<Req>>> = Arc::default();
    let rec = seen.clone();
    let base = serve(Arc::new(move |req| {
        *rec.lock().unwrap() = Some(req);
        Box::pin(async { (200, "{\"token\": \"u.p.st\"}".to_string()) })
    }))
    .await;
    let provider = Arc::new(ApiKeyProvider::from_key(
        TENANCY,
        USER,
        &fp,
        api_key.clone(),
    ));
    let client = Client::new(
        provider,
        ClientOptions {
            no_retry: true,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let session_pub = PublicKey::from(&session_key());
    let token = session::generate_upst(&client, &format!("{base}/v1"), &session_pub, 30)
        .await
        .unwrap();
    assert_eq!(token, "u.p.st");
    let req = seen.lock().unwrap().clone().unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/v1/token/upst/actions/GenerateUpst");
    let want = format!(
        "{{\"publicKey\": \"{}\", \"sessionExpirationInMinutes\": \"30\"}}",
        session_pub.to_pem().replace('\n', "\\n")
    );
    assert_eq!(String::from_utf8(req.body.clone()).unwrap(), want);
    let auth = signer::parse_authorization(req.header("authorization").unwrap()).unwrap();
    assert_eq!(auth.key_id, format!("{TENANCY}/{USER}/{fp}"));

    for (m, text) in [
        (61, "Session expiration cannot be longer than 60 minutes"),
        (4, "Session expiration cannot be shorter than 5 minutes"),
    ] {
        let e = session::generate_upst(&client, &base, &session_pub, m)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), text);
    }
    assert!(session::check_session_minutes(5).is_ok());
    assert!(session::check_session_minutes(60).is_ok());
}

// =============================================================================================
// Export / import / terminate
// =============================================================================================

fn zip_names(path: &Path) -> Vec<String> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
        .collect()
}

fn zip_read(path: &Path, name: &str) -> Vec<u8> {
    use std::io::Read as _;
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    z.by_name(name).unwrap().read_to_end(&mut out).unwrap();
    out
}

#[test]
fn export_import_round_trip() {
    let a = sess_dir();
    std::fs::write(&a.config, "[DEFAULT]\nuser=ocid1.user.oc1..inherited\n").unwrap();
    let key = session_key();
    let token = issue(&PublicKey::from(&key), 1, 2, None);
    let p = persist(&a, "sess1", &token, &key);
    let env = MapEnv::new().with("HOME", a.root.to_str().unwrap());

    let out = a.root.join("export");
    let zip_path = session::export_archive(&a.config, "sess1", &out, false, &env).unwrap();
    assert_eq!(zip_path, a.root.join("export.zip"));
    #[cfg(unix)]
    assert_eq!(mode(&zip_path), 0o600);
    assert_eq!(zip_names(&zip_path), ["config", "oci_api_key.pem", "token"]);
    assert_eq!(
        String::from_utf8(zip_read(&zip_path, "config")).unwrap(),
        format!(
            "[sess1]\nfingerprint = {}\nkey_file = oci_api_key.pem\ntenancy = {TENANCY}\nregion = us-ashburn-1\nsecurity_token_file = token\nuser = ocid1.user.oc1..inherited\n\n",
            key.fingerprint()
        )
    );
    assert_eq!(zip_read(&zip_path, "token"), token.as_bytes());
    assert_eq!(
        zip_read(&zip_path, "oci_api_key.pem"),
        std::fs::read(p.key_file.as_ref().unwrap()).unwrap()
    );
    let e = session::export_archive(&a.config, "sess1", &out, false, &env).unwrap_err();
    assert!(matches!(e, SessionError::ArchiveExists(_)));
    session::export_archive(&a.config, "sess1", &out, true, &env).unwrap();
    let e = session::export_archive(&a.config, "DEFAULT", &out, true, &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ERROR: Specified profile is not a valid token profile. Please specify valid token profile with --profile"
    );

    // Import into another home.
    let b = sess_dir();
    std::fs::write(&b.config, "[keep]\nregion=x\n").unwrap();
    let imported = session::import_archive(
        &zip_path,
        &b.config,
        &b.token_dir,
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(imported.profile, "sess1");
    let dir = b.token_dir.join("sess1");
    assert_eq!(imported.dir, dir);
    assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), token);
    assert_eq!(
        std::fs::read(dir.join("oci_api_key.pem")).unwrap(),
        std::fs::read(p.key_file.as_ref().unwrap()).unwrap()
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("token")), 0o600);
        assert_eq!(mode(&dir.join("oci_api_key.pem")), 0o600);
    }
    assert_eq!(
        std::fs::read_to_string(&b.config).unwrap(),
        format!(
            "[keep]\nregion=x\n\n[sess1]\nfingerprint={}\nkey_file={}\ntenancy={TENANCY}\nregion=us-ashburn-1\nsecurity_token_file={}\n",
            key.fingerprint(),
            dir.join("oci_api_key.pem").display(),
            dir.join("token").display()
        )
    );
    // A collision needs force (or another name).
    let e = session::import_archive(
        &zip_path,
        &b.config,
        &b.token_dir,
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, SessionError::ProfileExists(ref n) if n == "sess1"),
        "{e}"
    );
    let renamed = session::import_archive(
        &zip_path,
        &b.config,
        &b.token_dir,
        &ImportOptions {
            force: false,
            rename: Some("copy".into()),
        },
    )
    .unwrap();
    assert_eq!(renamed.profile, "copy");
    session::import_archive(
        &zip_path,
        &b.config,
        &b.token_dir,
        &ImportOptions {
            force: true,
            rename: None,
        },
    )
    .unwrap();
    let cfg = ociauth::config::ConfigFile::load(&b.config).unwrap();
    assert_eq!(
        cfg.section_names().collect::<Vec<_>>(),
        ["keep", "sess1", "copy"]
    );

    // Terminate: the checks in the CLI's order, then the section and directory go.
    let e = session::terminate(&b.config, "keep", &b.token_dir).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ERROR: Cannot terminate a profile that does not have a value for 'security_token_file'"
    );
    let e = session::terminate(&b.config, "nope", &b.token_dir).unwrap_err();
    assert_eq!(e.to_string(), "ERROR: Profile does not exist");
    let t = session::terminate(&b.config, "copy", &b.token_dir).unwrap();
    assert_eq!(t.removed_dir, Some(b.token_dir.join("copy")));
    assert!(!b.token_dir.join("copy").exists());
    assert!(b.token_dir.join("sess1").exists());
    let cfg = ociauth::config::ConfigFile::load(&b.config).unwrap();
    assert_eq!(cfg.section_names().collect::<Vec<_>>(), ["keep", "sess1"]);
    assert_eq!(
        msg::terminated("copy", "/c"),
        "Successfully removed profile: copy from config: /c"
    );
    std::fs::write(
        &b.config,
        format!(
            "[DEFAULT]\nsecurity_token_file={}\n",
            dir.join("token").display()
        ),
    )
    .unwrap();
    let e = session::terminate(&b.config, "DEFAULT", &b.token_dir).unwrap_err();
    assert_eq!(e.to_string(), "ERROR: Cannot terminate DEFAULT profile");
}

fn write_zip(path: &Path, files: &[(&str, &[u8])]) {
    use std::io::Write as _;
    let mut zw = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data) in files {
        zw.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zw.write_all(data).unwrap();
    }
    zw.finish().unwrap();
}

#[test]
fn import_refuses_unsafe_archives() {
    let s = sess_dir();
    let archive = s.root.join("a.zip");
    let import =
        |opts: &ImportOptions| session::import_archive(&archive, &s.config, &s.token_dir, opts);

    let e = session::import_archive(
        &s.root.join("missing.zip"),
        &s.config,
        &s.token_dir,
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "File {} does not exist.",
            s.root.join("missing.zip").display()
        )
    );

    write_zip(&archive, &[("token", b"t")]);
    let e = import(&ImportOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Session archive {} is invalid. Did not contain file 'config'.",
            archive.display()
        )
    );

    write_zip(&archive, &[("config", b"[p]\nkey_file = k\n")]);
    let e = import(&ImportOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ERROR: Cannot import non token based profile (profile must contain value for security_token_file)."
    );

    // A value naming a path outside the session directory is refused before anything is written.
    for bad in ["../../evil", "/etc/passwd", "..", "sub/token"] {
        let cfg = format!("[p]\nsecurity_token_file = token\nkey_file = {bad}\n");
        write_zip(
            &archive,
            &[
                ("config", cfg.as_bytes()),
                ("token", b"t"),
                ("../../evil", b"x"),
            ],
        );
        let e = import(&ImportOptions::default()).unwrap_err();
        assert!(
            matches!(e, SessionError::UnsafeArchivePath { .. }),
            "{bad}: {e}"
        );
    }
    assert!(!s.token_dir.exists());
    assert!(!s.root.parent().unwrap().join("evil").exists());

    // An invalid profile name (the last section) is refused.
    write_zip(
        &archive,
        &[
            (
                "config",
                b"[a]\nsecurity_token_file = token\n[../x]\nsecurity_token_file = token\n",
            ),
            ("token", b"t"),
        ],
    );
    let e = import(&ImportOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid profile name '../x'. Profile names may only contain letters, numbers, '.', '_', '-', or '@'."
    );
    // A named file missing from the archive.
    write_zip(
        &archive,
        &[("config", b"[p]\nsecurity_token_file = token\n")],
    );
    let e = import(&ImportOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("does not contain the file 'token'"),
        "{e}"
    );
    assert!(!s.token_dir.exists());
    // Members the config does not name (even with traversal names) are never extracted.
    write_zip(
        &archive,
        &[
            ("config", b"[p]\nsecurity_token_file = token\n"),
            ("token", b"tok"),
            ("../outside", b"x"),
        ],
    );
    let imported = import(&ImportOptions::default()).unwrap();
    assert_eq!(std::fs::read(imported.dir.join("token")).unwrap(), b"tok");
    assert_eq!(std::fs::read_dir(&imported.dir).unwrap().count(), 1);
    assert!(!s.token_dir.join("outside").exists());
}
