//! The `kvsops` binary: a thin wrapper over the library's command-line layer.

#![forbid(unsafe_code)]

fn main() {
    // A thread with room for documents nested as deep as sops accepts (see `kvsops::stack`).
    std::process::exit(kvsops::stack::run(kvsops::cli::main).unwrap_or(1));
}
