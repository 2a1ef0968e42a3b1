//! Redis Sentinel: finding the master of a service.
//!
//! The parsing (`SENTINEL get-master-addr-by-name`, `ROLE`, `+switch-master`) and the discovery
//! algorithm are pure: discovery runs over the `SentinelProbe` trait, so it is tested without a
//! server. `ConnProbe` is the real probe, on our own `Conn`.
//!
//! Discovery, as the Sentinel client guidelines describe it: ask the sentinels in order; skip one
//! that cannot be reached or does not know the service; connect to the address it names and
//! confirm with `ROLE` that the node is a master (a sentinel may lag behind a failover, and the
//! named node may still be a replica, or already demoted). The first confirmed master wins.
use super::{Conn, Reply};
use crate::config::RedisConfig;
use crate::store::error::ServerError;
use crate::store::StoreError;
use std::time::Duration;

/// A `host:port` pair, as in `RedisTopology::Sentinel`.
pub type HostPort = (String, u16);

fn show(a: &HostPort) -> String {
    if a.0.contains(':') {
        format!("[{}]:{}", a.0, a.1)
    } else {
        format!("{}:{}", a.0, a.1)
    }
}

fn malformed(what: &str) -> StoreError {
    StoreError::Connection(format!("malformed {what} reply from redis"))
}

fn text(r: &Reply) -> Option<String> {
    r.as_text()
}

fn port(r: &Reply) -> Option<u16> {
    r.as_int().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0)
}

/// The reply to `SENTINEL get-master-addr-by-name NAME`: `[host, port]`, or nil when this
/// sentinel does not monitor `NAME`.
pub fn parse_master_addr(reply: &Reply) -> Result<Option<HostPort>, StoreError> {
    match reply {
        Reply::Nil => Ok(None),
        Reply::Array(a) if a.is_empty() => Ok(None),
        Reply::Array(a) if a.len() == 2 => {
            let host = text(&a[0]).filter(|h| !h.is_empty()).ok_or_else(|| malformed("SENTINEL get-master-addr-by-name"))?;
            let port = port(&a[1]).ok_or_else(|| malformed("SENTINEL get-master-addr-by-name"))?;
            Ok(Some((host, port)))
        }
        Reply::Error(e) => Err(StoreError::Server((**e).clone())),
        _ => Err(malformed("SENTINEL get-master-addr-by-name")),
    }
}

/// What `ROLE` says a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A master, with its replication offset and the replicas it knows (address, offset).
    Master { offset: i64, replicas: Vec<(HostPort, i64)> },
    /// A replica of `master`; `state` is the link state (`connected`, `connecting`, `sync`, ...).
    Replica { master: HostPort, state: String, offset: i64 },
    /// A sentinel, with the services it monitors.
    Sentinel { services: Vec<String> },
}

impl Role {
    pub fn is_master(&self) -> bool {
        matches!(self, Role::Master { .. })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Master { .. } => f.write_str("master"),
            Role::Replica { master, state, .. } => write!(f, "replica of {} (link {state})", show(master)),
            Role::Sentinel { .. } => f.write_str("sentinel"),
        }
    }
}

/// Parses a `ROLE` reply:
/// `["master", offset, [[host, "port", "offset"], ...]]`,
/// `["slave", host, port, state, offset]`, or `["sentinel", [name, ...]]`.
pub fn parse_role(reply: &Reply) -> Result<Role, StoreError> {
    let items = match reply {
        Reply::Array(a) => a,
        Reply::Error(e) => return Err(StoreError::Server((**e).clone())),
        _ => return Err(malformed("ROLE")),
    };
    let bad = || malformed("ROLE");
    let kind = items.first().and_then(text).ok_or_else(bad)?;
    match kind.as_str() {
        "master" => {
            let offset = items.get(1).and_then(Reply::as_int).ok_or_else(bad)?;
            let mut replicas = Vec::new();
            if let Some(Reply::Array(list)) = items.get(2) {
                for r in list {
                    let Reply::Array(parts) = r else { return Err(bad()) };
                    let host = parts.first().and_then(text).ok_or_else(bad)?;
                    let port = parts.get(1).and_then(port).ok_or_else(bad)?;
                    let off = parts.get(2).and_then(Reply::as_int).unwrap_or(0);
                    replicas.push(((host, port), off));
                }
            }
            Ok(Role::Master { offset, replicas })
        }
        "slave" | "replica" => {
            let host = items.get(1).and_then(text).ok_or_else(bad)?;
            // A replica not yet told its master's port says -1 (or 0) here: keep it as 0.
            let port = items.get(2).and_then(Reply::as_int).and_then(|p| u16::try_from(p).ok()).unwrap_or(0);
            let state = items.get(3).and_then(text).unwrap_or_default();
            let offset = items.get(4).and_then(Reply::as_int).unwrap_or(-1);
            Ok(Role::Replica { master: (host, port), state, offset })
        }
        "sentinel" => {
            let services = match items.get(1) {
                Some(Reply::Array(names)) => names.iter().filter_map(text).collect(),
                _ => Vec::new(),
            };
            Ok(Role::Sentinel { services })
        }
        _ => Err(bad()),
    }
}

/// A `+switch-master` message (on a sentinel's pub/sub channel of that name):
/// `NAME old-host old-port new-host new-port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchMaster {
    pub service: String,
    pub old: HostPort,
    pub new: HostPort,
}

pub fn parse_switch_master(payload: &[u8]) -> Option<SwitchMaster> {
    let s = std::str::from_utf8(payload).ok()?;
    let w: Vec<&str> = s.split(' ').collect();
    if w.len() != 5 {
        return None;
    }
    let p = |x: &str| x.parse::<u16>().ok().filter(|p| *p > 0);
    Some(SwitchMaster {
        service: w[0].to_string(),
        old: (w[1].to_string(), p(w[2])?),
        new: (w[3].to_string(), p(w[4])?),
    })
}

/// The IO discovery needs, so the algorithm is tested without servers.
pub trait SentinelProbe {
    /// Asks one sentinel for the master of `service`: `Ok(None)` when it does not know the
    /// service; `Err` when it cannot be reached or answers an error.
    fn master_addr(&mut self, sentinel: &HostPort, service: &str) -> Result<Option<HostPort>, StoreError>;
    /// Asks a data node for its `ROLE`.
    fn role(&mut self, node: &HostPort) -> Result<Role, StoreError>;
}

/// A master found by `discover`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub master: HostPort,
    /// Which sentinel (index into the list) named it: a driver may ask that one first next time.
    pub sentinel: usize,
}

/// Finds the master of `service`: sentinels in order, each named master confirmed by `ROLE`.
/// When none gives a confirmed master, the error names every sentinel's problem. Its kind: a
/// server error when every failure was a server error of the same kind (all refused our
/// credentials: `Auth`), otherwise `Connection` (an outage as far as the caller can tell).
pub fn discover(probe: &mut dyn SentinelProbe, sentinels: &[HostPort], service: &str) -> Result<Discovered, StoreError> {
    let mut problems = Vec::new();
    let mut kinds = Vec::new();
    for (i, s) in sentinels.iter().enumerate() {
        let master = match probe.master_addr(s, service) {
            Ok(Some(m)) => m,
            Ok(None) => {
                problems.push(format!("sentinel {} does not know {service:?}", show(s)));
                kinds.push(None);
                continue;
            }
            Err(e) => {
                problems.push(format!("sentinel {}: {e}", show(s)));
                kinds.push(e.server_kind());
                continue;
            }
        };
        match probe.role(&master) {
            Ok(r) if r.is_master() => return Ok(Discovered { master, sentinel: i }),
            Ok(r) => {
                problems.push(format!("sentinel {} names {} as master, but it reports role {r}", show(s), show(&master)));
                kinds.push(None);
            }
            Err(e) => {
                problems.push(format!("master {} (named by sentinel {}): {e}", show(&master), show(s)));
                kinds.push(e.server_kind());
            }
        }
    }
    if sentinels.is_empty() {
        problems.push("no sentinel configured".to_string());
    }
    let message = format!("no master found for sentinel service {service:?}: {}", problems.join("; "));
    match kinds.first() {
        Some(Some(k)) if kinds.iter().all(|x| *x == Some(*k)) => Err(StoreError::Server(ServerError::new(*k, message))),
        _ => Err(StoreError::Connection(message)),
    }
}

/// The real probe: one short-lived `Conn` per sentinel question, bounded by the connect timeout
/// and the call timeout. The connection that confirmed a master is kept, for the caller to use
/// (`take_master`), so that discovery costs no extra connection to the master.
pub struct ConnProbe<'a> {
    cfg: &'a RedisConfig,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
    timeout: Duration,
    /// The call timeout for questions to sentinels (`timeout` unless set shorter).
    sentinel_timeout: Duration,
    master: Option<(HostPort, Conn)>,
}

impl<'a> ConnProbe<'a> {
    /// `cfg` is the whole sentinel configuration (`RedisTopology::Sentinel`); `tls` the client
    /// configuration built from `cfg.tls`, when TLS is on.
    pub fn new(
        cfg: &'a RedisConfig,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> ConnProbe<'a> {
        ConnProbe { cfg, tls, connect_timeout, timeout, sentinel_timeout: timeout, master: None }
    }

    /// Bounds each question to a sentinel by `d` instead of the call timeout (the answer is
    /// small and quick; a sentinel that accepts but does not answer should not hold discovery
    /// for a whole call timeout).
    pub fn with_sentinel_timeout(mut self, d: Duration) -> ConnProbe<'a> {
        self.sentinel_timeout = d;
        self
    }

    /// The connection on which the last `role` call saw a master.
    pub fn take_master(&mut self) -> Option<(HostPort, Conn)> {
        self.master.take()
    }
}

impl SentinelProbe for ConnProbe<'_> {
    fn master_addr(&mut self, sentinel: &HostPort, service: &str) -> Result<Option<HostPort>, StoreError> {
        let cfg = self
            .cfg
            .for_sentinel(&sentinel.0, sentinel.1)
            .ok_or_else(|| StoreError::Schema("not a sentinel configuration".into()))?;
        let tls = cfg.tls.as_ref().and(self.tls.as_ref());
        let mut c = Conn::connect(&cfg, tls, self.connect_timeout, self.sentinel_timeout)?;
        parse_master_addr(&c.cmd(&[b"SENTINEL", b"get-master-addr-by-name", service.as_bytes()])?)
    }

    fn role(&mut self, node: &HostPort) -> Result<Role, StoreError> {
        let cfg = self.cfg.for_node(&node.0, node.1);
        let mut c = Conn::connect(&cfg, self.tls.as_ref(), self.connect_timeout, self.timeout)?;
        let role = parse_role(&c.cmd(&[b"ROLE"])?)?;
        if role.is_master() {
            self.master = Some((node.clone(), c));
        }
        Ok(role)
    }
}

#[cfg(test)]
#[path = "sentinel_tests.rs"]
mod tests;
