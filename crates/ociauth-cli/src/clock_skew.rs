//! The CLI's clock-skew hint after a 401: `HEAD` the service endpoint (unsigned) and compare its
//! `Date` header with the local clock. Any failure just means no hint.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use crate::util::py_isoformat;

/// The CLI warns above this difference.
const THRESHOLD: Duration = Duration::from_secs(5 * 60);

/// The warning text when the server's clock is more than 5 minutes away from ours.
pub async fn check(endpoint: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let resp = client.head(endpoint).send().await.ok()?;
    let date = resp.headers().get("date")?.to_str().ok()?;
    let server = httpdate::parse_http_date(date).ok()?;
    warning(SystemTime::now(), server)
}

/// `WARNING: Your computer time: <t> differs from the server time: <t> by more than 5 minutes. ...`
/// with both times as Python's `arrow` prints them.
pub fn warning(local: SystemTime, server: SystemTime) -> Option<String> {
    let skew = match local.duration_since(server) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew <= THRESHOLD {
        return None;
    }
    let fmt = |t: SystemTime| py_isoformat(OffsetDateTime::from(t));
    Some(format!(
        "WARNING: Your computer time: {} differs from the server time: {} by more than 5 minutes. This can cause authentication errors connecting to services.",
        fmt(local),
        fmt(server)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_beyond_five_minutes() {
        let server = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(warning(server + Duration::from_secs(300), server), None);
        assert_eq!(
            warning(server + Duration::from_secs(301), server).as_deref(),
            Some(
                "WARNING: Your computer time: 2026-11-18T11:11:41+00:00 differs from the server time: 2026-11-18T11:06:40+00:00 by more than 5 minutes. This can cause authentication errors connecting to services."
            )
        );
    }
}
