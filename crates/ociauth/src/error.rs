//! The crate's error type. Every message says what is wrong and what to do; none contains a
//! private key, a passphrase, a client secret or a whole token.

use std::path::PathBuf;

use crate::keys::KeyError;
use crate::signer::SignError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),

    #[error("{}: {source}", path.display())]
    KeyFile { path: PathBuf, source: KeyError },

    #[error(transparent)]
    Key(#[from] KeyError),

    #[error(transparent)]
    Sign(#[from] SignError),

    #[error(transparent)]
    Region(#[from] crate::regions::RegionError),

    /// The service answered with a non-success status.
    #[error(transparent)]
    Service(#[from] crate::client::ServiceError),

    /// The request never got an answer (DNS, connect, TLS, timeout).
    #[error("{0}")]
    Transport(String),

    /// A credentials provider is configured but could not produce credentials.
    #[error("{provider}: {message}")]
    Credentials {
        provider: &'static str,
        message: String,
        /// Worth retrying (network error, 5xx, 429) rather than a configuration problem.
        transient: bool,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Retrying later may succeed (network trouble, throttling, server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_) => true,
            Error::Service(s) => s.status == 429 || s.status >= 500,
            Error::Credentials { transient, .. } => *transient,
            _ => false,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
