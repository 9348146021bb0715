//! `ociauth setup keys`: an API signing key pair, as `oci setup keys` writes it.
//!
//! Files: `<name>_public.pem` (SPKI PEM) and `<name>.pem` (PKCS#8 PEM, encrypted with PBES2 /
//! PBKDF2-SHA256 / AES-256-CBC when there is a passphrase, followed by the label `OCI_API_KEY`
//! with no newline), both 0600 and written atomically; a missing output directory is created 0700.
//!
//! Differences from `oci setup keys`, on purpose [I]:
//! - both files are checked before anything is written, and declining to overwrite one stops the
//!   command (the official CLI skips that file but still writes the other, leaving a mismatched
//!   pair); with stdin not a terminal an existing file without `--overwrite` is refused at once;
//! - the first line of `--passphrase-file` is used without its line ending (the official CLI keeps
//!   the `\n` as part of the passphrase, which no config file can then reproduce);
//! - a passphrase must be ASCII (the official CLI crashes with a UnicodeEncodeError).

use std::io::{BufRead as _, Read as _};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ociauth::PrivateKey;
use ociauth::env::{Env as _, ProcessEnv, expand_user};
use ociauth::fsutil::{create_private_dir, write_private_atomic};
use ociauth::keys::OCI_API_KEY_LABEL;

use crate::errors::CliError;
use crate::output::write_stdout;
use crate::prompt;
use crate::util::stdin_is_terminal;

#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Generates an API signing RSA key pair (2048 bits).
    Keys(KeysArgs),
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// A name for the key. Files will be <key-name>.pem and <key-name>_public.pem.
    #[arg(long, default_value = "oci_api_key")]
    pub key_name: String,
    /// The directory to write the keys to (default ~/.oci; created 0700 if missing).
    #[arg(long)]
    pub output_dir: Option<String>,
    /// A passphrase to encrypt the private key with.
    #[arg(long)]
    pub passphrase: Option<String>,
    /// A file whose first line is the passphrase ('-' reads stdin).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<String>,
    /// Overwrite existing files without asking.
    #[arg(long)]
    pub overwrite: bool,
}

/// What the official CLI prints after the fingerprint (`click.wrap_text` of its instructions).
const UPLOAD_INSTRUCTIONS: &str = "\n\n    If you haven't already uploaded your API Signing public key through the\n    console, follow the instructions on the page linked below in the section\n    'How to upload the public key':\n\n        https://docs.cloud.oracle.com/Content/API/Concepts/apisigningkey.htm#How2\n\n\n";

const NO_PASSPHRASE: &str = "N/A";

pub fn run(cmd: SetupCommand) -> Result<(), CliError> {
    match cmd {
        SetupCommand::Keys(a) => keys(a),
    }
}

fn keys(a: KeysArgs) -> Result<(), CliError> {
    if a.passphrase.is_some() && a.passphrase_file.is_some() {
        return Err(CliError::usage(
            "Cannot specify both passphrase and passphrase-file options",
        ));
    }
    if a.key_name.is_empty() || a.key_name.contains('/') {
        return Err(CliError::usage(format!(
            "invalid value '{}' for '--key-name': must be a non-empty file name without '/'",
            a.key_name
        )));
    }
    let env = ProcessEnv;
    let output_dir: PathBuf = match &a.output_dir {
        Some(d) => expand_user(d, &env),
        None => env
            .home_dir()
            .map(|h| h.join(".oci"))
            .ok_or_else(|| {
                CliError::fatal(
                    "cannot find the home directory for the default --output-dir ~/.oci; set HOME or pass --output-dir",
                )
            })?,
    };
    let public_path = output_dir.join(format!("{}_public.pem", a.key_name));
    let private_path = output_dir.join(format!("{}.pem", a.key_name));

    // Refuse or confirm overwriting before asking for anything else.
    if !a.overwrite {
        for p in [&public_path, &private_path] {
            if p.is_file() {
                let q = format!(
                    "File {} already exists, do you want to overwrite?",
                    p.display()
                );
                if !stdin_is_terminal() {
                    return Err(CliError::fatal(format!(
                        "{} already exists; pass --overwrite to replace it (stdin is not a terminal, so ociauth cannot ask)",
                        p.display()
                    )));
                }
                if !prompt::confirm(&q)? {
                    return Err(CliError::Aborted);
                }
            }
        }
    }

    let passphrase = passphrase(&a)?;
    if passphrase.as_ref().is_some_and(|p| !p.is_ascii()) {
        return Err(CliError::usage(
            "the passphrase must be ASCII (the OCI SDKs encode it as ASCII)",
        ));
    }

    if !output_dir.exists() {
        create_private_dir(&output_dir).map_err(|e| {
            CliError::fatal(format!(
                "cannot create the output directory {}: {e}",
                output_dir.display()
            ))
        })?;
    }

    let key = PrivateKey::generate()
        .map_err(|e| CliError::fatal(format!("cannot generate the key: {e}")))?;

    let mut out = String::new();
    write_file(&public_path, key.public_key_pem().as_bytes())?;
    out.push_str(&format!(
        "Public key written to: {}\n",
        public_path.display()
    ));

    let pem = key
        .to_pkcs8_pem(passphrase.as_deref().map(str::as_bytes))
        .map_err(|e| CliError::fatal(format!("cannot encode the private key: {e}")))?;
    let mut private = zeroize::Zeroizing::new(Vec::with_capacity(pem.len() + 16));
    private.extend_from_slice(pem.as_bytes());
    private.extend_from_slice(OCI_API_KEY_LABEL.as_bytes());
    write_file(&private_path, &private)?;
    out.push_str(&format!(
        "Private key written to: {}\n",
        private_path.display()
    ));
    out.push_str(&format!("Public key fingerprint: {}\n", key.fingerprint()));
    out.push_str(UPLOAD_INSTRUCTIONS);
    write_stdout(&out)
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), CliError> {
    write_private_atomic(path, data)
        .map_err(|e| CliError::fatal(format!("cannot write {}: {e}", path.display())))
}

/// The passphrase to encrypt with (`None`: no encryption).
fn passphrase(a: &KeysArgs) -> Result<Option<String>, CliError> {
    if let Some(file) = &a.passphrase_file {
        let first = read_first_line(file)?;
        let line = first.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            return Err(CliError::usage(
                "passphrase-file must specify a password in the first line of the file",
            ));
        }
        return Ok(Some(line.to_string()));
    }
    match &a.passphrase {
        Some(p) if !p.is_empty() => return Ok(Some(p.clone())),
        _ => {}
    }
    let question = format!(
        "Enter a passphrase for your private key (\"{NO_PASSPHRASE}\" for no passphrase): "
    );
    let answer = if stdin_is_terminal() {
        prompt::secret_confirmed(&question)?
    } else {
        // Piped answers, as the official CLI reads them: the passphrase, then its confirmation.
        let mut lines = std::io::stdin().lock().lines();
        let mut next = || -> Option<String> { lines.next().and_then(Result::ok) };
        match (next(), next()) {
            (Some(p), Some(c)) if p == c => p,
            (Some(_), Some(_)) => {
                return Err(CliError::fatal(
                    "the passphrase and its confirmation read from stdin differ",
                ));
            }
            _ => {
                return Err(CliError::fatal(
                    "no passphrase: stdin is not a terminal and did not give a passphrase and its confirmation on two lines; pass --passphrase or --passphrase-file (\"N/A\" on both lines means no passphrase)",
                ));
            }
        }
    };
    Ok(if answer == NO_PASSPHRASE || answer.is_empty() {
        None
    } else {
        Some(answer)
    })
}

fn read_first_line(file: &str) -> Result<String, CliError> {
    let mut line = String::new();
    if file == "-" {
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            CliError::usage(format!("Invalid value for '--passphrase-file': '-': {e}"))
        })?;
        return Ok(line);
    }
    let mut f = std::fs::File::open(file).map_err(|e| {
        CliError::usage(format!(
            "Invalid value for '--passphrase-file': '{file}': {}",
            io_reason(&e)
        ))
    })?;
    // Only the first line matters; read a bounded prefix.
    let mut buf = Vec::new();
    (&mut f)
        .take(64 * 1024)
        .read_to_end(&mut buf)
        .map_err(|e| {
            CliError::usage(format!(
                "Invalid value for '--passphrase-file': '{file}': {}",
                io_reason(&e)
            ))
        })?;
    let text = String::from_utf8_lossy(&buf);
    Ok(text.split_inclusive('\n').next().unwrap_or("").to_string())
}

/// The OS reason without Rust's "(os error N)" suffix: `No such file or directory`.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
