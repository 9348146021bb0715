//! Where the external JWT of workload identity federation comes from (spec
//! oci-principals-wif.md §5.10): a [`SubjectTokenSource`] is asked for a fresh token before every
//! exchange, so a token that the platform rotates (a projected Kubernetes token, a CI job token)
//! is always read anew.
//!
//! | source | reads |
//! |---|---|
//! | [`FileSource`] | a file, re-read every time, surrounding whitespace trimmed (Terraform's `workload_identity_token_path`) |
//! | [`EnvSource`] | an environment variable (GitLab `id_tokens`, Bitbucket `BITBUCKET_STEP_OIDC_TOKEN`) |
//! | [`CommandSource`] | the standard output of a program (a raw JWT, or JSON with `id_token`, `access_token`, `token` or `value`) |
//! | [`GithubActionsSource`] | the GitHub Actions OIDC endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`, an `audience`) |
//! | [`OidcClientCredentialsSource`] | an access token from any OAuth 2 token endpoint by the client-credentials grant (Entra ID, Okta, Keycloak…) |
//! | [`StaticSource`] | a token the caller already has |
//!
//! Tokens and secrets are held in [`SubjectToken`] and [`Secret`], whose `Debug` never shows
//! them; no error message contains them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::credentials::BoxFuture;
use crate::env::Env;
use crate::error::Error;
use crate::jwt::{self, Jwt, JwtError};

/// The provider name used in the errors of this module and of
/// [`crate::providers::workload_identity_federation`].
pub const PROVIDER: &str = "workload_identity_federation";

/// Default timeout of the HTTP sources and of a command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn error(message: impl Into<String>, transient: bool) -> Error {
    Error::Credentials {
        provider: PROVIDER,
        message: message.into(),
        transient,
    }
}

/// A secret string (a client secret). `Debug` shows `<redacted>`; zeroed on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret::new(s)
    }
}

/// An external JWT. `Debug` shows only its issuer and expiry.
#[derive(Clone)]
pub struct SubjectToken(Zeroizing<String>);

impl SubjectToken {
    /// Surrounding whitespace is removed.
    pub fn new(token: impl Into<String>) -> Self {
        let t: String = token.into();
        let trimmed = t.trim();
        if trimmed.len() == t.len() {
            Self(Zeroizing::new(t))
        } else {
            Self(Zeroizing::new(trimmed.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Header and claims, unverified.
    pub fn decode(&self) -> Result<Jwt, JwtError> {
        jwt::decode_unverified(&self.0)
    }
}

impl std::fmt::Debug for SubjectToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let jwt = self.decode().ok();
        f.debug_struct("SubjectToken")
            .field(
                "iss",
                &jwt.as_ref()
                    .and_then(|j| j.claim_str("iss").map(str::to_string)),
            )
            .field("exp", &jwt.as_ref().and_then(Jwt::exp))
            .finish_non_exhaustive()
    }
}

/// Gives a fresh external JWT for each exchange.
pub trait SubjectTokenSource: Send + Sync + std::fmt::Debug {
    /// The token (read, fetched or computed now).
    fn token(&self) -> BoxFuture<'_, Result<SubjectToken, Error>>;
    /// Where the token comes from, for messages: `file /var/run/secrets/oci/token`.
    fn describe(&self) -> String;
}

impl<T: SubjectTokenSource + ?Sized> SubjectTokenSource for Arc<T> {
    fn token(&self) -> BoxFuture<'_, Result<SubjectToken, Error>> {
        (**self).token()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A token the caller already holds.
#[derive(Debug, Clone)]
pub struct StaticSource(pub SubjectToken);

impl SubjectTokenSource for StaticSource {
    fn token(&self) -> BoxFuture<'_, Result<SubjectToken, Error>> {
        let t = self.0.clone();
        Box::pin(async move { Ok(t) })
    }
    fn describe(&self) -> String {
        "the given token".to_string()
    }
}

/// A file holding the JWT, read anew for every exchange; an empty file is an error (as in
/// Terraform).
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SubjectTokenSource for FileSource {
    fn token(&self) -> BoxFuture<'_, Result<SubjectToken, Error>> {
        Box::pin(async move {
            let bytes = Zeroizing::new(tokio::fs::read(&self.path).await.map_err(|e| {
                error(
                    format!(
                        "cannot read the subject token file {}: {e} (check workload_identity_token_path / --subject-token-file)",
                        self.path.display()
                    ),
                    false,
                )
            })?);
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                error(
                    format!(
                        "the subject token file {} is not UTF-8 text",
                        self.path.display()
                    ),
                    false,
                )
            })?;
            if text.trim().is_empty() {
                return Err(error(
                    format!(
                        "the subject token file {} is empty: it must hold the JWT from your identity provider",
                        self.path.display()
                    ),
                    false,
                ));
            }
            Ok(SubjectToken::new(text))
        })
    }
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// An environment variable holding the JWT.
#[derive(Debug, Clone)]
pub struct EnvSource {
    name: String,
    env: Arc<dyn Env>,
}

impl EnvSource {
    pub fn new(name: impl Into<String>, env: Arc<dyn Env>) -> Self {
        Self {
            name: name.into(),
            env,
        }
    }
}

impl SubjectTokenSource for EnvSource {
    fn token(&self) -> BoxFuture<'_, Result<SubjectToken, Error>> {
        Box::pin(async move {
            match self.env.var(&self.name) {
                Some(v) if !v.trim().is_empty() => Ok(SubjectToken::new(v)),
                Some(_) => Err(error(
                    format!(
                        "the environment variable {} (the subject token) is empty",
                        self.name
                    ),
                    false,
                )),
                None => Err(error(
                    format!(
                        "the environment variable {} (the subject token) is not set",
                        self.name
                    ),
                    false,
                )),
            }
        })
    }
    fn describe(&self) -> String {
        format!("environment variable {}", self.name)
    }
}

/// Take the token out of a JSON document (`id_token`, `access_token`, `token`, `value`), or the
/// text itself when it is not JSON.
fn token_from_output(text: &str) -> Option<SubjectToken> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        return ["id_token", "access_token", "token", "value"]
            .iter()
            .find_map(|k| v.get(k).and_then(|x| x.as_str()))
            .filter(|s| !s.trim().is_empty())
            .map(SubjectToken::new);
    }
    Some(SubjectToken::new(t))
}

/// A program whose standard output is the JWT (or JSON holding it). Run without a shell; its
/// standard error is shown (cut short) when it fails.
#[derive(Debug, Clone)]
pub struct CommandSource {
    program: String,
    args: Vec<String>,
    timeout: Duration,
}

impl CommandSource {
    pub fn new(program: impl Into<String>, args: Vec<String>) -> Self {
        Self {
            program: program.into(),
            args,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Split a command line on whitespace, honouring `'…'` and `"…"` quotes (no other shell
    /// syntax).
    pub fn from_command_line(line: &str) -> Result<Self, Error> {
        let words = split_words(line).ok_or_else(|| {
            error(
                format!("the command {line:?} has an unterminated quote"),
                false,
            )
        })?;
        let mut it = words.into_iter();
        let program = it
            .next()
            .ok_or_else(|| error("the subject token command is empty", false))?;
        Ok(Self::new(program, it.collect()))
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

fn split_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

impl SubjectTokenSource for CommandSource {
    fn token(&self) -> BoxFuture<'_, Result<SubjectToken, Error>> {
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new(&self.program);
            cmd.args(&self.args)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true);
            let out = tokio::time::timeout(self.timeout, cmd.output())
                .await
                .map_err(|_| {
                    error(
                        format!(
                            "the subject token command {} did not finish within {} s",
                            self.program,
                            self.timeout.as_secs()
                        ),
                        true,
                    )
                })?
                .map_err(|e| {
                    error(
                        format!("cannot run the subject token command {}: {e}", self.program),
                        false,
                    )
                })?;
            let stdout = Zeroizing::new(out.stdout);
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let mut msg: String = stderr.trim().chars().take(300).collect();
                if msg.is_empty() {
                    msg = "no error output".into();
                }
                return Err(error(
                    format!(
                        "the subject token command {} failed ({}): {msg}",
                        self.program, out.status
                    ),
                    false,
                ));
            }
            let text = std::str::from_utf8(&stdout).map_err(|_| {
                error(
                    format!(
                        "the subject token command {} printed non-UTF-8 output",
                        self.program
                    ),
                    false,
                )
            })?;
            token_from_output(text).ok_or_else(|| {
                error(
                    format!(
                        "the subject token command {} printed no token (expected a JWT, or JSON with id_token, access_token, token or value)",
                        self.program
                    ),
                    false,
                )
            })
        })
    }
    fn describe(&self) -> String {
        format!("command {}", self.program)
    }
}

/// Build the HTTP client of the sources and of the exchange: no redirects, a total timeout,
/// optional extra CA certificates.
pub fn http_client(timeout: Duration, ca_bundle: Option<&Path>) -> Result<reqwest::Client, Error> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout);
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            Error::io(
                format!("could not read the CA bundle {}", path.display()),
                e,
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::InvalidRequest(format!(
                "the CA bundle {} is not a PEM certificate file: {e}",
                path.display()
            ))
        })?;
        b = b.tls_certs_merge(certs);
    }
    b.build()
        .map_err(|e| Error::Transport(format!("could not set up the HTTP client: {e}")))
}

/// The URL without its query, for messages.
pub(crate) fn url_for_messages(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A transport error described without the URL's query (which may carry secrets).
pub(crate) fn transport_error(what: &str, url: &str, e: &reqwest::Error) -> Error {
    let mut cause = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    let verb = if e.is_timeout() {
        "timed out"
    } else {
        "failed"
    };
    error(
        format!("{what} at {} {verb}: {cause}", url_for_messages(url)),
        true,
    )
}

/// An OAuth error body `{"error", "error_description"}`, if the body is one.
pub(crate) fn oauth_error(body: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?.as_str()?.to_string();
    let d = v
        .get("error_description")
        .and_then(|d| d.as_str())
        .unwrap_or_default()
        .to_string();
    Some((e, d))
}

/// A short, printable excerpt of a body that is not an OAuth error.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s: String = s.trim().chars().take(200).collect();
    if s.is_empty() { "empty body".into() } else { s }
}

/// The GitHub Actions OIDC token of the running job (needs `permissions: id-token: write`).
///
/// `GET ${ACTIONS_ID_TOKEN_REQUEST_URL}&audience=<aud>` with
/// `Authorization: Bearer ${ACTIONS_ID_TOKEN_REQUEST_TOKEN}`; the answer is `{"value": "<JWT>"}`.
#[derive(Debug, Clone)]
pub struct GithubActionsSource {
    audience: Option<String>,
    env: Arc<dyn Env>,
    http: reqwest::Client,
}

/// The audience conventionally requested for OCI.
pub const GITHUB_DEFAULT_AUDIENCE: &str = "https://cloud.oracle.com";

impl GithubActionsSource {
    /// `audience`: `None` requests GitHub's default (the repository owner's URL).
    pub fn new(audience: Option<String>, env: Arc<dyn Env>) -> Result<Self, Error> {
        Ok(Self {
            audience,
            env,
            http: http_client(DEFAULT_TIMEOUT, None)?,
        })
    }
}

impl SubjectTokenSource for GithubActionsSource {
    fn token(&self) -> BoxFuture<'_, Result<SubjectToken, Error>> {
        Box::pin(async move {
            let need = |name: &str| {
                self.env.var(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                    error(
                        format!(
                            "{name} is not set: this is not a GitHub Actions job, or the job lacks `permissions: id-token: write`"
                        ),
                        false,
                    )
                })
            };
            let base = need("ACTIONS_ID_TOKEN_REQUEST_URL")?;
            let bearer = Zeroizing::new(need("ACTIONS_ID_TOKEN_REQUEST_TOKEN")?);
            let mut url = base.clone();
            if let Some(aud) = &self.audience {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("audience=");
                url.extend(url::form_urlencoded::byte_serialize(aud.as_bytes()));
            }
            let resp = self
                .http
                .get(&url)
                .header("authorization", format!("Bearer {}", bearer.as_str()))
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|e| transport_error("the GitHub Actions OIDC token request", &url, &e))?;
            let status = resp.status().as_u16();
            let body = Zeroizing::new(
                resp.bytes()
                    .await
                    .map_err(|e| {
                        transport_error("the GitHub Actions OIDC token request", &url, &e)
                    })?
                    .to_vec(),
            );
            if !(200..300).contains(&status) {
                return Err(error(
                    format!(
                        "the GitHub Actions OIDC endpoint {} answered HTTP {status} ({}): check `permissions: id-token: write`",
                        url_for_messages(&base),
                        body_excerpt(&body)
                    ),
                    status >= 500 || status == 429,
                ));
            }
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
                error(
                    "the GitHub Actions OIDC endpoint did not answer JSON",
                    false,
                )
            })?;
            v.get("value")
                .and_then(|x| x.as_str())
                .filter(|s| !s.trim().is_empty())
                .map(SubjectToken::new)
                .ok_or_else(|| {
                    error(
                        "the GitHub Actions OIDC endpoint's answer has no \"value\"",
                        false,
                    )
                })
        })
    }
    fn describe(&self) -> String {
        match &self.audience {
            Some(a) => format!("GitHub Actions OIDC token (audience {a})"),
            None => "GitHub Actions OIDC token".to_string(),
        }
    }
}

/// How an [`OidcClientCredentialsSource`] authenticates to the IdP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// `Authorization: Basic` (`client_secret_basic`), with id and secret form-encoded first
    /// as RFC 6749 §2.3.1 says.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form (`client_secret_post`).
    Post,
}

/// What an [`OidcClientCredentialsSource`] asks for.
#[derive(Debug, Clone)]
pub struct OidcClientCredentials {
    /// The IdP's token endpoint, e.g. `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// `scope` (space-separated), e.g. `api://<app>/.default`.
    pub scope: Option<String>,
    /// `resource` (RFC 8707 resource indicator): the audience of the token for many IdPs.
    pub resource: Option<String>,
    /// `audience` (Auth0, Okta and others).
    pub audience: Option<String>,
    pub auth: ClientAuthMethod,
}

/// An access token from an OAuth 2 token endpoint by the client-credentials grant. It must be a
/// JWT (the IdP has to issue JWT access tokens for the requested resource).
#[derive(Debug, Clone)]
pub struct OidcClientCredentialsSource {
    cfg: OidcClientCredentials,
    http: reqwest::Client,
}

impl OidcClientCredentialsSource {
    pub fn new(cfg: OidcClientCredentials) -> Result<Self, Error> {
        Self::with_http(cfg, http_client(DEFAULT_TIMEOUT, None)?)
    }
    pub fn with_http(cfg: OidcClientCredentials, http: reqwest::Client) -> Result<Self, Error> {
        if !(cfg.token_url.starts_with("https://") || cfg.token_url.starts_with("http://")) {
            return Err(error(
                format!(
                    "the OIDC token endpoint {:?} must be an http:// or https:// URL",
                    url_for_messages(&cfg.token_url)
                ),
                false,
            ));
        }
        Ok(Self { cfg, http })
    }
}

/// The form of a client-credentials grant (built apart: the serializer is not `Send`).
fn client_credentials_form(c: &OidcClientCredentials) -> Zeroizing<String> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(s) = &c.scope {
        form.append_pair("scope", s);
    }
    if let Some(r) = &c.resource {
        form.append_pair("resource", r);
    }
    if let Some(a) = &c.audience {
        form.append_pair("audience", a);
    }
    if c.auth == ClientAuthMethod::Post {
        form.append_pair("client_id", &c.client_id);
        form.append_pair("client_secret", c.client_secret.expose());
    }
    Zeroizing::new(form.finish())
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl SubjectTokenSource for OidcClientCredentialsSource {
    fn token(&self) -> BoxFuture<'_, Result<SubjectToken, Error>> {
        Box::pin(async move {
            let c = &self.cfg;
            let mut req = self
                .http
                .post(&c.token_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json");
            if c.auth == ClientAuthMethod::Basic {
                use base64::Engine as _;
                let pair = Zeroizing::new(format!(
                    "{}:{}",
                    form_encode(&c.client_id),
                    form_encode(c.client_secret.expose())
                ));
                let b64 = Zeroizing::new(
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()),
                );
                req = req.header("authorization", format!("Basic {}", b64.as_str()));
            }
            let body = client_credentials_form(c);
            let what = "the client-credentials request to the identity provider";
            let resp = req
                .body(body.as_bytes().to_vec())
                .send()
                .await
                .map_err(|e| transport_error(what, &c.token_url, &e))?;
            let status = resp.status().as_u16();
            let bytes = Zeroizing::new(
                resp.bytes()
                    .await
                    .map_err(|e| transport_error(what, &c.token_url, &e))?
                    .to_vec(),
            );
            let url = url_for_messages(&c.token_url);
            if !(200..300).contains(&status) {
                let msg = match oauth_error(&bytes) {
                    Some((e, d)) if e == "invalid_client" => format!(
                        "the identity provider at {url} rejected the client {:?} (invalid_client: {d}): check the IdP client id and secret",
                        c.client_id
                    ),
                    Some((e, d)) if e == "invalid_scope" || e == "invalid_target" => format!(
                        "the identity provider at {url} refused the requested scope/resource ({e}: {d}): check --scope and --resource/--audience"
                    ),
                    Some((e, d)) => format!(
                        "the identity provider at {url} refused the client-credentials grant: HTTP {status} {e}: {d}"
                    ),
                    None => format!(
                        "the identity provider at {url} answered HTTP {status} ({})",
                        body_excerpt(&bytes)
                    ),
                };
                return Err(error(msg, status >= 500 || status == 429));
            }
            let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
                error(
                    format!("the identity provider at {url} did not answer JSON"),
                    false,
                )
            })?;
            let token = v
                .get("access_token")
                .and_then(|t| t.as_str())
                .filter(|t| !t.trim().is_empty())
                .map(SubjectToken::new)
                .ok_or_else(|| {
                    error(
                        format!("the identity provider at {url} answered without an access_token"),
                        false,
                    )
                })?;
            if token.decode().is_err() {
                return Err(error(
                    format!(
                        "the identity provider at {url} issued an opaque access token, not a JWT: configure it to issue JWT access tokens for the requested resource/audience"
                    ),
                    false,
                ));
            }
            Ok(token)
        })
    }
    fn describe(&self) -> String {
        format!(
            "OIDC client credentials of {:?} at {}",
            self.cfg.client_id,
            url_for_messages(&self.cfg.token_url)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"get-token --aud 'a b' "c d"e"#).unwrap(),
            vec!["get-token", "--aud", "a b", "c de"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_words("''").unwrap(), vec![""]);
        assert!(split_words("'x").is_none());
    }

    #[test]
    fn output_forms() {
        assert_eq!(token_from_output(" a.b.c\n").unwrap().as_str(), "a.b.c");
        assert_eq!(
            token_from_output(r#"{"access_token":"x.y.z","expires_in":3}"#)
                .unwrap()
                .as_str(),
            "x.y.z"
        );
        assert_eq!(
            token_from_output(r#"{"value":"v.w.x"}"#).unwrap().as_str(),
            "v.w.x"
        );
        assert!(token_from_output(r#"{"nothing":1}"#).is_none());
        assert!(token_from_output("\n").is_none());
    }

    #[test]
    fn secrets_stay_hidden() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "<redacted>");
        let t = SubjectToken::new("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2kiLCJleHAiOjV9.c2ln");
        let d = format!("{t:?}");
        assert!(!d.contains("eyJ"), "{d}");
        assert!(d.contains("https://i"), "{d}");
    }
}
