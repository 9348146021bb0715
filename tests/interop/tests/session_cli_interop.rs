//! Session profiles cross between `ociauth` and the official `oci` CLI 3.95.1 (spec
//! oci-signing-config-session.md §4), against the emulator over plain http:
//! - a profile written by `ociauth session authenticate --no-browser` (and a token rewritten by
//!   `ociauth session refresh`) works in `oci … --auth security_token`, and its
//!   `ociauth session export` archive is imported by `oci session import`, whose profile
//!   `ociauth` then uses;
//! - a profile written by `oci session authenticate --no-browser` works in `ociauth`
//!   (use, `validate`, `refresh`), and its `oci session export` archive is imported by
//!   `ociauth session import`, whose profile `oci` then uses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use interop_tests::{oci_cli, ociauth_bin, venv};
use oci_emulator::{EmulatorConfig, RunningEmulator};

fn ociauth(home: &Path) -> Command {
    let mut c = Command::new(ociauth_bin());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .stdin(Stdio::null());
    c
}

/// `oci` with HOME in `home`, no proxy, no preset CA bundle.
fn oci(venv: &Path, home: &Path) -> Command {
    let mut c = oci_cli(venv);
    c.env("HOME", home).stdin(Stdio::null());
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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(mut c: Command, what: &str) -> Output {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

struct Setup {
    rt: tokio::runtime::Runtime,
    emu: RunningEmulator,
    tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let emu = rt
            .block_on(oci_emulator::start(
                EmulatorConfig::new(tmp.path().join("state")).log(Arc::new(|_: &str| {})),
            ))
            .unwrap();
        Setup { rt, emu, tmp }
    }
    fn url(&self) -> String {
        self.emu.base_url()
    }
    fn home(&self, name: &str) -> PathBuf {
        let h = self.tmp.path().join(name);
        std::fs::create_dir_all(&h).unwrap();
        h
    }
    fn ns_json(&self) -> String {
        format!("{{\n  \"data\": \"{}\"\n}}\n", self.emu.state().namespace())
    }
    /// `oci os ns get --auth security_token --profile P [--config-file C] --endpoint URL`.
    fn oci_ns_get(&self, venv: &Path, home: &Path, profile: &str, config: Option<&Path>) {
        let mut c = oci(venv, home);
        c.args([
            "os",
            "ns",
            "get",
            "--auth",
            "security_token",
            "--profile",
            profile,
        ]);
        if let Some(config) = config {
            c.arg("--config-file").arg(config);
        }
        c.args(["--endpoint", &self.url(), "--no-retry"]);
        let out = ok(c, &format!("oci os ns get --profile {profile}"));
        assert_eq!(text(&out.stdout), self.ns_json());
    }
    /// The same with `ociauth`.
    fn ociauth_ns_get(&self, home: &Path, profile: &str, config: Option<&Path>) {
        let mut c = ociauth(home);
        c.args([
            "os",
            "ns",
            "get",
            "--auth",
            "security_token",
            "--profile",
            profile,
        ]);
        if let Some(config) = config {
            c.arg("--config-file").arg(config);
        }
        c.args(["--endpoint", &self.url(), "--no-retry"]);
        let out = ok(c, &format!("ociauth os ns get --profile {profile}"));
        assert_eq!(text(&out.stdout), self.ns_json());
        assert_eq!(text(&out.stderr), "");
    }
}

#[test]
fn ociauth_sessions_work_in_oci() {
    let Some(venv) = venv() else { return };
    let s = Setup::new();
    let home = s.home("home");
    let config = home.join("sessions.config");
    let tokens = home.join("tokens");

    let mut c = ociauth(&home);
    c.args([
        "session",
        "authenticate",
        "--no-browser",
        "--profile-name",
        "P",
    ])
    .args([
        "--region",
        "us-ashburn-1",
        "--session-expiration-in-minutes",
        "30",
    ])
    .arg("--config-location")
    .arg(&config)
    .arg("--token-location")
    .arg(&tokens)
    .arg("--config-file")
    .arg(s.emu.config_path())
    .args(["--endpoint", &s.url(), "--no-retry"]);
    ok(c, "ociauth session authenticate --no-browser");

    // The official CLI signs with our profile, and validates it.
    s.oci_ns_get(&venv, &home, "P", Some(&config));
    let mut c = oci(&venv, &home);
    c.args([
        "session",
        "validate",
        "--local",
        "--profile",
        "P",
        "--config-file",
    ])
    .arg(&config);
    let out = ok(c, "oci session validate --local");
    assert!(text(&out.stderr).starts_with("Session is valid until "));

    // Our refresh rewrites the token; the official CLI uses the new one.
    let before = std::fs::read_to_string(tokens.join("P/token")).unwrap();
    let mut c = ociauth(&home);
    c.args(["session", "refresh", "--profile", "P", "--config-file"])
        .arg(&config)
        .args(["--endpoint", &s.url()]);
    ok(c, "ociauth session refresh");
    assert_ne!(
        std::fs::read_to_string(tokens.join("P/token")).unwrap(),
        before
    );
    s.oci_ns_get(&venv, &home, "P", Some(&config));

    // ociauth session export -> oci session import -> ociauth uses the imported profile.
    let archive = home.join("p-archive");
    let mut c = ociauth(&home);
    c.args(["session", "export", "--profile", "P", "--config-file"])
        .arg(&config)
        .arg("--output-file")
        .arg(&archive);
    ok(c, "ociauth session export");
    let home2 = s.home("home2");
    let mut c = oci(&venv, &home2);
    c.args(["session", "import", "--session-archive"])
        .arg(archive.with_extension("zip"));
    let out = ok(c, "oci session import");
    assert_eq!(
        text(&out.stderr),
        format!(
            "Imported profile P written to: {}\n",
            home2.join(".oci/config").display()
        )
    );
    s.ociauth_ns_get(&home2, "P", None);
    s.oci_ns_get(&venv, &home2, "P", None);
    let mut c = ociauth(&home2);
    c.args(["session", "validate", "--local", "--profile", "P"]);
    let out = ok(c, "ociauth session validate --local of oci's import");
    assert!(text(&out.stderr).starts_with("Session is valid until "));
    s.rt.block_on(s.emu.shutdown());
}

#[test]
fn oci_sessions_work_in_ociauth() {
    let Some(venv) = venv() else { return };
    let s = Setup::new();
    let home = s.home("home");

    // The official CLI: GenerateUpst with the emulator's API key (writes ~/.oci/config).
    let mut c = oci(&venv, &home);
    c.args([
        "session",
        "authenticate",
        "--no-browser",
        "--profile-name",
        "Q",
    ])
    .args([
        "--session-expiration-in-minutes",
        "30",
        "--region",
        "us-ashburn-1",
    ])
    .arg("--config-file")
    .arg(s.emu.config_path())
    .args(["--endpoint", &s.url(), "--no-retry"]);
    ok(c, "oci session authenticate --no-browser");
    let token_file = home.join(".oci/sessions/Q/token");
    assert!(token_file.exists());

    // ociauth uses, validates (locally and with the service) and refreshes it.
    s.ociauth_ns_get(&home, "Q", None);
    let mut c = ociauth(&home);
    c.args(["session", "validate", "--local", "--profile", "Q"]);
    let out = ok(c, "ociauth session validate --local");
    assert!(text(&out.stderr).starts_with("Session is valid until "));
    let mut c = ociauth(&home);
    c.args([
        "session",
        "validate",
        "--profile",
        "Q",
        "--endpoint",
        &s.url(),
    ]);
    ok(c, "ociauth session validate");
    let before = std::fs::read_to_string(&token_file).unwrap();
    let mut c = ociauth(&home);
    c.args([
        "session",
        "refresh",
        "--profile",
        "Q",
        "--endpoint",
        &s.url(),
    ]);
    let out = ok(c, "ociauth session refresh");
    assert_eq!(
        text(&out.stderr),
        format!(
            "Attempting to refresh token from {}/v1/authentication/refresh\nSuccessfully refreshed token\n",
            s.url()
        )
    );
    let after = std::fs::read_to_string(&token_file).unwrap();
    assert_ne!(after, before);
    assert!(!after.ends_with('\n'));
    // The official CLI reads the token ociauth wrote.
    s.oci_ns_get(&venv, &home, "Q", None);

    // oci session export -> ociauth session import -> both use it.
    let archive = home.join("q-archive");
    let mut c = oci(&venv, &home);
    c.args(["session", "export", "--profile", "Q", "--output-file"])
        .arg(&archive);
    ok(c, "oci session export");
    let home2 = s.home("home2");
    let mut c = ociauth(&home2);
    c.args(["session", "import", "--session-archive"])
        .arg(archive.with_extension("zip"));
    let out = ok(c, "ociauth session import");
    assert_eq!(
        text(&out.stderr),
        format!(
            "Imported profile Q written to: {}\n",
            home2.join(".oci/config").display()
        )
    );
    s.ociauth_ns_get(&home2, "Q", None);
    s.oci_ns_get(&venv, &home2, "Q", None);

    // ociauth session terminate of oci's profile, which oci then no longer finds.
    let mut c = ociauth(&home);
    c.args(["session", "terminate", "--profile", "Q"]);
    ok(c, "ociauth session terminate");
    assert!(!home.join(".oci/sessions/Q").exists());
    let mut c = oci(&venv, &home);
    c.args(["session", "validate", "--local", "--profile", "Q"]);
    let out = c.output().unwrap();
    assert!(!out.status.success(), "{}", text(&out.stderr));
    s.rt.block_on(s.emu.shutdown());
}
