//! Sign `GET /n` as this Kubernetes pod's service account (OKE workload identity) and print the
//! tenancy's Object Storage namespace.
//!
//! ```text
//! # In a pod of an enhanced OKE cluster: KUBERNETES_SERVICE_HOST and the service account's
//! # token and CA are there already; set the region.
//! OCI_RESOURCE_PRINCIPAL_REGION=us-ashburn-1 cargo run -p ociauth --example oke_workload_identity
//!
//! # Against a local emulator whose proxymux listens on port 12251:
//! oci-emulator serve --state /tmp/emu --oke-port 12251 &
//! oci-emulator add-oke-cluster --state /tmp/emu --name prod
//! oci-emulator mint-sa-token --state /tmp/emu --cluster prod --out /tmp/emu/sa-token
//! KUBERNETES_SERVICE_HOST=127.0.0.1 OCIAUTH_OKE_PROXYMUX_PORT=12251 \
//! OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH=/tmp/emu/oke/ca.pem \
//! OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH=/tmp/emu/sa-token \
//! OCI_RESOURCE_PRINCIPAL_REGION=iad \
//!   cargo run -p ociauth --example oke_workload_identity -- http://127.0.0.1:8990
//! ```
//!
//! The proxymux port is 12250 in every SDK; `OCIAUTH_OKE_PROXYMUX_PORT` (read here and by the
//! `ociauth` CLI, not by the SDKs) sets [`OkeWorkloadIdentityOptions::proxymux_port`]. The
//! optional argument (or `OCI_OBJECT_STORAGE_ENDPOINT`) is the Object Storage endpoint; without
//! it the region's endpoint is used.

use std::process::ExitCode;
use std::sync::Arc;

use ociauth::CredentialsProvider;
use ociauth::client::{Client, ClientOptions};
use ociauth::env::{Env, ProcessEnv, SystemClock};
use ociauth::object_storage;
use ociauth::providers::oke_workload_identity::{
    OkeWorkloadIdentityOptions, PROXYMUX_PORT, oke_workload_identity,
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
    let proxymux_port = match set("OCIAUTH_OKE_PROXYMUX_PORT") {
        Some(p) => p
            .trim()
            .parse()
            .map_err(|_| format!("OCIAUTH_OKE_PROXYMUX_PORT={p:?} is not a port number"))?,
        None => PROXYMUX_PORT,
    };
    // KUBERNETES_SERVICE_HOST unset is a clear "not in a pod" error; nothing is fetched yet.
    let provider = Arc::new(oke_workload_identity(
        OkeWorkloadIdentityOptions {
            proxymux_port,
            ..OkeWorkloadIdentityOptions::default()
        },
        Arc::new(env),
        Arc::new(SystemClock),
    )?);
    let creds = provider.credentials().await?;
    eprintln!(
        "signed in as a workload of {} in {}",
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
    // The cached provider exchanges the service-account token again ahead of expiry and after
    // a 401.
    let client = Client::new(provider, ClientOptions::default())?;
    Ok(object_storage::get_namespace(&client, &endpoint, None).await?)
}
