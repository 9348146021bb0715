//! OCI HTTP request signing (signature version 1, draft-cavage-http-signatures-08), as a pure
//! function: (method, raw request target, host, headers, body or body hash, key id, key, date) ->
//! the headers to add. No I/O, no clock: the caller passes the date.
//!
//! The output is byte-identical to the Python SDK's `oci.signer.Signer`, including the order of
//! the Authorization parameters (`algorithm, headers, keyId, signature, version`).

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};

use crate::keys::{KeyError, PrivateKey};

/// base64(SHA-256("")): the `x-content-sha256` of an empty body.
pub const EMPTY_BODY_SHA256: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

/// Signed-header list for GET, HEAD, DELETE, and any method with body signing off.
pub const GENERIC_HEADERS: &[&str] = &["date", "(request-target)", "host"];
/// Signed-header list for POST, PUT, PATCH.
pub const BODY_HEADERS: &[&str] = &[
    "date",
    "(request-target)",
    "host",
    "content-length",
    "content-type",
    "x-content-sha256",
];

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SignError {
    #[error(
        "Don't know how to sign request verb {0} (OCI signs GET, HEAD, DELETE, PUT, POST, PATCH)"
    )]
    UnsupportedMethod(String),
    #[error("missing required header \"{0}\"")]
    MissingHeader(String),
    #[error("header \"{0}\" has a value that cannot be signed (not visible ASCII)")]
    InvalidHeaderValue(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The request body, or its precomputed hash and length (for a stream).
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Bytes(&'a [u8]),
    /// base64 SHA-256 of the body and its length in bytes.
    Digest {
        sha256_b64: &'a str,
        len: u64,
    },
}

impl Default for Body<'_> {
    fn default() -> Self {
        Body::Bytes(&[])
    }
}

/// What to sign, beyond the method's default header list.
#[derive(Debug, Clone, Copy)]
pub struct SignOptions<'a> {
    /// Sign `content-length content-type x-content-sha256` on POST/PUT/PATCH. Off for Object
    /// Storage PutObject/UploadPart (the SDK's `enforce_content_headers=False`).
    pub sign_body: bool,
    /// Sign `host` (off only for the X.509 federation call).
    pub include_host: bool,
    /// Further headers to sign after the standard list (e.g. `opc-obo-token`).
    pub extra_headers: &'a [&'a str],
}

impl Default for SignOptions<'_> {
    fn default() -> Self {
        Self {
            sign_body: true,
            include_host: true,
            extra_headers: &[],
        }
    }
}

/// A request, as it will go on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// HTTP method, any case.
    pub method: &'a str,
    /// Raw request target: path plus `?query`, exactly as sent (never re-encoded). Empty means `/`.
    pub target: &'a str,
    /// The authority (`host[:port]`), sent as the `Host` header.
    pub host: &'a str,
    /// Headers the caller already set (any case). `date`, `content-type`, `content-length` and
    /// `x-content-sha256` given here are used as they are, as the Python SDK does.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Body<'a>,
}

/// Headers to add to the request. `Debug` cuts the key id and signature short.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub date: String,
    pub host: String,
    /// Set when the body is signed (POST/PUT/PATCH) and the caller gave none.
    pub content_type: Option<String>,
    pub content_length: Option<String>,
    pub x_content_sha256: Option<String>,
    pub authorization: String,
    /// The exact string that was signed (for `--debug` and tests; contains no secret).
    pub signing_string: String,
}

impl std::fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedHeaders")
            .field("date", &self.date)
            .field("host", &self.host)
            .field("content_type", &self.content_type)
            .field("content_length", &self.content_length)
            .field("x_content_sha256", &self.x_content_sha256)
            .field(
                "authorization",
                &crate::redact::redact_token(&self.authorization),
            )
            .finish()
    }
}

impl SignedHeaders {
    /// `(lower-case name, value)` pairs to set on the request.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("date", Some(self.date.as_str())),
            ("host", Some(self.host.as_str())),
            ("content-type", self.content_type.as_deref()),
            ("content-length", self.content_length.as_deref()),
            ("x-content-sha256", self.x_content_sha256.as_deref()),
            ("authorization", Some(self.authorization.as_str())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// Format a time as an RFC 7231 IMF-fixdate (`Thu, 05 Jan 2014 21:31:40 GMT`).
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// base64(SHA-256(body)).
pub fn body_sha256(body: &[u8]) -> String {
    B64.encode(Sha256::digest(body))
}

fn method_signs_body(method: &str) -> Result<bool, SignError> {
    match method.to_ascii_lowercase().as_str() {
        "get" | "head" | "delete" => Ok(false),
        "put" | "post" | "patch" => Ok(true),
        _ => Err(SignError::UnsupportedMethod(method.to_string())),
    }
}

/// The ordered list of headers a client signs for this method and options.
pub fn headers_to_sign(method: &str, opts: &SignOptions<'_>) -> Result<Vec<String>, SignError> {
    let with_body = method_signs_body(method)? && opts.sign_body;
    let base = if with_body {
        BODY_HEADERS
    } else {
        GENERIC_HEADERS
    };
    Ok(base
        .iter()
        .filter(|h| opts.include_host || **h != "host")
        .map(|h| h.to_string())
        .chain(opts.extra_headers.iter().map(|h| h.to_ascii_lowercase()))
        .collect())
}

/// Build the signing string: one `name: value` line per listed header, joined by LF, no trailing
/// newline. `(request-target)` is `lower(method) + " " + target` with the target as given.
/// `lookup` returns a header's value by lower-case name; a listed header it lacks is an error.
pub fn signing_string<'v>(
    names: &[impl AsRef<str>],
    method: &str,
    target: &str,
    lookup: impl Fn(&str) -> Option<&'v str>,
) -> Result<String, SignError> {
    let target = if target.is_empty() { "/" } else { target };
    let mut out = String::with_capacity(256);
    for (i, name) in names.iter().enumerate() {
        let name = name.as_ref();
        if i > 0 {
            out.push('\n');
        }
        out.push_str(name);
        out.push_str(": ");
        if name == "(request-target)" {
            out.push_str(&method.to_ascii_lowercase());
            out.push(' ');
            out.push_str(target);
        } else {
            let v = lookup(name).ok_or_else(|| SignError::MissingHeader(name.to_string()))?;
            out.push_str(v);
        }
    }
    Ok(out)
}

/// `Signature algorithm="rsa-sha256",headers="...",keyId="...",signature="...",version="1"`.
pub fn authorization_header(
    names: &[impl AsRef<str>],
    key_id: &str,
    signature_b64: &str,
) -> String {
    let names: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
    format!(
        "Signature algorithm=\"rsa-sha256\",headers=\"{}\",keyId=\"{}\",signature=\"{}\",version=\"1\"",
        names.join(" "),
        key_id,
        signature_b64
    )
}

/// Sign a request. Pure: the same inputs always give the same output (PKCS#1 v1.5 is
/// deterministic).
pub fn sign(
    req: &Request<'_>,
    opts: &SignOptions<'_>,
    key_id: &str,
    key: &PrivateKey,
    now: SystemTime,
) -> Result<SignedHeaders, SignError> {
    let names = headers_to_sign(req.method, opts)?;
    let find = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let date = find("date")
        .map(str::to_string)
        .unwrap_or_else(|| http_date(now));
    let signs_body = names.iter().any(|n| n == "x-content-sha256");

    let (mut content_type, mut content_length, mut x_sha) = (None, None, None);
    if signs_body {
        if find("content-type").is_none() {
            content_type = Some("application/json".to_string());
        }
        let (hash, len) = match req.body {
            Body::Bytes(b) => (
                find("x-content-sha256")
                    .map(str::to_string)
                    .unwrap_or_else(|| body_sha256(b)),
                b.len() as u64,
            ),
            Body::Digest { sha256_b64, len } => (sha256_b64.to_string(), len),
        };
        if find("x-content-sha256").is_none() {
            x_sha = Some(hash);
        }
        if find("content-length").is_none() {
            content_length = Some(len.to_string());
        }
    }

    let lookup = |name: &str| -> Option<&str> {
        match name {
            "date" => Some(date.as_str()),
            "host" => Some(req.host),
            "content-type" => content_type.as_deref().or_else(|| find(name)),
            "content-length" => content_length.as_deref().or_else(|| find(name)),
            "x-content-sha256" => x_sha.as_deref().or_else(|| find(name)),
            _ => find(name),
        }
    };
    let signing = signing_string(&names, req.method, req.target, lookup)?;
    if let Some(bad) = names.iter().find(|n| {
        n.as_str() != "(request-target)"
            && lookup(n).is_some_and(|v| !v.bytes().all(|b| (0x20..0x7f).contains(&b)))
    }) {
        return Err(SignError::InvalidHeaderValue(bad.clone()));
    }
    let sig = key.sign_sha256(signing.as_bytes())?;
    let authorization = authorization_header(&names, key_id, &B64.encode(sig));
    Ok(SignedHeaders {
        date,
        host: req.host.to_string(),
        content_type,
        content_length,
        x_content_sha256: x_sha,
        authorization,
        signing_string: signing,
    })
}

/// Parsed `Authorization: Signature ...` parameters (the server side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationParams {
    pub key_id: String,
    pub algorithm: Option<String>,
    /// Lower-cased header names, in signing order.
    pub headers: Vec<String>,
    pub signature: String,
    pub version: Option<String>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthParseError {
    #[error("the Authorization header does not use the Signature scheme")]
    NotSignatureScheme,
    #[error("the Authorization header lacks the '{0}' parameter")]
    MissingParam(&'static str),
    #[error("the Authorization header is malformed: {0}")]
    Malformed(&'static str),
}

/// Parse an `Authorization` value in any parameter order (PySDK and GoSDK layouts alike).
pub fn parse_authorization(value: &str) -> Result<AuthorizationParams, AuthParseError> {
    let value = value.trim();
    let (scheme, rest) = value
        .split_once(' ')
        .ok_or(AuthParseError::NotSignatureScheme)?;
    if !scheme.eq_ignore_ascii_case("Signature") {
        return Err(AuthParseError::NotSignatureScheme);
    }
    let (mut key_id, mut algorithm, mut headers, mut signature, mut version) =
        (None, None, None, None, None);
    let mut item = String::new();
    let mut in_quotes = false;
    let mut items = Vec::new();
    for c in rest.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                item.push(c);
            }
            ',' if !in_quotes => items.push(std::mem::take(&mut item)),
            _ => item.push(c),
        }
    }
    if in_quotes {
        return Err(AuthParseError::Malformed("unbalanced quotes"));
    }
    items.push(item);
    for it in items {
        let it = it.trim();
        if it.is_empty() {
            continue;
        }
        let (k, v) = it
            .split_once('=')
            .ok_or(AuthParseError::Malformed("parameter without '='"))?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
            .to_string();
        let slot = match k.trim() {
            "keyId" => &mut key_id,
            "algorithm" => &mut algorithm,
            "headers" => &mut headers,
            "signature" => &mut signature,
            "version" => &mut version,
            _ => continue,
        };
        if slot.is_some() {
            return Err(AuthParseError::Malformed("repeated parameter"));
        }
        *slot = Some(v);
    }
    let headers: Vec<String> = headers
        .ok_or(AuthParseError::MissingParam("headers"))?
        .split(' ')
        .filter(|h| !h.is_empty())
        .map(|h| h.to_ascii_lowercase())
        .collect();
    Ok(AuthorizationParams {
        key_id: key_id.ok_or(AuthParseError::MissingParam("keyId"))?,
        algorithm,
        headers,
        signature: signature.ok_or(AuthParseError::MissingParam("signature"))?,
        version,
    })
}
