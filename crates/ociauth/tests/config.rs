//! `ociauth::config`: configparser semantics, `from_file`, CLI resolution, validation, writer.

use std::path::{Path, PathBuf};

use ociauth::config::{
    self, ConfigError, ConfigFile, ConfigOptions, Origin, ParseProblem, ParseProblemKind, Problem,
    Profile,
};
use ociauth::env::MapEnv;

const HELP: &str = "For more info about config file and how to get required information, see https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm";

fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
    ConfigFile::parse(text, Path::new("/cfg"))
}

fn pairs(p: &Profile) -> Vec<(&str, &str)> {
    p.iter().collect()
}

/// A temporary HOME with `~/.oci`, and an env pointing at it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".oci")).unwrap();
        Home { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn env(&self) -> MapEnv {
        MapEnv::new().with("HOME", self.path().to_str().unwrap())
    }
    /// Write a file with mode 0600 (so no permission warning) and return its path.
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        set_mode(&p, 0o600);
        p
    }
}

fn set_mode(p: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (p, mode);
}

#[cfg(unix)]
fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------------
// Parser

#[test]
fn default_section_is_inherited_and_always_exists() {
    let f = parse(
        "[DEFAULT]\nuser = u0\nregion = r0\n\n[A]\nregion = r1\nfingerprint = f1\n[default]\nx = 1\n",
    )
    .unwrap();
    assert_eq!(
        pairs(&f.profile("A").unwrap()),
        [("region", "r1"), ("fingerprint", "f1"), ("user", "u0")]
    );
    assert_eq!(
        pairs(&f.profile("DEFAULT").unwrap()),
        [("user", "u0"), ("region", "r0")]
    );
    // [default] is an ordinary section (and inherits DEFAULT).
    assert_eq!(
        pairs(&f.profile("default").unwrap()),
        [("x", "1"), ("user", "u0"), ("region", "r0")]
    );
    assert!(f.profile("a").is_none());
    assert_eq!(f.section_names().collect::<Vec<_>>(), ["A", "default"]);
    let a = f.profile("A").unwrap();
    assert_eq!(
        a.origin("user"),
        Some(Origin::File {
            line: 2,
            inherited: true
        })
    );
    assert_eq!(a.line("fingerprint"), Some(7));

    let empty = parse("").unwrap();
    assert_eq!(pairs(&empty.profile("DEFAULT").unwrap()), []);
    assert!(empty.has_profile("DEFAULT"));
}

#[test]
fn entries_follow_configparser() {
    let f = parse(concat!(
        "[ A ]\n",
        "User: ocid1.user\n",
        "a=b=c\n",
        "url : http://h:1/x=y\n",
        "region = us-ashburn-1 # not a comment\n",
        "q = \"quoted\"\n",
        "empty =\n",
        "; comment\n",
        "  # indented comment\n",
        "my key = v\n",
        "[B] trailing text\n",
        "k = v\n",
    ))
    .unwrap();
    assert_eq!(
        pairs(&f.profile(" A ").unwrap()),
        [
            ("user", "ocid1.user"),
            ("a", "b=c"),
            ("url", "http://h:1/x=y"),
            ("region", "us-ashburn-1 # not a comment"),
            ("q", "\"quoted\""),
            ("empty", ""),
            ("my key", "v"),
        ]
    );
    assert!(f.profile("A").is_none());
    assert_eq!(pairs(&f.profile("B").unwrap()), [("k", "v")]);
}

#[test]
fn continuation_lines() {
    let f = parse(concat!(
        "[A]\n",
        "d = one\n",
        "  two\n",
        "\n",
        "  three\n",
        "  # not part of the value\n",
        "\t\tfour\n",
        "\n",
        "\n",
        "e =\n",
        "  x\n",
        "f = 1\n",
        "\n",
        "  g = 2\n",
        "h = v\n",
        "  [NOT]\n",
    ))
    .unwrap();
    assert_eq!(
        pairs(&f.profile("A").unwrap()),
        [
            ("d", "one\ntwo\n\nthree\nfour"),
            ("e", "\nx"),
            ("f", "1\n\ng = 2"),
            ("h", "v\n[NOT]"),
        ]
    );
    // Indented entries right after a header are ordinary entries.
    let f = parse("[T]\n  a = 1\n  b = 2\n").unwrap();
    assert_eq!(pairs(&f.profile("T").unwrap()), [("a", "1"), ("b", "2")]);
}

#[test]
fn line_endings_bom_and_whitespace() {
    let f = parse("\u{feff}[A]\r\nk = v\r\n  w\r\n[B]\rx = 1\r  2\r").unwrap();
    assert_eq!(pairs(&f.profile("A").unwrap()), [("k", "v\nw")]);
    assert_eq!(pairs(&f.profile("B").unwrap()), [("x", "1\n2")]);
    // Python's whitespace includes U+001C..U+001F and U+00A0.
    let f = parse("[A]\nk\u{a0}=\u{a0}v\u{1f}\n").unwrap();
    assert_eq!(pairs(&f.profile("A").unwrap()), [("k", "v")]);

    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bom");
    std::fs::write(&p, b"\xEF\xBB\xBF[DEFAULT]\nregion = r\n").unwrap();
    let f = ConfigFile::load(&p).unwrap();
    assert_eq!(f.profile("DEFAULT").unwrap().get("region"), Some("r"));
}

#[test]
fn parse_errors_name_file_line_and_fix() {
    let e = parse("# c\nuser = x\n[A]\n").unwrap_err();
    assert!(matches!(
        e,
        ConfigError::MissingSectionHeader { line: 2, .. }
    ));
    assert_eq!(
        e.to_string(),
        "config file /cfg line 2: File contains no section headers; start the file with a section header such as [DEFAULT] before the first key"
    );

    let e = parse("[A]\nuser = 1\n[B]\n[A]\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "config file /cfg line 4: section 'A' already exists; merge the two [A] sections or rename one"
    );

    let e = parse("[A]\nuser = 1\nUSER = 2\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "config file /cfg line 3: option 'user' in section 'A' already exists; keep only one 'user' in [A]"
    );
    // DEFAULT may repeat, its keys may not.
    assert!(parse("[DEFAULT]\na=1\n[DEFAULT]\nb=2\n").is_ok());
    assert!(matches!(
        parse("[DEFAULT]\na=1\n[DEFAULT]\na=2\n").unwrap_err(),
        ConfigError::DuplicateOption { line: 4, .. }
    ));

    let e = parse("[A]\nk = v\nno delimiter\n= orphan\n").unwrap_err();
    match &e {
        ConfigError::Parsing { problems, .. } => assert_eq!(
            problems,
            &[
                ParseProblem {
                    line: 3,
                    kind: ParseProblemKind::NoDelimiter
                },
                ParseProblem {
                    line: 4,
                    kind: ParseProblemKind::EmptyKey
                },
            ]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "config file /cfg contains parsing errors (line 3: no '=' or ':' between key and value, line 4: nothing before the '='); write entries as key=value, indent a line to continue the previous value, or start it with '#' to make it a comment"
    );
    // Fatal errors win over collected ones, as in Python.
    assert!(matches!(
        parse("[A]\nbad\nk=1\nk=2\n").unwrap_err(),
        ConfigError::DuplicateOption { line: 4, .. }
    ));

    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("latin1");
    std::fs::write(&p, b"[A]\nk = v\nname = caf\xe9\n").unwrap();
    let e = ConfigFile::load(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "config file {} is not valid UTF-8 (line 3); save it as UTF-8",
            p.display()
        )
    );
}

#[test]
fn rc_dialect_has_no_default_section() {
    let rc = ConfigFile::parse_rc(
        "[DEFAULT]\ndefault_profile = X\n[OCI_CLI_SETTINGS]\nother = 1\n",
        Path::new("/rc"),
    )
    .unwrap();
    assert_eq!(
        pairs(&rc.profile("OCI_CLI_SETTINGS").unwrap()),
        [("other", "1")]
    );
    assert_eq!(
        pairs(&rc.profile("DEFAULT").unwrap()),
        [("default_profile", "X")]
    );
}

#[test]
fn debug_hides_secrets() {
    let p = Profile::from_pairs(
        "A",
        &[
            ("user", "ocid1.user"),
            ("pass_phrase", "hunter2"),
            ("key_content", "-----BEGIN PRIVATE KEY-----abc"),
        ],
    );
    let d = format!("{p:?} {:?}", p.entries());
    assert!(d.contains("ocid1.user"), "{d}");
    assert!(!d.contains("hunter2"), "{d}");
    assert!(!d.contains("BEGIN"), "{d}");
}

// ---------------------------------------------------------------------------------------------
// from_file

#[test]
fn from_file_sdk_rules_and_messages() {
    let h = Home::new();
    let env = h.env();
    h.write("key.pem", "k");
    let cfg = h.write(
        "cfg",
        concat!(
            "[DEFAULT]\n",
            "key_file = ~/key.pem\n",
            "[LOG]\n",
            "log_requests = On\n",
            "[BADLOG]\n",
            "log_requests = maybe\n",
            "[KC]\n",
            "key_content = secret-pem\n",
            "[MISSING]\n",
            "region = r\n",
            "key_file = ~/nope.pem\n",
        ),
    );
    let loc = cfg.to_str().unwrap();
    let c = cfg.display();

    let p = config::from_file(loc, "LOG", &env).unwrap();
    assert!(p.log_requests());
    assert_eq!(p.get("key_file"), Some("~/key.pem"));
    assert_eq!(p.path("key_file", &env), Some(h.join("key.pem")));
    assert!(
        !config::from_file(loc, "DEFAULT", &env)
            .unwrap()
            .log_requests()
    );

    let e = config::from_file(loc, "BADLOG", &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "config file {c}: 'maybe' is not a valid alias for True/False (log_requests at line 6); use true or false"
        )
    );

    let e = config::from_file(loc, "KC", &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "'key_content' cannot be specified in a config file for security reasons. To use this key you must add it to the config programmatically. {HELP} (remove key_content from {c} at line 8 and use key_file, or set OCI_CLI_KEY_CONTENT)"
        )
    );
    assert!(!e.to_string().contains("secret-pem"));

    let e = config::from_file(loc, "MISSING", &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Config file {c} is invalid: the key_file's value '{}' at line 11 must be a valid file path. {HELP}",
            h.join("nope.pem").display()
        )
    );

    let e = config::from_file(loc, "PROD", &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Profile 'PROD' not found in config file {c} {HELP} (profiles in this file: DEFAULT, LOG, BADLOG, KC, MISSING; names are case-sensitive)"
        )
    );

    let e = config::from_file("/nonexistent/config", "DEFAULT", &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Could not find config file at /nonexistent/config, please follow the instructions in the link to setup the config file https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm"
    );
    assert_eq!(config::as_bool("YES"), Some(true));
    assert_eq!(config::as_bool("off"), Some(false));
    assert_eq!(config::as_bool(""), None);
}

#[test]
fn config_path_fallbacks() {
    let h = Home::new();
    let other = h.write("elsewhere/config", "[DEFAULT]\nregion = other\n");
    let env = h.env().with("OCI_CONFIG_FILE", "~/elsewhere/config");
    // ~/.oci/config missing: OCI_CONFIG_FILE.
    assert_eq!(
        config::config_path_with_fallback("~/.oci/config", &env),
        other
    );
    // A location other than the default literal is never replaced.
    assert_eq!(
        config::config_path_with_fallback("~/x/config", &env),
        h.join("x/config")
    );
    // No OCI_CONFIG_FILE: ~/.oraclebmc/config if it exists, else ~/.oci/config.
    assert_eq!(
        config::config_path_with_fallback("~/.oci/config", &h.env()),
        h.join(".oci/config")
    );
    let bmc = h.write(".oraclebmc/config", "[DEFAULT]\n");
    assert_eq!(
        config::config_path_with_fallback("~/.oci/config", &h.env()),
        bmc
    );
    // Empty OCI_CONFIG_FILE is ignored.
    assert_eq!(
        config::config_path_with_fallback("~/.oci/config", &h.env().with("OCI_CONFIG_FILE", "")),
        bmc
    );
    // ~/.oci/config exists: it wins.
    let main = h.write(".oci/config", "[DEFAULT]\n");
    assert_eq!(
        config::config_path_with_fallback("~/.oci/config", &env),
        main
    );
}

// ---------------------------------------------------------------------------------------------
// resolve

fn opts() -> ConfigOptions {
    ConfigOptions::default()
}

#[test]
fn resolve_file_and_profile_precedence() {
    let h = Home::new();
    h.write(
        ".oci/config",
        "[DEFAULT]\nregion = d\n[P1]\nregion = p1\n[P2]\nregion = p2\n[P3]\nregion = p3\n",
    );
    let alt = h.write(
        "alt/config",
        "[DEFAULT]\nregion = alt\n[P1]\nregion = alt-p1\n",
    );
    let env = h.env();

    let r = config::resolve(&opts(), &env).unwrap();
    assert_eq!(r.config_path, Some(h.join(".oci/config")));
    assert_eq!(r.profile_name, "DEFAULT");
    assert_eq!(r.profile.get("region"), Some("d"));
    assert_eq!(r.warnings, Vec::<String>::new());

    // OCI_CLI_CONFIG_FILE replaces the default, and an explicit default-valued flag.
    let env_cfg = h.env().with("OCI_CLI_CONFIG_FILE", alt.to_str().unwrap());
    let r = config::resolve(&opts(), &env_cfg).unwrap();
    assert_eq!(r.config_path, Some(alt.clone()));
    let o = ConfigOptions {
        config_file: Some("~/.oci/config".into()),
        ..opts()
    };
    assert_eq!(
        config::resolve(&o, &env_cfg).unwrap().config_path,
        Some(alt.clone())
    );
    // A real flag beats it.
    let o = ConfigOptions {
        config_file: Some(h.join(".oci/config")),
        ..opts()
    };
    assert_eq!(
        config::resolve(&o, &env_cfg).unwrap().config_path,
        Some(h.join(".oci/config"))
    );

    // Profile: flag > OCI_CLI_PROFILE > rc default_profile > DEFAULT.
    h.write(
        ".oci/oci_cli_rc",
        "[DEFAULT]\ndefault_profile = P3\n[OCI_CLI_SETTINGS]\ndefault_profile = P2\n",
    );
    assert_eq!(config::resolve(&opts(), &env).unwrap().profile_name, "P2");
    let env_p = h.env().with("OCI_CLI_PROFILE", "P1");
    assert_eq!(config::resolve(&opts(), &env_p).unwrap().profile_name, "P1");
    let o = ConfigOptions {
        profile: Some("P3".into()),
        ..opts()
    };
    let r = config::resolve(&o, &env_p).unwrap();
    assert_eq!(
        (r.profile_name.as_str(), r.profile.get("region")),
        ("P3", Some("p3"))
    );

    // An empty OCI_CLI_PROFILE is a (missing) profile named "".
    let e = config::resolve(&opts(), &h.env().with("OCI_CLI_PROFILE", "")).unwrap_err();
    assert!(matches!(e, ConfigError::ProfileNotFound { ref profile, .. } if profile.is_empty()));
}

#[test]
fn rc_file_lookup_order() {
    let h = Home::new();
    h.write(".oci/config", "[DEFAULT]\n[A]\n[B]\n[C]\n[D]\n");
    let rc = |name: &str, profile: &str| {
        h.write(
            name,
            &format!("[OCI_CLI_SETTINGS]\ndefault_profile = {profile}\n"),
        )
    };
    let fallback = rc(".oci/cli-defaults", "D");
    let env = h.env();
    assert_eq!(config::rc_file_path(&opts(), &env), Some(fallback));
    assert_eq!(config::resolve(&opts(), &env).unwrap().profile_name, "D");
    rc(".oci/oci_cli_rc", "C");
    assert_eq!(config::resolve(&opts(), &env).unwrap().profile_name, "C");
    // The flag's default is ~/.oci/oci_cli_rc, so while that exists OCI_CLI_RC_FILE is not used.
    rc("envrc", "B");
    let env_rc = h.env().with("OCI_CLI_RC_FILE", "$HOME/envrc");
    assert_eq!(config::resolve(&opts(), &env_rc).unwrap().profile_name, "C");
    // A flag naming a missing file: OCI_CLI_RC_FILE (with $VAR expansion) is next.
    let o = ConfigOptions {
        cli_rc_file: Some(h.join("missing-rc")),
        ..opts()
    };
    assert_eq!(config::resolve(&o, &env_rc).unwrap().profile_name, "B");
    // The flag's file, when it exists, wins.
    let flag = rc("flagrc", "A");
    let o = ConfigOptions {
        cli_rc_file: Some(flag),
        ..opts()
    };
    assert_eq!(config::resolve(&o, &env_rc).unwrap().profile_name, "A");
    std::fs::remove_file(h.join(".oci/oci_cli_rc")).unwrap();
    assert_eq!(config::resolve(&opts(), &env_rc).unwrap().profile_name, "B");
    assert_eq!(
        config::rc_file_path(&opts(), &env_rc),
        Some(h.join("envrc"))
    );

    // A broken rc file is an error naming it.
    let bad = h.write("badrc", "default_profile = X\n");
    let o = ConfigOptions {
        cli_rc_file: Some(bad.clone()),
        ..opts()
    };
    let e = config::resolve(&o, &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "CLI rc file {b}: config file {b} line 1: File contains no section headers; start the file with a section header such as [DEFAULT] before the first key",
            b = bad.display()
        )
    );
}

#[test]
fn env_overrides_region_endpoint() {
    let h = Home::new();
    h.write("key.pem", "k");
    h.write(
        ".oci/config",
        "[DEFAULT]\nuser = file-user\nregion = file-region\nendpoint = http://file\nkey_file = ~/key.pem\n",
    );
    let env = h
        .env()
        .with("OCI_CLI_USER", "env-user")
        .with("OCI_CLI_TENANCY", "env-tenancy")
        .with("OCI_CLI_KEY_CONTENT", "PEM")
        .with("OCI_CLI_PASSPHRASE", "")
        .with("OCI_CLI_SECURITY_TOKEN_FILE", "~/tok")
        .with("OCI_CLI_DELEGATION_TOKEN_FILE", "/dt")
        .with("OCI_CLI_REGION", "env-region")
        .with("OCI_REGION", "ignored");
    let r = config::resolve(&opts(), &env).unwrap();
    assert_eq!(r.config_path, Some(h.join(".oci/config")));
    assert_eq!(
        pairs(&r.profile),
        [
            ("user", "env-user"),
            ("region", "env-region"),
            ("key_file", "~/key.pem"),
            ("key_content", "PEM"),
            ("tenancy", "env-tenancy"),
            ("pass_phrase", ""),
            ("delegation_token_file", "/dt"),
            ("security_token_file", "~/tok"),
        ]
    );
    assert_eq!(r.profile.origin("user"), Some(Origin::Env("OCI_CLI_USER")));
    assert_eq!(
        r.profile.origin("region"),
        Some(Origin::Env("OCI_CLI_REGION"))
    );

    // --region beats OCI_CLI_REGION; an empty flag falls back to it; --endpoint is kept.
    let o = ConfigOptions {
        region: Some("flag-region".into()),
        endpoint: Some("http://127.0.0.1:1".into()),
        ..opts()
    };
    let r = config::resolve(&o, &env).unwrap();
    assert_eq!(r.profile.get("region"), Some("flag-region"));
    assert_eq!(r.profile.origin("region"), Some(Origin::Flag("--region")));
    assert_eq!(r.profile.get("endpoint"), Some("http://127.0.0.1:1"));
    let o = ConfigOptions {
        region: Some(String::new()),
        ..opts()
    };
    assert_eq!(
        config::resolve(&o, &env).unwrap().profile.get("region"),
        Some("env-region")
    );
    let r = config::resolve(&opts(), &h.env().with("OCI_CLI_ENDPOINT", "http://e")).unwrap();
    assert_eq!(r.profile.get("endpoint"), Some("http://e"));
    assert_eq!(r.profile.get("region"), Some("file-region"));
}

#[test]
fn oci_region_is_a_fallback_only() {
    let h = Home::new();
    h.write(".oci/config", "[DEFAULT]\n[EMPTY]\nregion =\n");
    let env = h.env().with("OCI_REGION", "us-phoenix-1");
    let r = config::resolve(&opts(), &env).unwrap();
    assert_eq!(r.profile.get("region"), Some("us-phoenix-1"));
    assert_eq!(r.profile.origin("region"), Some(Origin::Env("OCI_REGION")));
    // Present but empty is present (the SDK checks for None).
    let o = ConfigOptions {
        profile: Some("EMPTY".into()),
        ..opts()
    };
    assert_eq!(
        config::resolve(&o, &env).unwrap().profile.get("region"),
        Some("")
    );
    // Empty OCI_REGION is ignored.
    let r = config::resolve(&opts(), &h.env().with("OCI_REGION", "")).unwrap();
    assert_eq!(r.profile.get("region"), None);
}

#[test]
fn config_free_mode_reads_no_file() {
    let h = Home::new(); // no config file at all
    let env = h
        .env()
        .with("OCI_CLI_USER", "u")
        .with("OCI_CLI_TENANCY", "t")
        .with("OCI_CLI_FINGERPRINT", "f")
        .with("OCI_CLI_KEY_FILE", "/k");
    // Without a region it is not config-free: the missing file is an error.
    assert!(matches!(
        config::resolve(&opts(), &env).unwrap_err(),
        ConfigError::NotFound { .. }
    ));
    let o = ConfigOptions {
        region: Some("r".into()),
        profile: Some("ANY".into()),
        ..opts()
    };
    let r = config::resolve(&o, &env).unwrap();
    assert_eq!(r.config_path, None);
    assert_eq!(r.profile_name, "ANY");
    assert_eq!(
        pairs(&r.profile),
        [
            ("user", "u"),
            ("fingerprint", "f"),
            ("key_file", "/k"),
            ("tenancy", "t"),
            ("region", "r")
        ]
    );
    // OCI_CLI_REGION set (even empty) also counts.
    let r = config::resolve(&opts(), &env.clone().with("OCI_CLI_REGION", "")).unwrap();
    assert_eq!(r.config_path, None);
    assert_eq!(r.profile.get("region"), None);
}

#[test]
fn key_file_is_checked_before_env_overrides() {
    let h = Home::new();
    h.write("key.pem", "k");
    h.write(".oci/config", "[DEFAULT]\nkey_file = ~/gone.pem\n");
    let env = h.env().with("OCI_CLI_KEY_FILE", "~/key.pem");
    assert!(matches!(
        config::resolve(&opts(), &env).unwrap_err(),
        ConfigError::InvalidKeyFilePath { line: Some(2), .. }
    ));
}

#[cfg(unix)]
#[test]
fn permission_warnings() {
    let h = Home::new();
    let key = h.write("key.pem", "k");
    let tok = h.write("token", "t");
    let cfg = h.write(
        ".oci/config",
        "[DEFAULT]\nkey_file = ~/key.pem\nsecurity_token_file = ~/token\n",
    );
    let env = h.env();
    assert!(config::resolve(&opts(), &env).unwrap().warnings.is_empty());
    set_mode(&cfg, 0o400);
    assert!(config::resolve(&opts(), &env).unwrap().warnings.is_empty());

    set_mode(&cfg, 0o644);
    set_mode(&key, 0o700); // owner execute counts
    set_mode(&tok, 0o640);
    let r = config::resolve(&opts(), &env).unwrap();
    let w = |p: &Path| {
        format!(
            "WARNING: Permissions on {p} are too open. \nTo fix this please try executing the following command: \noci setup repair-file-permissions --file {p} \nAlternatively to hide this warning, you may set the environment variable, OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING: \nexport OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING=True\n",
            p = p.display()
        )
    };
    assert_eq!(r.warnings, [w(&cfg), w(&key), w(&tok)]);
    assert_eq!(config::permission_warning(&cfg), w(&cfg));

    // Only the exact value True suppresses it.
    let r = config::resolve(
        &opts(),
        &env.clone()
            .with("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "true"),
    )
    .unwrap();
    assert_eq!(r.warnings.len(), 3);
    let r = config::resolve(
        &opts(),
        &env.with("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "True"),
    )
    .unwrap();
    assert!(r.warnings.is_empty());
}

#[test]
fn label_warning() {
    let h = Home::new();
    let key = h.write("key.pem", "-----BEGIN PRIVATE KEY-----\n...\n");
    h.write(".oci/config", "[DEFAULT]\nkey_file = ~/key.pem\n");
    let env = h.env();
    let r = config::resolve(&opts(), &env).unwrap();
    assert_eq!(
        config::label_warning(&r, &env).as_deref(),
        Some(
            format!(
                "Warning: To increase security of your API key located at {}, append an extra line with 'OCI_API_KEY' at the end. For more information, refer to https://docs.oracle.com/iaas/Content/API/Concepts/apisigningkey.htm. To suppress the warning, set the env variable SUPPRESS_LABEL_WARNING=True",
                key.display()
            )
            .as_str()
        )
    );
    assert_eq!(
        config::label_warning(&r, &env.clone().with("SUPPRESS_LABEL_WARNING", "TRUE")),
        None
    );
    std::fs::write(&key, "-----END PRIVATE KEY-----\nOCI_API_KEY\n\n  ").unwrap();
    assert_eq!(config::label_warning(&r, &env), None);
}

// ---------------------------------------------------------------------------------------------
// validate_api_key

fn resolved(pairs: &[(&str, &str)]) -> config::ResolvedConfig {
    config::ResolvedConfig {
        config_path: Some("/path/to/badcfg".into()),
        profile_name: "DEFAULT".into(),
        profile: Profile::from_pairs("DEFAULT", pairs),
        warnings: vec![],
    }
}

const GOOD: &[(&str, &str)] = &[
    ("user", "ocid1.user.oc1..aaaaaaaa"),
    ("tenancy", "ocid1.tenancy.oc1..aaaaaaaa"),
    (
        "fingerprint",
        "11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00",
    ),
    ("key_file", "~/k.pem"),
    ("region", "us-ashburn-1"),
];

#[test]
fn validate_accepts_complete_profiles() {
    config::validate_api_key(&resolved(GOOD), false).unwrap();
    // key_content replaces key_file; --endpoint makes region optional.
    let mut p: Vec<_> = GOOD
        .iter()
        .copied()
        .filter(|(k, _)| *k != "key_file" && *k != "region")
        .collect();
    p.push(("key_content", "PEM"));
    config::validate_api_key(&resolved(&p), true).unwrap();
    let e = config::validate_api_key(&resolved(&p), false).unwrap_err();
    let ConfigError::Invalid(inv) = e else {
        panic!()
    };
    assert_eq!(inv.problems.len(), 1);
    assert_eq!(
        (inv.problems[0].key, inv.problems[0].problem),
        ("region", Problem::Missing)
    );
}

#[test]
fn validate_renders_the_cli_table() {
    let p: Vec<_> = GOOD
        .iter()
        .copied()
        .filter(|(k, _)| *k != "fingerprint")
        .map(|(k, v)| {
            if k == "user" {
                (k, "not-an-ocid")
            } else {
                (k, v)
            }
        })
        .collect();
    let e = config::validate_api_key(&resolved(&p), false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "The config file at /path/to/badcfg is invalid (profile [DEFAULT]): fingerprint missing, user malformed; set these keys in the profile or through OCI_CLI_* environment variables"
    );
    let ConfigError::Invalid(inv) = e else {
        panic!()
    };
    assert_eq!(
        inv.cli_message(),
        "ERROR: The config file at /path/to/badcfg is invalid:

+Config Errors+-----------+----------------------------------------------------------------------------------+
| Key         | Error     | Hint                                                                             |
+-------------+-----------+----------------------------------------------------------------------------------+
| fingerprint | missing   | openssl rsa -pubout -outform DER -in <path to your private key> | openssl md5 -c |
| user        | malformed | this must be an OCID                                                             |
+-------------+-----------+----------------------------------------------------------------------------------+"
    );

    // Everything missing, then empty values (present but malformed).
    let e = config::validate_api_key(&resolved(&[]), false).unwrap_err();
    let ConfigError::Invalid(inv) = e else {
        panic!()
    };
    let rows: Vec<_> = inv
        .problems
        .iter()
        .map(|p| (p.key, p.problem.as_str(), p.hint()))
        .collect();
    assert_eq!(
        rows,
        [
            (
                "user",
                "missing",
                "log into the console and go to the user's settings page to find their OCID"
            ),
            (
                "tenancy",
                "missing",
                "log into the console and find this OCID at the bottom of any page"
            ),
            (
                "fingerprint",
                "missing",
                "openssl rsa -pubout -outform DER -in <path to your private key> | openssl md5 -c"
            ),
            (
                "key_file",
                "missing",
                "the full path and filename of the private PEM key file"
            ),
            ("region", "missing", "for example, us-phoenix-1"),
        ]
    );
    let e = config::validate_api_key(
        &resolved(&[
            ("user", ""),
            ("tenancy", ""),
            ("fingerprint", ""),
            ("key_file", ""),
            ("region", ""),
        ]),
        false,
    )
    .unwrap_err();
    let ConfigError::Invalid(inv) = e else {
        panic!()
    };
    let rows: Vec<_> = inv.problems.iter().map(|p| (p.key, p.problem)).collect();
    assert_eq!(
        rows,
        [
            ("tenancy", Problem::Malformed),
            ("user", Problem::Malformed),
            ("fingerprint", Problem::Malformed)
        ]
    );
}

#[test]
fn ocid_and_fingerprint_patterns() {
    for ok in [
        "ocid1.user.oc1..aaaaaaaa",
        "a.b.c.d.e",
        "a:b:c:d:e",
        "a-b_c.x.y.z..w",
        "ocid1.tenancy.oc1..aaa\n",
    ] {
        assert!(config::is_ocid(ok), "{ok:?}");
    }
    for bad in [
        "",
        "ocid1.user.oc1.aaa",
        ".a.b.c.d",
        "a.b.c.d.",
        "a.b.c.d.e f",
        "\"ocid1.user.oc1..aaa\"",
        "a.b.c.d.e\n\n",
    ] {
        assert!(!config::is_ocid(bad), "{bad:?}");
    }
    assert!(config::is_fingerprint(
        "11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00"
    ));
    assert!(config::is_fingerprint(
        "11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00\n"
    ));
    for bad in [
        "11:22:33:44:55:66:77:88:99:AA:bb:cc:dd:ee:ff:00",
        "11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
        "11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:",
        "11-22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00",
        "1122:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:0",
    ] {
        assert!(!config::is_fingerprint(bad), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Writer

const SESSION: &[(&str, &str)] = &[
    ("fingerprint", "aa:bb"),
    ("key_file", "/h/.oci/sessions/S/oci_api_key.pem"),
    ("tenancy", "ocid1.tenancy.oc1..t"),
    ("region", "us-ashburn-1"),
    ("security_token_file", "/h/.oci/sessions/S/token"),
];

const ORIGINAL: &str = "# my config\n[DEFAULT]\nuser = u   # keep spacing\nregion=r\n\n; about S\n[S]\nregion = old\n# inside S\nold_key = x\n  continued\n\n# about T\n[T]\nk: v\n";

#[test]
fn upsert_appends_and_keeps_everything_else() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("config");
    std::fs::write(&p, ORIGINAL).unwrap();
    config::upsert_profile(&p, "NEW", SESSION).unwrap();
    let expected = format!(
        "{ORIGINAL}\n[NEW]\nfingerprint=aa:bb\nkey_file=/h/.oci/sessions/S/oci_api_key.pem\ntenancy=ocid1.tenancy.oc1..t\nregion=us-ashburn-1\nsecurity_token_file=/h/.oci/sessions/S/token\n"
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), expected);
    #[cfg(unix)]
    assert_eq!(mode_of(&p), 0o600);
    // Removing it restores the original bytes.
    assert!(config::remove_profile(&p, "NEW").unwrap());
    assert_eq!(std::fs::read_to_string(&p).unwrap(), ORIGINAL);
}

#[test]
fn upsert_replaces_in_place() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("config");
    std::fs::write(&p, ORIGINAL).unwrap();
    config::upsert_profile(&p, "S", &[("region", "new"), ("user", "v")]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "# my config\n[DEFAULT]\nuser = u   # keep spacing\nregion=r\n\n; about S\n[S]\nregion=new\nuser=v\n\n# about T\n[T]\nk: v\n"
    );
    let f = ConfigFile::load(&p).unwrap();
    assert_eq!(
        pairs(&f.profile("S").unwrap()),
        [("region", "new"), ("user", "v")]
    );

    config::upsert_profile(&p, "DEFAULT", &[("region", "d")]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "# my config\n[DEFAULT]\nregion=d\n\n; about S\n[S]\nregion=new\nuser=v\n\n# about T\n[T]\nk: v\n"
    );
}

#[test]
fn remove_profile_cases() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("config");
    std::fs::write(&p, ORIGINAL).unwrap();
    assert!(config::remove_profile(&p, "S").unwrap());
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "# my config\n[DEFAULT]\nuser = u   # keep spacing\nregion=r\n\n; about S\n# about T\n[T]\nk: v\n"
    );
    assert!(config::remove_profile(&p, "T").unwrap());
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "# my config\n[DEFAULT]\nuser = u   # keep spacing\nregion=r\n\n; about S\n# about T\n"
    );
    assert!(!config::remove_profile(&p, "T").unwrap());
    assert!(!config::remove_profile(&p, "t").unwrap());
    // Every [DEFAULT] block goes.
    std::fs::write(&p, "[DEFAULT]\na=1\n[A]\nx=1\n\n[DEFAULT]\nb=2\n").unwrap();
    assert!(config::remove_profile(&p, "DEFAULT").unwrap());
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "[A]\nx=1\n");
    // Missing file: false, and nothing is created.
    let missing = d.path().join("missing");
    assert!(!config::remove_profile(&missing, "A").unwrap());
    assert!(!missing.exists());
}

#[test]
fn upsert_creates_file_and_dirs() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a/b/config");
    config::upsert_profile(&p, "DEFAULT", &[("region", "r")]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "[DEFAULT]\nregion=r\n"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode_of(&p), 0o600);
        assert_eq!(mode_of(p.parent().unwrap()), 0o700);
    }
}

#[test]
fn upsert_keeps_line_endings_and_adds_missing_newline() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("config");
    std::fs::write(&p, "\u{feff}[A]\r\nk = v\r\n").unwrap();
    config::upsert_profile(&p, "B", &[("x", "1")]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "\u{feff}[A]\r\nk = v\r\n\r\n[B]\r\nx=1\r\n"
    );
    config::upsert_profile(&p, "A", &[("k", "2")]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "\u{feff}[A]\r\nk=2\r\n\r\n[B]\r\nx=1\r\n"
    );
    std::fs::write(&p, "[A]\nk = v").unwrap();
    config::upsert_profile(&p, "B", &[("x", "1")]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "[A]\nk = v\n\n[B]\nx=1\n"
    );
    // Trailing blank lines are not doubled.
    std::fs::write(&p, "[A]\nk = v\n\n").unwrap();
    config::upsert_profile(&p, "B", &[("x", "1")]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "[A]\nk = v\n\n[B]\nx=1\n"
    );
}

#[cfg(unix)]
#[test]
fn upsert_tightens_mode_and_follows_symlinks() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real");
    std::fs::write(&real, "[A]\nk=v\n").unwrap();
    set_mode(&real, 0o644);
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    config::upsert_profile(&link, "B", &[("x", "1")]).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        "[A]\nk=v\n\n[B]\nx=1\n"
    );
    assert_eq!(mode_of(&real), 0o600);
}

#[test]
fn profile_names_are_validated_with_the_cli_messages() {
    for ok in ["DEFAULT", "a.b_c-d@e", "1", "..."] {
        config::validate_profile_name(ok).unwrap();
    }
    let msg = |n: &str| config::validate_profile_name(n).unwrap_err().to_string();
    assert_eq!(
        msg("a b"),
        "Invalid profile name 'a b'. Profile names may only contain letters, numbers, '.', '_', '-', or '@'."
    );
    assert_eq!(
        msg("../x"),
        "Invalid profile name '../x'. Profile names may only contain letters, numbers, '.', '_', '-', or '@'."
    );
    assert_eq!(
        msg(".."),
        "Invalid profile name '..': Profile name cannot be '.' or '..'."
    );
    assert_eq!(
        msg("."),
        "Invalid profile name '.': Profile name cannot be '.' or '..'."
    );
    assert_eq!(msg(""), "Profile name must be a non-empty string.");

    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("config");
    assert!(matches!(
        config::upsert_profile(&p, "a]b", &[("k", "v")]),
        Err(ConfigError::InvalidProfileName { .. })
    ));
    assert!(!p.exists());
}

#[test]
fn entries_that_would_not_read_back_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("config");
    let err = |entries: &[(&str, &str)]| {
        config::upsert_profile(&p, "A", entries)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(&[("k", "a\nb")]),
        "cannot write 'k' to profile [A]: values cannot contain line breaks"
    );
    assert_eq!(
        err(&[("k", " v")]),
        "cannot write 'k' to profile [A]: values cannot start or end with whitespace (it would be lost when read)"
    );
    assert_eq!(
        err(&[("User", "v")]),
        "cannot write 'User' to profile [A]: keys are read in lower case; write them in lower case"
    );
    assert_eq!(
        err(&[("a=b", "v")]),
        "cannot write 'a=b' to profile [A]: keys cannot contain '=', ':' or line breaks"
    );
    assert_eq!(
        err(&[("#k", "v")]),
        "cannot write '#k' to profile [A]: keys cannot start with '#', ';' or '['"
    );
    assert_eq!(
        err(&[("k", "1"), ("k", "2")]),
        "cannot write 'k' to profile [A]: the key is given twice"
    );
    assert_eq!(
        err(&[("", "v")]),
        "cannot write '' to profile [A]: the key is empty"
    );
    assert!(!p.exists());
    // Values may hold '=', ':', '#', quotes and be empty.
    config::upsert_profile(&p, "A", &[("k", "a=b:c # d \"e\""), ("e", "")]).unwrap();
    let f = ConfigFile::load(&p).unwrap();
    assert_eq!(
        pairs(&f.profile("A").unwrap()),
        [("k", "a=b:c # d \"e\""), ("e", "")]
    );
}

#[test]
fn broken_files_are_not_edited() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("config");
    std::fs::write(&p, "[A]\nno delimiter\n").unwrap();
    assert!(matches!(
        config::upsert_profile(&p, "B", &[("k", "v")]),
        Err(ConfigError::Parsing { .. })
    ));
    assert!(matches!(
        config::remove_profile(&p, "A"),
        Err(ConfigError::Parsing { .. })
    ));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "[A]\nno delimiter\n");
}
