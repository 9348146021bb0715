//! Requests signed with `ociauth::signer` succeed; response shapes; 404s; persistence; the
//! binary's subcommands.

mod common;

use common::*;
use oci_emulator::EmulatorConfig;

#[tokio::test]
async fn namespace_get_both_paths() {
    let h = harness().await;
    for path in ["/n", "/n/", "/n?compartmentId=ocid1.compartment.oc1..x"] {
        let resp = h.send(Req::new("GET", path)).await;
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.headers()["opc-request-id"].len(), 32);
        assert!(resp.headers().contains_key("date"));
        assert_eq!(resp.text().await.unwrap(), format!("\"{}\"", h.namespace()));
    }
    // One log line per request, with the (public) API key id.
    let lines = h.log_lines();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with(&format!("GET /n 200 key=\"{}\" opc-request-id=", h.key_id)),
        "{}",
        lines[0]
    );
}

#[tokio::test]
async fn buckets_and_objects() {
    let h = harness().await;
    let ns = h.namespace();
    let compartment = h.emu.state().compartment_id();

    let resp = h.create_bucket("b1").await;
    assert_eq!(resp.status().as_u16(), 200);
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(resp.headers()["location"], format!("/n/{ns}/b/b1").as_str());
    let v = json(resp).await;
    assert_eq!(v["name"], "b1");
    assert_eq!(v["namespace"], ns.as_str());
    assert_eq!(v["compartmentId"], compartment.as_str());
    assert_eq!(v["etag"], etag.as_str());
    assert_eq!(v["createdBy"], h.key_id.split('/').nth(1).unwrap());
    assert_eq!(v["storageTier"], "Standard");
    assert_eq!(v["publicAccessType"], "NoPublicAccess");
    assert!(
        v["id"]
            .as_str()
            .unwrap()
            .starts_with("ocid1.bucket.oc1.iad.aaaaaaaa")
    );

    // Duplicate: 409.
    let resp = h.create_bucket("b1").await;
    assert_eq!(resp.status().as_u16(), 409);
    let v = json(resp).await;
    assert_eq!(v["code"], "BucketAlreadyExists");

    h.create_bucket("b2").await;
    h.create_bucket("b3").await;
    // List with paging.
    let resp = h
        .send(Req::new(
            "GET",
            format!("/n/{ns}/b?compartmentId={compartment}&limit=2"),
        ))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["opc-next-page"], "b2");
    let v = json(resp).await;
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b1", "b2"]);
    let keys: Vec<&String> = v[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "namespace",
            "name",
            "compartmentId",
            "createdBy",
            "timeCreated",
            "etag"
        ]
    );
    let resp = h
        .send(Req::new(
            "GET",
            format!("/n/{ns}/b?compartmentId={compartment}&limit=2&page=b2"),
        ))
        .await;
    assert!(resp.headers().get("opc-next-page").is_none());
    let v = json(resp).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["name"], "b3");

    // Put (signed without body headers, as the SDKs do), with an encoded name.
    let data = b"hello world".to_vec();
    let resp = h.put_object("b1", "dir/obj%20one.txt", &data).await;
    assert_eq!(resp.status().as_u16(), 200);
    let put_etag = resp.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(
        resp.headers()["opc-content-md5"],
        "XrY7u+Ae7tCTyyK7j1rNww=="
    );
    assert!(resp.headers().contains_key("last-modified"));
    h.put_object("b1", "a.txt", b"A").await;
    h.put_object("b1", "dir/z", b"Z").await;

    // Put with the body headers signed (allowed, then verified).
    let resp = h
        .send(
            Req::new("PUT", format!("/n/{ns}/b/b1/o/signed"))
                .header("content-type", "text/plain")
                .body(b"signed body".to_vec()),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);

    // Get.
    let resp = h
        .send(Req::new("GET", format!("/n/{ns}/b/b1/o/dir/obj%20one.txt")))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["etag"], put_etag.as_str());
    assert_eq!(resp.headers()["content-md5"], "XrY7u+Ae7tCTyyK7j1rNww==");
    assert_eq!(resp.headers()["content-length"], "11");
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert!(resp.headers().contains_key("last-modified"));
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[..]);

    // Head: headers only, with the real length.
    let resp = h
        .send(Req::new(
            "HEAD",
            format!("/n/{ns}/b/b1/o/dir/obj%20one.txt"),
        ))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-length"], "11");
    assert_eq!(resp.headers()["etag"], put_etag.as_str());

    // Range.
    let resp = h
        .send(
            Req::new("GET", format!("/n/{ns}/b/b1/o/dir/obj%20one.txt"))
                .header("range", "bytes=6-"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.headers()["content-range"], "bytes 6-10/11");
    assert_eq!(resp.text().await.unwrap(), "world");

    // If-None-Match: * on an existing object fails (the CLI's no-overwrite put).
    let resp = h
        .send(
            Req::new("PUT", format!("/n/{ns}/b/b1/o/a.txt"))
                .header("if-none-match", "*")
                .body(b"again".to_vec())
                .no_body_signing(),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 412);

    // List objects: default fields (name only), then all, prefix, limit + nextStartWith, delimiter.
    let resp = h.send(Req::new("GET", format!("/n/{ns}/b/b1/o"))).await;
    let v = json(resp).await;
    assert_eq!(
        v,
        serde_json::json!({"objects": [{"name": "a.txt"}, {"name": "dir/obj one.txt"}, {"name": "dir/z"}, {"name": "signed"}]})
    );
    let resp = h
        .send(Req::new(
            "GET",
            format!("/n/{ns}/b/b1/o?fields=name%2Csize%2Cmd5%2CtimeCreated%2Cetag%2CtimeModified%2CstorageTier&prefix=dir%2F&limit=1"),
        ))
        .await;
    let v = json(resp).await;
    assert_eq!(v["nextStartWith"], "dir/z");
    let o = &v["objects"][0];
    let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "name",
            "size",
            "md5",
            "timeCreated",
            "etag",
            "storageTier",
            "timeModified"
        ]
    );
    assert_eq!(o["size"], 11);
    assert_eq!(o["etag"], put_etag.as_str());
    let resp = h
        .send(Req::new(
            "GET",
            format!("/n/{ns}/b/b1/o?start=dir%2Fz&prefix=dir%2F"),
        ))
        .await;
    let v = json(resp).await;
    assert_eq!(v, serde_json::json!({"objects": [{"name": "dir/z"}]}));
    let resp = h
        .send(Req::new("GET", format!("/n/{ns}/b/b1/o?delimiter=%2F")))
        .await;
    let v = json(resp).await;
    assert_eq!(
        v,
        serde_json::json!({"objects": [{"name": "a.txt"}, {"name": "signed"}], "prefixes": ["dir/"]})
    );

    // Delete, then 404 with Object Storage's code.
    let resp = h
        .send(Req::new("DELETE", format!("/n/{ns}/b/b1/o/a.txt")))
        .await;
    assert_eq!(resp.status().as_u16(), 204);
    let resp = h
        .send(Req::new("GET", format!("/n/{ns}/b/b1/o/a.txt")))
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"code":"ObjectNotFound","message":"The object 'a.txt' was not found in the bucket 'b1'"}"#
    );
    // Object files on disk: one per remaining object, no temporaries.
    let files = std::fs::read_dir(h.emu.state_dir().join("objects"))
        .unwrap()
        .count();
    assert_eq!(files, 3);
}

#[tokio::test]
async fn identity_regions_and_user() {
    let h = harness().await;
    let resp = h.send(Req::new("GET", "/20160918/regions")).await;
    assert_eq!(resp.status().as_u16(), 200);
    let v = json(resp).await;
    assert!(
        v.as_array()
            .unwrap()
            .contains(&serde_json::json!({"key": "IAD", "name": "us-ashburn-1"}))
    );

    let user = h.key_id.split('/').nth(1).unwrap().to_string();
    let resp = h
        .send(Req::new("GET", format!("/20160918/users/{user}")))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let v = json(resp).await;
    assert_eq!(v["id"], user.as_str());
    assert_eq!(v["name"], "emulator-user");
    assert_eq!(v["compartmentId"], h.emu.state().tenancy_id().as_str());
    assert_eq!(v["lifecycleState"], "ACTIVE");
}

#[tokio::test]
async fn not_found_shapes() {
    let h = harness().await;
    for path in [
        "/20160918/users/ocid1.user.oc1..aaaaaaaanothere".to_string(),
        "/no/such/path".to_string(),
        "/n/othernamespace/b?compartmentId=x".to_string(),
    ] {
        let resp = h.send(Req::new("GET", path.clone())).await;
        assert_eq!(resp.status().as_u16(), 404, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.headers()["opc-request-id"].len(), 32);
        assert_eq!(resp.text().await.unwrap(), NOT_FOUND, "{path}");
    }
    let resp = h
        .send(Req::new("GET", format!("/n/{}/b/nope/o", h.namespace())))
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(
        resp.text().await.unwrap(),
        format!(
            r#"{{"code":"BucketNotFound","message":"Either the bucket named 'nope' does not exist in the namespace '{}' or you are not authorized to access it"}}"#,
            h.namespace()
        )
    );
    // An unknown path without a signature is a 401, not a 404.
    assert_401(h.send_raw("GET", "/no/such/path", &[], vec![]).await).await;
}

#[tokio::test]
async fn probes_are_unauthenticated() {
    let h = harness().await;
    let resp = h.send_raw("GET", "/health", &[], vec![]).await;
    assert_eq!(resp.status().as_u16(), 200);
    let resp = h.send_raw("HEAD", "/", &[], vec![]).await;
    assert_eq!(resp.status().as_u16(), 200);
    let date = resp.headers()["date"].to_str().unwrap();
    assert!(httpdate::parse_http_date(date).is_ok());
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn state_files_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A directory the emulator creates itself gets mode 0700.
    let root = dir.path().canonicalize().unwrap().join("state");
    let r2 = root.clone();
    let h = harness_with(dir, move |c| EmulatorConfig { state_dir: r2, ..c }).await;
    let ns = h.namespace();
    let tenancy = h.emu.state().tenancy_id();

    // The generated files.
    let config = std::fs::read_to_string(root.join("config")).unwrap();
    let user = config_value(&config, "user");
    let fp = config_value(&config, "fingerprint");
    assert_eq!(
        config,
        format!(
            "[DEFAULT]\nuser={user}\nfingerprint={fp}\nkey_file={}\ntenancy={tenancy}\nregion=us-ashburn-1\n",
            root.join("keys/emulator-user.pem").display()
        )
    );
    assert!(tenancy.starts_with("ocid1.tenancy.oc1..aaaaaaaa"));
    assert!(user.starts_with("ocid1.user.oc1..aaaaaaaa"));
    let pem = std::fs::read_to_string(root.join("keys/emulator-user.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(pem.ends_with("-----END PRIVATE KEY-----\nOCI_API_KEY\n"));
    assert_eq!(h.key.bits(), 2048);
    assert_eq!(h.key.fingerprint(), fp);
    #[cfg(unix)]
    {
        assert_eq!(mode(&root.join("keys/emulator-user.pem")), 0o600);
        assert_eq!(mode(&root.join("config")), 0o600);
        assert_eq!(mode(&root.join("state.json")), 0o600);
        assert_eq!(mode(&root.join("keys")), 0o700);
        assert_eq!(mode(&root.join("objects")), 0o700);
        assert_eq!(mode(&root), 0o700);
    }

    assert_eq!(h.create_bucket("keep").await.status().as_u16(), 200);
    assert_eq!(
        h.put_object("keep", "x/y.bin", b"\x00\x01persist")
            .await
            .status()
            .as_u16(),
        200
    );

    let common::Harness { dir, emu, .. } = h;
    emu.shutdown().await;

    // Restart on the same directory: same tenancy, namespace, key, buckets and bytes.
    // A deleted config file comes back, identical.
    std::fs::remove_file(root.join("config")).unwrap();
    let r2 = root.clone();
    let h2 = harness_with(dir, move |c| EmulatorConfig { state_dir: r2, ..c }).await;
    assert_eq!(h2.namespace(), ns);
    assert_eq!(h2.emu.state().tenancy_id(), tenancy);
    assert_eq!(
        std::fs::read_to_string(root.join("config")).unwrap(),
        config
    );
    let resp = h2
        .send(Req::new("GET", format!("/n/{ns}/b/keep/o/x/y.bin")))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"\x00\x01persist");
    h2.emu.shutdown().await;
}

#[tokio::test]
async fn keys_registered_in_process_and_by_the_binary() {
    let h = harness().await;
    let ns = h.namespace();
    let bin = env!("CARGO_BIN_EXE_oci-emulator");
    let state = h.emu.state_dir().to_path_buf();

    // In process.
    let user = h.emu.state().add_user(Some("alice")).unwrap();
    let key = ociauth::keys::PrivateKey::generate().unwrap();
    let fp = h.emu.state().add_api_key(&user, &(&key).into()).unwrap();
    assert_eq!(fp, key.fingerprint());
    let mut r = Req::new("GET", "/n");
    r.key = Some(key);
    r.key_id = Some(format!("{}/{user}/{fp}", h.emu.state().tenancy_id()));
    assert_eq!(h.send(r).await.status().as_u16(), 200);

    // By the binary, while the server runs: the server picks the change up.
    let out = std::process::Command::new(bin)
        .args(["add-user", "--state"])
        .arg(&state)
        .args(["--name", "bob"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bob = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(bob.starts_with("ocid1.user.oc1..aaaaaaaa"), "{bob}");
    let key = ociauth::keys::PrivateKey::generate().unwrap();
    let pub_file = state.join("bob.pub.pem");
    std::fs::write(&pub_file, key.public_key_pem()).unwrap();
    let out = std::process::Command::new(bin)
        .args(["add-api-key", "--state"])
        .arg(&state)
        .args(["--user", &bob, "--public-key-file"])
        .arg(&pub_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", key.fingerprint())
    );
    let mut r = Req::new(
        "GET",
        format!("/n/{ns}/b?compartmentId={}", h.emu.state().compartment_id()),
    );
    r.key = Some(key);
    r.key_id = Some(format!(
        "{}/{bob}/{}",
        h.emu.state().tenancy_id(),
        r.key.as_ref().unwrap().fingerprint()
    ));
    assert_eq!(h.send(r).await.status().as_u16(), 200);
    // Bob was not lost when the server wrote its own change afterwards.
    h.create_bucket("after").await;
    assert!(h.emu.state().users().iter().any(|u| u.name == "bob"));

    // Duplicate name: error naming the fix.
    let out = std::process::Command::new(bin)
        .args(["add-user", "--state"])
        .arg(&state)
        .args(["--name", "bob"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "oci-emulator: user name \"bob\" is already taken; choose another --name\n"
    );

    // env.
    let out = std::process::Command::new(bin)
        .args(["env", "--port", "1234", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "export OCI_CLI_CONFIG_FILE='{}'\nexport OCI_CLI_ENDPOINT='http://127.0.0.1:1234'\nexport OCI_METADATA_BASE_URL='http://127.0.0.1:1234/opc/v2'\nexport OCI_CLI_FEDERATION_ENDPOINT='http://127.0.0.1:1234/v1/x509'\n",
            state.join("config").display()
        )
    );
}

#[tokio::test]
async fn ephemeral_ports_differ() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let a = oci_emulator::start(EmulatorConfig::new(d1.path()).log(log_sink().1))
        .await
        .unwrap();
    let b = oci_emulator::start(EmulatorConfig::new(d2.path()).log(log_sink().1))
        .await
        .unwrap();
    assert_ne!(a.addr().port(), b.addr().port());
    assert!(a.base_url().starts_with("http://127.0.0.1:"));
    a.shutdown().await;
    b.shutdown().await;
}

/// Read from `s` until `\r\n\r\n`; returns the head.
async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).await.unwrap(),
            1,
            "connection closed after {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(b[0]);
    }
    String::from_utf8(buf).unwrap()
}

#[tokio::test]
async fn expect_100_continue_only_after_authentication() {
    use tokio::io::AsyncWriteExt as _;
    let h = harness().await;
    let ns = h.namespace();
    h.create_bucket("b").await;
    let target = format!("/n/{ns}/b/b/o/expect");
    let mut headers = h.signed_headers(
        &Req::new("PUT", target.clone())
            .header("content-type", "application/octet-stream")
            .header("expect", "100-continue")
            .body(b"12345".to_vec())
            .no_body_signing(),
    );
    headers.push(("content-length".into(), "5".into()));
    let head = |headers: &[(String, String)]| {
        let mut s = format!("PUT {target} HTTP/1.1\r\nhost: {}\r\n", h.host());
        for (k, v) in headers {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        s.push_str("\r\n");
        s
    };
    // Authenticated: 100 Continue first, then the body, then 200.
    let mut s = tokio::net::TcpStream::connect(h.emu.addr()).await.unwrap();
    s.write_all(head(&headers).as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut s).await, "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"12345").await.unwrap();
    assert!(read_head(&mut s).await.starts_with("HTTP/1.1 200 OK\r\n"));

    // Not authenticated: the final 401 comes without a 100 and without the body being sent.
    let bad: Vec<_> = headers
        .iter()
        .filter(|(k, _)| k != "authorization")
        .cloned()
        .collect();
    let mut s = tokio::net::TcpStream::connect(h.emu.addr()).await.unwrap();
    s.write_all(head(&bad).as_bytes()).await.unwrap();
    assert!(
        read_head(&mut s)
            .await
            .starts_with("HTTP/1.1 401 Unauthorized\r\n")
    );

    let resp = h.send(Req::new("GET", target)).await;
    assert_eq!(resp.text().await.unwrap(), "12345");
}
