//! `ociauth` runs that need no server: `setup keys`, usage errors, and every bad-input case that
//! must end in one clear `ERROR:` line (exit 1) or a usage error (exit 2), never a panic.

mod common;

use common::{Cmd, api_key, closed_port, config_text, mode, write};
use ociauth::PrivateKey;
use ociauth::keys::PublicKey;

const INSTRUCTIONS: &str = "\n\n    If you haven't already uploaded your API Signing public key through the\n    console, follow the instructions on the page linked below in the section\n    'How to upload the public key':\n\n        https://docs.cloud.oracle.com/Content/API/Concepts/apisigningkey.htm#How2\n\n\n";

#[test]
fn setup_keys_writes_the_cli_files_and_output() {
    let home = tempfile::tempdir().unwrap();
    let out_dir = home.path().join("new/keys");
    let r = Cmd::new(
        home.path(),
        &[
            "setup",
            "keys",
            "--output-dir",
            out_dir.to_str().unwrap(),
            "--passphrase",
            "s3cret",
        ],
    )
    .run();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "");
    let public = out_dir.join("oci_api_key_public.pem");
    let private = out_dir.join("oci_api_key.pem");
    let fp = PublicKey::from_pem(&std::fs::read(&public).unwrap())
        .unwrap()
        .fingerprint();
    assert_eq!(
        r.stdout,
        format!(
            "Public key written to: {}\nPrivate key written to: {}\nPublic key fingerprint: {fp}\n{INSTRUCTIONS}",
            public.display(),
            private.display()
        )
    );
    // Modes: files 0600, every created directory 0700.
    assert_eq!(mode(&public), 0o600);
    assert_eq!(mode(&private), 0o600);
    assert_eq!(mode(&out_dir), 0o700);
    assert_eq!(mode(out_dir.parent().unwrap()), 0o700);
    // PKCS#8, encrypted, the label appended without a newline, loadable with the passphrase.
    let pem = std::fs::read_to_string(&private).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{pem}"
    );
    assert!(pem.ends_with("-----END ENCRYPTED PRIVATE KEY-----\nOCI_API_KEY"));
    let key = PrivateKey::from_pem(pem.as_bytes(), Some(b"s3cret")).unwrap();
    assert_eq!(key.fingerprint(), fp);
    assert_eq!(key.bits(), 2048);
    assert!(PrivateKey::from_pem(pem.as_bytes(), None).is_err());
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 2);
}

#[test]
fn setup_keys_passphrase_from_stdin_file_and_piped_answers() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("k");
    let d = dir.to_str().unwrap();
    // --passphrase-file - reads the first line of stdin (without its newline).
    let r = Cmd::new(
        home.path(),
        &[
            "setup",
            "keys",
            "--output-dir",
            d,
            "--passphrase-file",
            "-",
            "--key-name",
            "a",
        ],
    )
    .stdin(b"pw line\nignored\n")
    .run();
    assert_eq!(r.code, 0, "{r:?}");
    let pem = std::fs::read(dir.join("a.pem")).unwrap();
    assert!(PrivateKey::from_pem(&pem, Some(b"pw line")).is_ok());
    // No passphrase option and stdin not a terminal: the piped answers, "N/A" twice = none.
    let r = Cmd::new(
        home.path(),
        &["setup", "keys", "--output-dir", d, "--key-name", "b"],
    )
    .stdin(b"N/A\nN/A\n")
    .run();
    assert_eq!(r.code, 0, "{r:?}");
    let pem = std::fs::read_to_string(dir.join("b.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(PrivateKey::from_pem(pem.as_bytes(), None).is_ok());
    // Nothing on stdin: a clear error, nothing written, no waiting.
    let r = Cmd::new(
        home.path(),
        &["setup", "keys", "--output-dir", d, "--key-name", "c"],
    )
    .run();
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "ERROR: no passphrase: stdin is not a terminal and did not give a passphrase and its confirmation on two lines; pass --passphrase or --passphrase-file (\"N/A\" on both lines means no passphrase)\n"
    );
    assert!(!dir.join("c.pem").exists());
}

#[test]
fn setup_keys_refuses_to_overwrite_without_a_terminal() {
    let home = tempfile::tempdir().unwrap();
    let d = home.path().to_str().unwrap();
    let args = ["setup", "keys", "--output-dir", d, "--passphrase", "x"];
    assert_eq!(Cmd::new(home.path(), &args).run().code, 0);
    let before = std::fs::read(home.path().join("oci_api_key.pem")).unwrap();
    let r = Cmd::new(home.path(), &args).run();
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: {}/oci_api_key_public.pem already exists; pass --overwrite to replace it (stdin is not a terminal, so ociauth cannot ask)\n",
            d
        )
    );
    assert_eq!(
        std::fs::read(home.path().join("oci_api_key.pem")).unwrap(),
        before
    );
    let r = Cmd::new(home.path(), &args).args(&["--overwrite"]).run();
    assert_eq!(r.code, 0, "{r:?}");
    assert_ne!(
        std::fs::read(home.path().join("oci_api_key.pem")).unwrap(),
        before
    );
}

#[test]
fn setup_keys_usage_errors() {
    let home = tempfile::tempdir().unwrap();
    let r = Cmd::new(
        home.path(),
        &[
            "setup",
            "keys",
            "--passphrase",
            "a",
            "--passphrase-file",
            "b",
        ],
    )
    .run();
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: Cannot specify both passphrase and passphrase-file options\n\nUsage: ociauth setup keys [OPTIONS]\n\nFor more information, try '--help'.\n"
    );
    let r = Cmd::new(
        home.path(),
        &["setup", "keys", "--passphrase-file", "/nonexistent"],
    )
    .run();
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(
            "error: Invalid value for '--passphrase-file': '/nonexistent': No such file or directory\n"
        ),
        "{}",
        r.stderr
    );
    // Default directory is ~/.oci.
    let r = Cmd::new(home.path(), &["setup", "keys", "--passphrase", "p"]).run();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(mode(&home.path().join(".oci/oci_api_key.pem")), 0o600);
    assert_eq!(mode(&home.path().join(".oci")), 0o700);
}

#[test]
fn auth_values() {
    let home = tempfile::tempdir().unwrap();
    let r = Cmd::new(home.path(), &["os", "ns", "get"])
        .env("OCI_CLI_AUTH", "bogus")
        .run();
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with(
        "error: Invalid value for OCI_CLI_AUTH: invalid choice: bogus. (choose from api_key, security_token, instance_principal, resource_principal, oke_workload_identity, instance_obo_user, workload_identity_federation)\n\nUsage: ociauth os ns get"
    ), "{}", r.stderr);
    let r = Cmd::new(home.path(), &["os", "ns", "get", "--auth", "bogus"]).run();
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("error: invalid value 'bogus' for '--auth <METHOD>'")
    );
    // The principal methods are tested in principals.rs, WIF in wif.rs; Cloud Shell's
    // delegation tokens (instance_obo_user) are not supported yet.
    let method = "instance_obo_user";
    // The global option is accepted before the subcommand too.
    let r = Cmd::new(home.path(), &["--auth", method, "os", "ns", "get"]).run();
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: --auth {method} is not yet supported by ociauth; use --auth api_key (the default)\n"
        )
    );
    let r = Cmd::new(home.path(), &["os", "ns", "get"])
        .env("OCI_CLI_AUTH", method)
        .run();
    assert_eq!(r.code, 1);
}

const SDKCONFIG: &str = "https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm";

#[test]
fn config_errors_are_one_clear_line() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (key, fp) = api_key(dir, None, true);
    let good = write(dir, "config", config_text(&key, &fp, "").as_bytes(), 0o600);
    let port = closed_port().to_string();
    let endpoint = format!("http://127.0.0.1:{port}");
    let run = |args: &[&str]| {
        Cmd::new(
            dir,
            &["os", "ns", "get", "--no-retry", "--endpoint", &endpoint],
        )
        .args(args)
        .run()
    };

    // Missing config file (the default location).
    let r = run(&[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: Could not find config file at {}/.oci/config, please follow the instructions in the link to setup the config file {SDKCONFIG}\n",
            dir.display()
        )
    );
    // Unknown profile.
    let r = run(&["--config-file", good.to_str().unwrap(), "--profile", "NOPE"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: Profile 'NOPE' not found in config file {} For more info about config file and how to get required information, see {SDKCONFIG} (profiles in this file: DEFAULT; names are case-sensitive)\n",
            good.display()
        )
    );
    // Garbled: no section header.
    let garbled = write(dir, "garbled", b"user=x\n", 0o600);
    let r = run(&["--config-file", garbled.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: config file {} line 1: File contains no section headers; start the file with a section header such as [DEFAULT] before the first key\n",
            garbled.display()
        )
    );
    // Missing key file.
    let missing = write(
        dir,
        "missing-key",
        config_text(&dir.join("nope.pem"), &fp, "").as_bytes(),
        0o600,
    );
    let r = run(&["--config-file", missing.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: Config file {} is invalid: the key_file's value '{}' at line 4 must be a valid file path. For more info about config file and how to get required information, see {SDKCONFIG}\n",
            missing.display(),
            dir.join("nope.pem").display()
        )
    );
}

#[test]
fn malformed_ocid_and_fingerprint_print_the_cli_table() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (key, _) = api_key(dir, None, true);
    let text = config_text(&key, "AA:BB", "").replace(common::USER, "not-an-ocid");
    let cfg = write(dir, "config", text.as_bytes(), 0o600);
    let r = Cmd::new(
        dir,
        &["os", "ns", "get", "--config-file", cfg.to_str().unwrap()],
    )
    .run();
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: The config file at {} is invalid:\n\n\
+Config Errors+-----------+----------------------------------------------------------------------------------+\n\
| Key         | Error     | Hint                                                                             |\n\
+-------------+-----------+----------------------------------------------------------------------------------+\n\
| user        | malformed | this must be an OCID                                                             |\n\
| fingerprint | malformed | openssl rsa -pubout -outform DER -in <path to your private key> | openssl md5 -c |\n\
+-------------+-----------+----------------------------------------------------------------------------------+\n",
            cfg.display()
        )
    );
}

#[test]
fn key_passphrase_errors_never_prompt_without_a_terminal() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (key, fp) = api_key(dir, Some("right"), true);
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let base = [
        "os",
        "ns",
        "get",
        "--no-retry",
        "--endpoint",
        endpoint.as_str(),
    ];

    let cfg = write(dir, "nopass", config_text(&key, &fp, "").as_bytes(), 0o600);
    let r = Cmd::new(dir, &base)
        .args(&["--config-file", cfg.to_str().unwrap()])
        .run();
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: the private key {} is encrypted and needs a passphrase: set pass_phrase in the profile or OCI_CLI_PASSPHRASE (stdin is not a terminal, so ociauth cannot prompt for it)\n",
            key.display()
        )
    );
    let cfg = write(
        dir,
        "wrongpass",
        config_text(&key, &fp, "pass_phrase=wrong\n").as_bytes(),
        0o600,
    );
    let r = Cmd::new(dir, &base)
        .args(&["--config-file", cfg.to_str().unwrap()])
        .run();
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: the passphrase for the private key {} is wrong: correct pass_phrase in the profile or OCI_CLI_PASSPHRASE\n",
            key.display()
        )
    );
    // The right passphrase from OCI_CLI_PASSPHRASE gets as far as the (closed) endpoint.
    let r = Cmd::new(dir, &base)
        .args(&["--config-file", cfg.to_str().unwrap()])
        .env("OCI_CLI_PASSPHRASE", "right")
        .run();
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("ERROR: could not connect to"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("right"));
}

#[test]
fn unreachable_endpoint_and_bad_region() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (key, fp) = api_key(dir, None, true);
    let cfg = write(dir, "config", config_text(&key, &fp, "").as_bytes(), 0o600);
    let port = closed_port();
    let r = Cmd::new(
        dir,
        &[
            "os",
            "ns",
            "get",
            "--no-retry",
            "--config-file",
            cfg.to_str().unwrap(),
        ],
    )
    .env("OCI_CLI_ENDPOINT", format!("http://127.0.0.1:{port}"))
    .run();
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        format!(
            "ERROR: could not connect to http://127.0.0.1:{port}/n: connection refused (check --endpoint/--region and that the service is reachable)\n"
        )
    );
    let r = Cmd::new(
        dir,
        &[
            "os",
            "ns",
            "get",
            "--config-file",
            cfg.to_str().unwrap(),
            "--region",
            "bad region",
        ],
    )
    .run();
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "ERROR: invalid region \"bad region\": a region can not be empty or contain whitespace (use an identifier like eu-frankfurt-1 or a short code like fra) (region set by --region)\n"
    );
}

#[test]
fn permission_and_label_warnings_as_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (key, fp) = api_key(dir, None, false);
    let cfg = write(dir, "config", config_text(&key, &fp, "").as_bytes(), 0o644);
    let port = closed_port();
    let run = |extra: &[(&str, &str)]| {
        let mut c = Cmd::new(
            dir,
            &[
                "os",
                "ns",
                "get",
                "--no-retry",
                "--config-file",
                cfg.to_str().unwrap(),
                "--endpoint",
                &format!("http://127.0.0.1:{port}"),
            ],
        );
        for (k, v) in extra {
            c = c.env(k, v);
        }
        c.run()
    };
    let connect = format!(
        "ERROR: could not connect to http://127.0.0.1:{port}/n: connection refused (check --endpoint/--region and that the service is reachable)\n"
    );
    let p = cfg.display();
    let perm = format!(
        "WARNING: Permissions on {p} are too open. \nTo fix this please try executing the following command: \noci setup repair-file-permissions --file {p} \nAlternatively to hide this warning, you may set the environment variable, OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING: \nexport OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING=True\n\n"
    );
    let label = format!(
        "Warning: To increase security of your API key located at {}, append an extra line with 'OCI_API_KEY' at the end. For more information, refer to https://docs.oracle.com/iaas/Content/API/Concepts/apisigningkey.htm. To suppress the warning, set the env variable SUPPRESS_LABEL_WARNING=True\n",
        key.display()
    );
    let r = run(&[]);
    assert_eq!(r.stderr, format!("{perm}{label}{connect}"));
    let r = run(&[("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "True")]);
    assert_eq!(r.stderr, format!("{label}{connect}"));
    let r = run(&[
        ("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "True"),
        ("SUPPRESS_LABEL_WARNING", "true"),
    ]);
    assert_eq!(r.stderr, connect);
}

#[test]
fn raw_request_refuses_endpoint_and_table() {
    let home = tempfile::tempdir().unwrap();
    let base = [
        "raw-request",
        "--http-method",
        "get",
        "--target-uri",
        "http://127.0.0.1:1/n",
    ];
    let r = Cmd::new(home.path(), &base)
        .args(&["--endpoint", "http://x"])
        .run();
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with(
        "error: The --endpoint parameter cannot be specified with this command\n\nUsage: ociauth raw-request"
    ));
    let r = Cmd::new(home.path(), &base)
        .env("OCI_CLI_ENDPOINT", "http://x")
        .run();
    assert_eq!(r.code, 2);
    let r = Cmd::new(home.path(), &base)
        .args(&["--output", "table"])
        .run();
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("error: The table output format is not supported with this command\n")
    );
    let r = Cmd::new(
        home.path(),
        &[
            "raw-request",
            "--http-method",
            "TRACE",
            "--target-uri",
            "http://x/",
        ],
    )
    .run();
    assert_eq!(r.code, 2);
}

#[test]
fn object_list_all_with_limit_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let r = Cmd::new(
        home.path(),
        &["os", "object", "list", "-bn", "b", "--all", "--limit", "3"],
    )
    .run();
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with(
        "error: If you provide the --all option you cannot provide the --limit option\n\nUsage: ociauth os object list"
    ), "{}", r.stderr);
}
