//! The signing client against a small in-test HTTP/1.1 server that records the raw request line,
//! headers (names as received, in order) and body, and verifies every signature with the
//! server-side helpers (`signer::parse_authorization`, `signer::signing_string`,
//! `PublicKey::verify_sha256`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::net::TcpListener;

use ociauth::client::{Client, ClientOptions, OciRequest, RequestBody};
use ociauth::credentials::{BoxFuture, StaticProvider};
use ociauth::keys::PublicKey;
use ociauth::object_storage::{self as os, ListObjects};
use ociauth::providers::api_key::ApiKeyProvider;
use ociauth::signer;
use ociauth::{Credentials, CredentialsProvider, Error, PrivateKey};

const TENANCY: &str = "ocid1.tenancy.oc1..aaaatenancy";
const USER: &str = "ocid1.user.oc1..aaaauser";

fn key() -> PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate().unwrap()).clone()
}

fn provider() -> Arc<dyn CredentialsProvider> {
    let k = key();
    Arc::new(ApiKeyProvider::from_key(
        TENANCY,
        USER,
        k.fingerprint(),
        k.clone(),
    ))
}

fn key_id() -> String {
    format!("{TENANCY}/{USER}/{}", key().fingerprint())
}

fn fast_opts() -> ClientOptions {
    ClientOptions {
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..ClientOptions::default()
    }
}

fn client(opts: ClientOptions) -> Client {
    Client::new(provider(), opts).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The recording server
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Recorded {
    request_line: String,
    method: String,
    target: String,
    /// Names as received, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn names(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect()
    }

    /// Verify the signature as the emulator does; returns the signed header list.
    fn verify(&self) -> Vec<String> {
        let auth = self
            .header("authorization")
            .expect("no authorization header");
        let params = signer::parse_authorization(auth).unwrap();
        assert_eq!(params.key_id, key_id());
        assert_eq!(params.algorithm.as_deref(), Some("rsa-sha256"));
        assert_eq!(params.version.as_deref(), Some("1"));
        let ss = signer::signing_string(&params.headers, &self.method, &self.target, |n| {
            self.header(n).map(str::trim)
        })
        .unwrap();
        let sig = B64.decode(&params.signature).unwrap();
        let pubkey = PublicKey::from(&key());
        assert!(
            pubkey.verify_sha256(ss.as_bytes(), &sig),
            "signature does not verify over:\n{ss}"
        );
        if params.headers.iter().any(|h| h == "x-content-sha256") {
            assert_eq!(
                self.header("x-content-sha256").unwrap(),
                signer::body_sha256(&self.body)
            );
            assert_eq!(
                self.header("content-length").unwrap(),
                self.body.len().to_string()
            );
        }
        params.headers
    }
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    }
}

impl Reply {
    fn with(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

#[derive(Clone)]
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    tls: bool,
}

impl Server {
    /// Answers with `script` in order, then `200 "mynamespace"` forever.
    async fn start(script: Vec<Reply>) -> Self {
        Self::start_inner(script, None).await
    }

    async fn start_inner(script: Vec<Reply>, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server {
            addr: listener.local_addr().unwrap(),
            log: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
            tls: tls.is_some(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(sock).await {
                                s.serve(stream).await;
                            }
                        }
                        None => s.serve(sock).await,
                    }
                });
            }
        });
        server
    }

    fn url(&self, target: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{target}", self.addr)
    }

    fn base(&self) -> String {
        self.url("")
    }

    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    fn only(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(r.len(), 1, "expected exactly one request: {r:#?}");
        r.into_iter().next().unwrap()
    }

    /// One request per connection (`connection: close`).
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) {
        let mut rd = BufReader::new(stream);
        let mut line = String::new();
        if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let request_line = line.trim_end_matches("\r\n").to_string();
        let mut parts = request_line.splitn(3, ' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end_matches("\r\n");
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if rd.read_exact(&mut body).await.is_err() {
            return;
        }
        self.log.lock().unwrap().push(Recorded {
            request_line,
            method,
            target,
            headers,
            body,
        });
        let r = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| reply(200, "\"mynamespace\""));
        let mut out = format!("HTTP/1.1 {} X\r\n", r.status);
        for (k, v) in &r.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            r.body.len()
        ));
        let mut stream = rd.into_inner();
        let _ = stream.write_all(out.as_bytes()).await;
        let _ = stream.write_all(&r.body).await;
        let _ = stream.shutdown().await;
    }
}

fn is_request_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

// ---------------------------------------------------------------------------------------------
// Signing and headers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn get_namespace_sends_the_sdk_headers_and_a_valid_signature() {
    let srv = Server::start(vec![]).await;
    let c = client(ClientOptions::default());
    let ns = os::get_namespace(&c, &srv.base(), None).await.unwrap();
    assert_eq!(ns, "mynamespace");

    let r = srv.only();
    assert_eq!(r.request_line, "GET /n HTTP/1.1");
    assert_eq!(r.verify(), ["date", "(request-target)", "host"]);
    assert_eq!(
        r.names(),
        [
            "user-agent",
            "accept",
            "content-type",
            "opc-client-retries",
            "opc-client-info",
            "opc-request-id",
            "date",
            "host",
            "authorization"
        ]
    );
    assert_eq!(r.header("host").unwrap(), srv.addr.to_string());
    assert_eq!(r.header("accept").unwrap(), "application/json");
    assert_eq!(r.header("content-type").unwrap(), "application/json");
    assert_eq!(r.header("opc-client-retries").unwrap(), "true");
    assert_eq!(
        r.header("opc-client-info").unwrap(),
        format!("ociauth/{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(is_request_id(r.header("opc-request-id").unwrap()));
    let ua = r.header("user-agent").unwrap();
    assert!(
        ua.starts_with(&format!("ociauth/{} (rust; ", env!("CARGO_PKG_VERSION"))),
        "{ua}"
    );
    assert!(httpdate::parse_http_date(r.header("date").unwrap()).is_ok());
}

#[tokio::test]
async fn namespace_with_compartment_and_user_agent_and_request_id_options() {
    let srv = Server::start(vec![]).await;
    let c = client(ClientOptions {
        user_agent: Some("my-tool/2".into()),
        request_id: Some("MYREQUESTID".into()),
        no_retry: true,
        ..ClientOptions::default()
    });
    os::get_namespace(
        &c,
        &format!("{}/", srv.base()),
        Some("ocid1.compartment.oc1..x"),
    )
    .await
    .unwrap();
    let r = srv.only();
    assert_eq!(r.target, "/n?compartmentId=ocid1.compartment.oc1..x");
    r.verify();
    assert!(r.header("user-agent").unwrap().ends_with(") my-tool/2"));
    assert_eq!(r.header("opc-request-id").unwrap(), "MYREQUESTID");
    assert_eq!(
        r.header("opc-client-retries"),
        None,
        "no retries, no header"
    );
}

#[tokio::test]
async fn tricky_targets_go_on_the_wire_exactly_as_given_and_are_signed_so() {
    let srv = Server::start(vec![]).await;
    let c = client(fast_opts());
    let targets = [
        "/n/ns/b/bk/o/a%2Fb",
        "/n/ns/b/bk/o/a%2fb",
        "/n/ns/b/bk/o/with%20space",
        "/n/ns/b/bk/o/%C3%A9t%C3%A9%E2%82%AC",
        "/n/ns/b/bk/o/a+b",
        "/n/ns/b/bk/o?prefix=x+y%2Fz&fields=name,size",
        "/n/ns/b/bk/o/~tilde_-.x",
        "/n/ns/b/bk/o/UPPER%3Flower",
        "/N/Case/Kept",
    ];
    for t in targets {
        c.send(OciRequest::get(srv.url(t))).await.unwrap();
    }
    let reqs = srv.requests();
    assert_eq!(reqs.len(), targets.len());
    for (r, t) in reqs.iter().zip(targets) {
        assert_eq!(r.target, t);
        assert_eq!(r.request_line, format!("GET {t} HTTP/1.1"));
        r.verify();
    }
}

#[tokio::test]
async fn characters_that_cannot_go_on_the_wire_are_encoded_and_signed_as_sent() {
    let srv = Server::start(vec![]).await;
    let c = client(fast_opts());
    c.send(OciRequest::get(srv.url("/o/a b/é"))).await.unwrap();
    let r = srv.only();
    assert_eq!(r.target, "/o/a%20b/%C3%A9");
    r.verify();
}

#[tokio::test]
async fn dot_segments_are_refused_not_rewritten() {
    let srv = Server::start(vec![]).await;
    let c = client(fast_opts());
    for t in [
        "/n/ns/b/bk/o/%2E%2E",
        "/n/ns/b/bk/o/../x",
        "/n/ns/b/bk/o/%2e/x",
    ] {
        let e = c.send(OciRequest::get(srv.url(t))).await.unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(_)), "{t}: {e}");
        assert!(e.to_string().contains("cannot be sent unchanged"), "{e}");
    }
    let e = os::delete_object(&c, &srv.base(), "ns", "bk", "..")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
    assert!(srv.requests().is_empty());
}

#[tokio::test]
async fn object_names_are_encoded_like_pysdk() {
    let srv = Server::start(vec![reply(204, ""), reply(204, "")]).await;
    let c = client(fast_opts());
    os::delete_object(&c, &srv.base(), "ns", "b k", "dir/sub file+é.txt")
        .await
        .unwrap();
    os::list_objects(
        &c,
        &srv.base(),
        "ns",
        "bk",
        &ListObjects {
            prefix: Some("dir/a b"),
            limit: Some(10),
            fields: Some("name,size"),
            start_after: Some("x"),
            ..ListObjects::default()
        },
    )
    .await
    .unwrap();
    // Both request lines are what PySDK 2.189's ObjectStorageClient sent for the same calls.
    let r = srv.requests();
    assert_eq!(
        r[0].request_line,
        "DELETE /n/ns/b/b%20k/o/dir%2Fsub%20file%2B%C3%A9.txt HTTP/1.1"
    );
    assert_eq!(r[0].verify(), ["date", "(request-target)", "host"]);
    assert_eq!(
        r[1].target,
        "/n/ns/b/bk/o?prefix=dir%2Fa+b&limit=10&fields=name%2Csize&startAfter=x"
    );
    r[1].verify();
}

#[tokio::test]
async fn post_signs_body_hash_and_length() {
    let srv = Server::start(vec![
        reply(200, r#"{"name":"b","etag":"e1"}"#).with("etag", "e1"),
    ])
    .await;
    let c = client(fast_opts());
    let resp = os::create_bucket(&c, &srv.base(), "ns", "ocid1.compartment.oc1..x", "b", None)
        .await
        .unwrap();
    assert_eq!(resp.data["name"], "b");
    assert_eq!(resp.cli_headers(), [("etag", "e1")]);
    let r = srv.only();
    assert_eq!(r.request_line, "POST /n/ns/b HTTP/1.1");
    assert_eq!(
        r.verify(),
        [
            "date",
            "(request-target)",
            "host",
            "content-length",
            "content-type",
            "x-content-sha256"
        ]
    );
    assert_eq!(
        String::from_utf8(r.body.clone()).unwrap(),
        r#"{"name": "b", "compartmentId": "ocid1.compartment.oc1..x"}"#
    );
    assert_eq!(r.header("content-length").unwrap(), "58");
    assert_eq!(r.header("content-type").unwrap(), "application/json");
}

#[tokio::test]
async fn post_with_empty_body_signs_zero_length_and_empty_hash() {
    let srv = Server::start(vec![]).await;
    let c = client(fast_opts());
    c.send(OciRequest::new("post", srv.url("/x")))
        .await
        .unwrap();
    let r = srv.only();
    assert_eq!(r.request_line, "POST /x HTTP/1.1");
    assert_eq!(r.verify().len(), 6);
    assert_eq!(r.header("content-length").unwrap(), "0");
    assert_eq!(
        r.header("x-content-sha256").unwrap(),
        signer::EMPTY_BODY_SHA256
    );
}

#[tokio::test]
async fn caller_headers_override_defaults_but_not_host_or_authorization() {
    let srv = Server::start(vec![]).await;
    let c = client(fast_opts());
    c.send(
        OciRequest::new("PATCH", srv.url("/x"))
            .header("Content-Type", "text/plain")
            .header("Host", "evil.example")
            .header("Authorization", "Basic abc")
            .header("opc-request-id", "CALLERID")
            .header("if-match", "etag1")
            .body(RequestBody::Bytes(Bytes::from_static(b"hello"))),
    )
    .await
    .unwrap();
    let r = srv.only();
    r.verify();
    assert_eq!(r.header("content-type").unwrap(), "text/plain");
    assert_eq!(r.header("host").unwrap(), srv.addr.to_string());
    assert_eq!(r.header("opc-request-id").unwrap(), "CALLERID");
    assert_eq!(r.header("if-match").unwrap(), "etag1");
    assert_eq!(r.body, b"hello");
}

fn big_file(dir: &tempfile::TempDir, len: usize) -> (PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let p = dir.path().join("upload.bin");
    std::fs::write(&p, &data).unwrap();
    (p, data)
}

#[tokio::test]
async fn put_object_streams_a_file_without_signing_the_body_and_reopens_it_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = big_file(&dir, 300 * 1024 + 7);
    let srv = Server::start(vec![
        reply(503, r#"{"code":"ServiceUnavailable","message":"busy"}"#),
        reply(200, "")
            .with("etag", "abc")
            .with("opc-content-md5", "m=="),
    ])
    .await;
    let c = client(fast_opts());
    let resp = os::put_object(
        &c,
        &srv.base(),
        "ns",
        "bk",
        "dir/obj.bin",
        RequestBody::File(path),
        None,
    )
    .await
    .unwrap();
    assert_eq!(resp.header("etag"), Some("abc"));
    assert_eq!(resp.data, serde_json::Value::Null);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.request_line, "PUT /n/ns/b/bk/o/dir%2Fobj.bin HTTP/1.1");
        assert_eq!(r.verify(), ["date", "(request-target)", "host"]);
        assert_eq!(r.body, data);
        assert_eq!(r.header("content-length").unwrap(), data.len().to_string());
        assert_eq!(
            r.header("content-type").unwrap(),
            "application/octet-stream"
        );
        assert_eq!(r.header("x-content-sha256"), None);
        assert_eq!(r.header("transfer-encoding"), None);
    }
}

#[tokio::test]
async fn put_object_empty_file_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = big_file(&dir, 0);
    let srv = Server::start(vec![reply(200, ""), reply(200, "")]).await;
    let c = client(fast_opts());
    os::put_object(
        &c,
        &srv.base(),
        "ns",
        "bk",
        "e",
        RequestBody::File(path),
        Some("text/csv"),
    )
    .await
    .unwrap();
    os::put_object(
        &c,
        &srv.base(),
        "ns",
        "bk",
        "b",
        RequestBody::Bytes(Bytes::from_static(b"abc")),
        None,
    )
    .await
    .unwrap();
    let r = srv.requests();
    assert_eq!(r[0].header("content-length").unwrap(), "0");
    assert_eq!(r[0].header("content-type").unwrap(), "text/csv");
    assert_eq!(r[0].verify().len(), 3);
    assert_eq!(r[1].body, b"abc");
    assert_eq!(r[1].header("content-length").unwrap(), "3");
    assert_eq!(r[1].verify().len(), 3);
}

#[tokio::test]
async fn a_signed_file_body_is_hashed_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = big_file(&dir, 100_000);
    let srv = Server::start(vec![]).await;
    let c = client(fast_opts());
    c.send(OciRequest::new("POST", srv.url("/upload")).body(RequestBody::File(path)))
        .await
        .unwrap();
    let r = srv.only();
    assert_eq!(r.verify().len(), 6);
    assert_eq!(r.body, data);
    assert_eq!(
        r.header("content-type").unwrap(),
        "application/octet-stream"
    );
}

#[tokio::test]
async fn get_object_to_file_streams_into_a_private_file() {
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 256) as u8).collect();
    let srv = Server::start(vec![Reply {
        status: 200,
        headers: vec![("etag".into(), "e9".into())],
        body: payload.clone(),
    }])
    .await;
    let c = client(fast_opts());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.bin");
    let (n, headers) = os::get_object_to_file(&c, &srv.base(), "ns", "bk", "o", &dest)
        .await
        .unwrap();
    assert_eq!(n, payload.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), payload);
    assert!(headers.iter().any(|(k, v)| k == "etag" && v == "e9"));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o600
    );
    srv.only().verify();
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn retries_503_twice_then_succeeds_with_one_request_id() {
    let srv = Server::start(vec![reply(503, "{}"), reply(503, "{}")]).await;
    let c = client(fast_opts());
    let resp = c.send(OciRequest::get(srv.url("/n"))).await.unwrap();
    assert_eq!(resp.status, 200);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 3);
    let id = reqs[0].header("opc-request-id").unwrap().to_string();
    for r in &reqs {
        r.verify();
        assert_eq!(r.header("opc-request-id").unwrap(), id);
    }
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for status in [400, 403, 404, 409, 412, 501] {
        let srv = Server::start(vec![reply(status, r#"{"code":"X","message":"no"}"#)]).await;
        let c = client(fast_opts());
        let e = c.send(OciRequest::get(srv.url("/n"))).await.unwrap_err();
        let Error::Service(s) = &e else { panic!("{e}") };
        assert_eq!(s.status, status);
        assert_eq!(srv.requests().len(), 1, "status {status}");
    }
}

#[tokio::test]
async fn conflict_with_a_retryable_code_is_retried() {
    let srv = Server::start(vec![reply(
        409,
        r#"{"code":"IncorrectState","message":"wait"}"#,
    )])
    .await;
    let c = client(fast_opts());
    c.send(OciRequest::get(srv.url("/n"))).await.unwrap();
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn attempts_are_bounded_and_the_last_error_is_returned() {
    let srv = Server::start(vec![reply(500, "{}"); 10]).await;
    let c = client(ClientOptions {
        max_attempts: 3,
        ..fast_opts()
    });
    let e = c.send(OciRequest::get(srv.url("/n"))).await.unwrap_err();
    assert!(matches!(&e, Error::Service(s) if s.status == 500), "{e}");
    assert!(e.is_transient());
    assert_eq!(srv.requests().len(), 3);
}

#[tokio::test]
async fn no_retry_sends_once() {
    let srv = Server::start(vec![reply(503, r#"{"code":"Busy","message":"m"}"#)]).await;
    let c = client(ClientOptions {
        no_retry: true,
        ..fast_opts()
    });
    let e = c.send(OciRequest::get(srv.url("/n"))).await.unwrap_err();
    assert!(matches!(&e, Error::Service(s) if s.status == 503 && s.code == "Busy"));
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let srv = Server::start(vec![reply(429, "{}").with("retry-after", "1")]).await;
    let c = client(fast_opts());
    let start = Instant::now();
    c.send(OciRequest::get(srv.url("/n"))).await.unwrap();
    // The backoff alone is at most 5 ms: waiting ~1 s means Retry-After was used.
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn retry_after_is_capped() {
    let srv = Server::start(vec![reply(429, "{}").with("retry-after", "3600")]).await;
    let c = client(ClientOptions {
        retry_after_cap: Duration::from_millis(10),
        ..fast_opts()
    });
    tokio::time::timeout(
        Duration::from_secs(60),
        c.send(OciRequest::get(srv.url("/n"))),
    )
    .await
    .expect("Retry-After was not capped")
    .unwrap();
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn send_raw_returns_any_status_without_retrying_client_errors() {
    let srv = Server::start(vec![
        reply(404, r#"{"code":"NotFound"}"#).with("opc-request-id", "S1"),
    ])
    .await;
    let c = client(fast_opts());
    let r = c.send_raw(OciRequest::get(srv.url("/n"))).await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.reason, "Not Found");
    assert_eq!(r.header("OPC-REQUEST-ID"), Some("S1"));
    assert_eq!(r.json().unwrap()["code"], "NotFound");
}

// ---------------------------------------------------------------------------------------------
// 401 and re-authentication
// ---------------------------------------------------------------------------------------------

/// Hands out `ST$tok<n>`; `invalidate` moves to the next token.
#[derive(Debug, Default)]
struct Rotating {
    n: AtomicUsize,
    invalidations: AtomicUsize,
}

impl CredentialsProvider for Rotating {
    fn credentials(&self) -> BoxFuture<'_, ociauth::Result<Credentials>> {
        let n = self.n.load(Ordering::SeqCst);
        Box::pin(async move {
            Ok(Credentials::security_token(
                &format!("token-number-{n}-xxxxxxxxxxxxxxxx"),
                key(),
                "rotating",
            ))
        })
    }
    fn invalidate(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.n.fetch_add(1, Ordering::SeqCst);
    }
    fn name(&self) -> &'static str {
        "rotating"
    }
}

const NOT_AUTH: &str = r#"{"code":"NotAuthenticated","message":"The required information to complete authentication was not provided or was incorrect."}"#;

#[tokio::test]
async fn a_401_with_an_unchanged_api_key_is_not_retried() {
    let srv = Server::start(vec![reply(401, NOT_AUTH), reply(401, NOT_AUTH)]).await;
    let c = client(fast_opts());
    let e = os::get_namespace(&c, &srv.base(), None).await.unwrap_err();
    let Error::Service(s) = &e else { panic!("{e}") };
    assert_eq!(s.status, 401);
    assert_eq!(s.code, "NotAuthenticated");
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn a_401_invalidates_and_retries_once_with_renewed_credentials() {
    let srv = Server::start(vec![
        reply(401, NOT_AUTH),
        reply(401, NOT_AUTH),
        reply(401, NOT_AUTH),
    ])
    .await;
    let rot = Arc::new(Rotating::default());
    let c = Client::new(rot.clone(), fast_opts()).unwrap();
    let e = c.send(OciRequest::get(srv.url("/n"))).await.unwrap_err();
    assert!(matches!(&e, Error::Service(s) if s.status == 401));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2, "one retry after re-authentication, not more");
    assert_eq!(rot.invalidations.load(Ordering::SeqCst), 1);
    let kid = |r: &Recorded| {
        signer::parse_authorization(r.header("authorization").unwrap())
            .unwrap()
            .key_id
    };
    assert_eq!(kid(&reqs[0]), "ST$token-number-0-xxxxxxxxxxxxxxxx");
    assert_eq!(kid(&reqs[1]), "ST$token-number-1-xxxxxxxxxxxxxxxx");

    // A 401 followed by success.
    let srv = Server::start(vec![reply(401, NOT_AUTH)]).await;
    let rot = Arc::new(Rotating::default());
    let c = Client::new(
        rot.clone(),
        ClientOptions {
            no_retry: true,
            ..fast_opts()
        },
    )
    .unwrap();
    c.send(OciRequest::get(srv.url("/n"))).await.unwrap();
    assert_eq!(srv.requests().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn service_errors_carry_the_cli_fields() {
    let srv = Server::start(vec![
        reply(
            404,
            r#"{"code":"BucketNotFound","message":"Either the bucket named 'x' does not exist"}"#,
        )
        .with("opc-request-id", "SERVERRID404"),
        reply(401, NOT_AUTH),
        Reply {
            status: 502,
            headers: vec![],
            body: b"<html>bad gateway</html>".to_vec(),
        },
    ])
    .await;
    let c = client(ClientOptions {
        no_retry: true,
        request_id: Some("CLIENTRID".into()),
        ..fast_opts()
    });
    let e = os::list_objects(
        &c,
        &srv.base(),
        "ns",
        "x",
        &ListObjects {
            prefix: Some("p"),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    let Error::Service(s) = &e else { panic!("{e}") };
    assert_eq!(s.status, 404);
    assert_eq!(s.code, "BucketNotFound");
    assert_eq!(s.message, "Either the bucket named 'x' does not exist");
    assert_eq!(s.opc_request_id, "SERVERRID404");
    assert_eq!(s.operation_name.as_deref(), Some("list_objects"));
    assert_eq!(s.target_service.as_deref(), Some("object_storage"));
    assert_eq!(
        s.request_endpoint,
        format!("GET http://{}/n/ns/b/x/o", srv.addr)
    );
    let ts = &s.timestamp;
    assert_eq!(ts.len(), "2026-11-28T17:06:18.388779+00:00".len(), "{ts}");
    assert!(ts.ends_with("+00:00") && ts.as_bytes()[10] == b'T', "{ts}");
    assert_eq!(
        e.to_string(),
        "404 BucketNotFound: Either the bucket named 'x' does not exist (opc-request-id: SERVERRID404)"
    );

    // No opc-request-id in the response: ours.
    let e = os::get_namespace(&c, &srv.base(), None).await.unwrap_err();
    let Error::Service(s) = &e else { panic!("{e}") };
    assert_eq!(s.opc_request_id, "CLIENTRID");
    assert_eq!(s.operation_name.as_deref(), Some("get_namespace"));
    assert_eq!(s.request_endpoint, format!("GET http://{}/n", srv.addr));
    assert!(!e.to_string().contains("Signature"));

    // Not JSON: the text is the message.
    let e = c.send(OciRequest::get(srv.url("/n"))).await.unwrap_err();
    let Error::Service(s) = &e else { panic!("{e}") };
    assert_eq!((s.status, s.code.as_str()), (502, ""));
    assert_eq!(s.message, "<html>bad gateway</html>");
    assert_eq!(s.operation_name, None);
}

#[tokio::test]
async fn connection_refused_names_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client(ClientOptions {
        no_retry: true,
        ..fast_opts()
    });
    let url = format!("http://127.0.0.1:{port}/n");
    let e = c.send(OciRequest::get(&url)).await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)));
    assert_eq!(
        e.to_string(),
        format!("could not connect to {url}: connection refused")
    );
    assert!(e.is_transient());

    // With retries the same error comes back after the last attempt.
    let c = client(ClientOptions {
        max_attempts: 3,
        ..fast_opts()
    });
    let e = c.send(OciRequest::get(&url)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("could not connect to {url}: connection refused")
    );
}

#[tokio::test]
async fn bad_requests_fail_before_sending() {
    let c = client(fast_opts());
    let e = c
        .send(OciRequest::get("ftp://127.0.0.1/x"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unsupported scheme 'ftp'"), "{e}");
    let e = c
        .send(OciRequest::new("TRACE", "http://127.0.0.1:9/x"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("Don't know how to sign request verb TRACE"),
        "{e}"
    );
    let e = c
        .send(OciRequest::get("http://127.0.0.1:9/x").header("x-bad", "a\nb"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
    let e = c
        .send(
            OciRequest::new("PUT", "http://127.0.0.1:9/x")
                .body(RequestBody::File("/nonexistent/f".into())),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/f"), "{e}");
}

#[tokio::test]
async fn provider_errors_stop_the_request() {
    #[derive(Debug)]
    struct Broken;
    impl CredentialsProvider for Broken {
        fn credentials(&self) -> BoxFuture<'_, ociauth::Result<Credentials>> {
            Box::pin(async {
                Err(Error::Credentials {
                    provider: "broken",
                    message: "token file missing".into(),
                    transient: false,
                })
            })
        }
        fn name(&self) -> &'static str {
            "broken"
        }
    }
    let srv = Server::start(vec![]).await;
    let c = Client::new(Arc::new(Broken), fast_opts()).unwrap();
    let e = c.send(OciRequest::get(srv.url("/n"))).await.unwrap_err();
    assert_eq!(e.to_string(), "broken: token file missing");
    assert!(srv.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// TLS with a private CA
// ---------------------------------------------------------------------------------------------

struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    ca_pem: String,
}

fn tls_setup() -> Tls {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ociauth test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca_cert.pem(),
    }
}

#[tokio::test]
async fn https_with_a_private_ca_bundle() {
    let tls = tls_setup();
    let srv = Server::start_inner(vec![], Some(tls.acceptor.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, format!("some text\n{}", tls.ca_pem)).unwrap();

    let c = client(ClientOptions {
        ca_bundle: Some(bundle),
        no_retry: true,
        ..fast_opts()
    });
    assert_eq!(
        os::get_namespace(&c, &srv.base(), None).await.unwrap(),
        "mynamespace"
    );
    let r = srv.only();
    r.verify();
    assert_eq!(r.header("host").unwrap(), srv.addr.to_string());

    // Without the bundle the certificate is refused, and the message says what to do.
    let c = client(ClientOptions {
        no_retry: true,
        ..fast_opts()
    });
    let url = srv.url("/n");
    let e = c.send(OciRequest::get(&url)).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Transport(_)), "{msg}");
    assert!(
        msg.starts_with(&format!("could not connect to {url}: ")),
        "{msg}"
    );
    assert!(msg.contains("certificate"), "{msg}");
    assert!(msg.contains("--cert-bundle"), "{msg}");
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn a_ca_bundle_without_certificates_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("empty.pem");
    std::fs::write(&bundle, "nothing here\n").unwrap();
    let e = Client::new(
        provider(),
        ClientOptions {
            ca_bundle: Some(bundle.clone()),
            ..ClientOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the CA bundle {} holds no '-----BEGIN CERTIFICATE-----' block",
            bundle.display()
        )
    );
    let missing = dir.path().join("missing.pem");
    let e = Client::new(
        provider(),
        ClientOptions {
            ca_bundle: Some(missing.clone()),
            ..ClientOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
}

#[test]
fn debug_output_holds_no_secrets() {
    let c = Client::new(
        Arc::new(StaticProvider(Credentials::security_token(
            "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig",
            key(),
            "st",
        ))),
        ClientOptions::default(),
    )
    .unwrap();
    let d = format!("{c:?}");
    assert!(!d.contains("c2VjcmV0LXBheWxvYWQ"), "{d}");
}
