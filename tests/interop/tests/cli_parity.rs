//! `ociauth` and the official `oci` CLI print the same thing: the same stdout (and the same
//! stderr notices) for the same command against the same emulator, and `ociauth setup keys`
//! writes keys the official SDK loads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use interop_tests::{oci_cli, ociauth_bin, python, venv};
use oci_emulator::{EmulatorConfig, RunningEmulator};

/// `ociauth` with the same quiet, isolated environment the official CLI gets.
fn ociauth(home: &Path) -> Command {
    let mut c = Command::new(ociauth_bin());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("SUPPRESS_LABEL_WARNING", "True")
        .env("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "True");
    c
}

struct Both {
    venv: PathBuf,
    emu: RunningEmulator,
    home: tempfile::TempDir,
    _state: tempfile::TempDir,
}

impl Both {
    async fn start(venv: PathBuf) -> Both {
        let state = tempfile::tempdir().unwrap();
        let cfg = EmulatorConfig::new(state.path()).log(Arc::new(|_: &str| {}));
        let emu = oci_emulator::start(cfg).await.unwrap();
        Both {
            venv,
            emu,
            home: tempfile::tempdir().unwrap(),
            _state: state,
        }
    }

    fn common_args(&self) -> Vec<String> {
        vec![
            "--config-file".into(),
            self.emu.config_path().display().to_string(),
            "--endpoint".into(),
            self.emu.base_url(),
            "--no-retry".into(),
        ]
    }

    /// Run `ociauth ARGS` and `oci ARGS` (off the async workers that serve the emulator).
    async fn both(&self, args: &[&str]) -> (Output, Output) {
        let mut ours = ociauth(self.home.path());
        ours.args(args).args(self.common_args());
        let mut theirs = oci_cli(&self.venv);
        theirs
            .env("HOME", self.home.path())
            .args(args)
            .args(self.common_args());
        tokio::task::spawn_blocking(move || {
            (
                ours.output().expect("run ociauth"),
                theirs.output().expect("run oci"),
            )
        })
        .await
        .unwrap()
    }

    /// Same exit code, stdout and stderr; returns stdout.
    async fn same(&self, args: &[&str]) -> String {
        let (ours, theirs) = self.both(args).await;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!(
            text(&ours.stdout),
            text(&theirs.stdout),
            "stdout differs for {args:?}; ours stderr: {}; oci stderr: {}",
            text(&ours.stderr),
            text(&theirs.stderr)
        );
        assert_eq!(
            text(&ours.stderr),
            text(&theirs.stderr),
            "stderr differs for {args:?}"
        );
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        text(&ours.stdout)
    }

    async fn ours_ok(&self, args: &[&str]) -> String {
        let mut c = ociauth(self.home.path());
        c.args(args).args(self.common_args());
        let out = tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "ociauth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn os_ns_get_same_output() {
    let Some(venv) = venv() else { return };
    let b = Both::start(venv).await;
    let out = b.same(&["os", "ns", "get"]).await;
    assert_eq!(
        out,
        format!("{{\n  \"data\": \"{}\"\n}}\n", b.emu.state().namespace())
    );
    b.same(&["os", "ns", "get", "--output", "table"]).await;
    b.same(&["os", "ns", "get", "--query", "data", "--raw-output"])
        .await;
    b.same(&["os", "ns", "get", "--query", "data"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn os_bucket_list_same_output() {
    let Some(venv) = venv() else { return };
    let b = Both::start(venv).await;
    let comp = b.emu.state().compartment_id();
    // Nothing yet: both print nothing.
    assert_eq!(b.same(&["os", "bucket", "list", "-c", &comp]).await, "");
    for name in ["alpha", "beta-2", "gamma"] {
        b.ours_ok(&["os", "bucket", "create", "-c", &comp, "--name", name])
            .await;
    }
    let out = b.same(&["os", "bucket", "list", "-c", &comp]).await;
    assert!(out.contains("\"name\": \"beta-2\""), "{out}");
    b.same(&["os", "bucket", "list", "-c", &comp, "--output", "table"])
        .await;
    b.same(&[
        "os",
        "bucket",
        "list",
        "--compartment-id",
        &comp,
        "--limit",
        "2",
    ])
    .await;
    b.same(&[
        "os",
        "bucket",
        "list",
        "-c",
        &comp,
        "--all",
        "--page-size",
        "1",
    ])
    .await;
    b.same(&[
        "os",
        "bucket",
        "list",
        "-c",
        &comp,
        "--query",
        "data[].name",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn os_object_list_same_output() {
    let Some(venv) = venv() else { return };
    let b = Both::start(venv).await;
    let comp = b.emu.state().compartment_id();
    b.ours_ok(&["os", "bucket", "create", "-c", &comp, "--name", "objs"])
        .await;
    assert_eq!(
        b.same(&["os", "object", "list", "-bn", "objs"]).await,
        "{\n  \"prefixes\": []\n}\n"
    );
    let file = b.home.path().join("f.txt");
    std::fs::write(&file, b"some content\n").unwrap();
    for name in ["a.txt", "dir/b.txt", "dir/sub/c.txt", "z é.txt"] {
        b.ours_ok(&[
            "os",
            "object",
            "put",
            "-bn",
            "objs",
            "--file",
            file.to_str().unwrap(),
            "--name",
            name,
        ])
        .await;
    }
    b.same(&["os", "object", "list", "-bn", "objs"]).await;
    b.same(&["os", "object", "list", "-bn", "objs", "--output", "table"])
        .await;
    b.same(&["os", "object", "list", "-bn", "objs", "--limit", "2"])
        .await;
    b.same(&[
        "os",
        "object",
        "list",
        "-bn",
        "objs",
        "--all",
        "--page-size",
        "1",
    ])
    .await;
    b.same(&[
        "os",
        "object",
        "list",
        "-bn",
        "objs",
        "--prefix",
        "dir/",
        "--delimiter",
        "/",
    ])
    .await;
    b.same(&[
        "os",
        "object",
        "list",
        "-bn",
        "objs",
        "--fields",
        "name,size",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_errors_carry_the_same_fields() {
    let Some(venv) = venv() else { return };
    let b = Both::start(venv).await;
    let (ours, theirs) = b
        .both(&["os", "object", "list", "-bn", "no-such-bucket"])
        .await;
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(theirs.status.code(), Some(1));
    let parse = |o: &Output| -> serde_json::Value {
        let s = String::from_utf8_lossy(&o.stderr).into_owned();
        let json = s
            .strip_prefix("ServiceError:\n")
            .unwrap_or_else(|| panic!("no ServiceError block: {s}"));
        serde_json::from_str(json).unwrap()
    };
    let (mut ours, mut theirs) = (parse(&ours), parse(&theirs));
    for v in [&mut ours, &mut theirs] {
        let m = v.as_object_mut().unwrap();
        for k in ["client_version", "timestamp", "opc-request-id"] {
            assert!(m.remove(k).is_some(), "{k} missing");
        }
    }
    // PySDK reports the request endpoint without the query string, as ours does.
    assert_eq!(ours, theirs);
}

#[test]
fn setup_keys_output_loads_in_the_official_sdk() {
    let Some(venv) = venv() else { return };
    let home = tempfile::tempdir().unwrap();
    let ours_dir = home.path().join("ours");
    let out = ociauth(home.path())
        .args(["setup", "keys", "--output-dir", ours_dir.to_str().unwrap()])
        .args(["--passphrase", "pass word"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = String::from_utf8(out.stdout).unwrap();
    let fingerprint = ours
        .lines()
        .find_map(|l| l.strip_prefix("Public key fingerprint: "))
        .unwrap()
        .to_string();

    // The official SDK loads the encrypted private key, and its public half has our fingerprint.
    let script = r#"
import sys, hashlib, base64
import oci
from cryptography.hazmat.primitives import serialization
key = oci.signer.load_private_key_from_file(sys.argv[1], sys.argv[2])
der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
md5 = hashlib.md5(der).hexdigest()
print(":".join(md5[i:i + 2] for i in range(0, 32, 2)))
"#;
    let out = python(&venv)
        .arg("-c")
        .arg(script)
        .arg(ours_dir.join("oci_api_key.pem"))
        .arg("pass word")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), fingerprint);

    // Same output as `oci setup keys`, up to the directory and the fingerprint.
    let theirs_dir = home.path().join("theirs");
    let out = oci_cli(&venv)
        .env("HOME", home.path())
        .args([
            "setup",
            "keys",
            "--output-dir",
            theirs_dir.to_str().unwrap(),
        ])
        .args(["--passphrase", "pass word"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8(out.stdout).unwrap();
    let normalize = |s: &str, dir: &Path| -> String {
        s.replace(dir.to_str().unwrap(), "<DIR>")
            .lines()
            .map(|l| match l.strip_prefix("Public key fingerprint: ") {
                Some(_) => "Public key fingerprint: <FP>".to_string(),
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
            + if s.ends_with('\n') { "\n" } else { "" }
    };
    assert_eq!(normalize(&ours, &ours_dir), normalize(&theirs, &theirs_dir));
    // Both write the label with no newline after it.
    for dir in [&ours_dir, &theirs_dir] {
        let pem = std::fs::read_to_string(dir.join("oci_api_key.pem")).unwrap();
        assert!(pem.ends_with("-----END ENCRYPTED PRIVATE KEY-----\nOCI_API_KEY"));
    }
}
