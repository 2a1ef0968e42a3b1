//! Per-process stores, keyed by configuration and created lazily.
//!
//! php-fpm forks its workers after module start-up: a connection made before the fork would be
//! shared by every child, and replies would cross. So nothing connects at start-up, every entry
//! remembers the PID that created it, and an entry inherited across a fork is abandoned (never
//! closed: closing would send a QUIT on the parent's socket) and built anew.
use crate::config::{Backend, Config};
use crate::fnv::FnvBuild;
use crate::store::{self, SessionStore, StoreError, StoreProvider};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

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

/// The registry as a handler's store provider: this process's store for one configuration.
#[derive(Clone)]
pub struct Registered {
    /// Shared with the native handler's per-save-path cache: a request clones no configuration.
    cfg: Rc<Config>,
    key: Rc<str>,
    default_prefix: &'static str,
}

impl Registered {
    pub fn new(cfg: Config, default_prefix: &'static str) -> Registered {
        let key = Rc::from(store_key(&cfg, default_prefix));
        Registered { cfg: Rc::new(cfg), key, default_prefix }
    }

    /// As `new`, with a key computed once by the caller (the native handler caches it per save
    /// path, so a request does not format its configuration again).
    pub fn with_key(cfg: Rc<Config>, key: Rc<str>, default_prefix: &'static str) -> Registered {
        Registered { cfg, key, default_prefix }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

impl StoreProvider for Registered {
    fn with_store<T>(&self, f: impl FnOnce(&mut dyn SessionStore) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let (cfg, prefix) = (&*self.cfg, self.default_prefix);
        with_store(&self.key, || store::open(cfg, prefix, generation), f)
    }
}

/// The registry key of a configuration: everything that tells two configurations apart, the
/// password included. It never leaves this process's memory.
pub fn store_key(cfg: &Config, default_prefix: &str) -> String {
    let password = match &cfg.backend {
        Backend::Redis(r) => r.password.as_ref().map(|p| p.expose().to_string()),
        Backend::Mysql(m) => m.password.as_ref().map(|p| p.expose().to_string()),
    };
    let full = format!("{default_prefix}|{cfg:?}|{}", password.unwrap_or_default());
    // A digest keeps the per-call lookup cheap (the full text is a few hundred bytes).
    sha1_smol::Sha1::from(full.as_bytes()).digest().to_string()
}

/// This process's counters summed over its stores (`stats()` and phpinfo()).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Totals {
    pub stores: u64,
    pub round_trips: u64,
    pub lock_failures: u64,
    /// The longest of the stores' last lock waits.
    pub last_lock_wait_ms: f64,
}

pub fn totals() -> Totals {
    let mut t = Totals::default();
    for_each(|s| {
        let st = s.stats();
        t.stores += 1;
        t.round_trips += st.round_trips;
        t.lock_failures += st.lock_failures;
        t.last_lock_wait_ms = t.last_lock_wait_ms.max(st.last_lock_wait.as_secs_f64() * 1000.0);
    });
    t
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

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
