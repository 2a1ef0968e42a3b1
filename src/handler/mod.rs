//! The semantics PHP's session module expects from a save handler, written once for the native
//! `cannon` handler, the handler classes and the Session API: strict-mode validation that
//! prefetches the data, collision-checked ids and create_sid's outage memo, the lock held from
//! read to write/close, the read-only fallback when a lock cannot be had, request set-up. The
//! store comes from a `StoreProvider` (the process registry in PHP, an in-memory store in the
//! lifecycle tests); what to do at the end (write, touch, unlock) is `lifecycle::save`'s
//! decision. Plain Rust; the PHP layer only converts and reports.
use crate::config::{Config, LockFailPolicy};
use crate::id;
use crate::lifecycle::save::{self, Save};
use crate::registry::Registered;
use crate::store::{self, SessionStore, StoreError, StoreProvider};
use std::fmt;

#[derive(Debug)]
pub enum HandlerError {
    Store(StoreError),
    /// The id is not `[A-Za-z0-9,-]{1,256}`: never used as a key.
    InvalidId,
    /// The OS random generator failed.
    Random(String),
    /// Every generated candidate id named a live session (a broken generator, or a store that
    /// answers "exists" for everything).
    IdsTaken,
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Store(e) => e.fmt(f),
            HandlerError::InvalidId => f.write_str(
                "invalid session id: only A-Z, a-z, 0-9, ',' and '-' are allowed, at most 256 characters",
            ),
            HandlerError::Random(m) => write!(f, "cannot generate a session id: {m}"),
            HandlerError::IdsTaken => f.write_str("cannot generate a session id: three generated ids were all taken"),
        }
    }
}

impl From<StoreError> for HandlerError {
    fn from(e: StoreError) -> Self {
        HandlerError::Store(e)
    }
}

/// The outcome of the locked read `validate_id` makes on behalf of the read that follows it.
enum Prefetched {
    Data(Option<Vec<u8>>),
    /// The lock wait timed out: the read fails with this, as it would have without strict mode.
    LockTimeout { id_prefix: String, waited_ms: u64 },
}

/// One request's view of a backend: the store it gets from its provider, and this request's
/// state.
pub struct Handler<P: StoreProvider = Registered> {
    provider: P,
    lock_fail: LockFailPolicy,
    persistent: bool,
    pub locking: bool,
    /// This request only reads (`read_and_close`, read-only Session): never lock, never wait.
    pub read_only_request: bool,
    /// What `validate_id` read for the read that follows it (strict mode costs no extra trip).
    prefetched: Option<(String, Prefetched)>,
    /// Set when the lock could not be had and the policy is read-only: writes are skipped.
    read_only: Option<String>,
    /// The session lifetime, when known at read time: an unlocked read then also refreshes the
    /// expiry (one round trip), and lazy write has nothing left to do.
    pub refresh_ttl: Option<u64>,
    /// The id whose expiry the read already refreshed in this request.
    refreshed: Option<String>,
    /// `create_sid` could not reach the store: the read PHP makes next reports that at once,
    /// instead of waiting for a second timeout. Cleared when a request begins and at close.
    outage: Option<StoreError>,
    /// Messages for the PHP layer to raise as notices.
    pub notices: Vec<String>,
}

impl Handler<Registered> {
    /// A handler on this process's registered store for `cfg`.
    pub fn registered(cfg: Config, default_prefix: &'static str, default_locking: bool) -> Handler {
        let provider = Registered::new(cfg, default_prefix);
        Handler::new(provider.clone(), provider.config(), default_locking)
    }

    pub fn config(&self) -> &Config {
        self.provider.config()
    }
}

impl<P: StoreProvider> Handler<P> {
    pub fn new(provider: P, cfg: &Config, default_locking: bool) -> Handler<P> {
        Handler {
            provider,
            lock_fail: cfg.lock_fail,
            persistent: cfg.persistent,
            locking: cfg.locking.unwrap_or(default_locking),
            read_only_request: false,
            prefetched: None,
            read_only: None,
            refresh_ttl: None,
            refreshed: None,
            outage: None,
            notices: Vec::new(),
        }
    }

    /// A request opens the session: `read_and_close` makes it read-only (no lock, no wait), and
    /// reads refresh the expiry to the session lifetime (`session.gc_maxlifetime`).
    pub fn begin_request(&mut self, read_and_close: bool, lifetime: u64) {
        self.outage = None;
        self.read_only_request = read_and_close;
        self.refresh_ttl = Some(lifetime);
    }

    /// Runs `f` on the store the provider lends.
    pub fn with_store<T>(&self, f: impl FnOnce(&mut dyn SessionStore) -> Result<T, StoreError>) -> Result<T, HandlerError> {
        self.provider.with_store(f).map_err(HandlerError::from)
    }

    /// The notices gathered so far, for the PHP layer to raise.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    fn check(id: &str) -> Result<(), HandlerError> {
        if id::is_valid(id.as_bytes()) {
            Ok(())
        } else {
            Err(HandlerError::InvalidId)
        }
    }

    /// Reads (and, with locking, locks) the session; a missing session is empty data.
    pub fn read(&mut self, id: &str) -> Result<Vec<u8>, HandlerError> {
        if let Some(e) = self.outage.take() {
            return Err(HandlerError::Store(e));
        }
        Self::check(id)?;
        if let Some((pid, pre)) = self.prefetched.take() {
            if pid == id {
                return match pre {
                    Prefetched::Data(data) => Ok(data.unwrap_or_default()),
                    Prefetched::LockTimeout { id_prefix, waited_ms } => {
                        Err(HandlerError::Store(StoreError::LockTimeout { id_prefix, waited_ms }))
                    }
                };
            }
            self.release(&pid);
        }
        Ok(self.fetch(id)?.unwrap_or_default())
    }

    /// Reads without taking the lock (the Adapter API, read-only sessions).
    pub fn peek(&mut self, id: &str) -> Result<Option<Vec<u8>>, HandlerError> {
        Self::check(id)?;
        self.with_store(|s| s.read(id, false))
    }

    /// Reads with the configured locking; `None` when the session does not exist.
    pub fn fetch(&mut self, id: &str) -> Result<Option<Vec<u8>>, HandlerError> {
        self.read_only = None;
        self.refreshed = None;
        let lock = self.locking && !self.read_only_request;
        if let (false, Some(ttl)) = (lock, self.refresh_ttl) {
            let (data, refreshed) = self.with_store(|s| s.read_refresh(id, ttl))?;
            if refreshed {
                self.refreshed = Some(id.to_string());
            }
            return Ok(data);
        }
        let read = self.with_store(|s| match (lock, self.refresh_ttl) {
            (true, Some(ttl)) => s.lock_read_refresh(id, ttl),
            _ => Ok((s.read(id, lock)?, false)),
        });
        match read {
            Ok((data, refreshed)) => {
                if refreshed {
                    self.refreshed = Some(id.to_string());
                }
                Ok(data)
            }
            Err(HandlerError::Store(StoreError::LockTimeout { id_prefix, waited_ms }))
                if self.lock_fail == LockFailPolicy::ReadOnly =>
            {
                self.notices.push(format!(
                    "session {id_prefix}… is locked by another request (waited {waited_ms} ms): opened read-only, changes will not be saved"
                ));
                self.read_only = Some(id.to_string());
                self.with_store(|s| s.read(id, false))
            }
            Err(e) => Err(e),
        }
    }

    fn release(&mut self, id: &str) {
        let _ = self.with_store(|s| s.unlock(id));
    }

    /// Ends the request's use of the session (PHP's write): the data is stored, or skipped
    /// with a notice when the session was opened read-only.
    pub fn write(&mut self, id: &str, data: &[u8], ttl: u64) -> Result<(), HandlerError> {
        self.finish(id, Some(data), ttl)
    }

    /// Lazy write: the data did not change, refresh its expiry (and release the lock).
    pub fn update_timestamp(&mut self, id: &str, ttl: u64) -> Result<(), HandlerError> {
        self.finish(id, None, ttl)
    }

    /// Carries out the one lazy-write decision (`lifecycle::save::decide`): `changed` is the new
    /// data, or None when it is unchanged.
    pub fn finish(&mut self, id: &str, changed: Option<&[u8]>, ttl: u64) -> Result<(), HandlerError> {
        Self::check(id)?;
        self.prefetched = None;
        let read_only = self.read_only.as_deref() == Some(id);
        let refreshed = self.refreshed.as_deref() == Some(id) && self.refresh_ttl == Some(ttl);
        match (save::decide(changed.is_some(), read_only, refreshed), changed) {
            (Save::Skip { notice }, _) => {
                if notice {
                    self.notices.push(save::SKIPPED.into());
                }
                Ok(())
            }
            (Save::Write, Some(data)) => self.with_store(|s| s.write(id, data, ttl)),
            // The read refreshed it already: only the lock, if any, is left to release.
            (Save::UnlockOnly, _) => self.with_store(|s| s.unlock(id)),
            (Save::Touch | Save::Write, _) => self.with_store(|s| s.touch(id, ttl)),
        }
    }

    /// Saves in the middle of a request, keeping the lock (the Adapter API under a Session).
    pub fn save(&mut self, id: &str, data: &[u8], ttl: u64) -> Result<(), HandlerError> {
        Self::check(id)?;
        if self.read_only.as_deref() == Some(id) {
            self.notices.push(save::SKIPPED.into());
            return Ok(());
        }
        self.with_store(|s| s.write_keep_lock(id, data, ttl))
    }

    pub fn destroy(&mut self, id: &str) -> Result<(), HandlerError> {
        Self::check(id)?;
        self.prefetched = None;
        self.with_store(|s| s.destroy(id))
    }

    /// Releases whatever lock this request still holds (session_abort, session end, errors).
    pub fn close(&mut self) -> Result<(), HandlerError> {
        self.prefetched = None;
        self.read_only = None;
        self.outage = None;
        let persistent = self.persistent;
        self.with_store(|s| {
            let r = match s.held_lock().map(str::to_string) {
                Some(id) => s.unlock(&id),
                None => Ok(()),
            };
            if !persistent {
                s.disconnect();
            }
            r
        })
    }

    /// Deletes expired sessions; the count as PHP's int. A negative lifetime is 0.
    pub fn gc(&mut self, max_lifetime: i64) -> Result<i64, HandlerError> {
        let deleted = self.with_store(|s| s.gc(max_lifetime.max(0) as u64))?;
        Ok(clamp_count(deleted))
    }

    /// Strict mode: whether the id names a live session. The data is read (and locked) here and
    /// kept for the read that PHP makes next, so validation costs no extra round trip.
    pub fn validate_id(&mut self, id: &str) -> Result<bool, HandlerError> {
        if !id::is_valid(id.as_bytes()) {
            return Ok(false);
        }
        // While this request holds another session's lock (session_create_id() or a regenerate
        // checking a candidate id), only check existence: locking here would drop that lock.
        let holds_other = self.with_store(|s| Ok(s.held_lock().is_some_and(|h| h != id)))?;
        if holds_other {
            return self.with_store(|s| s.exists(id));
        }
        if let Some((pid, _)) = self.prefetched.take() {
            self.release(&pid);
        }
        let data = match self.fetch(id) {
            Ok(data) => data,
            // Another request holds this id's lock, so the id is in use: saying "invalid" would
            // make PHP start a fresh, empty session under a new id (the user loses the session)
            // instead of failing. Call it valid and let the read that follows fail as usual.
            Err(HandlerError::Store(StoreError::LockTimeout { id_prefix, waited_ms })) => {
                self.prefetched = Some((id.to_string(), Prefetched::LockTimeout { id_prefix, waited_ms }));
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        if data.is_none() {
            // Not a live session: PHP will pick a new id, so do not keep its lock.
            self.release(id);
            return Ok(false);
        }
        self.prefetched = Some((id.to_string(), Prefetched::Data(data)));
        Ok(true)
    }

    /// A fresh id, checked against the store so it names no live session.
    pub fn create_id(&mut self, len: usize) -> Result<String, HandlerError> {
        for _ in 0..3 {
            let id = id::generate(len).map_err(|e| HandlerError::Random(e.to_string()))?;
            if !self.with_store(|s| s.exists(&id))? {
                return Ok(id);
            }
        }
        Err(HandlerError::IdsTaken)
    }

    /// PHP's `create_sid`: a fresh, collision-checked id. When the store cannot be reached the
    /// id is unchecked, and the outage is kept for the read PHP makes next, which reports it at
    /// once instead of waiting for a second timeout (and PHP cannot take an error from here:
    /// it replaces it by "Session id must be a string").
    pub fn create_sid(&mut self, len: usize) -> Result<String, HandlerError> {
        match self.create_id(len) {
            Err(HandlerError::Store(e)) => {
                self.outage = e.is_outage().then_some(e);
                id::generate(len).map_err(|e| HandlerError::Random(e.to_string()))
            }
            other => other,
        }
    }

    pub fn stats(&self) -> store::StoreStats {
        self.with_store(|s| Ok(s.stats())).unwrap_or_default()
    }
}

/// A count for PHP's int: more than i64::MAX is i64::MAX.
pub fn clamp_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
