//! Typed Object Storage calls used by the CLI and the examples.
//!
//! `endpoint` is the service base URL (`https://objectstorage.us-ashburn-1.oraclecloud.com`, or
//! the emulator's `http://127.0.0.1:port`); a trailing `/` is ignored.
//!
//! Paths and queries are encoded as PySDK 2.189 does for Object Storage:
//! - path parameters with strict encoding, `urllib.parse.quote(value, safe='')`: everything except
//!   `A-Z a-z 0-9 _ . - ~` is percent-encoded from UTF-8 with upper-case hex, so `/` becomes
//!   `%2F`. For a name that is exactly `.` or `..` PySDK writes `%2E`/`%2E%2E`, but its
//!   `requests` layer un-escapes them and sends `/o/..` (observed with oci 2.189). URL parsing
//!   here would drop such a segment, so those names are refused ([`Error::InvalidRequest`]).
//! - query values as `requests` does (`urlencode`, i.e. `quote_plus`): the same set, but a space
//!   becomes `+`; parameters in the SDK's order.
//!
//! Each call returns the JSON body (`serde_json::Value`) with the response headers, and names the
//! operation on a service error (`operation_name`, `target_service = "object_storage"`), as the
//! CLI's error output shows.

use std::path::Path;

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::client::{Client, OciRequest, OciResponse, RequestBody, python_json_dumps};
use crate::error::{Error, Result};

/// The SDK's service name, for error output.
pub const SERVICE: &str = "object_storage";

/// Response headers the CLI adds to its output next to `data` (spec §5.6).
pub const CLI_OUTPUT_HEADERS: &[&str] = &[
    "etag",
    "opc-next-page",
    "opc-work-request-id",
    "opc-total-items",
    "opc-next-cursor",
];

/// Python's `quote(s, safe='')`: keeps `A-Z a-z 0-9 _ . - ~`.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// A path segment as PySDK's Object Storage client encodes it.
pub fn encode_path_segment(value: &str) -> Result<String> {
    if value == "." || value == ".." {
        return Err(Error::InvalidRequest(format!(
            "the name {value:?} cannot be used in a URL path: '.' and '..' segments are removed by \
             URL parsing"
        )));
    }
    if value.is_empty() {
        return Err(Error::InvalidRequest(
            "an empty name cannot be used in a URL path".to_string(),
        ));
    }
    Ok(utf8_percent_encode(value, STRICT).to_string())
}

/// A query value as `requests` encodes it (`quote_plus`: space becomes `+`).
pub fn encode_query_value(value: &str) -> String {
    value
        .split(' ')
        .map(|part| utf8_percent_encode(part, STRICT).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// `?k=v&k2=v2` for the given parameters (None skipped); empty when none is set.
fn query(params: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode_query_value(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn base(endpoint: &str) -> &str {
    endpoint.trim_end_matches('/')
}

/// A JSON answer and its headers.
#[derive(Debug, Clone)]
pub struct OsResponse {
    pub status: u16,
    /// The parsed body; `Null` when the body is empty.
    pub data: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

impl OsResponse {
    fn from_response(resp: OciResponse) -> Result<Self> {
        let data = if resp.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            resp.json()?
        };
        Ok(Self {
            status: resp.status,
            data,
            headers: resp.headers,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The headers of [`CLI_OUTPUT_HEADERS`] that are present, lower-case names.
    pub fn cli_headers(&self) -> Vec<(&'static str, &str)> {
        CLI_OUTPUT_HEADERS
            .iter()
            .filter_map(|h| self.header(h).map(|v| (*h, v)))
            .collect()
    }
}

async fn call(client: &Client, req: OciRequest, operation: &str) -> Result<OsResponse> {
    let resp = client
        .send(req)
        .await
        .map_err(|e| e.with_operation(SERVICE, operation))?;
    OsResponse::from_response(resp)
}

/// `GET /n[?compartmentId=]`: the tenancy's namespace (the body is a JSON string literal).
pub async fn get_namespace(
    client: &Client,
    endpoint: &str,
    compartment_id: Option<&str>,
) -> Result<String> {
    let url = format!(
        "{}/n{}",
        base(endpoint),
        query(&[("compartmentId", compartment_id.map(str::to_string))])
    );
    let resp = call(client, OciRequest::get(url), "get_namespace").await?;
    match resp.data {
        serde_json::Value::String(s) => Ok(s),
        other => Err(Error::InvalidResponse(format!(
            "GetNamespace answered {other} where a JSON string (the namespace) was expected"
        ))),
    }
}

/// `GET /n/{ns}/b?compartmentId=&limit=&page=`.
pub async fn list_buckets(
    client: &Client,
    endpoint: &str,
    namespace: &str,
    compartment_id: &str,
    limit: Option<u32>,
    page: Option<&str>,
) -> Result<OsResponse> {
    let url = format!(
        "{}/n/{}/b{}",
        base(endpoint),
        encode_path_segment(namespace)?,
        query(&[
            ("compartmentId", Some(compartment_id.to_string())),
            ("limit", limit.map(|l| l.to_string())),
            ("page", page.map(str::to_string)),
        ])
    );
    call(client, OciRequest::get(url), "list_buckets").await
}

/// `POST /n/{ns}/b` with `{"name", "compartmentId", ...extra}`. `extra` (a JSON object) adds
/// fields such as `publicAccessType` or `storageTier`.
pub async fn create_bucket(
    client: &Client,
    endpoint: &str,
    namespace: &str,
    compartment_id: &str,
    name: &str,
    extra: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<OsResponse> {
    let mut body = serde_json::Map::new();
    body.insert("name".into(), name.into());
    body.insert("compartmentId".into(), compartment_id.into());
    if let Some(extra) = extra {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    let url = format!("{}/n/{}/b", base(endpoint), encode_path_segment(namespace)?);
    let req = OciRequest::new("POST", url).body(RequestBody::Bytes(Bytes::from(
        python_json_dumps(&serde_json::Value::Object(body)),
    )));
    call(client, req, "create_bucket").await
}

/// Query parameters of ListObjects (`fields` is comma-separated: `name,size,etag,...`).
#[derive(Debug, Clone, Default)]
pub struct ListObjects<'a> {
    pub prefix: Option<&'a str>,
    pub start: Option<&'a str>,
    pub end: Option<&'a str>,
    pub limit: Option<u32>,
    pub delimiter: Option<&'a str>,
    pub fields: Option<&'a str>,
    pub start_after: Option<&'a str>,
}

/// `GET /n/{ns}/b/{bucket}/o?prefix=&start=&end=&limit=&delimiter=&fields=&startAfter=`.
pub async fn list_objects(
    client: &Client,
    endpoint: &str,
    namespace: &str,
    bucket: &str,
    opts: &ListObjects<'_>,
) -> Result<OsResponse> {
    let s = |v: Option<&str>| v.map(str::to_string);
    let url = format!(
        "{}/n/{}/b/{}/o{}",
        base(endpoint),
        encode_path_segment(namespace)?,
        encode_path_segment(bucket)?,
        query(&[
            ("prefix", s(opts.prefix)),
            ("start", s(opts.start)),
            ("end", s(opts.end)),
            ("limit", opts.limit.map(|l| l.to_string())),
            ("delimiter", s(opts.delimiter)),
            ("fields", s(opts.fields)),
            ("startAfter", s(opts.start_after)),
        ])
    );
    call(client, OciRequest::get(url), "list_objects").await
}

fn object_url(endpoint: &str, namespace: &str, bucket: &str, name: &str) -> Result<String> {
    Ok(format!(
        "{}/n/{}/b/{}/o/{}",
        base(endpoint),
        encode_path_segment(namespace)?,
        encode_path_segment(bucket)?,
        encode_path_segment(name)?
    ))
}

/// `PUT /n/{ns}/b/{bucket}/o/{name}`: the body is not signed (PySDK
/// `enforce_content_headers=False`), a file is streamed from disk. `content_type` defaults to
/// `application/octet-stream`. The answer carries `etag`, `opc-content-md5`, `last-modified`.
pub async fn put_object(
    client: &Client,
    endpoint: &str,
    namespace: &str,
    bucket: &str,
    name: &str,
    body: RequestBody,
    content_type: Option<&str>,
) -> Result<OsResponse> {
    let req = OciRequest::new("PUT", object_url(endpoint, namespace, bucket, name)?)
        .header(
            "content-type",
            content_type.unwrap_or("application/octet-stream"),
        )
        .body(body)
        .sign_body(false);
    call(client, req, "put_object").await
}

/// `GET /n/{ns}/b/{bucket}/o/{name}`: the object's bytes and headers, in memory.
pub async fn get_object(
    client: &Client,
    endpoint: &str,
    namespace: &str,
    bucket: &str,
    name: &str,
) -> Result<OciResponse> {
    let req = OciRequest::get(object_url(endpoint, namespace, bucket, name)?);
    client
        .send(req)
        .await
        .map_err(|e| e.with_operation(SERVICE, "get_object"))
}

/// `GET /n/{ns}/b/{bucket}/o/{name}` streamed into `dest` (written atomically, 0600). Returns
/// the bytes written and the response headers.
pub async fn get_object_to_file(
    client: &Client,
    endpoint: &str,
    namespace: &str,
    bucket: &str,
    name: &str,
    dest: &Path,
) -> Result<(u64, Vec<(String, String)>)> {
    let req = OciRequest::get(object_url(endpoint, namespace, bucket, name)?);
    let resp = client
        .send_streaming(req)
        .await
        .map_err(|e| e.with_operation(SERVICE, "get_object"))?;
    let headers = resp.headers.clone();
    let n = resp.write_to(dest).await?;
    Ok((n, headers))
}

/// `DELETE /n/{ns}/b/{bucket}/o/{name}`.
pub async fn delete_object(
    client: &Client,
    endpoint: &str,
    namespace: &str,
    bucket: &str,
    name: &str,
) -> Result<OsResponse> {
    let req = OciRequest::new("DELETE", object_url(endpoint, namespace, bucket, name)?);
    call(client, req, "delete_object").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_like_python_quote_safe_empty() {
        // Values computed with urllib.parse.quote(v, safe='') (Python 3.11).
        let cases = [
            ("abc-_.~XYZ019", "abc-_.~XYZ019"),
            ("a/b", "a%2Fb"),
            ("a b+c", "a%20b%2Bc"),
            ("é/ü", "%C3%A9%2F%C3%BC"),
            ("x?y#z%", "x%3Fy%23z%25"),
            (
                "!*'();:@&=$,[]",
                "%21%2A%27%28%29%3B%3A%40%26%3D%24%2C%5B%5D",
            ),
            ("..a", "..a"),
        ];
        for (v, want) in cases {
            assert_eq!(encode_path_segment(v).unwrap(), want, "{v}");
        }
        assert!(encode_path_segment("..").is_err());
        assert!(encode_path_segment(".").is_err());
        assert!(encode_path_segment("").is_err());
    }

    #[test]
    fn query_values_like_quote_plus() {
        assert_eq!(encode_query_value("a b/c+d"), "a+b%2Fc%2Bd");
        assert_eq!(
            query(&[
                ("prefix", Some("dir/x y".into())),
                ("start", None),
                ("limit", Some("5".into()))
            ]),
            "?prefix=dir%2Fx+y&limit=5"
        );
        assert_eq!(query(&[("a", None)]), "");
    }
}
