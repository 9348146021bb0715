//! Helpers for tests that drive the official OCI tools (`oci` CLI 3.95.1, `oci` SDK 2.189.0).
//!
//! The tools live in a virtualenv made by `scripts/test.sh` (default `<repo>/.interop/venv`,
//! or `OCIAUTH_INTEROP_VENV`). When it is missing, a test skips with a message on a developer's
//! machine, and fails under CI (`CI` set), so CI can never pass without running them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
}

/// The virtualenv holding the official tools, or `None` (skip) outside CI.
///
/// Panics under CI when it is missing: interop tests must never silently skip there.
pub fn venv() -> Option<PathBuf> {
    let dir = std::env::var_os("OCIAUTH_INTEROP_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".interop/venv"));
    if dir.join("bin/python").exists() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "the official OCI CLI/SDK virtualenv is missing at {} under CI; run scripts/test.sh",
            dir.display()
        );
    }
    eprintln!(
        "SKIP: no official OCI CLI/SDK virtualenv at {} (run scripts/test.sh to create it)",
        dir.display()
    );
    None
}

/// `python` of the venv, with a clean environment for the OCI tools.
pub fn python(venv: &Path) -> Command {
    let mut c = Command::new(venv.join("bin/python"));
    quiet_oci_env(&mut c);
    c
}

/// The official `oci` CLI of the venv.
pub fn oci_cli(venv: &Path) -> Command {
    let mut c = Command::new(venv.join("bin/oci"));
    quiet_oci_env(&mut c);
    c
}

/// The `ociauth` binary (debug build), built once per test process.
pub fn ociauth_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "ociauth-cli", "--bin", "ociauth"])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building ociauth failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        target.join("debug/ociauth")
    })
}

/// Wait for `child` (stdout and stderr piped) to exit, killing it and panicking with `what` if it
/// runs past `limit` (a hang catcher, not a timing assertion); returns its status and output.
pub fn wait_with_deadline(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> (std::process::ExitStatus, String, String) {
    use std::io::Read as _;
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("poll the child") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {} s", limit.as_secs());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    if let Some(mut o) = child.stdout.take() {
        o.read_to_string(&mut stdout).expect("read stdout");
    }
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr).expect("read stderr");
    }
    (status, stdout, stderr)
}

/// Python helper scripts shipped with these tests.
pub fn py_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("py").join(name)
}

fn quiet_oci_env(c: &mut Command) {
    // The machine may preset CA bundles that override --cert-bundle; and OCI_CLI_* from the
    // developer's shell must not leak into tests.
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str().filter(|k| k.starts_with("OCI_")) {
            c.env_remove(k);
        }
    }
    c.env("SUPPRESS_LABEL_WARNING", "True")
        .env("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "True")
        .env("PYTHONDONTWRITEBYTECODE", "1");
}

/// Run `tests/interop/py/sign_vectors.py` in the venv: sign every case with the official SDK.
///
/// `cases` is the JSON list the script documents; the answer has one object per case, in order.
/// Panics (this is test support) when the script fails or prints something that is not JSON.
pub fn sdk_sign(venv: &Path, cases: &serde_json::Value) -> Vec<serde_json::Value> {
    use std::io::Write as _;
    let mut child = python(venv)
        .arg(py_script("sign_vectors.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the venv's python: {e}"));
    let input = serde_json::to_vec(cases).unwrap_or_default();
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&input)
            .unwrap_or_else(|e| panic!("cannot write cases to sign_vectors.py: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("sign_vectors.py did not finish: {e}"));
    assert!(
        out.status.success(),
        "sign_vectors.py failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout) {
        Ok(serde_json::Value::Array(v)) => v,
        other => panic!(
            "sign_vectors.py printed no JSON list ({other:?}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Run the `openssl` CLI with `args` (and `stdin`, if any) and return its stdout.
///
/// Panics with openssl's stderr when it fails: fixture generation must not fail quietly.
pub fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run openssl (is it installed?): {e}"));
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data)
            .unwrap_or_else(|e| panic!("cannot feed openssl {args:?}: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("openssl {args:?} did not finish: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The OCI fingerprint of a private key file as OpenSSL computes it:
/// `openssl rsa -pubout -outform DER | openssl md5 -c`, as lower-case `aa:bb:..`.
pub fn openssl_fingerprint(key_file: &Path, passphrase: Option<&str>) -> String {
    let path = key_file.to_string_lossy().into_owned();
    let pass_arg = passphrase.map(|p| format!("pass:{p}"));
    let mut args = vec!["rsa", "-in", path.as_str(), "-pubout", "-outform", "DER"];
    if let Some(p) = pass_arg.as_deref() {
        args.extend(["-passin", p]);
    }
    let der = openssl(&args, None);
    let md5 = openssl(&["md5", "-c"], Some(&der));
    let text = String::from_utf8_lossy(&md5);
    // "MD5(stdin)= aa:bb:..." in OpenSSL 3; "(stdin)= aa:bb:..." in 1.1.
    text.rsplit("= ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Remove the machine's preset `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` from an `oci` or
/// `python` command: the SDK's vendored requests lets them override `--cert-bundle` and
/// `OCI_CLI_CERT_BUNDLE` (testing-and-dependencies.md §1.3). `scripts/test.sh` already unsets
/// them for the whole run; this covers a plain `cargo test`.
pub fn without_preset_ca_bundles(c: &mut Command) -> &mut Command {
    c.env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
}
