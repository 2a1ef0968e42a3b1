//! Sentinel through the store, on the test bed (1 master + 1 replica + 3 sentinels on
//! loopback, started and stopped by the test). The figures are printed (`--nocapture`).
use crate::config::parse_dsn;
use crate::store::redis::testbed::{available, info_field, text, wait_for, SentinelBed, SERVICE};
use crate::store::redis::RedisStore;
use crate::store::{SessionStore, StoreError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// Every node down: a clear error naming each, within connect_timeout (0.2 s) per node.
fn unreachable_nodes_fail_within_the_bound(what: &str, dsn: impl Fn(u16, u16) -> String) {
    let (a, b) = (crate::testutil::free_port(), crate::testutil::free_port());
    let mut s = store(&dsn(a, b));
    let t0 = Instant::now();
    let e = s.read("x", true).unwrap_err();
    let took = t0.elapsed();
    let m = e.to_string();
    assert!(matches!(e, StoreError::Connection(_)), "{m}");
    assert!(m.contains(&format!("127.0.0.1:{a}")) && m.contains(&format!("127.0.0.1:{b}")), "{m}");
    assert!(took < Duration::from_millis(2 * 200 + 300), "{took:?}");
    eprintln!("unreachable {what}: {m} (after {took:?})");
}

#[test]
fn unreachable_sentinels_fail_within_the_bound() {
    unreachable_nodes_fail_within_the_bound("sentinels", |a, b| {
        format!("redis+sentinel://127.0.0.1:{a},127.0.0.1:{b}/{SERVICE}?connect_timeout=0.2")
    });
}

#[test]
fn unreachable_cluster_seeds_fail_within_the_bound() {
    unreachable_nodes_fail_within_the_bound("cluster seeds", |a, b| {
        format!("redis+cluster://127.0.0.1:{a},127.0.0.1:{b}?connect_timeout=0.2")
    });
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

/// The extension built for PHP (`make test` builds it before the Rust tests), and `php`.
fn php_ext() -> Option<std::path::PathBuf> {
    let ext = std::env::var("CANNON_EXT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/libcannon_session.so"));
    let ok = ext.exists() && crate::testutil::have("php");
    if !ok {
        eprintln!("php or {} missing (cargo build --release builds it): PHP-level sentinel checks skipped", ext.display());
    }
    ok.then_some(ext)
}

/// A PHP process with the native handler on `dsn` running locked increments of session `id`
/// (`''`: a new one) `runs` times, or until the file `stop` exists; prints a JSON object: the id,
/// the values whose write was acknowledged (no warning), and the failed cycles.
const PHP_WRITER: &str = r#"
[$id, $runs, $stop] = [$argv[1], (int) $argv[2], $argv[3]];
$warned = false;
set_error_handler(function () use (&$warned) { $warned = true; return true; });
$acked = []; $failed = 0;
for ($i = 0; $i < $runs && !file_exists($stop); $i++) {
    $warned = false;
    if ($id !== '') { session_id($id); }
    if (!session_start()) { $failed++; usleep(20000); continue; }
    $id = session_id();
    $n = ($_SESSION['n'] ?? 0) + 1;
    $_SESSION['n'] = $n;
    session_write_close();
    if ($warned) { $failed++; usleep(20000); } else { $acked[] = $n; }
}
echo json_encode(['id' => $id, 'acked' => $acked, 'failed' => $failed]);
"#;

fn php_writer(ext: &std::path::Path, dsn: &str, id: &str, runs: u32, stop: &std::path::Path) -> std::process::Child {
    std::process::Command::new("php")
        .arg("-d")
        .arg(format!("extension={}", ext.display()))
        .args(["-d", "session.save_handler=cannon", "-d", "session.use_cookies=0", "-d", "session.cache_limiter="])
        .arg("-d")
        // Quoted: `&` and friends are operators in an INI value.
        .arg(format!("session.save_path=\"{dsn}\""))
        .args(["-r", PHP_WRITER, "--", id, &runs.to_string()])
        .arg(stop)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn php")
}

/// (id, acknowledged values, failed cycles) from a PHP writer's output.
fn php_result(child: std::process::Child) -> (String, Vec<u64>, u64) {
    let out = child.wait_with_output().expect("php");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let field = |name: &str| text.split(&format!("\"{name}\":")).nth(1).map(str::to_string).unwrap_or_default();
    let id = field("id").split('"').nth(1).unwrap_or("").to_string();
    let acked = field("acked");
    let acked: Vec<u64> = acked.trim_start_matches('[').split(']').next().unwrap_or("").split(',').filter_map(|v| v.trim().parse().ok()).collect();
    let failed = field("failed").trim_end_matches('}').trim().parse().unwrap_or(u64::MAX);
    assert!(!id.is_empty() && failed != u64::MAX, "php writer: {text} {err}");
    (id, acked, failed)
}

/// A store with the native handler's default key prefix.
fn native_store(dsn: &str) -> RedisStore {
    RedisStore::new(&parse_dsn(dsn).unwrap(), "PHPSESSID:", crate::registry::generation).unwrap()
}

/// `n` from PHP's session encoding `n|i:123;`.
fn session_n(data: &[u8]) -> u64 {
    let t = String::from_utf8_lossy(data);
    t.split("n|i:").nth(1).and_then(|r| r.split(';').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// What the 4 writers saw in one round.
struct Round {
    /// Values written and acknowledged: (value, when, master port it went to).
    acked: Vec<(u64, Instant, Option<u16>)>,
    failures: Vec<(Instant, String)>,
    /// When each writer first completed a cycle on the new master.
    first_on_new: Vec<Option<Instant>>,
}

#[allow(clippy::type_complexity)]
fn writer(dsn: String, id: String, stop: Arc<AtomicBool>, new_master: u16, on_new: Arc<AtomicUsize>) -> (Vec<(u64, Instant, Option<u16>)>, Vec<(Instant, String)>, Option<Instant>) {
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
                    on_new.fetch_add(1, Ordering::Relaxed);
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

/// One failover during 4 concurrent writers of locked increments on one session: `SENTINEL
/// FAILOVER` (then the round ends once the old master is back as a replica), or with `kill`,
/// SIGKILL of the master (the round ends once every writer works on the new master).
fn failover_round(b: &mut SentinelBed, dsn: &str, label: &str, kill: bool, php: Option<&std::path::Path>) -> (Round, u64) {
    let old = b.master_by(b.sentinels[0]).unwrap();
    let new = if old == b.master { b.replica } else { b.master };
    wait_for("the replica's link up before the failover", Duration::from_secs(30), || role_is_replica(b, new).then_some(()));
    let id = fresh_id("failover");
    let stop = Arc::new(AtomicBool::new(false));
    let on_new = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (dsn, id, stop, on_new) = (dsn.to_string(), id.clone(), stop.clone(), on_new.clone());
            std::thread::spawn(move || writer(dsn, id, stop, new, on_new))
        })
        .collect();
    // PHP processes with the native handler, on a session of their own, alongside.
    let php = php.map(|ext| {
        let stop = b.bed.dir().join(format!("stop-{id}"));
        let (php_id, _, _) = php_result(php_writer(ext, dsn, "", 1, &stop));
        let kids: Vec<_> = (0..4).map(|_| php_writer(ext, dsn, &php_id, u32::MAX, &stop)).collect();
        (stop, php_id, kids)
    });
    std::thread::sleep(Duration::from_millis(700));
    let t0 = if kill {
        b.kill9(old);
        Instant::now()
    } else {
        force_failover(b)
    };
    let named = wait_for("the sentinels to name the new master", Duration::from_secs(40), || {
        b.sentinels.iter().all(|&s| b.master_by(s) == Some(new)).then(Instant::now)
    });
    let rejoined = if kill {
        wait_for("every writer on the new master", Duration::from_secs(30), || (on_new.load(Ordering::Relaxed) == 4).then(Instant::now))
    } else {
        wait_for("the old master to come back as a replica", Duration::from_secs(40), || role_is_replica(b, old).then(Instant::now))
    };
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
        "[{label}] sentinels named the new master {} ms after the failover began; {} after {} ms",
        ms(named),
        if kill { "every writer on the new master" } else { "old master back as a replica" },
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
    let mut lost = (dups + above) as u64;
    if let Some((stop, php_id, kids)) = php {
        std::fs::write(&stop, b"").unwrap();
        let (mut values, mut failed) = (Vec::new(), 0);
        for k in kids {
            let (_, acked, f) = php_result(k);
            values.extend(acked);
            failed += f;
        }
        let data = native_store(dsn).read(&php_id, false).unwrap().unwrap_or_default();
        let final_value = session_n(&data);
        values.sort_unstable();
        let dups = values.windows(2).filter(|w| w[0] == w[1]).count();
        let above = values.iter().filter(|v| **v > final_value).count();
        eprintln!(
            "[{label}] PHP native handler, 4 processes: acked cycles {}, failed cycles {failed}, final value {final_value}, \
             lost updates {dups}, acked values rolled back {above}",
            values.len()
        );
        lost += (dups + above) as u64;
    }
    (round, lost)
}

#[test]
fn sentinel_store_cycles_failover_and_errors() {
    if !available() {
        return;
    }
    let (data_pw, sentinel_pw) = ("data-Pw-5e1b", "sentinel-Pw-0c7d");
    let mut b = SentinelBed::start(2000, 5000, Some((data_pw, sentinel_pw)));
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

    // PHP: session.save_handler=cannon on the sentinel DSN (with wait=1), across processes.
    if let Some(ext) = php_ext() {
        let wait1 = with(&dsn, "wait=1&wait_timeout=100");
        let stop = b.bed.dir().join("never");
        let (php_id, acked, failed) = php_result(php_writer(&ext, &wait1, "", 1, &stop));
        assert_eq!((acked, failed), (vec![1], 0));
        let (again, acked, failed) = php_result(php_writer(&ext, &wait1, &php_id, 50, &stop));
        assert_eq!((again.as_str(), acked, failed), (php_id.as_str(), (2..=51).collect::<Vec<u64>>(), 0));
        assert_eq!(native_store(&dsn).read(&php_id, false).unwrap().as_deref(), Some(&b"n|i:51;"[..]));
        eprintln!("PHP native handler on redis+sentinel:// with wait=1: 51 locked increments over 2 processes");
    }

    // A cached address that is a replica (as after a failover the process missed): the first
    // call gets READONLY, forgets it, rediscovers and runs again on the master.
    let mut s3 = store(&dsn);
    let key = s3.topo.as_ref().unwrap().key.clone();
    super::remember(&key, &("127.0.0.1".to_string(), b.replica));
    let id = fresh_id("readonly");
    assert_eq!(s3.read(&id, true).unwrap(), None);
    assert_eq!(master_port(&s3), Some(b.master));
    s3.write(&id, b"kept", 60).unwrap();
    assert_eq!(store(&dsn).read(&id, false).unwrap().as_deref(), Some(&b"kept"[..]));

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
    let ext = php_ext();
    let (_, lost) = failover_round(&mut b, &with(&dsn, "lock_ttl=2&lock_wait_timeout=3"), "SENTINEL FAILOVER, wait=0", false, None);
    eprintln!("[wait=0] lost acknowledged increments: {lost}");
    let wait1 = with(&dsn, "lock_ttl=2&lock_wait_timeout=3&wait=1&wait_timeout=100");
    let (round, lost) = failover_round(&mut b, &wait1, "SENTINEL FAILOVER, wait=1", false, ext.as_deref());
    assert_eq!(lost, 0, "wait=1: no acknowledged increment lost");
    assert!(!round.acked.is_empty());
    // SIGKILL of the master: no replica is left afterwards, so wait=1 could not succeed; the
    // figures are for wait=0 (what async replication had not shipped yet is lost).
    let (round, lost) = failover_round(&mut b, &with(&dsn, "lock_ttl=2&lock_wait_timeout=3"), "SIGKILL of the master, wait=0", true, None);
    eprintln!("[SIGKILL, wait=0] lost acknowledged increments: {lost}");
    assert!(!round.acked.is_empty());
}

/// Not a check: µs per locked cycle (1 KB) and per read-only cycle, interleaved rounds, on a
/// sentinel bed without passwords: the bed's master as a single node, through Sentinel, and
/// each with `wait=1` (`cargo test --release --no-default-features sentinel_perf -- --ignored
/// --nocapture`; `CANNON_CYCLES` of each, default 10000).
#[test]
#[ignore]
fn sentinel_perf() {
    if !available() {
        return;
    }
    let b = SentinelBed::start(2000, 5000, None);
    let n: u32 = std::env::var("CANNON_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(10000);
    let direct = format!("redis://127.0.0.1:{}/0", b.master);
    let variants = [
        ("single node", direct.clone()),
        ("sentinel", b.dsn()),
        ("single node wait=1", with(&direct, "wait=1&wait_timeout=100")),
        ("sentinel wait=1", with(&b.dsn(), "wait=1&wait_timeout=100")),
    ];
    let mut stores: Vec<RedisStore> = variants.iter().map(|(_, d)| store(d)).collect();
    let id = fresh_id("perf");
    let data = vec![b'x'; 1024];
    // Finely interleaved (100 cycles of each variant in turn) so that load from elsewhere on
    // the machine falls on every variant alike.
    let mut locked = vec![Duration::ZERO; variants.len()];
    let mut read_only = vec![Duration::ZERO; variants.len()];
    for s in stores.iter_mut() {
        s.write(&id, &data, 60).unwrap();
    }
    let chunk = 100;
    for _ in 0..(n / chunk).max(1) {
        for (i, s) in stores.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..chunk {
                s.read(&id, true).unwrap();
                s.write(&id, &data, 60).unwrap();
            }
            locked[i] += t.elapsed();
            let t = Instant::now();
            for _ in 0..chunk {
                s.read_refresh(&id, 60).unwrap();
            }
            read_only[i] += t.elapsed();
        }
    }
    let cycles = f64::from((n / chunk).max(1) * chunk);
    for (i, (name, _)) in variants.iter().enumerate() {
        eprintln!(
            "sentinel_perf: {name}: locked cycle {:.1} µs, read-only {:.1} µs ({cycles} each, interleaved)",
            locked[i].as_secs_f64() * 1e6 / cycles,
            read_only[i].as_secs_f64() * 1e6 / cycles
        );
    }
    if let Some(t) = stores[1].topo.as_ref() {
        eprintln!("sentinel_perf: sentinel checks made by the sentinel store: {}", t.checks);
    }
}
