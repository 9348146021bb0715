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
