//! Test bed: real Redis topologies on loopback, for tests (`#[cfg(test)]` only).
//!
//! `Cluster::start` runs a Redis Cluster (masters, each with replicas); `SentinelBed::start` a
//! master, a replica and three sentinels. Every server binds 127.0.0.1 only, on ports found free
//! (bind port 0, release), runs from a private temporary directory, and is stopped by its own
//! PID when the bed is dropped (SIGTERM, then SIGKILL after a bound); then the directory goes.
//! Nothing else is ever signalled, and the machine's own Redis on 6379 is never touched.
//!
//! Every wait is bounded and a failure says what was awaited, with the tail of the server logs.
// Helpers for the driver's topology tests to come, not all used yet.
#![allow(dead_code)]
use super::{Conn, Reply};
use crate::config::{RedisAddr, RedisConfig, RedisTopology, DEFAULT_WAIT_TIMEOUT};
use crate::store::StoreError;
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The service name the sentinels monitor.
pub const SERVICE: &str = "mymaster";

/// Whether the servers this bed runs are installed; tests skip (loudly) when not.
pub fn available() -> bool {
    let ok = crate::testutil::have("redis-server") && crate::testutil::have("redis-cli");
    if !ok {
        eprintln!("redis-server/redis-cli not installed (scripts/deps.sh installs them): topology test skipped");
    }
    ok
}

/// A plain single-node configuration for `127.0.0.1:port`.
pub fn node_config(port: u16) -> RedisConfig {
    auth_config(port, None)
}

/// The same, with a password (`requirepass`).
pub fn auth_config(port: u16, password: Option<&str>) -> RedisConfig {
    RedisConfig {
        addr: RedisAddr::Tcp { host: "127.0.0.1".into(), port },
        db: 0,
        username: None,
        password: password.map(crate::config::Secret::new),
        tls: None,
        topology: RedisTopology::Single,
        wait: 0,
        wait_timeout: DEFAULT_WAIT_TIMEOUT,
    }
}

/// A connection to `127.0.0.1:port` (connect 1 s, calls 3 s).
pub fn conn(port: u16) -> Result<Conn, StoreError> {
    conn_auth(port, None)
}

pub fn conn_auth(port: u16, password: Option<&str>) -> Result<Conn, StoreError> {
    Conn::connect(&auth_config(port, password), None, Duration::from_secs(1), Duration::from_secs(3))
}

/// One command on a fresh connection.
pub fn cmd(port: u16, args: &[&str]) -> Result<Reply, StoreError> {
    cmd_auth(port, None, args)
}

pub fn cmd_auth(port: u16, password: Option<&str>, args: &[&str]) -> Result<Reply, StoreError> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    conn_auth(port, password)?.cmd(&args)
}

/// A reply as text (status or bulk), for INFO-style answers.
pub fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Status(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Error(e) => format!("-{}", e.message),
        other => format!("{other:?}"),
    }
}

/// The value of `field:` in an INFO-style text.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

/// A flat `[key, value, key, value...]` reply (SENTINEL MASTER) as pairs.
pub fn pairs(r: &Reply) -> Vec<(String, String)> {
    match r {
        Reply::Array(a) => a.chunks(2).filter(|c| c.len() == 2).map(|c| (text(&c[0]), text(&c[1]))).collect(),
        _ => Vec::new(),
    }
}

/// Polls `f` every 50 ms until it gives a value; panics naming `what` after `bound`.
pub fn wait_for<T>(what: &str, bound: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > bound {
            panic!("topology test bed: {what}: not reached within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` distinct free loopback ports.
fn free_ports(n: usize, taken: &HashSet<u16>) -> Vec<u16> {
    let mut out = Vec::new();
    while out.len() < n {
        let p = crate::testutil::free_port();
        if !taken.contains(&p) && !out.contains(&p) && p != 6379 {
            out.push(p);
        }
    }
    out
}

struct Proc {
    port: u16,
    name: String,
    child: Option<Child>,
    /// Its `requirepass`, if any.
    password: Option<String>,
}

/// The processes of one bed and their directory.
pub struct Bed {
    dir: PathBuf,
    procs: Vec<Proc>,
    used_ports: HashSet<u16>,
}

impl Bed {
    fn new(tag: &str) -> Bed {
        Bed { dir: crate::testutil::temp_dir(tag), procs: Vec::new(), used_ports: HashSet::new() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts a server on fresh free ports: `make(dir, ports)` writes any file it needs and
    /// gives redis-server's arguments. `n_ports` ports are allocated (the first is the one
    /// clients use). A server that exits before answering PING (a port taken meanwhile by
    /// someone else) is retried on new ports, three times at most. Returns the ports.
    fn spawn(
        &mut self,
        name: &str,
        n_ports: usize,
        password: Option<&str>,
        make: impl Fn(&Path, &[u16]) -> Vec<String>,
    ) -> Vec<u16> {
        let mut last = String::new();
        for _attempt in 0..3 {
            let ports = free_ports(n_ports, &self.used_ports);
            self.used_ports.extend(&ports);
            let args = make(&self.dir, &ports);
            let log = self.dir.join(format!("{name}-{}.log", ports[0]));
            let mut command = Command::new("redis-server");
            command
                .args(&args)
                .args(["--logfile", &log.display().to_string()])
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            die_with_parent(&mut command);
            let mut child = command.spawn().expect("topology test bed: cannot run redis-server");
            let start = Instant::now();
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last = format!("{name} on {} exited at start ({status}): {}", ports[0], tail(&log));
                    break;
                }
                if matches!(cmd_auth(ports[0], password, &["PING"]), Ok(Reply::Status(s)) if s == b"PONG") {
                    let password = password.map(str::to_string);
                    self.procs.push(Proc { port: ports[0], name: name.to_string(), child: Some(child), password });
                    return ports;
                }
                if start.elapsed() > Duration::from_secs(10) {
                    signal(&mut child, libc::SIGKILL);
                    last = format!("{name} on {} did not answer PING within 10 s: {}", ports[0], tail(&log));
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("topology test bed: {last}");
    }

    /// One command to the server on `port`, with its password.
    pub fn cmd(&self, port: u16, args: &[&str]) -> Result<Reply, StoreError> {
        let pw = self.procs.iter().find(|p| p.port == port).and_then(|p| p.password.as_deref());
        cmd_auth(port, pw, args)
    }

    /// The PID of the server on `port`, while it runs.
    pub fn pid(&self, port: u16) -> Option<u32> {
        self.procs.iter().find(|p| p.port == port)?.child.as_ref().map(|c| c.id())
    }

    /// SIGKILLs the server on `port` (ours only) and reaps it.
    pub fn kill9(&mut self, port: u16) {
        let p = self.procs.iter_mut().find(|p| p.port == port).expect("kill9: not a port of this bed");
        if let Some(mut c) = p.child.take() {
            signal(&mut c, libc::SIGKILL);
        }
    }

    /// The last lines of every log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for p in &self.procs {
            let log = self.dir.join(format!("{}-{}.log", p.name, p.port));
            out.push_str(&format!("\n--- {} {} ---\n{}", p.name, p.port, tail(&log)));
        }
        out
    }
}

/// A test process killed outright (SIGKILL, a CI timeout) cannot run `Drop`: have the kernel
/// kill its servers then. Linux sends the signal when the spawning *thread* ends: a bed must be
/// started on a thread that outlives its use (a test's own thread; not a worker shared by tests).
fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
}

/// Sends `sig` to our child and, for SIGKILL, reaps it.
fn signal(child: &mut Child, sig: i32) {
    if let Ok(None) = child.try_wait() {
        // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    }
    if sig == libc::SIGKILL {
        let _ = child.wait();
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        // SIGTERM to all at once, then up to 5 s for them to exit, then SIGKILL.
        for p in &mut self.procs {
            if let Some(c) = p.child.as_mut() {
                signal(c, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for p in &mut self.procs {
            if let Some(mut c) = p.child.take() {
                while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                signal(&mut c, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tail(log: &Path) -> String {
    let s = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

/// Runs a redis-cli command, bounded; panics with its output when it fails.
fn redis_cli(args: &[String], bound: Duration) -> String {
    let mut child = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("topology test bed: cannot run redis-cli");
    // Read its output while it runs: a long reshard prints more than a pipe holds, and would
    // block on a full pipe until killed.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            s
        })
    };
    let out_t = drain(child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>));
    let err_t = drain(child.stderr.take().map(|o| Box::new(o) as Box<dyn Read + Send>));
    let start = Instant::now();
    while matches!(child.try_wait(), Ok(None)) {
        if start.elapsed() > bound {
            signal(&mut child, libc::SIGKILL);
            panic!("topology test bed: redis-cli {} did not finish within {bound:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().expect("redis-cli status");
    let (out, err) = (out_t.join().unwrap_or_default(), err_t.join().unwrap_or_default());
    let all = format!("{}{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err));
    assert!(status.success(), "topology test bed: redis-cli {} failed: {all}", args.join(" "));
    all
}

/// A Redis Cluster on loopback.
pub struct Cluster {
    pub bed: Bed,
    /// Every node's client port (masters and replicas, as created).
    pub nodes: Vec<u16>,
    /// How long `start` took, from the first spawn to a consistent cluster.
    pub started_in: Duration,
}

impl Cluster {
    /// `masters` masters with `replicas` replicas each, `cluster-node-timeout` `node_timeout_ms`;
    /// returns once every node says `cluster_state:ok`, every replica's link is up and
    /// `redis-cli --cluster check` finds all nodes agreeing on the slots.
    pub fn start(masters: usize, replicas: usize, node_timeout_ms: u64) -> Cluster {
        let t0 = Instant::now();
        let mut bed = Bed::new("cluster");
        let mut nodes = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            let timeout = node_timeout_ms.to_string();
            let ports = bed.spawn("node", 2, None, |dir, p| {
                let mut a = data_node_args(dir, p[0]);
                a.extend([
                    "--cluster-enabled".into(),
                    "yes".into(),
                    "--cluster-config-file".into(),
                    format!("nodes-{}.conf", p[0]),
                    "--cluster-node-timeout".into(),
                    timeout.clone(),
                    // The bus port given explicitly: by default it is port + 10000.
                    "--cluster-port".into(),
                    p[1].to_string(),
                    // Replicas' offsets move (and CLUSTER SLOTS lists them) within a second on
                    // an idle cluster, not ten.
                    "--repl-ping-replica-period".into(),
                    "1".into(),
                ]);
                a
            });
            nodes.push(ports[0]);
        }
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|p| format!("127.0.0.1:{p}")));
        args.extend(["--cluster-replicas".into(), replicas.to_string(), "--cluster-yes".into()]);
        redis_cli(&args, Duration::from_secs(60));
        let c = Cluster { bed, nodes, started_in: Duration::ZERO };
        c.wait_healthy(Duration::from_secs(40));
        // Redis 7 leaves a replica out of CLUSTER SLOTS while its replication offset is 0.
        let seed = c.nodes[0];
        wait_for(&format!("CLUSTER SLOTS to list {replicas} replica(s) per master"), Duration::from_secs(30), || {
            let r = c.bed.cmd(seed, &["CLUSTER", "SLOTS"]).ok()?;
            let map = super::slots::SlotMap::from_cluster_slots(&r, "127.0.0.1").ok()?;
            (map.shards().len() == masters && map.shards().iter().all(|s| s.replicas.len() == replicas)).then_some(())
        });
        Cluster { started_in: t0.elapsed(), ..c }
    }

    /// Waits until every running node says `cluster_state:ok`, every running replica's link is
    /// up, and all agree on the slots.
    pub fn wait_healthy(&self, bound: Duration) {
        let live: Vec<u16> = self.nodes.iter().copied().filter(|p| self.bed.pid(*p).is_some()).collect();
        let logs = || self.bed.logs();
        let start = Instant::now();
        let within = |what: &str| {
            if start.elapsed() > bound {
                panic!("topology test bed: cluster not healthy within {bound:?}: {what}{}", logs());
            }
        };
        for &p in &live {
            loop {
                let ok = self.bed.cmd(p, &["CLUSTER", "INFO"]).map(|r| info_field(&text(&r), "cluster_state").as_deref() == Some("ok"));
                if ok.unwrap_or(false) {
                    break;
                }
                within(&format!("node {p} cluster_state not ok"));
                std::thread::sleep(Duration::from_millis(50));
            }
            loop {
                let info = self.bed.cmd(p, &["INFO", "replication"]).map(|r| text(&r)).unwrap_or_default();
                let role = info_field(&info, "role");
                if role.as_deref() == Some("master") || info_field(&info, "master_link_status").as_deref() == Some("up") {
                    break;
                }
                within(&format!("replica {p} link not up"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let seed = live[0];
        loop {
            // `--cluster check` exits non-zero while nodes disagree; it is not run through
            // `redis_cli` because a failure here is awaited, not fatal.
            let out = Command::new("redis-cli")
                .args(["--cluster", "check", &format!("127.0.0.1:{seed}")])
                .stdin(Stdio::null())
                .output();
            if let Ok(o) = out {
                let s = String::from_utf8_lossy(&o.stdout);
                if o.status.success() && s.contains("All nodes agree about slots configuration") && s.contains("All 16384 slots covered") {
                    return;
                }
            }
            within("redis-cli --cluster check does not pass");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A `redis+cluster://` DSN listing every node as a seed.
    pub fn dsn(&self) -> String {
        let hosts: Vec<String> = self.nodes.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The node id of the node on `port` (`CLUSTER MYID`).
    pub fn node_id(&self, port: u16) -> String {
        text(&self.bed.cmd(port, &["CLUSTER", "MYID"]).expect("CLUSTER MYID"))
    }

    /// The ports of the nodes that say they are masters right now.
    pub fn masters(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .copied()
            .filter(|p| {
                self.bed.cmd(*p, &["INFO", "replication"]).is_ok_and(|r| info_field(&text(&r), "role").as_deref() == Some("master"))
            })
            .collect()
    }

    /// The ports of the running replicas of the master on `master` (by their own INFO; CLUSTER
    /// SLOTS may leave a replica out for a moment).
    pub fn replicas_of(&self, master: u16) -> Vec<u16> {
        self.nodes
            .iter()
            .copied()
            .filter(|p| {
                self.bed.cmd(*p, &["INFO", "replication"]).is_ok_and(|r| {
                    let info = text(&r);
                    info_field(&info, "role").as_deref() == Some("slave")
                        && info_field(&info, "master_port").as_deref() == Some(&master.to_string())
                })
            })
            .collect()
    }

    /// Moves `slots` slots from the master on `from` to the master on `to`, live
    /// (`redis-cli --cluster reshard`); returns how long it took.
    pub fn reshard(&self, from: u16, to: u16, slots: usize) -> Duration {
        let t0 = Instant::now();
        let args: Vec<String> = vec![
            "--cluster".into(),
            "reshard".into(),
            format!("127.0.0.1:{from}"),
            "--cluster-from".into(),
            self.node_id(from),
            "--cluster-to".into(),
            self.node_id(to),
            "--cluster-slots".into(),
            slots.to_string(),
            "--cluster-yes".into(),
        ];
        redis_cli(&args, Duration::from_secs(120));
        t0.elapsed()
    }

    pub fn kill9(&mut self, port: u16) {
        self.bed.kill9(port)
    }

    /// Starts moving `slot` from the master on `from` to the master on `to` by hand (the first
    /// half of a reshard): `to` IMPORTING, `from` MIGRATING. From now on `from` answers ASK for
    /// keys of the slot it does not hold.
    pub fn begin_migration(&self, slot: u16, from: u16, to: u16) {
        let slot = slot.to_string();
        let (from_id, to_id) = (self.node_id(from), self.node_id(to));
        let ok = |r: Result<Reply, StoreError>, what: &str| {
            assert_eq!(r.as_ref().ok(), Some(&Reply::Status(b"OK".to_vec())), "{what}: {r:?}");
        };
        ok(self.bed.cmd(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]), "SETSLOT IMPORTING");
        ok(self.bed.cmd(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]), "SETSLOT MIGRATING");
    }

    /// Finishes it: moves the slot's remaining keys (`MIGRATE`) and assigns the slot to `to` on
    /// every live master.
    pub fn finish_migration(&self, slot: u16, from: u16, to: u16) {
        let s = slot.to_string();
        loop {
            let keys = match self.bed.cmd(from, &["CLUSTER", "GETKEYSINSLOT", &s, "100"]) {
                Ok(Reply::Array(k)) => k,
                other => panic!("CLUSTER GETKEYSINSLOT: {other:?}"),
            };
            if keys.is_empty() {
                break;
            }
            let names: Vec<String> = keys.iter().map(text).collect();
            let port = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
            args.extend(names.iter().map(String::as_str));
            let r = self.bed.cmd(from, &args);
            assert_eq!(r.as_ref().ok(), Some(&Reply::Status(b"OK".to_vec())), "MIGRATE: {r:?}");
        }
        let to_id = self.node_id(to);
        // The new owner first, then the old one, then the rest (as redis-cli does).
        let mut order = vec![to, from];
        order.extend(self.masters().into_iter().filter(|p| *p != to && *p != from));
        for p in order {
            let r = self.bed.cmd(p, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]);
            assert_eq!(r.as_ref().ok(), Some(&Reply::Status(b"OK".to_vec())), "SETSLOT NODE on {p}: {r:?}");
        }
    }
}

/// One master, one replica and three sentinels on loopback.
pub struct SentinelBed {
    pub bed: Bed,
    pub master: u16,
    pub replica: u16,
    pub sentinels: Vec<u16>,
    /// How long `start` took, until every sentinel knows the replica and the other sentinels.
    pub started_in: Duration,
    /// `(data nodes, sentinels)` passwords, when set.
    pub passwords: Option<(String, String)>,
}

impl SentinelBed {
    /// `down_after_ms`: `sentinel down-after-milliseconds`; `failover_timeout_ms`:
    /// `sentinel failover-timeout`; `passwords`: `(data nodes, sentinels)`, each `requirepass`
    /// (and what the sentinels and replicas use to reach them).
    pub fn start(down_after_ms: u64, failover_timeout_ms: u64, passwords: Option<(&str, &str)>) -> SentinelBed {
        let t0 = Instant::now();
        let mut bed = Bed::new("sentinel");
        let (data_pw, sentinel_pw) = match passwords {
            Some((d, s)) => (Some(d), Some(s)),
            None => (None, None),
        };
        let data_args = |dir: &Path, p: &[u16]| -> Vec<String> {
            let mut auth = Vec::new();
            if let Some(pw) = data_pw {
                auth = vec!["--requirepass".into(), pw.to_string(), "--masterauth".into(), pw.to_string()];
            }
            let mut a = data_node_args(dir, p[0]);
            a.extend(auth);
            a
        };
        let master = bed.spawn("data", 1, data_pw, data_args)[0];
        let replica = bed.spawn("data", 1, data_pw, |dir, p| {
            let mut a = data_args(dir, p);
            a.extend(["--replicaof".into(), "127.0.0.1".into(), master.to_string()]);
            a
        })[0];
        // The replica linked before the sentinels start: their first INFO of the master lists it.
        wait_for("the replica's link to the master", Duration::from_secs(20), || {
            let info = text(&cmd_auth(replica, data_pw, &["INFO", "replication"]).ok()?);
            (info_field(&info, "master_link_status").as_deref() == Some("up")).then_some(())
        });
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = bed.spawn("sentinel", 1, sentinel_pw, |dir, p| {
                let conf = dir.join(format!("sentinel-{}.conf", p[0]));
                let mut text = format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {SERVICE} 127.0.0.1 {master} 2\n\
                     sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n\
                     sentinel failover-timeout {SERVICE} {failover_timeout_ms}\n\
                     sentinel parallel-syncs {SERVICE} 1\n",
                    port = p[0],
                    dir = dir.display(),
                );
                if let Some(pw) = data_pw {
                    text.push_str(&format!("sentinel auth-pass {SERVICE} {pw}\n"));
                }
                if let Some(pw) = sentinel_pw {
                    // Sentinels reach each other with it too.
                    text.push_str(&format!("requirepass {pw}\nsentinel sentinel-pass {pw}\n"));
                }
                std::fs::write(&conf, text).expect("write sentinel.conf");
                vec![conf.display().to_string(), "--sentinel".into()]
            })[0];
            sentinels.push(port);
        }
        let b = SentinelBed { bed, master, replica, sentinels, started_in: Duration::ZERO, passwords: passwords.map(|(d, s)| (d.to_string(), s.to_string())) };
        for &s in &b.sentinels {
            wait_for(
                &format!("sentinel {s} to know the replica and 2 other sentinels{}", b.bed.logs()),
                Duration::from_secs(30),
                || {
                    let m = pairs(&b.bed.cmd(s, &["SENTINEL", "MASTER", SERVICE]).ok()?);
                    let get = |k: &str| m.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
                    let ready = get("num-slaves").as_deref() == Some("1")
                        && get("num-other-sentinels").as_deref() == Some("2")
                        && get("flags").as_deref() == Some("master");
                    ready.then_some(())
                },
            );
        }
        SentinelBed { started_in: t0.elapsed(), ..b }
    }

    /// The sentinels as `(host, port)`, the order a DSN lists them.
    pub fn sentinel_addrs(&self) -> Vec<(String, u16)> {
        self.sentinels.iter().map(|p| ("127.0.0.1".to_string(), *p)).collect()
    }

    /// The `redis+sentinel://` DSN for this bed, passwords included.
    pub fn dsn(&self) -> String {
        let hosts: Vec<String> = self.sentinels.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        match &self.passwords {
            Some((d, s)) => format!("redis+sentinel://:{d}@{}/{SERVICE}?sentinel_password={s}", hosts.join(",")),
            None => format!("redis+sentinel://{}/{SERVICE}", hosts.join(",")),
        }
    }

    /// The configuration `dsn()` parses to.
    pub fn config(&self) -> RedisConfig {
        match crate::config::parse_dsn(&self.dsn()).expect("the bed's DSN").backend {
            crate::config::Backend::Redis(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// `SENTINEL FAILOVER` through the sentinel on `sentinel`.
    pub fn failover(&self, sentinel: u16) {
        let r = self.bed.cmd(sentinel, &["SENTINEL", "FAILOVER", SERVICE]).expect("SENTINEL FAILOVER");
        assert_eq!(r, Reply::Status(b"OK".to_vec()), "SENTINEL FAILOVER: {r:?}");
    }

    /// The master's port according to the sentinel on `sentinel`.
    pub fn master_by(&self, sentinel: u16) -> Option<u16> {
        let r = self.bed.cmd(sentinel, &["SENTINEL", "get-master-addr-by-name", SERVICE]).ok()?;
        super::sentinel::parse_master_addr(&r).ok()?.map(|(_, p)| p)
    }

    pub fn kill9(&mut self, port: u16) {
        self.bed.kill9(port)
    }
}

#[cfg(test)]
#[path = "testbed_tests.rs"]
mod tests;

/// What every data node of a bed runs with: loopback only, its own directory, nothing on disk.
fn data_node_args(dir: &Path, port: u16) -> Vec<String> {
    vec![
        "--port".into(),
        port.to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--save".into(),
        "".into(),
        "--appendonly".into(),
        "no".into(),
        // A replica's first sync starts at once, not after the default 5 s wait.
        "--repl-diskless-sync-delay".into(),
        "0".into(),
    ]
}
