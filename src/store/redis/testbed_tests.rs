//! The routing and discovery groundwork against real topologies started by the test bed.
use super::*;
use crate::store::redis::sentinel::{discover, ConnProbe, HostPort, Role, SentinelProbe};
use crate::store::error::ServerErrorKind;
use crate::store::redis::cluster::node_of;
use crate::store::redis::slots::{key_slot, NodeAddr, SlotMap};

/// A redirection as the driver sees it: the parsed error reply, its address as a node.
#[derive(Debug, PartialEq, Eq)]
enum Redirect {
    Moved { slot: u16, to: NodeAddr },
    Ask { slot: u16, to: NodeAddr },
}

fn redirect_of(e: &crate::store::error::ServerError, asked: u16) -> Option<Redirect> {
    let r = e.redirect.as_ref()?;
    let to = node_of(&r.addr, &NodeAddr { host: "127.0.0.1".into(), port: asked })?;
    match e.kind {
        ServerErrorKind::Moved => Some(Redirect::Moved { slot: r.slot, to }),
        ServerErrorKind::Ask => Some(Redirect::Ask { slot: r.slot, to }),
        _ => None,
    }
}

fn slot_map(port: u16) -> SlotMap {
    let r = conn(port).unwrap().cmd(&[b"CLUSTER", b"SLOTS"]).unwrap();
    SlotMap::from_cluster_slots(&r, "127.0.0.1").unwrap()
}

fn session_key(i: usize) -> Vec<u8> {
    format!("PHPSESSID:{{{}-{i}}}", crate::id::generate(24).unwrap()).into_bytes()
}

/// SET `key` on the node at `port`: Ok on its master, the redirection anywhere else.
fn set_on(port: u16, key: &[u8]) -> Result<(), Redirect> {
    match conn(port).unwrap().cmd(&[b"SET", key, b"v"]).unwrap() {
        Reply::Status(s) if s == b"OK" => Ok(()),
        Reply::Error(e) => Err(redirect_of(&e, port).unwrap_or_else(|| panic!("not a redirection: {}", e.message))),
        other => panic!("SET: {other:?}"),
    }
}

#[test]
fn cluster_routing_reshard_and_failover() {
    if !available() {
        return;
    }
    let mut c = Cluster::start(3, 1, 2000);
    eprintln!("cluster of 3 masters + 3 replicas started in {:?}", c.started_in);

    // The map from CLUSTER SLOTS: full coverage, three shards with a replica each.
    // (A replica can drop out of CLUSTER SLOTS for a moment; a bounded wait absorbs that.)
    let map = wait_for("CLUSTER SLOTS with one replica per master", Duration::from_secs(10), || {
        let m = slot_map(c.nodes[0]);
        m.shards().iter().all(|s| s.replicas.len() == 1).then_some(m)
    });
    assert_eq!(map.covered(), 16384, "{map:?}");
    assert_eq!(map.shards().len(), 3, "{map:?}");
    let masters: Vec<u16> = map.shards().iter().map(|s| s.master.port).collect();
    let mut sorted = masters.clone();
    sorted.sort();
    let mut actual = c.masters();
    actual.sort();
    assert_eq!(sorted, actual, "the map's masters are the nodes whose role is master");

    // Every key: the predicted master accepts it; the others answer MOVED to that master.
    for i in 0..30 {
        let key = session_key(i);
        let owner = map.master_for_key(&key).unwrap().clone();
        assert_eq!(set_on(owner.port, &key), Ok(()), "{}", String::from_utf8_lossy(&key));
        for &m in masters.iter().filter(|&&m| m != owner.port) {
            let expected = Redirect::Moved { slot: key_slot(&key), to: owner.clone() };
            assert_eq!(set_on(m, &key), Err(expected));
        }
    }

    // A live reshard: the moved slots answer MOVED from their old master, to the new one.
    let (from, to) = (masters[0], masters[1]);
    let took = c.reshard(from, to, 100);
    eprintln!("live reshard of 100 slots took {took:?}");
    let after = slot_map(c.nodes[2]);
    let moved: Vec<u16> = (0..16384u16)
        .filter(|&s| map.master(s).map(|a| a.port) == Some(from) && after.master(s).map(|a| a.port) == Some(to))
        .collect();
    assert_eq!(moved.len(), 100, "{after:?}");
    let key = (0..)
        .map(session_key)
        .find(|k| moved.contains(&key_slot(k)))
        .unwrap();
    let new_owner = NodeAddr { host: "127.0.0.1".into(), port: to };
    let redirect = set_on(from, &key).unwrap_err();
    assert_eq!(redirect, Redirect::Moved { slot: key_slot(&key), to: new_owner.clone() });
    let mut patched = map.clone();
    assert!(patched.moved(key_slot(&key), new_owner.clone()));
    assert_eq!(patched.master_for_key(&key), Some(&new_owner));
    assert_eq!(set_on(to, &key), Ok(()));

    // A slot migrating by hand: the old owner answers ASK for a key it does not hold; the new
    // owner takes it after ASKING (and answers MOVED back without); once the slot is assigned,
    // the old owner answers MOVED.
    let (from, to) = (masters[1], masters[0]);
    let slot = (0..16384u16).find(|&s| after.master(s).map(|a| a.port) == Some(from)).unwrap();
    let key = (0..).map(session_key).find(|k| key_slot(k) == slot).unwrap();
    c.begin_migration(slot, from, to);
    let dest = NodeAddr { host: "127.0.0.1".into(), port: to };
    assert_eq!(set_on(from, &key), Err(Redirect::Ask { slot, to: dest.clone() }));
    assert_eq!(set_on(to, &key), Err(Redirect::Moved { slot, to: NodeAddr { host: "127.0.0.1".into(), port: from } }));
    let mut target = conn(to).unwrap();
    target.encode(&[b"ASKING"]);
    target.encode(&[b"SET", &key, b"asked"]);
    let replies = target.flush_and_read(2).unwrap();
    assert_eq!(replies, vec![Reply::Status(b"OK".to_vec()), Reply::Status(b"OK".to_vec())]);
    c.finish_migration(slot, from, to);
    assert_eq!(set_on(from, &key), Err(Redirect::Moved { slot, to: dest }));
    assert_eq!(conn(to).unwrap().cmd(&[b"GET", &key]).unwrap(), Reply::Bulk(b"asked".to_vec()));
    let after = slot_map(c.nodes[2]);
    assert_eq!(after.master(slot).map(|a| a.port), Some(to));

    // SIGKILL of a master: its replica takes its slots over.
    let victim = masters[2];
    let victim_slot = (0..16384u16).find(|&s| after.master(s).map(|a| a.port) == Some(victim)).unwrap();
    let replica = *c.replicas_of(victim).first().unwrap_or_else(|| panic!("no replica of {victim}{}", c.bed.logs()));
    let t0 = std::time::Instant::now();
    c.kill9(victim);
    let survivor = masters[0];
    wait_for(&format!("replica {replica} to serve slot {victim_slot} after SIGKILL of {victim}"), Duration::from_secs(30), || {
        let m = slot_map(survivor);
        let ok = cmd(survivor, &["CLUSTER", "INFO"]).ok().map(|r| text(&r)).and_then(|i| info_field(&i, "cluster_state"));
        (m.master(victim_slot).map(|a| a.port) == Some(replica) && ok.as_deref() == Some("ok")).then_some(())
    });
    let failover = t0.elapsed();
    eprintln!("cluster failover after SIGKILL of a master (node timeout 2000 ms): slots served again after {failover:?}");
    let key = (0..).map(session_key).find(|k| after.master_for_key(k).map(|a| a.port) == Some(victim)).unwrap();
    assert_eq!(set_on(replica, &key), Ok(()));

    // Seeds: a port nobody listens on and the dead master are skipped; the map comes from the
    // first live node and routes the dead master's slots to the promoted replica.
    let crate::config::Backend::Redis(cfg) = crate::config::parse_dsn(&c.dsn()).unwrap().backend else { panic!() };
    let mut probe = crate::store::redis::slots::ConnSlotsProbe {
        cfg: &cfg,
        tls: None,
        connect_timeout: Duration::from_millis(500),
        timeout: Duration::from_secs(2),
    };
    let seeds: Vec<NodeAddr> = [crate::testutil::free_port(), victim, survivor]
        .iter()
        .map(|p| NodeAddr { host: "127.0.0.1".into(), port: *p })
        .collect();
    let loaded = crate::store::redis::slots::load_slot_map(&mut probe, &seeds).unwrap();
    assert_eq!(loaded.seed, 2);
    assert_eq!(loaded.map.covered(), 16384);
    assert_eq!(loaded.map.master_for_key(&key).map(|a| a.port), Some(replica));
    let e = crate::store::redis::slots::load_slot_map(&mut probe, &seeds[..2]).unwrap_err();
    assert!(e.to_string().contains(&format!("127.0.0.1:{victim}")), "{e}");
}

/// The probe, counting what it was asked.
struct Counting<'a> {
    inner: ConnProbe<'a>,
    questions: usize,
}

impl SentinelProbe for Counting<'_> {
    fn master_addr(&mut self, s: &HostPort, service: &str) -> Result<Option<HostPort>, StoreError> {
        self.questions += 1;
        self.inner.master_addr(s, service)
    }
    fn role(&mut self, node: &HostPort) -> Result<Role, StoreError> {
        self.questions += 1;
        self.inner.role(node)
    }
}

fn role_of(bed: &Bed, port: u16) -> Option<Role> {
    bed.cmd(port, &["ROLE"]).ok().and_then(|r| crate::store::redis::sentinel::parse_role(&r).ok())
}

fn discover_port(cfg: &RedisConfig, sentinels: &[HostPort], service: &str) -> Result<u16, StoreError> {
    let mut p = ConnProbe::new(cfg, None, Duration::from_millis(500), Duration::from_secs(2));
    discover(&mut p, sentinels, service).map(|d| d.master.1)
}

#[test]
fn sentinel_discovery_and_failover() {
    if !available() {
        return;
    }
    let (data_pw, sentinel_pw) = ("data-Pw-7f3a", "sentinel-Pw-91c2");
    let mut b = SentinelBed::start(2000, 5000, Some((data_pw, sentinel_pw)));
    eprintln!("1 master + 1 replica + 3 sentinels (with passwords) started in {:?}", b.started_in);
    // From the DSN: the authority's password for the data nodes, sentinel_password for the
    // sentinels.
    let cfg = b.config();
    assert!(!crate::config::parse_dsn(&b.dsn()).unwrap().redacted().contains("Pw-"));

    // An unreachable sentinel first: skipped; the master found and confirmed by ROLE.
    let dead = crate::testutil::free_port();
    let mut list = vec![("127.0.0.1".to_string(), dead)];
    list.extend(b.sentinel_addrs());
    let t0 = std::time::Instant::now();
    let mut probe = Counting { inner: ConnProbe::new(&cfg, None, Duration::from_millis(500), Duration::from_secs(2)), questions: 0 };
    let d = discover(&mut probe, &list, SERVICE).unwrap();
    eprintln!("discovery (one dead sentinel first) took {:?}", t0.elapsed());
    assert_eq!(d.master, ("127.0.0.1".to_string(), b.master));
    assert_eq!(d.sentinel, 1);
    assert_eq!(probe.questions, 3, "dead sentinel, live sentinel, ROLE");
    // The confirming connection is handed over, usable at once.
    let (addr, mut conn) = probe.inner.take_master().unwrap();
    assert_eq!(addr.1, b.master);
    assert_eq!(conn.cmd(&[b"SET", b"cannon:sentinel:probe", b"1"]).unwrap(), Reply::Status(b"OK".to_vec()));
    // What `wait=1` costs on loopback: SET alone against SET + WAIT 1 100 in one pipeline.
    let rounds = 300;
    let t0 = std::time::Instant::now();
    for _ in 0..rounds {
        conn.cmd(&[b"SET", b"cannon:sentinel:probe", b"1"]).unwrap();
    }
    let plain = t0.elapsed() / rounds;
    let t0 = std::time::Instant::now();
    for _ in 0..rounds {
        conn.encode(&[b"SET", b"cannon:sentinel:probe", b"1"]);
        conn.encode(&[b"WAIT", b"1", b"100"]);
        let r = conn.flush_and_read(2).unwrap();
        assert_eq!(r[1], Reply::Int(1), "the replica acknowledges");
    }
    let waited = t0.elapsed() / rounds;
    eprintln!("SET {plain:?} per call; SET + WAIT 1 100 pipelined {waited:?} per call (replica on loopback)");
    drop(conn);

    // Wrong passwords: an Auth error naming where, never a password.
    let dsn = b.dsn();
    for (wrong, what) in [
        (dsn.replace(sentinel_pw, "not-the-sentinel-pw"), "sentinel"),
        (dsn.replace(data_pw, "not-the-data-pw"), "master"),
    ] {
        let crate::config::Backend::Redis(wrong_cfg) = crate::config::parse_dsn(&wrong).unwrap().backend else { panic!() };
        let e = discover_port(&wrong_cfg, &b.sentinel_addrs(), SERVICE).unwrap_err();
        let m = e.to_string();
        assert_eq!(e.server_kind(), Some(crate::store::error::ServerErrorKind::Auth), "{m}");
        assert!(m.contains(&format!("{what} 127.0.0.1:")), "{m}");
        assert!(!m.contains("Pw-") && !m.contains("not-the"), "{m}");
        eprintln!("wrong {what} password: {m}");
    }

    // A service no sentinel knows: every sentinel named in the error.
    let e = discover_port(&cfg, &b.sentinel_addrs(), "nosuch").unwrap_err();
    let m = e.to_string();
    assert!(m.contains("does not know \"nosuch\""), "{m}");
    for s in &b.sentinels {
        assert!(m.contains(&format!("127.0.0.1:{s}")), "{m}");
    }

    // SENTINEL FAILOVER: discovery finds the promoted replica.
    let t0 = std::time::Instant::now();
    b.failover(b.sentinels[1]);
    let promoted = wait_for("discovery to name the promoted replica", Duration::from_secs(30), || {
        discover_port(&cfg, &b.sentinel_addrs(), SERVICE).ok().filter(|p| *p == b.replica)
    });
    let switched = t0.elapsed();
    assert_eq!(promoted, b.replica);
    wait_for("every sentinel to name the promoted replica", Duration::from_secs(10), || {
        b.sentinels.iter().all(|&s| b.master_by(s) == Some(b.replica)).then_some(())
    });
    eprintln!("SENTINEL FAILOVER: discovery named the promoted replica after {switched:?}");
    // The old master keeps saying it is a master for a while: the window a driver must cover.
    wait_for("the old master to be reconfigured as a replica", Duration::from_secs(30), || {
        matches!(role_of(&b.bed, b.master), Some(Role::Replica { .. })).then_some(())
    });
    eprintln!("SENTINEL FAILOVER: the old master said ROLE master until {:?} after the failover", t0.elapsed());

    // SIGKILL of the (new) master: the sentinels promote the old one back.
    wait_for("the old master's link to the new master", Duration::from_secs(20), || {
        let info = text(&b.bed.cmd(b.master, &["INFO", "replication"]).ok()?);
        (info_field(&info, "master_link_status").as_deref() == Some("up")).then_some(())
    });
    let t0 = std::time::Instant::now();
    b.kill9(b.replica);
    let back = wait_for(&format!("promotion after SIGKILL of the master{}", b.bed.logs()), Duration::from_secs(40), || {
        discover_port(&cfg, &b.sentinel_addrs(), SERVICE).ok().filter(|p| *p == b.master)
    });
    assert_eq!(back, b.master);
    eprintln!("SIGKILL of the master (down-after 2000 ms): discovery named the promoted replica after {:?}", t0.elapsed());
    assert!(role_of(&b.bed, b.master).is_some_and(|r| r.is_master()));

    // No replica left: WAIT 1 gives 0 acknowledgements once its timeout has passed.
    let mut c = conn_auth(b.master, Some(data_pw)).unwrap();
    c.encode(&[b"SET", b"cannon:sentinel:probe", b"2"]);
    c.encode(&[b"WAIT", b"1", b"100"]);
    let t0 = std::time::Instant::now();
    let r = c.flush_and_read(2).unwrap();
    assert_eq!(r[1], Reply::Int(0));
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(95), "{waited:?}");
    eprintln!("SET + WAIT 1 100 with no replica: 0 acknowledgements after {waited:?}");
}
