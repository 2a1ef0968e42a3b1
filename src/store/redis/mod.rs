//! Redis backend: one lazily opened connection per process, scripts for locked steps.
//!
//! Keys: `{prefix}{id}` holds the serialized session with an expiry of the session lifetime;
//! `{prefix}{id}:lock` holds the lock token of the request that owns the session right now.
mod conn;
mod errors;
mod scripts;
mod tls;

pub use conn::{Conn, Decimal, Reply};

use crate::config::{Backend, Config, RedisConfig};
use crate::store::error::ServerErrorKind;
use crate::store::{SessionStore, StoreError, StoreStats};
use scripts::{Script, Scripts};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn scripts() -> &'static Scripts {
    static S: OnceLock<Scripts> = OnceLock::new();
    S.get_or_init(Scripts::new)
}

struct HeldLock {
    id: String,
    token: Vec<u8>,
    /// The bytes read under the lock, to check nothing changed if the lock expired before write.
    read: Option<Vec<u8>>,
    /// Until when the lock is surely still ours by our own clock (taken at send time, minus a
    /// safety margin for clock rates): before then, writing and releasing need no check on the
    /// server and go as plain pipelined commands; after, the checking scripts run.
    sure_until: Option<Instant>,
}

/// The part of lock_ttl not trusted by our own clock: a fifth of it, at least 200 ms.
fn lock_margin(ttl: Duration) -> Duration {
    (ttl / 5).max(Duration::from_millis(200))
}

pub struct RedisStore {
    cfg: RedisConfig,
    prefix: String,
    connect_timeout: Duration,
    timeout: Duration,
    lock_ttl: Duration,
    lock_wait: Duration,
    max_size: usize,
    conn: Option<Conn>,
    /// The TLS client configuration, built on first connect (it reads certificate files).
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    lock: Option<HeldLock>,
    /// Round trips made by connections already dropped (see `round_trips`).
    past_round_trips: u64,
    /// How long the last locked read waited for the lock, and how many waits failed.
    pub last_lock_wait: Duration,
    pub lock_failures: u64,
    /// Locks a failed call may have left in Redis under our token (the connection broke or
    /// timed out mid-call, or the server refused the write and the release): (id, token).
    /// The next locked read of that id reuses the token, so it is not locked out by itself
    /// until `lock_ttl`; a locked read of another id releases them first.
    orphans: Vec<(String, Vec<u8>)>,
    /// Lock with `SET NX GET` (Redis 7+) and a pipelined GET, no script; off after the server
    /// refused that form once (older Redis), then the LOCK_READ script does it.
    plain_lock: bool,
    /// Read and refresh with GETEX (Redis 6.2+); off after the server refused it once.
    getex: bool,
    /// The lock whose release (DEL) was sent without waiting for its reply: (id, token). The
    /// reply is read with the next command; if it was an error or the connection broke first,
    /// the lock becomes an orphan (released later by compare-and-delete, or it expires).
    in_flight: Option<(String, Vec<u8>)>,
    /// This process's fork generation (see `crate::registry::generation`): lock tokens are
    /// drawn anew in a forked child, which would otherwise repeat its parent's.
    fork_generation: fn() -> u64,
}

/// At most this many orphaned locks are remembered; older ones are left to expire.
const MAX_ORPHANS: usize = 16;

impl RedisStore {
    /// Never connects: the first command does (so nothing is shared across a fork).
    pub fn new(cfg: &Config, default_prefix: &str, fork_generation: fn() -> u64) -> Result<RedisStore, StoreError> {
        let Backend::Redis(r) = &cfg.backend else {
            return Err(StoreError::Schema("not a redis configuration".into()));
        };
        Ok(RedisStore {
            cfg: r.clone(),
            prefix: cfg.prefix.clone().unwrap_or_else(|| default_prefix.to_string()),
            connect_timeout: cfg.connect_timeout,
            timeout: cfg.timeout,
            lock_ttl: cfg.lock_ttl,
            lock_wait: cfg.lock_wait_timeout,
            max_size: cfg.max_size,
            conn: None,
            tls: None,
            lock: None,
            past_round_trips: 0,
            last_lock_wait: Duration::ZERO,
            lock_failures: 0,
            orphans: Vec::new(),
            plain_lock: true,
            getex: true,
            in_flight: None,
            fork_generation,
        })
    }

    /// Round trips to the server made by this store so far.
    pub fn round_trips(&self) -> u64 {
        self.past_round_trips + self.conn.as_ref().map_or(0, |c| c.round_trips)
    }

    fn drop_conn(&mut self) {
        if let Some(c) = self.conn.take() {
            self.past_round_trips += c.round_trips;
            if c.unacked() > 0 || c.unacked_failed {
                // The release may not have happened: keep the token to release it later.
                if let Some((id, token)) = self.in_flight.take() {
                    self.remember_orphan(&id, token);
                }
            }
        }
    }

    /// After a call: once the reply of a release sent without waiting has been read, the lock
    /// is known to be gone (or, if that reply was an error, remembered as an orphan).
    fn note_settled(&mut self) {
        let Some(c) = self.conn.as_mut() else { return };
        if c.unacked() > 0 {
            return;
        }
        let failed = std::mem::take(&mut c.unacked_failed);
        if let Some((id, token)) = self.in_flight.take() {
            if failed {
                self.remember_orphan(&id, token);
            }
        }
    }

    /// The token of a lock on `id` whose release is still in flight (a request of this process
    /// released it a moment ago): the next locked read reuses it, so that even if the release
    /// failed, the lock is recognised as ours and not waited for.
    fn take_in_flight(&mut self, id: &str) -> Option<Vec<u8>> {
        if self.in_flight.as_ref().is_some_and(|(i, _)| i == id) {
            self.in_flight.take().map(|(_, t)| t)
        } else {
            None
        }
    }

    fn key(&self, id: &str) -> Vec<u8> {
        // Room for the lock key's suffix too, so `lock_key` does not reallocate.
        let mut k = Vec::with_capacity(self.prefix.len() + id.len() + 5);
        k.extend_from_slice(self.prefix.as_bytes());
        k.extend_from_slice(id.as_bytes());
        k
    }

    fn lock_key(&self, id: &str) -> Vec<u8> {
        let mut k = self.key(id);
        k.extend_from_slice(b":lock");
        k
    }

    /// Runs `f` on the connection, opening one if needed. A reused connection that turns out
    /// broken (server restarted, idle connection closed) is replaced and `f` retried once, when
    /// `retry` allows; timeouts are never retried, so a call is bounded by one timeout.
    fn run<T>(&mut self, retry: bool, f: impl Fn(&mut Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let r = self.run_once_or_twice(retry, f);
        self.note_settled();
        r
    }

    fn run_once_or_twice<T>(&mut self, retry: bool, f: impl Fn(&mut Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let reused = self.conn.as_ref().is_some_and(|c| c.used > 0);
        let first = match self.connection() {
            Ok(c) => f(c),
            Err(e) => return Err(e),
        };
        match first {
            Err(StoreError::Connection(m)) => {
                self.drop_conn();
                if !(retry && reused) {
                    return Err(StoreError::Connection(m));
                }
                let again = f(self.connection()?);
                if matches!(again, Err(StoreError::Connection(_) | StoreError::Timeout(_))) {
                    self.drop_conn();
                }
                again
            }
            Err(StoreError::Timeout(m)) => {
                // The reply may still arrive later: the connection is out of step, drop it.
                self.drop_conn();
                Err(StoreError::Timeout(m))
            }
            other => other,
        }
    }

    fn connection(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.is_none() {
            if let (None, Some(t)) = (&self.tls, &self.cfg.tls) {
                self.tls = Some(tls::client_config(t)?);
            }
            self.conn = Some(Conn::connect(&self.cfg, self.tls.as_ref(), self.connect_timeout, self.timeout)?);
        }
        self.conn.as_mut().ok_or_else(|| StoreError::Connection("no connection".into()))
    }

    fn take_lock_for(&mut self, id: &str) -> Option<HeldLock> {
        if self.lock.as_ref().is_some_and(|l| l.id == id) {
            self.lock.take()
        } else {
            None
        }
    }

    /// A locked call on `id` failed with `e`: the lock may still be held under `token`. After a
    /// server error the connection is fine, so release it now; when that fails too, or the
    /// outcome is unknown (connection broken, timeout), remember it (see `orphans`) rather
    /// than spend another timeout on it now.
    fn keep_orphan(&mut self, id: &str, token: Vec<u8>, e: &StoreError) {
        if matches!(e, StoreError::Server(_)) {
            let (key, lock_key) = (self.key(id), self.lock_key(id));
            if self.run(false, |c| eval(c, &scripts().unlock, &[&key, &lock_key], &[&token])).is_ok() {
                return;
            }
        }
        self.remember_orphan(id, token);
    }

    fn remember_orphan(&mut self, id: &str, token: Vec<u8>) {
        self.orphans.retain(|(i, _)| i != id);
        if self.orphans.len() >= MAX_ORPHANS {
            self.orphans.remove(0);
        }
        self.orphans.push((id.to_string(), token));
    }

    /// The token of an orphaned lock on `id`, if any (it may still hold the lock).
    fn take_orphan(&mut self, id: &str) -> Option<Vec<u8>> {
        let i = self.orphans.iter().position(|(o, _)| o == id)?;
        Some(self.orphans.remove(i).1)
    }

    /// Releases the orphaned locks (compare-and-delete: never another request's lock). Stops at
    /// the first failure (connection, timeout, or a server error such as LOADING: the script did
    /// not run) and returns it, so the caller's own call, which would fail the same way, is not
    /// attempted and a request still waits at most one timeout.
    fn release_orphans(&mut self) -> Result<(), StoreError> {
        while let Some((id, token)) = self.orphans.pop() {
            let (key, lock_key) = (self.key(&id), self.lock_key(&id));
            match self.run(true, |c| eval(c, &scripts().unlock, &[&key, &lock_key], &[&token])) {
                Ok(_) => {}
                Err(e) => {
                    self.orphans.push((id, token));
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// One attempt at the lock; on success, the session's bytes and until when the lock is
    /// surely ours. One round trip either way.
    #[allow(clippy::type_complexity)]
    fn try_lock_read(&mut self, id: &str, token: &[u8], refresh: Option<&[u8]>) -> Result<Option<(Option<Vec<u8>>, Option<Instant>)>, StoreError> {
        let key = self.key(id);
        let lock_key = self.lock_key(id);
        let ttl_ms = Decimal::new(u64::try_from(self.lock_ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        let sent_at = Instant::now();
        let sure_until = self.lock_ttl.checked_sub(lock_margin(self.lock_ttl)).map(|d| sent_at + d);
        if self.plain_lock {
            let replies = self.run(true, |c| {
                c.encode(&[b"SET", &lock_key, token, b"NX", b"PX", ttl_ms.as_bytes(), b"GET"]);
                match refresh {
                    // The read also refreshes the expiry, so lazy write has only the lock left.
                    Some(ttl) => c.encode(&[b"GETEX", &key, b"EX", ttl]),
                    None => c.encode(&[b"GET", &key]),
                }
                c.flush_and_read(2)
            })?;
            let mut it = replies.into_iter();
            match (it.next(), it.next()) {
                // Nil: it was free and is ours now; our own token: a retried call already took it.
                (Some(Reply::Nil), Some(data)) => return Ok(Some((bulk(data)?, sure_until))),
                (Some(Reply::Bulk(t)), Some(data)) if t == token => return Ok(Some((bulk(data)?, sure_until))),
                (Some(Reply::Bulk(_)), _) => return Ok(None),
                (Some(Reply::Error(e)), _) if matches!(errors::classify(&e), ServerErrorKind::Syntax | ServerErrorKind::UnknownCommand) => {
                    // SET NX GET needs Redis 7: use the script from now on.
                    self.plain_lock = false;
                }
                (Some(Reply::Error(e)), _) => return Err(errors::server_error(e)),
                (other, _) => return Err(unexpected(other.unwrap_or(Reply::Nil))),
            }
        }
        let reply = self.run(true, |c| eval(c, &scripts().lock_read, &[&key, &lock_key], &[token, ttl_ms.as_bytes()]))?;
        match reply {
            Reply::Array(mut items) if !items.is_empty() => {
                if items[0] != Reply::Int(1) {
                    return Ok(None);
                }
                match items.pop() {
                    Some(Reply::Bulk(b)) if items.len() == 1 => Ok(Some((Some(b), sure_until))),
                    _ => Ok(Some((None, sure_until))),
                }
            }
            other => Err(unexpected(other)),
        }
    }

    /// The locked read: takes the lock (waiting up to `lock_wait`), reads, and with `refresh`
    /// (a ttl in seconds, as text) also refreshes the expiry in the same round trip.
    fn read_locked(&mut self, id: &str, refresh: Option<&[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(held) = &self.lock {
            if held.id != id {
                let old = held.id.clone();
                // A broken connection or a timeout here would only repeat for our own lock.
                if let Err(e @ (StoreError::Connection(_) | StoreError::Timeout(_))) = self.unlock(&old) {
                    return Err(e);
                }
            }
        }
        // Our own lock, or one a failed call left behind on this id: the token may still hold it.
        let token = match self
            .take_lock_for(id)
            .map(|h| h.token)
            .or_else(|| self.take_orphan(id))
            .or_else(|| self.take_in_flight(id))
        {
            Some(t) => {
                if let Err(e) = self.release_orphans() {
                    self.remember_orphan(id, t);
                    return Err(e);
                }
                t
            }
            None => {
                self.release_orphans()?;
                new_token((self.fork_generation)())?
            }
        };
        let started = Instant::now();
        let deadline = started + self.lock_wait;
        // Jitter seeded from the whole token (its random prefix and its counter).
        let mut seed = crate::fnv::hash(&token) | 1;
        let mut attempt = 0;
        loop {
            let got = match self.try_lock_read(id, &token, refresh) {
                Ok(g) => g,
                Err(e) => {
                    // The script may have run and its reply been lost, or the token is one an
                    // earlier failure left holding the lock (a server error such as LOADING
                    // changes nothing): keep it either way.
                    self.remember_orphan(id, token);
                    return Err(e);
                }
            };
            if let Some((data, sure_until)) = got {
                self.last_lock_wait = started.elapsed();
                self.lock = Some(HeldLock { id: id.to_string(), token, read: data.clone(), sure_until });
                return Ok(data);
            }
            let now = Instant::now();
            if now >= deadline {
                self.last_lock_wait = started.elapsed();
                self.lock_failures += 1;
                return Err(StoreError::LockTimeout {
                    id_prefix: id.chars().take(6).collect(),
                    waited_ms: self.last_lock_wait.as_millis() as u64,
                });
            }
            std::thread::sleep(backoff(attempt, &mut seed).min(deadline - now));
            attempt += 1;
        }
    }

    /// Whether a held lock is surely still ours (see `HeldLock::sure_until`).
    fn surely_ours(held: &HeldLock) -> bool {
        held.sure_until.is_some_and(|t| Instant::now() < t)
    }

    /// Sends `cmds` as one pipeline and checks every reply for errors; returns the replies.
    fn pipeline(&mut self, cmds: &[&[&[u8]]]) -> Result<Vec<Reply>, StoreError> {
        let replies = self.run(true, |c| {
            for cmd in cmds {
                c.encode(cmd);
            }
            c.flush_and_read(cmds.len())
        })?;
        for r in &replies {
            if let Reply::Error(e) = r {
                return Err(errors::server_error(e.clone()));
            }
        }
        Ok(replies)
    }
}

/// EVALSHA, falling back to EVAL when the server does not have the script (new or restarted).
fn eval(c: &mut Conn, s: &Script, keys: &[&[u8]], args: &[&[u8]]) -> Result<Reply, StoreError> {
    let nkeys = keys.len().to_string();
    let mut argv: Vec<&[u8]> = Vec::with_capacity(3 + keys.len() + args.len());
    argv.push(b"EVALSHA");
    argv.push(s.sha.as_bytes());
    argv.push(nkeys.as_bytes());
    argv.extend_from_slice(keys);
    argv.extend_from_slice(args);
    let r = c.cmd(&argv)?;
    if let Reply::Error(e) = &r {
        if errors::classify(e) == ServerErrorKind::NoScript {
            argv[0] = b"EVAL";
            argv[1] = s.body.as_bytes();
            return ok(c.cmd(&argv)?);
        }
    }
    ok(r)
}

/// Turns an error reply into `StoreError::Server`.
fn ok(r: Reply) -> Result<Reply, StoreError> {
    match r {
        Reply::Error(e) => Err(errors::server_error(e)),
        other => Ok(other),
    }
}

/// A GET's reply as bytes.
fn bulk(r: Reply) -> Result<Option<Vec<u8>>, StoreError> {
    match r {
        Reply::Bulk(b) => Ok(Some(b)),
        Reply::Nil => Ok(None),
        Reply::Error(e) => Err(errors::server_error(e)),
        other => Err(unexpected(other)),
    }
}

fn unexpected(r: Reply) -> StoreError {
    StoreError::server(format!("unexpected reply from redis: {:?}", r).chars().take(200).collect::<String>())
}

/// A lock token: unique to one lock taking, never shown outside Redis. 64 random bits drawn once
/// per process (and again in a forked child, which would otherwise repeat its parent's tokens)
/// followed by a per-process counter: no system call per request, and no two processes share one.
fn new_token(generation: u64) -> Result<Vec<u8>, StoreError> {
    use std::cell::Cell;
    thread_local! {
        /// (fork generation, random prefix, counter); prefix 0 = not drawn yet.
        static STATE: Cell<(u64, u64, u64)> = const { Cell::new((0, 0, 0)) };
    }
    let (gen, mut prefix, mut counter) = STATE.with(Cell::get);
    if prefix == 0 || gen != generation {
        let mut raw = [0u8; 8];
        getrandom::getrandom(&mut raw).map_err(|e| StoreError::Random(format!("no randomness for a lock token: {e}")))?;
        prefix = u64::from_le_bytes(raw) | 1;
        counter = 0;
    }
    counter = counter.wrapping_add(1);
    STATE.with(|s| s.set((generation, prefix, counter)));
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&prefix.to_le_bytes());
    raw[8..].copy_from_slice(&counter.to_le_bytes());
    Ok(raw.iter().flat_map(|b| [HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]).collect())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Backoff between lock attempts: starts at 1 ms, doubles to 8 ms, each with ±50% jitter drawn
/// from the token's randomness, so waiters spread out and one gets the lock within milliseconds
/// of its release.
fn backoff(attempt: u32, seed: &mut u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let base_us = 1000u64 << attempt.min(3);
    let jitter = *seed % base_us;
    Duration::from_micros(base_us / 2 + jitter)
}

impl SessionStore for RedisStore {
    fn read(&mut self, id: &str, lock: bool) -> Result<Option<Vec<u8>>, StoreError> {
        if !lock {
            let key = self.key(id);
            return match self.run(true, |c| ok(c.cmd(&[b"GET", &key])?))? {
                Reply::Bulk(b) => Ok(Some(b)),
                Reply::Nil => Ok(None),
                other => Err(unexpected(other)),
            };
        }
        self.read_locked(id, None)
    }

    fn lock_read_refresh(&mut self, id: &str, ttl_secs: u64) -> Result<(Option<Vec<u8>>, bool), StoreError> {
        // GETEX beside SET NX GET: both need Redis 7 / 6.2, the scripted path does not refresh.
        let refresh = self.plain_lock && self.getex;
        let ttl = Decimal::new(ttl_secs.max(1));
        let data = self.read_locked(id, refresh.then_some(ttl.as_bytes()))?;
        // The plain path may have been switched off by this very call (older server).
        Ok((data, refresh && self.plain_lock))
    }

    fn read_refresh(&mut self, id: &str, ttl_secs: u64) -> Result<(Option<Vec<u8>>, bool), StoreError> {
        if !self.getex {
            return Ok((self.read(id, false)?, false));
        }
        let key = self.key(id);
        let ttl = Decimal::new(ttl_secs.max(1));
        match self.run(true, |c| c.cmd(&[b"GETEX", &key, b"EX", ttl.as_bytes()]))? {
            Reply::Error(e) if matches!(errors::classify(&e), ServerErrorKind::UnknownCommand | ServerErrorKind::Syntax) => {
                self.getex = false;
                Ok((self.read(id, false)?, false))
            }
            other => Ok((bulk(other)?, true)),
        }
    }

    fn write(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        if let Err(e) = crate::store::check_size(data, self.max_size) {
            // Keep the lock released: the request is over either way.
            let _ = self.unlock(id);
            return Err(e);
        }
        let key = self.key(id);
        let ttl = Decimal::new(ttl_secs.max(1));
        let Some(held) = self.take_lock_for(id) else {
            return match self.run(true, |c| ok(c.cmd(&[b"SET", &key, data, b"EX", ttl.as_bytes()])?))? {
                Reply::Status(_) => Ok(()),
                other => Err(unexpected(other)),
            };
        };
        let lock_key = self.lock_key(id);
        if Self::surely_ours(&held) {
            // Still ours by our own clock: write and release as plain commands, one round trip.
            return match self.pipeline(&[&[b"SET", &key, data, b"EX", ttl.as_bytes()], &[b"DEL", &lock_key]]) {
                Ok(_) => Ok(()),
                Err(e @ StoreError::Server(_)) => {
                    // The write was refused (e.g. OOM); the DEL after it still released the lock.
                    Err(e)
                }
                Err(e) => {
                    self.keep_orphan(id, held.token, &e);
                    Err(e)
                }
            };
        }
        let args: [&[u8]; 3] = [&held.token, data, ttl.as_bytes()];
        let reply = match self.run(true, |c| eval(c, &scripts().write_unlock, &[&key, &lock_key], &args)) {
            Ok(r) => r,
            Err(e) => {
                self.keep_orphan(id, held.token, &e);
                return Err(e);
            }
        };
        match reply {
            Reply::Int(1) => Ok(()),
            Reply::Int(-1) => {
                // Our lock expired and nobody holds one: write only if nobody wrote since we read.
                let sha = held.read.as_deref().map(|d| sha1_smol::Sha1::from(d).digest().to_string()).unwrap_or_default();
                let args: [&[u8]; 4] = [&held.token, data, ttl.as_bytes(), sha.as_bytes()];
                match self.run(true, |c| eval(c, &scripts().write_if_unchanged, &[&key, &lock_key], &args))? {
                    Reply::Int(1) => Ok(()),
                    _ => Err(StoreError::LockLost),
                }
            }
            Reply::Int(_) => Err(StoreError::LockLost),
            other => Err(unexpected(other)),
        }
    }

    fn write_keep_lock(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        crate::store::check_size(data, self.max_size)?;
        let Some(held) = self.take_lock_for(id) else {
            return self.write(id, data, ttl_secs);
        };
        let (key, lock_key) = (self.key(id), self.lock_key(id));
        let ttl = Decimal::new(ttl_secs.max(1));
        let lock_ms = Decimal::new(u64::try_from(self.lock_ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        let sent_at = Instant::now();
        let sure_until = self.lock_ttl.checked_sub(lock_margin(self.lock_ttl)).map(|d| sent_at + d);
        if Self::surely_ours(&held) {
            let r = self.pipeline(&[&[b"SET", &key, data, b"EX", ttl.as_bytes()], &[b"PEXPIRE", &lock_key, lock_ms.as_bytes()]]);
            let read = if r.is_ok() { Some(data.to_vec()) } else { held.read };
            self.lock = Some(HeldLock { id: id.to_string(), token: held.token, read, sure_until: if r.is_ok() { sure_until } else { held.sure_until } });
            return r.map(|_| ());
        }
        let args: [&[u8]; 4] = [&held.token, data, ttl.as_bytes(), lock_ms.as_bytes()];
        match self.run(true, |c| eval(c, &scripts().write_keep_lock, &[&key, &lock_key], &args)) {
            Ok(Reply::Int(1)) => {
                self.lock = Some(HeldLock { id: id.to_string(), token: held.token, read: Some(data.to_vec()), sure_until });
                Ok(())
            }
            // Not our lock any more: the ordinary locked write tells a lost lock from an expired
            // one nobody took (and then writes if nothing changed since our read).
            Ok(_) => {
                self.lock = Some(held);
                self.write(id, data, ttl_secs)
            }
            Err(e) => {
                self.lock = Some(held);
                Err(e)
            }
        }
    }

    fn touch(&mut self, id: &str, ttl_secs: u64) -> Result<(), StoreError> {
        let key = self.key(id);
        let ttl = Decimal::new(ttl_secs.max(1));
        match self.take_lock_for(id) {
            None => {
                self.run(true, |c| ok(c.cmd(&[b"EXPIRE", &key, ttl.as_bytes()])?))?;
            }
            Some(held) if Self::surely_ours(&held) => {
                let lock_key = self.lock_key(id);
                if let Err(e) = self.pipeline(&[&[b"EXPIRE", &key, ttl.as_bytes()], &[b"DEL", &lock_key]]) {
                    self.keep_orphan(id, held.token, &e);
                    return Err(e);
                }
            }
            Some(held) => {
                let lock_key = self.lock_key(id);
                let args: [&[u8]; 2] = [&held.token, ttl.as_bytes()];
                if let Err(e) = self.run(true, |c| eval(c, &scripts().touch_unlock, &[&key, &lock_key], &args)) {
                    self.keep_orphan(id, held.token, &e);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn unlock(&mut self, id: &str) -> Result<(), StoreError> {
        let Some(held) = self.take_lock_for(id) else { return Ok(()) };
        let key = self.key(id);
        let lock_key = self.lock_key(id);
        if Self::surely_ours(&held) {
            // Nothing to learn from the reply that would change what this request does: send
            // the DEL without waiting (the server frees the lock at once; waiters see it as
            // before) and read its reply with the next command. See `in_flight`. Taking a lock
            // reads any earlier release's reply, so none is in flight now; were one, it would
            // be kept as an orphan rather than forgotten.
            if let Some((old, token)) = self.in_flight.take() {
                self.remember_orphan(&old, token);
            }
            if let Err(e) = self.run(true, |c| {
                c.encode(&[b"DEL", &lock_key]);
                c.send_unacked(1)
            }) {
                self.remember_orphan(id, held.token);
                return Err(e);
            }
            self.in_flight = Some((id.to_string(), held.token));
            return Ok(());
        }
        let args: [&[u8]; 1] = [&held.token];
        if let Err(e) = self.run(true, |c| eval(c, &scripts().unlock, &[&key, &lock_key], &args)) {
            self.remember_orphan(id, held.token);
            return Err(e);
        }
        Ok(())
    }

    fn destroy(&mut self, id: &str) -> Result<(), StoreError> {
        let key = self.key(id);
        match self.take_lock_for(id) {
            None => {
                self.run(true, |c| ok(c.cmd(&[b"DEL", &key])?))?;
            }
            Some(held) if Self::surely_ours(&held) => {
                let lock_key = self.lock_key(id);
                if let Err(e) = self.pipeline(&[&[b"DEL", &key, &lock_key]]) {
                    self.keep_orphan(id, held.token, &e);
                    return Err(e);
                }
            }
            Some(held) => {
                let lock_key = self.lock_key(id);
                let args: [&[u8]; 1] = [&held.token];
                if let Err(e) = self.run(true, |c| eval(c, &scripts().destroy, &[&key, &lock_key], &args)) {
                    self.keep_orphan(id, held.token, &e);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn exists(&mut self, id: &str) -> Result<bool, StoreError> {
        let key = self.key(id);
        match self.run(true, |c| ok(c.cmd(&[b"EXISTS", &key])?))? {
            Reply::Int(n) => Ok(n > 0),
            other => Err(unexpected(other)),
        }
    }

    fn gc(&mut self, _max_lifetime_secs: u64) -> Result<u64, StoreError> {
        // Redis expires keys itself (EX on every write): nothing is left for gc to delete.
        Ok(0)
    }

    fn held_lock(&self) -> Option<&str> {
        self.lock.as_ref().map(|l| l.id.as_str())
    }

    fn stats(&self) -> StoreStats {
        StoreStats { round_trips: self.round_trips(), last_lock_wait: self.last_lock_wait, lock_failures: self.lock_failures }
    }

    fn disconnect(&mut self) {
        // A release still in flight is waited for before the socket closes.
        if let Some(c) = self.conn.as_mut() {
            let _ = c.settle();
        }
        self.note_settled();
        self.drop_conn();
    }
}

#[cfg(test)]
mod tests;

// Topology groundwork (Redis Cluster routing, Sentinel discovery), not wired into the store yet.
#[allow(dead_code)]
mod slots;
#[allow(dead_code)]
mod sentinel;
#[cfg(test)]
mod testbed;
