//! Sign `GET /n` as this OCI resource (resource principal) and print the tenancy's Object
//! Storage namespace.
//!
//! ```text
//! # In an OCI Function, a Data Science job, ...: the platform sets OCI_RESOURCE_PRINCIPAL_*.
//! cargo run -p ociauth --example resource_principal
//!
//! # Against a local emulator (RP 2.2: a token and key minted for a registered resource):
//! oci-emulator add-resource --state /tmp/emu --name fn-1
//! eval "$(oci-emulator mint-rpst --state /tmp/emu --resource fn-1)"
//! cargo run -p ociauth --example resource_principal -- http://127.0.0.1:8990
//! ```
//!
//! `OCI_RESOURCE_PRINCIPAL_VERSION` picks the flavour: 2.2 (token and key from
//! `OCI_RESOURCE_PRINCIPAL_RPST` / `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM`, values or absolute
//! paths), 1.1 (an instance principal asks `OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT` and
//! `OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT`; `OCI_METADATA_BASE_URL` and
//! `OCI_CLI_FEDERATION_ENDPOINT` redirect the instance principal beneath it) or 3.0 (nested).
//! The optional argument (or `OCI_OBJECT_STORAGE_ENDPOINT`) is the Object Storage endpoint;
//! without it the region's endpoint is used (`OCI_RESOURCE_PRINCIPAL_REGION`).

use std::process::ExitCode;
use std::sync::Arc;

use ociauth::CredentialsProvider;
use ociauth::client::{Client, ClientOptions};
use ociauth::env::{Env, ProcessEnv, SystemClock};
use ociauth::object_storage;
use ociauth::providers::instance_principal::InstancePrincipalOptions;
use ociauth::providers::resource_principal::{ResourcePrincipalOptions, resource_principal};
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
    // Reads and checks the variables; nothing is fetched yet. Unset
    // OCI_RESOURCE_PRINCIPAL_VERSION is a clear "not configured" error.
    let provider = Arc::new(resource_principal(
        ResourcePrincipalOptions {
            instance_principal: InstancePrincipalOptions {
                federation_endpoint: set("OCI_CLI_FEDERATION_ENDPOINT"),
                ..InstancePrincipalOptions::default()
            },
            ..ResourcePrincipalOptions::default()
        },
        Arc::new(env),
        Arc::new(SystemClock),
    )?);
    let creds = provider.credentials().await?;
    eprintln!(
        "signed in as a resource of {} in {}",
        creds.tenancy().unwrap_or("?"),
        creds.region().unwrap_or("?")
    );
    let endpoint = match std::env::args()
        .nth(1)
        .or_else(|| set("OCI_OBJECT_STORAGE_ENDPOINT"))
    {
        Some(e) => e,
        None => {
            let region = creds.region().ok_or(
                "no region: set OCI_RESOURCE_PRINCIPAL_REGION or pass the endpoint as argument",
            )?;
            regions::endpoint(
                Service::ObjectStorage,
                &regions::resolve_region(region, &env)?,
            )
        }
    };
    // The cached provider renews the token ahead of expiry (2.2: re-reads the files) and after
    // a 401.
    let client = Client::new(provider, ClientOptions::default())?;
    Ok(object_storage::get_namespace(&client, &endpoint, None).await?)
}
