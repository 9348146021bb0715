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

    /// The service answered with a non-success status. Boxed: the error carries the CLI's error
    /// fields and would otherwise make every `Result` large.
    #[error(transparent)]
    Service(Box<crate::client::ServiceError>),

    /// The request never got an answer (DNS, connect, TLS, timeout). The message names the URL
    /// and the cause, e.g. `could not connect to http://127.0.0.1:9/n: connection refused`.
    #[error("{0}")]
    Transport(String),

    /// A request that cannot be sent as given (bad URL, header, method or CA bundle).
    #[error("{0}")]
    InvalidRequest(String),

    /// A success response whose body is not what the operation returns.
    #[error("{0}")]
    InvalidResponse(String),

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
            Error::Service(s) => s.is_retryable(),
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

impl From<crate::client::ServiceError> for Error {
    fn from(e: crate::client::ServiceError) -> Self {
        Error::Service(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
