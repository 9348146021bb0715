//! How a command fails: every failure is one of these, printed once by `main` with its exit code.
//!
//! - [`CliError::Usage`]: a bad command line (exit 2), printed the way clap prints its own.
//! - [`CliError::Fatal`]: `ERROR: <what is wrong, where, and what to do>` (exit 1).
//! - [`CliError::Service`]: the service answered non-2xx; `ServiceError:` + JSON (exit 1).
//! - [`CliError::Aborted`]: the user declined a confirmation (`Aborted!`, exit 1).

use std::fmt;

use serde_json::{Map, Value};

use crate::output::pyjson::{Style, dumps};

#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Fatal(String),
    Service(Box<ServiceReport>),
    Aborted,
    /// Output was already written; exit with this code.
    Exit(i32),
}

impl CliError {
    pub fn fatal(msg: impl fmt::Display) -> Self {
        CliError::Fatal(msg.to_string())
    }
    pub fn usage(msg: impl fmt::Display) -> Self {
        CliError::Usage(msg.to_string())
    }
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Exit(code) => *code,
            _ => 1,
        }
    }
}

/// The details the CLI prints for a service error (`cli_exceptions.ServiceException`): the SDK's
/// error dictionary plus the CLI's logging and troubleshooting tips.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    pub fields: Map<String, Value>,
}

/// `oci`'s troubleshooting text, with the documentation link it prints.
const TROUBLESHOOTING_TIPS: &str = "See [https://docs.oracle.com/iaas/Content/API/References/apierrors.htm] for more information about resolving this error. If you are unable to resolve this issue, run this CLI command with --debug option and contact Oracle support and provide them the full error message.";
const LOGGING_TIPS: &str =
    "Please run the OCI CLI command using --debug flag to find more debug information.";

/// What a service error needs besides the response itself.
#[derive(Debug, Clone)]
pub struct ServiceCall<'a> {
    /// e.g. `object_storage`
    pub target_service: &'a str,
    /// e.g. `get_namespace`
    pub operation_name: &'a str,
    pub method: &'a str,
    pub url: &'a str,
    /// The `opc-request-id` the request carried (used when the response has none).
    pub request_id: Option<&'a str>,
}

impl ServiceReport {
    /// Build the report from a non-2xx response, as the Python SDK does: `code` and `message`
    /// from a JSON body `{"code","message"}` (a non-JSON body becomes the message), any other
    /// body fields added with snake_case keys, `opc-request-id` from the response header or else
    /// the request's.
    pub fn from_response(
        call: &ServiceCall<'_>,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Self {
        let text = String::from_utf8_lossy(body);
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let (code, message, extra) = match &parsed {
            Some(Value::Object(m)) => (
                m.get("code").cloned().unwrap_or(Value::Null),
                m.get("message").cloned().unwrap_or(Value::Null),
                Some(m.clone()),
            ),
            Some(Value::String(s)) => (Value::Null, Value::String(s.clone()), None),
            _ => (Value::Null, Value::String(text.to_string()), None),
        };
        let message = match message {
            Value::Null => Value::String(format!("The service returned error code {status}")),
            Value::String(s) if s.is_empty() => {
                Value::String(format!("The service returned error code {status}"))
            }
            other => other,
        };
        let opc_request_id = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("opc-request-id"))
            .map(|(_, v)| v.as_str())
            .or(call.request_id)
            .map(|s| Value::String(s.to_string()))
            .unwrap_or(Value::Null);
        let mut fields = Map::new();
        fields.insert("target_service".into(), call.target_service.into());
        fields.insert("status".into(), status.into());
        fields.insert("code".into(), code);
        fields.insert("opc-request-id".into(), opc_request_id);
        fields.insert("message".into(), message);
        fields.insert("operation_name".into(), call.operation_name.into());
        fields.insert("timestamp".into(), crate::util::utc_now_isoformat().into());
        fields.insert(
            "client_version".into(),
            format!("ociauth/{}", env!("CARGO_PKG_VERSION")).into(),
        );
        fields.insert(
            "request_endpoint".into(),
            format!("{} {}", call.method, call.url).into(),
        );
        fields.insert("logging_tips".into(), LOGGING_TIPS.into());
        fields.insert("troubleshooting_tips".into(), TROUBLESHOOTING_TIPS.into());
        if let Some(extra) = extra {
            for (k, v) in extra {
                let k = camel_to_snake(&k);
                if !fields.contains_key(&k) {
                    fields.insert(k, v);
                }
            }
        }
        ServiceReport { fields }
    }

    pub fn status(&self) -> u16 {
        self.fields
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(0)
    }

    /// `ServiceError:\n{json indent 4, sorted keys}` (no trailing newline).
    pub fn render(&self) -> String {
        format!(
            "ServiceError:\n{}",
            dumps(&Value::Object(self.fields.clone()), Style::ERROR)
        )
    }
}

/// The Python SDK's `camel_to_snake`: `(.)([A-Z][a-z]+)` -> `\1_\2`, then
/// `([a-z0-9])([A-Z])` -> `\1_\2`, then lower-case.
pub fn camel_to_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    // Pass 1: an underscore before every upper-case letter followed by a lower-case letter
    // (not at the start; matches do not overlap, so the preceding char is consumed by a match).
    let mut s1: Vec<char> = Vec::with_capacity(chars.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        if i + 1 < chars.len()
            && chars[i + 1].is_ascii_uppercase()
            && chars.get(i + 2).is_some_and(|c| c.is_ascii_lowercase())
        {
            // `(.)([A-Z][a-z]+)`: consume char i, the upper-case letter and its lower-case run.
            s1.push(chars[i]);
            s1.push('_');
            s1.push(chars[i + 1]);
            let mut j = i + 2;
            while j < chars.len() && chars[j].is_ascii_lowercase() {
                s1.push(chars[j]);
                j += 1;
            }
            i = j;
        } else {
            s1.push(chars[i]);
            i += 1;
        }
    }
    // Pass 2: `([a-z0-9])([A-Z])` (non-overlapping, left to right).
    let mut out = String::with_capacity(s1.len() + 4);
    let mut i = 0;
    while i < s1.len() {
        let c = s1[i];
        if (c.is_ascii_lowercase() || c.is_ascii_digit())
            && s1.get(i + 1).is_some_and(|n| n.is_ascii_uppercase())
        {
            out.push(c);
            out.push('_');
            out.push(s1[i + 1]);
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_like_the_sdk() {
        // Expected values from Python `oci.util.camel_to_snake`.
        assert_eq!(camel_to_snake("originalMessage"), "original_message");
        assert_eq!(camel_to_snake("code"), "code");
        assert_eq!(camel_to_snake("opcRequestID"), "opc_request_id");
        assert_eq!(camel_to_snake("HTTPStatusCode"), "http_status_code");
        assert_eq!(camel_to_snake("already_snake"), "already_snake");
        assert_eq!(camel_to_snake("aBc"), "a_bc");
        assert_eq!(camel_to_snake("ABcDe"), "a_bc_de");
        assert_eq!(camel_to_snake("x1Y"), "x1_y");
    }

    #[test]
    fn report_fields() {
        let call = ServiceCall {
            target_service: "object_storage",
            operation_name: "get_namespace",
            method: "GET",
            url: "http://127.0.0.1:1/n",
            request_id: Some("REQ"),
        };
        let r = ServiceReport::from_response(
            &call,
            401,
            &[],
            br#"{"code":"NotAuthenticated","message":"no","originalMessage":"x"}"#,
        );
        let keys: Vec<&str> = r.fields.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "target_service",
                "status",
                "code",
                "opc-request-id",
                "message",
                "operation_name",
                "timestamp",
                "client_version",
                "request_endpoint",
                "logging_tips",
                "troubleshooting_tips",
                "original_message"
            ]
        );
        assert_eq!(r.fields["opc-request-id"], "REQ");
        let r = ServiceReport::from_response(&call, 500, &[], b"");
        assert_eq!(r.fields["message"], "The service returned error code 500");
        assert_eq!(r.fields["code"], Value::Null);
    }
}
