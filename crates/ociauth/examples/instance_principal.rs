//! Sign `GET /n` as this OCI instance (instance principal) and print the tenancy's Object
//! Storage namespace.
//!
//! ```text
//! # On an OCI instance: everything from the instance metadata service and the region.
//! cargo run -p ociauth --example instance_principal
//!
//! # Against a local emulator:
//! OCI_METADATA_BASE_URL=http://127.0.0.1:8765/opc/v2 \
//! OCI_CLI_FEDERATION_ENDPOINT=http://127.0.0.1:8765/v1/x509 \
//!   cargo run -p ociauth --example instance_principal -- http://127.0.0.1:8765
//! ```
//!
//! The optional argument (or `OCI_OBJECT_STORAGE_ENDPOINT`) is the Object Storage endpoint;
//! without it the instance region's endpoint is used. `OCI_CLI_CERT_BUNDLE` adds a CA for https
//! endpoints; `OCIAUTH_FED_X509_SHA1=1` uses the Python SDK's SHA-1 keyId form.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use ociauth::CredentialsProvider;
use ociauth::client::{Client, ClientOptions};
use ociauth::env::{Env, ProcessEnv, SystemClock};
use ociauth::object_storage;
use ociauth::providers::instance_principal::{
    FingerprintAlgorithm, InstancePrincipalOptions, instance_principal,
};
use ociauth::regions::{self, Service};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
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

async fn run() -> Result<String, Box<dyn std::error::Error>> {
    let env = ProcessEnv;
    let set = |name: &str| env.var(name).filter(|v| !v.trim().is_empty());
    let ca_bundle = set("OCI_CLI_CERT_BUNDLE").map(PathBuf::from);
    let provider = Arc::new(instance_principal(
        InstancePrincipalOptions {
            federation_endpoint: set("OCI_CLI_FEDERATION_ENDPOINT"),
            fingerprint_algorithm: if set("OCIAUTH_FED_X509_SHA1").is_some() {
                FingerprintAlgorithm::Sha1
            } else {
                FingerprintAlgorithm::Sha256
            },
            ca_bundle: ca_bundle.clone(),
            ..InstancePrincipalOptions::default()
        },
        Arc::new(env),
        Arc::new(SystemClock),
    )?);
    // The first token: fails at once, with a clear message, off an OCI instance.
    let creds = provider.credentials().await?;
    eprintln!(
        "signed in as an instance of {} in {}",
        creds.tenancy().unwrap_or("?"),
        creds.region().unwrap_or("?")
    );
    let endpoint = match std::env::args()
        .nth(1)
        .or_else(|| set("OCI_OBJECT_STORAGE_ENDPOINT"))
    {
        Some(e) => e,
        None => {
            let region = regions::resolve_region(creds.region().unwrap_or_default(), &env)?;
            regions::endpoint(Service::ObjectStorage, &region)
        }
    };
    let client = Client::new(
        provider,
        ClientOptions {
            ca_bundle,
            ..ClientOptions::default()
        },
    )?;
    Ok(object_storage::get_namespace(&client, &endpoint, None).await?)
}
