//! RSA private keys: PEM loading in every format the official SDKs accept, the OCI key
//! fingerprint, key generation and PEM writing.
//!
//! Formats: PKCS#1 (`RSA PRIVATE KEY`), PKCS#8 (`PRIVATE KEY`), encrypted PKCS#8
//! (`ENCRYPTED PRIVATE KEY`, PBES2 with PBKDF2-SHA256/SHA1 or scrypt) and the traditional
//! OpenSSL encrypted PEM (`Proc-Type: 4,ENCRYPTED` + `DEK-Info`, AES-128/192/256-CBC and
//! DES-EDE3-CBC). Text before the BEGIN line and after the END line (the `OCI_API_KEY` label) is
//! ignored, as the SDKs do. PBES1 encrypted PKCS#8 (`openssl pkcs8 -v1 ...`), which the Python
//! SDK reads, is refused with [`KeyError::Unsupported`] naming the re-encryption command.
//!
//! The traditional encrypted PEM is decrypted here by hand (OpenSSL's `EVP_BytesToKey` with MD5,
//! then CBC): no maintained crate implements it, and it is about thirty lines.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};
use zeroize::Zeroizing;

/// The label `oci setup keys` appends after the END line of a private key.
pub const OCI_API_KEY_LABEL: &str = "OCI_API_KEY";

/// Why a key could not be loaded or used. Never contains key material or the passphrase.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    #[error("no PEM private key found (expected a '-----BEGIN ... PRIVATE KEY-----' block)")]
    NotPem,
    #[error(
        "this is a public key, but signing needs the private key (point key_file at the private key PEM)"
    )]
    PublicKey,
    #[error(
        "the private key is encrypted and needs a passphrase (set pass_phrase in the profile, OCI_CLI_PASSPHRASE, or pass --passphrase)"
    )]
    PassphraseRequired,
    #[error("the passphrase for the encrypted private key is wrong")]
    WrongPassphrase,
    #[error("unsupported private key: {0}")]
    Unsupported(String),
    #[error("the private key is malformed: {0}")]
    Malformed(String),
    #[error("RSA signing failed")]
    SignFailed,
    #[error("could not generate an RSA key")]
    GenerateFailed,
}

/// The signing backend: aws-lc-rs (OpenSSL speed) for keys of 2048 bits and more; RustCrypto
/// `rsa` for smaller legacy keys, which aws-lc-rs refuses but OCI and the SDKs still accept
/// (the docs' own 1024-bit test key).
#[derive(Clone)]
enum Backend {
    Lc(Arc<KeyPair>),
    Small(Arc<rsa::PrivateKey>),
}

/// An RSA private key ready to sign, with its public half precomputed.
///
/// Cloning is cheap (the key pair is shared). `Debug` shows only the fingerprint.
#[derive(Clone)]
pub struct PrivateKey {
    pair: Backend,
    spki_der: Arc<[u8]>,
    fingerprint: Arc<str>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("fingerprint", &&*self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl PrivateKey {
    fn from_pair(pair: KeyPair) -> Result<Self, KeyError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Malformed("cannot encode the public key".into()))?;
        Ok(Self::assemble(Backend::Lc(Arc::new(pair)), spki.as_ref()))
    }

    fn from_small(key: rsa::PrivateKey) -> Result<Self, KeyError> {
        use rsa::pkcs8::EncodePublicKey as _;
        let spki = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|_| KeyError::Malformed("cannot encode the public key".into()))?;
        Ok(Self::assemble(
            Backend::Small(Arc::new(key)),
            spki.as_bytes(),
        ))
    }

    fn assemble(pair: Backend, spki: &[u8]) -> Self {
        Self {
            pair,
            spki_der: spki.into(),
            fingerprint: fingerprint_of_spki_der(spki).into(),
        }
    }

    /// A PKCS#8 `PrivateKeyInfo` DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        match KeyPair::from_pkcs8(der) {
            Ok(pair) => Self::from_pair(pair),
            Err(e) if e.to_string() == "TooSmall" => {
                use rsa::pkcs8::DecodePrivateKey as _;
                rsa::PrivateKey::from_pkcs8_der(der)
                    .map_err(|e| KeyError::Malformed(format!("not a valid PKCS#8 RSA key ({e})")))
                    .and_then(Self::from_small)
            }
            Err(e) => Err(classify_rejection(der, &e.to_string())),
        }
    }

    /// A PKCS#1 `RSAPrivateKey` DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        match KeyPair::from_der(der) {
            Ok(pair) => Self::from_pair(pair),
            Err(e) if e.to_string() == "TooSmall" => {
                use rsa::pkcs1::DecodeRsaPrivateKey as _;
                rsa::PrivateKey::from_pkcs1_der(der)
                    .map_err(|e| KeyError::Malformed(format!("not a valid PKCS#1 RSA key ({e})")))
                    .and_then(Self::from_small)
            }
            Err(e) => Err(KeyError::Malformed(format!(
                "not a valid PKCS#1 RSA key ({e})"
            ))),
        }
    }

    /// Load a PEM private key, with the SDK's passphrase rules: a passphrase given for a key that
    /// is not encrypted is ignored; an encrypted key without one is [`KeyError::PassphraseRequired`].
    pub fn from_pem(pem_text: &[u8], passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        let block = PemBlock::find_private(pem_text)?;
        match block.label.as_str() {
            "RSA PRIVATE KEY" => match block.dek_info()? {
                None => Self::from_pkcs1_der(&block.der),
                Some((cipher, iv)) => {
                    let pass = passphrase
                        .filter(|p| !p.is_empty())
                        .ok_or(KeyError::PassphraseRequired)?;
                    let der = legacy_decrypt(cipher, &iv, pass, &block.der)?;
                    Self::from_pkcs1_der(&der).map_err(|_| KeyError::WrongPassphrase)
                }
            },
            "PRIVATE KEY" => Self::from_pkcs8_der(&block.der),
            "ENCRYPTED PRIVATE KEY" => {
                // Refuse PBES1 up front, with or without a passphrase: asking for one first
                // would only lead to this same error.
                if let Some(scheme) = pbes1_scheme(&block.der) {
                    return Err(KeyError::Unsupported(format!(
                        "the key is encrypted with {scheme}, which ociauth does not read; \
                         re-encrypt it with PBES2: 'openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY.pem -out NEW.pem'"
                    )));
                }
                let pass = passphrase
                    .filter(|p| !p.is_empty())
                    .ok_or(KeyError::PassphraseRequired)?;
                let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(block.der.as_slice())
                    .map_err(|e| KeyError::Malformed(format!("bad encrypted PKCS#8 ({e})")))?;
                let doc = info.decrypt(pass).map_err(|e| match e {
                    pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::UnsupportedAlgorithm {
                        ..
                    })
                    | pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::AlgorithmParametersInvalid {
                        ..
                    }) => KeyError::Unsupported(format!(
                        "encryption scheme not supported ({e}); re-encrypt with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'"
                    )),
                    _ => KeyError::WrongPassphrase,
                })?;
                Self::from_pkcs8_der(doc.as_bytes()).map_err(|e| match e {
                    KeyError::Unsupported(_) => e,
                    _ => KeyError::WrongPassphrase,
                })
            }
            other => Err(KeyError::Unsupported(format!(
                "PEM block '{other}' is not an RSA private key"
            ))),
        }
    }

    /// A fresh RSA-2048 key (e = 65537), as `oci setup keys` and `oci session authenticate` make.
    pub fn generate() -> Result<Self, KeyError> {
        KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| KeyError::GenerateFailed)
            .and_then(Self::from_pair)
    }

    /// RSASSA-PKCS1-v1_5 over SHA-256 (deterministic).
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Backend::Lc(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                let rng = aws_lc_rs::rand::SystemRandom::new();
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| KeyError::SignFailed)?;
                Ok(sig)
            }
            Backend::Small(key) => key
                .pkcs1v15_sign::<rsa::sha2::Sha256>(message)
                .map_err(|_| KeyError::SignFailed),
        }
    }

    /// DER SubjectPublicKeyInfo of the public key.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// `-----BEGIN PUBLIC KEY-----` PEM, 64-column lines, trailing newline (as `cryptography` writes).
    pub fn public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// The OCI fingerprint: MD5 of the SPKI DER, lower-case hex pairs joined with `:`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Key size in bits.
    pub fn bits(&self) -> usize {
        match &self.pair {
            Backend::Lc(pair) => pair.public_modulus_len() * 8,
            Backend::Small(key) => rsa::traits::PublicKeyParts::size(key.as_ref()) * 8,
        }
    }

    /// RSA modulus and public exponent as big-endian bytes without leading zeros (for JWKs).
    pub fn public_components(&self) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
        use pkcs1::der::Decode as _;
        let spki = pkcs8::SubjectPublicKeyInfoRef::from_der(&self.spki_der)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::Malformed("public key bit string".into()))?;
        let rsa = pkcs1::RsaPublicKey::<pkcs1::UintRef<'_>>::from_der(bits)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        Ok((
            rsa.modulus.as_bytes().to_vec(),
            rsa.public_exponent.as_bytes().to_vec(),
        ))
    }

    /// Unencrypted PKCS#8 DER of the private key (secret: zeroized on drop).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let err = || KeyError::Malformed("cannot encode the private key".into());
        match &self.pair {
            Backend::Lc(pair) => Ok(Zeroizing::new(
                pair.as_der().map_err(|_| err())?.as_ref().to_vec(),
            )),
            Backend::Small(key) => {
                use rsa::pkcs8::EncodePrivateKey as _;
                Ok(Zeroizing::new(
                    key.to_pkcs8_der().map_err(|_| err())?.as_bytes().to_vec(),
                ))
            }
        }
    }

    /// PKCS#8 PEM as `oci setup keys` writes it: `PRIVATE KEY`, or with a passphrase
    /// `ENCRYPTED PRIVATE KEY` with PBES2 / PBKDF2-HMAC-SHA256 (2048 iterations, 16-byte salt) /
    /// AES-256-CBC. No label is appended here; see [`OCI_API_KEY_LABEL`].
    pub fn to_pkcs8_pem(&self, passphrase: Option<&[u8]>) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        match passphrase {
            None => Ok(Zeroizing::new(pem_encode("PRIVATE KEY", &der))),
            Some(pass) => {
                let mut salt = [0u8; 16];
                let mut iv = [0u8; 16];
                aws_lc_rs::rand::fill(&mut salt).map_err(|_| KeyError::GenerateFailed)?;
                aws_lc_rs::rand::fill(&mut iv).map_err(|_| KeyError::GenerateFailed)?;
                let params =
                    pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, &salt, iv)
                        .map_err(|e| KeyError::Malformed(e.to_string()))?;
                let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_slice())
                    .map_err(|e| KeyError::Malformed(e.to_string()))?;
                let enc = info
                    .encrypt_with_params(params, pass)
                    .map_err(|e| KeyError::Malformed(e.to_string()))?;
                Ok(Zeroizing::new(pem_encode(
                    "ENCRYPTED PRIVATE KEY",
                    enc.as_bytes(),
                )))
            }
        }
    }
}

/// A verifier for signatures made with an RSA public key (the emulator's side).
#[derive(Clone)]
pub struct PublicKey {
    spki_der: Arc<[u8]>,
    pkcs1_der: Arc<[u8]>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl PublicKey {
    /// From DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        use pkcs1::der::Decode as _;
        let spki = pkcs8::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::Malformed(format!("bad SubjectPublicKeyInfo ({e})")))?;
        if spki.algorithm.oid != pkcs1::ALGORITHM_OID {
            return Err(KeyError::Unsupported("not an RSA public key".into()));
        }
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::Malformed("public key bit string".into()))?;
        pkcs1::RsaPublicKey::<pkcs1::UintRef<'_>>::from_der(bits)
            .map_err(|e| KeyError::Malformed(format!("bad RSA public key ({e})")))?;
        Ok(Self {
            spki_der: der.into(),
            pkcs1_der: bits.into(),
        })
    }

    /// From a `PUBLIC KEY` (SPKI) PEM; trailing text is ignored.
    pub fn from_pem(text: &[u8]) -> Result<Self, KeyError> {
        let block = PemBlock::find(text, |l| l == "PUBLIC KEY")?.ok_or(KeyError::NotPem)?;
        Self::from_spki_der(&block.der)
    }

    /// From big-endian modulus and exponent (a JWK's `n` and `e`).
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        use pkcs1::der::Encode as _;
        let strip = |b: &[u8]| -> Vec<u8> {
            let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[i..].to_vec()
        };
        let (n, e) = (strip(n), strip(e));
        let n_uint = pkcs1::UintRef::new(&n).map_err(|x| KeyError::Malformed(x.to_string()))?;
        let e_uint = pkcs1::UintRef::new(&e).map_err(|x| KeyError::Malformed(x.to_string()))?;
        let rsa = pkcs1::RsaPublicKey {
            modulus: n_uint,
            public_exponent: e_uint,
        };
        let pkcs1_der = rsa
            .to_der()
            .map_err(|x| KeyError::Malformed(x.to_string()))?;
        let bit_string = pkcs1::der::asn1::BitStringRef::from_bytes(&pkcs1_der)
            .map_err(|x| KeyError::Malformed(x.to_string()))?;
        let spki = pkcs8::SubjectPublicKeyInfoRef {
            algorithm: pkcs8::AlgorithmIdentifierRef {
                oid: pkcs1::ALGORITHM_OID,
                parameters: Some(pkcs1::der::asn1::AnyRef::NULL),
            },
            subject_public_key: bit_string,
        };
        let der = spki
            .to_der()
            .map_err(|x| KeyError::Malformed(x.to_string()))?;
        Self::from_spki_der(&der)
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub fn fingerprint(&self) -> String {
        fingerprint_of_spki_der(&self.spki_der)
    }

    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// Verify an RSASSA-PKCS1-v1_5 SHA-256 signature (keys of 1024 to 8192 bits).
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        use aws_lc_rs::signature::{
            RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, UnparsedPublicKey,
        };
        UnparsedPublicKey::new(
            &RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            &*self.pkcs1_der,
        )
        .verify(message, signature)
        .is_ok()
    }
}

impl From<&PrivateKey> for PublicKey {
    fn from(k: &PrivateKey) -> Self {
        // The SPKI came from aws-lc itself, so it always parses.
        match PublicKey::from_spki_der(k.public_key_der()) {
            Ok(p) => p,
            Err(_) => PublicKey {
                spki_der: k.spki_der.clone(),
                pkcs1_der: Arc::from(&[][..]),
            },
        }
    }
}

/// The hash of an RSASSA-PKCS1-v1_5 signature: JWS `RS256`, `RS384`, `RS512`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsaPkcs1Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl PublicKey {
    /// Verify an RSASSA-PKCS1-v1_5 signature with the given hash.
    ///
    /// SHA-256 and SHA-512 accept keys of 1024 to 8192 bits (as [`PublicKey::verify_sha256`]);
    /// SHA-384 needs at least 2048 bits, the smallest aws-lc-rs offers for it.
    pub fn verify(&self, hash: RsaPkcs1Hash, message: &[u8], signature: &[u8]) -> bool {
        use aws_lc_rs::signature::{
            RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA384,
            UnparsedPublicKey,
        };
        let params = match hash {
            RsaPkcs1Hash::Sha256 => &RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            RsaPkcs1Hash::Sha384 => &RSA_PKCS1_2048_8192_SHA384,
            RsaPkcs1Hash::Sha512 => &RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        };
        UnparsedPublicKey::new(params, &*self.pkcs1_der)
            .verify(message, signature)
            .is_ok()
    }
}

/// MD5 of a DER SubjectPublicKeyInfo as `aa:bb:...` (16 lower-case pairs).
pub fn fingerprint_of_spki_der(spki_der: &[u8]) -> String {
    let digest = Md5::digest(spki_der);
    let mut out = String::with_capacity(47);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// PEM armour with 64-column base64 lines and a final newline.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The outer encryption algorithm of an `EncryptedPrivateKeyInfo`, when it is a PBES1 scheme
/// (PKCS#5 v1.5 `pbeWith...`, OID 1.2.840.113549.1.5.{1,3,4,6,10,11}, or PKCS#12 PBE, OID
/// 1.2.840.113549.1.12.1.*, as `openssl pkcs8 -v1 PBE-SHA1-3DES` writes): a description for the
/// error. `None` for PBES2 and for anything that does not parse (reported later).
///
/// The Python SDK reads PBES1 keys; we do not: the `pkcs5` crate implements no PBES1 scheme but
/// DES/MD5 ones, and OpenSSL 1.1+ and `oci setup keys` write PBES2. The error says how to
/// re-encrypt.
fn pbes1_scheme(der: &[u8]) -> Option<String> {
    use pkcs1::der::{Decode as _, SliceReader, asn1::AnyRef};
    let outer = AnyRef::from_der(der).ok()?;
    let mut reader = SliceReader::new(outer.value()).ok()?;
    let alg = pkcs8::AlgorithmIdentifierRef::decode(&mut reader).ok()?;
    let oid = alg.oid.to_string();
    if let Some(n) = oid.strip_prefix("1.2.840.113549.1.5.")
        && matches!(n, "1" | "3" | "4" | "6" | "10" | "11")
    {
        return Some(format!("PBES1 (PKCS#5 v1.5, OID {oid})"));
    }
    if oid.starts_with("1.2.840.113549.1.12.1.") {
        return Some(format!(
            "PBES1-style PKCS#12 PBE (OID {oid}, e.g. PBE-SHA1-3DES)"
        ));
    }
    None
}

fn classify_rejection(der: &[u8], reason: &str) -> KeyError {
    use pkcs1::der::Decode as _;
    match pkcs8::PrivateKeyInfoRef::from_der(der) {
        Ok(info) if info.algorithm.oid != pkcs1::ALGORITHM_OID => KeyError::Unsupported(format!(
            "only RSA keys can sign OCI requests (this key's algorithm is {})",
            info.algorithm.oid
        )),
        Ok(_) => KeyError::Malformed(format!("RSA key rejected ({reason})")),
        Err(e) => KeyError::Malformed(format!("not a valid PKCS#8 key ({e})")),
    }
}

/// One PEM block: label, RFC 1421 headers, decoded body.
struct PemBlock {
    label: String,
    headers: Vec<(String, String)>,
    der: Zeroizing<Vec<u8>>,
}

impl PemBlock {
    /// The first private-key block; a public key gives [`KeyError::PublicKey`].
    fn find_private(text: &[u8]) -> Result<Self, KeyError> {
        if let Some(block) = Self::find(text, |l| l.ends_with("PRIVATE KEY"))? {
            return Ok(block);
        }
        if Self::find(text, |l| l.ends_with("PUBLIC KEY"))?.is_some() {
            return Err(KeyError::PublicKey);
        }
        let trimmed = text.trim_ascii_start();
        if trimmed.starts_with(b"ssh-rsa ") || trimmed.starts_with(b"ssh-") {
            return Err(KeyError::PublicKey);
        }
        // A DER-encoded public key (SubjectPublicKeyInfo) also counts as "a public key".
        if PublicKey::from_spki_der(text).is_ok() {
            return Err(KeyError::PublicKey);
        }
        Err(KeyError::NotPem)
    }

    /// The first block whose label satisfies `want`. Lines may end in CRLF.
    fn find(text: &[u8], want: impl Fn(&str) -> bool) -> Result<Option<Self>, KeyError> {
        let text = String::from_utf8_lossy(text);
        let mut lines = text.lines().map(|l| l.trim());
        while let Some(line) = lines.next() {
            let Some(label) = line
                .strip_prefix("-----BEGIN ")
                .and_then(|r| r.strip_suffix("-----"))
            else {
                continue;
            };
            if !want(label) {
                continue;
            }
            let end = format!("-----END {label}-----");
            let mut headers = Vec::new();
            let mut body = Zeroizing::new(String::new());
            let mut in_headers = true;
            let mut closed = false;
            for l in lines.by_ref() {
                if l == end {
                    closed = true;
                    break;
                }
                if in_headers {
                    if let Some((k, v)) = l.split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                        continue;
                    }
                    if l.is_empty() {
                        continue;
                    }
                    in_headers = false;
                }
                body.push_str(l);
            }
            if !closed {
                return Err(KeyError::Malformed(format!(
                    "the PEM block has no '-----END {label}-----' line"
                )));
            }
            let der = B64
                .decode(body.as_bytes())
                .map_err(|_| KeyError::Malformed("the PEM body is not valid base64".into()))?;
            return Ok(Some(Self {
                label: label.to_string(),
                headers,
                der: Zeroizing::new(der),
            }));
        }
        Ok(None)
    }

    /// `Proc-Type: 4,ENCRYPTED` + `DEK-Info: CIPHER,IVHEX` -> (cipher, iv).
    fn dek_info(&self) -> Result<Option<(LegacyCipher, Vec<u8>)>, KeyError> {
        let encrypted = self
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("Proc-Type") && v.contains("ENCRYPTED"));
        if !encrypted {
            return Ok(None);
        }
        let dek = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("DEK-Info"))
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| KeyError::Malformed("encrypted PEM without a DEK-Info header".into()))?;
        let (name, iv_hex) = dek
            .split_once(',')
            .ok_or_else(|| KeyError::Malformed("DEK-Info is not 'CIPHER,IV'".into()))?;
        let cipher = match name.trim().to_ascii_uppercase().as_str() {
            "AES-128-CBC" => LegacyCipher::Aes128,
            "AES-192-CBC" => LegacyCipher::Aes192,
            "AES-256-CBC" => LegacyCipher::Aes256,
            "DES-EDE3-CBC" => LegacyCipher::DesEde3,
            other => {
                return Err(KeyError::Unsupported(format!(
                    "PEM encryption '{other}' (supported: AES-128/192/256-CBC, DES-EDE3-CBC)"
                )));
            }
        };
        let iv = decode_hex(iv_hex.trim())
            .filter(|iv| iv.len() == cipher.iv_len())
            .ok_or_else(|| {
                KeyError::Malformed("DEK-Info IV is not valid hex of the right length".into())
            })?;
        Ok(Some((cipher, iv)))
    }
}

#[derive(Clone, Copy)]
enum LegacyCipher {
    Aes128,
    Aes192,
    Aes256,
    DesEde3,
}

impl LegacyCipher {
    fn key_len(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes192 | Self::DesEde3 => 24,
            Self::Aes256 => 32,
        }
    }
    fn iv_len(self) -> usize {
        match self {
            Self::DesEde3 => 8,
            _ => 16,
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// OpenSSL `EVP_BytesToKey(MD5, count = 1)` with salt = first 8 bytes of the IV, then CBC decrypt
/// with PKCS#7 padding. A bad padding means a wrong passphrase.
fn legacy_decrypt(
    cipher: LegacyCipher,
    iv: &[u8],
    pass: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
    let salt = &iv[..8];
    let mut key = Zeroizing::new(Vec::with_capacity(48));
    let mut prev: Vec<u8> = Vec::new();
    while key.len() < cipher.key_len() {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(pass);
        h.update(salt);
        prev = h.finalize().to_vec();
        key.extend_from_slice(&prev);
    }
    key.truncate(cipher.key_len());
    let mut buf = Zeroizing::new(data.to_vec());
    let bad = |_| KeyError::Malformed("bad key or IV length".into());
    let plain_len = match cipher {
        LegacyCipher::Aes128 => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, iv)
            .map_err(bad)?
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
        LegacyCipher::Aes192 => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, iv)
            .map_err(bad)?
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
        LegacyCipher::Aes256 => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, iv)
            .map_err(bad)?
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
        LegacyCipher::DesEde3 => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, iv)
            .map_err(bad)?
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
    }
    .map_err(|_| KeyError::WrongPassphrase)?;
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 128, "short form lengths only");
        let mut v = vec![tag, content.len() as u8];
        v.extend_from_slice(content);
        v
    }

    /// An `ENCRYPTED PRIVATE KEY` PEM whose EncryptedPrivateKeyInfo uses `oid_der` (the OID's
    /// content bytes) with PBES1 parameters (salt, iteration count).
    fn encrypted_pem_with(oid_der: &[u8]) -> String {
        let params = [tlv(0x04, &[7u8; 8]), tlv(0x02, &[0x08, 0x00])].concat();
        let alg = [tlv(0x06, oid_der), tlv(0x30, &params)].concat();
        let der = tlv(0x30, &[tlv(0x30, &alg), tlv(0x04, &[0x55; 32])].concat());
        pem_encode("ENCRYPTED PRIVATE KEY", &der)
    }

    #[test]
    fn pbes1_is_unsupported_with_or_without_a_passphrase() {
        // 1.2.840.113549.1.12.1.3 pbeWithSHAAnd3-KeyTripleDES-CBC (openssl -v1 PBE-SHA1-3DES).
        let pkcs12 =
            encrypted_pem_with(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03]);
        // 1.2.840.113549.1.5.3 pbeWithMD5AndDES-CBC.
        let pkcs5 = encrypted_pem_with(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x03]);
        for (pem, oid) in [
            (&pkcs12, "1.2.840.113549.1.12.1.3"),
            (&pkcs5, "1.2.840.113549.1.5.3"),
        ] {
            for pass in [None, Some(&b"secretpass"[..])] {
                let err = PrivateKey::from_pem(pem.as_bytes(), pass).unwrap_err();
                let KeyError::Unsupported(msg) = &err else {
                    panic!("expected Unsupported, got {err:?}");
                };
                assert!(msg.contains("PBES1"), "{msg}");
                assert!(msg.contains(oid), "{msg}");
                assert!(
                    err.to_string().ends_with(
                        "re-encrypt it with PBES2: 'openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY.pem -out NEW.pem'"
                    ),
                    "{err}"
                );
                assert!(!err.to_string().contains("secretpass"));
            }
        }
    }

    #[test]
    fn pbes2_is_not_taken_for_pbes1() {
        let key =
            PrivateKey::from_pem(include_bytes!("../tests/data/doc_key_pkcs1.pem"), None).unwrap();
        let pem = key.to_pkcs8_pem(Some(b"pw")).unwrap();
        let block = PemBlock::find_private(pem.as_bytes()).unwrap();
        assert_eq!(pbes1_scheme(&block.der), None);
        assert_eq!(
            PrivateKey::from_pem(pem.as_bytes(), None).map(|_| ()),
            Err(KeyError::PassphraseRequired)
        );
        assert_eq!(
            PrivateKey::from_pem(pem.as_bytes(), Some(b"pw")).unwrap(),
            key
        );
    }
}
