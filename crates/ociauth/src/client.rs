//! Async HTTP client that signs every request. STUB: being written.

/// A non-success answer from an OCI service.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message} (opc-request-id: {opc_request_id})")]
pub struct ServiceError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub opc_request_id: String,
}
