//! Keep secrets out of logs, errors and `Debug`: tokens and signatures are cut to a short prefix.

/// How many characters of a token or signature may be shown.
const SHOWN: usize = 8;

/// `abcdefgh…` for a secret string (a token, a signature); short strings are hidden entirely.
pub fn short(secret: &str) -> String {
    if secret.len() <= SHOWN * 2 {
        return "…".to_string();
    }
    let cut = secret
        .char_indices()
        .nth(SHOWN)
        .map(|(i, _)| i)
        .unwrap_or(secret.len());
    format!("{}…", &secret[..cut])
}

/// A key id safe to log: `ST$<token>` becomes `ST$abcdefgh…`; API-key ids are public and kept.
pub fn key_id(key_id: &str) -> String {
    match key_id.strip_prefix("ST$") {
        Some(tok) => format!("ST${}", short(tok)),
        None => key_id.to_string(),
    }
}

/// An `Authorization: Signature ...` value with the token in keyId and the signature cut short.
pub fn redact_token(authorization: &str) -> String {
    let mut out = String::with_capacity(authorization.len().min(256));
    for (i, part) in authorization.split(',').enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(v) = part.strip_prefix("keyId=\"") {
            out.push_str("keyId=\"");
            out.push_str(&key_id(v.trim_end_matches('"')));
            out.push('"');
        } else if let Some(v) = part.strip_prefix("signature=\"") {
            out.push_str("signature=\"");
            out.push_str(&short(v.trim_end_matches('"')));
            out.push('"');
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_cut() {
        assert_eq!(
            key_id("ST$eyJhbGciOiJSUzI1NiJ9.payload.sig"),
            "ST$eyJhbGci…"
        );
        assert_eq!(
            key_id("ocid1.tenancy.oc1..a/ocid1.user.oc1..b/aa:bb"),
            "ocid1.tenancy.oc1..a/ocid1.user.oc1..b/aa:bb"
        );
        let h = r#"Signature algorithm="rsa-sha256",headers="date",keyId="ST$eyJhbGciOiJSUzI1NiJ9.payload.sig",signature="QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",version="1""#;
        assert_eq!(
            redact_token(h),
            r#"Signature algorithm="rsa-sha256",headers="date",keyId="ST$eyJhbGci…",signature="QUJDREVG…",version="1""#
        );
        assert_eq!(short("abc"), "…");
    }
}
