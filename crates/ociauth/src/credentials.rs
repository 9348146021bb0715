//! Credentials are immutable snapshots (key id + private key + expiry + source); providers make
//! them. Every auth method is a [`CredentialsProvider`]; [`crate::cache::CachingProvider`] adds
//! refresh-ahead-of-expiry with single flight on top of any provider whose credentials expire.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::keys::PrivateKey;

/// A boxed, sendable future (providers are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One set of signing credentials, valid until `expires_at` (None: does not expire).
///
/// `Debug` never shows the private key, and shows a session token only cut short.
#[derive(Clone)]
pub struct Credentials {
    key_id: Arc<str>,
    key: PrivateKey,
    expires_at: Option<SystemTime>,
    source: &'static str,
    /// The region the credentials belong to, when the provider knows it (IMDS, RP env, config).
    region: Option<Arc<str>>,
    /// The tenancy OCID, when known.
    tenancy: Option<Arc<str>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("key_id", &crate::redact::key_id(&self.key_id))
            .field("key", &self.key)
            .field("expires_at", &self.expires_at)
            .field("source", &self.source)
            .field("region", &self.region)
            .field("tenancy", &self.tenancy)
            .finish()
    }
}

impl Credentials {
    pub fn new(key_id: impl Into<Arc<str>>, key: PrivateKey, source: &'static str) -> Self {
        Self {
            key_id: key_id.into(),
            key,
            expires_at: None,
            source,
            region: None,
            tenancy: None,
        }
    }

    /// API-key credentials: key id `tenancy/user/fingerprint`.
    pub fn api_key(tenancy: &str, user: &str, fingerprint: &str, key: PrivateKey) -> Self {
        Self::new(format!("{tenancy}/{user}/{fingerprint}"), key, "api_key").with_tenancy(tenancy)
    }

    /// Session-token credentials: key id `ST$<token>`.
    pub fn security_token(token: &str, key: PrivateKey, source: &'static str) -> Self {
        Self::new(format!("ST${}", token.trim()), key, source)
    }

    pub fn with_expiry(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }
    pub fn with_region(mut self, region: impl Into<Arc<str>>) -> Self {
        self.region = Some(region.into());
        self
    }
    pub fn with_tenancy(mut self, tenancy: impl Into<Arc<str>>) -> Self {
        self.tenancy = Some(tenancy.into());
        self
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    pub fn private_key(&self) -> &PrivateKey {
        &self.key
    }
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
    pub fn source(&self) -> &'static str {
        self.source
    }
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    pub fn tenancy(&self) -> Option<&str> {
        self.tenancy.as_deref()
    }
    /// The session token when the key id is `ST$<token>`.
    pub fn token(&self) -> Option<&str> {
        self.key_id.strip_prefix("ST$")
    }

    /// Expired at `now`, or will be within `margin`.
    pub fn expires_within(&self, now: SystemTime, margin: Duration) -> bool {
        self.expires_at.is_some_and(|exp| now + margin >= exp)
    }
}

/// A source of credentials. `credentials()` returns a snapshot that is valid now; a provider whose
/// credentials expire is wrapped in [`crate::cache::CachingProvider`] by the library so callers
/// never see an expired one while it can still be renewed.
pub trait CredentialsProvider: Send + Sync + std::fmt::Debug {
    /// Credentials valid now.
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, crate::Error>>;

    /// Called when a service answered 401 with credentials from this provider: the next
    /// `credentials()` must not return the same cached snapshot. Static providers ignore it.
    fn invalidate(&self) {}

    /// Short name for messages and `--debug` (`api_key`, `security_token`, ...).
    fn name(&self) -> &'static str;
}

impl<T: CredentialsProvider + ?Sized> CredentialsProvider for Arc<T> {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, crate::Error>> {
        (**self).credentials()
    }
    fn invalidate(&self) {
        (**self).invalidate()
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// A provider that always returns the same credentials.
#[derive(Debug, Clone)]
pub struct StaticProvider(pub Credentials);

impl CredentialsProvider for StaticProvider {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, crate::Error>> {
        let c = self.0.clone();
        Box::pin(async move { Ok(c) })
    }
    fn name(&self) -> &'static str {
        self.0.source()
    }
}
