//! The official `oci` CLI against `oci-emulator`: namespace, buckets, objects, and a 401, with
//! the config file the emulator generates, unchanged.

use std::path::Path;
use std::process::Output;

use interop_tests::{oci_cli, venv};
use oci_emulator::{EmulatorConfig, RunningEmulator};

struct Cli<'a> {
    venv: &'a Path,
    emu: &'a RunningEmulator,
}

impl Cli<'_> {
    fn run_with(&self, config: &Path, args: &[&str]) -> Output {
        oci_cli(self.venv)
            .args(args)
            .arg("--config-file")
            .arg(config)
            .args(["--endpoint", &self.emu.base_url(), "--no-retry"])
            .output()
            .expect("run oci")
    }
    /// Run, require success, return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run_with(&self.emu.config_path(), args);
        assert!(
            out.status.success(),
            "oci {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn official_cli_against_the_emulator() {
    let Some(venv) = venv() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let l2 = log.clone();
    let emu = rt
        .block_on(oci_emulator::start(EmulatorConfig::new(dir.path()).log(
            std::sync::Arc::new(move |l: &str| l2.lock().unwrap().push(l.to_string())),
        )))
        .unwrap();
    let cli = Cli {
        venv: &venv,
        emu: &emu,
    };
    let ns = emu.state().namespace();
    let compartment = emu.state().compartment_id();

    // oci os ns get: exact output.
    assert_eq!(
        cli.ok(&["os", "ns", "get"]),
        format!("{{\n  \"data\": \"{ns}\"\n}}\n")
    );
    assert_eq!(
        cli.ok(&["os", "ns", "get", "--query", "data", "--raw-output"]),
        format!("{ns}\n")
    );

    // Buckets.
    let created = json(&cli.ok(&[
        "os",
        "bucket",
        "create",
        "-ns",
        &ns,
        "--compartment-id",
        &compartment,
        "--name",
        "cli-bucket",
    ]));
    assert_eq!(created["data"]["name"], "cli-bucket");
    assert_eq!(created["data"]["namespace"], ns.as_str());
    assert_eq!(created["etag"], created["data"]["etag"]);
    let listed = json(&cli.ok(&[
        "os",
        "bucket",
        "list",
        "-ns",
        &ns,
        "--compartment-id",
        &compartment,
    ]));
    let b = &listed["data"][0];
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let mut keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "bucket-scope",
            "compartment-id",
            "created-by",
            "defined-tags",
            "etag",
            "freeform-tags",
            "name",
            "namespace",
            "time-created"
        ]
    );
    assert_eq!(b["name"], "cli-bucket");
    assert_eq!(b["compartment-id"], compartment.as_str());
    assert_eq!(b["etag"], created["etag"]);

    // Objects: put (SDK signs without body headers, sends Expect: 100-continue), list, get, delete.
    let src = dir.path().join("upload.txt");
    std::fs::write(&src, b"hello from the official CLI\n").unwrap();
    let src_s = src.to_str().unwrap();
    let put = json(&cli.ok(&[
        "os",
        "object",
        "put",
        "-ns",
        &ns,
        "-bn",
        "cli-bucket",
        "--file",
        src_s,
        "--name",
        "dir/a b.txt",
    ]));
    let mut keys: Vec<&String> = put.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["etag", "last-modified", "opc-content-md5"]);
    // base64(md5("hello from the official CLI\n"))
    let md5 = put["opc-content-md5"].as_str().unwrap().to_string();
    assert_eq!(md5, "jGS/32QDwUYREtxMYHQeLA==");

    let list = json(&cli.ok(&["os", "object", "list", "-ns", &ns, "-bn", "cli-bucket"]));
    assert_eq!(list["prefixes"], serde_json::json!([]));
    let o = &list["data"][0];
    assert_eq!(o["name"], "dir/a b.txt");
    assert_eq!(o["size"], 28);
    assert_eq!(o["md5"], md5.as_str());
    assert_eq!(o["etag"], put["etag"]);
    assert_eq!(o["storage-tier"], "Standard");
    assert_eq!(o["archival-state"], serde_json::Value::Null);

    assert_eq!(
        cli.ok(&[
            "os",
            "object",
            "get",
            "-ns",
            &ns,
            "-bn",
            "cli-bucket",
            "--name",
            "dir/a b.txt",
            "--file",
            "-"
        ]),
        "hello from the official CLI\n"
    );
    let dst = dir.path().join("download.txt");
    cli.ok(&[
        "os",
        "object",
        "get",
        "-ns",
        &ns,
        "-bn",
        "cli-bucket",
        "--name",
        "dir/a b.txt",
        "--file",
        dst.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&dst).unwrap(),
        b"hello from the official CLI\n"
    );

    assert_eq!(
        cli.ok(&[
            "os",
            "object",
            "delete",
            "-ns",
            &ns,
            "-bn",
            "cli-bucket",
            "--name",
            "dir/a b.txt",
            "--force"
        ]),
        ""
    );
    assert_eq!(
        cli.ok(&["os", "object", "list", "-ns", &ns, "-bn", "cli-bucket"]),
        "{\n  \"prefixes\": []\n}\n"
    );

    // Pointed at the emulator through the environment, as `eval "$(oci-emulator env)"` does.
    let out = oci_cli(&venv)
        .args(["os", "ns", "get", "--no-retry"])
        .env("OCI_CLI_CONFIG_FILE", emu.config_path())
        .env("OCI_CLI_ENDPOINT", emu.base_url())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{{\n  \"data\": \"{ns}\"\n}}\n")
    );

    // A config with an unregistered fingerprint: 401 NotAuthenticated, exit 1.
    let bad = dir.path().join("bad-config");
    let text = std::fs::read_to_string(emu.config_path()).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("fingerprint=") {
                "fingerprint=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&bad, text).unwrap();
    let out = cli.run_with(&bad, &["os", "ns", "get"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"code\": \"NotAuthenticated\""),
        "{stderr}"
    );
    assert!(stderr.contains("\"status\": 401"), "{stderr}");
    assert!(
        stderr.contains(
            "\"message\": \"The required information to complete authentication was not provided or was incorrect.\""
        ),
        "{stderr}"
    );

    // The emulator saw every request, and logged the 401's reason (only there).
    let lines = log.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("PUT /n/") && l.contains(" 200 ")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("GET /n 401 ") && l.contains("no API key registered")),
        "{lines:#?}"
    );
    rt.block_on(emu.shutdown());
}
