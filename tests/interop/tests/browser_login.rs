//! `ociauth session authenticate` with a real browser: Debian's headless Chromium, driven by
//! playwright-core (`tests/interop/browser/login.mjs`), signs in on the emulator's login page and
//! follows its redirect to the command's local callback, whose page relays the token.
//!
//! Why playwright-core rather than chromedriver and a Rust WebDriver crate: it is one npm package
//! without dependencies (no Rust build cost on a 2-core machine, no driver whose version must
//! match the browser), it talks to the Chromium we install over its DevTools protocol, and it
//! never downloads a browser (`PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1`, install scripts off).
//!
//! Needs `scripts/test.sh` (Chromium at `OCIAUTH_CHROMIUM` or `/usr/bin/chromium`, and
//! `scripts/setup-browser.sh`'s `tests/interop/browser/node_modules`). Without them the test
//! skips with a message on a developer's machine and fails under CI.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interop_tests::{ociauth_bin, repo_root};
use oci_emulator::EmulatorConfig;
use ociauth::jwt;
use ociauth::keys::{PrivateKey, PublicKey};

fn ociauth(home: &Path) -> Command {
    let mut c = Command::new(ociauth_bin());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home);
    c
}

/// What the test needs: Chromium, node and the installed playwright-core. `None`: skip (outside
/// CI only).
struct Browser {
    chromium: PathBuf,
    dir: PathBuf,
}

fn browser() -> Option<Browser> {
    let chromium = std::env::var_os("OCIAUTH_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let dir = repo_root().join("tests/interop/browser");
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut missing = Vec::new();
    if !chromium.exists() {
        missing.push(format!("Chromium at {}", chromium.display()));
    }
    if !node_ok {
        missing.push("node".to_string());
    }
    if !dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push(format!("playwright-core in {}/node_modules", dir.display()));
    }
    if missing.is_empty() {
        return Some(Browser { chromium, dir });
    }
    let what = missing.join(", ");
    if std::env::var_os("CI").is_some() {
        panic!("missing under CI: {what}; scripts/test.sh installs them");
    }
    eprintln!("SKIP: missing {what} (run scripts/test.sh, or scripts/setup-browser.sh)");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn chromium_signs_in_and_the_session_works() {
    let Some(browser) = browser() else { return };
    let bin = ociauth_bin();
    assert!(bin.exists());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let l2 = log.clone();
    let emu = rt
        .block_on(oci_emulator::start(
            EmulatorConfig::new(tmp.path().join("state")).log(Arc::new(move |l: &str| {
                l2.lock().unwrap().push(l.to_string())
            })),
        ))
        .unwrap();
    let base = emu.base_url();
    let password = std::fs::read_to_string(emu.state_dir().join("credentials.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("password=").map(str::to_string))
        .unwrap();
    let config = tmp.path().join("config");
    let tokens = tmp.path().join("tokens");
    let port = free_port();

    // The "browser" ociauth opens: a script that hands the URL to this test.
    let url_file = tmp.path().join("url.txt");
    let script = tmp.path().join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", url_file.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let mut child = ociauth(&home)
        .args(["session", "authenticate", "--endpoint", &base, "--port"])
        .arg(port.to_string())
        .args(["--profile-name", "P", "--region", "us-ashburn-1"])
        .arg("--config-location")
        .arg(&config)
        .arg("--token-location")
        .arg(&tokens)
        .env("BROWSER", &script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
            panic!("ociauth session authenticate ended early ({status}): {err}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ociauth session authenticate opened no browser within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        login_url.starts_with(&format!(
            "{base}/v1/oauth2/authorize?action=login&client_id=iaas_console&response_type=token+id_token&nonce="
        )),
        "{login_url}"
    );

    // Chromium: a wrong password first (the page says so), then the right one.
    let profile_dir = tmp.path().join("chromium-profile");
    let node_home = tmp.path().join("node-home");
    std::fs::create_dir(&node_home).unwrap();
    let mut node = Command::new("node");
    node.current_dir(&browser.dir)
        .arg("login.mjs")
        .args(["--url", &login_url, "--username", "emulator-user"])
        .args([
            "--password",
            &password,
            "--wrong-password",
            "not-the-password",
        ])
        .arg("--user-data-dir")
        .arg(&profile_dir)
        .arg("--chromium")
        .arg(&browser.chromium)
        .args(["--timeout-ms", "60000"])
        .env("HOME", &node_home)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .stdin(Stdio::null());
    for k in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        node.env_remove(k);
    }
    let out = node.output().expect("run node login.mjs");
    assert!(
        out.status.success(),
        "login.mjs failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    let page: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("login.mjs printed no JSON ({e}): {}", text(&out.stdout)));
    assert_eq!(page["loginStatus"], 200, "{page}");
    assert_eq!(page["loginTitle"], "Sign in - OCI emulator", "{page}");
    assert_eq!(page["wrongPasswordStatus"], 401, "{page}");
    assert_eq!(
        page["wrongPasswordError"], "The user name or password is incorrect.",
        "{page}"
    );
    assert_eq!(page["usernameKept"], "emulator-user", "{page}");
    assert_eq!(
        page["callbackOrigin"],
        format!("http://localhost:{port}"),
        "{page}"
    );
    assert_eq!(page["callbackPath"], "/", "{page}");
    assert_eq!(page["fragmentHasToken"], true, "{page}");
    assert_eq!(
        page["callbackText"],
        "Authorization completed! Please close this window and return to your terminal to finish the bootstrap process.",
        "{page}"
    );

    // The command finishes on its own.
    let (status, stdout, stderr) = interop_tests::wait_with_deadline(
        &mut child,
        Duration::from_secs(60),
        "ociauth session authenticate",
    );
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert_eq!(
        stdout,
        format!(
            "    Please switch to newly opened browser window to log in!\n    You can also open the following URL in a web browser window to continue:\n{login_url}\n    Completed browser authentication process!\nConfig written to: {c}\n\n    Try out your newly created session credentials with the following example command:\n\n    oci iam region list --config-file {c} --profile P --auth security_token\n\n",
            c = config.display()
        )
    );
    let token = std::fs::read_to_string(tokens.join("P/token")).unwrap();
    let key = PrivateKey::from_pem(
        &std::fs::read(tokens.join("P/oci_api_key.pem")).unwrap(),
        None,
    )
    .unwrap();
    let claims = jwt::decode_unverified(&token).unwrap().claims().clone();
    let jwk: serde_json::Value = serde_json::from_str(claims["jwk"].as_str().unwrap()).unwrap();
    assert_eq!(
        jwt::RsaJwk::from_json(&jwk)
            .unwrap()
            .public_key()
            .unwrap()
            .spki_der(),
        PublicKey::from(&key).spki_der(),
        "the token is bound to the key ociauth generated"
    );
    {
        let log = log.lock().unwrap();
        let posts: Vec<&String> = log
            .iter()
            .filter(|l| l.starts_with("POST /v1/oauth2/authorize "))
            .collect();
        assert_eq!(posts.len(), 2, "{log:?}");
        assert!(
            posts[0].starts_with("POST /v1/oauth2/authorize 401"),
            "{log:?}"
        );
        assert!(
            posts[1].starts_with("POST /v1/oauth2/authorize 302"),
            "{log:?}"
        );
    }

    // The session signs requests.
    let out = ociauth(&home)
        .args([
            "os",
            "ns",
            "get",
            "--auth",
            "security_token",
            "--profile",
            "P",
        ])
        .arg("--config-file")
        .arg(&config)
        .args(["--endpoint", &base, "--no-retry"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout),
        format!("{{\n  \"data\": \"{}\"\n}}\n", emu.state().namespace())
    );
    assert!(
        log.lock()
            .unwrap()
            .last()
            .unwrap()
            .starts_with("GET /n 200 key=\"ST$eyJ")
    );
    rt.block_on(emu.shutdown());
}
