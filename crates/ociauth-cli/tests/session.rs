//! `ociauth session …` and `--auth security_token` against the in-process emulator: exact
//! stdout/stderr/exit codes of the official CLI's session commands (spec
//! oci-signing-config-session.md §4), the files they write (modes, contents), and the behaviour
//! ociauth adds (port, timeout, the DEFAULT-user trap, no prompts without a terminal).

mod common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{BIN, Cmd, Run, mode};
use oci_emulator::{EmulatorConfig, RunningEmulator, TokenLifetimes};
use ociauth::jwt;
use ociauth::keys::{PrivateKey, PublicKey};

type Log = Arc<Mutex<Vec<String>>>;

struct Emu {
    emu: RunningEmulator,
    log: Log,
    home: tempfile::TempDir,
    _state: tempfile::TempDir,
}

const PROFILE: &str = "sess";

impl Emu {
    async fn start() -> Emu {
        Self::start_with(TokenLifetimes::default()).await
    }
    async fn start_with(lifetimes: TokenLifetimes) -> Emu {
        let state = tempfile::tempdir().unwrap();
        let log: Log = Arc::default();
        let l2 = log.clone();
        let cfg = EmulatorConfig::new(state.path())
            .token_lifetimes(lifetimes)
            .log(Arc::new(move |l: &str| {
                l2.lock().unwrap().push(l.to_string())
            }));
        let emu = oci_emulator::start(cfg).await.unwrap();
        Emu {
            emu,
            log,
            home: tempfile::tempdir().unwrap(),
            _state: state,
        }
    }
    fn url(&self) -> String {
        self.emu.base_url()
    }
    fn ns(&self) -> String {
        self.emu.state().namespace()
    }
    /// The emulator's API-key config (DEFAULT: the first user).
    fn api_config(&self) -> PathBuf {
        self.emu.config_path()
    }
    /// The config the sessions are written to.
    fn config(&self) -> PathBuf {
        self.home.path().join("session-config")
    }
    fn token_dir(&self) -> PathBuf {
        self.home.path().join("tokens")
    }
    fn session_dir(&self) -> PathBuf {
        self.token_dir().join(PROFILE)
    }
    fn token(&self) -> String {
        std::fs::read_to_string(self.session_dir().join("token")).unwrap()
    }
    fn last_log(&self) -> String {
        self.log.lock().unwrap().last().cloned().unwrap_or_default()
    }
    fn log_len(&self) -> usize {
        self.log.lock().unwrap().len()
    }
    fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd::new(self.home.path(), args)
    }
    /// `session authenticate --no-browser` into [`Self::config`], signed with the emulator's
    /// API key.
    fn authenticate_no_browser(&self, minutes: &str) -> Cmd {
        self.authenticate_no_browser_with(minutes, &self.api_config())
    }
    /// The same, signed with the DEFAULT profile of `credentials`.
    fn authenticate_no_browser_with(&self, minutes: &str, credentials: &Path) -> Cmd {
        self.cmd(&[
            "session",
            "authenticate",
            "--no-browser",
            "--profile-name",
            PROFILE,
            "--config-location",
            self.config().to_str().unwrap(),
            "--token-location",
            self.token_dir().to_str().unwrap(),
            "--region",
            "us-ashburn-1",
            "--session-expiration-in-minutes",
            minutes,
            "--config-file",
            credentials.to_str().unwrap(),
            "--endpoint",
            &self.url(),
            "--no-retry",
        ])
    }
    /// `ARGS --profile sess --config-file <session config> --endpoint URL --no-retry`.
    fn with_session(&self, args: &[&str]) -> Cmd {
        self.cmd(args).args(&[
            "--profile",
            PROFILE,
            "--config-file",
            self.config().to_str().unwrap(),
            "--endpoint",
            &self.url(),
            "--no-retry",
        ])
    }
    fn ns_json(&self) -> String {
        format!("{{\n  \"data\": \"{}\"\n}}\n", self.ns())
    }
}

/// Run the binary off the async workers (the emulator is served by them).
async fn run(c: Cmd) -> Run {
    tokio::task::spawn_blocking(move || c.run()).await.unwrap()
}

fn claims(token: &str) -> serde_json::Map<String, serde_json::Value> {
    jwt::decode_unverified(token).unwrap().claims().clone()
}

fn bound_key(token: &str) -> PublicKey {
    let c = claims(token);
    let jwk: serde_json::Value = serde_json::from_str(c["jwk"].as_str().unwrap()).unwrap();
    jwt::RsaJwk::from_json(&jwk).unwrap().public_key().unwrap()
}

fn try_out(config: &Path, profile: &str, what: &str) -> String {
    format!(
        "\n    Try out your {what} session credentials with the following example command:\n\n    oci iam region list --config-file {} --profile {profile} --auth security_token\n\n",
        config.display()
    )
}

fn user_of(emu: &RunningEmulator) -> String {
    std::fs::read_to_string(emu.config_path())
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("user=").map(str::to_string))
        .unwrap()
}

/// A port on 127.0.0.1 that is free right now.
fn free_port() -> u16 {
    common::closed_port()
}

/// An executable `BROWSER` script that writes its first argument to `url_file`.
fn browser_script(dir: &Path, url_file: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join("browser.sh");
    std::fs::write(
        &p,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", url_file.display()),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_browser_session_is_used_refreshed_and_validated() {
    let e = Emu::start().await;
    let r = run(e.authenticate_no_browser("30")).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(
        r.stdout,
        format!(
            "Config written to: {}\n{}",
            e.config().display(),
            try_out(&e.config(), PROFILE, "newly created")
        )
    );
    assert!(
        e.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l
                .starts_with("POST /v1/token/upst/actions/GenerateUpst 200 key=\"ocid1.tenancy.")),
        "{:?}",
        e.log.lock().unwrap()
    );

    // The files, as the CLI writes them (0600 in a 0700 directory, no trailing newline).
    let dir = e.session_dir();
    assert_eq!(mode(&dir), 0o700);
    for f in ["oci_api_key.pem", "oci_api_key_public.pem", "token"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    let token = e.token();
    assert!(!token.ends_with('\n'));
    let key_pem = std::fs::read_to_string(dir.join("oci_api_key.pem")).unwrap();
    assert!(
        key_pem.ends_with("-----END PRIVATE KEY-----\nOCI_API_KEY"),
        "{key_pem}"
    );
    let key = PrivateKey::from_pem(key_pem.as_bytes(), None).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("oci_api_key_public.pem")).unwrap(),
        key.public_key_pem()
    );
    assert_eq!(
        bound_key(&token).spki_der(),
        PublicKey::from(&key).spki_der()
    );
    let c1 = claims(&token);
    assert_eq!(c1["sub"], user_of(&e.emu).as_str());
    assert_eq!(c1["tenant"], e.emu.state().tenancy_id().as_str());
    assert_eq!(
        c1["exp"].as_i64().unwrap() - c1["iat"].as_i64().unwrap(),
        1800
    );
    assert_eq!(
        std::fs::read_to_string(e.config()).unwrap(),
        format!(
            "[{PROFILE}]\nfingerprint={}\nkey_file={}\ntenancy={}\nregion=us-ashburn-1\nsecurity_token_file={}\n",
            key.fingerprint(),
            dir.join("oci_api_key.pem").display(),
            e.emu.state().tenancy_id(),
            dir.join("token").display()
        )
    );
    assert_eq!(mode(&e.config()), 0o600);

    // --auth security_token, and OCI_CLI_AUTH=security_token.
    let r = run(e.with_session(&["os", "ns", "get", "--auth", "security_token"])).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, e.ns_json());
    assert!(
        e.last_log().starts_with("GET /n 200 key=\"ST$eyJ"),
        "{}",
        e.last_log()
    );
    let r = run(e
        .with_session(&["os", "ns", "get"])
        .env("OCI_CLI_AUTH", "security_token"))
    .await;
    assert_eq!((r.code, r.stdout.clone()), (0, e.ns_json()), "{r:?}");

    // refresh: a new token, same session end and key; --endpoint is the auth base.
    let r = run(e.with_session(&["session", "refresh"])).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "Attempting to refresh token from {}/v1/authentication/refresh\nSuccessfully refreshed token\n",
            e.url()
        )
    );
    assert!(
        e.last_log()
            .starts_with("POST /v1/authentication/refresh 200 key=\"ST$eyJ"),
        "{}",
        e.last_log()
    );
    let refreshed = e.token();
    assert_ne!(refreshed, token);
    assert!(!refreshed.ends_with('\n'));
    assert_eq!(mode(&dir.join("token")), 0o600);
    let c2 = claims(&refreshed);
    assert_eq!(c2["sess_exp"], c1["sess_exp"]);
    assert_eq!(c2["jwk"], c1["jwk"]);
    assert_eq!(c2["sub"], c1["sub"]);
    let r = run(e.with_session(&["os", "ns", "get", "--auth", "security_token"])).await;
    assert_eq!((r.code, r.stdout.clone()), (0, e.ns_json()), "{r:?}");

    // validate --local and validate (a signed GET /20160918/regions).
    let valid_line = |stderr: &str| {
        let rest = stderr
            .strip_prefix("Session is valid until ")
            .unwrap_or_else(|| panic!("{stderr}"));
        // YYYY-MM-DD HH:MM:SS\n
        assert_eq!(rest.len(), 20, "{stderr}");
        assert!(
            rest.ends_with('\n') && rest.as_bytes()[10] == b' ',
            "{stderr}"
        );
    };
    let r = run(e.with_session(&["session", "validate", "--local"])).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    valid_line(&r.stderr);
    let r = run(e.with_session(&["session", "validate"])).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    valid_line(&r.stderr);
    assert!(
        e.last_log()
            .starts_with("GET /20160918/regions 200 key=\"ST$eyJ"),
        "{}",
        e.last_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session() {
    let e = Emu::start_with(TokenLifetimes {
        session: Duration::from_secs(2),
        ..TokenLifetimes::default()
    })
    .await;
    let r = run(e.authenticate_no_browser("30")).await;
    assert_eq!(r.code, 0, "{r:?}");
    let token = e.token();
    let exp = claims(&token)["exp"].as_u64().unwrap();
    // Expired once the clock is past exp (whole seconds, as the CLI counts).
    while SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        <= exp
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let r = run(e.with_session(&["session", "validate", "--local"])).await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (1, "", "Session has expired\n")
    );

    // Any command: one line naming the command that fixes it; no request, no prompt.
    let before = e.log_len();
    let r = run(e.with_session(&["os", "ns", "get", "--auth", "security_token"])).await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: This CLI session has expired, so it cannot currently be used to run commands; start a new one with `ociauth session authenticate --region us-ashburn-1 --profile-name {PROFILE} --config-location {} --token-location {} --endpoint {}`\n",
            e.config().display(),
            e.token_dir().display(),
            e.url()
        )
    );
    assert_eq!(e.log_len(), before, "no request was sent");

    // On a terminal (util-linux `script` gives it one): the official CLI's question; "n" ends
    // the command with exit 1, still without a request.
    let command = format!(
        "'{BIN}' os ns get --auth security_token --profile {PROFILE} --config-file '{}' --endpoint {} --no-retry",
        e.config().display(),
        e.url()
    );
    let r = run(
        Cmd::new_program(e.home.path(), "script", &["-qec", &command, "/dev/null"]).stdin(b"n\n"),
    )
    .await;
    assert_eq!(r.code, 1, "{r:?}");
    let screen = r.stdout.replace('\r', "");
    assert!(
        screen.contains(
            "ERROR: This CLI session has expired, so it cannot currently be used to run commands\nDo you want to re-authenticate your CLI session profile? [Y/n]: "
        ),
        "{screen}"
    );
    assert_eq!(e.log_len(), before, "no request was sent");

    // refresh of an expired token: the service's 401, in the CLI's words.
    let r = run(e.with_session(&["session", "refresh"])).await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "Attempting to refresh token from {}/v1/authentication/refresh\nYour session is no longer valid and cannot be refreshed. Please use 'oci session authenticate' to create a new session.\n",
            e.url()
        )
    );
    assert!(
        e.last_log()
            .starts_with("POST /v1/authentication/refresh 401"),
        "{}",
        e.last_log()
    );
    assert_eq!(e.token(), token, "the token file is left alone");
}

#[test]
fn session_minutes_bounds_and_bad_arguments() {
    let home = tempfile::tempdir().unwrap();
    for (minutes, text) in [
        (
            "61",
            "Session expiration cannot be longer than 60 minutes\n",
        ),
        ("4", "Session expiration cannot be shorter than 5 minutes\n"),
    ] {
        let r = Cmd::new(
            home.path(),
            &[
                "session",
                "authenticate",
                "--no-browser",
                "--session-expiration-in-minutes",
                minutes,
                "--region",
                "us-ashburn-1",
            ],
        )
        .run();
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (1, text, ""),
            "{minutes}"
        );
    }
    assert!(!home.path().join(".oci").exists());

    // An unknown region (browser flow), as the CLI prints it (stdout).
    let r = Cmd::new(
        home.path(),
        &[
            "session",
            "authenticate",
            "--region",
            "nowhere-1",
            "--profile-name",
            "X",
        ],
    )
    .run();
    assert_eq!((r.code, r.stderr.as_str()), (1, ""), "{r:?}");
    assert!(
        r.stdout
            .starts_with("Error: nowhere-1 is not a valid region. Valid regions are \n['"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("'us-ashburn-1'") && r.stdout.ends_with("']\n"));

    // An invalid profile name is a usage error, with the CLI's text.
    let r = Cmd::new(
        home.path(),
        &[
            "session",
            "authenticate",
            "--region",
            "iad",
            "--profile-name",
            "a/b",
        ],
    )
    .run();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.starts_with(
            "error: Invalid profile name 'a/b'. Profile names may only contain letters, numbers, '.', '_', '-', or '@'."
        ),
        "{}",
        r.stderr
    );

    // No --profile-name, an existing config and no terminal: refused before any login.
    let config = home.path().join("config");
    std::fs::write(&config, "[DEFAULT]\n").unwrap();
    let r = Cmd::new(
        home.path(),
        &[
            "session",
            "authenticate",
            "--region",
            "iad",
            "--config-location",
            config.to_str().unwrap(),
        ],
    )
    .run();
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: pass --profile-name: {} exists, and stdin is not a terminal, so ociauth cannot ask for the name of the profile to create\n",
            config.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_profile_inheriting_the_default_user() {
    let e = Emu::start().await;
    // The session profile goes into a copy of the API-key config, whose [DEFAULT] has `user`.
    std::fs::copy(e.api_config(), e.config()).unwrap();
    let r = run(e.authenticate_no_browser_with("30", &e.config())).await;
    assert_eq!(r.code, 0, "{r:?}");

    // No --auth: the official CLI would sign an API-key request with the DEFAULT user and the
    // session key (and get a 401). ociauth warns once and uses the token.
    let r = run(e.with_session(&["os", "ns", "get"])).await;
    assert_eq!((r.code, r.stdout.clone()), (0, e.ns_json()), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "WARNING: Profile {PROFILE} is a session profile (it has security_token_file) that inherits 'user' from [DEFAULT], so ociauth uses its session token instead of an API key; pass --auth security_token to say so and hide this warning\n"
        )
    );
    assert!(
        e.last_log().starts_with("GET /n 200 key=\"ST$eyJ"),
        "{}",
        e.last_log()
    );

    // With --auth security_token: no warning.
    let r = run(e.with_session(&["os", "ns", "get", "--auth", "security_token"])).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");

    // An explicit --auth api_key is obeyed: the service refuses it, and the CLI's hint says why.
    let r = run(e.with_session(&["os", "ns", "get", "--auth", "api_key"])).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.starts_with(
            "WARNING: The active profile contains a value for 'security_token_file' which is not being used. To authenticate using the token, specify --auth security_token\n"
        ),
        "{}",
        r.stderr
    );
    // (The last request is the clock-skew check's HEAD.)
    let log = e.log.lock().unwrap().clone();
    assert!(
        log[log.len() - 2].starts_with("GET /n 401 key=\"ocid1.tenancy."),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_terminate() {
    let e = Emu::start().await;
    let r = run(e.authenticate_no_browser("30")).await;
    assert_eq!(r.code, 0, "{r:?}");
    let out = e.home.path().join("exported");
    let zip = e.home.path().join("exported.zip");
    let export = || {
        e.cmd(&[
            "session",
            "export",
            "--profile",
            PROFILE,
            "--config-file",
            e.config().to_str().unwrap(),
            "--output-file",
            out.to_str().unwrap(),
        ])
    };
    let r = run(export()).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "Exporting profile: {PROFILE} from config file: {}\nExport file written to: {}\n",
            e.config().display(),
            zip.display()
        )
    );
    assert_eq!(mode(&zip), 0o600);
    // It exists now: without --force and without a terminal, refused.
    let r = run(export()).await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: {} already exists; pass --force to overwrite it (stdin is not a terminal, so ociauth cannot ask)\n",
            zip.display()
        )
    );
    let r = run(export().args(&["--force"])).await;
    assert_eq!(r.code, 0, "{r:?}");

    // Import on "another machine": its own HOME and config.
    let home2 = tempfile::tempdir().unwrap();
    let config2 = home2.path().join(".oci/config");
    let import = || {
        Cmd::new(
            home2.path(),
            &[
                "session",
                "import",
                "--session-archive",
                zip.to_str().unwrap(),
            ],
        )
    };
    let r = run(import()).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "Imported profile {PROFILE} written to: {}\n",
            config2.display()
        )
    );
    assert_eq!(r.stdout, try_out(&config2, PROFILE, "newly imported"));
    let dir2 = home2.path().join(".oci/sessions").join(PROFILE);
    assert_eq!(mode(&dir2), 0o700);
    for f in ["oci_api_key.pem", "token"] {
        assert_eq!(mode(&dir2.join(f)), 0o600, "{f}");
    }
    let key =
        PrivateKey::from_pem(&std::fs::read(dir2.join("oci_api_key.pem")).unwrap(), None).unwrap();
    assert_eq!(
        std::fs::read_to_string(&config2).unwrap(),
        format!(
            "[{PROFILE}]\nfingerprint={}\nkey_file={}\ntenancy={}\nregion=us-ashburn-1\nsecurity_token_file={}\n",
            key.fingerprint(),
            dir2.join("oci_api_key.pem").display(),
            e.emu.state().tenancy_id(),
            dir2.join("token").display()
        )
    );
    let r = run(Cmd::new(
        home2.path(),
        &[
            "os",
            "ns",
            "get",
            "--auth",
            "security_token",
            "--profile",
            PROFILE,
            "--endpoint",
            &e.url(),
        ],
    ))
    .await;
    assert_eq!((r.code, r.stdout.clone()), (0, e.ns_json()), "{r:?}");

    // Importing again: a name collision; without a terminal, refused.
    let r = run(import()).await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: Config already contains a profile with the same name as the archived profile: {PROFILE}. Pass --force to replace it, or import it under another name\n"
        )
    );
    let r = run(import().args(&["--force"])).await;
    assert_eq!(r.code, 0, "{r:?}");

    // terminate: the profile and ~/.oci/sessions/<profile> go.
    let terminate = |profile: &str| {
        Cmd::new(
            home2.path(),
            &["session", "terminate", "--profile", profile],
        )
    };
    let r = run(terminate(PROFILE)).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "Successfully removed profile: {PROFILE} from config: {}\n",
            config2.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&config2).unwrap(), "");
    assert!(!dir2.exists());
    let r = run(terminate(PROFILE)).await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (1, "ERROR: Profile does not exist\n")
    );
    // A token-less profile, and DEFAULT.
    std::fs::write(
        &config2,
        "[DEFAULT]\nregion=us-ashburn-1\n[plain]\nuser=u\n",
    )
    .unwrap();
    let r = run(terminate("plain")).await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "ERROR: Cannot terminate a profile that does not have a value for 'security_token_file'\n"
        )
    );
    std::fs::write(&config2, "[DEFAULT]\nsecurity_token_file=/x/token\n").unwrap();
    let r = run(terminate("DEFAULT")).await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (1, "ERROR: Cannot terminate DEFAULT profile\n")
    );

    // Export of a profile without a token.
    let r = run(Cmd::new(
        home2.path(),
        &[
            "session",
            "export",
            "--profile",
            "DEFAULT",
            "--config-file",
            e.api_config().to_str().unwrap(),
            "--output-file",
            home2.path().join("x").to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "ERROR: Specified profile is not a valid token profile. Please specify valid token profile with --profile\n"
        )
    );
    // A missing archive.
    let r = run(Cmd::new(
        home2.path(),
        &["session", "import", "--session-archive", "/nonexistent.zip"],
    ))
    .await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (1, "File /nonexistent.zip does not exist.\n")
    );
}

/// `ociauth session authenticate` started in the background (not waited for).
fn spawn_authenticate(home: &Path, args: &[&str], browser: &str) -> std::process::Child {
    Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("BROWSER", browser)
        .args(["session", "authenticate"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(mut child: std::process::Child, within: Duration) -> Run {
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ociauth session authenticate did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// `(name, value)` of the login page's hidden fields.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|piece| {
            let (name, rest) = piece.split_once('"').unwrap();
            let value = rest
                .strip_prefix(" value=\"")
                .and_then(|r| r.split_once('"'))
                .unwrap()
                .0;
            (unescape(name), unescape(value))
        })
        .collect()
}

/// The browser flow with the test playing the browser (the Chromium test in tests/interop
/// does it with a real one): login page, form, redirect, the callback page's relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_with_the_test_as_browser() {
    let e = Emu::start().await;
    let port = free_port();
    let url_file = e.home.path().join("url.txt");
    let browser = browser_script(e.home.path(), &url_file);
    let child = spawn_authenticate(
        e.home.path(),
        &[
            "--endpoint",
            &e.url(),
            "--port",
            &port.to_string(),
            "--profile-name",
            PROFILE,
            "--config-location",
            e.config().to_str().unwrap(),
            "--token-location",
            e.token_dir().to_str().unwrap(),
            "--region",
            "iad",
            "--tenancy-name",
            "emulator-tenancy",
        ],
        browser.to_str().unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let login_url = loop {
        if let Ok(u) = std::fs::read_to_string(&url_file)
            && !u.is_empty()
        {
            break u;
        }
        assert!(Instant::now() < deadline, "no browser was opened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let prefix = format!(
        "{}/v1/oauth2/authorize?action=login&client_id=iaas_console&response_type=token+id_token&nonce=",
        e.url()
    );
    assert!(login_url.starts_with(&prefix), "{login_url}");
    let suffix = format!("&redirect_uri=http%3A%2F%2Flocalhost%3A{port}&tenant=emulator-tenancy");
    assert!(login_url.ends_with(&suffix), "{login_url}");

    let password = std::fs::read_to_string(e.emu.state_dir().join("credentials.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("password=").map(str::to_string))
        .unwrap();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = http
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_fields(&html);
    form.push(("username".into(), "emulator-user".into()));
    form.push(("password".into(), password));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let resp = http
        .post(format!("{}/v1/oauth2/authorize", e.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let fragment = location
        .strip_prefix(&format!("http://localhost:{port}#"))
        .unwrap_or_else(|| panic!("{location}"))
        .to_string();
    let token = fragment
        .strip_prefix("security_token=")
        .unwrap()
        .to_string();
    // The callback's page, then what its script sends.
    let page = http
        .get(format!("http://127.0.0.1:{port}/"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("'/token?' + fragment"));
    let relay = http
        .get(format!("http://127.0.0.1:{port}/token?{fragment}"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(relay.status(), 200);

    let r = tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!(
            "    Please switch to newly opened browser window to log in!\n    You can also open the following URL in a web browser window to continue:\n{login_url}\n    Completed browser authentication process!\nConfig written to: {}\n{}",
            e.config().display(),
            try_out(&e.config(), PROFILE, "newly created")
        )
    );
    assert_eq!(
        r.stderr,
        format!("Waiting up to 300 s for the browser login to reach http://localhost:{port} ...\n")
    );
    assert_eq!(e.token(), token);
    // The browser flow writes the region's full name.
    assert!(
        std::fs::read_to_string(e.config())
            .unwrap()
            .contains("\nregion=us-ashburn-1\n")
    );
    let key = PrivateKey::from_pem(
        &std::fs::read(e.session_dir().join("oci_api_key.pem")).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(
        bound_key(&token).spki_der(),
        PublicKey::from(&key).spki_der()
    );
    let r = run(e.with_session(&["os", "ns", "get", "--auth", "security_token"])).await;
    assert_eq!((r.code, r.stdout.clone()), (0, e.ns_json()), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use_fails_before_the_browser_opens() {
    let e = Emu::start().await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let url_file = e.home.path().join("url.txt");
    let browser = browser_script(e.home.path(), &url_file);
    let r = run(e
        .cmd(&[
            "session",
            "authenticate",
            "--endpoint",
            &e.url(),
            "--port",
            &port.to_string(),
            "--profile-name",
            PROFILE,
            "--config-location",
            e.config().to_str().unwrap(),
            "--region",
            "us-ashburn-1",
        ])
        .env("BROWSER", &browser))
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    let first = format!(
        "ERROR: Could not complete bootstrap process because port {port} is already in use. The login page redirects the browser to http://localhost:{port}: stop the program listening there, or pass --port with a free port ("
    );
    assert!(r.stderr.starts_with(&first), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(!url_file.exists(), "no browser was opened");
    assert!(!e.config().exists());
    drop(busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_timeout_exits_cleanly() {
    let e = Emu::start().await;
    let port = free_port();
    let started = Instant::now();
    // No browser can be opened (`false` fails): the URL is printed for the user to open.
    let r = run(e
        .cmd(&[
            "session",
            "authenticate",
            "--endpoint",
            &e.url(),
            "--port",
            &port.to_string(),
            "--timeout",
            "2s",
            "--profile-name",
            PROFILE,
            "--config-location",
            e.config().to_str().unwrap(),
            "--region",
            "us-ashburn-1",
        ])
        .env("BROWSER", "false"))
    .await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(r.code, 1, "{r:?}");
    let (first, rest) = r.stdout.split_once('\n').unwrap();
    assert_eq!(
        first,
        "    Open the following URL in a web browser window to continue:"
    );
    assert!(
        rest.starts_with(&format!("{}/v1/oauth2/authorize?action=login&", e.url())),
        "{rest}"
    );
    assert_eq!(rest.lines().count(), 1, "{rest}");
    assert_eq!(
        r.stderr,
        format!(
            "Waiting up to 2 s for the browser login to reach http://localhost:{port} ...\nERROR: no login arrived at http://localhost:{port} within 2 s; open the login URL in a browser, sign in, and try again\n"
        )
    );
    assert!(!e.config().exists());
    // The port is free again.
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_profile_errors_and_permission_warning() {
    let e = Emu::start().await;
    let r = run(e.authenticate_no_browser("30")).await;
    assert_eq!(r.code, 0, "{r:?}");
    let token_file = e.session_dir().join("token");

    // A token file others can read: the CLI's warning (stderr), then the command runs.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let r = run(e.with_session(&["os", "ns", "get", "--auth", "security_token"])).await;
    assert_eq!((r.code, r.stdout.clone()), (0, e.ns_json()), "{r:?}");
    let p = token_file.display();
    assert_eq!(
        r.stderr,
        format!(
            "WARNING: Permissions on {p} are too open. \nTo fix this please try executing the following command: \noci setup repair-file-permissions --file {p} \nAlternatively to hide this warning, you may set the environment variable, OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING: \nexport OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING=True\n\n"
        )
    );
    let r = run(e
        .with_session(&["os", "ns", "get", "--auth", "security_token"])
        .env("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "True"))
    .await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");

    // The official errors of a profile without the token, or with a missing file.
    let r = run(e
        .cmd(&[
            "os",
            "ns",
            "get",
            "--auth",
            "security_token",
            "--config-file",
        ])
        .args(&[e.api_config().to_str().unwrap(), "--endpoint", &e.url()]))
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (
            1,
            "",
            "ERROR: Config value for 'security_token_file' must be specified when using --auth security_token\n"
        )
    );
    std::fs::remove_file(&token_file).unwrap();
    let r = run(e.with_session(&["os", "ns", "get", "--auth", "security_token"])).await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!("ERROR: File specified by 'security_token_file' does not exist: {p}\n")
    );
    // The session commands' own texts for the same problems.
    let r = run(e.with_session(&["session", "refresh"])).await;
    assert_eq!(
        (r.code, r.stdout.clone(), r.stderr.as_str()),
        (
            1,
            format!("ERROR: Cannot refresh token, 'security_token_file' does not exist: {p}\n"),
            ""
        )
    );
    let r = run(e.with_session(&["session", "validate", "--local"])).await;
    assert_eq!(
        (r.code, r.stderr.clone()),
        (1, format!("ERROR: 'security_token_file' not found: {p}\n"))
    );
    let r = run(e
        .cmd(&["session", "refresh", "--config-file"])
        .args(&[e.api_config().to_str().unwrap()]))
    .await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "ERROR: Cannot refresh a profile that does not have a value for 'security_token_file'\n"
        )
    );
    let r = run(e
        .cmd(&["session", "validate", "--config-file"])
        .args(&[e.api_config().to_str().unwrap()]))
    .await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "ERROR: No security_token_file was found in config for profile: DEFAULT\n"
        )
    );
}
