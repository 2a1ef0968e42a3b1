//! Redis Sentinel in the store: where the master is, and noticing that it moved.
//!
//! Where: a per-process cache of the master's address per (sentinel list, service), shared by
//! every store of the process (an address, not a connection: the connection stays the store's,
//! and the store is rebuilt in a forked child); when nothing is cached, or the cached node
//! cannot be reached, `sentinel::discover` asks the sentinels in order (each question bounded by
//! the connect timeout) and the connection on which `ROLE` confirmed the master becomes the
//! store's.
//!
//! Moved: after a failover the old master keeps answering as a master for seconds, until the
//! sentinels reconfigure it (about 11 s measured here), so neither its replies nor its `ROLE`
//! show the switch. A sentinel knows as soon as the promotion is done. So at most once per
//! `sentinel_check_interval`, a call also sends `SENTINEL get-master-addr-by-name` on a kept
//! connection to one sentinel, *before* running its own pipeline on the master, and reads the
//! answer after it: both travel at the same time, no extra round trip is waited for. When the
//! sentinel names another node (or the node answered `READONLY`, or the connection broke):
//! the cached address is forgotten, the connection dropped, the master discovered again, and
//!
//! - a request's first call (reads and the lock: "armed", safe to run again) runs again there;
//! - any other call (a write under a lock taken on the old master) fails: its effect would be
//!   lost with the old master, and redoing it on the new one without that lock could lose an
//!   update.
use super::sentinel::{discover, parse_master_addr, ConnProbe, HostPort};
use super::{tls, Conn, RedisStore};
use crate::config::{RedisConfig, RedisTopology};
use crate::store::StoreError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The masters found by this process's stores: (cache key, address).
static MASTERS: Mutex<Vec<(String, HostPort)>> = Mutex::new(Vec::new());

fn masters() -> std::sync::MutexGuard<'static, Vec<(String, HostPort)>> {
    // A panic elsewhere while holding it leaves a list of addresses still good to read.
    MASTERS.lock().unwrap_or_else(|e| e.into_inner())
}

fn cached(key: &str) -> Option<HostPort> {
    masters().iter().find(|(k, _)| k == key).map(|(_, a)| a.clone())
}

fn remember(key: &str, addr: &HostPort) {
    let mut m = masters();
    match m.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = addr.clone(),
        None => m.push((key.to_string(), addr.clone())),
    }
}

/// Forgets `addr` as the master of `key`, unless another store already found a newer one.
fn forget(key: &str, addr: &HostPort) {
    masters().retain(|(k, a)| !(k == key && a == addr));
}

/// Forgets every cached master (tests: to make a store discover).
#[cfg(test)]
pub(super) fn clear_cache() {
    masters().clear();
}

fn show(a: &HostPort) -> String {
    if a.0.contains(':') {
        format!("[{}]:{}", a.0, a.1)
    } else {
        format!("{}:{}", a.0, a.1)
    }
}

pub(super) struct SentinelState {
    key: String,
    sentinels: Vec<HostPort>,
    service: String,
    interval: Duration,
    /// The master this store's connection goes to (set when it connects).
    current: Option<HostPort>,
    last_check: Option<Instant>,
    /// Ask at the next call whatever the interval says (a write the replicas did not confirm).
    force: bool,
    /// The next call is a request's first (a read, or taking the lock): it may run again.
    armed: bool,
    /// The kept connection to a sentinel for the checks, and which sentinel to use.
    link: Option<Conn>,
    next_sentinel: usize,
    /// Checks made and master switches seen; read by tests.
    pub checks: u64,
    pub switches: u64,
}

impl SentinelState {
    /// `None` unless `cfg` is a Sentinel topology.
    pub fn new(cfg: &RedisConfig) -> Option<SentinelState> {
        let RedisTopology::Sentinel { sentinels, service, check_interval, .. } = &cfg.topology else {
            return None;
        };
        Some(SentinelState {
            key: format!("{service}\u{0}{sentinels:?}"),
            sentinels: sentinels.clone(),
            service: service.clone(),
            interval: *check_interval,
            current: None,
            last_check: None,
            force: false,
            armed: false,
            link: None,
            next_sentinel: 0,
            checks: 0,
            switches: 0,
        })
    }

    /// Whether this call asks a sentinel (and if so, the interval starts again).
    fn due(&mut self, now: Instant) -> bool {
        let due = self.force || self.last_check.is_none_or(|t| now.duration_since(t) >= self.interval);
        if due {
            self.force = false;
            self.last_check = Some(now);
        }
        due
    }

    /// Sends the question to a sentinel without waiting for the answer; false when no sentinel
    /// could be asked (the call goes on unchecked, the next sentinel is tried next time).
    fn ask(&mut self, cfg: &RedisConfig, tls: Option<&std::sync::Arc<rustls::ClientConfig>>, connect_timeout: Duration) -> bool {
        if self.link.is_none() {
            let Some((host, port)) = self.sentinels.get(self.next_sentinel % self.sentinels.len().max(1)) else { return false };
            let Some(scfg) = cfg.for_sentinel(host, *port) else { return false };
            // Bounded by the connect timeout, also for the answer: a sentinel is quick or useless.
            match Conn::connect(&scfg, scfg.tls.as_ref().and(tls), connect_timeout, connect_timeout) {
                Ok(c) => self.link = Some(c),
                Err(_) => {
                    self.next_sentinel = self.next_sentinel.wrapping_add(1);
                    return false;
                }
            }
        }
        let Some(link) = self.link.as_mut() else { return false };
        link.encode(&[b"SENTINEL", b"get-master-addr-by-name", self.service.as_bytes()]);
        // Sent now, its answer read by `answer` (with that of any AUTH queued at connect).
        if link.send_unacked(0).is_err() {
            self.drop_link();
            return false;
        }
        self.checks += 1;
        true
    }

    /// The answer to `ask`: the master the sentinel names, if it names one.
    fn answer(&mut self) -> Option<HostPort> {
        let link = self.link.as_mut()?;
        let named = match link.flush_and_read(1) {
            Ok(mut r) => r.pop().and_then(|r| parse_master_addr(&r).ok().flatten()),
            Err(_) => None,
        };
        if named.is_none() {
            // Broken, refusing, or not knowing the service: use the next sentinel next time.
            self.drop_link();
        }
        named
    }

    fn drop_link(&mut self) {
        self.link = None;
        self.next_sentinel = self.next_sentinel.wrapping_add(1);
    }

    /// Closes the sentinel connection (the store's `disconnect`).
    pub fn disconnect(&mut self) {
        self.link = None;
    }
}

impl RedisStore {
    /// The next call starts a request (a read, or taking the lock): it may be run again on a
    /// new master. Nothing for a single node.
    pub(super) fn arm_check(&mut self) {
        if let Some(t) = self.topo.as_mut() {
            t.armed = true;
        }
    }

    /// After a write the replicas did not confirm: the master may be cut off or demoted, so the
    /// next call asks a sentinel.
    pub(super) fn check_soon(&mut self) {
        if let Some(t) = self.topo.as_mut() {
            t.force = true;
        }
    }

    fn build_tls(&mut self) -> Result<(), StoreError> {
        if let (None, Some(t)) = (&self.tls, &self.cfg.tls) {
            self.tls = Some(tls::client_config(t)?);
        }
        Ok(())
    }

    /// A connection to the master: the cached address, else discovery (whose confirming
    /// connection is kept). Bounded by one connect timeout for the cached node, then per
    /// sentinel by the connect timeout (twice: the question, and ROLE on the node it names).
    // Out of line: keeps the single node's `run`/`connection` small enough to inline.
    #[inline(never)]
    pub(super) fn connect_master(&mut self) -> Result<Conn, StoreError> {
        self.build_tls()?;
        let Some(t) = self.topo.as_mut() else {
            return Err(StoreError::Schema("not a sentinel configuration".into()));
        };
        if let Some(addr) = cached(&t.key) {
            let node = self.cfg.for_node(&addr.0, addr.1);
            match Conn::connect(&node, self.tls.as_ref(), self.connect_timeout, self.timeout) {
                Ok(mut c) => {
                    c.watch_read_only = true;
                    t.current = Some(addr);
                    return Ok(c);
                }
                Err(_) => forget(&t.key, &addr),
            }
        }
        let mut probe = ConnProbe::new(&self.cfg, self.tls.clone(), self.connect_timeout, self.timeout)
            .with_sentinel_timeout(self.connect_timeout.min(self.timeout));
        let found = discover(&mut probe, &t.sentinels, &t.service)?;
        let (addr, mut conn) = probe
            .take_master()
            .ok_or_else(|| StoreError::Connection(format!("master {} confirmed but not kept", show(&found.master))))?;
        conn.watch_read_only = true;
        remember(&t.key, &addr);
        t.current = Some(addr);
        // The sentinel that knew is the one to ask in the checks.
        if t.link.is_none() {
            t.next_sentinel = found.sentinel;
        }
        Ok(conn)
    }

    /// Drops the connection and forgets its node as the master.
    fn forget_master(&mut self) {
        self.drop_conn();
        if let Some(t) = self.topo.as_mut() {
            if let Some(addr) = t.current.take() {
                forget(&t.key, &addr);
            }
        }
    }

    /// `run` for a Sentinel topology (see the module comment). The retry policy for a broken
    /// connection is the single node's (a reused connection, never after a timeout), with one
    /// more condition: a call that is not a request's first is retried only on the same master.
    // Out of line: keeps the single node's `run`/`connection` small enough to inline.
    #[inline(never)]
    pub(super) fn run_sentinel<T>(&mut self, retry: bool, f: &impl Fn(&mut Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.build_tls()?;
        let Some(t) = self.topo.as_mut() else { return Err(StoreError::Schema("not a sentinel configuration".into())) };
        let armed = std::mem::take(&mut t.armed);
        let asked = t.due(Instant::now()) && t.ask(&self.cfg, self.tls.as_ref(), self.connect_timeout);
        let reused = self.conn.as_ref().is_some_and(|c| c.used > 0);
        let first = self.connection().and_then(f);
        let read_only = self.conn.as_mut().is_some_and(|c| std::mem::take(&mut c.read_only));
        let Some(t) = self.topo.as_mut() else { return first };
        let named = if asked { t.answer() } else { None };
        let old = t.current.clone();
        let moved = named.is_some() && named != old;
        let broken = matches!(first, Err(StoreError::Connection(_) | StoreError::Timeout(_)));
        if !(broken || read_only || moved) {
            return first;
        }
        if moved {
            t.switches += 1;
        }
        self.forget_master();
        let timed_out = matches!(first, Err(StoreError::Timeout(_)));
        let again_allowed = retry && !timed_out && if broken { reused } else { armed };
        if !again_allowed {
            return match (first, moved) {
                (Ok(_), true) => Err(StoreError::Connection(format!(
                    "the master moved (failover) from {} to {}: this call ran on the old master and is not kept",
                    old.as_ref().map(show).unwrap_or_default(),
                    named.as_ref().map(show).unwrap_or_default()
                ))),
                (first, _) => first,
            };
        }
        self.connection()?;
        let new = self.topo.as_ref().and_then(|t| t.current.clone());
        if !armed && new != old {
            // A write under a lock taken on the old master: not redone without that lock.
            return first;
        }
        let again = self.connection().and_then(f);
        if let Some(c) = self.conn.as_mut() {
            c.read_only = false;
        }
        if matches!(again, Err(StoreError::Connection(_) | StoreError::Timeout(_))) {
            self.forget_master();
        }
        again
    }
}

#[cfg(test)]
#[path = "topology_tests.rs"]
mod tests;
