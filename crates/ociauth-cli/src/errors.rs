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

impl ServiceReport {
    /// The CLI's fields for a service error: the SDK's error dictionary (`code` is `null` when
    /// the body had none, an empty message becomes "The service returned error code N") plus the
    /// CLI's tips and our `client_version`.
    pub fn from_error(e: &ociauth::client::ServiceError, request_id: Option<&str>) -> Self {
        let code = if e.code.is_empty() {
            Value::Null
        } else {
            Value::String(e.code.clone())
        };
        let message = if e.message.is_empty() {
            format!("The service returned error code {}", e.status)
        } else {
            e.message.clone()
        };
        let opc_request_id = if e.opc_request_id.is_empty() {
            request_id
                .map(|s| Value::String(s.to_string()))
                .unwrap_or(Value::Null)
        } else {
            Value::String(e.opc_request_id.clone())
        };
        let opt = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        let mut fields = Map::new();
        fields.insert("target_service".into(), opt(&e.target_service));
        fields.insert("status".into(), e.status.into());
        fields.insert("code".into(), code);
        fields.insert("opc-request-id".into(), opc_request_id);
        fields.insert("message".into(), message.into());
        fields.insert("operation_name".into(), opt(&e.operation_name));
        fields.insert("timestamp".into(), e.timestamp.clone().into());
        fields.insert(
            "client_version".into(),
            format!("ociauth/{}", env!("CARGO_PKG_VERSION")).into(),
        );
        fields.insert("request_endpoint".into(), e.request_endpoint.clone().into());
        fields.insert("logging_tips".into(), LOGGING_TIPS.into());
        fields.insert("troubleshooting_tips".into(), TROUBLESHOOTING_TIPS.into());
        ServiceReport { fields }
    }

    /// `ServiceError:\n{json indent 4, sorted keys}` (no trailing newline).
    pub fn render(&self) -> String {
        format!(
            "ServiceError:\n{}",
            dumps(&Value::Object(self.fields.clone()), Style::ERROR)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_fields() {
        let e = ociauth::client::ServiceError {
            status: 500,
            code: String::new(),
            message: String::new(),
            opc_request_id: String::new(),
            request_endpoint: "GET http://127.0.0.1:1/n".into(),
            timestamp: "2026-11-28T17:06:18.388779+00:00".into(),
            operation_name: Some("get_namespace".into()),
            target_service: Some("object_storage".into()),
        };
        let r = ServiceReport::from_error(&e, Some("REQ"));
        assert_eq!(
            r.render(),
            r#"ServiceError:
{
    "client_version": "ociauth/0.1.0",
    "code": null,
    "logging_tips": "Please run the OCI CLI command using --debug flag to find more debug information.",
    "message": "The service returned error code 500",
    "opc-request-id": "REQ",
    "operation_name": "get_namespace",
    "request_endpoint": "GET http://127.0.0.1:1/n",
    "status": 500,
    "target_service": "object_storage",
    "timestamp": "2026-11-28T17:06:18.388779+00:00",
    "troubleshooting_tips": "See [https://docs.oracle.com/iaas/Content/API/References/apierrors.htm] for more information about resolving this error. If you are unable to resolve this issue, run this CLI command with --debug option and contact Oracle support and provide them the full error message."
}"#
        );
    }
}
