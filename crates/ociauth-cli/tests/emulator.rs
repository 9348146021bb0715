//! `ociauth` against the in-process emulator (and, for raw-request's body bytes, a recording
//! server): exact stdout for `os ns get` / `--query` / `--raw-output` / `--output table`, the
//! Object Storage commands, raw-request, service errors and the 401 hints.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Cmd, Run};
use oci_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::{Value, json};

struct Emu {
    emu: RunningEmulator,
    home: tempfile::TempDir,
    _state: tempfile::TempDir,
}

impl Emu {
    async fn start() -> Emu {
        Self::start_with(|c| c).await
    }
    async fn start_with(f: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> Emu {
        let state = tempfile::tempdir().unwrap();
        let cfg = f(EmulatorConfig::new(state.path()).log(Arc::new(|_: &str| {})));
        let emu = oci_emulator::start(cfg).await.unwrap();
        Emu {
            emu,
            home: tempfile::tempdir().unwrap(),
            _state: state,
        }
    }
    fn ns(&self) -> String {
        self.emu.state().namespace()
    }
    fn compartment(&self) -> String {
        self.emu.state().compartment_id()
    }
    fn config(&self) -> PathBuf {
        self.emu.config_path()
    }
    /// `ociauth ARGS --config-file <emulator config> --endpoint <emulator> --no-retry`.
    fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd::new(self.home.path(), args).args(&[
            "--config-file",
            self.config().to_str().unwrap(),
            "--endpoint",
            &self.emu.base_url(),
            "--no-retry",
        ])
    }
}

/// Run the binary off the async workers (the emulator is served by them).
async fn run(c: Cmd) -> Run {
    tokio::task::spawn_blocking(move || c.run()).await.unwrap()
}

/// The `ServiceError:` block: its JSON, after checking the layout (indent 4, sorted keys).
fn service_error(stderr: &str) -> Value {
    let json = stderr
        .strip_prefix("ServiceError:\n")
        .unwrap_or_else(|| panic!("no ServiceError block: {stderr}"));
    assert!(
        json.starts_with("{\n    \"client_version\": \"ociauth/"),
        "{json}"
    );
    let v: Value = serde_json::from_str(json).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        keys, sorted,
        "keys appear sorted (preserve_order keeps file order)"
    );
    assert_eq!(
        keys,
        [
            "client_version",
            "code",
            "logging_tips",
            "message",
            "opc-request-id",
            "operation_name",
            "request_endpoint",
            "status",
            "target_service",
            "timestamp",
            "troubleshooting_tips"
        ]
    );
    assert_eq!(
        v["client_version"],
        format!("ociauth/{}", env!("CARGO_PKG_VERSION"))
    );
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ns_get_outputs_exactly_as_the_cli() {
    let e = Emu::start().await;
    let ns = e.ns();
    let r = run(e.cmd(&["os", "ns", "get"])).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, format!("{{\n  \"data\": \"{ns}\"\n}}\n"));

    let r = run(e.cmd(&["os", "ns", "get", "--query", "data", "--raw-output"])).await;
    assert_eq!(r.stdout, format!("{ns}\n"));
    let r = run(e.cmd(&["os", "ns", "get", "--query", "data"])).await;
    assert_eq!(r.stdout, format!("\"{ns}\"\n"));
    let r = run(e.cmd(&["os", "ns", "get", "--query", "nothing"])).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(
        r.stderr,
        "Query returned empty result, no output to show.\n"
    );

    let r = run(e.cmd(&["os", "ns", "get", "--output", "table"])).await;
    let dashes = "-".repeat(ns.len() + 2);
    let pad = " ".repeat(ns.len() - "Column1".len());
    assert_eq!(
        r.stdout,
        format!("+{dashes}+\n| Column1{pad} |\n+{dashes}+\n| {ns} |\n+{dashes}+\n")
    );

    // Global options anywhere on the line; --compartment-id/-c accepted.
    let r = run(Cmd::new(
        e.home.path(),
        &[
            "--config-file",
            e.config().to_str().unwrap(),
            "os",
            "--endpoint",
            &e.emu.base_url(),
            "ns",
            "get",
            "-c",
            &e.compartment(),
        ],
    ))
    .await;
    assert_eq!(r.stdout, format!("{{\n  \"data\": \"{ns}\"\n}}\n"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_and_objects() {
    let e = Emu::start().await;
    let ns = e.ns();
    let comp = e.compartment();

    let r = run(e.cmd(&["os", "bucket", "create", "-c", &comp, "--name", "b1"])).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["data"]["name"], "b1");
    assert_eq!(v["data"]["namespace"], ns.as_str());
    assert_eq!(v["etag"], v["data"]["etag"]);
    let keys: Vec<&str> = v["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "approximate-count",
            "approximate-size",
            "auto-tiering",
            "bucket-scope",
            "compartment-id",
            "created-by",
            "defined-tags",
            "etag",
            "freeform-tags",
            "id",
            "is-bucket-key-enabled",
            "is-read-only",
            "kms-key-id",
            "metadata",
            "name",
            "namespace",
            "object-events-enabled",
            "object-lifecycle-policy-etag",
            "public-access-type",
            "replication-enabled",
            "storage-tier",
            "time-created",
            "versioning"
        ]
    );
    // Datetimes as Python's isoformat.
    let t = v["data"]["time-created"].as_str().unwrap();
    assert!(t.ends_with("+00:00") && t.as_bytes()[10] == b'T', "{t}");

    let r = run(e.cmd(&["os", "bucket", "list", "-c", &comp])).await;
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["data"][0]["name"], "b1");
    assert_eq!(v["data"][0]["bucket-scope"], Value::Null);

    // Upload: streamed file, the CLI's header output.
    let file = common::write(e.home.path(), "hello.txt", b"hello\n", 0o644);
    let put = [
        "os",
        "object",
        "put",
        "-bn",
        "b1",
        "--file",
        file.to_str().unwrap(),
    ];
    let r = run(e.cmd(&put)).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["etag", "last-modified", "opc-content-md5"]);
    assert_eq!(v["opc-content-md5"], "sZRqySSS0jR8YjW00mERhA==");
    // Exists now: refused without --force (no terminal to ask), replaced with it.
    let r = run(e.cmd(&put)).await;
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "ERROR: object 'hello.txt' already exists in bucket 'b1'; pass --force to overwrite it (stdin is not a terminal, so ociauth cannot ask)\n"
    );
    let r = run(e.cmd(&put).args(&["--force", "--name", "dir/x y.txt"])).await;
    assert_eq!(r.code, 0, "{r:?}");

    let r = run(e.cmd(&["os", "object", "list", "-bn", "b1"])).await;
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["prefixes"], json!([]));
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dir/x y.txt", "hello.txt"]);
    assert_eq!(v["data"][1]["size"], 6);
    assert_eq!(v["data"][1]["md5"], "sZRqySSS0jR8YjW00mERhA==");
    let r = run(e.cmd(&["os", "object", "list", "-bn", "b1", "--limit", "1"])).await;
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["next-start-with"], "hello.txt");

    // Download to a file and to stdout.
    let dest = e.home.path().join("got.txt");
    let r = run(e.cmd(&[
        "os",
        "object",
        "get",
        "-bn",
        "b1",
        "--name",
        "dir/x y.txt",
        "--file",
        dest.to_str().unwrap(),
    ]))
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"hello\n");
    let r = run(e.cmd(&[
        "os",
        "object",
        "get",
        "-bn",
        "b1",
        "--name",
        "hello.txt",
        "--file",
        "-",
    ]))
    .await;
    assert_eq!(r.stdout, "hello\n");

    // Delete: refused without --force, then done; a second delete is a service error.
    let del = [
        "os",
        "object",
        "delete",
        "-bn",
        "b1",
        "--object-name",
        "hello.txt",
    ];
    let r = run(e.cmd(&del)).await;
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "ERROR: deleting object 'hello.txt' needs confirmation; pass --force to delete it (stdin is not a terminal, so ociauth cannot ask)\n"
    );
    let r = run(e.cmd(&del).args(&["--force"])).await;
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    let r = run(e
        .cmd(&del)
        .args(&["--force", "--request-id", "MYREQUESTID"]))
    .await;
    assert_eq!(r.code, 1);
    let v = service_error(&r.stderr);
    assert_eq!(v["status"], 404);
    assert_eq!(v["code"], "ObjectNotFound");
    assert_eq!(v["operation_name"], "delete_object");
    assert_eq!(v["target_service"], "object_storage");
    assert_eq!(
        v["request_endpoint"],
        format!("DELETE {}/n/{ns}/b/b1/o/hello.txt", e.emu.base_url())
    );
    assert!(r.stderr.ends_with("}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_is_a_401_service_error_without_skew_warning() {
    let e = Emu::start().await;
    let dir = e.home.path();
    let (key, fp) = common::api_key(dir, None, true);
    let text = std::fs::read_to_string(e.config()).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("fingerprint=") {
                format!("fingerprint={fp}\n")
            } else if l.starts_with("key_file=") {
                format!("key_file={}\n", key.display())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let cfg = common::write(dir, "config", text.as_bytes(), 0o600);
    let r = run(Cmd::new(
        dir,
        &[
            "os",
            "ns",
            "get",
            "--config-file",
            cfg.to_str().unwrap(),
            "--endpoint",
            &e.emu.base_url(),
            "--no-retry",
        ],
    ))
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    let v = service_error(&r.stderr);
    assert_eq!(v["status"], 401);
    assert_eq!(v["code"], "NotAuthenticated");
    assert_eq!(v["operation_name"], "get_namespace");
    assert_eq!(v["request_endpoint"], format!("GET {}/n", e.emu.base_url()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_warning_on_401() {
    let ahead = std::time::SystemTime::now() + Duration::from_secs(600);
    let e = Emu::start_with(|c| c.clock(Arc::new(ociauth::env::ManualClock::new(ahead)))).await;
    let r = run(e.cmd(&["os", "ns", "get"])).await;
    assert_eq!(r.code, 1, "{r:?}");
    let (warning, rest) = r.stderr.split_once('\n').unwrap();
    assert!(
        warning.starts_with("WARNING: Your computer time: "),
        "{warning}"
    );
    assert!(
        warning.ends_with(
            " by more than 5 minutes. This can cause authentication errors connecting to services."
        ),
        "{warning}"
    );
    assert!(warning.contains(" differs from the server time: "));
    assert_eq!(service_error(rest)["status"], 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_request_against_the_emulator() {
    let e = Emu::start().await;
    let ns = e.ns();
    let base = e.emu.base_url();
    let raw = |method: &str, uri: String| {
        Cmd::new(
            e.home.path(),
            &[
                "raw-request",
                "--http-method",
                method,
                "--target-uri",
                &uri,
                "--config-file",
                e.config().to_str().unwrap(),
                "--request-id",
                "RAWREQ",
            ],
        )
    };
    let r = run(raw("get", format!("{base}/n"))).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with(&format!("{{\n  \"data\": \"{ns}\",\n  \"headers\": {{\n")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("\n  },\n  \"status\": \"200 OK\"\n}\n"));
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["headers"]["opc-request-id"].is_string());

    // A 4xx is output, not an error.
    let r = run(raw("GET", format!("{base}/n/{ns}/b/missing"))).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "404 Not Found");
    assert_eq!(v["data"]["code"], "BucketNotFound");

    // POST with a body: re-serialized, signed, accepted by the emulator's verification.
    let body = json!({"name": "rawb", "compartmentId": e.compartment()}).to_string();
    let r = run(raw("POST", format!("{base}/n/{ns}/b")).args(&["--request-body", &body])).await;
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "200 OK", "{r:?}");
    assert_eq!(v["data"]["name"], "rawb");
    let r = run(raw(
        "GET",
        format!("{base}/n/{ns}/b?compartmentId={}", e.compartment()),
    )
    .args(&["--query", "[0].name"]))
    .await;
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["data"], "rawb");
}

/// One recorded request: request line, headers, body.
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>, Vec<u8>)>>>;

/// A server that records the request and answers 418 with a text body.
async fn recording_server() -> (String, Seen) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
        let s = s.clone();
        async move {
            let headers = h
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            s.lock()
                .unwrap()
                .push((format!("{m} {u}"), headers, b.to_vec()));
            (StatusCode::IM_A_TEAPOT, [("x-test", "1")], "plain text")
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_request_body_bytes_and_text_answers() {
    let (url, seen) = recording_server().await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (key, fp) = common::api_key(dir, None, true);
    let cfg = common::write(
        dir,
        "config",
        common::config_text(&key, &fp, "").as_bytes(),
        0o600,
    );
    let body_file = common::write(
        dir,
        "body.json",
        "{\"b\":1,\"a\":[1,2.5,1e2],\"u\":\"é\"}".as_bytes(),
        0o600,
    );
    let r = run(Cmd::new(
        dir,
        &[
            "raw-request",
            "--http-method",
            "put",
            "--target-uri",
            &format!("{url}/x?y=1"),
            "--request-body",
            &format!("file://{}", body_file.display()),
            "--request-headers",
            "{\"x-extra\": \"v\"}",
            "--config-file",
            cfg.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "418 I'm a teapot");
    assert_eq!(v["data"], "plain text");
    assert_eq!(v["headers"]["x-test"], "1");
    let seen = seen.lock().unwrap();
    let (line, headers, body) = &seen[0];
    assert_eq!(line, "PUT /x?y=1");
    assert_eq!(
        String::from_utf8_lossy(body),
        "{\"b\": 1, \"a\": [1, 2.5, 100.0], \"u\": \"\\u00e9\"}"
    );
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {n} header"))
    };
    assert_eq!(h("x-extra"), "v");
    assert_eq!(h("content-type"), "application/json");
    assert!(h("authorization").contains(
        "headers=\"date (request-target) host content-length content-type x-content-sha256\""
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_the_request_but_no_key_material() {
    let e = Emu::start().await;
    let r = run(e.cmd(&["os", "ns", "get", "--debug"])).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, format!("{{\n  \"data\": \"{}\"\n}}\n", e.ns()));
    assert!(
        r.stderr.contains("(request-target): get /n"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&format!("{}/n", e.emu.base_url())));
    assert!(!r.stderr.contains("PRIVATE KEY"));
    assert!(!r.stderr.contains("signature=\""), "{}", r.stderr);
}

/// An encrypted key without a configured passphrase: on a terminal the CLI asks
/// `Private key passphrase:` and goes on. Runs under `script` for a pseudo-terminal;
/// skipped where `script` is not installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_key_prompts_on_a_terminal() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("SKIP: no /usr/bin/script for a pseudo-terminal");
        return;
    }
    let e = Emu::start().await;
    let dir = e.home.path();
    let (key, fp) = common::api_key(dir, Some("tty-pass"), true);
    let pem = std::fs::read(&key).unwrap();
    let public = ociauth::PrivateKey::from_pem(&pem, Some(b"tty-pass"))
        .unwrap()
        .public_key_der()
        .to_vec();
    let user = e.emu.state().users()[0].id.clone();
    e.emu
        .state()
        .add_api_key(
            &user,
            &ociauth::keys::PublicKey::from_spki_der(&public).unwrap(),
        )
        .unwrap();
    let text = format!(
        "[DEFAULT]\nuser={user}\nfingerprint={fp}\nkey_file={}\ntenancy={}\nregion=us-ashburn-1\n",
        key.display(),
        e.emu.state().tenancy_id()
    );
    let cfg = common::write(dir, "config", text.as_bytes(), 0o600);
    let inner = format!(
        "{} os ns get --config-file {} --endpoint {} --no-retry",
        common::BIN,
        cfg.display(),
        e.emu.base_url()
    );
    let home = dir.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = std::process::Command::new("/usr/bin/script")
            .args(["-qec", &inner, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut sin = child.stdin.take().unwrap();
        let mut sout = child.stdout.take().unwrap();
        // Type the passphrase only once the prompt is shown (echo is off by then).
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let reader = std::thread::spawn(move || {
            use std::io::Read as _;
            let mut buf = [0u8; 4096];
            while let Ok(n) = sout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("Private key passphrase:") {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(chunk) => seen.extend(chunk),
                Err(_) => break,
            }
        }
        // rpassword turns echo off just after printing the prompt; typing right at the prompt
        // could be echoed by the terminal, so whether it echoes is not asserted here.
        std::thread::sleep(Duration::from_millis(200));
        sin.write_all(b"tty-pass\n").unwrap();
        drop(sin);
        let status = child.wait().unwrap();
        reader.join().unwrap();
        seen.extend(rx.try_iter().flatten());
        (status, seen)
    })
    .await
    .unwrap();
    let (status, stdout) = out;
    let text = String::from_utf8_lossy(&stdout).replace('\r', "");
    assert!(text.starts_with("Private key passphrase:"), "{text}");
    assert!(
        !text.contains("tty-pass"),
        "the passphrase was echoed: {text}"
    );
    assert!(
        text.contains(&format!("{{\n  \"data\": \"{}\"\n}}\n", e.ns())),
        "{text}"
    );
    assert_eq!(status.code(), Some(0), "{text}");
}
