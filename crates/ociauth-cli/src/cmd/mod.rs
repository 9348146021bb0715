//! One module per command group.

pub mod exchange;
pub mod exec;
pub mod os;
pub mod raw_request;
pub mod session;
pub mod setup;
