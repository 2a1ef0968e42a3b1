use super::node_of;
use crate::store::redis::slots::NodeAddr;

#[test]
fn redirect_addresses() {
    let asked = NodeAddr { host: "10.0.0.1".into(), port: 7000 };
    assert_eq!(node_of("127.0.0.1:7001", &asked), Some(NodeAddr { host: "127.0.0.1".into(), port: 7001 }));
    assert_eq!(node_of(":7002", &asked), Some(NodeAddr { host: "10.0.0.1".into(), port: 7002 }));
    assert_eq!(node_of("::1:7003", &asked), Some(NodeAddr { host: "::1".into(), port: 7003 }));
    assert_eq!(node_of("redis-2.example:7000", &asked), Some(NodeAddr { host: "redis-2.example".into(), port: 7000 }));
    assert_eq!(node_of("h:0", &asked), None);
    assert_eq!(node_of("h", &asked), None);
}

use crate::config::parse_dsn;
use crate::store::redis::keys::Keys;
use crate::store::redis::slots::key_slot;
use crate::store::redis::testbed::{available, Cluster};
use crate::store::redis::RedisStore;
use crate::store::{SessionStore, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PREFIX: &str = "cannon_cluster_test:";

fn store(dsn: &str) -> RedisStore {
    RedisStore::new(&parse_dsn(dsn).unwrap(), PREFIX, crate::registry::generation).unwrap()
}

/// One locked increment of the counter in session `id`: the value written, or the error.
fn increment(s: &mut RedisStore, id: &str) -> Result<u64, StoreError> {
    let (data, _) = s.lock_read_refresh(id, 600)?;
    let n: u64 = data.as_deref().map(|d| String::from_utf8_lossy(d).parse().unwrap_or(0)).unwrap_or(0) + 1;
    s.write(id, n.to_string().as_bytes(), 600)?;
    Ok(n)
}

fn value(s: &mut RedisStore, id: &str) -> u64 {
    let d = s.read(id, false).unwrap();
    d.map(|d| String::from_utf8_lossy(&d).parse().unwrap()).unwrap_or(0)
}

/// Outcome of concurrent increments: acknowledged per id, failures with their times.
struct Load {
    acked: HashMap<String, u64>,
    failures: Vec<(Instant, String)>,
}

/// 4 threads, each its own store, doing locked increments over `ids` until `stop`.
fn load(dsn: &str, ids: &[String], stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Load>> {
    (0..4)
        .map(|t| {
            let (dsn, ids, stop) = (dsn.to_string(), ids.to_vec(), stop.clone());
            std::thread::spawn(move || {
                let mut s = store(&format!("{dsn}?timeout=2&lock_wait_timeout=10"));
                let mut l = Load { acked: HashMap::new(), failures: Vec::new() };
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let id = &ids[i % ids.len()];
                    i += 1;
                    match increment(&mut s, id) {
                        Ok(_) => *l.acked.entry(id.clone()).or_default() += 1,
                        Err(e) => l.failures.push((Instant::now(), e.to_string())),
                    }
                }
                s.disconnect();
                l
            })
        })
        .collect()
}

fn finish(handles: Vec<std::thread::JoinHandle<Load>>) -> Load {
    let mut all = Load { acked: HashMap::new(), failures: Vec::new() };
    for h in handles {
        let l = h.join().unwrap();
        for (k, v) in l.acked {
            *all.acked.entry(k).or_default() += v;
        }
        all.failures.extend(l.failures);
    }
    all
}

/// Lost updates: acknowledged increments missing from the stored counters (per id, summed).
fn lost(s: &mut RedisStore, ids: &[String], base: &HashMap<String, u64>, l: &Load) -> (u64, u64) {
    let (mut acked, mut missing) = (0, 0);
    for id in ids {
        let want = base.get(id).copied().unwrap_or(0) + l.acked.get(id).copied().unwrap_or(0);
        let got = value(s, id);
        acked += want;
        missing += want.saturating_sub(got);
    }
    (acked, missing)
}

fn ids(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}{i}{}", crate::id::generate(16).unwrap())).collect()
}

#[test]
fn store_on_a_live_cluster() {
    if !available() {
        return;
    }
    let mut c = Cluster::start(3, 1, 1000);
    eprintln!("cluster: 3 masters + 3 replicas started in {:?}", c.started_in);
    let dsn = c.dsn();
    let mut s = store(&format!("{dsn}?timeout=2"));

    // (a) Spread: 10,000 ids over the masters by the store's own map.
    s.exists("warm-up").unwrap();
    let map = s.cluster.as_ref().unwrap().map.clone().unwrap();
    let keys = Keys::tagged(PREFIX.into());
    let mut per: HashMap<u16, usize> = HashMap::new();
    for id in ids("d", 10_000) {
        *per.entry(map.master_for_key(keys.of(&id).data()).unwrap().port).or_default() += 1;
    }
    let mut spread: Vec<_> = per.into_iter().collect();
    spread.sort();
    eprintln!("10,000 ids over masters: {spread:?}");
    assert_eq!(spread.len(), 3);
    assert!(spread.iter().all(|(_, n)| *n > 3000 && *n < 3700), "{spread:?}");

    // (b) A locked cycle: 2 round trips, both keys in one slot; read-only 1.
    let id = ids("cycle", 1).remove(0);
    increment(&mut s, &id).unwrap();
    let rt = s.round_trips();
    assert_eq!(increment(&mut s, &id).unwrap(), 2);
    assert_eq!(s.round_trips() - rt, 2, "a locked cycle on a cluster");
    let rt = s.round_trips();
    assert_eq!(s.read_refresh(&id, 600).unwrap().0.as_deref(), Some(&b"2"[..]));
    assert_eq!(s.round_trips() - rt, 1, "a read-only cycle on a cluster");
    let k = keys.of(&id);
    assert_eq!(key_slot(k.data()), key_slot(k.lock()));
    assert!(s.exists(&id).unwrap());
    assert_eq!(s.gc(1).unwrap(), 0);

    // (c) A live reshard of 1,000 slots during 4 writers: no failed cycle, no lost update.
    let hot = ids("r", 16);
    let stop = Arc::new(AtomicBool::new(false));
    let handles = load(&dsn, &hot, stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    let masters: Vec<u16> = map.shards().iter().map(|s| s.master.port).collect();
    let took = c.reshard(masters[0], masters[1], 1000);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let l = finish(handles);
    let (acked, missing) = lost(&mut s, &hot, &HashMap::new(), &l);
    eprintln!("reshard of 1,000 slots in {took:?}: {acked} acknowledged increments, {} failed, {missing} lost", l.failures.len());
    assert!(l.failures.is_empty(), "{:?}", &l.failures[..l.failures.len().min(5)]);
    assert_eq!(missing, 0);
    assert_eq!(acked, hot.iter().map(|id| value(&mut s, id)).sum::<u64>(), "stored counts equal acknowledged increments");

    // (d) A slot moved by hand: new sessions in it go through ASK, then MOVED once it is done.
    let from = masters[2];
    let to = masters[0];
    let slot = (0..16384u16).find(|sl| map.master(*sl).map(|m| m.port) == Some(from)).unwrap();
    let migrating: Vec<String> = (0..).map(|i| format!("ask{i}")).filter(|id| key_slot(id.as_bytes()) == slot).take(3).collect();
    c.begin_migration(slot, from, to);
    for id in &migrating {
        for n in 1..=5 {
            assert_eq!(increment(&mut s, id).unwrap(), n, "{id} while slot {slot} migrates");
        }
    }
    c.finish_migration(slot, from, to);
    for id in &migrating {
        assert_eq!(increment(&mut s, id).unwrap(), 6, "{id} after slot {slot} moved");
    }
    eprintln!("hand migration of slot {slot}: ASK then MOVED followed, counts exact");

    // (e) SIGKILL of a master: failures only inside the failover window, none lost after.
    let base: HashMap<String, u64> = hot.iter().map(|id| (id.clone(), value(&mut s, id))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let handles = load(&dsn, &hot, stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    let victim = masters[1];
    let killed = Instant::now();
    c.kill9(victim);
    let replica_up = Mutex::new(None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let m = c.masters();
        if m.len() == 3 && !m.contains(&victim) {
            *replica_up.lock().unwrap() = Some(killed.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let l = finish(handles);
    let promoted = replica_up.lock().unwrap().expect("a replica promoted within 20 s");
    let window = match (l.failures.iter().map(|f| f.0).min(), l.failures.iter().map(|f| f.0).max()) {
        (Some(a), Some(b)) => format!("{:?} .. {:?} after the kill", a.saturating_duration_since(killed), b.saturating_duration_since(killed)),
        _ => "none".into(),
    };
    let (acked, missing) = lost(&mut s, &hot, &base, &l);
    eprintln!(
        "SIGKILL of master {victim}: replica promoted after {promoted:?}; {} failed cycles ({window}); {acked} acknowledged, {missing} lost",
        l.failures.len()
    );
    for f in &l.failures {
        assert!(f.0 < killed + promoted + Duration::from_millis(1000), "a failure after the failover window: {}", f.1);
    }
    assert_eq!(missing, 0);
    // Recovered without a new store: sequential increments exact.
    for id in &hot[..4] {
        let v = value(&mut s, id);
        assert_eq!(increment(&mut s, id).unwrap(), v + 1);
    }

    // (f) Bad input: of the seeds, only one answers.
    let live = c.masters()[0];
    let dead = crate::testutil::free_port();
    let mut one = store(&format!("redis+cluster://127.0.0.1:{dead},127.0.0.1:{live}?timeout=2&connect_timeout=0.5"));
    assert_eq!(increment(&mut one, &hot[0]).unwrap(), value(&mut s, &hot[0]));
    s.disconnect();
    one.disconnect();
}

/// Parses one command (`*N` of bulk strings) from the front of `buf`: its first word and length.
fn fake_command(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let line = |at: usize| buf[at..].windows(2).position(|w| w == b"\r\n").map(|p| (at, at + p));
    let (s, e) = line(0)?;
    let n: usize = std::str::from_utf8(buf.get(s + 1..e)?).ok()?.parse().ok()?;
    let mut at = e + 2;
    let mut first = None;
    for _ in 0..n {
        let (s, e) = line(at)?;
        let len: usize = std::str::from_utf8(buf.get(s + 1..e)?).ok()?.parse().ok()?;
        let data = buf.get(e + 2..e + 2 + len)?.to_vec();
        first.get_or_insert(data);
        at = e + 2 + len + 2;
        if at > buf.len() {
            return None;
        }
    }
    Some((first.unwrap_or_default(), at))
}

/// A node that owns every slot by `CLUSTER SLOTS` and answers everything else MOVED to itself.
fn moved_forever() -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = s.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some((cmd, used)) = fake_command(&buf) {
                        buf.drain(..used);
                        let reply = if cmd.eq_ignore_ascii_case(b"CLUSTER") {
                            format!("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:{port}\r\n")
                        } else {
                            format!("-MOVED 42 127.0.0.1:{port}\r\n")
                        };
                        if s.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

#[test]
fn a_moved_loop_is_bounded() {
    let port = moved_forever();
    let mut s = store(&format!("redis+cluster://127.0.0.1:{port}?timeout=1"));
    let t0 = Instant::now();
    let e = s.read("x", true).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("still redirected after 5 resends") && m.contains("MOVED"), "{m}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    let e = s.write("x", b"v", 60).unwrap_err();
    assert!(e.to_string().contains("redirected"), "{e}");
    eprintln!("MOVED forever: {m} (after {:?})", t0.elapsed());
}
