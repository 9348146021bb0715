//! Caching wrapper with refresh ahead of expiry and single flight. STUB: being written.
