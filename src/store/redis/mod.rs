//! Redis backend: one lazily opened connection per process, scripts for locked steps.
//!
//! The pieces, one a file: `resp` (the protocol, pure), `conn` (one connection: IO, deadlines,
//! pipelining), `errors` (error replies as kinds), `keys` (the key layout), `lock` (the lock
//! protocol), `scripts` (the server-side scripts), `tls`. This file composes them into the
//! `SessionStore`: the connection's lifecycle and retry, and each store call.
mod cluster;
mod conn;
mod errors;
mod keys;
mod lock;
pub mod resp;
mod scripts;
mod tls;
mod topology;
mod wait;

pub use conn::Conn;
pub use resp::{Decimal, Reply};

use crate::config::{Backend, Config, RedisConfig};
use crate::store::error::ServerErrorKind;
use crate::store::{SessionStore, StoreError, StoreStats};
use keys::{Keys, SessionKeys};
use lock::{HeldLock, Locks};
use scripts::{scripts, Script};
use std::time::{Duration, Instant};

pub struct RedisStore {
    cfg: RedisConfig,
    keys: Keys,
    connect_timeout: Duration,
    timeout: Duration,
    max_size: usize,
    conn: Option<Conn>,
    /// The TLS client configuration, built on first connect (it reads certificate files).
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    locks: Locks,
    /// Round trips made by connections already dropped (see `round_trips`).
    past_round_trips: u64,
    /// Read and refresh with GETEX (Redis 6.2+); off after the server refused it once.
    getex: bool,
    /// `redis+sentinel://`: the master's whereabouts and the failover checks (`topology`).
    topo: Option<topology::SentinelState>,
    /// `wait=N`: (replicas, wait_timeout in ms) for every write (`wait`).
    wait: Option<(u32, u64)>,
    /// `redis+cluster://`: the slot map and the nodes' connections (`cluster`).
    cluster: Option<Box<cluster::ClusterState>>,
}

/// The last step of a request on a session (write, touch, destroy), in the three forms it takes
/// depending on this request's lock on the session.
struct Finish<'a> {
    /// Without a lock: one command.
    unlocked: &'a [&'a [u8]],
    /// With the lock surely ours: these, pipelined, the last one releasing the lock.
    pipelined: &'a [&'a [&'a [u8]]],
    /// Otherwise: the script that checks the lock is ours first (KEYS: data and lock keys;
    /// ARGV: the token, then `args`).
    script: &'a Script,
    args: &'a [&'a [u8]],
}

enum Finished {
    /// By plain commands: the first one's reply.
    Plain(Reply),
    /// By the script: its reply, and the lock it checked (the caller may need what it read).
    Script(Reply, HeldLock),
}

impl RedisStore {
    /// Never connects: the first command does (so nothing is shared across a fork).
    pub fn new(cfg: &Config, default_prefix: &str, fork_generation: fn() -> u64) -> Result<RedisStore, StoreError> {
        let Backend::Redis(r) = &cfg.backend else {
            return Err(StoreError::Schema("not a redis configuration".into()));
        };
        let cluster = cluster::ClusterState::new(r);
        if cluster.is_some() && r.wait > 0 {
            return Err(StoreError::Schema("wait= is not served with redis+cluster:// yet".into()));
        }
        let prefix = cfg.prefix.clone().unwrap_or_else(|| default_prefix.to_string());
        Ok(RedisStore {
            cfg: r.clone(),
            keys: if cluster.is_some() { Keys::tagged(prefix) } else { Keys::new(prefix) },
            connect_timeout: cfg.connect_timeout,
            timeout: cfg.timeout,
            max_size: cfg.max_size,
            conn: None,
            tls: None,
            locks: Locks::new(cfg.lock_ttl, cfg.lock_wait_timeout, fork_generation),
            past_round_trips: 0,
            getex: true,
            topo: topology::SentinelState::new(r),
            wait: (r.wait > 0).then(|| (r.wait, u64::try_from(r.wait_timeout.as_millis()).unwrap_or(u64::MAX))),
            cluster,
        })
    }

    /// Round trips to the server made by this store so far.
    pub fn round_trips(&self) -> u64 {
        self.past_round_trips + self.conn.as_ref().map_or(0, |c| c.round_trips) + self.cluster.as_ref().map_or(0, |c| c.round_trips())
    }

    /// A session's keys; on a cluster, the next call goes to their slot's node.
    fn keys_of(&mut self, id: &str) -> SessionKeys {
        let keys = self.keys.of(id);
        self.route(keys.data());
        keys
    }

    fn drop_conn(&mut self) {
        if let Some(c) = self.conn.take() {
            self.past_round_trips += c.round_trips;
            if c.unacked() > 0 || c.unacked_failed {
                // The release may not have happened: keep the token to release it later.
                self.locks.release_settled(true);
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
        self.locks.release_settled(failed);
    }

    /// Runs `f` on the connection, opening one if needed. A reused connection that turns out
    /// broken (server restarted, idle connection closed) is replaced and `f` retried once, when
    /// `retry` allows; timeouts are never retried, so a call is bounded by one timeout.
    fn run<T>(&mut self, retry: bool, f: impl Fn(&mut Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let r = if self.topo.is_some() {
            self.run_sentinel(retry, &f)
        } else if self.cluster.is_some() {
            self.run_cluster(retry, &f)
        } else {
            self.run_once_or_twice(retry, f)
        };
        if self.conn.as_ref().is_some_and(|c| c.out_of_step) {
            self.drop_conn();
        }
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
            self.conn = Some(match self.topo {
                Some(_) => self.connect_master()?,
                None => Conn::connect(&self.cfg, self.tls.as_ref(), self.connect_timeout, self.timeout)?,
            });
        }
        self.conn.as_mut().ok_or_else(|| StoreError::Connection("no connection".into()))
    }

    /// One command; an error reply becomes `StoreError::Server`.
    fn cmd(&mut self, args: &[&[u8]]) -> Result<Reply, StoreError> {
        self.run(true, |c| c.cmd(args)?.ok())
    }

    /// Runs `f` in the form this request's lock on `id` calls for (see `Finish`), and releases
    /// the lock. When the lock may be left behind (the release failed, or its outcome is
    /// unknown), it is kept as an orphan (see `Locks::orphans`).
    fn finish(&mut self, id: &str, keys: &SessionKeys, f: Finish) -> Result<Finished, StoreError> {
        let Some(held) = self.locks.take_held(id) else {
            return Ok(Finished::Plain(self.run_write(|c| c.cmd(f.unlocked)?.ok())?));
        };
        if held.surely_ours() {
            // Still ours by our own clock: plain commands, one round trip.
            let replies = match self.run_write(|c| c.pipeline(f.pipelined)) {
                Ok(r) => r,
                Err(e) => {
                    self.keep_orphan(id, held.token, &e);
                    return Err(e);
                }
            };
            // A command refused before the release (e.g. OOM) leaves the release done.
            let released = !matches!(replies.last(), Some(Reply::Error(_)));
            return match replies.into_iter().try_fold(None, |first, r| r.ok().map(|r| first.or(Some(r)))) {
                Ok(first) => Ok(Finished::Plain(first.unwrap_or(Reply::Nil))),
                Err(e) => {
                    if !released {
                        self.keep_orphan(id, held.token, &e);
                    }
                    Err(e)
                }
            };
        }
        let mut args: Vec<&[u8]> = Vec::with_capacity(1 + f.args.len());
        args.push(&held.token);
        args.extend_from_slice(f.args);
        match self.run_write(|c| f.script.eval(c, &keys.both(), &args)) {
            Ok(r) => Ok(Finished::Script(r, held)),
            Err(e) => {
                self.keep_orphan(id, held.token, &e);
                Err(e)
            }
        }
    }
}

impl SessionStore for RedisStore {
    fn read(&mut self, id: &str, lock: bool) -> Result<Option<Vec<u8>>, StoreError> {
        if !lock {
            let keys = self.keys_of(id);
            self.arm_check();
            return self.cmd(&[b"GET", keys.data()])?.bulk();
        }
        self.read_locked(id, None)
    }

    fn lock_read_refresh(&mut self, id: &str, ttl_secs: u64) -> Result<(Option<Vec<u8>>, bool), StoreError> {
        // GETEX beside SET NX GET: both need Redis 7 / 6.2, the scripted path does not refresh.
        let refresh = self.locks.plain && self.getex;
        let ttl = Decimal::new(ttl_secs.max(1));
        let data = self.read_locked(id, refresh.then_some(ttl.as_bytes()))?;
        // The plain path may have been switched off by this very call (older server).
        Ok((data, refresh && self.locks.plain))
    }

    fn read_refresh(&mut self, id: &str, ttl_secs: u64) -> Result<(Option<Vec<u8>>, bool), StoreError> {
        if !self.getex {
            return Ok((self.read(id, false)?, false));
        }
        let keys = self.keys_of(id);
        let ttl = Decimal::new(ttl_secs.max(1));
        self.arm_check();
        match self.run(true, |c| c.cmd(&[b"GETEX", keys.data(), b"EX", ttl.as_bytes()]))? {
            Reply::Error(e) if matches!(e.kind, ServerErrorKind::UnknownCommand | ServerErrorKind::Syntax) => {
                self.getex = false;
                Ok((self.read(id, false)?, false))
            }
            other => Ok((other.bulk()?, true)),
        }
    }

    fn write(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        if let Err(e) = crate::store::check_size(data, self.max_size) {
            // Keep the lock released: the request is over either way.
            let _ = self.release(id);
            return Err(e);
        }
        let keys = self.keys_of(id);
        let ttl = Decimal::new(ttl_secs.max(1));
        let set: [&[u8]; 5] = [b"SET", keys.data(), data, b"EX", ttl.as_bytes()];
        let f = Finish {
            unlocked: &set,
            pipelined: &[&set, &[b"DEL", keys.lock()]],
            script: &scripts().write_unlock,
            args: &[data, ttl.as_bytes()],
        };
        match self.finish(id, &keys, f)? {
            Finished::Plain(Reply::Status(_)) | Finished::Script(Reply::Int(1), _) => Ok(()),
            Finished::Script(Reply::Int(-1), held) => {
                // Our lock expired and nobody holds one: write only if nobody wrote since we read.
                let sha = held.read.as_deref().map(|d| sha1_smol::Sha1::from(d).digest().to_string()).unwrap_or_default();
                let args: [&[u8]; 4] = [&held.token, data, ttl.as_bytes(), sha.as_bytes()];
                match self.run_write(|c| scripts().write_if_unchanged.eval(c, &keys.both(), &args))? {
                    Reply::Int(1) => Ok(()),
                    _ => Err(StoreError::LockLost),
                }
            }
            Finished::Script(Reply::Int(_), _) => Err(StoreError::LockLost),
            Finished::Plain(other) | Finished::Script(other, _) => Err(other.unexpected()),
        }
    }

    fn write_keep_lock(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        crate::store::check_size(data, self.max_size)?;
        let Some(held) = self.locks.take_held(id) else {
            return self.write(id, data, ttl_secs);
        };
        let keys = self.keys_of(id);
        let ttl = Decimal::new(ttl_secs.max(1));
        let lock_ms = self.locks.ttl_ms();
        let sure_until = self.locks.sure_until(Instant::now());
        if held.surely_ours() {
            let cmds: [&[&[u8]]; 2] = [&[b"SET", keys.data(), data, b"EX", ttl.as_bytes()], &[b"PEXPIRE", keys.lock(), lock_ms.as_bytes()]];
            let r = self.run_write(|c| c.pipeline(&cmds)).and_then(|r| r.into_iter().map(Reply::ok).collect::<Result<Vec<_>, _>>());
            let read = if r.is_ok() { Some(data.to_vec()) } else { held.read };
            let sure_until = if r.is_ok() { sure_until } else { held.sure_until };
            self.locks.held = Some(HeldLock { id: id.to_string(), token: held.token, read, sure_until });
            return r.map(|_| ());
        }
        let args: [&[u8]; 4] = [&held.token, data, ttl.as_bytes(), lock_ms.as_bytes()];
        match self.run_write(|c| scripts().write_keep_lock.eval(c, &keys.both(), &args)) {
            Ok(Reply::Int(1)) => {
                self.locks.held = Some(HeldLock { id: id.to_string(), token: held.token, read: Some(data.to_vec()), sure_until });
                Ok(())
            }
            // Not our lock any more: the ordinary locked write tells a lost lock from an expired
            // one nobody took (and then writes if nothing changed since our read).
            Ok(_) => {
                self.locks.held = Some(held);
                self.write(id, data, ttl_secs)
            }
            Err(e) => {
                self.locks.held = Some(held);
                Err(e)
            }
        }
    }

    fn touch(&mut self, id: &str, ttl_secs: u64) -> Result<(), StoreError> {
        let keys = self.keys_of(id);
        let ttl = Decimal::new(ttl_secs.max(1));
        let expire: [&[u8]; 3] = [b"EXPIRE", keys.data(), ttl.as_bytes()];
        let f = Finish {
            unlocked: &expire,
            pipelined: &[&expire, &[b"DEL", keys.lock()]],
            script: &scripts().touch_unlock,
            args: &[ttl.as_bytes()],
        };
        self.finish(id, &keys, f).map(drop)
    }

    fn unlock(&mut self, id: &str) -> Result<(), StoreError> {
        self.release(id)
    }

    fn destroy(&mut self, id: &str) -> Result<(), StoreError> {
        let keys = self.keys_of(id);
        let f = Finish {
            unlocked: &[b"DEL", keys.data()],
            pipelined: &[&[b"DEL", keys.data(), keys.lock()]],
            script: &scripts().destroy,
            args: &[],
        };
        self.finish(id, &keys, f).map(drop)
    }

    fn exists(&mut self, id: &str) -> Result<bool, StoreError> {
        let keys = self.keys_of(id);
        self.arm_check();
        match self.cmd(&[b"EXISTS", keys.data()])? {
            Reply::Int(n) => Ok(n > 0),
            other => Err(other.unexpected()),
        }
    }

    fn gc(&mut self, _max_lifetime_secs: u64) -> Result<u64, StoreError> {
        // Redis expires keys itself (EX on every write): nothing is left for gc to delete.
        Ok(0)
    }

    fn held_lock(&self) -> Option<&str> {
        self.locks.held.as_ref().map(|l| l.id.as_str())
    }

    fn stats(&self) -> StoreStats {
        StoreStats { round_trips: self.round_trips(), last_lock_wait: self.locks.last_wait, lock_failures: self.locks.failures }
    }

    fn disconnect(&mut self) {
        // A release still in flight is waited for before the socket closes.
        if let Some(c) = self.conn.as_mut() {
            let _ = c.settle();
        }
        self.note_settled();
        self.drop_conn();
        if let Some(t) = self.topo.as_mut() {
            t.disconnect();
        }
        if let Some(c) = self.cluster.as_mut() {
            c.disconnect();
        }
    }
}

#[cfg(test)]
mod tests;

// Redis Cluster: key slots and the slot map (some helpers only tests use).
#[allow(dead_code)]
mod slots;
// Sentinel discovery (parsers and `discover`), used by `topology`; not every parser is yet.
#[allow(dead_code)]
mod sentinel;
#[cfg(test)]
mod testbed;
