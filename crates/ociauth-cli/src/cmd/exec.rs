//! `ociauth exec [--profile P] [--config-file C] -- COMMAND ARGS...`: run a command with a
//! session profile whose token is kept fresh for as long as the command runs, so long Terraform
//! or CLI jobs outlive the 60-minute limit of a session token.
//!
//! - The command gets `OCI_CLI_PROFILE=P`, `OCI_CLI_AUTH=security_token` and, when
//!   `--config-file` was given, `OCI_CLI_CONFIG_FILE` (absolute): `oci`, `ociauth` and the SDKs
//!   read the profile unchanged; Terraform reads it with `auth = "SecurityToken"` and
//!   `config_file_profile = "P"` (it re-reads the token file on every request).
//! - **A workload identity federation profile** (`token_exchange_domain_url`, …; see
//!   `cmd::exchange`): the token lives in `~/.oci/sessions/P/`, as for
//!   `--auth workload_identity_federation`; before the command starts, the profile gets the
//!   session keys pointing there (`fingerprint`, `key_file`, `security_token_file`, and `tenancy`
//!   when it has none; its other lines are kept), and every renewal is a new exchange bound to
//!   the same key.
//! - **A session profile** (`security_token_file`): renewed through the refresh endpoint
//!   (`--endpoint`/`OCI_CLI_ENDPOINT` replace the auth service's URL) while the session's
//!   `sess_exp` allows; after that a warning says when the last token expires.
//! - Renewal at 80 % of each token's lifetime (`cmd::exchange::renew_at`); the token file is
//!   replaced atomically under the session's lock, so readers see the old or the new token,
//!   never a torn one. A failed renewal is retried (every quarter of the remaining lifetime,
//!   between 1 and 30 s) with a warning on stderr; the command keeps running.
//! - Signals **\[I\]**: without a terminal on stdin (CI), the command runs in its own process
//!   group and SIGINT, SIGTERM and SIGHUP sent to `ociauth` are passed to that group, as a
//!   terminal would deliver them. With a terminal, the command stays in the terminal's
//!   foreground group (so it can prompt), which already receives Ctrl-C and hangups from the
//!   terminal; only SIGTERM is passed on (others would arrive twice).
//! - Exit status: the command's; 128 + N when it was killed by signal N; 127 when it cannot be
//!   found, 126 when it cannot be run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use ociauth::config::{self, ConfigFile, Origin, ResolvedConfig};
use ociauth::env::{ProcessEnv, expand_user};
use ociauth::providers::workload_identity_federation::WifProfile;
use ociauth::session::{self, RefreshPlan, SessionError};
use ociauth::subject_token;

use crate::cmd::exchange::{
    SessionState, WifSession, is_expired, renew_at, session_cli_error, token_matches_key,
};
use crate::context::{lib_error, resolve_config};
use crate::errors::CliError;
use crate::globals::{AuthMethod, GlobalArgs};
use crate::util::{Color, stdin_is_terminal, styled_for_stderr};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The command to run and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}

/// Longest pause between two attempts of a failing renewal.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// Shortest pause between two attempts of a failing renewal.
const MIN_RETRY: Duration = Duration::from_secs(1);

/// What keeps the profile's token fresh.
enum Keeper {
    Wif {
        session: Box<WifSession>,
        config_path: PathBuf,
    },
    Session {
        profile: String,
        plan: RefreshPlan,
        http: reqwest::Client,
    },
}

/// The outcome of one renewal.
enum Renewal {
    Renewed(SessionState),
    /// The token cannot be renewed any more (why).
    Over(String),
}

fn warn(text: &str) {
    eprintln!(
        "{}",
        styled_for_stderr(&format!("WARNING: ociauth exec: {text}"), Color::Yellow)
    );
}

fn format_time(t: SystemTime) -> String {
    ociauth::jwt::format_sess_exp(t).unwrap_or_else(|_| "?".to_string())
}

impl Keeper {
    fn profile(&self) -> &str {
        match self {
            Keeper::Wif { session, .. } => &session.profile,
            Keeper::Session { profile, .. } => profile,
        }
    }

    /// A token that is fresh now (renewed first when due), before the command starts.
    async fn start(&self) -> Result<(SessionState, bool), CliError> {
        match self {
            Keeper::Wif {
                session,
                config_path,
            } => {
                let s = session
                    .ensure_fresh()
                    .await
                    .map_err(|e| lib_error(e, None))?;
                write_session_keys(config_path, session, &s).map_err(|e| lib_error(e, None))?;
                Ok((s, true))
            }
            Keeper::Session { profile, plan, .. } => {
                let s = self.read_session_profile()?;
                if is_expired(&s.info, SystemTime::now()) {
                    return Err(CliError::fatal(format!(
                        "the session token of profile {profile} expired at {}; start a new session with `ociauth session authenticate --profile-name {profile}`",
                        s.info
                            .expires_at
                            .map(format_time)
                            .unwrap_or_else(|| "?".into())
                    )));
                }
                if s.is_fresh(SystemTime::now()) {
                    return Ok((s, true));
                }
                match self.renew(&s).await {
                    Ok(Renewal::Renewed(n)) => Ok((n, true)),
                    Ok(Renewal::Over(why)) => {
                        warn_over(profile, &s, &why);
                        Ok((s, false))
                    }
                    Err(e) => {
                        warn(&format!(
                            "could not refresh the session token of profile {profile} ({e}); {} is still valid",
                            plan.token_file.display()
                        ));
                        Ok((s, true))
                    }
                }
            }
        }
    }

    /// The session profile's current token and key (which must belong together).
    fn read_session_profile(&self) -> Result<SessionState, CliError> {
        let Keeper::Session { plan, profile, .. } = self else {
            return Err(CliError::fatal("not a session profile"));
        };
        let token = session::read_token_file(&plan.token_file).map_err(session_cli_error)?;
        let info = session::token_info(&token).map_err(|e| {
            CliError::fatal(format!(
                "{} (security_token_file of profile {profile}) does not hold a session token ({e})",
                plan.token_file.display()
            ))
        })?;
        if !token_matches_key(&token, &plan.key) {
            return Err(CliError::fatal(format!(
                "the session token of profile {profile} is not bound to its key_file: authenticate again"
            )));
        }
        Ok(SessionState {
            token: std::sync::Arc::new(zeroize::Zeroizing::new(token)),
            key: plan.key.clone(),
            info,
        })
    }

    /// Renew once.
    async fn renew(&self, current: &SessionState) -> Result<Renewal, String> {
        match self {
            Keeper::Wif {
                session,
                config_path,
            } => {
                let s = session.renew(None).await.map_err(|e| e.to_string())?;
                if s.key.fingerprint() != current.key.fingerprint() {
                    write_session_keys(config_path, session, &s).map_err(|e| e.to_string())?;
                }
                Ok(Renewal::Renewed(s))
            }
            Keeper::Session { plan, http, .. } => {
                let now = SystemTime::now();
                if let Some(end) = current.info.session_expires_at
                    && (end <= now || current.info.expires_at.is_some_and(|exp| exp >= end))
                {
                    return Ok(Renewal::Over(format!(
                        "its session ends at {} (sess_exp)",
                        format_time(end)
                    )));
                }
                let out = session::refresh_token_file(
                    http,
                    &plan.url,
                    &plan.token_file,
                    &plan.key,
                    Some(current.token.as_str()),
                    now,
                )
                .await;
                let out = match out {
                    Ok(o) => o,
                    Err(SessionError::SessionNoLongerValid) => {
                        return Ok(Renewal::Over(
                            "the service refused to refresh it (401: the session is over)".into(),
                        ));
                    }
                    Err(e) => return Err(e.to_string()),
                };
                let info = session::token_info(&out.token)
                    .map_err(|e| format!("the refreshed token cannot be read: {e}"))?;
                if !out.refreshed_elsewhere
                    && info.expires_at.is_some()
                    && info.expires_at <= current.info.expires_at
                {
                    return Ok(Renewal::Over(
                        "the service no longer extends it (the session's sess_exp is reached)"
                            .into(),
                    ));
                }
                Ok(Renewal::Renewed(SessionState {
                    token: std::sync::Arc::new(zeroize::Zeroizing::new(out.token)),
                    key: plan.key.clone(),
                    info,
                }))
            }
        }
    }
}

fn warn_over(profile: &str, s: &SessionState, why: &str) {
    let exp = s
        .info
        .expires_at
        .map(format_time)
        .unwrap_or_else(|| "?".into());
    warn(&format!(
        "the session token of profile {profile} can no longer be refreshed: {why}; commands that start after {exp} will fail (start a new session with `ociauth session authenticate --profile-name {profile}`)"
    ));
}

/// Give a WIF profile the session keys that point at its token cache, so the command reads it
/// with `--auth security_token`; the section's other lines are kept. Written only on change.
fn write_session_keys(
    config_path: &Path,
    session: &WifSession,
    s: &SessionState,
) -> Result<(), ociauth::Error> {
    let file = ConfigFile::load(config_path)?;
    let own: Vec<(String, String)> = file
        .profile(&session.profile)
        .map(|p| {
            p.entries()
                .iter()
                .filter(|e| {
                    matches!(
                        e.origin,
                        Origin::File {
                            inherited: false,
                            ..
                        }
                    )
                })
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut want = own.clone();
    let mut set =
        |key: &str, value: String, replace: bool| match want.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) if replace => *v = value,
            Some(_) => {}
            None => want.push((key.to_string(), value)),
        };
    set("fingerprint", s.key.fingerprint().to_string(), true);
    set("key_file", session.key_file.display().to_string(), true);
    if let Some(t) = &s.info.tenancy {
        set("tenancy", t.clone(), false);
    }
    set(
        "security_token_file",
        session.token_file.display().to_string(),
        true,
    );
    if want == own {
        return Ok(());
    }
    Ok(config::upsert_profile(
        config_path,
        &session.profile,
        &want,
    )?)
}

/// Choose the keeper for the resolved profile.
fn keeper(g: &GlobalArgs, resolved: &ResolvedConfig) -> Result<Keeper, CliError> {
    let p = &resolved.profile;
    let name = &resolved.profile_name;
    if WifProfile::is_wif_profile(p) {
        let config_path = resolved.config_path.clone().ok_or_else(|| {
            CliError::fatal(
                "ociauth exec needs a config file for a workload identity federation profile",
            )
        })?;
        if p.get("region").is_none_or(str::is_empty) {
            return Err(CliError::fatal(format!(
                "profile [{name}] of {} has no region: add region=… (the command needs it)",
                resolved.config_label()
            )));
        }
        return Ok(Keeper::Wif {
            session: Box::new(WifSession::new(g, resolved)?),
            config_path,
        });
    }
    if p.get("security_token_file").is_some_and(|v| !v.is_empty()) {
        let env = ProcessEnv;
        let plan = RefreshPlan::from_profile(p, &env, None, p.get("endpoint"))
            .map_err(session_cli_error)?;
        let http = subject_token::http_client(
            Duration::from_secs(60),
            g.cert_bundle.as_deref().map(Path::new),
        )
        .map_err(|e| lib_error(e, None))?;
        return Ok(Keeper::Session {
            profile: name.clone(),
            plan,
            http,
        });
    }
    Err(CliError::fatal(format!(
        "profile [{name}] of {} is neither a workload identity federation profile (token_exchange_domain_url) nor a session profile (security_token_file): ociauth exec keeps only session tokens fresh; create one with `ociauth session exchange` or `ociauth session authenticate`",
        resolved.config_label()
    )))
}

/// Keep the token fresh until the session cannot be renewed any more (then return).
async fn keep_fresh(keeper: &Keeper, mut state: SessionState) {
    loop {
        let Some(at) = renew_at(&state.info) else {
            return;
        };
        let wait = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        loop {
            match keeper.renew(&state).await {
                Ok(Renewal::Renewed(s)) => {
                    tracing::debug!(profile = keeper.profile(), "token renewed");
                    state = s;
                    break;
                }
                Ok(Renewal::Over(why)) => {
                    warn_over(keeper.profile(), &state, &why);
                    return;
                }
                Err(e) => {
                    let left = state
                        .info
                        .expires_at
                        .and_then(|exp| exp.duration_since(SystemTime::now()).ok())
                        .unwrap_or(MAX_RETRY * 4);
                    let pause = (left / 4).clamp(MIN_RETRY, MAX_RETRY);
                    warn(&format!(
                        "could not renew the session token of profile {} ({e}); trying again in {} s",
                        keeper.profile(),
                        pause.as_secs()
                    ));
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// Send `sig` to the child (or its process group).
fn forward(pid: Option<u32>, sig: i32, group: bool) {
    let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) else {
        return;
    };
    let target = if group { -pid } else { pid };
    tracing::debug!(target, sig, "passing a signal on");
    // SAFETY: kill(2) takes two integers and touches no memory of this process.
    unsafe {
        libc::kill(target, sig);
    }
}

/// `ociauth exec`.
pub fn run(g: &GlobalArgs, a: ExecArgs) -> Result<(), CliError> {
    crate::runtime()?.block_on(exec(g, a))
}

async fn exec(g: &GlobalArgs, a: ExecArgs) -> Result<(), CliError> {
    let env = ProcessEnv;
    let resolved = resolve_config(g, AuthMethod::SecurityToken, &env)?;
    let keeper = keeper(g, &resolved)?;
    let (state, renewable) = keeper.start().await?;

    let Some((program, args)) = a.command.split_first() else {
        return Err(CliError::usage("give the command to run after --"));
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env("OCI_CLI_PROFILE", &resolved.profile_name)
        .env("OCI_CLI_AUTH", AuthMethod::SecurityToken.name());
    if let Some(c) = g.config_file.as_deref().filter(|c| !c.is_empty()) {
        let abs = session::abspath(&expand_user(c, &env)).map_err(session_cli_error)?;
        cmd.env("OCI_CLI_CONFIG_FILE", abs);
    }
    let own_group = !stdin_is_terminal();
    if own_group {
        cmd.process_group(0);
    }
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind| {
        signal(kind).map_err(|e| CliError::fatal(format!("cannot listen for signals: {e}")))
    };
    let mut sigint = listen(SignalKind::interrupt())?;
    let mut sigterm = listen(SignalKind::terminate())?;
    let mut sighup = listen(SignalKind::hangup())?;

    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!("ERROR: cannot run {}: {e}", program.to_string_lossy());
            return Err(CliError::Exit(code));
        }
    };
    let pid = child.id();
    let renewal = keep_fresh(&keeper, state);
    tokio::pin!(renewal);
    let mut renewing = renewable;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            () = &mut renewal, if renewing => renewing = false,
            Some(()) = sigint.recv() => {
                if own_group {
                    forward(pid, libc::SIGINT, true);
                }
            }
            Some(()) = sigterm.recv() => forward(pid, libc::SIGTERM, own_group),
            Some(()) = sighup.recv() => {
                if own_group {
                    forward(pid, libc::SIGHUP, true);
                }
            }
        }
    };
    let status =
        status.map_err(|e| CliError::fatal(format!("cannot wait for the command: {e}")))?;
    use std::os::unix::process::ExitStatusExt as _;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    if code == 0 {
        Ok(())
    } else {
        Err(CliError::Exit(code))
    }
}
