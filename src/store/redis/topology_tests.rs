//! Sentinel through the store, on the test bed (1 master + 1 replica + 3 sentinels on
//! loopback, started and stopped by the test). The figures are printed (`--nocapture`).
use crate::config::{parse_dsn, Config};
use crate::store::redis::testbed::{available, info_field, text, wait_for, SentinelBed, SERVICE};
use crate::store::redis::RedisStore;
use crate::store::{SessionStore, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PREFIX: &str = "cannon_sentinel_test:";

fn store(dsn: &str) -> RedisStore {
    RedisStore::new(&parse_dsn(dsn).unwrap(), PREFIX, crate::registry::generation).unwrap()
}

fn with(dsn: &str, opts: &str) -> String {
    format!("{dsn}{}{opts}", if dsn.contains('?') { '&' } else { '?' })
}

fn master_port(s: &RedisStore) -> Option<u16> {
    s.topo.as_ref()?.current.as_ref().map(|a| a.1)
}

fn fresh_id(tag: &str) -> String {
    format!("{tag}-{}", crate::id::generate(24).unwrap())
}

#[test]
fn unreachable_sentinels_fail_within_the_bound() {
    let (a, b) = (crate::testutil::free_port(), crate::testutil::free_port());
    let mut s = store(&format!("redis+sentinel://127.0.0.1:{a},127.0.0.1:{b}/{SERVICE}?connect_timeout=0.2"));
    let t0 = Instant::now();
    let e = s.read("x", true).unwrap_err();
    let took = t0.elapsed();
    let m = e.to_string();
    assert!(matches!(e, StoreError::Connection(_)), "{m}");
    assert!(m.contains(&format!("127.0.0.1:{a}")) && m.contains(&format!("127.0.0.1:{b}")), "{m}");
    assert!(took < Duration::from_millis(2 * 200 + 300), "{took:?}");
    eprintln!("unreachable sentinels: {m} (after {took:?})");
}

#[test]
fn cluster_dsns_are_still_refused() {
    let e = RedisStore::new(&parse_dsn("redis+cluster://127.0.0.1:7000").unwrap(), PREFIX, crate::registry::generation).err().unwrap();
    assert!(e.to_string().contains("not served yet"), "{e}");
}

/// `wait=1` on the machine's own Redis (no replica): every write fails as not replicated,
/// after wait_timeout, and reads still work.
#[test]
fn wait_without_replicas_fails_writes() {
    let base = std::env::var("CANNON_REDIS_DSN").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let mut s = store(&with(&base, "wait=1&wait_timeout=20"));
    let id = fresh_id("wait");
    let t0 = Instant::now();
    let e = s.write(&id, b"v", 60).unwrap_err();
    assert!(matches!(e, StoreError::NotReplicated { acked: 0, wanted: 1 }), "{e}");
    assert!(t0.elapsed() >= Duration::from_millis(19));
    // The write happened on the master all the same (WAIT does not undo it).
    assert_eq!(s.read(&id, true).unwrap().as_deref(), Some(&b"v"[..]));
    assert!(matches!(s.write(&id, b"w", 60), Err(StoreError::NotReplicated { .. })));
    // The lock was released by the same pipeline: another store takes it at once.
    let mut other = store(&with(&base, "wait=1&wait_timeout=20&lock_wait_timeout=0.5"));
    assert_eq!(other.read(&id, true).unwrap().as_deref(), Some(&b"w"[..]));
    assert!(matches!(other.touch(&id, 60), Err(StoreError::NotReplicated { .. })));
    assert!(matches!(other.destroy(&id), Err(StoreError::NotReplicated { .. })));
    assert_eq!(s.read(&id, false).unwrap(), None);
}

/// What the 4 writers saw in one round.
struct Round {
    /// Values written and acknowledged: (value, when, master port it went to).
    acked: Vec<(u64, Instant, Option<u16>)>,
    failures: Vec<(Instant, String)>,
    /// When each writer first completed a cycle on the new master.
    first_on_new: Vec<Option<Instant>>,
}

fn writer(dsn: String, id: String, stop: Arc<AtomicBool>, new_master: u16) -> (Vec<(u64, Instant, Option<u16>)>, Vec<(Instant, String)>, Option<Instant>) {
    let mut s = store(&dsn);
    let (mut acked, mut failures, mut first_on_new) = (Vec::new(), Vec::new(), None);
    while !stop.load(Ordering::Relaxed) {
        let cycle = (|| -> Result<u64, StoreError> {
            let n = match s.read(&id, true)? {
                Some(d) => String::from_utf8_lossy(&d).parse::<u64>().unwrap_or(0),
                None => 0,
            };
            s.write(&id, (n + 1).to_string().as_bytes(), 300)?;
            Ok(n + 1)
        })();
        let now = Instant::now();
        match cycle {
            Ok(v) => {
                let port = master_port(&s);
                acked.push((v, now, port));
                if first_on_new.is_none() && port == Some(new_master) {
                    first_on_new = Some(now);
                }
            }
            Err(e) => {
                failures.push((now, e.to_string()));
                let _ = s.unlock(&id);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    (acked, failures, first_on_new)
}

/// Polls `SENTINEL FAILOVER` until a sentinel accepts it (one may refuse while the previous
/// failover settles).
fn force_failover(b: &SentinelBed) -> Instant {
    wait_for("a sentinel to accept SENTINEL FAILOVER", Duration::from_secs(30), || {
        let r = b.bed.cmd(b.sentinels[0], &["SENTINEL", "FAILOVER", SERVICE]).ok()?;
        (r == crate::store::redis::Reply::Status(b"OK".to_vec())).then(Instant::now)
    })
}

fn role_is_replica(b: &SentinelBed, port: u16) -> bool {
    let info = b.bed.cmd(port, &["INFO", "replication"]).ok().map(|r| text(&r)).unwrap_or_default();
    info_field(&info, "role").as_deref() == Some("slave") && info_field(&info, "master_link_status").as_deref() == Some("up")
}

/// One failover during 4 concurrent writers of locked increments on one session; returns the
/// round's outcome after the old master has come back as a replica.
fn failover_round(b: &SentinelBed, dsn: &str, label: &str) -> (Round, u64) {
    let old = b.master_by(b.sentinels[0]).unwrap();
    let new = if old == b.master { b.replica } else { b.master };
    wait_for("the replica's link up before the failover", Duration::from_secs(30), || role_is_replica(b, new).then_some(()));
    let id = fresh_id("failover");
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (dsn, id, stop) = (dsn.to_string(), id.clone(), stop.clone());
            std::thread::spawn(move || writer(dsn, id, stop, new))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let t0 = force_failover(b);
    let named = wait_for("the sentinels to name the new master", Duration::from_secs(30), || {
        b.sentinels.iter().all(|&s| b.master_by(s) == Some(new)).then(Instant::now)
    });
    let rejoined = wait_for("the old master to come back as a replica", Duration::from_secs(40), || {
        role_is_replica(b, old).then(Instant::now)
    });
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let mut round = Round { acked: Vec::new(), failures: Vec::new(), first_on_new: Vec::new() };
    for h in handles {
        let (a, f, first) = h.join().unwrap();
        round.acked.extend(a);
        round.failures.extend(f);
        round.first_on_new.push(first);
    }
    let mut check = store(dsn);
    let final_value: u64 = check.read(&id, false).unwrap().map(|d| String::from_utf8_lossy(&d).parse().unwrap()).unwrap_or(0);
    let ms = |t: Instant| t.saturating_duration_since(t0).as_millis();
    // Acknowledged values twice (two cycles wrote the same number: one's update lost) or above
    // the final value (rolled back by the failover).
    let mut values: Vec<u64> = round.acked.iter().map(|a| a.0).collect();
    values.sort_unstable();
    let dups = values.windows(2).filter(|w| w[0] == w[1]).count();
    let above = values.iter().filter(|v| **v > final_value).count();
    let on_old_after = round.acked.iter().filter(|a| a.1 > named && a.2 == Some(old)).count();
    let fail_first = round.failures.iter().map(|f| f.0).min();
    let fail_last = round.failures.iter().map(|f| f.0).max();
    let mut kinds: Vec<String> = round.failures.iter().map(|f| f.1.chars().take(60).collect()).collect();
    kinds.sort();
    kinds.dedup();
    eprintln!(
        "[{label}] sentinels named the new master {} ms after SENTINEL FAILOVER; old master back as replica after {} ms",
        ms(named),
        ms(rejoined)
    );
    eprintln!(
        "[{label}] writers on the new master after {:?} ms; acked cycles {}, failed cycles {} (window {:?}..{:?} ms), \
         acked on the old master after the switch {on_old_after}; final value {final_value}; \
         lost updates (same value acked twice) {dups}, acked values rolled back {above}",
        round.first_on_new.iter().map(|t| t.map(ms)).collect::<Vec<_>>(),
        round.acked.len(),
        round.failures.len(),
        fail_first.map(ms),
        fail_last.map(ms),
    );
    eprintln!("[{label}] failure kinds: {kinds:?}");
    assert!(round.first_on_new.iter().all(Option::is_some), "[{label}] a writer never reached the new master");
    (round, (dups + above) as u64)
}

#[test]
fn sentinel_store_cycles_failover_and_errors() {
    if !available() {
        return;
    }
    let (data_pw, sentinel_pw) = ("data-Pw-5e1b", "sentinel-Pw-0c7d");
    let b = SentinelBed::start(2000, 5000, Some((data_pw, sentinel_pw)));
    eprintln!("sentinel bed started in {:?}", b.started_in);
    let dsn = b.dsn();

    // Discovery and a locked cycle through the store; 2 round trips in the steady state.
    let mut s = store(&with(&dsn, "timeout=2"));
    let id = fresh_id("cycle");
    let t0 = Instant::now();
    assert_eq!(s.read(&id, true).unwrap(), None);
    eprintln!("first call (discovery + lock) {:?}", t0.elapsed());
    assert_eq!(master_port(&s), Some(b.master));
    s.write(&id, b"one", 60).unwrap();
    let before = s.round_trips();
    assert_eq!(s.read(&id, true).unwrap().as_deref(), Some(&b"one"[..]));
    s.write(&id, b"two", 60).unwrap();
    assert_eq!(s.round_trips() - before, 2, "a locked cycle is 2 round trips");
    assert_eq!(s.read_refresh(&id, 60).unwrap(), (Some(b"two".to_vec()), true));
    assert_eq!(b.bed.cmd(b.master, &["AUTH", data_pw]).map(|_| ()).ok(), Some(()));
    // Another store of this process uses the cached address: no discovery.
    let mut s2 = store(&dsn);
    assert_eq!(s2.read(&id, false).unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(s2.round_trips(), 1);
    s.destroy(&id).unwrap();

    // Timing: single node (the bed's master directly) vs sentinel, and the cost of wait=1.
    let direct = format!("redis://:{data_pw}@127.0.0.1:{}/0", b.master);
    let time = |dsn: &str| {
        let mut s = store(dsn);
        let id = fresh_id("perf");
        let data = vec![b'x'; 1024];
        s.write(&id, &data, 60).unwrap();
        let n = 2000;
        let t = Instant::now();
        for _ in 0..n {
            s.read(&id, true).unwrap();
            s.write(&id, &data, 60).unwrap();
        }
        let per = t.elapsed() / n;
        s.destroy(&id).unwrap();
        per
    };
    for _ in 0..2 {
        let (single, sentinel, sentinel_wait, single_wait) = (
            time(&direct),
            time(&dsn),
            time(&with(&dsn, "wait=1&wait_timeout=100")),
            time(&with(&direct, "wait=1&wait_timeout=100")),
        );
        eprintln!(
            "locked cycle, 1 KB: single node {single:?}, sentinel {sentinel:?}, sentinel wait=1 {sentinel_wait:?}, single node wait=1 {single_wait:?}"
        );
    }

    // Bad input: a service no sentinel knows, wrong passwords; never a password in a message.
    let e = store(&dsn.replace(&format!("/{SERVICE}"), "/nosuch")).read("x", true).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("does not know \"nosuch\""), "{m}");
    for (wrong, what) in [(dsn.replace(sentinel_pw, "not-the-sentinel-pw"), "sentinel"), (dsn.replace(data_pw, "not-the-data-pw"), "master")] {
        // Not from the cache: a store of this process found the master already (and a wrong
        // sentinel password then only turns the failover checks off, see the README).
        super::clear_cache();
        let e = store(&wrong).read("x", true).unwrap_err();
        let m = e.to_string();
        assert_eq!(e.server_kind(), Some(crate::store::error::ServerErrorKind::Auth), "{m}");
        assert!(m.contains(what) && !m.contains("Pw-") && !m.contains("not-the"), "{m}");
        eprintln!("wrong {what} password: {m}");
    }
    // Wrong data password while the master's address is cached: still an Auth error.
    assert_eq!(store(&dsn).read("x", false).unwrap(), None);
    let e = store(&dsn.replace(data_pw, "not-the-data-pw")).read("x", true).unwrap_err();
    assert!(!e.to_string().contains("not-the"), "{e}");

    // Failover during 4 writers, without and with wait=1.
    let (_, lost) = failover_round(&b, &with(&dsn, "lock_ttl=2&lock_wait_timeout=3"), "wait=0");
    eprintln!("[wait=0] lost acknowledged increments: {lost}");
    let (round, lost) = failover_round(&b, &with(&dsn, "lock_ttl=2&lock_wait_timeout=3&wait=1&wait_timeout=100"), "wait=1");
    assert_eq!(lost, 0, "wait=1: no acknowledged increment lost");
    assert!(!round.acked.is_empty());
}

/// Keeps `Config` in use for readers of this file: the DSN is the one parser.
#[allow(dead_code)]
fn parsed(dsn: &str) -> Config {
    parse_dsn(dsn).unwrap()
}
