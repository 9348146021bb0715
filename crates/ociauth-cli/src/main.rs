//! `ociauth`: the OCI command line for every credential type. Parses flags, calls the `ociauth`
//! library, prints what the official `oci` CLI prints.

mod cmd;
mod errors;
mod globals;
mod output;
mod prompt;
mod util;

use clap::{CommandFactory as _, Parser, Subcommand};

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
    /// Setup commands (key generation).
    #[command(subcommand)]
    Setup(cmd::setup::SetupCommand),
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
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
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
    match command {
        Command::Setup(c) => {
            let _ = &globals;
            cmd::setup::run(c)
        }
    }
}

/// Print the error the way the official CLI does; return the exit code.
fn report(e: CliError) -> i32 {
    let code = e.exit_code();
    match e {
        CliError::Usage(msg) => {
            let err = Cli::command().error(clap::error::ErrorKind::ValueValidation, msg);
            let _ = err.print();
        }
        CliError::Fatal(msg) => eprintln!("ERROR: {msg}"),
        CliError::Service(r) => eprintln!("{}", r.render()),
        CliError::Aborted => eprintln!("Aborted!"),
        CliError::Exit(_) => {}
    }
    code
}
