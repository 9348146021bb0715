//! `ociauth raw-request`: a signed request to any URI, printed as
//! `{"data", "headers", "status"}` whatever the status (exit 0 on a 4xx/5xx), as `oci raw-request`.

use clap::Args;
use ociauth::client::{OciRequest, RequestBody};
use serde_json::{Map, Value};

use crate::context::Ctx;
use crate::errors::CliError;
use crate::globals::GlobalArgs;
use crate::output::pyjson::{Style, dumps};
use crate::output::{query, write_stdout};

#[derive(Debug, Args)]
pub struct RawRequestArgs {
    /// The URI to make the request against.
    #[arg(long)]
    pub target_uri: String,
    /// The HTTP method (DELETE, GET, HEAD, POST, PUT, PATCH; any case).
    #[arg(long, value_parser = parse_method)]
    pub http_method: String,
    /// The request body: JSON text, or file://path of a JSON file. Empty sends an empty body.
    #[arg(long)]
    pub request_body: Option<String>,
    /// Extra headers as a JSON object (or file://path).
    #[arg(long)]
    pub request_headers: Option<String>,
}

fn parse_method(s: &str) -> Result<String, String> {
    let up = s.to_ascii_uppercase();
    if ["DELETE", "GET", "HEAD", "POST", "PUT", "PATCH"].contains(&up.as_str()) {
        Ok(up)
    } else {
        Err(format!(
            "'{s}' is not one of 'DELETE', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH'"
        ))
    }
}

/// `parse_json_parameter`: `file://path` is read, the text must be JSON.
fn json_parameter(name: &str, value: &str) -> Result<Value, CliError> {
    let text = match value.strip_prefix("file://") {
        Some(path) => {
            let p = ociauth::env::expand_user(path, &ociauth::env::ProcessEnv);
            std::fs::read_to_string(&p).map_err(|e| {
                CliError::fatal(format!(
                    "cannot read {} given to --{}: {}",
                    p.display(),
                    name.replace('_', "-"),
                    crate::cmd::setup::io_reason(&e)
                ))
            })?
        }
        None => value.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| {
        CliError::fatal(format!(
            "Parameter '{name}' must be in JSON format ({e}). For help with formatting JSON input see https://docs.cloud.oracle.com/iaas/Content/API/SDKDocs/cliusing.htm#ManagingCLIInputandOutput"
        ))
    })
}

pub async fn run(g: &GlobalArgs, a: RawRequestArgs) -> Result<(), CliError> {
    let endpoint_env = std::env::var("OCI_CLI_ENDPOINT").is_ok_and(|v| !v.is_empty());
    if g.endpoint.as_deref().is_some_and(|e| !e.is_empty()) || endpoint_env {
        return Err(CliError::usage(
            "The --endpoint parameter cannot be specified with this command",
        ));
    }
    if g.output == Some(crate::output::OutputFormat::Table) {
        return Err(CliError::usage(
            "The table output format is not supported with this command",
        ));
    }
    if let Some(q) = &g.query {
        jmespath::compile(q)
            .map_err(|e| CliError::usage(format!("invalid --query expression: {e}")))?;
    }
    let body = match &a.request_body {
        None => None,
        Some(b) if b.trim().is_empty() => Some(String::new()),
        Some(b) => Some(dumps(&json_parameter("request_body", b)?, Style::COMPACT)),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(h) = &a.request_headers {
        match json_parameter("request_headers", h)? {
            Value::Object(m) => {
                for (k, v) in m {
                    match v {
                        Value::String(s) => headers.push((k, s)),
                        other => {
                            return Err(CliError::usage(format!(
                                "--request-headers: the value of header '{k}' must be a string, not {other}"
                            )));
                        }
                    }
                }
            }
            Value::Null => {}
            other => {
                return Err(CliError::usage(format!(
                    "--request-headers must be a JSON object, not {other}"
                )));
            }
        }
    }

    let ctx = Ctx::new(g)?;
    let mut req = OciRequest::new(a.http_method.clone(), a.target_uri.clone());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some(b) = body {
        req = req.body(RequestBody::Bytes(b.into_bytes().into()));
    }
    let resp = match ctx.client.send_raw(req).await {
        Ok(r) => r,
        Err(e) => return Err(ctx.error(e).await),
    };

    let mut hdrs = Map::new();
    for (k, v) in &resp.headers {
        match hdrs.get_mut(k) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            _ => {
                hdrs.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    let data = match serde_json::from_slice::<Value>(&resp.body) {
        Ok(v) => match &g.query {
            Some(q) => query(q, &v)?,
            None => v,
        },
        Err(_) => Value::String(String::from_utf8_lossy(&resp.body).into_owned()),
    };
    let mut out = Map::new();
    out.insert("data".into(), data);
    out.insert("headers".into(), Value::Object(hdrs));
    out.insert(
        "status".into(),
        Value::String(format!("{} {}", resp.status, resp.reason)),
    );
    write_stdout(&format!("{}\n", dumps(&Value::Object(out), Style::CLI)))
}
