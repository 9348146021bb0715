//! One module per credential source.

pub mod api_key;
pub mod session_token;
