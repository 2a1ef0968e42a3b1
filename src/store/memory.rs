//! An in-memory `SessionStore` with the lock semantics of the real ones: random-free tokens that
//! identify the holder, locks that expire after `lock_ttl`, waiters that back off and give up
//! with `StoreError::LockTimeout`, and `LockLost` for a holder whose expired lock was taken or
//! whose session was written since. Several `MemoryStore`s made from one `MemoryServer` share
//! its data, like several PHP processes sharing one Redis.
//!
//! It serves the plain-Rust lifecycle tests, which then need no server. Time comes from a
//! `Clock`: the real one, or a manual one that waiters advance instead of sleeping, so a test
//! of a ten-second lock wait runs in microseconds.
use super::{check_size, SessionStore, StoreError, StoreStats};
use crate::config::Config;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Where time comes from: the process's monotonic clock, or a manual one.
#[derive(Clone, Default)]
pub struct Clock(Option<Rc<Cell<Duration>>>);

impl Clock {
    pub fn real() -> Clock {
        Clock(None)
    }

    /// Starts at zero and moves only by `advance` (and by waiters, instead of sleeping).
    pub fn manual() -> Clock {
        Clock(Some(Rc::new(Cell::new(Duration::ZERO))))
    }

    pub fn now(&self) -> Duration {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        match &self.0 {
            Some(t) => t.get(),
            None => START.get_or_init(Instant::now).elapsed(),
        }
    }

    pub fn advance(&self, by: Duration) {
        match &self.0 {
            Some(t) => t.set(t.get() + by),
            None => std::thread::sleep(by),
        }
    }
}

struct Entry {
    data: Vec<u8>,
    expires: Duration,
    /// Bumped by every write: tells a holder whose lock expired whether someone wrote since.
    version: u64,
}

struct Lock {
    token: u64,
    expires: Duration,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Entry>,
    locks: HashMap<String, Lock>,
    next_token: u64,
    next_version: u64,
    /// Every call fails as if the server could not be reached.
    down: bool,
    /// How many of the next `exists` calls answer "taken" whatever the data says.
    taken_answers: u32,
    /// Reads refresh the expiry in the same round trip (as Redis GETEX does); off: as MySQL.
    refresh_on_read: bool,
    disconnects: u64,
}

/// The shared data: clone it to hand the same "server" to another store.
#[derive(Clone)]
pub struct MemoryServer {
    state: Rc<RefCell<State>>,
    clock: Clock,
}

impl MemoryServer {
    pub fn new(clock: Clock) -> MemoryServer {
        let state = State { refresh_on_read: true, ..State::default() };
        MemoryServer { state: Rc::new(RefCell::new(state)), clock }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A store (a "process") with the lock timings and size limit of `cfg`.
    pub fn store(&self, cfg: &Config) -> MemoryStore {
        MemoryStore {
            server: self.clone(),
            held: None,
            lock_ttl: cfg.lock_ttl,
            lock_wait: cfg.lock_wait_timeout,
            max_size: cfg.max_size,
            stats: StoreStats::default(),
        }
    }

    pub fn set_down(&self, down: bool) {
        self.state.borrow_mut().down = down;
    }

    pub fn set_taken_answers(&self, n: u32) {
        self.state.borrow_mut().taken_answers = n;
    }

    pub fn set_refresh_on_read(&self, on: bool) {
        self.state.borrow_mut().refresh_on_read = on;
    }

    /// The live data of a session, looked at from outside any store.
    pub fn data(&self, id: &str) -> Option<Vec<u8>> {
        let now = self.clock.now();
        self.state.borrow().sessions.get(id).filter(|e| e.expires > now).map(|e| e.data.clone())
    }

    /// Seconds left before the session expires (rounded down), if it is live.
    pub fn ttl_left(&self, id: &str) -> Option<u64> {
        let now = self.clock.now();
        self.state.borrow().sessions.get(id).filter(|e| e.expires > now).map(|e| (e.expires - now).as_secs())
    }

    /// Whether some store holds a live lock on `id`.
    pub fn is_locked(&self, id: &str) -> bool {
        let now = self.clock.now();
        self.state.borrow().locks.get(id).is_some_and(|l| l.expires > now)
    }

    pub fn disconnects(&self) -> u64 {
        self.state.borrow().disconnects
    }

    /// Stores a session directly (a session another request wrote earlier).
    pub fn put(&self, id: &str, data: &[u8], ttl: Duration) {
        let expires = self.clock.now() + ttl;
        let mut st = self.state.borrow_mut();
        st.next_version += 1;
        let version = st.next_version;
        st.sessions.insert(id.to_string(), Entry { data: data.to_vec(), expires, version });
    }
}

struct Held {
    id: String,
    token: u64,
    /// The session's version when the lock was taken (None: it did not exist).
    version: Option<u64>,
}

/// One "process's" connection to a `MemoryServer`.
pub struct MemoryStore {
    server: MemoryServer,
    held: Option<Held>,
    lock_ttl: Duration,
    lock_wait: Duration,
    max_size: usize,
    stats: StoreStats,
}

fn secs(ttl: u64) -> Duration {
    Duration::from_secs(ttl.max(1))
}

impl MemoryStore {
    /// One round trip: fails while the server is down.
    fn trip(&mut self) -> Result<(), StoreError> {
        if self.server.state.borrow().down {
            return Err(StoreError::Connection("memory server is down".into()));
        }
        self.stats.round_trips += 1;
        Ok(())
    }

    fn live_version(&self, id: &str) -> Option<u64> {
        let now = self.server.clock.now();
        self.server.state.borrow().sessions.get(id).filter(|e| e.expires > now).map(|e| e.version)
    }

    /// Takes the lock on `id`, waiting with backoff (1 ms doubling to 8 ms) up to `lock_wait`.
    fn lock(&mut self, id: &str) -> Result<(), StoreError> {
        let clock = self.server.clock.clone();
        if self.held.as_ref().is_some_and(|h| h.id == id) && self.still_ours(id) {
            // Our own lock: a second read in this request does not wait for itself.
            return Ok(());
        }
        if let Some(other) = self.held.as_ref().map(|h| h.id.clone()) {
            self.release(&other);
        }
        let started = clock.now();
        let mut backoff = Duration::from_millis(1);
        loop {
            let now = clock.now();
            {
                let mut st = self.server.state.borrow_mut();
                let free = st.locks.get(id).is_none_or(|l| l.expires <= now);
                if free {
                    st.next_token += 1;
                    let token = st.next_token;
                    st.locks.insert(id.to_string(), Lock { token, expires: now + self.lock_ttl });
                    drop(st);
                    self.held = Some(Held { id: id.to_string(), token, version: self.live_version(id) });
                    self.stats.last_lock_wait = now - started;
                    return Ok(());
                }
            }
            let waited = now - started;
            if waited >= self.lock_wait {
                self.stats.lock_failures += 1;
                self.stats.last_lock_wait = waited;
                return Err(StoreError::lock_timeout(id, waited));
            }
            clock.advance(backoff.min(self.lock_wait - waited));
            backoff = (backoff * 2).min(Duration::from_millis(8));
        }
    }

    /// Whether the lock we took on `id` is still ours and unexpired.
    fn still_ours(&self, id: &str) -> bool {
        let Some(h) = self.held.as_ref().filter(|h| h.id == id) else { return false };
        let now = self.server.clock.now();
        self.server.state.borrow().locks.get(id).is_some_and(|l| l.token == h.token && l.expires > now)
    }

    /// A write under our lock on `id` may go on: the lock is ours, or it expired and nobody
    /// took it or wrote since.
    fn may_write(&self, id: &str) -> bool {
        let Some(h) = self.held.as_ref().filter(|h| h.id == id) else { return true };
        if self.still_ours(id) {
            return true;
        }
        let now = self.server.clock.now();
        let taken = self.server.state.borrow().locks.get(id).is_some_and(|l| l.token != h.token && l.expires > now);
        !taken && self.live_version(id) == h.version
    }

    fn release(&mut self, id: &str) {
        if let Some(h) = self.held.take_if(|h| h.id == id) {
            let mut st = self.server.state.borrow_mut();
            if st.locks.get(id).is_some_and(|l| l.token == h.token) {
                st.locks.remove(id);
            }
        }
    }

    fn store(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        if let Err(e) = check_size(data, self.max_size) {
            self.release(id);
            return Err(e);
        }
        if !self.may_write(id) {
            self.held = None;
            return Err(StoreError::LockLost);
        }
        let expires = self.server.clock.now() + secs(ttl_secs);
        let mut st = self.server.state.borrow_mut();
        st.next_version += 1;
        let version = st.next_version;
        st.sessions.insert(id.to_string(), Entry { data: data.to_vec(), expires, version });
        drop(st);
        // Our own write does not count as "someone wrote since".
        if let Some(h) = self.held.as_mut().filter(|h| h.id == id) {
            h.version = Some(version);
        }
        Ok(())
    }

    fn refresh(&mut self, id: &str, ttl_secs: u64) -> bool {
        let now = self.server.clock.now();
        let mut st = self.server.state.borrow_mut();
        if !st.refresh_on_read {
            return false;
        }
        if let Some(e) = st.sessions.get_mut(id).filter(|e| e.expires > now) {
            e.expires = now + secs(ttl_secs);
        }
        true
    }
}

impl SessionStore for MemoryStore {
    fn read(&mut self, id: &str, lock: bool) -> Result<Option<Vec<u8>>, StoreError> {
        self.trip()?;
        if lock {
            self.lock(id)?;
        }
        Ok(self.server.data(id))
    }

    fn read_refresh(&mut self, id: &str, ttl_secs: u64) -> Result<(Option<Vec<u8>>, bool), StoreError> {
        self.trip()?;
        let data = self.server.data(id);
        Ok((data, self.refresh(id, ttl_secs)))
    }

    fn lock_read_refresh(&mut self, id: &str, ttl_secs: u64) -> Result<(Option<Vec<u8>>, bool), StoreError> {
        self.trip()?;
        self.lock(id)?;
        let data = self.server.data(id);
        Ok((data, self.refresh(id, ttl_secs)))
    }

    fn write(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        self.trip()?;
        self.store(id, data, ttl_secs)?;
        self.release(id);
        Ok(())
    }

    fn write_keep_lock(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        self.trip()?;
        self.store(id, data, ttl_secs)
    }

    fn touch(&mut self, id: &str, ttl_secs: u64) -> Result<(), StoreError> {
        self.trip()?;
        let now = self.server.clock.now();
        if let Some(e) = self.server.state.borrow_mut().sessions.get_mut(id).filter(|e| e.expires > now) {
            e.expires = now + secs(ttl_secs);
        }
        self.release(id);
        Ok(())
    }

    fn unlock(&mut self, id: &str) -> Result<(), StoreError> {
        if self.held.as_ref().is_some_and(|h| h.id == id) {
            self.trip()?;
            self.release(id);
        }
        Ok(())
    }

    fn destroy(&mut self, id: &str) -> Result<(), StoreError> {
        self.trip()?;
        self.server.state.borrow_mut().sessions.remove(id);
        self.release(id);
        Ok(())
    }

    fn exists(&mut self, id: &str) -> Result<bool, StoreError> {
        self.trip()?;
        {
            let mut st = self.server.state.borrow_mut();
            if st.taken_answers > 0 {
                st.taken_answers -= 1;
                return Ok(true);
            }
        }
        Ok(self.live_version(id).is_some())
    }

    fn gc(&mut self, _max_lifetime_secs: u64) -> Result<u64, StoreError> {
        self.trip()?;
        // Every session carries its own expiry (as in the MySQL store): expired is idle too long.
        let now = self.server.clock.now();
        let mut st = self.server.state.borrow_mut();
        let before = st.sessions.len();
        st.sessions.retain(|_, e| e.expires > now);
        Ok((before - st.sessions.len()) as u64)
    }

    fn held_lock(&self) -> Option<&str> {
        self.held.as_ref().map(|h| h.id.as_str())
    }

    fn stats(&self) -> StoreStats {
        self.stats
    }

    fn disconnect(&mut self) {
        self.server.state.borrow_mut().disconnects += 1;
    }
}
