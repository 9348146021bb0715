//! Workload identity federation in the `ociauth` CLI against the in-process emulator, with an
//! in-test OpenID issuer (a JWKS served by axum, tokens minted here):
//!
//! - `session exchange` writes a session profile (exact keys, modes, token bytes) that
//!   `--auth security_token` uses; every subject token source; one clear line per rejection;
//! - `--auth workload_identity_federation` exchanges once and reuses the cached token across
//!   processes;
//! - `exec` keeps a WIF profile and a refreshable session profile fresh across several token
//!   lifetimes, passes exit codes and signals through.
//!
//! Exchanges are counted in the emulator's request log.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Cmd, Run, mode};
use oci_emulator::identity_domain::{DOMAIN_ISSUER, DOMAIN_JWKS_PATH, NewTrust};
use oci_emulator::{EmulatorConfig, RunningEmulator, TokenLifetimes, TokenRequest};
use ociauth::jwt::{self, RsaJwk};
use ociauth::keys::{PrivateKey, PublicKey};
use serde_json::{Value, json};

const ISSUER: &str = "https://token.actions.example.test";
const AUD: &str = "https://cloud.oracle.com";
const CLIENT_ID: &str = "wif-app";
const CLIENT_SECRET: &str = "wif-secret";
const IDP_CLIENT: &str = "ci-robot";
const IDP_SECRET: &str = "ci-robot-secret";
const SUB: &str = "repo:org/repo:ref:refs/heads/main";
const KID: &str = "idp-key-1";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The stand-in OpenID issuer: one signing key, its JWKS served over HTTP.
struct Idp {
    key: PrivateKey,
    jwks_url: String,
    _task: tokio::task::JoinHandle<()>,
}

impl Idp {
    async fn start() -> Idp {
        let key = PrivateKey::generate().unwrap();
        let mut jwk = RsaJwk::from_private_key(&key, Some(KID)).unwrap().to_json();
        jwk["alg"] = json!("RS256");
        jwk["use"] = json!("sig");
        let set = json!({ "keys": [jwk] });
        let app = axum::Router::new().route(
            "/.well-known/jwks",
            axum::routing::get(move || {
                let set = set.clone();
                async move { axum::Json(set) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_url = format!("http://{}/.well-known/jwks", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Idp {
            key,
            jwks_url,
            _task: task,
        }
    }

    /// A subject token (valid for 2 h) with `claims` merged over the usual ones (null removes).
    fn token(&self, claims: Value) -> String {
        let mut c = json!({
            "iss": ISSUER, "aud": AUD, "sub": SUB, "iat": now() - 10, "exp": now() + 7200,
        });
        for (k, v) in claims.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        jwt::sign_rs256(&json!({ "kid": KID, "typ": "JWT" }), &c, &self.key).unwrap()
    }
}

struct World {
    emu: RunningEmulator,
    idp: Idp,
    home: tempfile::TempDir,
    files: tempfile::TempDir,
    log: Arc<Mutex<Vec<String>>>,
    _state: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        Self::start_with(TokenLifetimes::default()).await
    }

    async fn start_with(lifetimes: TokenLifetimes) -> World {
        let state = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l2 = log.clone();
        let cfg = EmulatorConfig::new(state.path())
            .token_lifetimes(lifetimes)
            .log(Arc::new(move |line: &str| {
                l2.lock().unwrap().push(line.to_string())
            }));
        let emu = oci_emulator::start(cfg).await.unwrap();
        let idp = Idp::start().await;
        let d = emu.identity_domain();
        d.add_oauth_app("ci", Some(CLIENT_ID), Some(CLIENT_SECRET))
            .unwrap();
        d.add_oauth_app("robot", Some(IDP_CLIENT), Some(IDP_SECRET))
            .unwrap();
        d.add_trust(NewTrust {
            name: "gh".into(),
            issuer: ISSUER.into(),
            jwks_url: Some(idp.jwks_url.clone()),
            audiences: vec![AUD.into()],
            oauth_clients: vec![CLIENT_ID.into()],
            impersonation: vec![("sub eq repo:org/repo:*".into(), "emulator-user".into())],
            active: true,
            ..NewTrust::default()
        })
        .unwrap();
        // The domain's own client-credentials tokens as a generic OIDC issuer.
        d.add_trust(NewTrust {
            name: "domain-apps".into(),
            issuer: DOMAIN_ISSUER.into(),
            jwks_url: Some(format!("{}{DOMAIN_JWKS_PATH}", emu.base_url())),
            audiences: vec![AUD.into()],
            oauth_clients: vec![CLIENT_ID.into()],
            impersonation: vec![(format!("sub eq {IDP_CLIENT}"), "emulator-user".into())],
            active: true,
            ..NewTrust::default()
        })
        .unwrap();
        let w = World {
            emu,
            idp,
            home: tempfile::tempdir().unwrap(),
            files: tempfile::tempdir().unwrap(),
            log,
            _state: state,
        };
        w.write_file("secret", CLIENT_SECRET);
        w.write_file("robot-secret", IDP_SECRET);
        w
    }

    fn url(&self) -> String {
        self.emu.base_url()
    }

    /// Token exchanges by our OAuth app answered 200; token-endpoint requests of any kind.
    fn exchanges(&self) -> usize {
        self.count(&format!("POST /oauth2/v1/token 200 key=\"{CLIENT_ID}\""))
    }
    fn token_requests(&self) -> usize {
        self.count("POST /oauth2/v1/token ")
    }
    fn count(&self, prefix: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn config(&self) -> PathBuf {
        self.home.path().join(".oci/config")
    }
    fn sessions(&self) -> PathBuf {
        self.home.path().join(".oci/sessions")
    }
    fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.files.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn file(&self, name: &str) -> String {
        self.files.path().join(name).display().to_string()
    }

    /// `ociauth ARGS` with HOME and PATH (the binary's directory first, for `exec` children).
    fn cmd(&self, args: &[&str]) -> Cmd {
        let bin_dir = Path::new(common::BIN).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Cmd::new(self.home.path(), args).env("PATH", path)
    }

    /// `session exchange` with the usual client and region, the subject token from `subject`.
    fn exchange_cmd(&self, profile: &str, extra: &[&str]) -> Cmd {
        self.cmd(&[
            "session",
            "exchange",
            "--domain-url",
            &self.url(),
            "--client-id",
            CLIENT_ID,
            "--profile-name",
            profile,
            "--region",
            "us-ashburn-1",
        ])
        .args(extra)
    }

    /// `ociauth os ns get --auth … --profile P --config-file <home config> --endpoint <emulator>`.
    fn ns_get(&self, auth: &str, profile: &str) -> Cmd {
        self.cmd(&[
            "os",
            "ns",
            "get",
            "--auth",
            auth,
            "--profile",
            profile,
            "--config-file",
            self.config().to_str().unwrap(),
            "--endpoint",
            &self.url(),
            "--no-retry",
        ])
    }

    fn ns_json(&self) -> String {
        format!("{{\n  \"data\": \"{}\"\n}}\n", self.emu.state().namespace())
    }

    /// A WIF profile `[name]` (Terraform's key names) reading the subject token from `subject`.
    fn write_wif_profile(&self, name: &str, subject: &Path) {
        let text = format!(
            "[{name}]\ntoken_exchange_domain_url={}\ntoken_exchange_client_id={CLIENT_ID}\ntoken_exchange_client_secret_file={}\nworkload_identity_token_path={}\nregion=us-ashburn-1\n",
            self.url(),
            self.file("secret"),
            subject.display()
        );
        std::fs::create_dir_all(self.config().parent().unwrap()).unwrap();
        common::write(
            self.config().parent().unwrap(),
            "config",
            text.as_bytes(),
            0o600,
        );
    }

    /// A refreshable session profile `[name]` whose token the emulator issued directly: it
    /// lives `lifetime`, and its session ends after `session`.
    fn write_session_profile(&self, name: &str, lifetime: Duration, session: Duration) {
        let key = PrivateKey::generate().unwrap();
        let user = self
            .emu
            .state()
            .users()
            .into_iter()
            .find(|u| u.name == "emulator-user")
            .unwrap()
            .id;
        let token = self
            .emu
            .tokens()
            .issue(
                &TokenRequest {
                    ptype: "user".into(),
                    subject: user,
                    tenancy: self.emu.state().tenancy_id(),
                    lifetime,
                    session_end: Some(SystemTime::now() + session),
                    extra: serde_json::Map::new(),
                },
                &PublicKey::from(&key),
            )
            .unwrap();
        ociauth::session::persist_session(&ociauth::session::NewSession {
            config_path: &self.config(),
            token_dir: &self.sessions(),
            profile: name,
            token: &token,
            key: ociauth::session::SessionKey::Private(&key),
            passphrase: None,
            store_passphrase: false,
            region: "us-ashburn-1",
            tenancy: &self.emu.state().tenancy_id(),
        })
        .unwrap();
    }
}

async fn run(c: Cmd) -> Run {
    tokio::task::spawn_blocking(move || c.run()).await.unwrap()
}

fn user_id(w: &World) -> String {
    w.emu
        .state()
        .users()
        .into_iter()
        .find(|u| u.name == "emulator-user")
        .unwrap()
        .id
}

/// The expected `session exchange` stdout (what `session authenticate` prints).
fn written(config: &Path, profile: &str) -> String {
    let c = config.display();
    format!(
        "Config written to: {c}\n\n    Try out your newly created session credentials with the following example command:\n\n    oci iam region list --config-file {c} --profile {profile} --auth security_token\n\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_writes_a_session_profile_that_security_token_auth_uses() {
    let w = World::start().await;
    let subject = w.write_file("jwt", &w.idp.token(json!({})));
    let r = run(w.exchange_cmd(
        "wif",
        &[
            "--client-secret-file",
            &w.file("secret"),
            "--subject-token-file",
            subject.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, written(&w.config(), "wif"));
    assert_eq!(w.exchanges(), 1);

    let dir = w.sessions().join("wif");
    let token = std::fs::read_to_string(dir.join("token")).unwrap();
    assert!(!token.ends_with('\n') && token.split('.').count() == 3);
    let claims = jwt::decode_unverified(&token).unwrap();
    assert_eq!(claims.sub(), Some(user_id(&w).as_str()));
    assert_eq!(claims.claim_str("source_authn_prin"), Some(SUB));
    let key_pem = std::fs::read_to_string(dir.join("oci_api_key.pem")).unwrap();
    assert!(key_pem.ends_with("-----END PRIVATE KEY-----\nOCI_API_KEY"));
    let key = PrivateKey::from_pem(key_pem.as_bytes(), None).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("oci_api_key_public.pem")).unwrap(),
        key.public_key_pem()
    );
    assert_eq!(
        std::fs::read_to_string(w.config()).unwrap(),
        format!(
            "[wif]\nfingerprint={}\nkey_file={}\ntenancy={}\nregion=us-ashburn-1\nsecurity_token_file={}\n",
            key.fingerprint(),
            dir.join("oci_api_key.pem").display(),
            w.emu.state().tenancy_id(),
            dir.join("token").display()
        )
    );
    for f in ["token", "oci_api_key.pem", "oci_api_key_public.pem"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&w.config()), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&w.sessions()), 0o700);
    assert_eq!(mode(w.config().parent().unwrap()), 0o700);

    let r = run(w.ns_get("security_token", "wif")).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, w.ns_json());
    let log = w.log_text();
    assert!(
        !log.contains(&token) && !log.contains(CLIENT_SECRET),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_takes_the_secret_from_the_environment_and_every_subject_source() {
    let w = World::start().await;
    let jwt = w.idp.token(json!({}));
    let jwt_file = w.write_file("jwt", &jwt);

    // OCI_CLIENT_SECRET and --subject-token-env.
    let r = run(w
        .exchange_cmd("env", &["--subject-token-env", "MY_JWT"])
        .env("OCI_CLIENT_SECRET", CLIENT_SECRET)
        .env("MY_JWT", &jwt))
    .await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, written(&w.config(), "env"));

    // --subject-token-command (no shell), into --config-location / --token-location.
    let other = w.files.path().join("other/config");
    let tokens = w.files.path().join("tokens");
    let command = format!("cat '{}'", jwt_file.display());
    let r = run(w.exchange_cmd(
        "cmd",
        &[
            "--client-secret-file",
            &w.file("secret"),
            "--subject-token-command",
            &command,
            "--config-location",
            other.to_str().unwrap(),
            "--token-location",
            tokens.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, written(&other, "cmd"));
    assert!(tokens.join("cmd/token").exists());
    assert!(std::fs::read_to_string(&other).unwrap().contains(&format!(
        "security_token_file={}",
        tokens.join("cmd/token").display()
    )));

    // A generic OIDC issuer by the client-credentials grant: the domain's own app tokens.
    let r = run(w
        .exchange_cmd(
            "oidc",
            &[
                "--oidc-token-endpoint",
                &format!("{}/oauth2/v1/token", w.url()),
                "--oidc-client-id",
                IDP_CLIENT,
                "--oidc-client-secret-file",
                &w.file("robot-secret"),
                "--oidc-resource",
                AUD,
            ],
        )
        .env("OCI_CLIENT_SECRET", CLIENT_SECRET))
    .await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    let r = run(w.ns_get("security_token", "oidc")).await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, w.ns_json().as_str()),
        "{r:?}"
    );
    let r = run(w.ns_get("security_token", "env")).await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, w.ns_json().as_str()),
        "{r:?}"
    );
    let r = run(w.cmd(&[
        "os",
        "ns",
        "get",
        "--auth",
        "security_token",
        "--profile",
        "cmd",
        "--config-file",
        other.to_str().unwrap(),
        "--endpoint",
        &w.url(),
    ]))
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, w.ns_json().as_str()),
        "{r:?}"
    );
    assert_eq!(w.exchanges(), 3);

    // Usage: exactly one subject source.
    let r = run(w.exchange_cmd("x", &["--client-secret-file", &w.file("secret")])).await;
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(w.exchange_cmd(
        "x",
        &["--subject-token-env", "A", "--subject-token-file", "b"],
    ))
    .await;
    assert_eq!(r.code, 2, "{r:?}");
    // No secret anywhere.
    let r = run(w.exchange_cmd("x", &["--subject-token-env", "MY_JWT"])).await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "ERROR: no OAuth client secret: give --client-secret-file FILE or set OCI_CLIENT_SECRET (never on the command line)\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_names_the_profile_default_only_in_a_new_config_file() {
    let w = World::start().await;
    let jwt = w.write_file("jwt", &w.idp.token(json!({})));
    let args = [
        "session",
        "exchange",
        "--domain-url",
        &w.url(),
        "--client-id",
        CLIENT_ID,
        "--client-secret-file",
        &w.file("secret"),
        "--subject-token-file",
        jwt.to_str().unwrap(),
    ];
    // The region comes from OCI_CLI_REGION (a short code is written as the region's name).
    let r = run(w.cmd(&args).env("OCI_CLI_REGION", "iad")).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, written(&w.config(), "DEFAULT"));
    let text = std::fs::read_to_string(w.config()).unwrap();
    assert!(text.starts_with("[DEFAULT]\nfingerprint="), "{text}");
    assert!(text.contains("\nregion=us-ashburn-1\n"), "{text}");

    // Now the file exists: the profile must be named (nothing is asked).
    let r = run(w.cmd(&args).env("OCI_CLI_REGION", "iad")).await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr),
        (
            1,
            "",
            format!(
                "ERROR: {} exists: name the profile to write with --profile-name\n",
                w.config().display()
            )
        )
    );
    // No region at all.
    let r = run(w.cmd(&args).args(&["--profile-name", "x"])).await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "ERROR: a region is needed for the session profile: give --region (or set OCI_CLI_REGION)\n"
        )
    );
    assert_eq!(w.exchanges(), 1);
}

/// `session exchange` refused: exit 1, nothing on stdout, exactly `line` on stderr, no profile.
async fn assert_refused(w: &World, subject: &str, secret: &str, line: &str) {
    let jwt = w.write_file("bad-jwt", subject);
    let secret_file = w.write_file("bad-secret", secret);
    let r = run(w.exchange_cmd(
        "refused",
        &[
            "--client-secret-file",
            secret_file.to_str().unwrap(),
            "--subject-token-file",
            jwt.to_str().unwrap(),
            "--no-retry",
        ],
    ))
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert_eq!(r.stderr, format!("{line}\n"));
    assert!(!w.config().exists() && !w.sessions().join("refused").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rejection_is_one_clear_line() {
    let w = World::start().await;
    let good = w.idp.token(json!({}));

    assert_refused(
        &w,
        &w.idp.token(json!({"aud": "https://wrong.example"})),
        CLIENT_SECRET,
        &format!(
            "ERROR: workload_identity_federation: the subject token's audience https://wrong.example is not accepted by the trust for issuer {ISSUER} (the subject token's audience (aud) \"https://wrong.example\" is not allowed by the identity propagation trust \"gh\" (allowed: {AUD})): request the token for an audience the trust allows, or add https://wrong.example to the trust"
        ),
    )
    .await;
    assert_eq!(w.token_requests(), 1);

    // Expired: refused before anything is sent.
    let exp = now() - 120;
    let expired = w.idp.token(json!({"iat": exp - 600, "exp": exp}));
    let jwt = w.write_file("bad-jwt", &expired);
    let r = run(w.exchange_cmd(
        "refused",
        &[
            "--client-secret-file",
            &w.file("secret"),
            "--subject-token-file",
            jwt.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    let when = jwt::format_sess_exp(UNIX_EPOCH + Duration::from_secs(exp as u64)).unwrap();
    let prefix = format!(
        "ERROR: workload_identity_federation: the subject token from file {} expired at {when} (",
        jwt.display()
    );
    assert!(r.stderr.starts_with(&prefix), "{}", r.stderr);
    assert!(
        r.stderr
            .ends_with(" s ago): get a fresh token from your identity provider\n"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1);
    assert_eq!(w.token_requests(), 1, "nothing was sent");

    assert_refused(
        &w,
        &good,
        "not-the-secret",
        &format!(
            "ERROR: workload_identity_federation: the identity domain rejected the OAuth client \"{CLIENT_ID}\" (wrong client secret for OAuth client \"{CLIENT_ID}\"): check --client-id and the client secret"
        ),
    )
    .await;

    w.emu
        .identity_domain()
        .set_trust_active("gh", false)
        .unwrap();
    assert_refused(
        &w,
        &good,
        CLIENT_SECRET,
        &format!(
            "ERROR: workload_identity_federation: the identity propagation trust for issuer {ISSUER} is inactive (the identity propagation trust \"gh\" for issuer \"{ISSUER}\" is inactive): activate it in the domain"
        ),
    )
    .await;
    assert_eq!(w.token_requests(), 3);
    assert_eq!(w.exchanges(), 0);
    assert!(!w.log_text().contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wif_auth_exchanges_once_and_reuses_the_cached_token_across_processes() {
    let w = World::start().await;
    let subject = w.write_file("jwt", &w.idp.token(json!({})));
    w.write_wif_profile("ci", &subject);

    let r = run(w.ns_get("workload_identity_federation", "ci")).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(r.stdout, w.ns_json());
    assert_eq!(w.exchanges(), 1);

    let dir = w.sessions().join("ci");
    assert_eq!(mode(&dir), 0o700);
    for f in ["token", "oci_api_key.pem", "oci_api_key_public.pem"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    let token = std::fs::read_to_string(dir.join("token")).unwrap();
    assert!(!token.ends_with('\n'));
    let key = std::fs::read(dir.join("oci_api_key.pem")).unwrap();

    // A second process (OCI_CLI_AUTH this time) uses the cached token: no exchange.
    let c = w.cmd(&[
        "os",
        "ns",
        "get",
        "--profile",
        "ci",
        "--config-file",
        w.config().to_str().unwrap(),
        "--endpoint",
        &w.url(),
    ]);
    let r = run(c.env("OCI_CLI_AUTH", "workload_identity_federation")).await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, w.ns_json().as_str()),
        "{r:?}"
    );
    assert_eq!(w.exchanges(), 1);
    assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), token);

    // A cache that cannot be used (here: not a token) is replaced by a new exchange, bound to
    // the same key.
    std::fs::write(dir.join("token"), "garbage").unwrap();
    let r = run(w.ns_get("workload_identity_federation", "ci")).await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, w.ns_json().as_str()),
        "{r:?}"
    );
    assert_eq!(w.exchanges(), 2);
    assert_eq!(std::fs::read(dir.join("oci_api_key.pem")).unwrap(), key);
    let renewed = std::fs::read_to_string(dir.join("token")).unwrap();
    assert_ne!(renewed, token);
    // The config file is not touched by --auth workload_identity_federation.
    assert!(
        !std::fs::read_to_string(w.config())
            .unwrap()
            .contains("security_token_file")
    );

    // A refusal is one line, too.
    std::fs::remove_file(dir.join("token")).unwrap();
    w.emu
        .identity_domain()
        .set_trust_active("gh", false)
        .unwrap();
    let r = run(w.ns_get("workload_identity_federation", "ci")).await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: workload_identity_federation: the identity propagation trust for issuer {ISSUER} is inactive (the identity propagation trust \"gh\" for issuer \"{ISSUER}\" is inactive): activate it in the domain\n"
        )
    );

    // A profile that is not a WIF profile.
    let r = run(w.ns_get("workload_identity_federation", "DEFAULT")).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.starts_with(&format!(
            "ERROR: profile [DEFAULT] of {} is not a workload identity federation profile",
            w.config().display()
        )),
        "{}",
        r.stderr
    );
}

/// A shell loop of `ociauth os ns get --auth security_token --profile P` once a second.
fn ns_loop(w: &World, profile: &str, n: u32) -> String {
    format!(
        "for i in $(seq {n}); do ociauth os ns get --auth security_token --profile {profile} --endpoint {} --no-retry >/dev/null || exit 1; sleep 1; done; echo done",
        w.url()
    )
}

fn lifetimes(federation: u64, session: u64) -> TokenLifetimes {
    TokenLifetimes {
        federation: Duration::from_secs(federation),
        session: Duration::from_secs(session),
        ..TokenLifetimes::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_keeps_a_wif_profile_fresh_across_several_lifetimes() {
    let w = World::start_with(lifetimes(4, 3600)).await;
    let subject = w.write_file("jwt", &w.idp.token(json!({})));
    w.write_wif_profile("ci", &subject);
    let config = w.config();
    // The command does not name the config file: OCI_CLI_CONFIG_FILE carries it.
    let r = run(w.cmd(&[
        "exec",
        "--profile",
        "ci",
        "--config-file",
        config.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &ns_loop(&w, "ci", 12),
    ]))
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "done\n", ""),
        "{r:?}"
    );
    let log = w.log_text();
    assert_eq!(w.count("GET /n 200 "), 12, "{log}");
    assert!(!log.contains(" 401 "), "{log}");
    assert!(w.exchanges() >= 3, "4 s tokens over ~12 s: {log}");

    // The WIF profile now also carries the session keys (its own lines kept first).
    let dir = w.sessions().join("ci");
    let key =
        PrivateKey::from_pem(&std::fs::read(dir.join("oci_api_key.pem")).unwrap(), None).unwrap();
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        format!(
            "[ci]\ntoken_exchange_domain_url={}\ntoken_exchange_client_id={CLIENT_ID}\ntoken_exchange_client_secret_file={}\nworkload_identity_token_path={}\nregion=us-ashburn-1\nfingerprint={}\nkey_file={}\ntenancy={}\nsecurity_token_file={}\n",
            w.url(),
            w.file("secret"),
            subject.display(),
            key.fingerprint(),
            dir.join("oci_api_key.pem").display(),
            w.emu.state().tenancy_id(),
            dir.join("token").display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_refreshes_a_session_profile_while_the_session_lasts() {
    let w = World::start_with(lifetimes(3600, 3)).await;
    w.write_session_profile("sess", Duration::from_secs(3), Duration::from_secs(600));
    let r = run(w.cmd(&[
        "exec",
        "--profile",
        "sess",
        "--config-file",
        w.config().to_str().unwrap(),
        "--endpoint",
        &w.url(),
        "--",
        "sh",
        "-c",
        &ns_loop(&w, "sess", 8),
    ]))
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "done\n", ""),
        "{r:?}"
    );
    let log = w.log_text();
    assert_eq!(w.count("GET /n 200 "), 8, "{log}");
    assert!(!log.contains(" 401 "), "{log}");
    assert!(
        w.count("POST /v1/authentication/refresh 200 ") >= 2,
        "3 s tokens over ~8 s: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_says_when_a_session_can_no_longer_be_refreshed() {
    let w = World::start_with(lifetimes(3600, 2)).await;
    w.write_session_profile("short", Duration::from_secs(2), Duration::from_secs(4));
    let r = run(w.cmd(&[
        "exec",
        "--profile",
        "short",
        "--config-file",
        w.config().to_str().unwrap(),
        "--endpoint",
        &w.url(),
        "--",
        "sh",
        "-c",
        &ns_loop(&w, "short", 8),
    ]))
    .await;
    // The command's own failure (the token expired) is the exit status.
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("WARNING: ociauth exec: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(
        warnings[0].starts_with(
            "WARNING: ociauth exec: the session token of profile short can no longer be refreshed: "
        ),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].ends_with(
            "(start a new session with `ociauth session authenticate --profile-name short`)"
        ),
        "{}",
        warnings[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_passes_environment_exit_codes_and_signals() {
    let w = World::start().await;
    w.write_session_profile("p", Duration::from_secs(3600), Duration::from_secs(7200));
    let config = w.config();
    let exec = |args: &[&str]| {
        let mut v = vec![
            "exec",
            "--profile",
            "p",
            "--config-file",
            config.to_str().unwrap(),
            "--",
        ];
        v.extend_from_slice(args);
        w.cmd(&v)
    };

    let r = run(exec(&[
        "sh",
        "-c",
        "echo \"$OCI_CLI_PROFILE|$OCI_CLI_AUTH|$OCI_CLI_CONFIG_FILE\"",
    ]))
    .await;
    assert_eq!(
        (r.code, r.stdout.clone(), r.stderr.as_str()),
        (0, format!("p|security_token|{}\n", config.display()), "")
    );
    let r = run(exec(&["sh", "-c", "exit 7"])).await;
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (7, "", ""));
    let r = run(exec(&["sh", "-c", "kill -KILL $$"])).await;
    assert_eq!(r.code, 128 + 9, "{r:?}");
    let r = run(exec(&["/nonexistent/command", "x"])).await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            127,
            "ERROR: cannot run /nonexistent/command: No such file or directory (os error 2)\n"
        )
    );

    // Signals sent to ociauth reach the command's process group.
    let bin_dir = Path::new(common::BIN).parent().unwrap().to_path_buf();
    let home = w.home.path().to_path_buf();
    let config2 = config.clone();
    let signalled = move |sig: &str, script: &str| {
        let mut child = Command::new(common::BIN)
            .env_clear()
            .env(
                "PATH",
                format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
            )
            .env("HOME", &home)
            .args(["exec", "--profile", "p", "--config-file"])
            .arg(&config2)
            .args(["--", "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (status.code(), err)
    };
    let outcome = tokio::task::spawn_blocking(move || {
        (
            // A command that handles the signal: its own exit status.
            signalled(
                "TERM",
                "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done",
            ),
            // A command (here a grandchild of ociauth) killed by it: 128 + the signal.
            signalled("INT", "echo ready; sleep 30; echo not reached"),
            signalled("HUP", "echo ready; sleep 30; echo not reached"),
            signalled("TERM", "echo ready; sleep 30; echo not reached"),
        )
    })
    .await
    .unwrap();
    // (The shell may report its killed `sleep` on stderr; ociauth itself prints nothing.)
    for ((code, stderr), want) in [outcome.0, outcome.1, outcome.2, outcome.3]
        .into_iter()
        .zip([42, 128 + 2, 128 + 1, 128 + 15])
    {
        assert_eq!(code, Some(want), "{stderr}");
        assert!(
            !stderr.contains("ociauth") && !stderr.contains("ERROR"),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_refuses_profiles_it_cannot_keep_fresh() {
    let w = World::start().await;
    let r = run(w.cmd(&[
        "exec",
        "--config-file",
        w.emu.config_path().to_str().unwrap(),
        "--",
        "true",
    ]))
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: profile [DEFAULT] of {} is neither a workload identity federation profile (token_exchange_domain_url) nor a session profile (security_token_file): ociauth exec keeps only session tokens fresh; create one with `ociauth session exchange` or `ociauth session authenticate`\n",
            w.emu.config_path().display()
        )
    );

    // An expired session cannot be kept fresh: refused before the command runs.
    w.write_session_profile("old", Duration::from_secs(1), Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = run(w.cmd(&[
        "exec",
        "--profile",
        "old",
        "--config-file",
        w.config().to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo ran",
    ]))
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{r:?}");
    assert!(
        r.stderr
            .starts_with("ERROR: the session token of profile old expired at "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.ends_with(
            "; start a new session with `ociauth session authenticate --profile-name old`\n"
        ),
        "{}",
        r.stderr
    );
}
