//! `oci-emulator`: run a local OCI, manage its users and keys, point tools at it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use oci_emulator::principals::{NewCluster, NewInstance, NewResource};
use oci_emulator::state::{CREDENTIALS_FILE, DEFAULT_USER_NAME};
use oci_emulator::{
    DEFAULT_PORT, EmulatorConfig, Principals, State, TokenAuthority, TokenLifetimes,
};
use ociauth::env::SystemClock;
use ociauth::keys::PublicKey;

#[derive(Parser)]
#[command(
    name = "oci-emulator",
    version,
    about = "A local OCI that verifies requests exactly as OCI does"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Object Storage and Identity on 127.0.0.1 (creates the state on first start).
    Serve {
        /// State directory (tenancy, users, keys, objects, the generated OCI config).
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// TCP port; 0 picks a free one.
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
        /// Lifetime in seconds of each session token issued by login, refresh and GenerateUpst
        /// (OCI: 3600). Shorten it to watch tokens expire.
        #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
        session_token_ttl: u64,
        /// Seconds from login (or GenerateUpst) after which a session can no longer be
        /// refreshed: the token's `sess_exp` (OCI: 86400).
        #[arg(long, value_name = "SECS", default_value_t = 86400, value_parser = clap::value_parser!(u64).range(1..))]
        session_max_ttl: u64,
        /// Also serve the OKE workload-identity proxymux over TLS on this port (the SDKs use
        /// 12250; 0 picks a free one). Its CA is DIR/oke/ca.pem.
        #[arg(long)]
        oke_port: Option<u16>,
    },
    /// Register a compute instance (instance principal); prints its OCID.
    AddInstance {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// Name, also used in /imds/<name>/opc/v2 (default: instance-N).
        #[arg(long)]
        name: Option<String>,
        /// Region identifier or short code (default: the emulator's region).
        #[arg(long)]
        region: Option<String>,
        /// Text served at /instance/region (default: the short code, e.g. iad).
        #[arg(long)]
        region_text: Option<String>,
        /// Also serve the legacy /opc/v1 paths (no Authorization header needed).
        #[arg(long)]
        imds_v1: bool,
        /// Make it the instance /opc/v2 answers for.
        #[arg(long)]
        current: bool,
    },
    /// Register a resource (resource principal); prints its OCID.
    AddResource {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// Name (default: resource-N).
        #[arg(long)]
        name: Option<String>,
        /// Resource type: the OCID kind and res_type claim (fnfunc, autonomousdatabase, ...).
        #[arg(long = "type", default_value = "fnfunc")]
        resource_type: String,
        /// RP 1.1: the instance (name) hosting the resource.
        #[arg(long)]
        instance: Option<String>,
        /// RP 3.0: the parent resource (name).
        #[arg(long)]
        parent: Option<String>,
    },
    /// Register an OKE cluster (workload identity); prints its OCID.
    AddOkeCluster {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// Name (default: cluster-N).
        #[arg(long)]
        name: Option<String>,
        /// A basic cluster: its proxymux answers 403.
        #[arg(long)]
        basic: bool,
    },
    /// Give an instance a new leaf certificate and key; prints the SHA-1 fingerprint.
    RotateCert {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// Instance name or OCID.
        #[arg(long)]
        instance: String,
        /// Write this tenancy into opc-tenant from now on ("" for the emulator's own), to test
        /// the SDKs' tenancy-change check.
        #[arg(long)]
        cert_tenant: Option<String>,
    },
    /// Mint an RP 2.2 session token and key for a resource; prints the export lines.
    MintRpst {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// Resource name or OCID.
        #[arg(long)]
        resource: String,
        /// Directory for `rpst` and `private.pem` (default: DIR/resources/<name>/rp22).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Token lifetime in minutes (default 20).
        #[arg(long, default_value_t = 20)]
        lifetime_minutes: u64,
    },
    /// Mint a Kubernetes service-account token for an OKE cluster.
    MintSaToken {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// Cluster name or OCID.
        #[arg(long)]
        cluster: String,
        #[arg(long, default_value = "default")]
        namespace: String,
        #[arg(long, default_value = "default")]
        service_account: String,
        /// Lifetime in minutes.
        #[arg(long, default_value_t = 60)]
        lifetime_minutes: u64,
        /// Write the token to this file (0600) and print its path; default: print the token.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the instances, resources and OKE clusters (JSON).
    Principals {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
    },
    /// Register a new user; prints its OCID.
    AddUser {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// User name (default: user-N).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Set the console password (for the login page) of a user.
    SetPassword {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// User OCID or name.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Register a public API key for a user; prints its fingerprint.
    AddApiKey {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        /// User OCID.
        #[arg(long)]
        user: String,
        /// PEM file with the public key (`-----BEGIN PUBLIC KEY-----`).
        #[arg(long)]
        public_key_file: PathBuf,
    },
    /// Register a confidential OAuth app in the identity domain; prints its client id and secret.
    AddOauthApp(oci_emulator::identity_domain::cli::AddOAuthApp),
    /// Create an identity propagation trust (workload identity federation); prints it as JSON.
    AddTrust(Box<oci_emulator::identity_domain::cli::AddTrust>),
    /// List the identity propagation trusts as JSON.
    ListTrusts(oci_emulator::identity_domain::cli::ListTrusts),
    /// Change a trust (--active true|false) or the domain's rpst_exp unit.
    SetTrust(oci_emulator::identity_domain::cli::SetTrust),
    /// Print `export` lines pointing ociauth and the oci CLI at the emulator:
    /// eval "$(oci-emulator env --state DIR)"
    Env {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        state: PathBuf,
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
    },
}

/// A console password, given directly or in a file.
#[derive(clap::Args)]
#[group(multiple = false)]
struct PasswordArgs {
    /// Console password for the login page (visible to other local users in the process
    /// list; prefer --password-file).
    #[arg(long)]
    password: Option<String>,
    /// File whose first line is the console password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

impl PasswordArgs {
    fn read(&self) -> Result<Option<zeroize::Zeroizing<String>>, String> {
        if let Some(p) = &self.password {
            return Ok(Some(zeroize::Zeroizing::new(p.clone())));
        }
        let Some(path) = &self.password_file else {
            return Ok(None);
        };
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            format!(
                "{}: {e} (expected a text file with the password)",
                path.display()
            )
        })?);
        let line = text.lines().next().unwrap_or_default();
        Ok(Some(zeroize::Zeroizing::new(line.to_string())))
    }
}

/// Quote for POSIX shells: `'…'`, with `'` written as `'\''`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn open_principals(dir: &std::path::Path) -> Result<Principals, String> {
    let state = Arc::new(open_state(dir)?);
    Principals::open(state, Arc::new(SystemClock)).map_err(|e| e.to_string())
}

fn open_state(dir: &std::path::Path) -> Result<State, String> {
    State::open(dir, Arc::new(SystemClock))
        .map(|(s, _)| s)
        .map_err(|e| e.to_string())
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            state,
            port,
            session_token_ttl,
            session_max_ttl,
            oke_port,
        } => {
            let lifetimes = TokenLifetimes {
                session: Duration::from_secs(session_token_ttl),
                session_max: Duration::from_secs(session_max_ttl),
                ..TokenLifetimes::default()
            };
            let had_credentials = state.join(CREDENTIALS_FILE).exists();
            let mut config = EmulatorConfig::new(state)
                .port(port)
                .token_lifetimes(lifetimes);
            config.oke_port = oke_port;
            let emu = oci_emulator::start(config)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("oci-emulator listening on {}", emu.base_url());
            let credentials = emu.state().credentials_path();
            if !had_credentials && let Ok(text) = std::fs::read_to_string(&credentials) {
                let password = text
                    .lines()
                    .find_map(|l| l.strip_prefix("password="))
                    .unwrap_or_default();
                eprintln!(
                    "  console login (first start): user {DEFAULT_USER_NAME}, password {password}\n  \
                     (kept in {}; change it with `oci-emulator set-password`)",
                    credentials.display()
                );
            }
            eprintln!(
                "  instance principals: OCI_METADATA_BASE_URL={} --federation-endpoint {}",
                emu.imds_base_url(),
                emu.federation_endpoint()
            );
            if let Some(oke) = emu.oke() {
                eprintln!(
                    "  OKE proxymux on {} (CA: {})",
                    oke.base_url(),
                    oke.ca_path().display()
                );
            }
            eprintln!(
                "  try: oci os ns get --config-file {} --endpoint {}",
                emu.config_path().display(),
                emu.base_url()
            );
            tokio::signal::ctrl_c()
                .await
                .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
            eprintln!("oci-emulator: shutting down");
            emu.shutdown().await;
            Ok(())
        }
        Command::AddInstance {
            state,
            name,
            region,
            region_text,
            imds_v1,
            current,
        } => {
            let p = open_principals(&state)?;
            let inst = p
                .add_instance(NewInstance {
                    name,
                    region,
                    region_text,
                    imds_v1,
                })
                .map_err(|e| e.to_string())?;
            if current {
                p.set_current_instance(&inst.name)
                    .map_err(|e| e.to_string())?;
            }
            println!("{}", inst.id);
            Ok(())
        }
        Command::AddResource {
            state,
            name,
            resource_type,
            instance,
            parent,
        } => {
            let p = open_principals(&state)?;
            let r = p
                .add_resource(NewResource {
                    name,
                    resource_type: Some(resource_type),
                    instance,
                    parent,
                })
                .map_err(|e| e.to_string())?;
            println!("{}", r.id);
            Ok(())
        }
        Command::AddOkeCluster { state, name, basic } => {
            let p = open_principals(&state)?;
            let c = p
                .add_cluster(NewCluster { name, basic })
                .map_err(|e| e.to_string())?;
            println!("{}", c.id);
            Ok(())
        }
        Command::RotateCert {
            state,
            instance,
            cert_tenant,
        } => {
            let p = open_principals(&state)?;
            let id = p
                .rotate_cert(&instance, cert_tenant.as_deref())
                .map_err(|e| e.to_string())?;
            println!("{}", oci_emulator::certs::fingerprint(&id.leaf.der, false));
            Ok(())
        }
        Command::MintRpst {
            state,
            resource,
            out,
            lifetime_minutes,
        } => {
            let p = open_principals(&state)?;
            let tokens = TokenAuthority::open(p.state(), Arc::new(SystemClock))
                .map_err(|e| e.to_string())?;
            let files = oci_emulator::resource_principal::mint_rp22(
                &p,
                &tokens,
                &resource,
                out.as_deref(),
                Some(Duration::from_secs(lifetime_minutes.max(1) * 60)),
            )
            .map_err(|e| e.to_string())?;
            print!("{}", files.exports());
            Ok(())
        }
        Command::MintSaToken {
            state,
            cluster,
            namespace,
            service_account,
            lifetime_minutes,
            out,
        } => {
            let p = open_principals(&state)?;
            let token = oci_emulator::oke::mint_sa_token(
                &p,
                &cluster,
                &namespace,
                &service_account,
                Duration::from_secs(lifetime_minutes.max(1) * 60),
            )
            .map_err(|e| e.to_string())?;
            match out {
                Some(path) => {
                    ociauth::fsutil::write_private_atomic(&path, token.as_bytes())
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    println!("{}", path.display());
                }
                None => println!("{token}"),
            }
            Ok(())
        }
        Command::Principals { state } => {
            let p = open_principals(&state)?;
            let v = serde_json::json!({
                "instances": p.instances(),
                "resources": p.resources(),
                "okeClusters": p.clusters(),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::AddUser {
            state,
            name,
            password,
        } => {
            let password = password.read()?;
            if let Some(p) = &password {
                oci_emulator::auth::check_password_text(p).map_err(|e| e.to_string())?;
            }
            let st = open_state(&state)?;
            let id = st.add_user(name.as_deref()).map_err(|e| e.to_string())?;
            if let Some(p) = &password {
                st.set_password(&id, p).map_err(|e| e.to_string())?;
            }
            println!("{id}");
            Ok(())
        }
        Command::SetPassword {
            state,
            user,
            password,
        } => {
            let password = password
                .read()?
                .ok_or("give the new password with --password or --password-file")?;
            let st = open_state(&state)?;
            let id = st
                .set_password(&user, &password)
                .map_err(|e| e.to_string())?;
            println!("{id}");
            Ok(())
        }
        Command::AddApiKey {
            state,
            user,
            public_key_file,
        } => {
            let st = open_state(&state)?;
            let pem = std::fs::read(&public_key_file)
                .map_err(|e| format!("{}: {e}", public_key_file.display()))?;
            let key = PublicKey::from_pem(&pem).map_err(|e| {
                format!(
                    "{}: {e} (expected a -----BEGIN PUBLIC KEY----- PEM, e.g. from `openssl rsa -pubout`)",
                    public_key_file.display()
                )
            })?;
            let fp = st.add_api_key(&user, &key).map_err(|e| e.to_string())?;
            println!("{fp}");
            Ok(())
        }
        Command::AddOauthApp(a) => {
            print!("{}", oci_emulator::identity_domain::cli::add_oauth_app(a)?);
            Ok(())
        }
        Command::AddTrust(a) => {
            print!("{}", oci_emulator::identity_domain::cli::add_trust(*a)?);
            Ok(())
        }
        Command::ListTrusts(a) => {
            print!("{}", oci_emulator::identity_domain::cli::list_trusts(a)?);
            Ok(())
        }
        Command::SetTrust(a) => {
            print!("{}", oci_emulator::identity_domain::cli::set_trust(a)?);
            Ok(())
        }
        Command::Env { state, port } => {
            let st = open_state(&state)?;
            let config = st.config_path();
            println!(
                "export OCI_CLI_CONFIG_FILE={}",
                shell_quote(&config.to_string_lossy())
            );
            println!(
                "export OCI_CLI_ENDPOINT={}",
                shell_quote(&format!("http://127.0.0.1:{port}"))
            );
            // Instance principals: the metadata service and the X.509 federation endpoint.
            println!(
                "export OCI_METADATA_BASE_URL={}",
                shell_quote(&format!("http://127.0.0.1:{port}/opc/v2"))
            );
            println!(
                "export OCI_CLI_FEDERATION_ENDPOINT={}",
                shell_quote(&format!("http://127.0.0.1:{port}/v1/x509"))
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oci-emulator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oci-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
