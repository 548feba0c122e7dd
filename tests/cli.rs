//! The command line behaves as sops's does: exit codes, config discovery, in-place safety, the legacy
//! flag form, stdin, --extract, --output.

use crate::common;

use common::*;

const SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: hunter2-very-secret\n";

fn with_key(mut c: std::process::Command) -> std::process::Command {
    c.env("SOPS_AGE_KEY_FILE", key1_file());
    c
}

#[test]
fn missing_file_exits_100_and_names_it() {
    let sb = Sandbox::new();
    let mut c = sb.kvsops();
    c.args(["decrypt", "nope.yaml"]);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "kvsops: nope.yaml: no such file\n", "named once");
    // The same in a batch, where each failure is reported on its own line.
    let f = sb.write("s.yaml", SECRET);
    let mut c = sb.kvsops();
    c.args(["decrypt", "--output-dir", "out", "nope.yaml"]).arg(&f);
    let out = fails(c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("kvsops: nope.yaml: no such file\n"), "{stderr}");
}

#[test]
fn encrypting_an_encrypted_file_exits_203_and_leaves_it_untouched() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", SECRET);
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&f);
    ok(c);
    let before = std::fs::read(&f).unwrap();
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&f);
    assert_eq!(fails(c).status.code(), Some(203));
    assert_eq!(std::fs::read(&f).unwrap(), before);
}

#[test]
fn no_keys_and_no_config_is_a_clear_error() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", SECRET);
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i"]).arg(&f);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("config file not found"));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), SECRET);
}

#[test]
fn creation_rules_are_found_from_a_subdirectory_and_followed() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: envs/.*secret.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {KEY1_RECIPIENT}\n"),
    );
    let f = sb.write("envs/qa/patches/patch-secret.yaml", SECRET);
    let mut c = sb.kvsops();
    c.current_dir(sb.path().join("envs/qa")).args(["encrypt", "--in-place", "patches/patch-secret.yaml"]);
    ok(c);
    let enc = std::fs::read_to_string(&f).unwrap();
    assert!(enc.contains("kind: Secret\n"), "{enc}");
    assert!(enc.contains("name: s\n"));
    assert!(!enc.contains("hunter2"));
    assert!(enc.contains("encrypted_regex: ^(data|stringData)$"));
    assert!(enc.contains("mac: ENC["), "the Flux marker");
    // A file that matches no rule is refused and untouched.
    let other = sb.write("apps/x.yaml", SECRET);
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "apps/x.yaml"]);
    let out = fails(c);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no matching creation rules"));
    assert_eq!(std::fs::read_to_string(&other).unwrap(), SECRET);
}

#[test]
fn legacy_flags_stdin_output_and_extract() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", SECRET);
    let mut c = sb.kvsops();
    c.args(["-e", "--age", KEY1_RECIPIENT]).arg(&f);
    let enc = ok(c);
    let encf = sb.write("s.enc.yaml", &enc);
    let mut c = with_key(sb.kvsops());
    c.arg("-d").arg(&encf);
    assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);

    let mut c = with_key(sb.kvsops());
    c.args(["decrypt", "--extract", r#"["stringData"]["password"]"#]).arg(&encf);
    assert_eq!(ok(c), b"hunter2-very-secret");

    let mut c = with_key(sb.kvsops());
    c.args(["decrypt", "--output", "out.yaml"]).arg(&encf);
    ok(c);
    assert_eq!(std::fs::read_to_string(sb.path().join("out.yaml")).unwrap(), SECRET);

    // stdin with --input-type.
    let mut c = with_key(sb.kvsops());
    c.args(["decrypt", "--input-type", "yaml", "--output-type", "yaml"]).stdin(std::fs::File::open(&encf).unwrap());
    assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);
}

#[test]
fn wrong_key_exits_128_without_touching_the_file() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", SECRET);
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&f);
    ok(c);
    let before = std::fs::read(&f).unwrap();
    let mut c = sb.kvsops();
    c.env("SOPS_AGE_KEY_FILE", testdata("sops-3.11/key2.txt")).args(["decrypt", "-i"]).arg(&f);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(128));
    assert_eq!(std::fs::read(&f).unwrap(), before);
}

#[test]
fn bad_yaml_is_refused_with_exit_2() {
    let sb = Sandbox::new();
    let f = sb.write("bad.yaml", "a: [1, 2\nb: {\n");
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&f);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml"));
    let dup = sb.write("dup.yaml", "a: 1\na: 2\n");
    let mut c = sb.kvsops();
    c.args(["encrypt", "--age", KEY1_RECIPIENT]).arg(&dup);
    assert_eq!(fails(c).status.code(), Some(2));
}

#[test]
fn filestatus_reports_encryption() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", SECRET);
    let mut c = sb.kvsops();
    c.arg("filestatus").arg(&f);
    assert_eq!(String::from_utf8(ok(c)).unwrap().trim(), r#"{"encrypted":false}"#);
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&f);
    ok(c);
    let mut c = sb.kvsops();
    c.arg("filestatus").arg(&f);
    assert_eq!(String::from_utf8(ok(c)).unwrap().trim(), r#"{"encrypted":true}"#);
}

#[test]
fn rotate_takes_several_files_and_reports_each_failure() {
    let sb = Sandbox::new();
    let files: Vec<_> = (0..3).map(|i| sb.write(&format!("r{i}.yaml"), format!("pw: secret-{i}\n"))).collect();
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).args(&files);
    ok(c);
    let before: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    let mut c = with_key(sb.kvsops());
    c.args(["rotate", "-i"]).args(&files);
    ok(c);
    for (i, f) in files.iter().enumerate() {
        let after = std::fs::read_to_string(f).unwrap();
        assert_ne!(after, before[i], "a new data key re-encrypts every value");
        let mut c = with_key(sb.kvsops());
        c.arg("decrypt").arg(f);
        assert_eq!(String::from_utf8(ok(c)).unwrap(), format!("pw: secret-{i}\n"));
        if have("sops") {
            let mut c = with_key(sb.sops());
            c.arg("decrypt").arg(f);
            assert_eq!(String::from_utf8(ok(c)).unwrap(), format!("pw: secret-{i}\n"));
        }
    }
    // One file that is not encrypted: the others still rotate, the exit code is non-zero.
    std::fs::write(&files[1], "pw: plain\n").unwrap();
    let mut c = with_key(sb.kvsops());
    c.args(["rotate", "-i"]).args(&files);
    let out = fails(c);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 3 files failed"));
    assert_eq!(std::fs::read_to_string(&files[1]).unwrap(), "pw: plain\n");
}

/// `sops --config X encrypt F` is how sops documents its global flag. Before a subcommand sops
/// honours only `--config` and silently ignores its other top-level flags; kvsops does the same
/// but says what it ignored. (Taken for the legacy mode, `encrypt` would be a FILE to edit: the
/// editor here is `false`, so that would fail.)
#[test]
fn flags_before_a_subcommand_are_taken_as_sops_takes_them() {
    let sb = Sandbox::new();
    sb.write(
        "conf/rules.yaml",
        format!("creation_rules:\n  - encrypted_regex: ^stringData$\n    age: {KEY1_RECIPIENT}\n"),
    );
    let f = sb.write("s.yaml", SECRET);
    let argv = ["--config", "conf/rules.yaml", "-i", "--input-type", "json", "encrypt", "s.yaml"];

    let mut c = with_key(sb.kvsops());
    c.args(argv).env("SOPS_EDITOR", "false");
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let enc = String::from_utf8(out.stdout).unwrap();
    assert!(enc.contains("password: ENC[AES256_GCM,"), "the config's rule was used: {enc}");
    assert!(enc.contains("name: s\n"), "only stringData is encrypted: {enc}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), SECRET, "-i before the subcommand is ignored, as in sops");
    assert!(stderr.contains("ignoring --in-place, --input-type before `encrypt`"), "{stderr}");

    // Any other flag before the subcommand is named as ignored (here decrypting a plain file fails,
    // exit 1, as in sops).
    let mut c = with_key(sb.kvsops());
    c.args(["--verbose", "--age", KEY1_RECIPIENT, "decrypt", "s.yaml"]).env("SOPS_EDITOR", "false");
    let out = fails(c);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ignoring --age before `decrypt`"));

    // After `--`, `encrypt` is a file name (legacy edit mode), not a subcommand.
    let mut c = sb.kvsops();
    c.args(["--config", "conf/rules.yaml", "--", "encrypt"]).env("SOPS_EDITOR", "false");
    let out = fails(c);
    assert!(String::from_utf8_lossy(&out.stderr).contains("editor"), "{}", String::from_utf8_lossy(&out.stderr));

    if have("sops") {
        // The real sops, same command line: same output shape, file untouched.
        let mut c = with_key(sb.sops());
        c.args(argv);
        let enc = String::from_utf8(ok(c)).unwrap();
        assert!(enc.contains("password: ENC[AES256_GCM,") && enc.contains("name: s\n"), "{enc}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), SECRET);
    }
}

/// Scripts that check which sops they run grep the first line of `sops --version`: kvsops's first
/// line starts with exactly what sops 3.11 prints, and never calls the network for updates.
#[test]
fn version_reads_as_sops_3_11_first() {
    let sb = Sandbox::new();
    for flags in [&["--version"][..], &["-v"], &["--version", "--check-for-updates"]] {
        let mut c = sb.kvsops();
        c.args(flags);
        let out = String::from_utf8(ok(c)).unwrap();
        let first = out.lines().next().unwrap_or_default();
        assert!(first.starts_with("sops 3.11.0 (kvsops ") && first.ends_with(')'), "{flags:?}: {out}");
        if have("sops") {
            let mut s = sb.sops();
            s.args(["--version", "--disable-version-check"]);
            let theirs =
                String::from_utf8_lossy(&s.output().unwrap().stdout).lines().next().unwrap_or_default().to_string();
            assert!(first.starts_with(&theirs), "sops prints {theirs:?}");
        }
    }
}

/// `completion SHELL` prints a script (sops's command; before it was taken for a file name and
/// opened an editor), `help` prints the help, `publish` is refused with a reason, and
/// `--disable-version-check` is accepted anywhere without a word.
#[test]
fn completion_help_publish_and_the_version_check_flag() {
    let sb = Sandbox::new();
    let run = |args: &[&str]| {
        let mut c = sb.kvsops();
        c.args(args).stdin(std::process::Stdio::null());
        c.output().unwrap()
    };
    let bash = run(&["completion", "bash"]);
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(bash.status.success() && script.contains("complete -F") && script.contains("encrypt"), "{script}");
    for shell in ["zsh", "fish", "powershell"] {
        let out = run(&["completion", shell]);
        assert!(out.status.success() && out.stdout.len() > 100, "{shell}");
    }
    let bad = run(&["completion", "tcsh"]);
    assert!(!bad.status.success() && !sb.path().join("completion").exists());
    let help = run(&["help"]);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("Usage:"));
    let publish = run(&["publish", "s.yaml"]);
    let err = String::from_utf8_lossy(&publish.stderr);
    assert_eq!(publish.status.code(), Some(1), "{err}");
    assert!(err.contains("publish is not supported"), "{err}");
    let plain = sb.write("p.yaml", "a: 1\n");
    for args in [
        vec!["--disable-version-check", "encrypt", "--age", KEY1_RECIPIENT, plain.to_str().unwrap()],
        vec!["encrypt", "--disable-version-check", "--age", KEY1_RECIPIENT, plain.to_str().unwrap()],
    ] {
        let out = run(&args);
        assert!(out.status.success() && out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// `--config /dev/null` is a config without rules: the `.sops.yaml` above is not used, the keys
/// on the command line decide (and without them it is the "no keys" error, not a parse error).
#[test]
fn config_dev_null_means_no_config() {
    let sb = Sandbox::new();
    sb.write(".sops.yaml", format!("creation_rules:\n  - encrypted_regex: ^data$\n    age: {KEY1_RECIPIENT}\n"));
    let f = sb.write("s.yaml", "data: secret\nname: kept\n");
    let mut with_rule = sb.kvsops();
    with_rule.args(["encrypt"]).arg(&f);
    assert!(String::from_utf8(ok(with_rule)).unwrap().contains("name: kept"), "the rule applies by default");
    let mut c = sb.kvsops();
    c.args(["encrypt", "--config", "/dev/null", "--age", KEY1_RECIPIENT]).arg(&f);
    let out = String::from_utf8(ok(c)).unwrap();
    assert!(!out.contains("kept") && out.contains("name: ENC["), "no rule: every value encrypted\n{out}");
    let mut c = sb.kvsops();
    c.args(["encrypt", "--config", "/dev/null"]).arg(&f);
    let out = fails(c);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no keys provided") || err.contains("no matching creation rules"), "{err}");
}
