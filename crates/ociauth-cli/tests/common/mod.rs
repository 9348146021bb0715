//! Run the `ociauth` binary as a user would: a clean environment (only PATH and a private HOME
//! plus what the test sets), optional stdin, exit code and both streams captured.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_ociauth");

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Cmd {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    /// `ociauth ARGS` with HOME=`home` and nothing else from the environment but PATH.
    pub fn new(home: &Path, args: &[&str]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .args(args);
        Cmd { cmd, stdin: None }
    }
    /// `program ARGS` in the same clean environment (e.g. `script` to give `ociauth` a terminal).
    pub fn new_program(home: &Path, program: &str, args: &[&str]) -> Self {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .args(args);
        Cmd { cmd, stdin: None }
    }
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }
    pub fn args(mut self, args: &[&str]) -> Self {
        self.cmd.args(args);
        self
    }
    pub fn stdin(mut self, data: &[u8]) -> Self {
        self.stdin = Some(data.to_vec());
        self
    }
    /// Run to completion (stdin is empty, not a terminal, unless given).
    pub fn run(mut self) -> Run {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn ociauth");
        {
            let mut sin = child.stdin.take().unwrap();
            if let Some(d) = &self.stdin {
                sin.write_all(d).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

/// Write `text` to `dir/name` with `mode`.
pub fn write(dir: &Path, name: &str, text: &[u8], mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// An API key pair in `dir`: (private key path, fingerprint). The key file carries the
/// `OCI_API_KEY` label so no label warning is printed.
pub fn api_key(dir: &Path, passphrase: Option<&str>, label: bool) -> (PathBuf, String) {
    let key = ociauth::PrivateKey::generate().unwrap();
    let mut pem = key
        .to_pkcs8_pem(passphrase.map(str::as_bytes))
        .unwrap()
        .to_string();
    if label {
        pem.push_str("OCI_API_KEY");
    }
    let p = write(dir, "key.pem", pem.as_bytes(), 0o600);
    (p, key.fingerprint().to_string())
}

pub const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaatenancy";
pub const USER: &str = "ocid1.user.oc1..aaaaaaaauser";

/// A `[DEFAULT]` profile for an API key.
pub fn config_text(key: &Path, fingerprint: &str, extra: &str) -> String {
    format!(
        "[DEFAULT]\nuser={USER}\nfingerprint={fingerprint}\nkey_file={}\ntenancy={TENANCY}\nregion=us-ashburn-1\n{extra}",
        key.display()
    )
}

/// A TCP port on 127.0.0.1 that nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
