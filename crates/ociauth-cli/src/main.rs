//! `ociauth`: the OCI command line for every credential type. Parses flags, calls the `ociauth`
//! library, prints what the official `oci` CLI prints.

mod clock_skew;
mod cmd;
mod context;
mod errors;
mod globals;
mod output;
mod prompt;
mod util;

use std::sync::OnceLock;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use crate::errors::CliError;
use crate::globals::GlobalArgs;

#[derive(Debug, Parser)]
#[command(
    name = "ociauth",
    version,
    about = "Oracle Cloud Infrastructure command line: every credential type"
)]
struct Cli {
    #[command(flatten)]
    globals: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Object Storage.
    #[command(subcommand)]
    Os(cmd::os::OsCommand),
    /// Makes a signed request to any OCI URI and prints the status, headers and body.
    RawRequest(cmd::raw_request::RawRequestArgs),
    /// Session commands: session tokens from a browser login or existing credentials.
    #[command(subcommand)]
    Session(cmd::session::SessionCommand),
    /// Setup commands (key generation).
    #[command(subcommand)]
    Setup(cmd::setup::SetupCommand),
    /// Runs a command with a session profile (OCI_CLI_PROFILE, OCI_CLI_AUTH=security_token) and
    /// keeps its token fresh for as long as the command runs.
    Exec(cmd::exec::ExecArgs),
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let what = what.lines().next().unwrap_or("").to_string();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("ERROR: internal error{at}: {what} (this is a bug in ociauth; please report it)");
        std::process::exit(1);
    }));
    let matches = Cli::command().get_matches_from(normalize_args(std::env::args_os()));
    let _ = SUBCOMMAND_PATH.set(subcommand_path(&matches));
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => report(e),
    };
    std::process::exit(code);
}

/// The official CLI's multi-letter short options (`-ns`, `-bn`, `-on`) become their long forms
/// (clap shorts are single letters).
fn normalize_args(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut past_separator = false;
    args.map(|a| {
        if past_separator {
            return a;
        }
        match a.to_str() {
            Some("--") => {
                past_separator = true;
                a
            }
            Some("-ns") => "--namespace-name".into(),
            Some("-bn") => "--bucket-name".into(),
            Some("-on") => "--object-name".into(),
            _ => a,
        }
    })
    .collect()
}

fn run(cli: Cli) -> Result<(), CliError> {
    let Cli { globals, command } = cli;
    if globals.debug {
        init_debug_logging();
    }
    // An invalid OCI_CLI_AUTH is a usage error for every command, as in the CLI.
    globals.auth_method()?;
    match command {
        Command::Setup(c) => cmd::setup::run(c),
        Command::Session(c) => cmd::session::run(&globals, c),
        Command::Os(c) => runtime()?.block_on(cmd::os::run(&globals, c)),
        Command::RawRequest(a) => runtime()?.block_on(cmd::raw_request::run(&globals, a)),
        Command::Exec(a) => cmd::exec::run(&globals, a),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::fatal(format!("cannot start the async runtime: {e}")))
}

/// `--debug`: the library's request log (request line, signed header names, signing string,
/// response status) on stderr. The library logs key ids and tokens only through
/// `ociauth::redact`, never key material.
fn init_debug_logging() {
    let filter = tracing_subscriber::EnvFilter::new("ociauth=trace,ociauth_cli=debug");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true)
        .try_init();
}

/// The subcommand names of this invocation (`["os", "ns", "get"]`), for usage errors.
static SUBCOMMAND_PATH: OnceLock<Vec<String>> = OnceLock::new();

fn subcommand_path(m: &clap::ArgMatches) -> Vec<String> {
    let mut path = Vec::new();
    let mut cur = m;
    while let Some((name, sub)) = cur.subcommand() {
        path.push(name.to_string());
        cur = sub;
    }
    path
}

/// A usage error in clap's format, with the usage line of the subcommand that was run.
fn usage_error(msg: String) -> clap::Error {
    let mut cmd = Cli::command();
    cmd.build();
    for name in SUBCOMMAND_PATH.get().map(Vec::as_slice).unwrap_or(&[]) {
        match cmd.find_subcommand(name).cloned() {
            Some(sub) => cmd = sub,
            None => break,
        }
    }
    cmd.error(clap::error::ErrorKind::ValueValidation, msg)
}

/// Print the error the way the official CLI does; return the exit code.
fn report(e: CliError) -> i32 {
    let code = e.exit_code();
    match e {
        CliError::Usage(msg) => {
            let _ = usage_error(msg).print();
        }
        CliError::Fatal(msg) => eprintln!("ERROR: {msg}"),
        CliError::Service(r) => eprintln!("{}", r.render()),
        CliError::Aborted => eprintln!("Aborted!"),
        CliError::Exit(_) => {}
    }
    code
}
