//! In-place writes keep what is at the path, and no plaintext is ever left behind (issue 13):
//! hard links, symlinks, FIFOs and devices are written into, owners, modes and extended
//! attributes are kept, the kernel's permission check comes first (exit 3), signals and `kill -9`
//! leave no temporary file (or one that the next run removes and `check` reports), an unreadable
//! default key file is skipped, and a closed pipe ends kvsops by SIGPIPE as it ends sops.
//! Tests that need another user run it with `setpriv` and are skipped (saying so) when not root.
#![cfg(unix)]

use crate::common;

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const PLAIN: &str = "user: admin\npassword: hunter2-very-secret\n";
const NOBODY: u32 = 65534;

fn key_text() -> String {
    std::fs::read_to_string(key1_file()).expect("key1")
}

fn with_key(mut c: Command) -> Command {
    c.env("SOPS_AGE_KEY", key_text());
    c
}

fn is_encrypted(bytes: &[u8]) -> bool {
    let s = String::from_utf8_lossy(bytes);
    s.contains("ENC[AES256_GCM") && !s.contains("hunter2")
}

fn encrypt_in_place(sb: &Sandbox, f: &Path) {
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(f);
    ok(c);
}

fn kvsops_decrypt(sb: &Sandbox, f: &Path) -> String {
    let mut c = with_key(sb.kvsops());
    c.arg("decrypt").arg(f);
    String::from_utf8(ok(c)).expect("utf-8")
}

fn sops_decrypt(sb: &Sandbox, f: &Path) -> String {
    let mut c = with_key(sb.sops());
    c.arg("decrypt").arg(f);
    String::from_utf8(ok(c)).expect("utf-8")
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".kvsops-") || n.starts_with("kvsops-"))
        .collect()
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("kvsops did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_hard_link_gets_the_new_content_too_as_with_sops() {
    let sb = Sandbox::new();
    let a = sb.write("a.yaml", PLAIN);
    let b = sb.path().join("b.yaml");
    std::fs::hard_link(&a, &b).unwrap();
    let ino = std::fs::metadata(&a).unwrap().ino();
    encrypt_in_place(&sb, &a);
    let (ma, mb) = (std::fs::metadata(&a).unwrap(), std::fs::metadata(&b).unwrap());
    assert_eq!((ma.ino(), mb.ino(), ma.nlink()), (ino, ino, 2), "the file was written into, not replaced");
    assert!(is_encrypted(&std::fs::read(&b).unwrap()), "b.yaml kept the plaintext");
    assert_eq!(kvsops_decrypt(&sb, &b), PLAIN);
    // Back to plaintext through the other name: both names again.
    let mut c = with_key(sb.kvsops());
    c.args(["decrypt", "-i"]).arg(&b);
    ok(c);
    assert_eq!(std::fs::read_to_string(&a).unwrap(), PLAIN);
    if have("sops") {
        // sops writes into the file: both names are encrypted, and it reads what kvsops wrote.
        encrypt_in_place(&sb, &a);
        assert_eq!(sops_decrypt(&sb, &b), PLAIN);
        let c1 = sb.write("c.yaml", PLAIN);
        let d1 = sb.path().join("d.yaml");
        std::fs::hard_link(&c1, &d1).unwrap();
        let mut s = sb.sops();
        s.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&c1);
        ok(s);
        assert!(is_encrypted(&std::fs::read(&d1).unwrap()), "sops writes into a hard-linked file");
    }
}

#[test]
fn a_symlink_stays_a_link_to_the_rewritten_file() {
    let sb = Sandbox::new();
    let target = sb.write("real/s.yaml", PLAIN);
    let link = sb.path().join("s.yaml");
    std::os::unix::fs::symlink("real/s.yaml", &link).unwrap();
    encrypt_in_place(&sb, &link);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(is_encrypted(&std::fs::read(&target).unwrap()));
    assert_eq!(kvsops_decrypt(&sb, &link), PLAIN);
}

/// `encrypt -i /dev/stdin` fed by a pipe, with a link of our own (replacing the system's
/// /dev/stdin would break the machine): the link stays, the output goes into the pipe (as sops).
#[test]
fn a_symlink_to_a_pipe_is_written_into_not_replaced() {
    let sb = Sandbox::new();
    let link = sb.path().join("in.yaml");
    std::os::unix::fs::symlink("/proc/self/fd/0", &link).unwrap();
    let run = |mut c: Command| {
        c.args(["encrypt", "-i", "--input-type", "yaml", "--age", KEY1_RECIPIENT]).arg(&link);
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
        child.stdin.take().expect("stdin").write_all(PLAIN.as_bytes()).expect("feed");
        child.wait_with_output().expect("wait")
    };
    let out = run(sb.kvsops());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = std::fs::symlink_metadata(&link).unwrap();
    assert!(m.file_type().is_symlink(), "the link was replaced by a regular file");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/proc/self/fd/0"));
    if have("sops") {
        let out = run(sb.sops());
        assert!(out.status.success(), "sops: {}", String::from_utf8_lossy(&out.stderr));
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    }
}

#[test]
fn a_fifo_is_written_into_and_stays_a_fifo() {
    let sb = Sandbox::new();
    let fifo = sb.path().join("f.yaml");
    mkfifo(&fifo);
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&fifo).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    // Feed the input (opening blocks until kvsops opens the FIFO to read it).
    std::fs::OpenOptions::new().write(true).open(&fifo).unwrap().write_all(PLAIN.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Then read the output: a non-blocking reader lets kvsops open its write end.
    use std::os::unix::fs::OpenOptionsExt;
    let mut reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(120));
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
    let mut out = Vec::new();
    let _ = reader.read_to_end(&mut out);
    assert!(is_encrypted(&out), "the encrypted output went into the FIFO: {:?}", String::from_utf8_lossy(&out));
    let enc = sb.write("from-fifo.yaml", &out);
    assert_eq!(kvsops_decrypt(&sb, &enc), PLAIN);
}

#[test]
fn a_device_is_written_into_never_replaced() {
    let sb = Sandbox::new();
    let link = sb.path().join("null.yaml");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let f = sb.write("s.yaml", PLAIN);
    let mut c = sb.kvsops();
    c.args(["encrypt", "--age", KEY1_RECIPIENT, "--output"]).arg(&link).arg(&f);
    ok(c);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
}

/// sops 3.11 as uid 65534 on a 0444 file: "Could not open in-place file for writing: open
/// …: permission denied", exit 3, the file unchanged. kvsops checks before any key is asked for.
#[test]
fn an_unprivileged_user_cannot_rewrite_a_read_only_file() {
    if !running_as_root("an_unprivileged_user_cannot_rewrite_a_read_only_file") {
        return;
    }
    let sb = Sandbox::new();
    let ro = sb.write("ro.yaml", PLAIN);
    chown(&ro, NOBODY, NOBODY);
    chmod(&ro, 0o444);
    let mut c = sb.kvsops_as(NOBODY, NOBODY);
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&ro);
    let out = fails(c);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("ro.yaml") && err.contains("Permission denied"), "{err}");
    assert_eq!(std::fs::read_to_string(&ro).unwrap(), PLAIN);
    assert_eq!(std::fs::metadata(&ro).unwrap().mode() & 0o7777, 0o444);

    // An encrypted read-only file: `set` and `decrypt -i` fail with 3 before any key is needed
    // (no key is given: a key lookup would fail with 128 instead).
    let enc = sb.write("enc.yaml", PLAIN);
    encrypt_in_place(&sb, &enc);
    chown(&enc, NOBODY, NOBODY);
    chmod(&enc, 0o444);
    let before = std::fs::read(&enc).unwrap();
    let mut c = sb.kvsops_as(NOBODY, NOBODY);
    c.args(["set"]).arg(&enc).args([r#"["user"]"#, r#""root""#]);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let mut c = sb.kvsops_as(NOBODY, NOBODY);
    c.args(["decrypt", "-i"]).arg(&enc);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&enc).unwrap(), before);
    assert!(temp_files(sb.path()).is_empty());
}

/// sops writes into a writable file of a read-only directory; so does kvsops (no temp file can
/// be made there).
#[test]
fn a_writable_file_in_a_read_only_directory_is_written_into() {
    if !running_as_root("a_writable_file_in_a_read_only_directory_is_written_into") {
        return;
    }
    let sb = Sandbox::new();
    let f = sb.write("ro-dir/w.yaml", PLAIN);
    let dir = sb.path().join("ro-dir");
    chown(&f, NOBODY, NOBODY);
    chown(&dir, NOBODY, NOBODY);
    chmod(&dir, 0o555);
    let ino = std::fs::metadata(&f).unwrap().ino();
    let mut c = sb.kvsops_as(NOBODY, NOBODY);
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&f);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(is_encrypted(&std::fs::read(&f).unwrap()));
    assert_eq!(std::fs::metadata(&f).unwrap().ino(), ino);
    let mut c = with_key(sb.kvsops_as(NOBODY, NOBODY));
    c.args(["decrypt", "-i"]).arg(&f);
    ok(c);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), PLAIN);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

/// root rewriting another user's file keeps its owner, group, mode and extended attributes
/// (sops truncates and writes, which keeps them all).
#[test]
fn root_keeps_the_owner_group_mode_and_xattrs_of_another_users_file() {
    if !running_as_root("root_keeps_the_owner_group_mode_and_xattrs_of_another_users_file") {
        return;
    }
    let sb = Sandbox::new();
    let f = sb.write("theirs.yaml", PLAIN);
    chown(&f, NOBODY, NOBODY);
    chmod(&f, 0o640);
    let c = std::ffi::CString::new(f.as_os_str().as_encoded_bytes()).unwrap();
    let name = std::ffi::CString::new("user.kvsops-test").unwrap();
    // SAFETY: valid path, attribute name and buffer.
    let xattr =
        unsafe { libc::setxattr(c.as_ptr(), name.as_ptr(), b"kept".as_ptr() as *const libc::c_void, 4, 0) } == 0;
    encrypt_in_place(&sb, &f);
    let m = std::fs::metadata(&f).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (NOBODY, NOBODY, 0o640));
    assert!(is_encrypted(&std::fs::read(&f).unwrap()));
    if xattr {
        let mut buf = [0u8; 16];
        // SAFETY: valid path, name and buffer of the given length.
        let n = unsafe { libc::getxattr(c.as_ptr(), name.as_ptr(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        assert_eq!(n, 4, "the extended attribute was lost");
        assert_eq!(&buf[..4], b"kept");
    } else {
        eprintln!("NOTE: user extended attributes are not supported here; only owner and mode checked");
    }
}

/// A group-writable file of another user: the user may write into it but could not give a new
/// file its owner, so it is written into and keeps owner and group.
#[test]
fn an_unprivileged_user_keeps_the_owner_of_a_group_writable_file() {
    if !running_as_root("an_unprivileged_user_keeps_the_owner_of_a_group_writable_file") {
        return;
    }
    let sb = Sandbox::new();
    let f = sb.write("shared.yaml", PLAIN);
    chown(&f, 0, NOBODY);
    chmod(&f, 0o664);
    let mut c = sb.kvsops_as(NOBODY, NOBODY);
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&f);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = std::fs::metadata(&f).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, NOBODY, 0o664));
    assert!(is_encrypted(&std::fs::read(&f).unwrap()));
}

/// A YAML file of `n` keys with values long enough that writing it takes a moment.
fn big_yaml(n: usize) -> String {
    let mut s = String::with_capacity(n * 64);
    for i in 0..n {
        s.push_str(&format!("key{i}: hunter2-secret-value-{i}-padding-padding-padding\n"));
    }
    s
}

/// Sends `sig` to kvsops as soon as a `.kvsops-` temporary file appears in `dir` (plus `delay`),
/// or after `fallback` if it never does. Returns the exit status and whether the file was seen.
fn interrupt_when_temp_appears(
    mut child: Child,
    dir: &Path,
    sig: i32,
    delay: Duration,
    fallback: Duration,
) -> (std::process::ExitStatus, bool) {
    let start = Instant::now();
    let mut seen = false;
    while child.try_wait().expect("wait").is_none() {
        if !temp_files(dir).is_empty() {
            seen = true;
            break;
        }
        if start.elapsed() > fallback {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(delay);
    // SAFETY: signalling our own child (a zombie at worst, until waited for).
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
    (wait_timeout(&mut child, Duration::from_secs(60)), seen)
}

#[test]
fn signals_during_decrypt_in_place_leave_the_old_or_the_new_file_and_no_temp_file() {
    let sb = Sandbox::new();
    let plain = big_yaml(60_000);
    let src = sb.write("src.yaml", &plain);
    let mut c = sb.kvsops();
    c.args(["encrypt", "--age", KEY1_RECIPIENT]).arg(&src);
    let enc = ok(c);
    std::fs::remove_file(&src).unwrap();
    let target = sb.path().join("big.yaml");
    let mut hits = 0;
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
        for delay_us in [0u64, 1_000, 4_000] {
            std::fs::write(&target, &enc).unwrap();
            let mut c = with_key(sb.kvsops());
            c.args(["decrypt", "-i"]).arg(&target).stdout(Stdio::null()).stderr(Stdio::null());
            let child = c.spawn().expect("spawn");
            let (status, seen) = interrupt_when_temp_appears(
                child,
                sb.path(),
                sig,
                Duration::from_micros(delay_us),
                Duration::from_secs(120),
            );
            let now = std::fs::read(&target).unwrap();
            assert!(now == enc || now == plain.as_bytes(), "signal {sig} after {delay_us}us: a partial file");
            assert_eq!(temp_files(sb.path()), Vec::<String>::new(), "signal {sig} after {delay_us}us left a temp file");
            assert!(status.success() || status.code() == Some(128 + sig), "signal {sig}: {status:?}");
            if seen && status.code() == Some(128 + sig) {
                hits += 1;
            }
        }
    }
    assert!(hits > 0, "no signal arrived while the temporary file existed: the test did not hit the write window");
}

#[test]
fn a_signal_while_edit_writes_its_temp_file_leaves_no_plaintext() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", big_yaml(20_000));
    encrypt_in_place(&sb, &f);
    let before = std::fs::read(&f).unwrap();
    let editor = sb.write("ed.sh", "#!/bin/sh\nsleep 20\n");
    chmod(&editor, 0o755);
    let tmp = sb.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
        for delay_us in [0u64, 300] {
            let mut c = with_key(sb.kvsops());
            c.env("EDITOR", &editor).env("TMPDIR", &tmp).arg("edit").arg(&f).stderr(Stdio::null());
            let child = c.spawn().expect("spawn");
            let (status, seen) = interrupt_when_temp_appears(
                child,
                &tmp,
                sig,
                Duration::from_micros(delay_us),
                Duration::from_secs(120),
            );
            assert!(seen, "the private directory never appeared");
            assert_eq!(status.code(), Some(128 + sig), "signal {sig}: {status:?}");
            let left: Vec<PathBuf> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().path()).collect();
            assert!(left.is_empty(), "signal {sig} after {delay_us}us left plaintext behind: {left:?}");
            assert_eq!(std::fs::read(&f).unwrap(), before);
        }
    }
}

#[test]
fn kill_9_leftovers_are_reported_by_check_and_removed_by_the_next_write() {
    let sb = Sandbox::new();
    let plain = big_yaml(60_000);
    let src = sb.write("src.yaml", &plain);
    let mut c = sb.kvsops();
    c.args(["encrypt", "--age", KEY1_RECIPIENT]).arg(&src);
    let enc = ok(c);
    std::fs::remove_file(&src).unwrap();
    let dir = sb.path().join("repo");
    std::fs::create_dir(&dir).unwrap();
    let target = dir.join("big.yaml");
    let mut left = Vec::new();
    for _ in 0..5 {
        std::fs::write(&target, &enc).unwrap();
        let mut c = with_key(sb.kvsops());
        c.args(["decrypt", "-i"]).arg(&target).stdout(Stdio::null()).stderr(Stdio::null());
        let child = c.spawn().expect("spawn");
        interrupt_when_temp_appears(child, &dir, libc::SIGKILL, Duration::ZERO, Duration::from_secs(120));
        left = temp_files(&dir);
        if !left.is_empty() {
            break;
        }
    }
    assert_eq!(left.len(), 1, "kill -9 never hit the write window");
    assert_eq!(std::fs::read(&target).unwrap(), enc, "kill -9 before the rename leaves the old file");

    // `check` names the leftover (it may hold plaintext), outside git and inside it.
    let mut c = sb.kvsops();
    c.arg("check").arg("repo");
    let out = fails(c);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains(&left[0]) && report.contains("interrupted kvsops write"), "{report}");
    if have("git") {
        let git = |args: &[&str]| {
            let s = Command::new("git").args(args).current_dir(&dir).stdout(Stdio::null()).status().unwrap();
            assert!(s.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        let mut c = sb.kvsops();
        c.current_dir(&dir).arg("check");
        let report = String::from_utf8_lossy(&fails(c).stdout).into_owned();
        assert!(report.contains(&left[0]), "untracked leftover not reported: {report}");
        git(&["add", "-A"]);
        let mut c = sb.kvsops();
        c.current_dir(&dir).args(["check", "--staged"]);
        let report = String::from_utf8_lossy(&fails(c).stdout).into_owned();
        assert!(report.contains(&left[0]), "staged leftover not reported: {report}");
        git(&["rm", "-q", "--cached", "-r", "."]);
    }

    // The next write in that directory removes it (its process is gone).
    let other = dir.join("other.yaml");
    std::fs::write(&other, PLAIN).unwrap();
    encrypt_in_place(&sb, &other);
    assert_eq!(temp_files(&dir), Vec::<String>::new());
}

/// sops skips an unreadable ~/.config/sops/age/keys.txt when another source has the key.
#[test]
fn an_unreadable_default_key_file_is_skipped() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", PLAIN);
    encrypt_in_place(&sb, &f);
    // A directory where the key file should be cannot be read, even by root.
    let default = sb.path().join("xdg/sops/age/keys.txt");
    std::fs::create_dir_all(&default).unwrap();
    let mut c = sb.kvsops();
    c.env("SOPS_AGE_KEY_FILE", key1_file()).args(["decrypt", "--verbose"]).arg(&f);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), PLAIN);
    assert!(err.contains("skipping the age key file"), "--verbose says it was skipped: {err}");
    // Alone, it is named in the error (exit 128, as sops).
    let mut c = sb.kvsops();
    c.arg("decrypt").arg(&f);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(128));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keys.txt"));

    if running_as_root("an_unreadable_default_key_file_is_skipped (EACCES part)") {
        std::fs::remove_dir(&default).unwrap();
        std::fs::copy(key1_file(), &default).unwrap();
        chmod(&default, 0o000);
        let key = sb.write("key-for-nobody.txt", key_text());
        chmod(&key, 0o644);
        chmod(&f, 0o644);
        let mut c = sb.kvsops_as(NOBODY, NOBODY);
        c.env("SOPS_AGE_KEY_FILE", &key).arg("decrypt").arg(&f);
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), PLAIN);
    }
}

/// `sops decrypt f | head -1` on a large file: sops dies of SIGPIPE (141 in a shell).
#[test]
fn a_closed_pipe_ends_kvsops_by_sigpipe_not_a_panic() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", big_yaml(20_000));
    encrypt_in_place(&sb, &f);
    // `2>&1 | head -c 16`: standard output and error are one pipe, closed after 16 bytes.
    let run = |mut c: Command| {
        let (mut reader, writer) = std::io::pipe().expect("pipe");
        c.arg("decrypt").arg(&f).stdout(writer.try_clone().expect("dup")).stderr(writer);
        let mut child = c.spawn().expect("spawn");
        drop(c);
        let mut first = [0u8; 16];
        reader.read_exact(&mut first).unwrap();
        drop(reader);
        wait_timeout(&mut child, Duration::from_secs(60))
    };
    let status = run(with_key(sb.kvsops()));
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?} (101 is a panic)");
    if have("sops") {
        let status = run(with_key(sb.sops()));
        assert_eq!(status.signal(), Some(libc::SIGPIPE), "sops: {status:?}");
    }
    // A closed standard error: the error message cannot be written; no panic either.
    // (The read end is closed before kvsops starts, so its first message hits the closed pipe.)
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut c = sb.kvsops();
    c.arg("decrypt").arg("missing.yaml").stdout(Stdio::null()).stderr(writer);
    let mut child = c.spawn().expect("spawn");
    drop(c);
    let status = wait_timeout(&mut child, Duration::from_secs(60));
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
}
