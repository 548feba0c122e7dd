//! The `kv-emulator` binary's start-up contract: export lines on stdout and in `--env-file`,
//! flags applied, refused tunnels, and a clean exit when stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A raw HTTP/1.1 request to 127.0.0.1:port; returns (status line, body).
fn http(port: u16, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let status = buf.lines().next().unwrap_or("").to_string();
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn binary_prints_env_applies_flags_and_exits_on_stdin_eof() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("emulator.env");
    let state = dir.path().join("state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kv-emulator"))
        .arg("--state-dir")
        .arg(&state)
        .arg("--env-file")
        .arg(&env_file)
        .args(["--exit-on-stdin-eof", "--key", "test-vault/pre-made", "--fault", "503x2@get", "--latency-ms", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Guard: never leave the child running if an assertion fails.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut guard = Kill(child);

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.starts_with("export KVSOPS_EMULATOR_TENANT=");
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = tx.send(lines);
    });
    let lines = rx.recv_timeout(Duration::from_secs(60)).expect("the export lines within 60 s");
    let names: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("export ")?.split('=').next()).collect();
    assert_eq!(
        names,
        [
            "HTTPS_PROXY",
            "SSL_CERT_FILE",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "KVSOPS_EMULATOR_ADMIN",
            "KVSOPS_EMULATOR_TENANT"
        ]
    );
    let file = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(file, lines.iter().map(|l| format!("{l}\n")).collect::<String>());
    let value =
        |name: &str| lines.iter().find_map(|l| l.strip_prefix(&format!("export {name}=")).map(str::to_string)).unwrap();
    let admin = value("KVSOPS_EMULATOR_ADMIN");
    let port: u16 = admin.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(value("HTTPS_PROXY"), admin);
    assert_eq!(value("IDENTITY_ENDPOINT"), format!("{admin}/msi/token"));
    assert_eq!(std::path::PathBuf::from(value("SSL_CERT_FILE")), state.join("ca.pem"));
    assert!(std::fs::read_to_string(state.join("ca.pem")).unwrap().contains("BEGIN CERTIFICATE"));

    // Flags took effect.
    let (status, body) = http(port, "GET /_admin/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains("\"name\":\"pre-made\"") && body.contains("test-vault.vault.azure.net"), "{body}");
    assert!(state.join("keys.json").exists(), "--state-dir persists keys");
    let (_, body) = http(port, "GET /_admin/faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(
        body.contains("\"status\":503") && body.contains("\"count\":2") && body.contains("\"op\":\"get\""),
        "{body}"
    );
    let (_, body) = http(port, "GET /_admin/latency HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(body.contains("\"ms\":5"), "{body}");

    // Admin API: queue a fault, reset clears it.
    let payload = r#"{"status":429,"count":1,"op":"token"}"#;
    let (status, body) = http(
        port,
        &format!(
            "POST /_admin/faults HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        ),
    );
    assert!(status.contains(" 200 ") && body.contains("\"op\":\"token\""), "{status} {body}");
    let (status, _) =
        http(port, "POST /_admin/reset HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(status.contains(" 200 "));
    let (_, body) = http(port, "GET /_admin/faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(body, r#"{"faults":[]}"#);

    // Only emulated hosts are tunnelled; it is never a forwarding proxy.
    let (status, _) = http(port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert!(status.contains(" 403 "), "{status}");
    let (status, _) = http(port, "CONNECT test-vault.vault.azure.net:80 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(status.contains(" 403 "), "{status}");
    let (status, _) = http(port, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    assert!(status.contains(" 403 "), "{status}");
    // Managed identity endpoint wants the secret header.
    let (status, _) =
        http(port, "GET /msi/token?resource=https://vault.azure.net HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(status.contains(" 401 "), "{status}");

    // Closing stdin stops it.
    drop(stdin);
    let start = Instant::now();
    loop {
        if let Some(st) = guard.0.try_wait().unwrap() {
            assert!(st.success(), "clean exit: {st:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "kv-emulator did not exit after stdin closed");
        std::thread::sleep(Duration::from_millis(20));
    }
}
