//! The `kvsops` binary: a thin wrapper over the library's command-line layer.

fn main() {
    std::process::exit(kvsops::cli::main());
}
