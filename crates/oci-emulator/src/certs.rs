//! X.509 for instance principals: a root CA → intermediate → leaf chain like the one behind the
//! instance metadata service (spec oci-principals-wif.md §2.4), and the checks the X.509
//! federation endpoint makes on what a client posts.
//!
//! Certificates are built with a small DER writer ([`der`]) rather than `rcgen`, because the leaf
//! subject needs several `OU` attributes (`opc-certtype:`, `opc-instance:`, `opc-compartment:`,
//! `opc-tenant:`), which `rcgen`'s distinguished-name map cannot hold. They are signed with
//! `sha256WithRSAEncryption` through [`ociauth::keys::PrivateKey::sign_sha256`] and parsed back
//! with `x509-parser`.
//!
//! Leaf subject, one attribute per RDN, in this order (the Go SDK's test fixture order):
//! `CN=<instance OCID>, OU=opc-certtype:instance, OU=opc-instance:<instance OCID>,
//! OU=opc-compartment:<compartment OCID>, OU=opc-tenant:<tenancy OCID>`; issuer
//! `CN=PKISVC Identity Intermediate r2` (as on real instances), signed by
//! `CN=Emulator Identity Root CA`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ociauth::keys::{PrivateKey, PublicKey};
use sha2::{Digest as _, Sha256};

/// Common name of the emulator's root CA.
pub const ROOT_CN: &str = "Emulator Identity Root CA";
/// Common name of the intermediate CA (the name real instance certificates carry as issuer).
pub const INTERMEDIATE_CN: &str = "PKISVC Identity Intermediate r2";

/// Why a certificate could not be made or does not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("cannot sign the certificate: {0}")]
    Sign(String),
    #[error("not a DER X.509 certificate ({0})")]
    Parse(String),
    #[error("not a PEM {label} block")]
    NotPem { label: &'static str },
}

/// A tiny DER writer: exactly what X.509 certificates need.
pub mod der {
    /// Tag, definite length, content.
    pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(content);
        out
    }
    pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }
    pub fn set(parts: &[&[u8]]) -> Vec<u8> {
        tlv(0x31, &parts.concat())
    }
    /// An OBJECT IDENTIFIER from its arcs (at least two).
    pub fn oid(arcs: &[u64]) -> Vec<u8> {
        let mut body = Vec::new();
        if arcs.len() >= 2 {
            base128(&mut body, arcs[0] * 40 + arcs[1]);
            for a in &arcs[2..] {
                base128(&mut body, *a);
            }
        }
        tlv(0x06, &body)
    }
    fn base128(out: &mut Vec<u8>, mut v: u64) {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        out.extend_from_slice(&tmp);
    }
    /// A non-negative INTEGER from big-endian magnitude bytes.
    pub fn uint(bytes: &[u8]) -> Vec<u8> {
        let skip = bytes
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(bytes.len().saturating_sub(1));
        let mut body = Vec::new();
        let b = if bytes.is_empty() {
            &[0u8][..]
        } else {
            &bytes[skip..]
        };
        if b[0] & 0x80 != 0 {
            body.push(0);
        }
        body.extend_from_slice(b);
        tlv(0x02, &body)
    }
    pub fn utf8(s: &str) -> Vec<u8> {
        tlv(0x0c, s.as_bytes())
    }
    pub fn null() -> Vec<u8> {
        vec![0x05, 0x00]
    }
    pub fn boolean(v: bool) -> Vec<u8> {
        vec![0x01, 0x01, if v { 0xff } else { 0x00 }]
    }
    pub fn octets(b: &[u8]) -> Vec<u8> {
        tlv(0x04, b)
    }
    /// A BIT STRING with no unused bits.
    pub fn bits(b: &[u8]) -> Vec<u8> {
        let mut body = vec![0u8];
        body.extend_from_slice(b);
        tlv(0x03, &body)
    }
    /// `[n] EXPLICIT`.
    pub fn explicit(n: u8, content: &[u8]) -> Vec<u8> {
        tlv(0xa0 | n, content)
    }
}

const OID_CN: &[u64] = &[2, 5, 4, 3];
const OID_OU: &[u64] = &[2, 5, 4, 11];
const OID_SHA256_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 11];
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_SKI: &[u64] = &[2, 5, 29, 14];
const OID_AKI: &[u64] = &[2, 5, 29, 35];
const OID_EKU: &[u64] = &[2, 5, 29, 37];
const OID_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];

/// Key usage bits (first byte of the BIT STRING).
const KU_DIGITAL_SIGNATURE: u8 = 0x80;
const KU_KEY_ENCIPHERMENT: u8 = 0x20;
const KU_KEY_CERT_SIGN: u8 = 0x04;
const KU_CRL_SIGN: u8 = 0x02;

/// An attribute of a distinguished name; each becomes its own RDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    Cn(String),
    Ou(String),
}

/// `Name` DER: a SEQUENCE of single-attribute RDNs, values as UTF8String.
pub fn name_der(attrs: &[Attr]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attrs
        .iter()
        .map(|a| {
            let (oid, v) = match a {
                Attr::Cn(v) => (OID_CN, v),
                Attr::Ou(v) => (OID_OU, v),
            };
            der::set(&[&der::seq(&[&der::oid(oid), &der::utf8(v)])])
        })
        .collect();
    let refs: Vec<&[u8]> = rdns.iter().map(|r| r.as_slice()).collect();
    der::seq(&refs)
}

/// UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
fn time_der(t: SystemTime) -> Vec<u8> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let dt =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (y, mo, d, h, mi, s) = (
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
    );
    if (1950..2050).contains(&y) {
        der::tlv(
            0x17,
            format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100).as_bytes(),
        )
    } else {
        der::tlv(
            0x18,
            format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes(),
        )
    }
}

/// 20-byte key identifier: SHA-256 of the SubjectPublicKeyInfo, truncated (RFC 7093 style).
fn key_id(spki_der: &[u8]) -> Vec<u8> {
    Sha256::digest(spki_der)[..20].to_vec()
}

fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        der::seq(&[&der::oid(oid), &der::boolean(true), &der::octets(value)])
    } else {
        der::seq(&[&der::oid(oid), &der::octets(value)])
    }
}

fn key_usage(bits: u8) -> Vec<u8> {
    let unused = if bits == 0 {
        0
    } else {
        bits.trailing_zeros() as u8
    };
    der::tlv(0x03, &[unused, bits])
}

/// What kind of certificate to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A CA; `Some(n)`: path length constraint.
    Ca(Option<u8>),
    /// An end entity used for client authentication (instance leaf).
    Leaf,
}

/// Everything a certificate says.
#[derive(Debug, Clone)]
pub struct CertSpec<'a> {
    pub subject: &'a [Attr],
    /// SubjectPublicKeyInfo DER of the certified key.
    pub spki_der: &'a [u8],
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub kind: Kind,
}

/// The issuer of a certificate: its subject `Name` DER, its SPKI (for the authority key id),
/// and its key.
#[derive(Debug, Clone, Copy)]
pub struct Issuer<'a> {
    pub name_der: &'a [u8],
    pub spki_der: &'a [u8],
    pub key: &'a PrivateKey,
}

fn random_serial() -> Vec<u8> {
    let mut b = uuid::Uuid::new_v4().as_bytes().to_vec();
    // Positive and without a leading zero octet.
    b[0] = (b[0] & 0x7f) | 0x01;
    b
}

/// Build and sign a certificate; `issuer` `None` makes it self-signed with `self_key`.
pub fn build(
    spec: &CertSpec<'_>,
    issuer: Option<Issuer<'_>>,
    self_key: &PrivateKey,
) -> Result<Vec<u8>, CertError> {
    let subject = name_der(spec.subject);
    let issuer = issuer.unwrap_or(Issuer {
        name_der: &subject,
        spki_der: spec.spki_der,
        key: self_key,
    });
    let alg = der::seq(&[&der::oid(OID_SHA256_RSA), &der::null()]);
    let mut exts: Vec<Vec<u8>> = Vec::new();
    match spec.kind {
        Kind::Ca(pathlen) => {
            let bc = match pathlen {
                Some(n) => der::seq(&[&der::boolean(true), &der::uint(&[n])]),
                None => der::seq(&[&der::boolean(true)]),
            };
            exts.push(extension(OID_BASIC_CONSTRAINTS, true, &bc));
            exts.push(extension(
                OID_KEY_USAGE,
                true,
                &key_usage(KU_KEY_CERT_SIGN | KU_CRL_SIGN),
            ));
        }
        Kind::Leaf => {
            exts.push(extension(OID_BASIC_CONSTRAINTS, true, &der::seq(&[])));
            exts.push(extension(
                OID_KEY_USAGE,
                true,
                &key_usage(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT),
            ));
            exts.push(extension(
                OID_EKU,
                false,
                &der::seq(&[&der::oid(OID_CLIENT_AUTH)]),
            ));
        }
    }
    exts.push(extension(
        OID_SKI,
        false,
        &der::octets(&key_id(spec.spki_der)),
    ));
    if issuer.spki_der != spec.spki_der {
        exts.push(extension(
            OID_AKI,
            false,
            &der::seq(&[&der::tlv(0x80, &key_id(issuer.spki_der))]),
        ));
    }
    let ext_refs: Vec<&[u8]> = exts.iter().map(|e| e.as_slice()).collect();
    let tbs = der::seq(&[
        &der::explicit(0, &der::uint(&[2])),
        &der::uint(&random_serial()),
        &alg,
        issuer.name_der,
        &der::seq(&[&time_der(spec.not_before), &time_der(spec.not_after)]),
        &subject,
        spec.spki_der,
        &der::explicit(3, &der::seq(&ext_refs)),
    ]);
    let sig = issuer
        .key
        .sign_sha256(&tbs)
        .map_err(|e| CertError::Sign(e.to_string()))?;
    Ok(der::seq(&[&tbs, &alg, &der::bits(&sig)]))
}

/// `-----BEGIN CERTIFICATE-----` PEM (LF line ends, 64 columns).
pub fn cert_pem(der: &[u8]) -> String {
    ociauth::keys::pem_encode("CERTIFICATE", der)
}

/// The first PEM block labelled `label` in `text`, decoded.
pub fn pem_decode(text: &str, label: &'static str) -> Result<Vec<u8>, CertError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(CertError::NotPem { label })? + begin.len();
    let stop = text[start..]
        .find(&end)
        .ok_or(CertError::NotPem { label })?
        + start;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    B64.decode(b64.as_bytes())
        .map_err(|_| CertError::NotPem { label })
}

/// Base64 of DER as the SDKs post it ("sanitized PEM": armour and newlines removed). Also takes
/// full PEM (any label) and stray whitespace.
pub fn decode_posted(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if body.is_empty() {
        return None;
    }
    B64.decode(body.as_bytes()).ok()
}

/// Unencrypted PKCS#1 `RSA PRIVATE KEY` PEM, as instance metadata serves `identity/key.pem`.
pub fn pkcs1_pem(key: &PrivateKey) -> Result<zeroize::Zeroizing<String>, CertError> {
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| CertError::Sign(e.to_string()))?;
    let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8.as_slice())
        .map_err(|e| CertError::Sign(format!("cannot read the PKCS#8 key ({e})")))?;
    Ok(zeroize::Zeroizing::new(ociauth::keys::pem_encode(
        "RSA PRIVATE KEY",
        info.private_key.as_bytes(),
    )))
}

/// Fingerprint of a certificate's DER with `:` between upper-case hex pairs.
pub fn fingerprint(der: &[u8], sha256: bool) -> String {
    let alg = if sha256 {
        &aws_lc_rs::digest::SHA256
    } else {
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY
    };
    let d = aws_lc_rs::digest::digest(alg, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What the emulator reads from a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub der: Vec<u8>,
    /// Raw DER of the to-be-signed part (what the issuer signed).
    pub tbs: Vec<u8>,
    pub signature: Vec<u8>,
    /// OID of the signature algorithm, dotted.
    pub signature_alg: String,
    pub subject_der: Vec<u8>,
    pub issuer_der: Vec<u8>,
    /// Every subject attribute value that is a string, in order.
    pub subject_values: Vec<String>,
    pub spki_der: Vec<u8>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub is_ca: bool,
}

fn ts(t: i64) -> SystemTime {
    if t >= 0 {
        UNIX_EPOCH + Duration::from_secs(t as u64)
    } else {
        UNIX_EPOCH
    }
}

impl CertInfo {
    pub fn parse(der: &[u8]) -> Result<CertInfo, CertError> {
        let (rest, c) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| CertError::Parse(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertError::Parse(
                "trailing bytes after the certificate".into(),
            ));
        }
        Ok(CertInfo {
            der: der.to_vec(),
            tbs: c.tbs_certificate.as_ref().to_vec(),
            signature: c.signature_value.data.to_vec(),
            signature_alg: c.signature_algorithm.algorithm.to_id_string(),
            subject_der: c.subject().as_raw().to_vec(),
            issuer_der: c.issuer().as_raw().to_vec(),
            subject_values: c
                .subject()
                .iter_attributes()
                .filter_map(|a| a.as_str().ok().map(str::to_string))
                .collect(),
            spki_der: c.public_key().raw.to_vec(),
            not_before: ts(c.validity().not_before.timestamp()),
            not_after: ts(c.validity().not_after.timestamp()),
            is_ca: c.is_ca(),
        })
    }

    /// The text after the first subject value starting with `prefix` (e.g. `opc-tenant:`).
    pub fn subject_field(&self, prefix: &str) -> Option<&str> {
        self.subject_values
            .iter()
            .find_map(|v| v.strip_prefix(prefix))
    }

    pub fn public_key(&self) -> Result<PublicKey, CertError> {
        PublicKey::from_spki_der(&self.spki_der).map_err(|e| CertError::Parse(e.to_string()))
    }

    /// Whether `issuer` issued this certificate: names chain and the signature verifies.
    pub fn issued_by(&self, issuer: &CertInfo) -> bool {
        if self.issuer_der != issuer.subject_der || !issuer.is_ca {
            return false;
        }
        if self.signature_alg != "1.2.840.113549.1.1.11" {
            return false;
        }
        match issuer.public_key() {
            Ok(k) => k.verify_sha256(&self.tbs, &self.signature),
            Err(_) => false,
        }
    }

    pub fn valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_oids() {
        assert_eq!(der::tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der::tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(der::oid(&[2, 5, 4, 3]), vec![0x06, 0x03, 0x55, 0x04, 0x03]);
        assert_eq!(
            der::oid(OID_SHA256_RSA),
            vec![
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b
            ]
        );
        assert_eq!(der::uint(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der::uint(&[0, 0, 5]), vec![0x02, 0x01, 0x05]);
        assert_eq!(
            key_usage(KU_KEY_CERT_SIGN | KU_CRL_SIGN),
            vec![0x03, 0x02, 0x01, 0x06]
        );
        assert_eq!(
            key_usage(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT),
            vec![0x03, 0x02, 0x05, 0xa0]
        );
    }

    #[test]
    fn chain_builds_parses_and_verifies() {
        let now = SystemTime::now();
        let day = Duration::from_secs(86400);
        let ca_key = PrivateKey::generate().unwrap();
        let int_key = PrivateKey::generate().unwrap();
        let leaf_key = PrivateKey::generate().unwrap();
        let ca_subject = [Attr::Cn(ROOT_CN.into())];
        let ca = build(
            &CertSpec {
                subject: &ca_subject,
                spki_der: ca_key.public_key_der(),
                not_before: now - day,
                not_after: now + day,
                kind: Kind::Ca(None),
            },
            None,
            &ca_key,
        )
        .unwrap();
        let ca_info = CertInfo::parse(&ca).unwrap();
        assert!(ca_info.issued_by(&ca_info));
        let int = build(
            &CertSpec {
                subject: &[Attr::Cn(INTERMEDIATE_CN.into())],
                spki_der: int_key.public_key_der(),
                not_before: now - day,
                not_after: now + day,
                kind: Kind::Ca(Some(0)),
            },
            Some(Issuer {
                name_der: &ca_info.subject_der,
                spki_der: &ca_info.spki_der,
                key: &ca_key,
            }),
            &int_key,
        )
        .unwrap();
        let int_info = CertInfo::parse(&int).unwrap();
        assert!(int_info.issued_by(&ca_info));
        let subject = [
            Attr::Cn("ocid1.instance.oc1.iad.x".into()),
            Attr::Ou("opc-certtype:instance".into()),
            Attr::Ou("opc-instance:ocid1.instance.oc1.iad.x".into()),
            Attr::Ou("opc-compartment:ocid1.compartment.oc1..c".into()),
            Attr::Ou("opc-tenant:ocid1.tenancy.oc1..t".into()),
        ];
        let leaf = build(
            &CertSpec {
                subject: &subject,
                spki_der: leaf_key.public_key_der(),
                not_before: now - day,
                not_after: now + day,
                kind: Kind::Leaf,
            },
            Some(Issuer {
                name_der: &int_info.subject_der,
                spki_der: &int_info.spki_der,
                key: &int_key,
            }),
            &leaf_key,
        )
        .unwrap();
        let info = CertInfo::parse(&leaf).unwrap();
        assert_eq!(
            info.subject_values,
            [
                "ocid1.instance.oc1.iad.x",
                "opc-certtype:instance",
                "opc-instance:ocid1.instance.oc1.iad.x",
                "opc-compartment:ocid1.compartment.oc1..c",
                "opc-tenant:ocid1.tenancy.oc1..t"
            ]
        );
        assert_eq!(
            info.subject_field("opc-tenant:"),
            Some("ocid1.tenancy.oc1..t")
        );
        assert!(info.issued_by(&int_info));
        assert!(!info.issued_by(&ca_info));
        assert!(!info.is_ca);
        assert!(info.valid_at(now));
        assert!(!info.valid_at(now + 2 * day));
        assert_eq!(
            info.public_key().unwrap().spki_der(),
            leaf_key.public_key_der()
        );
        // PEM round trip and the posted (sanitized) form.
        let pem = cert_pem(&leaf);
        assert_eq!(pem_decode(&pem, "CERTIFICATE").unwrap(), leaf);
        let sanitized: String = pem
            .replace("-----BEGIN CERTIFICATE-----", "")
            .replace("-----END CERTIFICATE-----", "")
            .replace('\n', "");
        assert_eq!(decode_posted(&sanitized).unwrap(), leaf);
        assert_eq!(decode_posted(&pem).unwrap(), leaf);
        // PKCS#1 key loads back.
        let k = pkcs1_pem(&leaf_key).unwrap();
        assert!(k.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert_eq!(PrivateKey::from_pem(k.as_bytes(), None).unwrap(), leaf_key);
        let fp = fingerprint(&leaf, false);
        assert_eq!(fp.len(), 59);
        assert_eq!(fingerprint(&leaf, true).len(), 95);
    }
}
