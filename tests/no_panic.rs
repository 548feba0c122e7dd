//! No reader panics on any input: every testdata file, truncated at every few bytes and mutated with
//! a deterministic pseudo-random generator, goes through every store's loaders and writers. (The
//! cargo-fuzz targets in fuzz/ explore further; this runs on every CI run.)

mod common;

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
    b":", b"- ", b"#", b"[", b"]", b"{", b"}", b"\"", b"'", b"|", b">", b"&a", b"*a", b"!!str ", b"---\n",
    b"\n", b"\t", b"\\", b"=", b"ENC[AES256_GCM,data:", b",type:comment]", b"\xff", b"\0", b"sops_", b"[sops]",
    b"<<: ", b"? ", b"%YAML 1.2\n", b"\r\n", b"\xe2\x80\xa8",
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
