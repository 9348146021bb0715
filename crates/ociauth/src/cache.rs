//! Caching wrapper for any provider whose credentials expire: refresh ahead of expiry, single
//! flight, stale-while-valid.
//!
//! - While the cached snapshot is outside the refresh window it is returned as is.
//! - Inside the window (default: less than `min(5 min, half the snapshot's lifetime)` left, where
//!   the lifetime is measured from when it was fetched) the next caller fetches a new one. However
//!   many tasks ask at the same moment, exactly one fetch runs and all of them get its result.
//! - A failed fetch is not cached: the next call fetches again. If it fails while the previous
//!   snapshot has not yet passed `expires_at`, that snapshot is returned and a warning is logged
//!   (no secrets); past `expires_at` the error is returned.
//! - [`CachingProvider::invalidate`] (called by the client on a 401) drops the snapshot, so the
//!   next call must fetch; it is also passed on to the inner provider.
//!
//! The inner provider's `credentials()` is the "fetch" (one network round trip, a file read...);
//! it is called only from here.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use futures_util::future::Shared;

use crate::credentials::{BoxFuture, Credentials, CredentialsProvider};
use crate::env::Clock;
use crate::error::{Error, Result};

/// The most the default refresh window can be.
pub const DEFAULT_MAX_REFRESH_WINDOW: Duration = Duration::from_secs(300);

type SharedFetch = Shared<BoxFuture<'static, std::result::Result<Credentials, Arc<Error>>>>;

#[derive(Debug, Default)]
struct State {
    cached: Option<Cached>,
    inflight: Option<Inflight>,
    /// Bumped by `invalidate`: a fetch that started before it still hands its result to the
    /// tasks already waiting for it, but neither caches it nor serves later callers.
    generation: u64,
}

#[derive(Debug, Clone)]
struct Cached {
    creds: Credentials,
    fetched_at: SystemTime,
}

struct Inflight {
    fut: SharedFetch,
}

impl std::fmt::Debug for Inflight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflight")
    }
}

/// Wraps a provider with refresh-ahead caching and single flight. Cheap to share (`Arc` inside).
pub struct CachingProvider<P> {
    inner: Arc<P>,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
    window: Option<Duration>,
}

impl<P: CredentialsProvider> std::fmt::Debug for CachingProvider<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("CachingProvider")
            .field("inner", &self.inner)
            .field("cached", &st.cached.as_ref().map(|c| &c.creds))
            .field("window", &self.window)
            .finish()
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<P: CredentialsProvider + 'static> CachingProvider<P> {
    pub fn new(inner: P, clock: Arc<dyn Clock>) -> Self {
        Self::from_arc(Arc::new(inner), clock)
    }

    pub fn from_arc(inner: Arc<P>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            clock,
            state: Arc::new(Mutex::new(State::default())),
            window: None,
        }
    }

    /// Refresh when less than `window` is left before `expires_at` (instead of the default
    /// `min(5 min, lifetime / 2)`).
    pub fn with_refresh_window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The cached snapshot, if any, without fetching.
    pub fn cached(&self) -> Option<Credentials> {
        lock(&self.state).cached.as_ref().map(|c| c.creds.clone())
    }

    /// Whether `c` (fetched at `fetched_at`) should be refreshed at `now`.
    fn needs_refresh(&self, c: &Cached, now: SystemTime) -> bool {
        let Some(exp) = c.creds.expires_at() else {
            return false;
        };
        let window = self.window.unwrap_or_else(|| {
            let lifetime = exp.duration_since(c.fetched_at).unwrap_or(Duration::ZERO);
            (lifetime / 2).min(DEFAULT_MAX_REFRESH_WINDOW)
        });
        now.checked_add(window).is_none_or(|t| t >= exp)
    }

    /// Start a fetch, or join the one in flight.
    fn join_or_start(&self, st: &mut State) -> SharedFetch {
        if let Some(f) = &st.inflight {
            return f.fut.clone();
        }
        let inner = Arc::clone(&self.inner);
        let state = Arc::clone(&self.state);
        let clock = Arc::clone(&self.clock);
        let generation = st.generation;
        let fut: BoxFuture<'static, std::result::Result<Credentials, Arc<Error>>> =
            Box::pin(async move {
                let res = inner.credentials().await;
                let mut st = lock(&state);
                let current = st.generation == generation;
                if current {
                    st.inflight = None;
                }
                match res {
                    Ok(c) => {
                        if current {
                            st.cached = Some(Cached {
                                creds: c.clone(),
                                fetched_at: clock.now(),
                            });
                        }
                        Ok(c)
                    }
                    Err(e) => Err(Arc::new(e)),
                }
            });
        let shared = fut.shared();
        st.inflight = Some(Inflight {
            fut: shared.clone(),
        });
        shared
    }

    async fn get(&self) -> Result<Credentials> {
        let (fut, previous) = {
            let mut st = lock(&self.state);
            let now = self.clock.now();
            if let Some(c) = st.cached.as_ref().filter(|c| !self.needs_refresh(c, now)) {
                return Ok(c.creds.clone());
            }
            let previous = st.cached.as_ref().map(|c| c.creds.clone());
            (self.join_or_start(&mut st), previous)
        };
        match fut.await {
            Ok(c) => Ok(c),
            Err(e) => {
                let now = self.clock.now();
                if let Some(old) = previous.filter(|o| o.expires_at().is_none_or(|exp| now < exp)) {
                    tracing::warn!(
                        provider = self.inner.name(),
                        error = %e,
                        "refreshing credentials failed; using the cached ones until they expire"
                    );
                    return Ok(old);
                }
                Err(share_error(&e, self.inner.name()))
            }
        }
    }
}

/// The error every waiter of a shared fetch gets. Variants that can be copied exactly are;
/// the others become [`Error::Credentials`] with the same message and transience.
fn share_error(e: &Error, provider: &'static str) -> Error {
    match e {
        Error::Service(s) => Error::Service(s.clone()),
        Error::Transport(m) => Error::Transport(m.clone()),
        Error::Credentials {
            provider,
            message,
            transient,
        } => Error::Credentials {
            provider,
            message: message.clone(),
            transient: *transient,
        },
        Error::KeyFile { path, source } => Error::KeyFile {
            path: path.clone(),
            source: source.clone(),
        },
        Error::Key(k) => Error::Key(k.clone()),
        Error::Sign(s) => Error::Sign(s.clone()),
        other => Error::Credentials {
            provider,
            message: other.to_string(),
            transient: other.is_transient(),
        },
    }
}

impl<P: CredentialsProvider + 'static> CredentialsProvider for CachingProvider<P> {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials>> {
        Box::pin(self.get())
    }

    fn invalidate(&self) {
        {
            let mut st = lock(&self.state);
            st.cached = None;
            st.inflight = None;
            st.generation = st.generation.wrapping_add(1);
        }
        self.inner.invalidate();
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}
