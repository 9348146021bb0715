//! One module per credential source.

pub mod api_key;
