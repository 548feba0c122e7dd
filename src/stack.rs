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

/// The threads worth starting for CPU-bound work on files.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Maps `f` over `items` on up to `threads` threads of [`STACK_SIZE`] (work handed out `chunk`
/// items at a time), keeping order: the one pool for every command that handles many files.
/// A worker that panics is not swallowed (no file silently missing from a result): the panic is
/// resumed here.
pub fn par_map<T: Sync, R: Send>(items: &[T], threads: usize, chunk: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let chunk = chunk.max(1);
    let threads = threads.min(items.len().div_ceil(chunk)).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let cursor = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                spawn_scoped(s, || {
                    let mut done = Vec::new();
                    loop {
                        let start = cursor.fetch_add(chunk, std::sync::atomic::Ordering::Relaxed);
                        if start >= items.len() {
                            break;
                        }
                        for (i, item) in items.iter().enumerate().skip(start).take(chunk) {
                            done.push((i, f(item)));
                        }
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(done) => done.unwrap_or_default(),
                Err(e) => std::panic::resume_unwind(e),
            })
            .collect()
    });
    let mut all: Vec<(usize, R)> = parts.into_iter().flatten().collect();
    // A worker whose closure never ran claimed nothing; should any item still be missing, it is
    // done here rather than left out.
    if all.len() < items.len() {
        let mut seen = vec![false; items.len()];
        all.iter().for_each(|(i, _)| seen[*i] = true);
        let missing: Vec<usize> = (0..items.len()).filter(|i| !seen[*i]).collect();
        all.extend(missing.into_iter().map(|i| (i, f(&items[i]))));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
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
    #[test]
    fn par_map_keeps_order() {
        let items: Vec<usize> = (0..1000).collect();
        for (threads, chunk) in [(1, 1), (4, 1), (3, 16), (8, 7)] {
            assert_eq!(
                super::par_map(&items, threads, chunk, |i| i * 2),
                items.iter().map(|i| i * 2).collect::<Vec<_>>()
            );
        }
        assert!(super::par_map(&Vec::<usize>::new(), 4, 1, |i| *i).is_empty());
    }

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
