//! Exchange an external workload identity token (GitHub Actions, a file written by your CI or
//! Kubernetes, …) for an OCI session token at an IAM identity domain, and print the tenancy's
//! Object Storage namespace with it.
//!
//! ```text
//! # In a GitHub Actions job with `permissions: id-token: write`:
//! OCI_DOMAIN_URL=https://idcs-0123….identity.oraclecloud.com OCI_CLIENT_ID=… \
//! OCI_CLIENT_SECRET=… OCI_REGION=us-ashburn-1 \
//!   cargo run -p ociauth --example workload_identity_federation
//!
//! # With the token in a file (any issuer the domain trusts), against a local emulator:
//! OCI_DOMAIN_URL=http://127.0.0.1:8990 OCI_CLIENT_ID=… OCI_CLIENT_SECRET=… \
//! OCI_SUBJECT_TOKEN_FILE=/tmp/subject.jwt \
//!   cargo run -p ociauth --example workload_identity_federation -- http://127.0.0.1:8990
//! ```
//!
//! The subject token comes from `OCI_SUBJECT_TOKEN_FILE` (re-read before every exchange) when
//! set, else from GitHub Actions (`ACTIONS_ID_TOKEN_REQUEST_URL`, audience
//! `OCI_AUDIENCE`, default `https://cloud.oracle.com`). The optional argument (or
//! `OCI_OBJECT_STORAGE_ENDPOINT`) is the Object Storage endpoint; without it the region's
//! endpoint is used (`OCI_REGION`, default `us-ashburn-1`).

use std::process::ExitCode;
use std::sync::Arc;

use ociauth::CredentialsProvider;
use ociauth::client::{Client, ClientOptions};
use ociauth::env::{Env, ProcessEnv};
use ociauth::object_storage;
use ociauth::providers::workload_identity_federation::{
    ClientAuth, TokenExchangeConfig, WorkloadIdentityFederationProvider,
};
use ociauth::regions::{self, Service};
use ociauth::subject_token::{
    FileSource, GITHUB_DEFAULT_AUDIENCE, GithubActionsSource, Secret, SubjectTokenSource,
};

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
    let need = |name: &str| set(name).ok_or_else(|| format!("set {name}"));

    let source: Arc<dyn SubjectTokenSource> = match set("OCI_SUBJECT_TOKEN_FILE") {
        Some(path) => Arc::new(FileSource::new(path)),
        None => Arc::new(GithubActionsSource::new(
            Some(set("OCI_AUDIENCE").unwrap_or_else(|| GITHUB_DEFAULT_AUDIENCE.to_string())),
            Arc::new(ProcessEnv),
        )?),
    };
    let region = set("OCI_REGION").unwrap_or_else(|| "us-ashburn-1".to_string());
    let mut cfg = TokenExchangeConfig::new(
        need("OCI_DOMAIN_URL")?,
        ClientAuth::ClientSecret {
            client_id: need("OCI_CLIENT_ID")?,
            client_secret: Secret::new(need("OCI_CLIENT_SECRET")?),
        },
    );
    cfg.region = Some(region.clone());

    // `caching()`: one exchange now, the next only when the token nears its expiry, however
    // long the program runs and however many requests it sends.
    let provider = Arc::new(WorkloadIdentityFederationProvider::new(cfg, source)?.caching());
    let creds = provider.credentials().await?;
    let valid_for = creds
        .expires_at()
        .and_then(|t| t.duration_since(std::time::SystemTime::now()).ok())
        .map(|d| d.as_secs());
    eprintln!(
        "exchanged a session token for tenancy {}, valid for {} s",
        creds.tenancy().unwrap_or("?"),
        valid_for
            .map(|s| s.to_string())
            .unwrap_or_else(|| "?".into())
    );

    let endpoint = match std::env::args()
        .nth(1)
        .or_else(|| set("OCI_OBJECT_STORAGE_ENDPOINT"))
    {
        Some(e) => e,
        None => regions::endpoint(
            Service::ObjectStorage,
            &regions::resolve_region(&region, &env)?,
        ),
    };
    let client = Client::new(provider, ClientOptions::default())?;
    Ok(object_storage::get_namespace(&client, &endpoint, None).await?)
}
