//! The pre-commit guard and git integration, end to end in throwaway git repositories:
//! `kvsops check` (working tree, `--staged`, `--all`), the installed hook blocking a real
//! `git commit`, renames/deletions/odd names, textconv diffs and the merge driver (whose result the
//! real `sops` must decrypt).

use crate::common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const RULES: &str =
    "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: AGE\n";

fn secret(password: &str, user: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: {password}\n    user: {user}\n")
}

/// A git repository in a sandbox, with kvsops's rules for `secrets/`.
struct Repo {
    sb: Sandbox,
}

fn scrub(cmd: &mut Command) {
    // Tests may themselves run inside a git hook: never let its repository leak in.
    for k in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR", "GIT_PREFIX"] {
        cmd.env_remove(k);
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1");
}

impl Repo {
    /// A fresh repository, or `None` (the test skips) without `git`; see `common::have`.
    fn new() -> Option<Self> {
        if !have("git") {
            return None;
        }
        let sb = Sandbox::new();
        sb.write(".sops.yaml", RULES.replace("AGE", KEY1_RECIPIENT));
        let r = Repo { sb };
        r.git_ok(&["init", "-q", "-b", "main"]);
        r.git_ok(&["config", "user.name", "Guard Test"]);
        r.git_ok(&["config", "user.email", "guard@example.invalid"]);
        r.git_ok(&["config", "commit.gpgsign", "false"]);
        Some(r)
    }

    fn path(&self) -> &Path {
        self.sb.path()
    }

    fn git_in<I, S>(&self, dir: &Path, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new("git");
        c.current_dir(dir).args(args);
        c.env("HOME", self.path()).env("XDG_CONFIG_HOME", self.path().join("xdg"));
        c.env("SOPS_AGE_KEY_FILE", key1_file());
        scrub(&mut c);
        c.output().expect("git")
    }

    fn git_ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.git_in(self.path(), args);
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    fn kv(&self, args: &[&str]) -> Command {
        let mut c = self.sb.kvsops();
        scrub(&mut c);
        c.args(args);
        c
    }

    fn check(&self, args: &[&str]) -> (i32, String, String) {
        let mut c = self.kv(&["check"]);
        c.args(args);
        let out = c.output().expect("kvsops");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn encrypt(&self, rel: &str) {
        ok(self.kv(&["encrypt", "-i", rel]));
    }

    fn decrypt(&self, rel: &str) -> String {
        let mut c = self.kv(&["decrypt", rel]);
        c.env("SOPS_AGE_KEY_FILE", key1_file());
        String::from_utf8(ok(c)).expect("utf-8")
    }

    /// Writes a plaintext secret and encrypts it in place.
    fn encrypted(&self, rel: &str, password: &str, user: &str) -> PathBuf {
        let p = self.sb.write(rel, secret(password, user));
        self.encrypt(rel);
        p
    }
}

#[test]
fn plaintext_under_a_rule_is_rejected_encrypted_accepted_outside_ignored() {
    let Some(r) = Repo::new() else { return };
    r.sb.write("secrets/db.yaml", secret("hunter2-very-secret", "admin"));
    r.sb.write("apps/leak.yaml", secret("not-under-a-rule", "x"));
    r.sb.write("apps/readme.md", "# hello\n");
    r.git_ok(&["add", "-A"]);

    let (code, out, _) = r.check(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("secrets/db.yaml: sops: not encrypted"), "{out}");
    assert!(out.contains("secrets/db.yaml: stringData.password: plaintext"), "{out}");
    assert!(!out.contains("metadata.name"), "only what the rule selects is named: {out}");
    assert!(!out.contains("apps/"), "files outside every rule are ignored: {out}");
    assert!(!out.contains("hunter2"), "never a value in the report");

    r.encrypt("secrets/db.yaml");
    let (code, out, err) = r.check(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.is_empty());

    // --all flags the plaintext Secret outside every rule, but not the encrypted one or the readme.
    let (code, out, _) = r.check(&["--all"]);
    assert_eq!(code, 1);
    assert_eq!(out, "apps/leak.yaml: stringData: plaintext Kubernetes Secret outside every creation rule (encrypt it, or add a rule for it to .sops.yaml)\n");

    // Explicit paths: a file and a directory.
    let (code, _, _) = r.check(&["secrets/db.yaml"]);
    assert_eq!(code, 0);
    let (code, out, _) = r.check(&["--all", "apps"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn one_value_back_in_plaintext_is_named_and_a_changed_rule_is_reported() {
    let Some(r) = Repo::new() else { return };
    let f = r.encrypted("secrets/db.yaml", "hunter2-very-secret", "admin");
    let enc = std::fs::read_to_string(&f).unwrap();
    let tampered: String = enc
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("password: ENC[") {
                "    password: hunter2".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    assert_ne!(tampered, enc);
    std::fs::write(&f, &tampered).unwrap();
    let (code, out, _) = r.check(&["secrets/db.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("secrets/db.yaml: stringData.password: plaintext string"), "{out}");

    // The file records ^(data|stringData)$; a rule that now says something else is a mismatch.
    std::fs::write(&f, &enc).unwrap();
    r.sb.write(
        ".sops.yaml",
        RULES.replace("AGE", KEY1_RECIPIENT).replace("^(data|stringData)$", "^(data|stringData|metadata)$"),
    );
    let (code, out, _) = r.check(&["secrets/db.yaml"]);
    assert_eq!(code, 1);
    assert!(
        out.contains(
            "secrets/db.yaml: sops.encrypted_regex: the file records encrypted_regex: \"^(data|stringData)$\""
        ),
        "{out}"
    );
    assert!(out.contains("secrets/db.yaml: metadata.name: plaintext string"), "{out}");
}

#[test]
fn parse_failures_are_reported() {
    let Some(r) = Repo::new() else { return };
    r.sb.write("secrets/bad.yaml", "a: [1, 2\nb: {\n");
    let (code, out, err) = r.check(&["secrets/bad.yaml"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.starts_with("secrets/bad.yaml: (file): "), "{out}");
}

#[test]
fn staged_plaintext_is_rejected_even_when_the_working_tree_is_encrypted() {
    let Some(r) = Repo::new() else { return };
    r.sb.write("secrets/db.yaml", secret("hunter2-very-secret", "admin"));
    r.git_ok(&["add", "secrets/db.yaml"]);
    r.encrypt("secrets/db.yaml");
    let (code, out, _) = r.check(&["--staged"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("secrets/db.yaml: stringData.password: plaintext"), "{out}");
    let (code, _, _) = r.check(&[]);
    assert_eq!(code, 0, "the working tree itself is fine");
    r.git_ok(&["add", "secrets/db.yaml"]);
    let (code, out, _) = r.check(&["--staged"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn renames_deletions_spaces_and_non_utf8_names() {
    let Some(r) = Repo::new() else { return };
    r.encrypted("secrets/a.yaml", "one", "u");
    r.sb.write("apps/plain.yaml", secret("p", "u"));
    r.git_ok(&["add", "-A"]);
    r.git_ok(&["commit", "-q", "-m", "init"]);

    // An encrypted file renamed to a name with spaces passes; a deletion is skipped.
    r.git_ok(&["mv", "secrets/a.yaml", "secrets/with space.yaml"]);
    let (code, out, _) = r.check(&["--staged"]);
    assert_eq!(code, 0, "{out}");
    r.git_ok(&["rm", "-q", "-f", "secrets/with space.yaml"]);
    let (code, out, _) = r.check(&["--staged"]);
    assert_eq!(code, 0, "{out}");

    // A plaintext file renamed into the rule's reach is caught under its new name.
    std::fs::create_dir_all(r.path().join("secrets")).unwrap();
    r.git_ok(&["mv", "apps/plain.yaml", "secrets/moved here.yaml"]);
    let (code, out, _) = r.check(&["--staged"]);
    assert_eq!(code, 1);
    assert!(out.contains("secrets/moved here.yaml: stringData.password: plaintext"), "{out}");
    r.git_ok(&["reset", "-q", "--hard"]);

    // A file whose name is not UTF-8 is named byte for byte.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = OsStr::from_bytes(b"secrets/caf\xe9.yaml");
        std::fs::write(r.path().join(name), secret("x", "y")).unwrap();
        let out = r.git_in(r.path(), [OsStr::new("add"), OsStr::new("--"), name]);
        assert!(out.status.success());
        let mut c = r.kv(&["check", "--staged"]);
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let needle = b"secrets/caf\xe9.yaml: stringData.password: plaintext";
        assert!(out.stdout.windows(needle.len()).any(|w| w == needle), "{}", String::from_utf8_lossy(&out.stdout));
        let mut c = r.kv(&["check"]);
        assert_eq!(c.output().unwrap().status.code(), Some(1), "ls-files -z keeps the name too");
    }
}

#[test]
fn installed_hook_blocks_a_plaintext_commit_from_a_subdirectory() {
    let Some(r) = Repo::new() else { return };
    r.sb.write("README.md", "hi\n");
    r.git_ok(&["add", "README.md"]);
    r.git_ok(&["commit", "-q", "-m", "init"]);
    std::fs::create_dir_all(r.path().join("secrets")).unwrap();
    let sub = r.path().join("secrets");

    let mut c = r.kv(&["hook", "install"]);
    c.current_dir(&sub);
    ok(c);
    let hook = r.path().join(".git/hooks/pre-commit");
    let script = std::fs::read_to_string(&hook).unwrap();
    assert!(script.starts_with("#!/bin/sh\n") && script.contains("check --staged"), "{script}");
    // Idempotent.
    ok(r.kv(&["hook", "install"]));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), script);

    r.sb.write("secrets/db.yaml", secret("hunter2-very-secret", "admin"));
    let out = r.git_in(&sub, ["add", "db.yaml"]);
    assert!(out.status.success());
    let out = r.git_in(&sub, ["commit", "-q", "-m", "leak"]);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the hook must refuse: {all}");
    assert!(all.contains("secrets/db.yaml: stringData.password: plaintext"), "{all}");
    assert!(r.git_in(r.path(), ["rev-parse", "-q", "--verify", "HEAD~1"]).stdout.is_empty(), "nothing was committed");

    let mut c = r.kv(&["encrypt", "-i", "db.yaml"]);
    c.current_dir(&sub);
    ok(c);
    assert!(r.git_in(&sub, ["add", "db.yaml"]).status.success());
    let out = r.git_in(&sub, ["commit", "-q", "-m", "encrypted"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // `git commit <path>` uses a temporary index: the hook must look at that one.
    r.sb.write("secrets/db.yaml", secret("again", "admin"));
    let out = r.git_in(&sub, ["commit", "-q", "-m", "leak2", "db.yaml"]);
    assert!(!out.status.success(), "commit <path> with plaintext must be refused");
}

#[test]
fn hook_install_respects_foreign_hooks_and_core_hooks_path() {
    let Some(r) = Repo::new() else { return };
    r.git_ok(&["config", "core.hooksPath", ".githooks"]);
    ok(r.kv(&["hook", "install"]));
    let hook = r.path().join(".githooks/pre-commit");
    assert!(std::fs::read_to_string(&hook).unwrap().contains("check --staged"));

    std::fs::write(&hook, "#!/bin/sh\necho mine\n").unwrap();
    let out = fails(r.kv(&["hook", "install"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), "#!/bin/sh\necho mine\n");
    ok(r.kv(&["hook", "install", "--force"]));
    assert!(std::fs::read_to_string(&hook).unwrap().contains("check --staged"));
    assert_eq!(
        std::fs::read_to_string(r.path().join(".githooks/pre-commit.kvsops-backup")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&hook).unwrap().permissions().mode() & 0o111, 0o111);
    }
}

#[test]
fn outside_git_the_directory_tree_is_checked() {
    let sb = Sandbox::new();
    sb.write(".sops.yaml", RULES.replace("AGE", KEY1_RECIPIENT));
    sb.write("secrets/db.yaml", secret("hunter2", "admin"));
    let mut c = sb.kvsops();
    scrub(&mut c);
    c.arg("check");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("secrets/db.yaml: stringData.password"));
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

fn setup_git_drivers(r: &Repo) {
    let exe = shell_quote(Path::new(env!("CARGO_BIN_EXE_kvsops")));
    r.sb.write(".gitattributes", "secrets/*.yaml diff=sops merge=sops\n");
    r.git_ok(&["config", "diff.sops.textconv", &format!("{exe} diff-textconv")]);
    r.git_ok(&["config", "merge.sops.name", "kvsops value-level merge"]);
    r.git_ok(&["config", "merge.sops.driver", &format!("{exe} merge-driver %O %A %B %P")]);
}

#[test]
fn merge_driver_merges_different_keys_and_real_sops_decrypts_the_result() {
    let Some(r) = Repo::new() else { return };
    setup_git_drivers(&r);
    let f = r.encrypted("secrets/db.yaml", "base-password", "base-user");
    r.git_ok(&["add", "-A"]);
    r.git_ok(&["commit", "-q", "-m", "base"]);

    // Each edit re-encrypts from scratch: the two branches do not even share a data key.
    r.git_ok(&["checkout", "-q", "-b", "feature"]);
    r.encrypted("secrets/db.yaml", "feature-password", "base-user");
    r.git_ok(&["commit", "-q", "-am", "feature: password"]);
    r.git_ok(&["checkout", "-q", "main"]);
    r.encrypted("secrets/db.yaml", "base-password", "main-user");
    r.git_ok(&["commit", "-q", "-am", "main: user"]);

    // textconv: the diff shows values, not ciphertext.
    let diff = String::from_utf8(r.git_ok(&["diff", "HEAD~1", "HEAD", "--", "secrets/db.yaml"])).unwrap();
    assert!(diff.contains("-    user: base-user") && diff.contains("+    user: main-user"), "{diff}");
    assert!(!diff.contains("ENC["), "{diff}");

    let ours = std::fs::read_to_string(&f).unwrap();
    let ours_user_line = ours.lines().find(|l| l.trim_start().starts_with("user: ENC[")).unwrap().to_string();
    let out = r.git_in(r.path(), ["merge", "-q", "--no-edit", "feature"]);
    assert!(
        out.status.success(),
        "merge failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = std::fs::read_to_string(&f).unwrap();
    assert!(!merged.contains("<<<<<<<"));
    assert!(
        merged.contains(&format!("{ours_user_line}\n")),
        "our unchanged value keeps its exact ENC string (IV reused):\n{merged}"
    );
    assert_eq!(r.decrypt("secrets/db.yaml"), secret("feature-password", "main-user"));
    let (code, out, _) = r.check(&[]);
    assert_eq!(code, 0, "{out}");

    if have("sops") {
        let mut c = r.sb.sops();
        scrub(&mut c);
        c.env("SOPS_AGE_KEY_FILE", key1_file()).args(["decrypt", "secrets/db.yaml"]);
        let plain = String::from_utf8(ok(c)).unwrap();
        assert!(plain.contains("password: feature-password"), "{plain}");
        assert!(plain.contains("user: main-user"), "{plain}");
    }
}

#[test]
fn merge_driver_reports_a_real_conflict_by_key_path_and_keeps_ours() {
    let Some(r) = Repo::new() else { return };
    setup_git_drivers(&r);
    let f = r.encrypted("secrets/db.yaml", "base-password", "u");
    r.git_ok(&["add", "-A"]);
    r.git_ok(&["commit", "-q", "-m", "base"]);
    r.git_ok(&["checkout", "-q", "-b", "feature"]);
    r.encrypted("secrets/db.yaml", "theirs-password", "u");
    r.git_ok(&["commit", "-q", "-am", "theirs"]);
    r.git_ok(&["checkout", "-q", "main"]);
    r.encrypted("secrets/db.yaml", "ours-password", "u");
    r.git_ok(&["commit", "-q", "-am", "ours"]);
    let ours = std::fs::read(&f).unwrap();

    let out = r.git_in(r.path(), ["merge", "-q", "--no-edit", "feature"]);
    assert!(!out.status.success());
    let msg = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(msg.contains("conflict at stringData.password"), "{msg}");
    assert!(!msg.contains("ours-password") && !msg.contains("theirs-password"), "no values in messages");
    assert_eq!(std::fs::read(&f).unwrap(), ours, "%A stays ours");
}

#[test]
fn textconv_prints_undecryptable_files_as_they_are() {
    let Some(r) = Repo::new() else { return };
    let f = r.encrypted("secrets/db.yaml", "pw", "u");
    let raw = std::fs::read(&f).unwrap();
    let mut c = r.kv(&["diff-textconv", "secrets/db.yaml"]);
    c.env("SOPS_AGE_KEY_FILE", testdata("sops-3.11/key2.txt"));
    assert_eq!(ok(c), raw, "wrong key: shown as is, exit 0");
    let mut c = r.kv(&["diff-textconv", "secrets/db.yaml"]);
    c.env("SOPS_AGE_KEY_FILE", key1_file());
    assert_eq!(String::from_utf8(ok(c)).unwrap(), secret("pw", "u"));
    let plain = r.sb.write("notes.txt", "just text\n");
    let mut c = r.kv(&["diff-textconv"]);
    c.arg(&plain);
    assert_eq!(ok(c), b"just text\n");
}

#[test]
fn merge_driver_merges_json_edited_with_set_and_keeps_our_ciphertext() {
    let Some(r) = Repo::new() else { return };
    r.sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: secrets/.*\\.json$\n    age: {KEY1_RECIPIENT}\n"),
    );
    setup_git_drivers(&r);
    r.sb.write(".gitattributes", "secrets/*.json diff=sops merge=sops\n");
    let f = r.sb.write(
        "secrets/app.json",
        "{\n\t\"db\": {\n\t\t\"password\": \"base\",\n\t\t\"port\": 5432\n\t},\n\t\"token\": \"t0\"\n}\n",
    );
    r.encrypt("secrets/app.json");
    r.git_ok(&["add", "-A"]);
    r.git_ok(&["commit", "-q", "-m", "base"]);

    let set = |index: &str, value: &str| {
        let mut c = r.kv(&["set", "secrets/app.json", index, value]);
        c.env("SOPS_AGE_KEY_FILE", key1_file());
        ok(c);
    };
    r.git_ok(&["checkout", "-q", "-b", "feature"]);
    set(r#"["db"]["password"]"#, r#""from-feature""#);
    set(r#"["added"]"#, r#""new-key""#);
    r.git_ok(&["commit", "-q", "-am", "feature"]);
    r.git_ok(&["checkout", "-q", "main"]);
    set(r#"["token"]"#, r#""t1""#);
    r.git_ok(&["commit", "-q", "-am", "main"]);
    let ours = std::fs::read_to_string(&f).unwrap();

    let out = r.git_in(r.path(), ["merge", "-q", "--no-edit", "feature"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let merged = std::fs::read_to_string(&f).unwrap();
    let line = |text: &str, key: &str| {
        text.lines().find(|l| l.trim_start().starts_with(&format!("\"{key}\""))).map(str::to_string)
    };
    assert_eq!(line(&merged, "token"), line(&ours, "token"), "our change keeps its ciphertext");
    assert_eq!(line(&merged, "port"), line(&ours, "port"), "an untouched value keeps its ciphertext");
    assert_eq!(line(&merged, "recipient"), line(&ours, "recipient"), "our master keys");
    let plain = r.decrypt("secrets/app.json");
    for want in ["\"from-feature\"", "\"t1\"", "\"new-key\"", "5432"] {
        assert!(plain.contains(want), "{want} missing from\n{plain}");
    }
    if have("sops") {
        let mut c = r.sb.sops();
        scrub(&mut c);
        c.env("SOPS_AGE_KEY_FILE", key1_file()).args(["decrypt", "--extract", r#"["added"]"#, "secrets/app.json"]);
        assert_eq!(ok(c), b"new-key");
    }
}
