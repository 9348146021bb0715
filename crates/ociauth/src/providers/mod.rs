//! One module per credential source.

pub mod api_key;
pub mod instance_principal;
pub mod oke_workload_identity;
pub mod principal;
pub mod resource_principal;
pub mod session_token;
pub mod workload_identity_federation;
