//! Links the `kvsops` executable position-dependent on Linux.
//!
//! A PIE executable has every pointer in its read-only data relocated at start-up: about a hundred
//! pages written before `main`, which is a third of the start-up time of a small `encrypt`
//! (2.0 ms instead of 3.2 ms here; see docs/performance.md). The price is that the executable's own
//! code is not placed at a random address (shared libraries, stack and heap still are). Set
//! `KVSOPS_PIE=1` when building to keep a PIE executable.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KVSOPS_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let keep_pie = std::env::var("KVSOPS_PIE").is_ok_and(|v| v == "1");
    if linux && !keep_pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
