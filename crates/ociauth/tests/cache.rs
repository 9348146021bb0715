//! CachingProvider: refresh ahead of expiry, single flight, failures not cached,
//! stale-while-valid, invalidate.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use ociauth::cache::CachingProvider;
use ociauth::credentials::BoxFuture;
use ociauth::env::{Clock, ManualClock};
use ociauth::{Credentials, CredentialsProvider, Error, PrivateKey};

fn key() -> PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate().unwrap()).clone()
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// Counts fetches; each fetch returns token `tok<n>` valid for `lifetime` from the clock's now,
/// or fails when `fail` is set. `delay` makes a fetch take that long (real time).
#[derive(Debug)]
struct Fake {
    clock: ManualClock,
    fetches: AtomicUsize,
    fail: AtomicBool,
    lifetime: Duration,
    delay: Duration,
    invalidated: AtomicUsize,
}

impl Fake {
    fn new(clock: &ManualClock, lifetime: Duration) -> Arc<Self> {
        Arc::new(Self {
            clock: clock.clone(),
            fetches: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
            lifetime,
            delay: Duration::ZERO,
            invalidated: AtomicUsize::new(0),
        })
    }
    fn count(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl CredentialsProvider for Fake {
    fn credentials(&self) -> BoxFuture<'_, ociauth::Result<Credentials>> {
        Box::pin(async move {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err(Error::Credentials {
                    provider: "fake",
                    message: format!("fetch {n} failed"),
                    transient: true,
                });
            }
            Ok(
                Credentials::security_token(&format!("tok{n}"), key(), "fake")
                    .with_expiry(self.clock.now() + self.lifetime),
            )
        })
    }
    fn invalidate(&self) {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
    }
    fn name(&self) -> &'static str {
        "fake"
    }
}

fn caching(fake: &Arc<Fake>, clock: &ManualClock) -> CachingProvider<Fake> {
    CachingProvider::from_arc(Arc::clone(fake), Arc::new(clock.clone()))
}

async fn token(p: &impl CredentialsProvider) -> String {
    p.credentials().await.unwrap().token().unwrap().to_string()
}

#[tokio::test]
async fn cached_until_the_default_refresh_window() {
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, Duration::from_secs(3600));
    let p = caching(&fake, &clock);
    assert_eq!(token(&p).await, "tok1");
    // Default window: min(5 min, 30 min) = 5 min before expiry.
    clock.advance(Duration::from_secs(3600 - 301));
    assert_eq!(token(&p).await, "tok1");
    assert_eq!(fake.count(), 1);
    clock.advance(Duration::from_secs(2)); // 299 s left: inside the window
    assert_eq!(token(&p).await, "tok2");
    assert_eq!(fake.count(), 2);
}

#[tokio::test]
async fn short_lifetimes_refresh_at_half_life() {
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, Duration::from_secs(120));
    let p = caching(&fake, &clock);
    assert_eq!(token(&p).await, "tok1");
    clock.advance(Duration::from_secs(59));
    assert_eq!(token(&p).await, "tok1");
    clock.advance(Duration::from_secs(1)); // 60 s left = half the lifetime
    assert_eq!(token(&p).await, "tok2");
}

#[tokio::test]
async fn configured_window() {
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, Duration::from_secs(3600));
    let p = caching(&fake, &clock).with_refresh_window(Duration::from_secs(60));
    token(&p).await;
    clock.advance(Duration::from_secs(3600 - 61));
    assert_eq!(token(&p).await, "tok1");
    clock.advance(Duration::from_secs(1));
    assert_eq!(token(&p).await, "tok2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_callers_at_expiry_share_one_fetch() {
    let clock = ManualClock::new(t0());
    let fake = Arc::new(Fake {
        delay: Duration::from_millis(200),
        ..Arc::try_unwrap(Fake::new(&clock, Duration::from_secs(3600))).unwrap()
    });
    let p = Arc::new(caching(&fake, &clock));
    assert_eq!(token(&*p).await, "tok1");
    clock.advance(Duration::from_secs(3600)); // exactly at expiry
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let p = Arc::clone(&p);
            let b = Arc::clone(&barrier);
            tokio::spawn(async move {
                b.wait().await;
                token(&*p).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "tok2");
    }
    assert_eq!(fake.count(), 2, "one initial fetch + exactly one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_failure_and_it_is_not_cached() {
    let clock = ManualClock::new(t0());
    let fake = Arc::new(Fake {
        delay: Duration::from_millis(200),
        ..Arc::try_unwrap(Fake::new(&clock, Duration::from_secs(3600))).unwrap()
    });
    fake.fail.store(true, Ordering::SeqCst);
    let p = Arc::new(caching(&fake, &clock));
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let p = Arc::clone(&p);
            let b = Arc::clone(&barrier);
            tokio::spawn(async move {
                b.wait().await;
                p.credentials().await.map(|_| ()).unwrap_err().to_string()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "fake: fetch 1 failed");
    }
    assert_eq!(fake.count(), 1);
    // Not cached: the next call fetches again, and succeeds once the source recovers.
    let e = p.credentials().await.unwrap_err();
    assert_eq!(e.to_string(), "fake: fetch 2 failed");
    assert!(e.is_transient());
    fake.fail.store(false, Ordering::SeqCst);
    assert_eq!(token(&*p).await, "tok3");
    assert_eq!(fake.count(), 3);
}

#[tokio::test]
async fn failed_refresh_serves_the_old_snapshot_until_it_expires() {
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, Duration::from_secs(3600));
    let p = caching(&fake, &clock);
    assert_eq!(token(&p).await, "tok1");
    fake.fail.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(3500)); // inside the window, still valid
    assert_eq!(token(&p).await, "tok1");
    assert_eq!(fake.count(), 2, "a refresh was attempted");
    assert_eq!(token(&p).await, "tok1");
    assert_eq!(fake.count(), 3, "the failure was not cached: it is retried");
    clock.advance(Duration::from_secs(100)); // exactly at expiry: no longer valid
    let e = p.credentials().await.unwrap_err();
    assert_eq!(e.to_string(), "fake: fetch 4 failed");
    fake.fail.store(false, Ordering::SeqCst);
    assert_eq!(token(&p).await, "tok5");
}

#[tokio::test]
async fn invalidate_forces_a_fetch_and_reaches_the_inner_provider() {
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, Duration::from_secs(3600));
    let p = caching(&fake, &clock);
    assert_eq!(token(&p).await, "tok1");
    assert_eq!(token(&p).await, "tok1");
    p.invalidate();
    assert_eq!(fake.invalidated.load(Ordering::SeqCst), 1);
    assert_eq!(p.cached().map(|c| c.key_id().to_string()), None);
    assert_eq!(token(&p).await, "tok2");
    assert_eq!(token(&p).await, "tok2");
    // After invalidate a failure is an error, not the refused snapshot.
    p.invalidate();
    fake.fail.store(true, Ordering::SeqCst);
    assert!(p.credentials().await.is_err());
}

#[tokio::test]
async fn credentials_without_expiry_are_fetched_once() {
    #[derive(Debug)]
    struct Static(AtomicUsize);
    impl CredentialsProvider for Static {
        fn credentials(&self) -> BoxFuture<'_, ociauth::Result<Credentials>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(Credentials::new("t/u/f", key(), "static")) })
        }
        fn name(&self) -> &'static str {
            "static"
        }
    }
    let clock = ManualClock::new(t0());
    let inner = Arc::new(Static(AtomicUsize::new(0)));
    let p = CachingProvider::from_arc(Arc::clone(&inner), Arc::new(clock.clone()));
    p.credentials().await.unwrap();
    clock.advance(Duration::from_secs(10 * 365 * 86_400));
    p.credentials().await.unwrap();
    assert_eq!(inner.0.load(Ordering::SeqCst), 1);
    assert_eq!(p.name(), "static");
}

#[tokio::test]
async fn debug_never_shows_the_token() {
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, Duration::from_secs(3600));
    let p = caching(&fake, &clock);
    p.credentials().await.unwrap();
    let dbg = format!("{p:?}");
    assert!(dbg.contains("CachingProvider"), "{dbg}");
    assert!(!dbg.contains("tok1"), "{dbg}");
}
