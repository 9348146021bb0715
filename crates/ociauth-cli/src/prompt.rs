//! Questions to the user. Asked only when stdin is a terminal; callers decide what happens
//! otherwise (never block waiting for an answer nobody can give).
//!
//! [I] Prompts go to the terminal (secrets) or stderr (confirmations), not stdout as `click`
//! does, so stdout carries only command output.

use std::io::{BufRead as _, Write as _};

use crate::errors::CliError;

/// Read a secret from the terminal with echo off.
pub fn secret(prompt: &str) -> Result<String, CliError> {
    rpassword::prompt_password(prompt)
        .map_err(|e| CliError::fatal(format!("cannot read from the terminal: {e}")))
}

/// `click.prompt(..., hide_input=True, confirmation_prompt=True)`: ask twice until both match.
pub fn secret_confirmed(prompt: &str) -> Result<String, CliError> {
    loop {
        let first = secret(prompt)?;
        let second = secret("Repeat for confirmation: ")?;
        if first == second {
            return Ok(first);
        }
        eprintln!("Error: The two entered values do not match.");
    }
}

/// `click.confirm(question)` (default no): `[y/N]`, on stderr, answer from stdin.
pub fn confirm(question: &str) -> Result<bool, CliError> {
    loop {
        eprint!("{question} [y/N]: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::fatal(format!("cannot read the answer from stdin: {e}")))?;
        if n == 0 {
            eprintln!();
            return Err(CliError::Aborted);
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok(true),
            "" | "n" | "no" => return Ok(false),
            _ => eprintln!("Error: invalid input"),
        }
    }
}
