//! A long-running client with a session token: sign `GET /n` (the Object Storage namespace) in a
//! loop with a session profile (`ociauth session authenticate` / `oci session authenticate`),
//! with automatic refresh on, so it keeps working past the token's one-hour lifetime (up to the
//! session's end, `sess_exp`, 24 h after login).
//!
//! ```text
//! # A session profile P in ~/.oci/config, against OCI:
//! cargo run -p ociauth --example session_token -- --profile P
//!
//! # Against the emulator, with tokens that live 30 s (refreshed every ~15 s):
//! oci-emulator serve --state /tmp/oci-state --session-token-ttl 30 &
//! ociauth session authenticate --no-browser --profile-name P --region us-ashburn-1 \
//!     --config-file /tmp/oci-state/config --endpoint http://127.0.0.1:8990
//! cargo run -p ociauth --example session_token -- --profile P \
//!     --endpoint http://127.0.0.1:8990 --interval 5
//! ```
//!
//! Options (each also from the environment):
//! - `--config FILE` (`OCI_CLI_CONFIG_FILE`, default `~/.oci/config`);
//! - `--profile NAME` (`OCI_CLI_PROFILE`, default `DEFAULT`);
//! - `--endpoint URL` (`OCI_CLI_ENDPOINT`): Object Storage and the refresh call go there (the
//!   refresh to `URL/v1/authentication/refresh`); default: the profile region's endpoints;
//! - `--interval SECS` (default 60) between requests; `--count N` stops after N requests
//!   (default: run until Ctrl-C).
//!
//! Each line shows the namespace and when the token in use expires, so the refreshes are
//! visible. The refreshed token is written back to `security_token_file` (atomically, under a
//! lock), so other programs using the same profile pick it up too.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ociauth::CredentialsProvider;
use ociauth::client::{Client, ClientOptions};
use ociauth::config;
use ociauth::env::{Env, ProcessEnv};
use ociauth::object_storage;
use ociauth::providers::session_token::SessionTokenProvider;
use ociauth::regions::{self, Service};

struct Options {
    config: String,
    profile: String,
    endpoint: Option<String>,
    interval: Duration,
    count: Option<u64>,
}

fn options(env: &dyn Env) -> Result<Options, String> {
    let mut o = Options {
        config: env
            .var("OCI_CLI_CONFIG_FILE")
            .unwrap_or_else(|| config::DEFAULT_LOCATION.to_string()),
        profile: env
            .var("OCI_CLI_PROFILE")
            .unwrap_or_else(|| config::DEFAULT_PROFILE.to_string()),
        endpoint: env.var("OCI_CLI_ENDPOINT").filter(|e| !e.is_empty()),
        interval: Duration::from_secs(60),
        count: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => o.config = value()?,
            "--profile" => o.profile = value()?,
            "--endpoint" => o.endpoint = Some(value()?),
            "--interval" => {
                let v = value()?;
                let secs: u64 = v
                    .parse()
                    .map_err(|_| format!("--interval {v}: not a number of seconds"))?;
                o.interval = Duration::from_secs(secs.max(1));
            }
            "--count" => {
                let v = value()?;
                o.count = Some(
                    v.parse()
                        .map_err(|_| format!("--count {v}: not a number"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown option {other}; usage: session_token [--config FILE] [--profile NAME] [--endpoint URL] [--interval SECS] [--count N]"
                ));
            }
        }
    }
    Ok(o)
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> ExitCode {
    tokio::select! {
        r = run() => match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("stopped");
            ExitCode::SUCCESS
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let env = ProcessEnv;
    let o = options(&env)?;
    let profile = config::from_file(&o.config, &o.profile, &env)?;
    let mut provider = SessionTokenProvider::from_profile(&profile, &env)?.auto_refresh(true);
    if let Some(e) = &o.endpoint {
        provider = provider.refresh_endpoint(e.clone());
    }
    let provider = Arc::new(provider);
    let os_endpoint = match &o.endpoint {
        Some(e) => e.clone(),
        None => {
            let region = profile
                .get("region")
                .ok_or_else(|| format!("profile {} has no region; pass --endpoint", o.profile))?;
            regions::endpoint(
                Service::ObjectStorage,
                &regions::resolve_region(region, &env)?,
            )
        }
    };
    let client = Client::new(provider.clone(), ClientOptions::default())?;
    let mut sent = 0u64;
    loop {
        let ns = object_storage::get_namespace(&client, &os_endpoint, None).await?;
        let creds = provider.credentials().await?;
        let now = SystemTime::now();
        let left = creds
            .expires_at()
            .map(|exp| {
                format!(
                    "token expires in {} s",
                    epoch_secs(exp).saturating_sub(epoch_secs(now))
                )
            })
            .unwrap_or_else(|| "token without exp".to_string());
        let stamp = time::OffsetDateTime::from(now)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        println!("{stamp} namespace {ns} ({left})");
        sent += 1;
        if o.count.is_some_and(|c| sent >= c) {
            return Ok(());
        }
        tokio::time::sleep(o.interval).await;
    }
}
