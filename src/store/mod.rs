//! Storage backends. Plain Rust: nothing here knows about PHP.
//!
//! A store is owned by one PHP process (PHP is single-threaded per process in the NTS builds we
//! target), so methods take `&mut self` and need no internal locking.

pub mod error;
pub mod memory;
pub mod mysql;
pub mod redis;

pub use error::StoreError;

/// What a session backend must do. Ids reaching a store are already validated
/// (`crate::id::is_valid`): `[A-Za-z0-9,-]`, 1..=256 characters.
pub trait SessionStore {
    /// Reads the session's bytes; `None` when it does not exist or has expired.
    /// With `lock`, first takes the session's lock for this request (waiting up to the configured
    /// lock wait timeout, then `StoreError::LockTimeout`); the store remembers the lock it holds.
    fn read(&mut self, id: &str, lock: bool) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `data` with a lifetime of `ttl_secs`, then releases this request's lock on `id` if
    /// held. With a lock that was lost (expired and taken by another request) nothing is written
    /// and `StoreError::LockLost` is returned.
    fn write(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError>;

    /// Reads without the lock and, where the backend can in the same round trip, refreshes the
    /// lifetime to `ttl_secs` (Redis GETEX). Returns the data and whether it was refreshed, so a
    /// read-only request needs no second round trip for lazy write.
    fn read_refresh(&mut self, id: &str, ttl_secs: u64) -> Result<(Option<Vec<u8>>, bool), StoreError> {
        let _ = ttl_secs;
        Ok((self.read(id, false)?, false))
    }

    /// A locked read (as `read(id, true)`) that, where the backend can in the same round trip,
    /// also refreshes the lifetime to `ttl_secs`; returns whether it did. Lazy write then only
    /// has the lock to release.
    fn lock_read_refresh(&mut self, id: &str, ttl_secs: u64) -> Result<(Option<Vec<u8>>, bool), StoreError> {
        let _ = ttl_secs;
        Ok((self.read(id, true)?, false))
    }

    /// Stores `data` and keeps this request's lock on `id`: a save in the middle of a request
    /// (the Adapter API while its Session holds the lock). Without a lock on `id`, as `write`.
    fn write_keep_lock(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        self.write(id, data, ttl_secs)
    }

    /// Refreshes the lifetime without rewriting the data (lazy write), then releases the lock.
    fn touch(&mut self, id: &str, ttl_secs: u64) -> Result<(), StoreError>;

    /// Releases this request's lock on `id` without writing; a no-op when none is held.
    fn unlock(&mut self, id: &str) -> Result<(), StoreError>;

    /// Deletes the session (and this request's lock on it).
    fn destroy(&mut self, id: &str) -> Result<(), StoreError>;

    /// Whether a live session with this id exists (used to collision-check new ids).
    fn exists(&mut self, id: &str) -> Result<bool, StoreError>;

    /// Deletes sessions idle for more than `max_lifetime_secs`; returns how many were deleted.
    /// Backends with native expiry (Redis) return 0.
    fn gc(&mut self, max_lifetime_secs: u64) -> Result<u64, StoreError>;

    /// The id whose lock this store currently holds, if any.
    fn held_lock(&self) -> Option<&str>;

    /// Counters for phpinfo(), tests and benchmarks.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }

    /// Drops the connection (the next call reconnects).
    fn disconnect(&mut self) {}
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Round trips to the server so far (0 where the backend does not count them).
    pub round_trips: u64,
    /// How long the last locked read waited for its lock.
    pub last_lock_wait: std::time::Duration,
    /// Lock waits that gave up at the lock wait timeout.
    pub lock_failures: u64,
}

/// Where a handler gets its store: the process registry in PHP (`crate::registry::Registered`),
/// a store of its own in tests. The store is lent for one call, never kept.
pub trait StoreProvider {
    fn with_store<T>(&self, f: impl FnOnce(&mut dyn SessionStore) -> Result<T, StoreError>) -> Result<T, StoreError>;
}

/// A store owned by the handler itself (tests: a `memory::MemoryStore`).
impl<S: SessionStore> StoreProvider for std::cell::RefCell<S> {
    fn with_store<T>(&self, f: impl FnOnce(&mut dyn SessionStore) -> Result<T, StoreError>) -> Result<T, StoreError> {
        // Re-entry is refused, as the registry refuses it.
        let mut s = self.try_borrow_mut().map_err(|_| StoreError::Busy)?;
        f(&mut *s)
    }
}

/// Builds the store for a configuration. `default_prefix` applies where the DSN names none.
/// `fork_generation` tells the store when it runs in a forked child (see `crate::registry`).
pub fn open(
    cfg: &crate::config::Config,
    default_prefix: &str,
    fork_generation: fn() -> u64,
) -> Result<Box<dyn SessionStore>, StoreError> {
    match &cfg.backend {
        crate::config::Backend::Redis(_) => Ok(Box::new(redis::RedisStore::new(cfg, default_prefix, fork_generation)?)),
        crate::config::Backend::Mysql(_) => Ok(Box::new(mysql::MysqlStore::new(cfg)?)),
    }
}

/// `max_size`, checked the same way by every store: `TooLarge` when `data` is over it.
pub fn check_size(data: &[u8], max_size: usize) -> Result<(), StoreError> {
    if data.len() > max_size {
        Err(StoreError::TooLarge { size: data.len(), max: max_size })
    } else {
        Ok(())
    }
}
