//! Shared helpers: an emulator in a temp dir with a captured log, and a client that signs with
//! `ociauth::signer` and can tamper with what it sends.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use oci_emulator::{EmulatorConfig, RunningEmulator};
use ociauth::keys::PrivateKey;
use ociauth::signer::{self, Body, Request, SignOptions};

pub const NOT_AUTHENTICATED: &str = r#"{"code":"NotAuthenticated","message":"The required information to complete authentication was not provided or was incorrect."}"#;
pub const NOT_FOUND: &str = r#"{"code":"NotAuthorizedOrNotFound","message":"Authorization failed or requested resource not found."}"#;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub emu: RunningEmulator,
    pub log: Arc<Mutex<Vec<String>>>,
    pub key: PrivateKey,
    pub key_id: String,
    pub http: reqwest::Client,
}

pub fn log_sink() -> (Arc<Mutex<Vec<String>>>, oci_emulator::LogSink) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let sink: oci_emulator::LogSink = Arc::new(move |line: &str| {
        l2.lock().unwrap().push(line.to_string());
    });
    (log, sink)
}

/// Read `key=value` lines of the generated config.
pub fn config_value(config: &str, key: &str) -> String {
    config
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in config:\n{config}"))
        .to_string()
}

pub async fn harness_with(
    dir: tempfile::TempDir,
    cfg: impl FnOnce(EmulatorConfig) -> EmulatorConfig,
) -> Harness {
    let (log, sink) = log_sink();
    let emu = oci_emulator::start(cfg(EmulatorConfig::new(dir.path()).log(sink)))
        .await
        .unwrap();
    let config = std::fs::read_to_string(emu.config_path()).unwrap();
    let key_file = config_value(&config, "key_file");
    let key = PrivateKey::from_pem(&std::fs::read(key_file).unwrap(), None).unwrap();
    let key_id = format!(
        "{}/{}/{}",
        config_value(&config, "tenancy"),
        config_value(&config, "user"),
        config_value(&config, "fingerprint")
    );
    Harness {
        dir,
        emu,
        log,
        key,
        key_id,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

pub async fn harness() -> Harness {
    harness_with(tempfile::tempdir().unwrap(), |c| c).await
}

/// One request to sign and send; every field can be bent for rejection tests.
pub struct Req<'a> {
    pub method: &'a str,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub sign_body: bool,
    pub now: SystemTime,
    pub key_id: Option<String>,
    pub key: Option<PrivateKey>,
    /// Host to sign (default: the emulator's address).
    pub signed_host: Option<String>,
}

impl<'a> Req<'a> {
    pub fn new(method: &'a str, target: impl Into<String>) -> Self {
        Self {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
            sign_body: true,
            now: SystemTime::now(),
            key_id: None,
            key: None,
            signed_host: None,
        }
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = b.into();
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn no_body_signing(mut self) -> Self {
        self.sign_body = false;
        self
    }
}

impl Harness {
    pub fn host(&self) -> String {
        self.emu.addr().to_string()
    }

    /// The headers `ociauth::signer` produces for `r` (plus the caller's own).
    pub fn signed_headers(&self, r: &Req<'_>) -> Vec<(String, String)> {
        let host = r.signed_host.clone().unwrap_or_else(|| self.host());
        let hdrs: Vec<(&str, &str)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = Request {
            method: r.method,
            target: &r.target,
            host: &host,
            headers: &hdrs,
            body: Body::Bytes(&r.body),
        };
        let opts = SignOptions {
            sign_body: r.sign_body,
            ..SignOptions::default()
        };
        let key = r.key.as_ref().unwrap_or(&self.key);
        let key_id = r.key_id.as_deref().unwrap_or(&self.key_id);
        let s = signer::sign(&req, &opts, key_id, key, r.now).unwrap();
        let mut out = r.headers.clone();
        for (k, v) in s.iter() {
            if k == "host" {
                continue; // reqwest sets Host from the URL
            }
            out.push((k.to_string(), v.to_string()));
        }
        out
    }

    /// Send `target` with exactly these headers and body.
    pub async fn send_raw(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let url = format!("{}{}", self.emu.base_url(), target);
        let mut b = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        for (k, v) in headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
            b = b.body(body);
        }
        b.send().await.unwrap()
    }

    pub async fn send(&self, r: Req<'_>) -> reqwest::Response {
        let h = self.signed_headers(&r);
        self.send_raw(r.method, &r.target, &h, r.body.clone()).await
    }

    pub fn namespace(&self) -> String {
        self.emu.state().namespace()
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub async fn create_bucket(&self, name: &str) -> reqwest::Response {
        let body = format!(
            r#"{{"name": "{name}", "compartmentId": "{}"}}"#,
            self.emu.state().compartment_id()
        );
        self.send(Req::new("POST", format!("/n/{}/b", self.namespace())).body(body))
            .await
    }

    pub async fn put_object(&self, bucket: &str, name: &str, data: &[u8]) -> reqwest::Response {
        self.send(
            Req::new(
                "PUT",
                format!("/n/{}/b/{bucket}/o/{name}", self.namespace()),
            )
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .no_body_signing(),
        )
        .await
    }
}

/// Assert a 401 with the exact body, JSON content type and a request id.
pub async fn assert_401(resp: reqwest::Response) {
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let rid = resp.headers()["opc-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(rid.len(), 32, "{rid}");
    assert_eq!(resp.text().await.unwrap(), NOT_AUTHENTICATED);
}

pub async fn json(resp: reqwest::Response) -> serde_json::Value {
    let b = resp.bytes().await.unwrap();
    serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&b)))
}
