//! Room for deep documents on every thread that walks a file.
//!
//! Readers, the tree walk, the MAC and the writers recurse once per level of nesting. sops accepts
//! documents up to go-yaml's (and Go's JSON) limit of 10,000 levels, and so must kvsops: rather
//! than a tighter limit, every thread that handles a file gets a stack sized for that depth. The
//! memory is only reserved: pages are touched as deep as a file really goes.

use std::sync::{Arc, Mutex};
use std::thread::{Builder, Scope, ScopedJoinHandle};

/// Stack size of the threads that read, walk and write files.
pub const STACK_SIZE: usize = 1 << 30;

/// Spawns a scoped thread with [`STACK_SIZE`] bytes of stack, or with the default size when that
/// much cannot be reserved (say, under `ulimit -v`). The result is `None` only if `f` never ran.
pub fn spawn_scoped<'scope, 'env, T, F>(s: &'scope Scope<'scope, 'env>, f: F) -> ScopedJoinHandle<'scope, Option<T>>
where
    T: Send + 'scope,
    F: FnOnce() -> T + Send + 'scope,
{
    let slot = Arc::new(Mutex::new(Some(f)));
    let job = |slot: Arc<Mutex<Option<F>>>| move || slot.lock().ok().and_then(|mut g| g.take()).map(|f| f());
    match Builder::new().stack_size(STACK_SIZE).spawn_scoped(s, job(Arc::clone(&slot))) {
        Ok(handle) => handle,
        Err(_) => s.spawn(job(slot)),
    }
}

/// Runs `f` on a thread with [`STACK_SIZE`] bytes of stack; `None` only if it could not run.
pub fn run<T: Send>(f: impl FnOnce() -> T + Send) -> Option<T> {
    std::thread::scope(|s| match spawn_scoped(s, f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

#[cfg(test)]
mod tests {
    /// Deeper recursion than the default 8 MiB main stack holds.
    fn depth(n: usize) -> usize {
        let pad = [0u8; 1024];
        if n == 0 {
            std::hint::black_box(&pad).len()
        } else {
            depth(n - 1) + std::hint::black_box(&pad)[0] as usize
        }
    }

    #[test]
    fn a_deep_recursion_fits() {
        assert_eq!(super::run(|| depth(50_000)), Some(1024));
    }
}
