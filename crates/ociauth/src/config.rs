//! `~/.oci/config` (Python configparser semantics). STUB: being written.

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}
