//! Per-process stores, keyed by configuration and created lazily.
//!
//! php-fpm forks its workers after module start-up: a connection made before the fork would be
//! shared by every child, and replies would cross. So nothing connects at start-up, every entry
//! remembers the PID that created it, and an entry inherited across a fork is abandoned (never
//! closed: closing would send a QUIT on the parent's socket) and built anew.
use crate::fnv::FnvBuild;
use crate::store::{SessionStore, StoreError};
use std::cell::RefCell;
use std::collections::HashMap;

struct Entry {
    /// The process generation that built it (see `generation`).
    pid: u64,
    store: Box<dyn SessionStore>,
}

/// Counts the forks this process's lineage went through: a child sees a new value, so an entry
/// built by its parent is recognised without a `getpid()` system call on every lookup.
static FORKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// This process's generation. The fork hook is installed on first use (php-fpm forks after
/// module start-up, before any request: the hook is in place in time, and a store built before
/// it existed was built by this very process).
pub fn generation() -> u64 {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // SAFETY: registers a plain function that only touches an atomic.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    FORKS.load(std::sync::atomic::Ordering::Relaxed)
}

thread_local! {
    /// Keyed by configuration digests (ours, not an attacker's): FNV, not SipHash.
    static STORES: RefCell<HashMap<String, Entry, FnvBuild>> = RefCell::new(HashMap::default());
}

/// Runs `f` with the store for `key`, building it with `make` when this process has none.
pub fn with_store<T, E: From<StoreError>>(
    key: &str,
    make: impl FnOnce() -> Result<Box<dyn SessionStore>, E>,
    f: impl FnOnce(&mut dyn SessionStore) -> Result<T, E>,
) -> Result<T, E> {
    let pid = generation();
    STORES.with(|cell| {
        // Re-entry (a store call that ends up calling back into us) is refused, not a panic.
        let Ok(mut map) = cell.try_borrow_mut() else {
            return Err(StoreError::Busy.into());
        };
        // The common case: one lookup, no allocation.
        if let Some(e) = map.get_mut(key) {
            if e.pid == pid {
                return f(e.store.as_mut());
            }
        }
        if let Some(old) = map.remove(key) {
            std::mem::forget(old.store);
        }
        let entry = map.entry(key.to_string()).or_insert(Entry { pid, store: make()? });
        f(entry.store.as_mut())
    })
}

/// Runs `f` on every store this process built (skipping those inherited across a fork).
pub fn for_each(mut f: impl FnMut(&mut dyn SessionStore)) {
    let pid = generation();
    STORES.with(|cell| {
        if let Ok(mut map) = cell.try_borrow_mut() {
            for e in map.values_mut().filter(|e| e.pid == pid) {
                f(e.store.as_mut());
            }
        }
    });
}

/// Releases every lock still held at the end of a request: a request that ended by exit(), a
/// fatal error or memory exhaustion may never have reached its handler's close().
pub fn release_all_locks() -> usize {
    let mut released = 0;
    for_each(|s| {
        if let Some(id) = s.held_lock().map(str::to_string) {
            if s.unlock(&id).is_ok() {
                released += 1;
            }
        }
    });
    released
}
