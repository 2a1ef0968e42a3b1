//! Redis Cluster key routing, pure: the key → slot function (CRC16/XMODEM of the key or of its
//! hash tag, modulo 16384), and the slot map built from a `CLUSTER SLOTS` reply. Redirections
//! are parsed with every error reply (`errors`) and followed by `cluster`.
//!
//! `CLUSTER SLOTS` rather than `CLUSTER SHARDS`: it answers on every Redis since 3.0 (SHARDS
//! needs 7.0, and managed services still run 6.x), and it names exactly what routing needs,
//! each slot range's master and replicas.
use super::Reply;
use crate::store::StoreError;

/// Slots in a Redis Cluster.
pub const SLOTS: usize = 16384;

/// CRC16 as Redis Cluster uses it: CCITT/XMODEM (polynomial 0x1021, initial value 0, no
/// reflection, no final xor). Table-driven: a key is hashed on every routed command.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc = (crc << 8) ^ CRC16_TABLE[((crc >> 8) as u8 ^ b) as usize];
    }
    crc
}

const CRC16_TABLE: [u16; 256] = crc16_table();

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// The part of a key that is hashed: the bytes between the first `{` and the first `}` after
/// it, when there are any; otherwise the whole key (cluster spec, "Hash tags").
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The slot a key lives in.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS as u16 - 1)
}

/// A session's key on a cluster: `prefix{id}`. The braces make `id` the hash tag, so the lock
/// key (this key followed by `:lock`) lands in the same slot and one node serves both: a locked
/// cycle stays one pipeline per step. (The DSN refuses braces in a cluster prefix, and session
/// ids have none.) These keys differ from a single node's `prefix` + `id`.
pub fn tagged_key(prefix: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + id.len() + 2 + 5);
    k.extend_from_slice(prefix.as_bytes());
    k.push(b'{');
    k.extend_from_slice(id.as_bytes());
    k.push(b'}');
    k
}

/// A node's address, as the cluster announces it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One master and the replicas `CLUSTER SLOTS` lists with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub master: NodeAddr,
    /// The master's node id, when the server gave it (Redis 4+).
    pub id: Option<String>,
    pub replicas: Vec<NodeAddr>,
}

/// Unassigned slot.
const NONE: u16 = u16::MAX;

/// More masters than any cluster has (Redis recommends at most 1000 nodes).
pub const MAX_SHARDS: usize = 4096;

/// Slot → master, for all 16384 slots. Built from `CLUSTER SLOTS`, patched by `MOVED`.
#[derive(Clone)]
pub struct SlotMap {
    shards: Vec<Shard>,
    /// Index into `shards` per slot, or `NONE`.
    owner: Box<[u16; SLOTS]>,
}

impl std::fmt::Debug for SlotMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ranges = Vec::new();
        let mut start = 0;
        for s in 1..=SLOTS {
            if s == SLOTS || self.owner[s] != self.owner[start] {
                ranges.push(format!("{}-{}:{}", start, s - 1, self.owner_name(start)));
                start = s;
            }
        }
        f.debug_struct("SlotMap").field("ranges", &ranges).finish()
    }
}

fn malformed(what: &str) -> StoreError {
    StoreError::Connection(format!("malformed CLUSTER SLOTS reply from redis ({what})"))
}

fn text(r: &Reply) -> Option<String> {
    r.as_text()
}

/// `[host, port, id?, metadata?]`. An empty host means "the address you asked"; `?` means the
/// node's address is unknown (then `None`: nothing can be sent there).
fn node(r: &Reply, asked_host: &str) -> Result<Option<(NodeAddr, Option<String>)>, StoreError> {
    let Reply::Array(parts) = r else { return Err(malformed("node is not an array")) };
    let host = parts.first().and_then(text).ok_or_else(|| malformed("node host"))?;
    let port = parts.get(1).and_then(Reply::as_int).ok_or_else(|| malformed("node port"))?;
    let id = parts.get(2).and_then(text);
    if host == "?" {
        return Ok(None);
    }
    let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| malformed("node port out of range"))?;
    let host = if host.is_empty() { asked_host.to_string() } else { host };
    Ok(Some((NodeAddr { host, port }, id)))
}

impl SlotMap {
    /// An empty map: every slot unassigned.
    pub fn empty() -> SlotMap {
        SlotMap { shards: Vec::new(), owner: Box::new([NONE; SLOTS]) }
    }

    /// Builds the map from a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...],
    /// [replica host, port, id, ...]...]...]`. `asked_host` is the host the command was sent to
    /// (an empty host in the reply means that one). An error reply comes back as its kind.
    pub fn from_cluster_slots(reply: &Reply, asked_host: &str) -> Result<SlotMap, StoreError> {
        let ranges = match reply {
            Reply::Array(a) => a,
            Reply::Error(e) => return Err(StoreError::Server((**e).clone())),
            _ => return Err(malformed("not an array")),
        };
        let mut map = SlotMap::empty();
        for range in ranges {
            let Reply::Array(items) = range else { return Err(malformed("range is not an array")) };
            let (start, end) = match (items.first().and_then(Reply::as_int), items.get(1).and_then(Reply::as_int)) {
                (Some(s), Some(e)) if 0 <= s && s <= e && (e as usize) < SLOTS => (s as usize, e as usize),
                _ => return Err(malformed("slot range")),
            };
            let Some(master) = items.get(2) else { return Err(malformed("range without a master")) };
            let Some((master, id)) = node(master, asked_host)? else { continue };
            let mut replicas = Vec::new();
            for r in &items[3..] {
                if let Some((addr, _)) = node(r, asked_host)? {
                    replicas.push(addr);
                }
            }
            let idx = map.shard_index(master, id);
            for r in replicas {
                if !map.shards[idx].replicas.contains(&r) {
                    map.shards[idx].replicas.push(r);
                }
            }
            map.owner[start..=end].fill(idx as u16);
        }
        Ok(map)
    }

    /// The index of the shard whose master is `addr`, added if new.
    fn shard_index(&mut self, master: NodeAddr, id: Option<String>) -> usize {
        if let Some(i) = self.shards.iter().position(|s| s.master == master) {
            if self.shards[i].id.is_none() {
                self.shards[i].id = id;
            }
            return i;
        }
        self.shards.push(Shard { master, id, replicas: Vec::new() });
        self.shards.len() - 1
    }

    /// The master serving `slot`, if the map knows one.
    pub fn master(&self, slot: u16) -> Option<&NodeAddr> {
        let i = *self.owner.get(slot as usize)?;
        (i != NONE).then(|| &self.shards[i as usize].master)
    }

    /// The master serving `key`'s slot.
    pub fn master_for_key(&self, key: &[u8]) -> Option<&NodeAddr> {
        self.master(key_slot(key))
    }

    /// The shard serving `slot`, with its replicas.
    pub fn shard(&self, slot: u16) -> Option<&Shard> {
        let i = *self.owner.get(slot as usize)?;
        (i != NONE).then(|| &self.shards[i as usize])
    }

    /// Every master the map names (some may own no slot any more after `moved`).
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// How many slots have a known master (16384 on a healthy cluster).
    pub fn covered(&self) -> usize {
        self.owner.iter().filter(|&&i| i != NONE).count()
    }

    /// Records a `MOVED slot host:port`: that one slot is served there now. The driver should
    /// also refresh the whole map soon (a reshard or failover moves many slots at once).
    /// Returns false (and changes nothing) for a slot out of range, or a new address once the
    /// map already names `MAX_SHARDS` masters: a server answering MOVED to ever new addresses
    /// must not grow the map for ever; the refresh rebuilds it anyway.
    pub fn moved(&mut self, slot: u16, to: NodeAddr) -> bool {
        if slot as usize >= SLOTS {
            return false;
        }
        if self.shards.len() >= MAX_SHARDS && !self.shards.iter().any(|s| s.master == to) {
            return false;
        }
        let i = self.shard_index(to, None);
        self.owner[slot as usize] = i as u16;
        true
    }

    fn owner_name(&self, slot: usize) -> String {
        match self.owner[slot] {
            NONE => "-".to_string(),
            i => self.shards[i as usize].master.to_string(),
        }
    }
}

/// The IO `load_slot_map` needs, so seed handling is tested without servers.
pub trait SlotsProbe {
    /// Sends `CLUSTER SLOTS` to one node and returns its reply.
    fn cluster_slots(&mut self, node: &NodeAddr) -> Result<Reply, StoreError>;
}

/// A slot map and where it came from.
#[derive(Debug)]
pub struct Loaded {
    pub map: SlotMap,
    /// Index of the seed that answered.
    pub seed: usize,
}

/// Loads the slot map from the first seed that gives a full one (all 16384 slots), skipping
/// seeds that cannot be reached or answer an error. A partial map (a cluster mid-failover or
/// mid-setup) is kept only in case no seed gives a full one; the fullest wins. When no seed
/// answers at all, the error names each seed's problem, with the common server error kind when
/// they all share one (wrong password everywhere: `Auth`), else as `Connection`.
pub fn load_slot_map(probe: &mut dyn SlotsProbe, seeds: &[NodeAddr]) -> Result<Loaded, StoreError> {
    let mut best: Option<Loaded> = None;
    let mut problems = Vec::new();
    let mut kinds = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        let map = probe.cluster_slots(seed).and_then(|r| SlotMap::from_cluster_slots(&r, &seed.host));
        match map {
            Ok(map) if map.covered() == SLOTS => return Ok(Loaded { map, seed: i }),
            Ok(map) => {
                problems.push(format!("{seed} knows {} of {SLOTS} slots", map.covered()));
                kinds.push(None);
                if best.as_ref().is_none_or(|b| b.map.covered() < map.covered()) {
                    best = Some(Loaded { map, seed: i });
                }
            }
            Err(e) => {
                problems.push(format!("{seed}: {e}"));
                kinds.push(e.server_kind());
            }
        }
    }
    if let Some(b) = best.filter(|b| b.map.covered() > 0) {
        return Ok(b);
    }
    if seeds.is_empty() {
        problems.push("no seed configured".to_string());
    }
    let message = format!("no cluster slot map from the seeds: {}", problems.join("; "));
    match kinds.first() {
        Some(Some(k)) if kinds.iter().all(|x| *x == Some(*k)) => {
            Err(StoreError::Server(crate::store::error::ServerError::new(*k, message)))
        }
        _ => Err(StoreError::Connection(message)),
    }
}

/// The real probe: a short-lived `Conn` per seed asked, with the data nodes' credentials and
/// TLS, bounded by the connect timeout and the call timeout.
pub struct ConnSlotsProbe<'a> {
    pub cfg: &'a crate::config::RedisConfig,
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    pub connect_timeout: std::time::Duration,
    pub timeout: std::time::Duration,
}

impl SlotsProbe for ConnSlotsProbe<'_> {
    fn cluster_slots(&mut self, node: &NodeAddr) -> Result<Reply, StoreError> {
        let cfg = self.cfg.for_node(&node.host, node.port);
        let mut c = super::Conn::connect(&cfg, self.tls.as_ref(), self.connect_timeout, self.timeout)?;
        c.cmd(&[b"CLUSTER", b"SLOTS"])
    }
}

#[cfg(test)]
#[path = "slots_tests.rs"]
mod tests;
