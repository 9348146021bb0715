//! API-key provider: a user's RSA key, key id `tenancy/user/fingerprint`.
//!
//! The key is loaded once, when the provider is built; the credentials never expire, so this
//! provider needs no [`crate::cache::CachingProvider`].
//!
//! Like the official SDKs, the provider signs with the *configured* fingerprint and never checks
//! it against the key ([`ApiKeyProvider::fingerprint_warning`] reports a mismatch for callers
//! that want to warn).

use std::path::PathBuf;

use crate::credentials::{BoxFuture, Credentials, CredentialsProvider};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;

/// The profile values an API-key provider is built from. `key_file` must already be expanded
/// (`~` resolved); `key_content`, when non-empty, wins over `key_file` (PySDK `Signer`).
#[derive(Clone, Default)]
pub struct ApiKeyConfig {
    pub tenancy: String,
    pub user: String,
    pub fingerprint: String,
    pub key_file: Option<PathBuf>,
    pub key_content: Option<String>,
    pub pass_phrase: Option<String>,
}

impl std::fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyConfig")
            .field("tenancy", &self.tenancy)
            .field("user", &self.user)
            .field("fingerprint", &self.fingerprint)
            .field("key_file", &self.key_file)
            .field("key_content", &self.key_content.as_ref().map(|_| "<set>"))
            .field("pass_phrase", &self.pass_phrase.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ApiKeyConfig {
    /// The API-key fields of a config profile (after `config::validate_api_key`). A missing
    /// `user`, `tenancy` or `fingerprint` is reported as the config file's validation error.
    pub fn from_profile(
        profile: &crate::config::Profile,
        env: &dyn crate::env::Env,
    ) -> Result<Self> {
        let need = |key: &str| -> Result<String> {
            profile
                .get(key)
                .map(str::to_string)
                .ok_or_else(|| Error::Credentials {
                    provider: "api_key",
                    message: format!(
                        "the profile has no '{key}'; add it to the config file or set OCI_CLI_{}",
                        key.to_ascii_uppercase()
                    ),
                    transient: false,
                })
        };
        Ok(Self {
            tenancy: need("tenancy")?,
            user: need("user")?,
            fingerprint: need("fingerprint")?,
            key_file: profile.path("key_file", env),
            key_content: profile.get("key_content").map(str::to_string),
            pass_phrase: profile.get("pass_phrase").map(str::to_string),
        })
    }
}

/// Signs with a user's API key. `Debug` shows the key id and the key's fingerprint only.
#[derive(Debug, Clone)]
pub struct ApiKeyProvider {
    credentials: Credentials,
    fingerprint_warning: Option<String>,
}

/// The path an error names when the key came from `key_content` rather than a file.
const KEY_CONTENT_NAME: &str = "key_content";

impl ApiKeyProvider {
    /// Load the private key and build the provider.
    ///
    /// Errors name the key file (or `key_content`): unreadable file ([`Error::Io`]), bad PEM,
    /// missing or wrong passphrase ([`Error::KeyFile`]).
    pub fn new(cfg: ApiKeyConfig) -> Result<Self> {
        let pass = cfg
            .pass_phrase
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(str::as_bytes);
        let key = match (cfg.key_content.as_deref(), cfg.key_file.as_ref()) {
            (Some(content), _) if !content.is_empty() => {
                PrivateKey::from_pem(content.as_bytes(), pass).map_err(|source| Error::KeyFile {
                    path: PathBuf::from(KEY_CONTENT_NAME),
                    source,
                })?
            }
            (_, Some(path)) => {
                let pem = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| {
                    Error::io(
                        format!(
                            "could not read the private key file {} (key_file); check the path and its permissions",
                            path.display()
                        ),
                        e,
                    )
                })?);
                PrivateKey::from_pem(&pem, pass).map_err(|source| Error::KeyFile {
                    path: path.clone(),
                    source,
                })?
            }
            _ => {
                return Err(Error::Credentials {
                    provider: "api_key",
                    message: "no private key: set key_file (or key_content) in the profile"
                        .to_string(),
                    transient: false,
                });
            }
        };
        for (field, value) in [
            ("tenancy", &cfg.tenancy),
            ("user", &cfg.user),
            ("fingerprint", &cfg.fingerprint),
        ] {
            if value.trim().is_empty() {
                return Err(Error::Credentials {
                    provider: "api_key",
                    message: format!("the profile has no {field}; set it to use API-key auth"),
                    transient: false,
                });
            }
        }
        Ok(Self::from_key(
            &cfg.tenancy,
            &cfg.user,
            &cfg.fingerprint,
            key,
        ))
    }

    /// A provider for a key already in memory.
    pub fn from_key(tenancy: &str, user: &str, fingerprint: &str, key: PrivateKey) -> Self {
        let fingerprint = fingerprint.trim();
        let fingerprint_warning = (!fingerprint.eq_ignore_ascii_case(key.fingerprint())).then(|| {
            format!(
                "the configured fingerprint {fingerprint} does not match the private key's fingerprint {}; \
                 OCI will reject the signature unless the fingerprint names this key",
                key.fingerprint()
            )
        });
        Self {
            credentials: Credentials::api_key(tenancy.trim(), user.trim(), fingerprint, key),
            fingerprint_warning,
        }
    }

    /// A warning when the configured fingerprint is not the key's (the SDKs never check it; the
    /// provider still signs with the configured one).
    pub fn fingerprint_warning(&self) -> Option<&str> {
        self.fingerprint_warning.as_deref()
    }

    /// The credentials this provider hands out.
    pub fn snapshot(&self) -> &Credentials {
        &self.credentials
    }
}

impl CredentialsProvider for ApiKeyProvider {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials>> {
        let c = self.credentials.clone();
        Box::pin(async move { Ok(c) })
    }

    fn name(&self) -> &'static str {
        "api_key"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(key_file: Option<PathBuf>, key_content: Option<String>) -> ApiKeyConfig {
        ApiKeyConfig {
            tenancy: "ocid1.tenancy.oc1..t".into(),
            user: "ocid1.user.oc1..u".into(),
            fingerprint: "aa:bb".into(),
            key_file,
            key_content,
            pass_phrase: None,
        }
    }

    #[test]
    fn key_id_uses_configured_fingerprint_and_warns_on_mismatch() {
        let key = PrivateKey::generate().unwrap();
        let pem = key.to_pkcs8_pem(None).unwrap();
        let p = ApiKeyProvider::new(cfg(None, Some(pem.to_string()))).unwrap();
        assert_eq!(
            p.snapshot().key_id(),
            "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb"
        );
        assert!(p.fingerprint_warning().unwrap().contains(key.fingerprint()));
        let ok = ApiKeyProvider::from_key("t", "u", key.fingerprint(), key.clone());
        assert_eq!(ok.fingerprint_warning(), None);
    }

    #[test]
    fn key_content_wins_over_key_file() {
        let key = PrivateKey::generate().unwrap();
        let pem = key.to_pkcs8_pem(None).unwrap();
        let p = ApiKeyProvider::new(cfg(
            Some(PathBuf::from("/nonexistent/key.pem")),
            Some(pem.to_string()),
        ))
        .unwrap();
        assert_eq!(p.snapshot().private_key(), &key);
    }

    #[test]
    fn errors_name_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = ApiKeyProvider::new(cfg(Some(missing.clone()), None)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        assert!(
            msg.starts_with("could not read the private key file"),
            "{msg}"
        );

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a key").unwrap();
        let e = ApiKeyProvider::new(cfg(Some(garbage.clone()), None)).unwrap_err();
        assert!(matches!(
            &e,
            Error::KeyFile { path, source: crate::keys::KeyError::NotPem } if path == &garbage
        ));

        let key = PrivateKey::generate().unwrap();
        let enc = key.to_pkcs8_pem(Some(b"secret-pass")).unwrap();
        let encf = dir.path().join("enc.pem");
        std::fs::write(&encf, enc.as_bytes()).unwrap();
        let e = ApiKeyProvider::new(cfg(Some(encf.clone()), None)).unwrap_err();
        assert!(matches!(
            &e,
            Error::KeyFile {
                source: crate::keys::KeyError::PassphraseRequired,
                ..
            }
        ));
        let mut c = cfg(Some(encf), None);
        c.pass_phrase = Some("secret-pass".into());
        assert!(!format!("{c:?}").contains("secret-pass"));
        let p = ApiKeyProvider::new(c).unwrap();
        assert_eq!(p.snapshot().private_key(), &key);
    }

    #[test]
    fn no_key_is_a_clear_error() {
        let e = ApiKeyProvider::new(cfg(None, Some(String::new()))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "api_key: no private key: set key_file (or key_content) in the profile"
        );
    }
}
