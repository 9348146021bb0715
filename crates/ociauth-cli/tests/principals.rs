//! `ociauth --auth instance_principal | resource_principal | oke_workload_identity` against the
//! in-process emulator's metadata service, federation endpoint, RP 2.2 files and OKE proxymux:
//! `os ns get` and object put/list/get with each method, no config file, and the failures a
//! user meets (no metadata service, federation 5xx/429, a malformed token, a changed tenancy),
//! each recovering within its retry budget or ending with its own one-line message.
//!
//! Every run has a generous time limit: a hang fails the test instead of stalling CI (no timed
//! assertions).

mod common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Run;
use oci_emulator::principals::{NewCluster, NewInstance, NewResource};
use oci_emulator::{EmulatorConfig, Fault, RunningEmulator, TokenLifetimes};
use serde_json::Value;

/// Far longer than any run needs (the longest retry budget here is a few seconds); only a hang
/// reaches it.
const HANG_LIMIT: Duration = Duration::from_secs(240);

struct Emu {
    emu: RunningEmulator,
    log: Arc<Mutex<Vec<String>>>,
    home: tempfile::TempDir,
    _state: tempfile::TempDir,
}

impl Emu {
    async fn start(oke: bool) -> Emu {
        let state = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = log.clone();
        let mut cfg = EmulatorConfig::new(state.path())
            .log(Arc::new(move |l: &str| {
                sink.lock().unwrap().push(l.to_string())
            }))
            .token_lifetimes(TokenLifetimes {
                principal: Duration::from_secs(120),
                ..TokenLifetimes::default()
            });
        if oke {
            cfg = cfg.oke_port(0);
        }
        let emu = oci_emulator::start(cfg).await.unwrap();
        Emu {
            emu,
            log,
            home: tempfile::tempdir().unwrap(),
            _state: state,
        }
    }
    fn url(&self) -> String {
        self.emu.base_url()
    }
    fn ns(&self) -> String {
        self.emu.state().namespace()
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
    /// `ociauth ARGS` with an empty HOME (no config file), only PATH from the environment.
    fn ociauth(&self, args: &[&str]) -> Command {
        let mut c = Command::new(common::BIN);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .args(args);
        c
    }
    /// `ociauth ARGS --auth instance_principal --federation-endpoint F --endpoint URL` with
    /// `OCI_METADATA_BASE_URL` at the emulator.
    fn ip(&self, args: &[&str]) -> Command {
        let mut c = self.ociauth(args);
        c.env("OCI_METADATA_BASE_URL", self.emu.imds_base_url())
            .args(["--auth", "instance_principal", "--federation-endpoint"])
            .arg(self.emu.federation_endpoint())
            .args(["--endpoint", &self.url()]);
        c
    }
}

/// Run to completion (stdin empty), failing the test if it takes longer than [`HANG_LIMIT`].
async fn run(c: Command) -> Run {
    tokio::task::spawn_blocking(move || run_blocking(c))
        .await
        .unwrap()
}

fn run_blocking(mut c: Command) -> Run {
    let what = format!("{c:?}");
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ociauth");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ociauth hung for more than {HANG_LIMIT:?}: {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

fn ns_output(ns: &str) -> String {
    format!("{{\n  \"data\": \"{ns}\"\n}}\n")
}

/// Exit 1 with exactly one `ERROR: ` line, which is returned.
fn one_error_line(r: &Run) -> String {
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout, "", "{r:?}");
    assert!(r.stderr.starts_with("ERROR: "), "{r:?}");
    assert!(r.stderr.ends_with('\n'), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    r.stderr.trim_end().to_string()
}

/// Bucket create, object put, list and get (to stdout) with `base` (a command with the auth
/// already chosen) and its stdout checked; returns nothing, panics on any difference.
async fn objects_roundtrip(e: &Emu, base: impl Fn(&[&str]) -> Command, tag: &str) {
    let bucket = format!("bucket-{tag}");
    let comp = e.emu.state().compartment_id();
    let r = run(base(&[
        "os", "bucket", "create", "-c", &comp, "--name", &bucket,
    ]))
    .await;
    assert_eq!(r.code, 0, "{r:?}\n{}", e.log_text());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["data"]["name"], bucket.as_str());
    assert_eq!(v["data"]["namespace"], e.ns().as_str());

    let file = e.home.path().join(format!("{tag}.txt"));
    std::fs::write(&file, format!("hello from {tag}\n")).unwrap();
    let r = run(base(&[
        "os",
        "object",
        "put",
        "-bn",
        &bucket,
        "--file",
        file.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["etag", "last-modified", "opc-content-md5"]);

    let r = run(base(&["os", "object", "list", "-bn", &bucket])).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [format!("{tag}.txt")]);
    assert_eq!(
        v["data"][0]["size"],
        format!("hello from {tag}\n").len() as u64
    );

    let name = format!("{tag}.txt");
    let r = run(base(&[
        "os", "object", "get", "-bn", &bucket, "--name", &name, "--file", "-",
    ]))
    .await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, format!("hello from {tag}\n"));
}

/// A proxy address nothing listens on: requests to the region's real (https) endpoint fail at
/// once there, and the error names the URL the region led to.
fn dead_proxy() -> String {
    format!("http://127.0.0.1:{}", common::closed_port())
}

// ---------------------------------------------------------------------------------------------
// Instance principal
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_principal_without_a_config_file() {
    let e = Emu::start(false).await;
    let tenancy = e.emu.state().tenancy_id();

    let r = run(e.ip(&["os", "ns", "get"])).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, ns_output(&e.ns()));
    assert_eq!(
        e.count(&format!(
            "POST /v1/x509 200 key=\"{tenancy}/fed-x509-sha256/"
        )),
        1,
        "{}",
        e.log_text()
    );
    assert_eq!(e.count("GET /n 200 key=\"ST$"), 1);
    assert_eq!(e.count("GET /opc/v2/instance/region 200"), 1);

    // Everything from the environment: OCI_CLI_AUTH, OCI_CLI_FEDERATION_ENDPOINT, OCI_CLI_ENDPOINT.
    let mut c = e.ociauth(&["os", "ns", "get"]);
    c.env("OCI_METADATA_BASE_URL", e.emu.imds_base_url())
        .env("OCI_CLI_AUTH", "instance_principal")
        .env("OCI_CLI_FEDERATION_ENDPOINT", e.emu.federation_endpoint())
        .env("OCI_CLI_ENDPOINT", e.url());
    let r = run(c).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, ns_output(&e.ns()));

    // A config file without the profile asked for is fine too (the CLI falls back to none).
    let cfg = common::write(e.home.path(), "config", b"[other]\nregion=phx\n", 0o600);
    let mut c = e.ip(&["os", "ns", "get", "--profile", "MISSING"]);
    c.args(["--config-file", cfg.to_str().unwrap()]);
    let r = run(c).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, ns_output(&e.ns()));

    // A named instance through its own metadata path.
    e.emu
        .principals()
        .add_instance(NewInstance {
            name: Some("web-1".into()),
            ..NewInstance::default()
        })
        .unwrap();
    let mut c = e.ip(&["os", "ns", "get"]);
    c.env("OCI_METADATA_BASE_URL", e.emu.imds_base_url_for("web-1"));
    let r = run(c).await;
    assert_eq!(r.stdout, ns_output(&e.ns()), "{r:?}");
    assert_eq!(e.count("GET /imds/web-1/opc/v2/identity/cert.pem 200"), 1);

    objects_roundtrip(&e, |a| e.ip(a), "ip").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_principal_region_comes_from_the_metadata_service() {
    let e = Emu::start(false).await;
    // No --endpoint, --region or profile: the instance's region (iad) picks the endpoint. The
    // real endpoint is out of reach here, so the request goes to a dead proxy and the error names
    // the URL.
    let mut c = e.ociauth(&[
        "os",
        "ns",
        "get",
        "--auth",
        "instance_principal",
        "--no-retry",
    ]);
    c.env("OCI_METADATA_BASE_URL", e.emu.imds_base_url())
        .env("OCI_CLI_FEDERATION_ENDPOINT", e.emu.federation_endpoint())
        .env("HTTPS_PROXY", dead_proxy());
    let r = run(c).await;
    let line = one_error_line(&r);
    assert!(
        line.starts_with(
            "ERROR: could not connect to https://objectstorage.us-ashburn-1.oraclecloud.com/n: "
        ),
        "{line}"
    );
    // One token, fetched to learn the region, then used.
    assert_eq!(e.count("POST /v1/x509 200"), 1);

    // --region wins over the instance's.
    let mut c = e.ociauth(&[
        "os",
        "ns",
        "get",
        "--auth",
        "instance_principal",
        "--no-retry",
        "--region",
        "fra",
    ]);
    c.env("OCI_METADATA_BASE_URL", e.emu.imds_base_url())
        .env("OCI_CLI_FEDERATION_ENDPOINT", e.emu.federation_endpoint())
        .env("HTTPS_PROXY", dead_proxy());
    let r = run(c).await;
    let line = one_error_line(&r);
    assert!(
        line.starts_with(
            "ERROR: could not connect to https://objectstorage.eu-frankfurt-1.oraclecloud.com/n: "
        ),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_principal_off_an_instance_fails_at_once() {
    let e = Emu::start(false).await;
    let port = common::closed_port();
    let base = format!("http://127.0.0.1:{port}/opc/v2");
    for endpoint in [true, false] {
        let mut c = e.ociauth(&["os", "ns", "get", "--auth", "instance_principal"]);
        c.env("OCI_METADATA_BASE_URL", &base);
        if endpoint {
            c.args(["--endpoint", &e.url()]);
        }
        let r = run(c).await;
        let line = one_error_line(&r);
        assert_eq!(
            line,
            format!(
                "ERROR: instance_principal: not on an OCI instance: the instance metadata service \
                 at {base} is unreachable (connection refused); instance principals work only on \
                 OCI compute instances (set OCI_METADATA_BASE_URL to use a metadata service at \
                 another address)"
            )
        );
    }
    // Nothing reached the emulator.
    assert_eq!(e.count("POST /v1/x509"), 0);
    assert_eq!(e.count("GET /n"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_principal_federation_faults() {
    let e = Emu::start(false).await;
    let fed = e.emu.federation_endpoint();

    // 5xx twice, then success: recovered within the federation budget (3 attempts).
    e.emu
        .inject_fault(Fault::status("/v1/x509", 503).times(2))
        .unwrap();
    let r = run(e.ip(&["os", "ns", "get"])).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, ns_output(&e.ns()));
    assert_eq!(e.count("POST /v1/x509 503"), 2);
    assert_eq!(e.count("POST /v1/x509 200"), 1);

    // 429 (with Retry-After): recovered too.
    e.emu
        .inject_fault(Fault::status("/v1/x509", 429).retry_after(1))
        .unwrap();
    let r = run(e.ip(&["os", "ns", "get"])).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(e.count("POST /v1/x509 429"), 1);
    assert_eq!(e.count("POST /v1/x509 200"), 2);

    // 5xx beyond the budget: its own message, after 3 attempts.
    e.emu
        .inject_fault(Fault::status("/v1/x509", 503).times(3))
        .unwrap();
    let r = run(e.ip(&["os", "ns", "get"])).await;
    let line = one_error_line(&r);
    assert!(
        line.starts_with(&format!(
            "ERROR: instance_principal: the federation request (POST {fed}) failed: "
        )),
        "{line}"
    );
    assert!(line.contains("503"), "{line}");
    assert!(line.ends_with("(gave up after 3 attempts)"), "{line}");
    assert_eq!(e.count("POST /v1/x509 503"), 5);

    // A token that is not a JWT.
    e.emu
        .inject_fault(Fault::body("/v1/x509", 200, r#"{"token":"not-a-jwt"}"#))
        .unwrap();
    let r = run(e.ip(&["os", "ns", "get"])).await;
    let line = one_error_line(&r);
    assert!(
        line.starts_with(&format!(
            "ERROR: instance_principal: the token from POST {fed}: "
        )),
        "{line}"
    );
    assert!(
        !line.contains("not-a-jwt"),
        "no token text in errors: {line}"
    );

    // A body that is not JSON.
    e.emu.inject_fault(Fault::malformed("/v1/x509")).unwrap();
    let r = run(e.ip(&["os", "ns", "get"])).await;
    let line = one_error_line(&r);
    assert_eq!(
        line,
        format!(
            "ERROR: instance_principal: the federation request (POST {fed}) answered with a body \
             that is not a JSON object ({} bytes)",
            oci_emulator::faults::MALFORMED_BODY.len()
        )
    );
    assert_eq!(e.count("GET /n 200"), 2, "{}", e.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_principal_refuses_a_changed_tenancy() {
    let e = Emu::start(false).await;
    let p = e.emu.principals();
    let tenancy = e.emu.state().tenancy_id();
    // A certificate (and its key) naming another tenancy, as the metadata service would serve
    // after a rotation.
    // The default instance first (made on first use), so that it stays the current one.
    p.current_instance().unwrap();
    p.add_instance(NewInstance {
        name: Some("moved".into()),
        ..NewInstance::default()
    })
    .unwrap();
    let other = "ocid1.tenancy.oc1..aaaaaaaaother";
    let moved = p.rotate_cert("moved", Some(other)).unwrap();
    // The first reads pass; the next ones (after the 401 below) see the rotated identity.
    for f in [
        Fault::delay("/opc/v2/identity/cert.pem", 0),
        Fault::delay("/opc/v2/identity/key.pem", 0),
        Fault::body("/opc/v2/identity/cert.pem", 200, &moved.cert_pem),
        Fault::body("/opc/v2/identity/key.pem", 200, &moved.key_pem),
        // The service refuses the first token, so the CLI renews it.
        Fault::status("/n", 401).method("GET"),
    ] {
        e.emu.inject_fault(f).unwrap();
    }
    let r = run(e.ip(&["os", "ns", "get"])).await;
    let line = one_error_line(&r);
    assert_eq!(
        line,
        format!(
            "ERROR: instance_principal: the refreshed instance certificate names the tenancy \
             {other}, but this provider started with {tenancy}; refusing to switch tenancies \
             (restart the program to use the new tenancy)"
        )
    );
    assert_eq!(e.count("POST /v1/x509 200"), 1);
    assert_eq!(e.count("GET /opc/v2/identity/cert.pem 200"), 2);
}

// ---------------------------------------------------------------------------------------------
// Resource principal
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_principal_22() {
    let e = Emu::start(false).await;
    let res = e
        .emu
        .principals()
        .add_resource(NewResource {
            name: Some("fn-1".into()),
            ..NewResource::default()
        })
        .unwrap();
    let files = e.emu.mint_rp22("fn-1", None).unwrap();
    let rp = |args: &[&str]| {
        let mut c = e.ociauth(args);
        c.envs(files.env())
            .args(["--auth", "resource_principal", "--endpoint", &e.url()]);
        c
    };
    let r = run(rp(&["os", "ns", "get"])).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, ns_output(&e.ns()));
    assert_eq!(e.count("GET /n 200 key=\"ST$"), 1, "{}", e.log_text());

    // OCI_CLI_AUTH, and literal values instead of file paths.
    let token = std::fs::read_to_string(&files.rpst_path).unwrap();
    let key = std::fs::read_to_string(&files.key_path).unwrap();
    let mut c = e.ociauth(&["os", "ns", "get"]);
    c.env("OCI_CLI_AUTH", "resource_principal")
        .env("OCI_CLI_ENDPOINT", e.url())
        .env("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
        .env("OCI_RESOURCE_PRINCIPAL_RPST", &token)
        .env("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", &key)
        .env("OCI_RESOURCE_PRINCIPAL_REGION", "iad");
    let r = run(c).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, ns_output(&e.ns()));

    // The region comes from OCI_RESOURCE_PRINCIPAL_REGION when nothing else gives one.
    let mut c = e.ociauth(&[
        "os",
        "ns",
        "get",
        "--auth",
        "resource_principal",
        "--no-retry",
    ]);
    c.envs(files.env())
        .env("OCI_RESOURCE_PRINCIPAL_REGION", "phx")
        .env("HTTPS_PROXY", dead_proxy());
    let r = run(c).await;
    let line = one_error_line(&r);
    assert!(
        line.starts_with(
            "ERROR: could not connect to https://objectstorage.us-phoenix-1.oraclecloud.com/n: "
        ),
        "{line}"
    );

    // raw-request signs with it too.
    let mut c = e.ociauth(&[
        "raw-request",
        "--http-method",
        "GET",
        "--target-uri",
        &format!("{}/n", e.url()),
        "--auth",
        "resource_principal",
    ]);
    c.envs(files.env());
    let r = run(c).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["data"], e.ns().as_str());
    assert_eq!(v["status"], "200 OK");

    objects_roundtrip(&e, rp, "rp").await;
    // Every request was signed with the resource's token.
    let rpst = std::fs::read_to_string(&files.rpst_path).unwrap();
    let claims = ociauth::jwt::decode_unverified(rpst.trim()).unwrap();
    assert_eq!(claims.claim_str("res_id"), Some(res.id.as_str()));
    assert_eq!(e.count("GET /n 401"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_principal_misconfigured() {
    let e = Emu::start(false).await;
    // Not configured at all.
    let r = run(e.ociauth(&[
        "os",
        "ns",
        "get",
        "--auth",
        "resource_principal",
        "--endpoint",
        &e.url(),
    ]))
    .await;
    assert_eq!(
        one_error_line(&r),
        "ERROR: resource_principal: OCI_RESOURCE_PRINCIPAL_VERSION is not defined: resource \
         principals are not configured in this environment (OCI services that support them set \
         it to 2.2, 1.1 or 3.0)"
    );
    // 2.2 with the token file missing: names the file and the variable.
    let missing = e.home.path().join("no-such-rpst");
    let mut c = e.ociauth(&[
        "os",
        "ns",
        "get",
        "--auth",
        "resource_principal",
        "--endpoint",
        &e.url(),
    ]);
    c.env("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
        .env("OCI_RESOURCE_PRINCIPAL_RPST", &missing)
        .env("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", &missing)
        .env("OCI_RESOURCE_PRINCIPAL_REGION", "iad");
    let r = run(c).await;
    let line = one_error_line(&r);
    assert!(line.starts_with("ERROR: resource_principal: "), "{line}");
    assert!(line.contains(&missing.display().to_string()), "{line}");
    assert!(line.contains("OCI_RESOURCE_PRINCIPAL_"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// OKE workload identity
// ---------------------------------------------------------------------------------------------

/// The variables of a pod in cluster `prod` whose proxymux is the emulator's.
fn oke_env(e: &Emu, token_file: &Path) -> Vec<(String, PathBuf)> {
    let oke = e.emu.oke().unwrap();
    vec![
        ("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into()),
        (
            "OCIAUTH_OKE_PROXYMUX_PORT".into(),
            oke.addr().port().to_string().into(),
        ),
        (
            "OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH".into(),
            oke.ca_path().to_path_buf(),
        ),
        (
            "OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH".into(),
            token_file.to_path_buf(),
        ),
        ("OCI_RESOURCE_PRINCIPAL_REGION".into(), "iad".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oke_workload_identity() {
    let e = Emu::start(true).await;
    let p = e.emu.principals();
    p.add_cluster(NewCluster {
        name: Some("prod".into()),
        basic: false,
    })
    .unwrap();
    let sa =
        oci_emulator::oke::mint_sa_token(p, "prod", "apps", "builder", Duration::from_secs(600))
            .unwrap();
    let token_file = common::write(e.home.path(), "sa-token", sa.as_bytes(), 0o600);
    let env = oke_env(&e, &token_file);
    let oke = |args: &[&str]| {
        let mut c = e.ociauth(args);
        c.envs(env.iter().map(|(k, v)| (k, v))).args([
            "--auth",
            "oke_workload_identity",
            "--endpoint",
            &e.url(),
        ]);
        c
    };
    let r = run(oke(&["os", "ns", "get"])).await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (0, ""),
        "{r:?}\n{}",
        e.log_text()
    );
    assert_eq!(r.stdout, ns_output(&e.ns()));
    assert_eq!(e.count("POST /resourcePrincipalSessionTokens 200"), 1);
    assert_eq!(e.count("GET /n 200 key=\"ST$"), 1);

    // A literal token (OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_STRING) and OCI_CLI_AUTH.
    let mut c = e.ociauth(&["os", "ns", "get"]);
    c.envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH")
        .env("OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_STRING", &sa)
        .env("OCI_CLI_AUTH", "oke_workload_identity")
        .env("OCI_CLI_ENDPOINT", e.url());
    let r = run(c).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, ns_output(&e.ns()));

    // The proxymux answers 503 once: retried.
    e.emu
        .inject_fault(Fault::status("/resourcePrincipalSessionTokens", 503))
        .unwrap();
    let r = run(oke(&["os", "ns", "get"])).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(e.count("POST /resourcePrincipalSessionTokens 503"), 1);

    // No region anywhere and no --endpoint: says where one can come from.
    let mut c = e.ociauth(&["os", "ns", "get", "--auth", "oke_workload_identity"]);
    c.envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("OCI_RESOURCE_PRINCIPAL_REGION");
    let r = run(c).await;
    assert_eq!(
        one_error_line(&r),
        "ERROR: no region for --auth oke_workload_identity: OCI_RESOURCE_PRINCIPAL_REGION is not \
         set; pass --region (or OCI_CLI_REGION), or --endpoint"
    );

    objects_roundtrip(&e, oke, "oke").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oke_workload_identity_failures() {
    let e = Emu::start(true).await;
    let p = e.emu.principals();
    p.add_cluster(NewCluster {
        name: Some("cheap".into()),
        basic: true,
    })
    .unwrap();
    let sa = oci_emulator::oke::mint_sa_token(
        p,
        "cheap",
        "default",
        "default",
        Duration::from_secs(600),
    )
    .unwrap();
    let token_file = common::write(e.home.path(), "sa-token", sa.as_bytes(), 0o600);
    let env = oke_env(&e, &token_file);
    let oke = |args: &[&str]| {
        let mut c = e.ociauth(args);
        c.envs(env.iter().map(|(k, v)| (k, v))).args([
            "--auth",
            "oke_workload_identity",
            "--endpoint",
            &e.url(),
        ]);
        c
    };
    // A basic cluster: 403, not retried, explained.
    let r = run(oke(&["os", "ns", "get"])).await;
    let line = one_error_line(&r);
    assert!(
        line.starts_with(
            "ERROR: oke_workload_identity: the proxymux token request (POST https://127.0.0.1:"
        ),
        "{line}"
    );
    assert!(
        line.ends_with("please ensure the cluster type is enhanced)"),
        "{line}"
    );
    assert_eq!(e.count("POST /resourcePrincipalSessionTokens 403"), 1);

    // Not in a pod.
    let mut c = oke(&["os", "ns", "get"]);
    c.env_remove("KUBERNETES_SERVICE_HOST");
    let r = run(c).await;
    assert_eq!(
        one_error_line(&r),
        "ERROR: oke_workload_identity: KUBERNETES_SERVICE_HOST is not set: this is not a \
         Kubernetes pod (OKE workload identity runs in pods of an enhanced OKE cluster)"
    );

    // A bad port override.
    let mut c = oke(&["os", "ns", "get"]);
    c.env("OCIAUTH_OKE_PROXYMUX_PORT", "http");
    let r = run(c).await;
    assert_eq!(
        one_error_line(&r),
        "ERROR: OCIAUTH_OKE_PROXYMUX_PORT=\"http\" is not a port number (1-65535); unset it to \
         use the proxymux's port 12250"
    );
}
