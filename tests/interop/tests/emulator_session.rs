//! The official `oci session …` commands against `oci-emulator`.
//!
//! How each command reaches the emulator (plain http on 127.0.0.1):
//! - `session authenticate --no-browser`: honours `--endpoint URL` (the client adds `/v1`).
//! - `os ns get --auth security_token`, `session validate`: honour `--endpoint URL`.
//! - `session authenticate` (browser): the CLI prints/opens
//!   `https://login.<region>.oraclecloud.com/v1/oauth2/authorize?…`; open the same path and query
//!   on the emulator's base URL instead (here a `BROWSER` script hands the URL to the test,
//!   which plays the browser).
//! - `session refresh` ignores `--endpoint`: it posts with plain `requests` to
//!   `oci.regions.endpoint_for("auth", region)`, which is always
//!   `https://auth.<region>.<domain>` (`SERVICE_ENDPOINTS['auth']` is hard-coded https). It can
//!   reach a plain-http emulator only through an HTTPS proxy that terminates TLS:
//!   `HTTPS_PROXY=http://127.0.0.1:P` plus `REQUESTS_CA_BUNDLE=<that proxy's CA>`; `requests`
//!   sends `CONNECT auth.us-ashburn-1.oraclecloud.com:443`, the proxy answers 200, completes TLS
//!   with a certificate for that host and forwards the bytes to the emulator, which verifies
//!   the signature as usual (it does not care what `host` says, only that it is signed).
//!   This test runs such a proxy.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interop_tests::{oci_cli, venv};
use oci_emulator::{EmulatorConfig, RunningEmulator};
use ociauth::jwt;
use ociauth::keys::{PrivateKey, PublicKey};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const AUTH_HOST: &str = "auth.us-ashburn-1.oraclecloud.com";

type Log = Arc<Mutex<Vec<String>>>;

fn start_emulator(rt: &tokio::runtime::Runtime, dir: &Path) -> (RunningEmulator, Log) {
    let log: Log = Arc::default();
    let l2 = log.clone();
    let emu = rt
        .block_on(oci_emulator::start(EmulatorConfig::new(dir).log(Arc::new(
            move |l: &str| l2.lock().unwrap().push(l.to_string()),
        ))))
        .unwrap();
    (emu, log)
}

/// `oci` with HOME in a temp dir, no proxy unless asked for.
fn oci(venv: &Path, home: &Path) -> Command {
    let mut c = oci_cli(venv);
    c.env("HOME", home);
    for k in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ] {
        c.env_remove(k);
    }
    c
}

fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().expect("run oci")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn claims(token: &str) -> serde_json::Map<String, serde_json::Value> {
    jwt::decode_unverified(token).unwrap().claims().clone()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn user_of(emu: &RunningEmulator) -> String {
    let config = std::fs::read_to_string(emu.config_path()).unwrap();
    config
        .lines()
        .find_map(|l| l.strip_prefix("user="))
        .unwrap()
        .to_string()
}

/// The session key a token is bound to (its `jwk` claim).
fn bound_key(token: &str) -> PublicKey {
    let c = claims(token);
    let jwk: serde_json::Value = serde_json::from_str(c["jwk"].as_str().unwrap()).unwrap();
    jwt::RsaJwk::from_json(&jwk).unwrap().public_key().unwrap()
}

// ---------------------------------------------------------------------------------------------
// A TLS-terminating HTTPS proxy in front of the emulator (for `oci session refresh`)
// ---------------------------------------------------------------------------------------------

struct Proxy {
    addr: SocketAddr,
    ca_file: PathBuf,
    /// The CONNECT request lines received.
    connects: Arc<Mutex<Vec<String>>>,
}

fn tls_acceptor(host: &str, dir: &Path) -> (tokio_rustls::TlsAcceptor, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "oci-emulator test proxy CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![host.to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
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
    let ca_file = dir.join("proxy-ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca_file)
}

/// Accept `CONNECT host:443`, answer 200, terminate TLS, and pipe the plain bytes to `upstream`.
fn start_proxy(rt: &tokio::runtime::Runtime, upstream: SocketAddr, dir: &Path) -> Proxy {
    let (acceptor, ca_file) = tls_acceptor(AUTH_HOST, dir);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let connects: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = connects.clone();
    rt.spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if head.len() > 16 * 1024 {
                        return;
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let first = head.lines().next().unwrap_or_default().to_string();
                seen.lock().unwrap().push(first.clone());
                if !first.starts_with("CONNECT ") {
                    let _ = sock
                        .write_all(
                            b"HTTP/1.1 405 Not a proxy for that\r\nContent-Length: 0\r\n\r\n",
                        )
                        .await;
                    return;
                }
                if sock
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    Proxy {
        addr,
        ca_file,
        connects,
    }
}

/// `oci session refresh` routed through the proxy.
fn refresh_cmd(venv: &Path, home: &Path, proxy: &Proxy, profile: &str) -> Command {
    let mut c = oci(venv, home);
    c.args(["session", "refresh", "--profile", profile, "--no-retry"])
        .env("HTTPS_PROXY", format!("http://{}", proxy.addr))
        .env("REQUESTS_CA_BUNDLE", &proxy.ca_file);
    c
}

// ---------------------------------------------------------------------------------------------
// --no-browser, use, validate, refresh
// ---------------------------------------------------------------------------------------------

#[test]
fn no_browser_session_is_used_validated_and_refreshed() {
    let Some(venv) = venv() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let (emu, log) = start_emulator(&rt, &tmp.path().join("state"));
    let url = emu.base_url();
    let ns = emu.state().namespace();

    // authenticate --no-browser: GenerateUpst with the emulator config's API key.
    let mut c = oci(&venv, &home);
    c.args([
        "session",
        "authenticate",
        "--no-browser",
        "--profile-name",
        "S",
        "--session-expiration-in-minutes",
        "30",
        "--region",
        "us-ashburn-1",
        "--config-file",
    ])
    .arg(emu.config_path())
    .args(["--endpoint", &url, "--no-retry"]);
    let out = run(c);
    assert_ok(&out, "session authenticate --no-browser");
    let config_path = home.join(".oci/config");
    let session_dir = home.join(".oci/sessions/S");
    assert!(
        text(&out.stdout).starts_with(&format!("Config written to: {}\n", config_path.display())),
        "{}",
        text(&out.stdout)
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l
                .starts_with("POST /v1/token/upst/actions/GenerateUpst 200 key=\"ocid1.tenancy.")),
        "{:?}",
        log.lock().unwrap()
    );
    let token_file = session_dir.join("token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(mode(&token_file), 0o600);
    let c1 = claims(&token);
    assert_eq!(c1["sub"], user_of(&emu).as_str());
    assert_eq!(c1["tenant"], emu.state().tenancy_id().as_str());
    assert_eq!(
        c1["exp"].as_i64().unwrap() - c1["iat"].as_i64().unwrap(),
        1800
    );
    // Bound to the key pair the CLI generated and saved.
    let cli_key = PrivateKey::from_pem(
        &std::fs::read(session_dir.join("oci_api_key.pem")).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(
        bound_key(&token).spki_der(),
        PublicKey::from(&cli_key).spki_der()
    );
    let fingerprint = cli_key.fingerprint().to_string();
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap(),
        format!(
            "\n\n[S]\nfingerprint={fingerprint}\nkey_file={}\ntenancy={}\nregion=us-ashburn-1\nsecurity_token_file={}\n",
            session_dir.join("oci_api_key.pem").display(),
            emu.state().tenancy_id(),
            token_file.display()
        )
    );

    // Use it.
    let ns_get = || {
        let mut c = oci(&venv, &home);
        c.args([
            "os",
            "ns",
            "get",
            "--auth",
            "security_token",
            "--profile",
            "S",
        ])
        .args(["--endpoint", &url, "--no-retry"]);
        run(c)
    };
    let out = ns_get();
    assert_ok(&out, "os ns get --auth security_token");
    assert_eq!(text(&out.stdout), format!("{{\n  \"data\": \"{ns}\"\n}}\n"));
    assert!(
        log.lock()
            .unwrap()
            .last()
            .unwrap()
            .starts_with("GET /n 200 key=\"ST$eyJ")
    );

    // validate (GET /20160918/regions with the token).
    let mut c = oci(&venv, &home);
    c.args(["session", "validate", "--profile", "S"])
        .args(["--endpoint", &url, "--no-retry"]);
    let out = run(c);
    assert_ok(&out, "session validate");
    assert!(
        text(&out.stderr).starts_with("Session is valid until "),
        "{}",
        text(&out.stderr)
    );
    assert!(
        log.lock()
            .unwrap()
            .last()
            .unwrap()
            .starts_with("GET /20160918/regions 200 key=\"ST$eyJ")
    );

    // refresh, through the TLS-terminating proxy.
    let proxy = start_proxy(&rt, emu.addr(), tmp.path());
    let out = run(refresh_cmd(&venv, &home, &proxy, "S"));
    assert_ok(&out, "session refresh");
    assert_eq!(
        text(&out.stderr),
        format!(
            "Attempting to refresh token from https://{AUTH_HOST}/v1/authentication/refresh\nSuccessfully refreshed token\n"
        )
    );
    assert_eq!(
        proxy.connects.lock().unwrap().as_slice(),
        // http.client tunnels with HTTP/1.0.
        [format!("CONNECT {AUTH_HOST}:443 HTTP/1.0")]
    );
    assert!(
        log.lock()
            .unwrap()
            .last()
            .unwrap()
            .starts_with("POST /v1/authentication/refresh 200 key=\"ST$eyJ")
    );
    let refreshed = std::fs::read_to_string(&token_file).unwrap();
    assert_ne!(refreshed, token);
    assert_eq!(mode(&token_file), 0o600);
    let c2 = claims(&refreshed);
    assert_eq!(c2["sess_exp"], c1["sess_exp"]);
    assert_eq!(c2["jwk"], c1["jwk"]);
    assert_eq!(c2["sub"], c1["sub"]);
    // The refreshed token works.
    let out = ns_get();
    assert_ok(&out, "os ns get with the refreshed token");

    // A token the emulator did not issue: refresh is a 401, which the CLI reports as such.
    let stranger = PrivateKey::generate().unwrap();
    let mut forged_claims = c2.clone();
    forged_claims.insert("jti".into(), "forged".into());
    let forged = jwt::sign_rs256(
        &serde_json::json!({"kid": "stranger"}),
        &serde_json::Value::Object(forged_claims),
        &stranger,
    )
    .unwrap();
    std::fs::write(&token_file, &forged).unwrap();
    let out = run(refresh_cmd(&venv, &home, &proxy, "S"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).ends_with(
            "Your session is no longer valid and cannot be refreshed. Please use 'oci session authenticate' to create a new session.\n"
        ),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), forged);
    let last = log.lock().unwrap().last().unwrap().clone();
    assert!(
        last.starts_with("POST /v1/authentication/refresh 401")
            && last.contains("not issued by this emulator"),
        "{last}"
    );
    rt.block_on(emu.shutdown());
}

// ---------------------------------------------------------------------------------------------
// Browser flow: the CLI's local callback on port 8181, the emulator's login page
// ---------------------------------------------------------------------------------------------

/// `&amp;` etc. back to text (what the login page escapes).
fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `(name, value)` of the page's `<input type="hidden" …>` fields, in order.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for piece in html.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = piece.split_once('"').unwrap();
        let value = rest
            .strip_prefix(" value=\"")
            .and_then(|r| r.split_once('"'))
            .unwrap()
            .0;
        out.push((html_unescape(name), html_unescape(value)));
    }
    out
}

/// Wait until port 8181 can be bound (another test on the machine may hold it briefly).
fn wait_for_port_8181() {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpListener::bind(("0.0.0.0", 8181)).is_err() {
        assert!(
            Instant::now() < deadline,
            "port 8181 (fixed by `oci session authenticate`) stayed busy for 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn browser_login_through_the_emulator_page() {
    let Some(venv) = venv() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let (emu, log) = start_emulator(&rt, &tmp.path().join("state"));
    let base = emu.base_url();
    let creds = std::fs::read_to_string(emu.state_dir().join("credentials.txt")).unwrap();
    let password = creds
        .lines()
        .find_map(|l| l.strip_prefix("password="))
        .unwrap()
        .to_string();

    // The "browser": a script that hands the URL over and returns at once.
    let url_file = tmp.path().join("url.txt");
    let browser = tmp.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", url_file.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    wait_for_port_8181();
    let mut c = oci(&venv, &home);
    c.args([
        "session",
        "authenticate",
        "--profile-name",
        "B",
        "--region",
        "us-ashburn-1",
        "--tenancy-name",
        "emulator-tenancy",
    ])
    .env("BROWSER", &browser)
    .env("DISPLAY", "")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();

    // Wait for the login URL.
    let deadline = Instant::now() + Duration::from_secs(60);
    let login_url = loop {
        if let Ok(u) = std::fs::read_to_string(&url_file)
            && !u.is_empty()
        {
            break u;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("oci session authenticate ended early ({status}): {err}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("oci session authenticate opened no browser within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let prefix = "https://login.us-ashburn-1.oraclecloud.com/v1/oauth2/authorize?action=login&client_id=iaas_console&response_type=token+id_token&nonce=";
    assert!(login_url.starts_with(prefix), "{login_url}");
    assert!(
        login_url.ends_with("&redirect_uri=http%3A%2F%2Flocalhost%3A8181&tenant=emulator-tenancy"),
        "{login_url}"
    );
    let path_and_query = &login_url["https://login.us-ashburn-1.oraclecloud.com".len()..];

    // Play the browser: the page, the form, the redirect, the callback's relay of the fragment.
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = rt.block_on(async {
        let resp = http
            .get(format!("{base}{path_and_query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let html = resp.text().await.unwrap();
        let mut form = hidden_fields(&html);
        assert_eq!(
            form.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            [
                "action",
                "client_id",
                "response_type",
                "nonce",
                "scope",
                "public_key",
                "redirect_uri",
                "tenant"
            ]
        );
        form.push(("username".into(), "emulator-user".into()));
        form.push(("password".into(), password.clone()));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let resp = http
            .post(format!("{base}/v1/oauth2/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        let fragment = location
            .strip_prefix("http://localhost:8181#")
            .unwrap_or_else(|| panic!("{location}"))
            .to_string();
        let token = fragment
            .strip_prefix("security_token=")
            .unwrap()
            .to_string();
        // The callback page's script: GET /token?<fragment>.
        let resp = http
            .get(format!("http://127.0.0.1:8181/token?{fragment}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        token
    });

    let (status, stdout, stderr) = interop_tests::wait_with_deadline(
        &mut child,
        Duration::from_secs(120),
        "oci session authenticate",
    );
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("    Completed browser authentication process!\n"),
        "{stdout}"
    );
    let session_dir = home.join(".oci/sessions/B");
    assert!(
        stdout.contains(&format!(
            "Config written to: {}\n",
            home.join(".oci/config").display()
        )),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(session_dir.join("token")).unwrap(),
        token
    );
    // The token is bound to the key the CLI generated, and works.
    let cli_key = PrivateKey::from_pem(
        &std::fs::read(session_dir.join("oci_api_key.pem")).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(
        bound_key(&token).spki_der(),
        PublicKey::from(&cli_key).spki_der()
    );
    let c = claims(&token);
    assert_eq!(c["sub"], user_of(&emu).as_str());
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    let mut cmd = oci(&venv, &home);
    cmd.args([
        "os",
        "ns",
        "get",
        "--auth",
        "security_token",
        "--profile",
        "B",
    ])
    .args(["--endpoint", &base, "--no-retry"]);
    let out = run(cmd);
    assert_ok(&out, "os ns get with the browser session");
    assert_eq!(
        text(&out.stdout),
        format!("{{\n  \"data\": \"{}\"\n}}\n", emu.state().namespace())
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("POST /v1/oauth2/authorize 302 key=-"))
    );
    rt.block_on(emu.shutdown());
}
