//! API-key provider (`tenancy/user/fingerprint`). STUB: being written.
