//! One module per credential source.

pub mod api_key;
pub mod workload_identity_federation;
