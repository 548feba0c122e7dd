//! Key services against the real sops: kvsops as a client of `sops keyservice`, sops as a client of
//! `kvsops keyservice`, over unix sockets and TCP on 127.0.0.1, with the age identity only in the
//! server's environment; and what a client does when its service is down.

use crate::common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::*;

const PLAIN: &str = "# the app's secrets\nuser: admin\npassword: s3cr3t-value\nnested:\n    token: abc123\n";

fn demo_key() -> PathBuf {
    testdata("DEMO-ONLY-age-key.txt")
}

fn demo_recipient() -> String {
    recipient_of(&demo_key())
}

/// Where a test's server listens.
enum Addr {
    Unix(PathBuf),
    Tcp(u16),
}

impl Addr {
    fn unix(sb: &Sandbox) -> Self {
        Addr::Unix(sb.path().join("ks.sock"))
    }

    /// A port that was free a moment ago on 127.0.0.1.
    fn tcp() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        Addr::Tcp(l.local_addr().expect("local addr").port())
    }

    fn server_args(&self) -> Vec<String> {
        match self {
            Addr::Unix(p) => vec!["--network".into(), "unix".into(), "--address".into(), p.display().to_string()],
            Addr::Tcp(port) => vec!["--network".into(), "tcp".into(), "--address".into(), format!("127.0.0.1:{port}")],
        }
    }

    fn uri(&self) -> String {
        match self {
            Addr::Unix(p) => format!("unix://{}", p.display()),
            Addr::Tcp(port) => format!("tcp://127.0.0.1:{port}"),
        }
    }

    fn accepts(&self) -> bool {
        match self {
            Addr::Unix(p) => UnixStream::connect(p).is_ok(),
            Addr::Tcp(port) => TcpStream::connect(("127.0.0.1", *port)).is_ok(),
        }
    }
}

/// A running key service; killed (and its output collected) when dropped, on every path.
struct Server {
    child: Option<Child>,
    name: &'static str,
}

impl Server {
    /// Starts `cmd keyservice ...` with the demo age identity in its environment and waits until
    /// it accepts connections (or fails the test when it exits first).
    fn start(mut cmd: Command, name: &'static str, addr: &Addr, extra: &[&str], stdin: Stdio) -> Server {
        cmd.arg("keyservice").args(addr.server_args()).args(extra);
        cmd.env("SOPS_AGE_KEY_FILE", demo_key()).stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("start the key service");
        let mut server = Server { child: Some(child), name };
        // Readiness: poll until it listens; a bound on the number of tries, not a timing assertion.
        for _ in 0..1000 {
            if addr.accepts() {
                return server;
            }
            if let Some(child) = server.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let out = server.stop();
                    panic!(
                        "{name} keyservice exited with {status} before listening:\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = server.stop();
        panic!("{name} keyservice never listened on {}:\n{}", addr.uri(), String::from_utf8_lossy(&out.stderr));
    }

    fn stdin(&mut self) -> std::process::ChildStdin {
        self.child.as_mut().and_then(|c| c.stdin.take()).expect("the server's standard input")
    }

    /// Stops the server with SIGTERM and returns its output and exit status.
    fn stop(&mut self) -> Output {
        let child = self.child.take().expect("a running server");
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        child.wait_with_output().expect("wait for the key service")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("(stopped the {} key service)", self.name);
        }
    }
}

fn sops_server(sb: &Sandbox, addr: &Addr) -> Server {
    Server::start(sb.sops(), "sops", addr, &[], Stdio::null())
}

fn kvsops_server(sb: &Sandbox, addr: &Addr, extra: &[&str], stdin: Stdio) -> Server {
    Server::start(sb.kvsops(), "kvsops", addr, extra, stdin)
}

/// A client command that may use only the key service: no local key service, no key in its
/// environment (the sandbox removes SOPS_* variables and HOME's keys).
fn remote_only(mut cmd: Command, addr: &Addr, subcommand: &str) -> Command {
    cmd.arg(subcommand).arg("--keyservice").arg(addr.uri()).arg("--enable-local-keyservice=false");
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("spawn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn needs_sops() -> bool {
    have("sops")
}

/// kvsops (client, no key of its own) → sops keyservice (holds the age identity): encrypt and
/// decrypt; the file is an ordinary sops file (the real sops decrypts it with the key).
fn kvsops_client_of_sops_server(addr: Addr) {
    let sb = Sandbox::new();
    let plain = sb.write("secret.yaml", PLAIN);
    let _server = sops_server(&sb, &addr);

    let mut enc = remote_only(sb.kvsops(), &addr, "encrypt");
    enc.arg("--age").arg(demo_recipient()).arg(&plain);
    let encrypted = ok(enc);
    let enc_file = sb.write("secret.enc.yaml", &encrypted);
    assert!(text(&encrypted).contains(&demo_recipient()), "{}", text(&encrypted));

    // Without the service kvsops has no key for it: the service did the work.
    let mut alone = sb.kvsops();
    alone.arg("decrypt").arg(&enc_file);
    assert_eq!(run(alone).status.code(), Some(128));

    let mut dec = remote_only(sb.kvsops(), &addr, "decrypt");
    dec.arg(&enc_file);
    assert_eq!(text(&ok(dec)), PLAIN);

    let mut sops_dec = sb.sops();
    sops_dec.env("SOPS_AGE_KEY_FILE", demo_key()).arg("decrypt").arg(&enc_file);
    let by_sops = text(&ok(sops_dec));
    assert!(by_sops.contains("password: s3cr3t-value") && by_sops.contains("token: abc123"), "{by_sops}");

    // A file sops wrote (with the key locally) opens in kvsops through the service.
    let mut sops_enc = sb.sops();
    sops_enc.env("SOPS_AGE_KEY_FILE", demo_key()).arg("encrypt").arg("--age").arg(demo_recipient()).arg(&plain);
    let sops_file = sb.write("by-sops.enc.yaml", ok(sops_enc));
    let mut dec = remote_only(sb.kvsops(), &addr, "decrypt");
    dec.arg(&sops_file);
    let out = text(&ok(dec));
    assert!(out.contains("password: s3cr3t-value") && out.contains("token: abc123"), "{out}");
}

/// sops (client, no key of its own) → kvsops keyservice (holds the identity).
fn sops_client_of_kvsops_server(addr: Addr) {
    let sb = Sandbox::new();
    let plain = sb.write("secret.yaml", PLAIN);
    let mut server = kvsops_server(&sb, &addr, &["--verbose"], Stdio::null());

    let mut enc = remote_only(sb.sops(), &addr, "encrypt");
    enc.arg("--age").arg(demo_recipient()).arg(&plain);
    let enc_file = sb.write("secret.enc.yaml", ok(enc));

    let mut alone = sb.sops();
    alone.arg("decrypt").arg(&enc_file);
    assert_eq!(run(alone).status.code(), Some(128), "sops has no key of its own");

    let mut dec = remote_only(sb.sops(), &addr, "decrypt");
    dec.arg(&enc_file);
    let out = text(&ok(dec));
    assert!(out.contains("password: s3cr3t-value") && out.contains("token: abc123"), "{out}");

    // kvsops, with the key locally, reads what sops wrote through the service.
    let mut kv = sb.kvsops();
    kv.env("SOPS_AGE_KEY_FILE", demo_key()).arg("decrypt").arg(&enc_file);
    assert!(text(&ok(kv)).contains("password: s3cr3t-value"));

    let log = server.stop();
    assert_eq!(log.status.code(), Some(0), "SIGTERM stops the service cleanly");
    let log = text(&log.stderr);
    assert!(log.contains(&format!("encrypt request for age recipient {}: done", demo_recipient())), "{log}");
    assert!(log.contains(&format!("decrypt request for age recipient {}: done", demo_recipient())), "{log}");
    if let Addr::Unix(p) = &addr {
        assert!(!p.exists(), "the socket file is removed on SIGTERM");
    }
}

#[test]
fn kvsops_uses_a_sops_keyservice_on_a_unix_socket() {
    if needs_sops() {
        let sb = Sandbox::new();
        kvsops_client_of_sops_server(Addr::unix(&sb));
    }
}

#[test]
fn kvsops_uses_a_sops_keyservice_over_tcp() {
    if needs_sops() {
        kvsops_client_of_sops_server(Addr::tcp());
    }
}

#[test]
fn sops_uses_a_kvsops_keyservice_on_a_unix_socket() {
    if needs_sops() {
        let sb = Sandbox::new();
        sops_client_of_kvsops_server(Addr::unix(&sb));
    }
}

#[test]
fn sops_uses_a_kvsops_keyservice_over_tcp() {
    if needs_sops() {
        sops_client_of_kvsops_server(Addr::tcp());
    }
}

/// A service that is down: the key fails with the reason, and the exit code is sops's (1 when
/// no data key can be wrapped, 128 when none can be unwrapped).
#[test]
fn a_service_that_is_down_fails_like_sops() {
    if !needs_sops() {
        return;
    }
    let sb = Sandbox::new();
    let plain = sb.write("secret.yaml", PLAIN);
    let mut with_key = sb.sops();
    with_key.env("SOPS_AGE_KEY_FILE", demo_key()).arg("encrypt").arg("--age").arg(demo_recipient()).arg(&plain);
    let enc_file = sb.write("secret.enc.yaml", ok(with_key));
    let down = Addr::Unix(sb.path().join("nobody-listens.sock"));

    for (subcommand, file) in [("encrypt", &plain), ("decrypt", &enc_file)] {
        let outputs: Vec<Output> = [sb.kvsops(), sb.sops()]
            .into_iter()
            .map(|tool| {
                let mut c = remote_only(tool, &down, subcommand);
                if subcommand == "encrypt" {
                    c.arg("--age").arg(demo_recipient());
                }
                c.arg(file);
                run(c)
            })
            .collect();
        let (kv, sops) = (&outputs[0], &outputs[1]);
        assert_eq!(
            kv.status.code(),
            sops.status.code(),
            "{subcommand}: kvsops {:?}, sops {:?}",
            text(&kv.stderr),
            text(&sops.stderr)
        );
        assert!(kv.stdout.is_empty());
        let err = text(&kv.stderr);
        assert!(err.contains(&down.uri()) && err.contains("No such file or directory"), "{subcommand}: {err}");
    }

    // With the local key service on (the default) and a key at hand, the local one answers first.
    let mut dec = sb.kvsops();
    dec.env("SOPS_AGE_KEY_FILE", demo_key()).arg("decrypt").arg("--keyservice").arg(down.uri()).arg(&enc_file);
    assert_eq!(text(&ok(dec)), PLAIN);

    // No key service at all.
    let mut none = sb.kvsops();
    none.arg("encrypt").arg("--enable-local-keyservice=false").arg("--age").arg(demo_recipient()).arg(&plain);
    let out = run(none);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no key service"), "{}", text(&out.stderr));
}

/// The variables: SOPS_KEYSERVICE (comma-separated) and SOPS_ENABLE_LOCAL_KEYSERVICE; a service that
/// is down is skipped for the next one.
#[test]
fn the_environment_variables_choose_the_services() {
    let sb = Sandbox::new();
    let plain = sb.write("secret.yaml", PLAIN);
    let addr = Addr::unix(&sb);
    let _server = kvsops_server(&sb, &addr, &[], Stdio::null());
    let down = Addr::Unix(sb.path().join("down.sock"));
    let services = format!("{},{}", down.uri(), addr.uri());

    let mut enc = sb.kvsops();
    enc.env("SOPS_KEYSERVICE", &services).env("SOPS_ENABLE_LOCAL_KEYSERVICE", "false");
    enc.arg("encrypt").arg("--age").arg(demo_recipient()).arg(&plain);
    let enc_file = sb.write("secret.enc.yaml", ok(enc));

    let mut dec = sb.kvsops();
    dec.env("SOPS_KEYSERVICE", &services).env("SOPS_ENABLE_LOCAL_KEYSERVICE", "false");
    dec.arg("decrypt").arg(&enc_file);
    assert_eq!(text(&ok(dec)), PLAIN);

    // The flag wins over the variable (as with sops).
    let mut dec = sb.kvsops();
    dec.env("SOPS_KEYSERVICE", addr.uri()).arg("decrypt").arg("--enable-local-keyservice=false");
    dec.arg("--keyservice").arg(down.uri()).arg(&enc_file);
    assert_eq!(run(dec).status.code(), Some(128));
}

/// The commands that change an encrypted file go through the service too.
#[test]
fn rotate_set_and_edit_use_the_keyservice() {
    let sb = Sandbox::new();
    let plain = sb.write("secret.yaml", PLAIN);
    let addr = Addr::unix(&sb);
    let _server = kvsops_server(&sb, &addr, &[], Stdio::null());

    let mut enc = remote_only(sb.kvsops(), &addr, "encrypt");
    enc.arg("--age").arg(demo_recipient()).arg("--in-place").arg(&plain);
    ok(enc);

    let mut rotate = remote_only(sb.kvsops(), &addr, "rotate");
    rotate.arg("--in-place").arg(&plain);
    ok(rotate);

    let mut set = remote_only(sb.kvsops(), &addr, "set");
    set.arg(&plain).arg(r#"["user"]"#).arg(r#""root""#);
    ok(set);

    let mut edit = remote_only(sb.kvsops(), &addr, "edit");
    edit.env("EDITOR", "sed -i s/abc123/xyz789/").arg(&plain);
    ok(edit);

    let mut dec = remote_only(sb.kvsops(), &addr, "decrypt");
    dec.arg(&plain);
    let out = text(&ok(dec));
    assert!(
        out.contains("user: root") && out.contains("token: xyz789") && out.contains("password: s3cr3t-value"),
        "{out}"
    );

    // The legacy form takes the flags too.
    let mut legacy = sb.kvsops();
    legacy.arg("-d").arg("--keyservice").arg(addr.uri()).arg("--enable-local-keyservice=false").arg(&plain);
    assert_eq!(text(&ok(legacy)), out);
}

/// `--prompt`: each request waits for y/n on the server's terminal; `n` refuses it.
#[test]
fn prompt_asks_before_answering() {
    let sb = Sandbox::new();
    let plain = sb.write("secret.yaml", PLAIN);
    let mut with_key = sb.kvsops();
    with_key.env("SOPS_AGE_KEY_FILE", demo_key()).arg("encrypt").arg("--age").arg(demo_recipient()).arg(&plain);
    let enc_file = sb.write("secret.enc.yaml", ok(with_key));
    let addr = Addr::unix(&sb);
    let mut server = kvsops_server(&sb, &addr, &["--prompt"], Stdio::piped());
    let mut answers = server.stdin();
    answers.write_all(b"maybe\nn\ny\n").expect("answer the prompts");
    drop(answers);

    let mut refused = remote_only(sb.kvsops(), &addr, "decrypt");
    refused.arg(&enc_file);
    let out = run(refused);
    assert_eq!(out.status.code(), Some(128));
    assert!(text(&out.stderr).contains("Request rejected by user"), "{}", text(&out.stderr));

    let mut accepted = remote_only(sb.kvsops(), &addr, "decrypt");
    accepted.arg(&enc_file);
    assert_eq!(text(&ok(accepted)), PLAIN);

    let log = server.stop();
    let prompts = text(&log.stdout);
    let question =
        format!("Received decrypt request using age recipient {}. Respond to request? (y/n): ", demo_recipient());
    assert_eq!(prompts.matches(&question).count(), 3, "asked again after 'maybe': {prompts}");
}

#[test]
fn keyservice_refuses_what_it_cannot_listen_on() {
    let sb = Sandbox::new();
    let mut bad = sb.kvsops();
    bad.args(["keyservice", "--network", "udp", "--address", "127.0.0.1:0"]);
    let out = run(bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unsupported network"), "{}", text(&out.stderr));

    let taken = sb.write("taken.sock", "");
    let mut busy = sb.kvsops();
    busy.args(["keyservice", "--network", "unix", "--address"]).arg(&taken);
    let out = run(busy);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("could not listen"), "{}", text(&out.stderr));
    assert!(Path::new(&taken).exists(), "a file it did not create is left alone");
}

/// `groups add` and `updatekeys` unwrap and wrap through the service as well (sops takes the
/// flags on both).
#[test]
fn groups_and_updatekeys_use_the_keyservice() {
    let sb = Sandbox::new();
    let plain = sb.write("secret.yaml", PLAIN);
    let addr = Addr::unix(&sb);
    // The service holds both identities (the demo key's file and key1 in SOPS_AGE_KEY).
    let mut with_both = sb.kvsops();
    with_both.env("SOPS_AGE_KEY", std::fs::read_to_string(key1_file()).expect("key1"));
    let _server = Server::start(with_both, "kvsops", &addr, &[], Stdio::null());
    let second = recipient_of(&key1_file());

    let mut enc = remote_only(sb.kvsops(), &addr, "encrypt");
    enc.arg("--age").arg(demo_recipient()).arg("--in-place").arg(&plain);
    ok(enc);

    let mut groups = sb.kvsops();
    groups.args(["groups", "add", "--keyservice"]).arg(addr.uri()).arg("--enable-local-keyservice=false");
    groups.arg("--in-place").arg("--age").arg(&second).arg("-f").arg(&plain);
    ok(groups);
    let file = std::fs::read_to_string(&plain).expect("read");
    assert!(file.contains(&second) && file.contains(&demo_recipient()), "{file}");

    // The rule now names only the second key: updatekeys opens both groups through the service
    // and wraps the data key for the rule's one key.
    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {second}\n"));
    let mut update = remote_only(sb.kvsops(), &addr, "updatekeys");
    update.arg("--yes").arg(&plain);
    ok(update);
    let file = std::fs::read_to_string(&plain).expect("read");
    assert!(file.contains(&second) && !file.contains(&demo_recipient()), "{file}");

    // Only the second key opens it now; kvsops decrypts it with that key locally.
    let mut dec = sb.kvsops();
    dec.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(&plain);
    assert_eq!(text(&ok(dec)), PLAIN);
}
