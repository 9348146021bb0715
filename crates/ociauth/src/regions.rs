//! Realms, regions and service endpoints. STUB: being written.

#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    #[error("{0}")]
    Unknown(String),
}
