//! # ociauth
//!
//! Every way into Oracle Cloud Infrastructure: API keys, session tokens, workload identity
//! federation, instance and resource principals. A pure request signer, key and config loading
//! compatible with the official SDKs, credential providers with automatic renewal, and an async
//! client that signs every request.

pub mod cache;
pub mod client;
pub mod config;
pub mod credentials;
pub mod env;
pub mod error;
pub mod fsutil;
pub mod jwt;
pub mod keys;
pub mod object_storage;
pub mod providers;
pub mod redact;
pub mod regions;
pub mod session;
pub mod signer;
pub mod subject_token;

pub use credentials::{Credentials, CredentialsProvider};
pub use error::{Error, Result};
pub use keys::PrivateKey;
