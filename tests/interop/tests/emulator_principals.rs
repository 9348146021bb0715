//! The official `oci` CLI and Python SDK against the emulator's instance-principal,
//! resource-principal and OKE workload-identity services (spec oci-principals-wif.md §2–4,
//! testing-and-dependencies.md §1.7).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use interop_tests::{oci_cli, py_script, python, venv};
use oci_emulator::principals::{NewCluster, NewInstance, NewResource};
use oci_emulator::{EmulatorConfig, Fault, RunningEmulator};
use serde_json::Value;

struct Emu {
    rt: tokio::runtime::Runtime,
    emu: Option<RunningEmulator>,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Emu {
    fn start(cfg: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> Emu {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let l2 = log.clone();
        let config = EmulatorConfig::new(dir.path()).log(Arc::new(move |l: &str| {
            l2.lock().unwrap().push(l.to_string())
        }));
        let emu = rt.block_on(oci_emulator::start(cfg(config))).unwrap();
        Emu {
            rt,
            emu: Some(emu),
            log,
            _dir: dir,
        }
    }
    fn emu(&self) -> &RunningEmulator {
        self.emu.as_ref().unwrap()
    }
    fn url(&self) -> String {
        self.emu().base_url()
    }
    fn ns(&self) -> String {
        self.emu().state().namespace()
    }
    fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    fn count(&self, prefix: &str) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        if let Some(e) = self.emu.take() {
            self.rt.block_on(e.shutdown());
        }
    }
}

/// No CA bundle from the machine: the Python side must trust exactly what the test gives it.
fn clean(mut c: Command) -> Command {
    c.env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .env_remove("KUBERNETES_SERVICE_HOST");
    c
}

fn ok(out: Output, what: &str, emu: &Emu) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\nstdout: {stdout}\nstderr: {}\nemulator log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        emu.log_lines().join("\n")
    );
    stdout
}

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn ns_output(ns: &str) -> String {
    format!("{{\n  \"data\": \"{ns}\"\n}}\n")
}

#[test]
fn cli_instance_principal() {
    let Some(venv) = venv() else { return };
    let e = Emu::start(|c| c);
    let fed = e.emu().federation_endpoint();
    // Flags.
    let out = clean(oci_cli(&venv))
        .env("OCI_METADATA_BASE_URL", e.emu().imds_base_url())
        .args(["os", "ns", "get", "--auth", "instance_principal"])
        .args([
            "--federation-endpoint",
            &fed,
            "--endpoint",
            &e.url(),
            "--no-retry",
        ])
        .output()
        .unwrap();
    assert_eq!(
        ok(out, "oci --auth instance_principal", &e),
        ns_output(&e.ns())
    );
    assert_eq!(e.count("POST /v1/x509 200 key=\"ocid1.tenancy.oc1.."), 1);
    assert_eq!(e.count("GET /n 200 key=\"ST$"), 1);
    // Environment only (OCI_CLI_AUTH, OCI_CLI_FEDERATION_ENDPOINT, OCI_CLI_ENDPOINT), no config.
    let out = clean(oci_cli(&venv))
        .env("OCI_METADATA_BASE_URL", e.emu().imds_base_url())
        .env("OCI_CLI_AUTH", "instance_principal")
        .env("OCI_CLI_FEDERATION_ENDPOINT", &fed)
        .env("OCI_CLI_ENDPOINT", e.url())
        .args(["os", "ns", "get", "--no-retry"])
        .output()
        .unwrap();
    assert_eq!(ok(out, "oci with OCI_CLI_AUTH", &e), ns_output(&e.ns()));
    // A named instance through its own metadata path.
    e.emu()
        .principals()
        .add_instance(NewInstance {
            name: Some("web-1".into()),
            ..NewInstance::default()
        })
        .unwrap();
    let out = clean(oci_cli(&venv))
        .env("OCI_METADATA_BASE_URL", e.emu().imds_base_url_for("web-1"))
        .args(["os", "ns", "get", "--auth", "instance_principal"])
        .args([
            "--federation-endpoint",
            &fed,
            "--endpoint",
            &e.url(),
            "--no-retry",
        ])
        .output()
        .unwrap();
    assert_eq!(ok(out, "oci as web-1", &e), ns_output(&e.ns()));
    assert_eq!(e.count("GET /imds/web-1/opc/v2/identity/cert.pem 200"), 2);
}

#[test]
fn python_instance_principal_signer() {
    let Some(venv) = venv() else { return };
    let e = Emu::start(|c| c);
    let run = |extra: &[&str]| {
        clean(python(&venv))
            .env("OCI_METADATA_BASE_URL", e.emu().imds_base_url())
            .arg(py_script("principals_ip.py"))
            .args([e.emu().federation_endpoint(), e.url()])
            .args(extra)
            .output()
            .unwrap()
    };
    let v = json(&ok(run(&["--refresh"]), "principals_ip.py", &e));
    let inst = e.emu().principals().current_instance().unwrap();
    assert_eq!(v["region"], "us-ashburn-1");
    assert_eq!(v["tenancy"], e.emu().state().tenancy_id().as_str());
    assert_eq!(v["namespace"], e.ns().as_str());
    assert_eq!(v["refreshed_namespace"], e.ns().as_str());
    assert_eq!(v["token_changed"], true);
    assert_eq!(v["claims"]["ptype"], "instance");
    assert_eq!(v["claims"]["sub"], inst.id.as_str());
    assert_eq!(v["claims"]["opc-instance"], inst.id.as_str());
    assert_eq!(v["claims"]["ttype"], "x509");
    // The SDK's bootstrap order, as observed against real instances (spec §2.3).
    let imds: Vec<String> = e
        .log_lines()
        .iter()
        .filter(|l| l.starts_with("GET /opc/v2/") || l.starts_with("POST /v1/x509"))
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        imds[..8],
        [
            "GET /opc/v2/identity/cert.pem 200",
            "GET /opc/v2/identity/key.pem 200",
            "GET /opc/v2/identity/intermediate.pem 200",
            "GET /opc/v2/instance/region 200",
            "GET /opc/v2/identity/cert.pem 200",
            "GET /opc/v2/identity/key.pem 200",
            "GET /opc/v2/identity/intermediate.pem 200",
            "POST /v1/x509 200",
        ]
    );

    // Federation 5xx twice, then success: the SDK's default federation retries recover.
    e.emu()
        .inject_fault(Fault::status("/v1/x509", 503).times(2))
        .unwrap();
    let before = e.count("POST /v1/x509 503");
    let v = json(&ok(
        run(&["--sdk-retry"]),
        "principals_ip.py --sdk-retry",
        &e,
    ));
    assert_eq!(v["namespace"], e.ns().as_str());
    assert_eq!(e.count("POST /v1/x509 503") - before, 2);
    // Without retries the 503 surfaces (as the circuit breaker's transient ServiceError).
    e.emu()
        .inject_fault(Fault::status("/v1/x509", 503))
        .unwrap();
    let out = run(&[]);
    assert!(!out.status.success());
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["error"], "TransientServiceError");
    assert_eq!(v["status"], 503);
    assert_eq!(
        v["message"],
        "Injected fault: HTTP 503 from the oci-emulator fault injector."
    );
    // A 429 with Retry-After on IMDS: the certificate retriever retries.
    e.emu()
        .inject_fault(Fault::status("/opc/v2/identity/cert.pem", 429).retry_after(1))
        .unwrap();
    let v = json(&ok(run(&[]), "principals_ip.py after IMDS 429", &e));
    assert_eq!(v["namespace"], e.ns().as_str());
    assert_eq!(e.count("GET /opc/v2/identity/cert.pem 429"), 1);
    // A malformed token: the SDK refuses it.
    e.emu()
        .inject_fault(Fault::body("/v1/x509", 200, r#"{"token":"not-a-jwt"}"#))
        .unwrap();
    let out = run(&[]);
    assert!(!out.status.success());
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["error"], "DecodeError", "{v}");
    // The certificate names another tenancy after rotation: the emulator refuses it.
    e.emu()
        .principals()
        .rotate_cert(&inst.name, Some("ocid1.tenancy.oc1..aaaaaaaaother"))
        .unwrap();
    let out = run(&[]);
    assert!(!out.status.success());
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["status"], 401, "{v}");
}

/// Run `principals_rp.py` with `vars`.
fn rp_script(venv: &Path, e: &Emu, vars: &[(String, String)]) -> Output {
    let mut c = clean(python(venv));
    c.arg(py_script("principals_rp.py")).arg(e.url());
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn s(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

#[test]
fn resource_principals_22_with_cli_and_sdk() {
    let Some(venv) = venv() else { return };
    let e = Emu::start(|c| c);
    let res = e
        .emu()
        .principals()
        .add_resource(NewResource {
            name: Some("fn-1".into()),
            ..NewResource::default()
        })
        .unwrap();
    let files = e.emu().mint_rp22("fn-1", None).unwrap();
    let mut cli = clean(oci_cli(&venv));
    for (k, v) in files.env() {
        cli.env(k, v);
    }
    let out = cli
        .args(["os", "ns", "get", "--auth", "resource_principal"])
        .args(["--endpoint", &e.url(), "--no-retry"])
        .output()
        .unwrap();
    assert_eq!(
        ok(out, "oci --auth resource_principal", &e),
        ns_output(&e.ns())
    );

    let v = json(&ok(
        rp_script(&venv, &e, &files.env()),
        "principals_rp.py 2.2",
        &e,
    ));
    assert_eq!(v["region"], "us-ashburn-1");
    assert_eq!(v["namespace"], e.ns().as_str());
    assert_eq!(v["claims"]["res_id"], res.id.as_str());
    assert_eq!(v["claims"]["res_type"], "fnfunc");
    // The short region code is accepted too, and literal values instead of paths.
    let token = std::fs::read_to_string(&files.rpst_path).unwrap();
    let key = std::fs::read_to_string(&files.key_path).unwrap();
    let vars = vec![
        s("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        s("OCI_RESOURCE_PRINCIPAL_RPST", token),
        s("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", key),
        s("OCI_RESOURCE_PRINCIPAL_REGION", "iad"),
    ];
    let v = json(&ok(
        rp_script(&venv, &e, &vars),
        "principals_rp.py 2.2 literal",
        &e,
    ));
    assert_eq!(v["region"], "us-ashburn-1");
    assert_eq!(v["namespace"], e.ns().as_str());
}

#[test]
fn resource_principals_11_21_30_with_sdk() {
    let Some(venv) = venv() else { return };
    let e = Emu::start(|c| c);
    let p = e.emu().principals();
    let inst = p.current_instance().unwrap();
    let db = p
        .add_resource(NewResource {
            name: Some("db-1".into()),
            resource_type: Some("autonomousdatabase".into()),
            instance: Some(inst.name.clone()),
            ..NewResource::default()
        })
        .unwrap();
    // RP 1.1: instance principal, RPT by instance id from IMDS, RPST.
    let vars = vec![
        s("OCI_RESOURCE_PRINCIPAL_VERSION", "1.1"),
        s("OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT", e.url()),
        s("OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT", e.url()),
        s("OCI_METADATA_BASE_URL", e.emu().imds_base_url()),
        s("EMU_FEDERATION_ENDPOINT", e.emu().federation_endpoint()),
    ];
    let v = json(&ok(rp_script(&venv, &e, &vars), "principals_rp.py 1.1", &e));
    assert_eq!(v["namespace"], e.ns().as_str());
    assert_eq!(v["region"], "us-ashburn-1");
    assert_eq!(v["claims"]["res_id"], db.id.as_str());
    assert_eq!(v["claims"]["opc-instance"], inst.id.as_str());
    assert_eq!(
        e.count(&format!(
            "GET /20180711/resourcePrincipalToken/{} 200 key=\"ST$",
            inst.id
        )),
        1
    );
    // The SDK's default RPT path provider asks IMDS for the instance id twice.
    assert_eq!(e.count("GET /opc/v2/instance/id 200"), 2);

    // RP 2.1 / 2.1.1 / 2.1.2 with the resource's own key.
    let key_path = p.resource_key_path("db-1");
    for version in ["2.1", "2.1.1", "2.1.2"] {
        let vars = vec![
            s("OCI_RESOURCE_PRINCIPAL_VERSION", version),
            s("OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT", e.url()),
            s("OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT", e.url()),
            s("OCI_RESOURCE_PRINCIPAL_RESOURCE_ID", db.id.clone()),
            s(
                "OCI_RESOURCE_PRINCIPAL_TENANCY_ID",
                e.emu().state().tenancy_id(),
            ),
            s(
                "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
                key_path.to_string_lossy().into_owned(),
            ),
            s("OCI_RESOURCE_PRINCIPAL_REGION", "us-ashburn-1"),
            s("OCI_RESOURCE_PRINCIPAL_SECURITY_CONTEXT", "ctx-1"),
        ];
        let v = json(&ok(rp_script(&venv, &e, &vars), version, &e));
        assert_eq!(v["namespace"], e.ns().as_str(), "{version}");
        assert_eq!(v["claims"]["res_id"], db.id.as_str(), "{version}");
        assert!(v["claims"].get("opc-instance").is_none(), "{version}");
    }
    assert_eq!(
        e.count("GET /20180711/resourcePrincipalTokenV212/"),
        1,
        "{:#?}",
        e.log_lines()
    );

    // RP 3.0: a 2.2 leaf whose parent is the database.
    p.add_resource(NewResource {
        name: Some("child".into()),
        parent: Some("db-1".into()),
        ..NewResource::default()
    })
    .unwrap();
    let leaf = e.emu().mint_rp22("child", None).unwrap();
    let vars = vec![
        s("OCI_RESOURCE_PRINCIPAL_VERSION", "3.0"),
        s("OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE", "2.2"),
        s(
            "OCI_RESOURCE_PRINCIPAL_RPST_FOR_LEAF_RESOURCE",
            leaf.rpst_path.to_string_lossy().into_owned(),
        ),
        s(
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_FOR_LEAF_RESOURCE",
            leaf.key_path.to_string_lossy().into_owned(),
        ),
        s("OCI_RESOURCE_PRINCIPAL_REGION_FOR_LEAF_RESOURCE", "iad"),
        s(
            "OCI_RESOURCE_PRINCIPAL_RPT_URL_FOR_PARENT_RESOURCE",
            e.url(),
        ),
        s(
            "OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT_FOR_PARENT_RESOURCE",
            e.url(),
        ),
    ];
    let v = json(&ok(rp_script(&venv, &e, &vars), "principals_rp.py 3.0", &e));
    assert_eq!(v["namespace"], e.ns().as_str());
    assert_eq!(v["claims"]["sub"], db.id.as_str());
}

#[test]
fn oke_workload_identity_with_sdk_and_cli() {
    let Some(venv) = venv() else { return };
    // The SDKs' helpers hard-code port 12250; use it when free, else only the signer class.
    let fixed = std::net::TcpListener::bind(("127.0.0.1", oci_emulator::oke::PROXYMUX_PORT))
        .map(drop)
        .is_ok();
    let port = if fixed {
        oci_emulator::oke::PROXYMUX_PORT
    } else {
        eprintln!("port 12250 is busy: skipping the helper and CLI parts");
        0
    };
    let e = Emu::start(|c| c.oke_port(port));
    let oke = e.emu().oke().unwrap();
    let ca = oke.ca_path().to_path_buf();
    let oke_port = oke.addr().port().to_string();
    let p = e.emu().principals();
    let cluster = p
        .add_cluster(NewCluster {
            name: Some("prod".into()),
            basic: false,
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let sa = oci_emulator::oke::mint_sa_token(
        p,
        "prod",
        "apps",
        "builder",
        std::time::Duration::from_secs(600),
    )
    .unwrap();
    std::fs::write(&token_file, &sa).unwrap();
    let run = |token: &Path, helper: bool| {
        clean(python(&venv))
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH", &ca)
            .env("OCI_RESOURCE_PRINCIPAL_REGION", "iad")
            .arg(py_script("principals_oke.py"))
            .arg(e.url())
            .arg(&oke_port)
            .arg(token)
            .arg(&ca)
            .arg("iad")
            .args(helper.then_some("--helper"))
            .output()
            .unwrap()
    };
    let v = json(&ok(run(&token_file, false), "principals_oke.py", &e));
    assert_eq!(v["region"], "us-ashburn-1");
    assert_eq!(v["namespace"], e.ns().as_str());
    assert_eq!(v["claims"]["ptype"], "workload");
    assert_eq!(v["claims"]["cluster_id"], cluster.id.as_str());
    assert_eq!(v["claims"]["namespace"], "apps");
    assert_eq!(v["claims"]["service_account"], "builder");
    assert_eq!(e.count("POST /resourcePrincipalSessionTokens 200"), 1);

    // A basic cluster: the SDK reports the 403 its own way.
    p.add_cluster(NewCluster {
        name: Some("cheap".into()),
        basic: true,
    })
    .unwrap();
    let basic_file = dir.path().join("basic-token");
    let basic = oci_emulator::oke::mint_sa_token(
        p,
        "cheap",
        "default",
        "default",
        std::time::Duration::from_secs(600),
    )
    .unwrap();
    std::fs::write(&basic_file, basic).unwrap();
    let out = run(&basic_file, false);
    assert!(!out.status.success());
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["status"], 403, "{v}");
    assert_eq!(v["message"], "Please ensure the cluster type is enhanced");

    if !fixed {
        return;
    }
    // The SDK helper (port 12250, KUBERNETES_SERVICE_HOST, OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH).
    let v = json(&ok(
        run(&token_file, true),
        "principals_oke.py --helper",
        &e,
    ));
    assert_eq!(v["namespace"], e.ns().as_str());
    // The CLI.
    let out = clean(oci_cli(&venv))
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH", &ca)
        .env("OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH", &token_file)
        .env("OCI_RESOURCE_PRINCIPAL_REGION", "iad")
        .args(["os", "ns", "get", "--auth", "oke_workload_identity"])
        .args(["--endpoint", &e.url(), "--no-retry"])
        .output()
        .unwrap();
    assert_eq!(
        ok(out, "oci --auth oke_workload_identity", &e),
        ns_output(&e.ns())
    );
}
