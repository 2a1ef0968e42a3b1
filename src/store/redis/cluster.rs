//! Redis Cluster routing for the store: the slot map (from the seeds, cached for the store's
//! life, i.e. per process), one connection per node, and redirections.
//!
//! Every call of the store is for one session, and a session's keys share a slot (`keys`):
//! the store notes that slot (`route`) and `run_cluster` sends the call to the slot's master.
//! The node's connection is lent to the store as `self.conn` for the call, so the single-node
//! code (unacked releases, out-of-step connections, round-trip counting) works unchanged.
//!
//! A call answered MOVED, ASK, TRYAGAIN or CLUSTERDOWN (by any of its replies: a pipeline is for
//! one slot) is resent as a whole, its first answer thrown away (so a lock `SET NX` answered
//! MOVED is never read as "locked"): MOVED to the new master (the map patched, a full reload
//! due), ASK to the importing node with `ASKING` before each command, TRYAGAIN/CLUSTERDOWN after
//! a short pause. When only some replies were redirected (an ASK while a slot's keys are split
//! between two nodes), the rest already ran on the old node: the call is resent there after a
//! pause instead, until the keys have moved. At most `MAX_REDIRECTS` resends, then an error.
use super::slots::{key_slot, load_slot_map, ConnSlotsProbe, NodeAddr, SlotMap};
use super::{Conn, RedisStore};
use crate::store::error::ServerErrorKind;
use crate::store::StoreError;
use std::time::{Duration, Instant};

/// Resends of one call after redirections or TRYAGAIN/CLUSTERDOWN.
const MAX_REDIRECTS: u32 = 5;
/// The first pause before resending after TRYAGAIN/CLUSTERDOWN or a split slot; doubled each time.
const PAUSE: Duration = Duration::from_millis(20);
/// A full map reload asked for by a MOVED waits at least this long after the previous one (a
/// reshard answers MOVED to many calls in a row).
const RELOAD_EVERY: Duration = Duration::from_millis(100);

pub(super) struct ClusterState {
    seeds: Vec<NodeAddr>,
    map: Option<SlotMap>,
    reload_due: bool,
    loaded_at: Option<Instant>,
    /// The slot of the session the next call is for (`RedisStore::route`).
    slot: u16,
    /// The node whose connection is lent as `RedisStore::conn`.
    current: Option<NodeAddr>,
    /// The other nodes' connections.
    pool: Vec<(NodeAddr, Conn)>,
    /// Round trips of connections dropped from the pool.
    pub past_round_trips: u64,
    /// Map reloads so far (tests).
    pub reloads: u64,
}

impl ClusterState {
    pub fn new(cfg: &crate::config::RedisConfig) -> Option<Box<ClusterState>> {
        let crate::config::RedisTopology::Cluster { seeds } = &cfg.topology else { return None };
        let seeds = seeds.iter().map(|(host, port)| NodeAddr { host: host.clone(), port: *port }).collect();
        Some(Box::new(ClusterState {
            seeds,
            map: None,
            reload_due: false,
            loaded_at: None,
            slot: 0,
            current: None,
            pool: Vec::new(),
            past_round_trips: 0,
            reloads: 0,
        }))
    }

    pub fn round_trips(&self) -> u64 {
        self.past_round_trips + self.pool.iter().map(|(_, c)| c.round_trips).sum::<u64>()
    }

    /// Closes every pooled connection, waiting for releases still in flight on them.
    pub fn disconnect(&mut self) {
        for (_, mut c) in self.pool.drain(..) {
            let _ = c.settle();
            self.past_round_trips += c.round_trips;
        }
        self.current = None;
    }
}

/// A redirection's address as a node: an empty host means the node that answered.
pub(super) fn node_of(addr: &str, asked: &NodeAddr) -> Option<NodeAddr> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse().ok().filter(|p| *p > 0)?;
    let host = match host {
        "" => asked.host.clone(),
        h => h.trim_start_matches('[').trim_end_matches(']').to_string(),
    };
    Some(NodeAddr { host, port })
}

impl RedisStore {
    /// The next call is for the session whose keys these are (cluster only).
    #[inline]
    pub(super) fn route(&mut self, key: &[u8]) {
        if let Some(c) = self.cluster.as_mut() {
            c.slot = key_slot(key);
        }
    }

    /// Loads the slot map from the seeds, and the masters the old map named (a seed may be the
    /// master that just failed).
    fn reload_map(&mut self) -> Result<(), StoreError> {
        let Some(c) = self.cluster.as_mut() else { return Ok(()) };
        let mut nodes = c.seeds.clone();
        if let Some(m) = &c.map {
            for s in m.shards() {
                if !nodes.contains(&s.master) {
                    nodes.push(s.master.clone());
                }
            }
        }
        c.reload_due = false;
        c.loaded_at = Some(Instant::now());
        c.reloads += 1;
        let mut probe = ConnSlotsProbe { cfg: &self.cfg, tls: self.tls.clone(), connect_timeout: self.connect_timeout, timeout: self.timeout };
        let loaded = load_slot_map(&mut probe, &nodes);
        let c = self.cluster.as_mut().ok_or_else(|| StoreError::Connection("not a cluster".into()))?;
        match loaded {
            Ok(l) => {
                c.map = Some(l.map);
                Ok(())
            }
            // An older map is still better than none: MOVED replies correct it.
            Err(_) if c.map.is_some() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Lends the connection to `to` as `self.conn`, opening it if needed; the one lent before
    /// goes back to the pool (its release still in flight, if any, read first).
    fn lend(&mut self, to: &NodeAddr) -> Result<(), StoreError> {
        let Some(c) = self.cluster.as_mut() else { return Err(StoreError::Connection("not a cluster".into())) };
        if c.current.as_ref() == Some(to) && self.conn.is_some() {
            return Ok(());
        }
        if let (Some(old), Some(mut conn)) = (c.current.take(), self.conn.take()) {
            if conn.unacked() > 0 {
                // Its reply has most likely arrived; read it so the release is known done.
                let _ = conn.settle();
                let failed = conn.unacked() > 0 || std::mem::take(&mut conn.unacked_failed);
                self.locks.release_settled(failed);
            }
            c.pool.push((old, conn));
        }
        let conn = match c.pool.iter().position(|(a, _)| a == to) {
            Some(i) => c.pool.swap_remove(i).1,
            None => {
                let cfg = self.cfg.for_node(&to.host, to.port);
                let mut conn = Conn::connect(&cfg, self.tls.as_ref(), self.connect_timeout, self.timeout)?;
                conn.watch_redirect = true;
                conn
            }
        };
        c.current = Some(to.clone());
        self.conn = Some(conn);
        Ok(())
    }

    /// `run` for a cluster (see the module comment). A broken connection is retried as on a
    /// single node (a reused one, never after a timeout), and a node that cannot be reached
    /// (nothing was sent) once, after reloading the map.
    #[inline(never)]
    pub(super) fn run_cluster<T>(&mut self, retry: bool, f: &impl Fn(&mut Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        if let (None, Some(t)) = (&self.tls, &self.cfg.tls) {
            self.tls = Some(super::tls::client_config(t)?);
        }
        let due = self.cluster.as_ref().map(|c| {
            c.map.is_none() || (c.reload_due && c.loaded_at.is_none_or(|t| t.elapsed() >= RELOAD_EVERY))
        });
        if due == Some(true) {
            self.reload_map()?;
        }
        let mut redirects = 0;
        let mut retried = false;
        let mut ask: Option<NodeAddr> = None;
        let mut pause = PAUSE;
        loop {
            let Some(c) = self.cluster.as_mut() else { return Err(StoreError::Connection("not a cluster".into())) };
            let slot = c.slot;
            let asking = ask.is_some();
            let to = match ask.take().or_else(|| c.map.as_ref().and_then(|m| m.master(slot).cloned())) {
                Some(to) => to,
                None => {
                    return Err(StoreError::Connection(format!("no node of the redis cluster serves slot {slot} (the slot map has no master for it)")));
                }
            };
            if let Err(e) = self.lend(&to) {
                if let Some(c) = self.cluster.as_mut() {
                    c.reload_due = true;
                }
                if retried || matches!(e, StoreError::Server(_)) {
                    return Err(e);
                }
                // Nothing was sent: ask the cluster where the slot is now, and try once more.
                retried = true;
                self.reload_map()?;
                continue;
            }
            let Some(conn) = self.conn.as_mut() else { return Err(StoreError::Connection("no connection".into())) };
            let reused = conn.used > 0;
            conn.redirect = None;
            if asking {
                conn.set_asking(true);
            }
            let r = f(conn);
            if asking {
                conn.set_asking(false);
            }
            let redirect = conn.redirect.take();
            let Some((err, all)) = redirect else {
                return match r {
                    Err(StoreError::Connection(m)) => {
                        self.drop_conn();
                        if let Some(c) = self.cluster.as_mut() {
                            c.reload_due = true;
                        }
                        if !(retry && reused) || retried {
                            return Err(StoreError::Connection(m));
                        }
                        retried = true;
                        self.reload_map()?;
                        continue;
                    }
                    Err(StoreError::Timeout(m)) => {
                        self.drop_conn();
                        Err(StoreError::Timeout(m))
                    }
                    other => other,
                };
            };
            // Whatever the call made of the redirected replies is thrown away: it is resent.
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(StoreError::Connection(format!(
                    "redis cluster: slot {slot} still redirected after {MAX_REDIRECTS} resends (last reply: {})",
                    err.message
                )));
            }
            let target = err.redirect.as_ref().and_then(|r| node_of(&r.addr, &to));
            match (err.kind, target) {
                (ServerErrorKind::Moved, Some(t)) if all => {
                    if let Some(c) = self.cluster.as_mut() {
                        if let Some(m) = c.map.as_mut() {
                            m.moved(slot, t);
                        }
                        c.reload_due = true;
                    }
                }
                (ServerErrorKind::Ask, Some(t)) if all => ask = Some(t),
                (kind, _) => {
                    if kind == ServerErrorKind::ClusterDown || kind == ServerErrorKind::Moved {
                        if let Some(c) = self.cluster.as_mut() {
                            c.reload_due = true;
                        }
                    }
                    std::thread::sleep(pause);
                    pause *= 2;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
