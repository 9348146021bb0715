//! Key-format matrix: every private key format the official SDK accepts loads in
//! `ociauth::keys::PrivateKey::from_pem`, with the fingerprint OpenSSL computes
//! (`openssl rsa -pubout -outform DER | openssl md5 -c`) and a signature identical to the Python
//! SDK's; and every way of getting it wrong gives the right `KeyError`.
//!
//! Fixtures are made at test time with the `openssl` CLI (and `oci setup keys`) in a temporary
//! directory; no key is checked in except the spec's public 1024-bit doc key.
//!
//! Documented differences from the SDK: traditional `DEK-Info: AES-192-CBC` PEM loads here but
//! not in the SDK (cryptography 50 decrypts only AES-128/256-CBC and DES-EDE3-CBC legacy PEM);
//! PBES1 encrypted PKCS#8 (`openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES`, the
//! OpenSSL 1.0 default) loads in the Python SDK but not here; it is refused with
//! `KeyError::Unsupported` whose message says how to re-encrypt the key with PBES2.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ociauth::keys::{KeyError, OCI_API_KEY_LABEL, PrivateKey};
use ociauth::signer::{self, Body, Request, SignOptions};
use serde_json::{Value, json};

const PASS: &str = "secretpass";
const DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";
const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaaexampletenancy";
const USER: &str = "ocid1.user.oc1..aaaaaaaaexampleuser";
const HOST: &str = "objectstorage.us-ashburn-1.oraclecloud.com";
const TARGET: &str = "/n/ns/b";
const BODY: &[u8] = br#"{"name":"bkt","compartmentId":"ocid1.compartment.oc1..x"}"#;

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn write(p: &Path, data: &[u8]) {
    std::fs::write(p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

/// `text` with every LF turned into CRLF.
fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 60);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// `text` followed by the `OCI_API_KEY` label and no final newline, as `oci setup keys` writes.
fn labelled(text: &[u8]) -> Vec<u8> {
    let mut out = text.to_vec();
    out.extend_from_slice(OCI_API_KEY_LABEL.as_bytes());
    out
}

struct Fixture {
    name: &'static str,
    path: PathBuf,
    pass: Option<&'static str>,
    /// Made from the base key (so its fingerprint is the base key's).
    same_key: bool,
    /// The Python SDK reads it. `false` only for traditional AES-192-CBC: cryptography 50
    /// answers "Key encrypted with unknown cipher" (it decrypts only AES-128/256-CBC and
    /// DES-EDE3-CBC legacy PEM), and the SDK reports InvalidPrivateKey. ociauth reads it.
    sdk_reads: bool,
}

/// Every format, from one RSA-2048 key unless noted.
fn make_fixtures(dir: &Path) -> (PathBuf, Vec<Fixture>) {
    let base = dir.join("base.pem");
    interop_tests::openssl(&["genrsa", "-out", &s(&base), "2048"], None);
    let b = s(&base);
    let passout = format!("pass:{PASS}");
    let mut out = Vec::new();
    let mut add = |name: &'static str, file: &str, pass: Option<&'static str>, same: bool| {
        out.push(Fixture {
            name,
            path: dir.join(file),
            pass,
            same_key: same,
            sdk_reads: file != "trad_aes192.pem",
        });
        dir.join(file)
    };
    let ossl = |args: &[&str]| {
        interop_tests::openssl(args, None);
    };

    let p = add("PKCS#1 (rsa -traditional)", "pkcs1.pem", None, true);
    ossl(&["rsa", "-in", &b, "-traditional", "-out", &s(&p)]);
    let pkcs1 = read(&p);
    let p = add("PKCS#8 (pkcs8 -topk8 -nocrypt)", "pkcs8.pem", None, true);
    ossl(&["pkcs8", "-topk8", "-nocrypt", "-in", &b, "-out", &s(&p)]);
    let pkcs8 = read(&p);
    let p = add("PKCS#8 + OCI_API_KEY label", "pkcs8_label.pem", None, true);
    write(&p, &labelled(&pkcs8));
    let p = add("PKCS#1 + OCI_API_KEY label", "pkcs1_label.pem", None, true);
    write(&p, &labelled(&pkcs1));

    let p = add(
        "PBES2 PBKDF2-SHA256 AES-256-CBC",
        "pbes2_sha256_aes256.pem",
        Some(PASS),
        true,
    );
    ossl(&[
        "pkcs8",
        "-topk8",
        "-in",
        &b,
        "-v2",
        "aes-256-cbc",
        "-v2prf",
        "hmacWithSHA256",
        "-passout",
        &passout,
        "-out",
        &s(&p),
    ]);
    let pbes2 = read(&p);
    let p = add(
        "PBES2 PBKDF2-SHA1 AES-128-CBC",
        "pbes2_sha1_aes128.pem",
        Some(PASS),
        true,
    );
    ossl(&[
        "pkcs8",
        "-topk8",
        "-in",
        &b,
        "-v2",
        "aes-128-cbc",
        "-v2prf",
        "hmacWithSHA1",
        "-passout",
        &passout,
        "-out",
        &s(&p),
    ]);
    let p = add("PBES2 scrypt", "scrypt.pem", Some(PASS), true);
    ossl(&[
        "pkcs8",
        "-topk8",
        "-in",
        &b,
        "-scrypt",
        "-passout",
        &passout,
        "-out",
        &s(&p),
    ]);
    let p = add(
        "rsa -aes128 (OpenSSL 3 default: PBES2, 8-byte salt)",
        "rsa_aes128.pem",
        Some(PASS),
        true,
    );
    ossl(&[
        "rsa",
        "-in",
        &b,
        "-aes128",
        "-passout",
        &passout,
        "-out",
        &s(&p),
    ]);
    let p = add(
        "genrsa -aes128 (its own key)",
        "genrsa_aes128.pem",
        Some(PASS),
        false,
    );
    ossl(&[
        "genrsa",
        "-aes128",
        "-passout",
        &passout,
        "-out",
        &s(&p),
        "2048",
    ]);

    for (name, file, flag) in [
        ("traditional AES-128-CBC", "trad_aes128.pem", "-aes128"),
        ("traditional AES-192-CBC", "trad_aes192.pem", "-aes192"),
        ("traditional AES-256-CBC", "trad_aes256.pem", "-aes256"),
        ("traditional DES-EDE3-CBC", "trad_des3.pem", "-des3"),
    ] {
        let p = add(name, file, Some(PASS), true);
        ossl(&[
            "rsa",
            "-in",
            &b,
            "-traditional",
            flag,
            "-passout",
            &passout,
            "-out",
            &s(&p),
        ]);
    }
    let trad = read(&dir.join("trad_aes256.pem"));

    let p = add("PKCS#1, CRLF line endings", "pkcs1_crlf.pem", None, true);
    write(&p, &crlf(&pkcs1));
    let p = add(
        "traditional AES-256-CBC, CRLF line endings",
        "trad_crlf.pem",
        Some(PASS),
        true,
    );
    write(&p, &crlf(&trad));
    let p = add(
        "PBES2 + label, CRLF line endings",
        "pbes2_label_crlf.pem",
        Some(PASS),
        true,
    );
    write(&p, &crlf(&labelled(&pbes2)));

    let garbage = b"Bag Attributes\n    localKeyID: 01 00 00 00\n    friendlyName: my key\nKey Attributes: <No Attributes>\n";
    let p = add("PKCS#8 after leading text", "garbage_pkcs8.pem", None, true);
    write(&p, &[&garbage[..], &pkcs8].concat());
    let p = add(
        "traditional encrypted after leading text",
        "garbage_trad.pem",
        Some(PASS),
        true,
    );
    write(&p, &[&garbage[..], &trad].concat());
    (base, out)
}

/// Sign the fixed request with our loaded key.
fn our_authorization(key: &PrivateKey) -> String {
    let headers = [("date", DATE)];
    let req = Request {
        method: "POST",
        target: TARGET,
        host: HOST,
        headers: &headers,
        body: Body::Bytes(BODY),
    };
    let key_id = format!("{TENANCY}/{USER}/{}", key.fingerprint());
    signer::sign(
        &req,
        &SignOptions::default(),
        &key_id,
        key,
        SystemTime::UNIX_EPOCH,
    )
    .expect("signs")
    .authorization
}

/// The SDK case signing the same fixed request with `key_file`.
fn sdk_case(key_file: &Path, pass: Option<&str>, fingerprint: &str) -> Value {
    let mut c = json!({
        "method": "POST",
        "url": format!("https://{HOST}{TARGET}"),
        "headers": [["date", DATE]],
        "body_b64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, BODY),
        "exclude_body": false,
        "key_file": s(key_file),
        "tenancy": TENANCY,
        "user": USER,
        "fingerprint": fingerprint,
    });
    if let Some(p) = pass {
        c["pass_phrase"] = json!(p);
    }
    c
}

fn sdk_authorization(result: &Value) -> Result<String, String> {
    if let Some(e) = result.get("error") {
        return Err(format!("the SDK failed: {e}"));
    }
    result["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p[0].as_str() == Some("authorization"))
        .and_then(|p| p[1].as_str())
        .map(str::to_string)
        .ok_or_else(|| "the SDK set no authorization".to_string())
}

#[test]
fn every_format_loads_with_openssl_fingerprint_and_sdk_signature() {
    let venv = interop_tests::venv();
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, fixtures) = make_fixtures(dir.path());
    let base_fp = interop_tests::openssl_fingerprint(&base, None);
    assert_eq!(base_fp.len(), 47, "openssl fingerprint {base_fp:?}");

    let mut failures = Vec::new();
    let mut loaded = Vec::new();
    for f in &fixtures {
        let pem = read(&f.path);
        let mut fail = |msg: String| failures.push(format!("{}: {msg}", f.name));
        let key = match PrivateKey::from_pem(&pem, f.pass.map(str::as_bytes)) {
            Ok(k) => k,
            Err(e) => {
                fail(format!("does not load: {e:?}"));
                continue;
            }
        };
        let expected = interop_tests::openssl_fingerprint(&f.path, f.pass);
        if key.fingerprint() != expected {
            fail(format!(
                "fingerprint {} != openssl's {expected}",
                key.fingerprint()
            ));
        }
        if f.same_key && key.fingerprint() != base_fp {
            fail(format!("not the base key ({})", key.fingerprint()));
        }
        if key.bits() != 2048 {
            fail(format!("{} bits", key.bits()));
        }
        match f.pass {
            Some(_) => {
                for none in [None, Some(&b""[..])] {
                    let got = PrivateKey::from_pem(&pem, none).map(|_| ());
                    if got != Err(KeyError::PassphraseRequired) {
                        fail(format!(
                            "passphrase {none:?}: {got:?}, expected PassphraseRequired"
                        ));
                    }
                }
                for wrong in ["wrongpass", "secretpasS", "x"] {
                    let got = PrivateKey::from_pem(&pem, Some(wrong.as_bytes())).map(|_| ());
                    if got != Err(KeyError::WrongPassphrase) {
                        fail(format!(
                            "wrong passphrase {wrong:?}: {got:?}, expected WrongPassphrase"
                        ));
                    }
                }
            }
            None => match PrivateKey::from_pem(&pem, Some(b"unused passphrase")) {
                Ok(k) if k == key => {}
                other => fail(format!(
                    "a passphrase on an unencrypted key should be ignored: {other:?}"
                )),
            },
        }
        loaded.push((f, key));
    }

    if let Some(venv) = venv {
        let cases: Vec<Value> = loaded
            .iter()
            .map(|(f, k)| sdk_case(&f.path, f.pass, k.fingerprint()))
            .collect();
        let results = interop_tests::sdk_sign(&venv, &Value::Array(cases));
        for ((f, key), r) in loaded.iter().zip(&results) {
            let ours = our_authorization(key);
            if !f.sdk_reads {
                let want = "InvalidPrivateKey: The provided key is not a private key, or the provided passphrase is incorrect.";
                if r["error"].as_str() != Some(want) {
                    failures.push(format!(
                        "{}: the SDK was expected to refuse it ({want}), got {r}",
                        f.name
                    ));
                }
                continue;
            }
            match sdk_authorization(r) {
                Ok(sdk) if sdk == ours => {}
                Ok(sdk) => failures.push(format!(
                    "{}: signature differs from the SDK's\n  sdk:  {sdk}\n  ours: {ours}",
                    f.name
                )),
                Err(e) => failures.push(format!("{}: {e}", f.name)),
            }
            if r["fingerprint"].as_str() != Some(key.fingerprint()) {
                failures.push(format!(
                    "{}: SDK fingerprint {} != ours {}",
                    f.name,
                    r["fingerprint"],
                    key.fingerprint()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems in {} key formats:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
    assert_eq!(loaded.len(), fixtures.len());
}

/// `ssh-rsa AAAA... comment` for a key, built from its modulus and exponent (RFC 4253 §6.6).
fn ssh_rsa_line(key: &PrivateKey) -> String {
    let (n, e) = key.public_components().expect("components");
    let mut blob = Vec::new();
    let mut put = |bytes: &[u8], mpint: bool| {
        let pad = mpint && bytes.first().is_some_and(|b| b & 0x80 != 0);
        let len = bytes.len() + usize::from(pad);
        blob.extend_from_slice(&u32::try_from(len).expect("len").to_be_bytes());
        if pad {
            blob.push(0);
        }
        blob.extend_from_slice(bytes);
    };
    put(b"ssh-rsa", false);
    put(&e, true);
    put(&n, true);
    format!(
        "ssh-rsa {} user@host\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, blob)
    )
}

#[test]
fn public_keys_are_refused_as_public_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("k.pem");
    interop_tests::openssl(&["genrsa", "-out", &s(&key_path), "2048"], None);
    let k = s(&key_path);
    let key = PrivateKey::from_pem(&read(&key_path), None).expect("loads");

    let spki_pem = interop_tests::openssl(&["rsa", "-in", &k, "-pubout"], None);
    let spki_der = interop_tests::openssl(&["rsa", "-in", &k, "-pubout", "-outform", "DER"], None);
    let pkcs1_pub = interop_tests::openssl(&["rsa", "-in", &k, "-RSAPublicKey_out"], None);
    assert!(String::from_utf8_lossy(&pkcs1_pub).starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    let ssh = ssh_rsa_line(&key);
    // Our ssh-rsa line is the one ssh-keygen would print, when ssh-keygen is there to ask.
    let pub_pem = dir.path().join("pub.pem");
    write(&pub_pem, &spki_pem);
    if let Ok(out) = std::process::Command::new("ssh-keygen")
        .args(["-i", "-m", "PKCS8", "-f"])
        .arg(&pub_pem)
        .output()
        && out.status.success()
    {
        let theirs = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            theirs.split_whitespace().nth(1),
            ssh.split_whitespace().nth(1),
            "ssh-rsa blob"
        );
    }

    for (name, data) in [
        ("SPKI PEM", spki_pem.clone()),
        ("SPKI PEM + label", labelled(&spki_pem)),
        ("PKCS#1 RSA PUBLIC KEY PEM", pkcs1_pub),
        ("ssh-rsa line", ssh.into_bytes()),
        ("DER SubjectPublicKeyInfo", spki_der),
    ] {
        for pass in [None, Some(&b"secretpass"[..])] {
            assert_eq!(
                PrivateKey::from_pem(&data, pass).map(|_| ()),
                Err(KeyError::PublicKey),
                "{name} (passphrase {pass:?})"
            );
        }
    }
    assert_eq!(
        KeyError::PublicKey.to_string(),
        "this is a public key, but signing needs the private key (point key_file at the private key PEM)"
    );
}

#[test]
fn garbage_is_not_pem() {
    for (name, data) in [
        ("empty", &b""[..]),
        ("whitespace", b" \n\t\r\n"),
        ("text", b"this is not a key\nOCI_API_KEY"),
        ("binary", &[0u8, 159, 146, 150, 255, 1, 2, 3][..]),
        ("label only", b"OCI_API_KEY"),
        (
            "a certificate",
            b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        ),
    ] {
        assert_eq!(
            PrivateKey::from_pem(data, None).map(|_| ()),
            Err(KeyError::NotPem),
            "{name}"
        );
    }
    assert_eq!(
        KeyError::NotPem.to_string(),
        "no PEM private key found (expected a '-----BEGIN ... PRIVATE KEY-----' block)"
    );
}

/// PBES1 (`-v1 PBE-SHA1-3DES`, OpenSSL 1.0's `-topk8` default) is not supported: the error says
/// so and how to re-encrypt, with or without a passphrase.
#[test]
fn pbes1_is_unsupported_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("k.pem");
    let pbes1 = dir.path().join("pbes1.pem");
    interop_tests::openssl(&["genrsa", "-out", &s(&base), "2048"], None);
    interop_tests::openssl(
        &[
            "pkcs8",
            "-topk8",
            "-v1",
            "PBE-SHA1-3DES",
            "-in",
            &s(&base),
            "-passout",
            &format!("pass:{PASS}"),
            "-out",
            &s(&pbes1),
        ],
        None,
    );
    let pem = read(&pbes1);
    let err = PrivateKey::from_pem(&pem, Some(PASS.as_bytes())).expect_err("PBES1 is refused");
    let KeyError::Unsupported(msg) = &err else {
        panic!("expected Unsupported, got {err:?}");
    };
    let text = err.to_string();
    assert!(msg.contains("PBES1"), "{text}");
    assert!(
        text.contains("openssl pkcs8 -topk8 -v2 aes-256-cbc"),
        "the message says how to re-encrypt: {text}"
    );
    assert!(!text.contains(PASS), "no passphrase in the message");
    // Wrong passphrase: the scheme is refused before any decryption is tried.
    assert!(matches!(
        PrivateKey::from_pem(&pem, Some(b"wrong")),
        Err(KeyError::Unsupported(_))
    ));
    // Without one too: asking for a passphrase would only lead to the same error.
    assert!(matches!(
        PrivateKey::from_pem(&pem, None),
        Err(KeyError::Unsupported(_))
    ));
    // The Python SDK does read it (the difference this test documents).
    if let Some(venv) = interop_tests::venv() {
        let key = PrivateKey::from_pem(&read(&base), None).expect("base key");
        let r = interop_tests::sdk_sign(
            &venv,
            &json!([sdk_case(&pbes1, Some(PASS), key.fingerprint())]),
        );
        assert_eq!(
            r[0]["fingerprint"].as_str(),
            Some(key.fingerprint()),
            "{}",
            r[0]
        );
    }
}

/// Run `oci setup keys` and return (private key path, printed fingerprint).
fn oci_setup_keys(venv: &Path, dir: &Path, passphrase: Option<&str>) -> (PathBuf, String) {
    use std::io::Write as _;
    let mut cmd = interop_tests::oci_cli(venv);
    cmd.args(["setup", "keys", "--output-dir"]).arg(dir);
    if let Some(p) = passphrase {
        cmd.args(["--passphrase", p]);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("oci runs");
    if let Some(mut stdin) = child.stdin.take() {
        // Without --passphrase the CLI asks twice; "N/A" means no passphrase.
        let _ = stdin.write_all(b"N/A\nN/A\n");
    }
    let out = child.wait_with_output().expect("oci finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "oci setup keys failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fp = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Public key fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint line in:\n{stdout}"))
        .trim()
        .to_string();
    (dir.join("oci_api_key.pem"), fp)
}

#[test]
fn oci_setup_keys_output_loads() {
    let Some(venv) = interop_tests::venv() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let enc_dir = dir.path().join("enc");
    let plain_dir = dir.path().join("plain");
    let (enc, enc_fp) = oci_setup_keys(&venv, &enc_dir, Some(PASS));
    let (plain, plain_fp) = oci_setup_keys(&venv, &plain_dir, None);

    let enc_pem = read(&enc);
    let enc_text = String::from_utf8_lossy(&enc_pem);
    assert!(enc_text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert!(enc_text.ends_with("-----END ENCRYPTED PRIVATE KEY-----\nOCI_API_KEY"));
    let plain_pem = read(&plain);
    let plain_text = String::from_utf8_lossy(&plain_pem);
    assert!(plain_text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(plain_text.ends_with("-----END PRIVATE KEY-----\nOCI_API_KEY"));

    let key = PrivateKey::from_pem(&enc_pem, Some(PASS.as_bytes())).expect("encrypted loads");
    assert_eq!(key.fingerprint(), enc_fp);
    assert_eq!(
        key.fingerprint(),
        interop_tests::openssl_fingerprint(&enc, Some(PASS))
    );
    assert_eq!(
        PrivateKey::from_pem(&enc_pem, None).map(|_| ()),
        Err(KeyError::PassphraseRequired)
    );
    assert_eq!(
        PrivateKey::from_pem(&enc_pem, Some(b"nope")).map(|_| ()),
        Err(KeyError::WrongPassphrase)
    );
    let plain_key = PrivateKey::from_pem(&plain_pem, None).expect("plain loads");
    assert_eq!(plain_key.fingerprint(), plain_fp);
    assert_eq!(
        PrivateKey::from_pem(&plain_pem, Some(PASS.as_bytes()))
            .expect("passphrase ignored")
            .fingerprint(),
        plain_fp
    );
    // The public key file the CLI wrote is ours too.
    let public = read(&enc_dir.join("oci_api_key_public.pem"));
    assert_eq!(String::from_utf8_lossy(&public), key.public_key_pem());

    let results = interop_tests::sdk_sign(
        &venv,
        &json!([
            sdk_case(&enc, Some(PASS), key.fingerprint()),
            sdk_case(&plain, None, plain_key.fingerprint()),
        ]),
    );
    assert_eq!(sdk_authorization(&results[0]), Ok(our_authorization(&key)));
    assert_eq!(
        sdk_authorization(&results[1]),
        Ok(our_authorization(&plain_key))
    );
}

/// The reverse direction: a key we generate and write (encrypted PKCS#8 + label, as
/// `oci setup keys` does) is loaded by the Python SDK, OpenSSL and ourselves alike.
#[test]
fn generated_key_loads_in_the_python_sdk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = PrivateKey::generate().expect("generates");
    assert_eq!(key.bits(), 2048);
    let enc_path = dir.path().join("generated_enc.pem");
    let plain_path = dir.path().join("generated.pem");
    let enc = key.to_pkcs8_pem(Some(PASS.as_bytes())).expect("encrypts");
    let plain = key.to_pkcs8_pem(None).expect("encodes");
    assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    write(&enc_path, &labelled(enc.as_bytes()));
    write(&plain_path, &labelled(plain.as_bytes()));

    // OpenSSL reads both and agrees on the fingerprint; the encryption is what the CLI writes.
    assert_eq!(
        interop_tests::openssl_fingerprint(&enc_path, Some(PASS)),
        key.fingerprint()
    );
    assert_eq!(
        interop_tests::openssl_fingerprint(&plain_path, None),
        key.fingerprint()
    );
    let asn1 = String::from_utf8_lossy(&interop_tests::openssl(
        &["asn1parse", "-in", &s(&enc_path)],
        None,
    ))
    .into_owned();
    for needle in [":PBES2", ":PBKDF2", ":hmacWithSHA256", ":aes-256-cbc"] {
        assert!(asn1.contains(needle), "{needle} missing in:\n{asn1}");
    }
    // And we read our own output back.
    let back = PrivateKey::from_pem(&read(&enc_path), Some(PASS.as_bytes())).expect("reloads");
    assert_eq!(back, key);

    let Some(venv) = interop_tests::venv() else {
        return;
    };
    // load_private_key_from_file with the passphrase, as the SDK's Signer does.
    let results = interop_tests::sdk_sign(
        &venv,
        &json!([
            sdk_case(&enc_path, Some(PASS), key.fingerprint()),
            sdk_case(&plain_path, None, key.fingerprint()),
        ]),
    );
    for r in &results {
        assert_eq!(r["fingerprint"].as_str(), Some(key.fingerprint()), "{r}");
        assert_eq!(sdk_authorization(r), Ok(our_authorization(&key)));
    }
    // The SDK also insists on the passphrase, so the file really is encrypted.
    let no_pass = interop_tests::sdk_sign(
        &venv,
        &json!([sdk_case(&enc_path, None, key.fingerprint())]),
    );
    assert_eq!(
        no_pass[0]["error"].as_str(),
        Some("MissingPrivateKeyPassphrase: The provided key requires a passphrase.")
    );
}
