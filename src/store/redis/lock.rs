//! The session lock: `{prefix}{id}:lock` holds a token unique to the request that owns the
//! session; only that token's holder writes or releases it (compare-and-delete).
//!
//! Here: tokens, one attempt at the lock (`try_lock_read`, one round trip), the wait loop with
//! backoff (`read_locked`), the release (`release`), and the bookkeeping that keeps a failed
//! call from locking this process out: locks left behind (`orphans`) and a release sent without
//! waiting for its reply (`in_flight`). A lock taken is "surely ours" until its TTL minus a
//! margin by our own clock: until then the caller may write and release with plain commands.
use super::resp::{Decimal, Reply};
use super::scripts::scripts;
use super::RedisStore;
use crate::store::error::ServerErrorKind;
use crate::store::StoreError;
use std::time::{Duration, Instant};

pub(super) struct HeldLock {
    pub id: String,
    pub token: Vec<u8>,
    /// The bytes read under the lock, to check nothing changed if the lock expired before write.
    pub read: Option<Vec<u8>>,
    /// Until when the lock is surely still ours by our own clock (taken at send time, minus a
    /// safety margin for clock rates): before then, writing and releasing need no check on the
    /// server and go as plain pipelined commands; after, the checking scripts run.
    pub sure_until: Option<Instant>,
}

impl HeldLock {
    pub fn surely_ours(&self) -> bool {
        self.sure_until.is_some_and(|t| Instant::now() < t)
    }
}

/// The part of lock_ttl not trusted by our own clock: a fifth of it, at least 200 ms.
fn lock_margin(ttl: Duration) -> Duration {
    (ttl / 5).max(Duration::from_millis(200))
}

/// At most this many orphaned locks are remembered; older ones are left to expire.
const MAX_ORPHANS: usize = 16;

/// This process's locks: the one held, and those whose fate a failure left unknown.
pub(super) struct Locks {
    ttl: Duration,
    wait: Duration,
    /// This process's fork generation (passed in by `store::open`): lock tokens are
    /// drawn anew in a forked child, which would otherwise repeat its parent's.
    fork_generation: fn() -> u64,
    pub held: Option<HeldLock>,
    /// Locks a failed call may have left in Redis under our token (the connection broke or
    /// timed out mid-call, or the server refused the write and the release): (id, token).
    /// The next locked read of that id reuses the token, so it is not locked out by itself
    /// until `lock_ttl`; a locked read of another id releases them first.
    pub orphans: Vec<(String, Vec<u8>)>,
    /// The lock whose release (DEL) was sent without waiting for its reply: (id, token). The
    /// reply is read with the next command; if it was an error or the connection broke first,
    /// the lock becomes an orphan (released later by compare-and-delete, or it expires).
    pub in_flight: Option<(String, Vec<u8>)>,
    /// Lock with `SET NX GET` (Redis 7+) and a pipelined GET, no script; off after the server
    /// refused that form once (older Redis), then the LOCK_READ script does it.
    pub plain: bool,
    /// How long the last locked read waited for the lock, and how many waits failed.
    pub last_wait: Duration,
    pub failures: u64,
}

impl Locks {
    pub fn new(ttl: Duration, wait: Duration, fork_generation: fn() -> u64) -> Locks {
        Locks {
            ttl,
            wait,
            fork_generation,
            held: None,
            orphans: Vec::new(),
            in_flight: None,
            plain: true,
            last_wait: Duration::ZERO,
            failures: 0,
        }
    }

    /// The lock held on `id`, handed to the caller (who puts it back if it keeps it).
    pub fn take_held(&mut self, id: &str) -> Option<HeldLock> {
        if self.held.as_ref().is_some_and(|l| l.id == id) {
            self.held.take()
        } else {
            None
        }
    }

    /// The lock's TTL in milliseconds, as a command argument.
    pub fn ttl_ms(&self) -> Decimal {
        Decimal::new(u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1))
    }

    /// Until when a lock taken (or extended) by a command sent at `sent_at` is surely ours.
    pub fn sure_until(&self, sent_at: Instant) -> Option<Instant> {
        self.ttl.checked_sub(lock_margin(self.ttl)).map(|d| sent_at + d)
    }

    pub fn remember_orphan(&mut self, id: &str, token: Vec<u8>) {
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

    /// The reply of a release sent without waiting has been read: the lock is gone, or, if the
    /// reply was an error (or never came: `failed`), remembered as an orphan.
    pub fn release_settled(&mut self, failed: bool) {
        if let Some((id, token)) = self.in_flight.take() {
            if failed {
                self.remember_orphan(&id, token);
            }
        }
    }
}

impl RedisStore {
    /// A locked call on `id` failed with `e`: the lock may still be held under `token`. After a
    /// server error the connection is fine, so release it now; when that fails too, or the
    /// outcome is unknown (connection broken, timeout), remember it (see `orphans`) rather
    /// than spend another timeout on it now.
    pub(super) fn keep_orphan(&mut self, id: &str, token: Vec<u8>, e: &StoreError) {
        if matches!(e, StoreError::Server(_)) {
            let keys = self.keys_of(id);
            if self.run(false, |c| scripts().unlock.eval(c, &keys.both(), &[&token])).is_ok() {
                return;
            }
        }
        self.locks.remember_orphan(id, token);
    }

    /// Releases the orphaned locks (compare-and-delete: never another request's lock). Stops at
    /// the first failure (connection, timeout, or a server error such as LOADING: the script did
    /// not run) and returns it, so the caller's own call, which would fail the same way, is not
    /// attempted and a request still waits at most one timeout.
    fn release_orphans(&mut self) -> Result<(), StoreError> {
        while let Some((id, token)) = self.locks.orphans.pop() {
            let keys = self.keys_of(&id);
            if let Err(e) = self.run(true, |c| scripts().unlock.eval(c, &keys.both(), &[&token])) {
                self.locks.orphans.push((id, token));
                return Err(e);
            }
        }
        Ok(())
    }

    /// One attempt at the lock; on success, the session's bytes and until when the lock is
    /// surely ours. One round trip either way.
    #[allow(clippy::type_complexity)]
    fn try_lock_read(&mut self, id: &str, token: &[u8], refresh: Option<&[u8]>) -> Result<Option<(Option<Vec<u8>>, Option<Instant>)>, StoreError> {
        let keys = self.keys_of(id);
        let ttl_ms = self.locks.ttl_ms();
        let sure_until = self.locks.sure_until(Instant::now());
        // A request's first call: with Sentinel, safe to run again on a new master.
        self.arm_check();
        if self.locks.plain {
            let replies = self.run(true, |c| {
                c.encode(&[b"SET", keys.lock(), token, b"NX", b"PX", ttl_ms.as_bytes(), b"GET"]);
                match refresh {
                    // The read also refreshes the expiry, so lazy write has only the lock left.
                    Some(ttl) => c.encode(&[b"GETEX", keys.data(), b"EX", ttl]),
                    None => c.encode(&[b"GET", keys.data()]),
                }
                c.flush_and_read(2)
            })?;
            let mut it = replies.into_iter();
            match (it.next(), it.next()) {
                // Nil: it was free and is ours now; our own token: a retried call already took it.
                (Some(Reply::Nil), Some(data)) => return Ok(Some((data.bulk()?, sure_until))),
                (Some(Reply::Bulk(t)), Some(data)) if t == token => return Ok(Some((data.bulk()?, sure_until))),
                (Some(Reply::Bulk(_)), _) => return Ok(None),
                (Some(Reply::Error(e)), _) if matches!(e.kind, ServerErrorKind::Syntax | ServerErrorKind::UnknownCommand) => {
                    // SET NX GET needs Redis 7: use the script from now on.
                    self.locks.plain = false;
                }
                (Some(Reply::Error(e)), _) => return Err(StoreError::Server(*e)),
                (other, _) => return Err(other.unwrap_or(Reply::Nil).unexpected()),
            }
        }
        let reply = self.run(true, |c| scripts().lock_read.eval(c, &keys.both(), &[token, ttl_ms.as_bytes()]))?;
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
            other => Err(other.unexpected()),
        }
    }

    /// The locked read: takes the lock (waiting up to `lock_wait`), reads, and with `refresh`
    /// (a ttl in seconds, as text) also refreshes the expiry in the same round trip.
    pub(super) fn read_locked(&mut self, id: &str, refresh: Option<&[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(held) = &self.locks.held {
            if held.id != id {
                let old = held.id.clone();
                // A broken connection or a timeout here would only repeat for our own lock.
                if let Err(e @ (StoreError::Connection(_) | StoreError::Timeout(_))) = self.release(&old) {
                    return Err(e);
                }
            }
        }
        // Our own lock, or one a failed call left behind on this id: the token may still hold it.
        let locks = &mut self.locks;
        let token = match locks.take_held(id).map(|h| h.token).or_else(|| locks.take_orphan(id)).or_else(|| locks.take_in_flight(id)) {
            Some(t) => {
                if let Err(e) = self.release_orphans() {
                    self.locks.remember_orphan(id, t);
                    return Err(e);
                }
                t
            }
            None => {
                self.release_orphans()?;
                new_token((self.locks.fork_generation)())?
            }
        };
        let started = Instant::now();
        let deadline = started + self.locks.wait;
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
                    self.locks.remember_orphan(id, token);
                    return Err(e);
                }
            };
            if let Some((data, sure_until)) = got {
                self.locks.last_wait = started.elapsed();
                self.locks.held = Some(HeldLock { id: id.to_string(), token, read: data.clone(), sure_until });
                return Ok(data);
            }
            let now = Instant::now();
            if now >= deadline {
                self.locks.last_wait = started.elapsed();
                self.locks.failures += 1;
                return Err(StoreError::lock_timeout(id, self.locks.last_wait));
            }
            std::thread::sleep(backoff(attempt, &mut seed).min(deadline - now));
            attempt += 1;
        }
    }

    /// Releases this request's lock on `id`, if held, without writing.
    pub(super) fn release(&mut self, id: &str) -> Result<(), StoreError> {
        let Some(held) = self.locks.take_held(id) else { return Ok(()) };
        let keys = self.keys_of(id);
        if held.surely_ours() {
            // Nothing to learn from the reply that would change what this request does: send
            // the DEL without waiting (the server frees the lock at once; waiters see it as
            // before) and read its reply with the next command. See `in_flight`. Taking a lock
            // reads any earlier release's reply, so none is in flight now; were one, it would
            // be kept as an orphan rather than forgotten.
            if let Some((old, token)) = self.locks.in_flight.take() {
                self.locks.remember_orphan(&old, token);
            }
            if let Err(e) = self.run(true, |c| {
                c.encode(&[b"DEL", keys.lock()]);
                c.send_unacked(1)
            }) {
                self.locks.remember_orphan(id, held.token);
                return Err(e);
            }
            self.locks.in_flight = Some((id.to_string(), held.token));
            return Ok(());
        }
        if let Err(e) = self.run(true, |c| scripts().unlock.eval(c, &keys.both(), &[&held.token])) {
            self.locks.remember_orphan(id, held.token);
            return Err(e);
        }
        Ok(())
    }
}

/// A lock token: unique to one lock taking, never shown outside Redis. 64 random bits drawn once
/// per process (and again in a forked child, which would otherwise repeat its parent's tokens)
/// followed by a per-process counter: no system call per request, and no two processes share one.
pub(super) fn new_token(generation: u64) -> Result<Vec<u8>, StoreError> {
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

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
