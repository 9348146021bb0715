//! A local OCI. STUB: being written.
pub use axum;
