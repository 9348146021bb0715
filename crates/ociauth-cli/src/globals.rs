//! The official CLI's global options. Each is valid anywhere on the command line (`global = true`)
//! and takes its `OCI_CLI_*` environment variable when not given.

use crate::errors::CliError;
use crate::output::{OutputFormat, OutputOptions};

/// `--auth` values, in the order `--help` lists them.
pub const AUTH_NAMES: [&str; 7] = [
    "api_key",
    "security_token",
    "instance_principal",
    "resource_principal",
    "oke_workload_identity",
    "instance_obo_user",
    "workload_identity_federation",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ApiKey,
    SecurityToken,
    InstancePrincipal,
    ResourcePrincipal,
    OkeWorkloadIdentity,
    InstanceOboUser,
    WorkloadIdentityFederation,
}

impl AuthMethod {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "api_key" => AuthMethod::ApiKey,
            "security_token" => AuthMethod::SecurityToken,
            "instance_principal" => AuthMethod::InstancePrincipal,
            "resource_principal" => AuthMethod::ResourcePrincipal,
            "oke_workload_identity" => AuthMethod::OkeWorkloadIdentity,
            "instance_obo_user" => AuthMethod::InstanceOboUser,
            "workload_identity_federation" => AuthMethod::WorkloadIdentityFederation,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::ApiKey => "api_key",
            AuthMethod::SecurityToken => "security_token",
            AuthMethod::InstancePrincipal => "instance_principal",
            AuthMethod::ResourcePrincipal => "resource_principal",
            AuthMethod::OkeWorkloadIdentity => "oke_workload_identity",
            AuthMethod::InstanceOboUser => "instance_obo_user",
            AuthMethod::WorkloadIdentityFederation => "workload_identity_federation",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// The path to the config file [default: ~/.oci/config] [env: OCI_CLI_CONFIG_FILE=]
    // The OCI_CLI_* fallbacks of --config-file, --profile, --region and --endpoint are applied
    // by `ociauth::config::resolve`, with the CLI's rules, so clap does not read them.
    #[arg(long, global = true, value_name = "PATH")]
    pub config_file: Option<String>,

    /// The profile in the config file to load [default: DEFAULT] [env: OCI_CLI_PROFILE=]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// The type of auth to use for the API request [env: OCI_CLI_AUTH=]
    #[arg(long, global = true, value_parser = AUTH_NAMES, value_name = "METHOD")]
    pub auth: Option<String>,

    /// The region to make calls against (e.g. us-ashburn-1 or fra) [env: OCI_CLI_REGION=]
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// The service endpoint to use instead of the region's [env: OCI_CLI_ENDPOINT=]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,

    /// The full path to a CA certificate bundle to be used for SSL verification.
    #[arg(long, global = true, env = "OCI_CLI_CERT_BUNDLE", value_name = "PATH")]
    pub cert_bundle: Option<String>,

    /// The federation endpoint (for instance and resource principal auth).
    #[arg(
        long,
        global = true,
        env = "OCI_CLI_FEDERATION_ENDPOINT",
        value_name = "URL"
    )]
    pub federation_endpoint: Option<String>,

    /// The path to the CLI rc file (default ~/.oci/oci_cli_rc).
    #[arg(long, global = true, alias = "defaults-file", value_name = "PATH")]
    pub cli_rc_file: Option<String>,

    /// JMESPath query applied to the output (e.g. `data`).
    #[arg(long, global = true, value_name = "JMESPATH")]
    pub query: Option<String>,

    /// When the output (after --query) is a single string, print it without JSON quoting.
    #[arg(long, global = true)]
    pub raw_output: bool,

    /// Output format.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,

    /// Do not retry failed requests.
    #[arg(long, global = true)]
    pub no_retry: bool,

    /// The request id sent as opc-request-id (default: a random id).
    #[arg(long, global = true, value_name = "ID")]
    pub request_id: Option<String>,

    /// Log the request line, signed header names, signing string and response status to stderr.
    #[arg(long, global = true)]
    pub debug: bool,
}

impl GlobalArgs {
    /// `--auth`, else `OCI_CLI_AUTH`, else api_key. An invalid `OCI_CLI_AUTH` is a usage error
    /// worded like the official CLI's.
    pub fn auth_method(&self) -> Result<AuthMethod, CliError> {
        if let Some(a) = &self.auth {
            return AuthMethod::parse(a).ok_or_else(|| {
                CliError::usage(format!("invalid value '{a}' for '--auth <METHOD>'"))
            });
        }
        match std::env::var("OCI_CLI_AUTH") {
            Ok(v) if !v.is_empty() => AuthMethod::parse(&v).ok_or_else(|| {
                CliError::usage(format!(
                    "Invalid value for OCI_CLI_AUTH: invalid choice: {v}. (choose from {})",
                    AUTH_NAMES.join(", ")
                ))
            }),
            _ => Ok(AuthMethod::ApiKey),
        }
    }

    pub fn output_options(&self) -> OutputOptions {
        OutputOptions {
            query: self.query.clone(),
            raw_output: self.raw_output,
            table: self.output == Some(OutputFormat::Table),
        }
    }

    /// The request id for this invocation: `--request-id`, else 32 upper-case hex digits as the
    /// CLI generates.
    pub fn request_id(&self) -> String {
        self.request_id.clone().unwrap_or_else(|| {
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .to_ascii_uppercase()
        })
    }
}
