//! A Rust program that signs its own OCI request with an API-key profile, exactly as the official
//! SDKs would: it reads `~/.oci/config` (or `--config-file`), picks the profile, loads the key and
//! prints the tenancy's Object Storage namespace (`GET /n`).
//!
//! ```text
//! cargo run -p ociauth --example api_key -- [--config-file PATH] [--profile NAME] [--endpoint URL]
//! ```
//! Against the emulator: `--config-file $STATE/config --endpoint http://127.0.0.1:8990`.
//! The usual variables apply (`OCI_CLI_CONFIG_FILE`, `OCI_CLI_PROFILE`, `OCI_CLI_ENDPOINT`,
//! `OCI_CLI_REGION`, `OCI_CLI_PASSPHRASE`, ...), as in the official CLI.

use std::process::ExitCode;
use std::sync::Arc;

use ociauth::client::{Client, ClientOptions};
use ociauth::config::{self, ConfigOptions};
use ociauth::env::ProcessEnv;
use ociauth::object_storage;
use ociauth::providers::api_key::{ApiKeyConfig, ApiKeyProvider};
use ociauth::regions::{self, Service};

#[tokio::main]
async fn main() -> ExitCode {
    let mut opts = ConfigOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--config-file", Some(v)) => opts.config_file = Some(v.into()),
            ("--profile", Some(v)) => opts.profile = Some(v),
            ("--endpoint", Some(v)) => opts.endpoint = Some(v),
            ("--region", Some(v)) => opts.region = Some(v),
            _ => {
                eprintln!(
                    "usage: api_key [--config-file PATH] [--profile NAME] [--region R] [--endpoint URL]"
                );
                return ExitCode::from(2);
            }
        }
    }
    match run(&opts).await {
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

async fn run(opts: &ConfigOptions) -> Result<String, Box<dyn std::error::Error>> {
    let env = ProcessEnv;
    // The profile, with the official CLI's lookup rules and overrides; then its validation.
    let resolved = config::resolve(opts, &env)?;
    for w in &resolved.warnings {
        eprintln!("{w}");
    }
    config::validate_api_key(&resolved, opts.endpoint.is_some())?;
    let profile = &resolved.profile;

    // Where to send it: the region's Object Storage endpoint, or the --endpoint override.
    let endpoint = match (&opts.endpoint, profile.get("region")) {
        (Some(e), _) => e.clone(),
        (None, Some(r)) => {
            regions::endpoint(Service::ObjectStorage, &regions::resolve_region(r, &env)?)
        }
        (None, None) => {
            return Err("the profile has no region; add region= or pass --region".into());
        }
    };

    let provider = ApiKeyProvider::new(ApiKeyConfig::from_profile(profile, &env)?)?;
    let client = Client::new(Arc::new(provider), ClientOptions::default())?;
    Ok(object_storage::get_namespace(&client, &endpoint, None).await?)
}
