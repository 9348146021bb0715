//! # oci-emulator
//!
//! A local Oracle Cloud Infrastructure that verifies every request the way OCI does (signature
//! version 1, spec oci-signing-config-session.md §1.9) and serves a subset of Object Storage and
//! Identity on one base URL. Both `ociauth` and the official `oci` CLI work against it:
//!
//! ```text
//! oci os ns get --config-file DIR/config --endpoint http://127.0.0.1:8990
//! ```
//!
//! In-process use (tests, demos):
//! ```no_run
//! # async fn demo() -> Result<(), oci_emulator::Error> {
//! let emu = oci_emulator::start(oci_emulator::EmulatorConfig::new("/tmp/emu")).await?;
//! println!("{} {}", emu.base_url(), emu.config_path().display());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Session tokens (`oci session …`, spec oci-signing-config-session.md §4) come from [`auth`]:
//! - `oci session authenticate --no-browser --region us-ashburn-1 --config-file DIR/config
//!   --endpoint URL` gets a token from GenerateUpst; use it with `--auth security_token
//!   --profile P --endpoint URL`; `oci session validate --profile P --endpoint URL` works too.
//! - `oci session authenticate` (browser): open the URL it prints with
//!   `https://login.<region>.oraclecloud.com` replaced by the emulator's base URL and sign in
//!   as a user of `DIR/credentials.txt`; the page redirects to the CLI's callback.
//! - `oci session refresh` ignores `--endpoint` and always posts to
//!   `https://auth.<region>.<domain>/v1/authentication/refresh`; it reaches the emulator only
//!   through a TLS-terminating proxy (`HTTPS_PROXY` + `REQUESTS_CA_BUNDLE`), as the interop test
//!   `emulator_session.rs` does.
//!
//! Modules: [`verify`] (request verification), [`state`] (persistent tenancy, users, keys,
//! buckets, objects), [`server`] (router, envelope, errors), one module per OCI service
//! ([`object_storage`], [`identity`], [`auth`]: login page, session-token refresh and
//! GenerateUpst), [`tokens`] (the authority that issues and verifies `ST$` tokens).
//!
//! Principals: [`principals`] (instances, resources, OKE clusters and their keys, in
//! `DIR/principals.json`), [`imds`] (the instance metadata service at `/opc/v2`, or
//! `/imds/<instance>/opc/v2`), [`certs`] (the instance-identity CA chain), [`federation`]
//! (`POST /v1/x509`), [`resource_principal`] (RPT/RPST services, RP 2.2 files), [`oke`] (the TLS
//! proxymux, `EmulatorConfig::oke_port`), [`faults`] (fault injection and the loopback-only
//! admin API under `/_emulator/`).
//!
//! ```text
//! OCI_METADATA_BASE_URL=http://127.0.0.1:8990/opc/v2 \
//!   oci os ns get --auth instance_principal --federation-endpoint http://127.0.0.1:8990/v1/x509 \
//!   --endpoint http://127.0.0.1:8990
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ociauth::env::{Clock, SystemClock};

pub mod auth;
pub mod certs;
pub mod faults;
pub mod federation;
pub mod identity;
pub mod identity_domain;
pub mod imds;
pub mod object_storage;
pub mod oke;
pub mod principals;
pub mod resource_principal;
pub mod server;
pub mod state;
pub mod tokens;
pub mod verify;

pub use faults::{Fault, Faults};
pub use principals::{Principals, PrincipalsError};
pub use resource_principal::Rp22Files;
pub use server::{Limits, LogSink};
pub use state::{State, StateError};
pub use tokens::{TokenAuthority, TokenLifetimes, TokenRequest};
pub use verify::{Principal, TokenVerifier, VerifiedToken};

/// Port `oci-emulator serve` listens on by default.
pub const DEFAULT_PORT: u16 = 8990;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    IdentityDomain(#[from] identity_domain::DomainError),
    #[error(
        "cannot listen on {addr}: {source} (choose another --port, or --port 0 for any free port)"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Principals(#[from] PrincipalsError),
    #[error("cannot start the OKE proxymux: {0}")]
    Oke(#[from] oke::OkeError),
}

/// How to run an emulator.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Directory holding the state (created with a fresh tenancy when empty).
    pub state_dir: PathBuf,
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// Address to bind (default 127.0.0.1).
    pub bind: IpAddr,
    /// Allowed distance between a request's `Date` and the clock (default 300 s).
    pub max_clock_skew: Duration,
    /// The emulator's clock (injectable so tests can move it).
    pub clock: Arc<dyn Clock>,
    /// Body size limits.
    pub limits: Limits,
    /// Where one line per request goes (default: stderr).
    pub log: LogSink,
    /// Validates `ST$` session tokens; `None`: every `ST$` request is a 401.
    /// Overrides the default verifier of `ST$` tokens (the emulator's [`TokenAuthority`]).
    pub token_verifier: Option<Arc<dyn TokenVerifier>>,
    /// Lifetimes of the tokens the emulator issues.
    pub token_lifetimes: TokenLifetimes,
    /// Also serve the OKE proxymux over TLS on this port (0: any free port); `None`: not at all.
    pub oke_port: Option<u16>,
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("state_dir", &self.state_dir)
            .field("port", &self.port)
            .field("bind", &self.bind)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("clock", &self.clock)
            .field("limits", &self.limits)
            .field("token_verifier", &self.token_verifier)
            .finish_non_exhaustive()
    }
}

impl EmulatorConfig {
    /// Defaults: ephemeral port on 127.0.0.1, 300 s skew, system clock, log to stderr.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            port: 0,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            max_clock_skew: verify::DEFAULT_MAX_SKEW,
            clock: Arc::new(SystemClock),
            limits: Limits::default(),
            log: Arc::new(|line: &str| eprintln!("{line}")),
            token_verifier: None,
            token_lifetimes: TokenLifetimes::default(),
            oke_port: None,
        }
    }
    /// Serve the OKE proxymux over TLS on `port` (0: any free port).
    pub fn oke_port(mut self, port: u16) -> Self {
        self.oke_port = Some(port);
        self
    }
    pub fn token_lifetimes(mut self, lifetimes: TokenLifetimes) -> Self {
        self.token_lifetimes = lifetimes;
        self
    }
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    pub fn log(mut self, log: LogSink) -> Self {
        self.log = log;
        self
    }
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }
}

/// A running emulator. Dropping it stops the server (without waiting); prefer [`Self::shutdown`].
pub struct RunningEmulator {
    addr: SocketAddr,
    app: server::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    oke: Option<oke::OkeServer>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .field("state_dir", &self.app.store.dir())
            .finish()
    }
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        server::base_url(&self.addr)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `DIR/config`: an OCI config file for the first user.
    pub fn config_path(&self) -> PathBuf {
        self.app.store.config_path()
    }
    pub fn state_dir(&self) -> &Path {
        self.app.store.dir()
    }
    /// The live state: register users and keys, read the tenancy, namespace, compartment.
    pub fn state(&self) -> &Arc<State> {
        &self.app.store
    }
    /// Install (or remove) the `ST$` token verifier while running.
    /// The authority that issues and verifies the emulator's `ST$` tokens.
    pub fn tokens(&self) -> &Arc<TokenAuthority> {
        &self.app.tokens
    }
    /// The identity domain (workload identity federation): OAuth apps and trusts.
    pub fn identity_domain(&self) -> &Arc<identity_domain::IdentityDomain> {
        &self.app.domain
    }
    pub fn set_token_verifier(&self, v: Option<Arc<dyn TokenVerifier>>) {
        self.app.verifier.set_token_verifier(v);
    }
    /// Instances, resources and OKE clusters.
    pub fn principals(&self) -> &Arc<Principals> {
        &self.app.principals
    }
    /// `http://127.0.0.1:PORT/opc/v2`: the metadata service of the current instance
    /// (`OCI_METADATA_BASE_URL`).
    pub fn imds_base_url(&self) -> String {
        format!("{}/opc/v2", self.base_url())
    }
    /// The metadata service of a given instance (name or OCID).
    pub fn imds_base_url_for(&self, instance: &str) -> String {
        format!("{}/imds/{instance}/opc/v2", self.base_url())
    }
    /// `http://127.0.0.1:PORT/v1/x509` (`OCI_CLI_FEDERATION_ENDPOINT`, the Python signer's
    /// `federation_endpoint`).
    pub fn federation_endpoint(&self) -> String {
        format!("{}/v1/x509", self.base_url())
    }
    /// The fault table (see [`faults`]).
    pub fn faults(&self) -> &Arc<Faults> {
        &self.app.faults
    }
    /// Add a fault; returns its id. Panics never; invalid faults are an `Err` with the reason.
    pub fn inject_fault(&self, fault: Fault) -> Result<u64, String> {
        self.app.faults.add(fault)
    }
    /// Remove all faults.
    pub fn clear_faults(&self) {
        self.app.faults.clear();
    }
    /// Mint an RP 2.2 token and key for a resource (see [`resource_principal::mint_rp22`]).
    pub fn mint_rp22(
        &self,
        resource: &str,
        out_dir: Option<&Path>,
    ) -> Result<Rp22Files, PrincipalsError> {
        resource_principal::mint_rp22(
            &self.app.principals,
            &self.app.tokens,
            resource,
            out_dir,
            None,
        )
    }
    /// The OKE proxymux, when started ([`EmulatorConfig::oke_port`]).
    pub fn oke(&self) -> Option<&oke::OkeServer> {
        self.oke.as_ref()
    }
    /// Stop accepting connections, let open requests finish, and wait for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(o) = self.oke.take() {
            o.shutdown().await;
        }
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("emulator server ended with an error: {e}"),
                Err(e) => tracing::warn!("emulator server task failed: {e}"),
            }
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Open (or create) the state and serve it; returns once the socket is bound.
pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, Error> {
    let (store, _created) = State::open(&config.state_dir, config.clock.clone())?;
    let store = Arc::new(store);
    let mut authority = TokenAuthority::open(&store, config.clock.clone())?;
    authority.lifetimes = config.token_lifetimes;
    let authority = Arc::new(authority);
    let token_verifier = config
        .token_verifier
        .clone()
        .unwrap_or_else(|| authority.clone() as Arc<dyn TokenVerifier>);
    let verifier = verify::Verifier::new(
        store.clone(),
        Some(token_verifier),
        config.clock.clone(),
        config.max_clock_skew,
    );
    let domain = Arc::new(identity_domain::IdentityDomain::open(
        store.clone(),
        config.clock.clone(),
    )?);
    let principals = Arc::new(Principals::open(store.clone(), config.clock.clone())?);
    let app: server::AppState = Arc::new(server::App {
        domain,
        store,
        verifier,
        tokens: authority,
        clock: config.clock.clone(),
        limits: config.limits,
        log: config.log.clone(),
        principals,
        faults: Arc::new(Faults::default()),
    });
    let addr = SocketAddr::new(config.bind, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    let oke = match config.oke_port {
        Some(port) => Some(oke::start(app.clone(), config.bind, port).await?),
        None => None,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = server::router(app.clone());
    let task = tokio::spawn(server::serve(listener, router, async move {
        let _ = rx.await;
    }));
    Ok(RunningEmulator {
        addr,
        app,
        stop: Some(tx),
        task: Some(task),
        oke,
    })
}
