//! Sign `GET /n` with an API key and print the tenancy's Object Storage namespace.
//!
//! ```text
//! OCI_CLI_TENANCY=ocid1.tenancy... OCI_CLI_USER=ocid1.user... \
//! OCI_CLI_FINGERPRINT=aa:bb:... OCI_CLI_KEY_FILE=~/.oci/key.pem \
//!   cargo run -p ociauth --example api_key -- http://127.0.0.1:8765
//! ```
//! `OCI_CLI_PASSPHRASE` unlocks an encrypted key; `OCI_CLI_CERT_BUNDLE` adds a CA for https.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use ociauth::client::{Client, ClientOptions};
use ociauth::env::{Env, ProcessEnv, expand_user};
use ociauth::object_storage;
use ociauth::providers::api_key::{ApiKeyConfig, ApiKeyProvider};

#[tokio::main]
async fn main() -> ExitCode {
    let Some(endpoint) = std::env::args().nth(1) else {
        eprintln!("usage: api_key <object storage endpoint, e.g. http://127.0.0.1:8765>");
        return ExitCode::from(2);
    };
    match run(&endpoint).await {
        Ok(ns) => {
            println!("{ns}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(endpoint: &str) -> Result<String, Box<dyn std::error::Error>> {
    let env = ProcessEnv;
    let var = |name: &str| {
        env.var(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("set {name}"))
    };
    let provider = ApiKeyProvider::new(ApiKeyConfig {
        tenancy: var("OCI_CLI_TENANCY")?,
        user: var("OCI_CLI_USER")?,
        fingerprint: var("OCI_CLI_FINGERPRINT")?,
        key_file: Some(expand_user(&var("OCI_CLI_KEY_FILE")?, &env)),
        key_content: None,
        pass_phrase: env.var("OCI_CLI_PASSPHRASE"),
    })?;
    if let Some(w) = provider.fingerprint_warning() {
        eprintln!("warning: {w}");
    }
    let client = Client::new(
        Arc::new(provider),
        ClientOptions {
            ca_bundle: env.var("OCI_CLI_CERT_BUNDLE").map(PathBuf::from),
            ..ClientOptions::default()
        },
    )?;
    Ok(object_storage::get_namespace(&client, endpoint, None).await?)
}
