//! Against the real Redis named by CANNON_REDIS_DSN (default redis://127.0.0.1:6379/0).
use super::*;
use crate::config::parse_dsn;
use std::net::TcpListener;

fn dsn() -> String {
    std::env::var("CANNON_REDIS_DSN").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

fn store_with(opts: &str) -> RedisStore {
    let sep = if dsn().contains('?') { "&" } else { "?" };
    let cfg = parse_dsn(&format!("{}{}{}", dsn(), sep, opts)).unwrap();
    RedisStore::new(&cfg, "cannon_rust_test:", crate::registry::generation).unwrap()
}

fn store() -> RedisStore {
    store_with("timeout=2")
}

fn fresh_id(tag: &str) -> String {
    format!("{tag}-{}", crate::id::generate(24).unwrap())
}

#[test]
fn round_trip_binary_and_missing() {
    let mut s = store();
    let id = fresh_id("rt");
    assert_eq!(s.read(&id, false).unwrap(), None);
    let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    s.write(&id, &data, 60).unwrap();
    assert_eq!(s.read(&id, false).unwrap(), Some(data));
    assert!(s.exists(&id).unwrap());
    s.destroy(&id).unwrap();
    assert!(!s.exists(&id).unwrap());
    assert_eq!(s.read(&id, false).unwrap(), None);
}

#[test]
fn eight_megabytes() {
    let mut s = store();
    let id = fresh_id("big");
    let data: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    s.write(&id, &data, 60).unwrap();
    assert_eq!(s.read(&id, true).unwrap().as_deref(), Some(&data[..]));
    s.touch(&id, 60).unwrap();
    s.destroy(&id).unwrap();
}

#[test]
fn too_large_is_refused_and_old_data_kept() {
    let mut s = store_with("max_size=2048");
    let id = fresh_id("max");
    s.write(&id, b"old", 60).unwrap();
    let err = s.write(&id, &vec![b'x'; 4096], 60).unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    assert_eq!(s.read(&id, false).unwrap().as_deref(), Some(&b"old"[..]));
    s.destroy(&id).unwrap();
}

#[test]
fn expiry_without_gc() {
    let mut s = store();
    let id = fresh_id("exp");
    s.write(&id, b"x", 1).unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(s.read(&id, false).unwrap(), None);
    assert_eq!(s.gc(1).unwrap(), 0);
}

#[test]
fn touch_keeps_data_and_extends() {
    let mut s = store();
    let id = fresh_id("touch");
    s.write(&id, b"keep", 2).unwrap();
    s.touch(&id, 60).unwrap();
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(s.read(&id, false).unwrap().as_deref(), Some(&b"keep"[..]));
    s.destroy(&id).unwrap();
}

#[test]
fn a_locked_cycle_is_two_round_trips() {
    let mut s = store();
    let id = fresh_id("rtt");
    s.write(&id, b"v", 60).unwrap(); // warms the connection and loads nothing else
    let before = s.round_trips();
    assert_eq!(s.read(&id, true).unwrap().as_deref(), Some(&b"v"[..]));
    s.write(&id, b"w", 60).unwrap();
    // EVALSHA can miss once per server (NOSCRIPT); run a second cycle to count the steady state.
    let before2 = s.round_trips();
    s.read(&id, true).unwrap();
    s.write(&id, b"x", 60).unwrap();
    assert!(s.round_trips() - before <= 4 + 2);
    assert_eq!(s.round_trips() - before2, 2);
    let before3 = s.round_trips();
    s.read(&id, true).unwrap();
    s.touch(&id, 60).unwrap();
    assert_eq!(s.round_trips() - before3, 2);
    s.destroy(&id).unwrap();
}

#[test]
fn a_read_only_locked_cycle_waits_for_one_round_trip() {
    let mut s = store();
    let id = fresh_id("ro");
    s.write(&id, b"v", 5).unwrap();
    let before = s.round_trips();
    // The locked read refreshes the expiry (GETEX) beside taking the lock...
    let (data, refreshed) = s.lock_read_refresh(&id, 600).unwrap();
    assert_eq!((data.as_deref(), refreshed), (Some(&b"v"[..]), true));
    // ...so lazy write only releases the lock, and does not wait for the reply.
    s.unlock(&id).unwrap();
    assert_eq!(s.round_trips() - before, 1);
    assert!(s.locks.in_flight.is_some());
    // The lock is free at once for everybody else, and the expiry was refreshed.
    let mut other = store_with("lock_wait_timeout=0.2");
    let t = Instant::now();
    assert_eq!(other.read(&id, true).unwrap().as_deref(), Some(&b"v"[..]));
    assert!(t.elapsed() < Duration::from_millis(150), "{:?}", t.elapsed());
    other.unlock(&id).unwrap();
    let key = String::from_utf8(s.keys.of(&id).data().to_vec()).unwrap();
    let ttl = s.run(false, |c| c.cmd(&[b"TTL", key.as_bytes()])).unwrap();
    assert!(matches!(ttl, Reply::Int(t) if t > 500), "{ttl:?}");
    // That command also read the release's reply: nothing is owed any more.
    assert!(s.locks.in_flight.is_none());
    assert!(s.locks.orphans.is_empty());
    s.destroy(&id).unwrap();
}

#[test]
fn a_release_in_flight_is_settled_before_disconnect() {
    let mut s = store();
    let id = fresh_id("rofl");
    s.lock_read_refresh(&id, 60).unwrap();
    s.unlock(&id).unwrap();
    s.disconnect();
    assert!(s.locks.in_flight.is_none());
    assert!(s.locks.orphans.is_empty());
    let mut other = store_with("lock_wait_timeout=0.2");
    other.read(&id, true).unwrap();
    other.unlock(&id).unwrap();
}

/// A user that may do everything but DEL: a release sent without waiting then fails.
struct NoDelUser {
    name: String,
    admin: RedisStore,
}

impl NoDelUser {
    fn create() -> NoDelUser {
        let mut admin = store();
        let name = format!("cannon-nodel-{}", crate::id::generate(8).unwrap());
        let r = admin
            .run(false, |c| c.cmd(&[b"ACL", b"SETUSER", name.as_bytes(), b"on", b">nodel-pw", b"~*", b"&*", b"+@all", b"-del"]))
            .unwrap();
        assert!(matches!(r, Reply::Status(_)), "{r:?}");
        NoDelUser { name, admin }
    }
    fn store(&self, opts: &str) -> RedisStore {
        let addr = dsn().trim_start_matches("redis://").split('/').next().unwrap().to_string();
        let cfg = parse_dsn(&format!("redis://{}:nodel-pw@{addr}/0?{opts}", self.name)).unwrap();
        RedisStore::new(&cfg, "cannon_rust_test:", crate::registry::generation).unwrap()
    }
}

impl Drop for NoDelUser {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = self.admin.run(false, |c| c.cmd(&[b"ACL", b"DELUSER", name.as_bytes()]));
    }
}

#[test]
fn a_failed_release_in_flight_does_not_lock_this_process_out() {
    let user = NoDelUser::create();
    let mut s = user.store("timeout=2&lock_wait_timeout=1&lock_ttl=30");
    let id = fresh_id("rofail");
    s.lock_read_refresh(&id, 60).unwrap();
    s.unlock(&id).unwrap(); // the DEL is refused, but nobody waits to hear it
    // The next locked read of the same session reuses the token, so the lock that is still
    // there is recognised as ours instead of being waited for until lock_ttl.
    let t = Instant::now();
    s.lock_read_refresh(&id, 60).unwrap();
    assert!(t.elapsed() < Duration::from_millis(200), "{:?}", t.elapsed());
    assert_eq!(s.held_lock(), Some(id.as_str()));
    // Released for real by a user that may.
    let mut admin = store();
    let lock_key = s.keys.of(&id).lock().to_vec();
    admin.run(false, |c| c.cmd(&[b"DEL", &lock_key])).unwrap();
}

#[test]
fn a_failed_release_in_flight_becomes_an_orphan() {
    let user = NoDelUser::create();
    let mut s = user.store("timeout=2&lock_wait_timeout=1&lock_ttl=30");
    let (id, other) = (fresh_id("rofo1"), fresh_id("rofo2"));
    s.lock_read_refresh(&id, 60).unwrap();
    s.unlock(&id).unwrap();
    // Any next command reads the refused DEL's reply: the lock is remembered, not forgotten.
    assert!(s.exists(&other).is_ok());
    assert!(s.locks.in_flight.is_none());
    assert_eq!(s.locks.orphans.len(), 1);
    assert_eq!(s.locks.orphans[0].0, id);
}

#[test]
fn a_refused_release_in_a_pipeline_is_kept_as_an_orphan() {
    // The write is done, the DEL after it refused: the lock is still there under our token.
    let user = NoDelUser::create();
    let mut s = user.store("timeout=2&lock_wait_timeout=1&lock_ttl=30");
    let id = fresh_id("pipefail");
    s.read(&id, true).unwrap();
    let e = s.write(&id, b"v", 60).unwrap_err();
    assert_eq!(e.server_kind(), Some(ServerErrorKind::Auth), "{e}");
    assert_eq!(s.locks.orphans.len(), 1);
    // So this process is not locked out by it.
    let t = Instant::now();
    assert_eq!(s.read(&id, true).unwrap().as_deref(), Some(&b"v"[..]));
    assert!(t.elapsed() < Duration::from_millis(200), "{:?}", t.elapsed());
    let mut admin = store();
    let keys = s.keys.of(&id);
    admin.run(false, |c| c.cmd(&[b"DEL", keys.data(), keys.lock()])).unwrap();
}

#[test]
fn touch_and_destroy_release_the_lock_by_pipeline_and_by_script() {
    // lock_ttl=0.2 is all margin: never surely ours, so the checking scripts run.
    for opts in ["timeout=2&lock_ttl=30", "timeout=2&lock_ttl=0.2"] {
        let mut s = store_with(opts);
        let id = fresh_id("fin");
        s.write(&id, b"v", 60).unwrap();
        s.read(&id, true).unwrap();
        s.touch(&id, 60).unwrap();
        assert_eq!(s.held_lock(), None);
        let mut other = store_with("lock_wait_timeout=0.1");
        assert_eq!(other.read(&id, true).unwrap().as_deref(), Some(&b"v"[..]), "{opts}");
        other.unlock(&id).unwrap();
        s.read(&id, true).unwrap();
        s.destroy(&id).unwrap();
        assert!(!s.exists(&id).unwrap());
        let lock = s.keys.of(&id).lock().to_vec();
        assert_eq!(s.run(false, |c| c.cmd(&[b"EXISTS", &lock])).unwrap(), Reply::Int(0), "{opts}");
    }
}

#[test]
fn lock_excludes_and_hands_over() {
    let id = fresh_id("lock");
    let mut a = store();
    let mut b = store_with("lock_wait_timeout=0.3");
    a.read(&id, true).unwrap();
    assert_eq!(a.held_lock(), Some(id.as_str()));
    let t = Instant::now();
    let e = b.read(&id, true).unwrap_err();
    assert!(matches!(e, StoreError::LockTimeout { .. }), "{e}");
    assert!(t.elapsed() >= Duration::from_millis(290) && t.elapsed() < Duration::from_millis(800));
    a.write(&id, b"from a", 60).unwrap();
    assert_eq!(a.held_lock(), None);
    assert_eq!(b.read(&id, true).unwrap().as_deref(), Some(&b"from a"[..]));
    b.unlock(&id).unwrap();
    b.destroy(&id).unwrap();
}

#[test]
fn concurrent_locked_increments_lose_nothing() {
    let id = fresh_id("inc");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let id = id.clone();
            std::thread::spawn(move || {
                let mut s = store();
                for _ in 0..50 {
                    let n: u64 = s
                        .read(&id, true)
                        .unwrap()
                        .map(|b| String::from_utf8(b).unwrap().parse().unwrap())
                        .unwrap_or(0);
                    s.write(&id, (n + 1).to_string().as_bytes(), 60).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut s = store();
    assert_eq!(s.read(&id, false).unwrap().as_deref(), Some(&b"200"[..]));
    s.destroy(&id).unwrap();
}

#[test]
fn an_expired_lock_taken_by_another_refuses_the_late_write() {
    let id = fresh_id("late");
    let mut slow = store_with("lock_ttl=0.2");
    let mut next = store();
    slow.write(&id, b"v0", 60).unwrap();
    slow.read(&id, true).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    next.read(&id, true).unwrap();
    next.write(&id, b"v-next", 60).unwrap();
    assert!(matches!(slow.write(&id, b"v-slow", 60), Err(StoreError::LockLost)));
    assert_eq!(next.read(&id, false).unwrap().as_deref(), Some(&b"v-next"[..]));

    // Expired but nobody else came: the write goes through.
    slow.read(&id, true).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    slow.write(&id, b"v-alone", 60).unwrap();
    assert_eq!(next.read(&id, false).unwrap().as_deref(), Some(&b"v-alone"[..]));
    next.destroy(&id).unwrap();
}

#[test]
fn unreachable_fails_fast() {
    let cfg = parse_dsn("redis://127.0.0.1:1?connect_timeout=0.5").unwrap();
    let mut s = RedisStore::new(&cfg, "x:", crate::registry::generation).unwrap();
    let t = Instant::now();
    assert!(matches!(s.read("abc", false), Err(StoreError::Connection(_))));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_silent_server_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let cfg = parse_dsn(&format!("redis://127.0.0.1:{port}?timeout=0.3")).unwrap();
    let mut s = RedisStore::new(&cfg, "x:", crate::registry::generation).unwrap();
    let t = Instant::now();
    let e = s.read("abc", true).unwrap_err();
    assert!(matches!(e, StoreError::Timeout(_)), "{e}");
    assert!(t.elapsed() < Duration::from_millis(1000), "{:?}", t.elapsed());
    drop(l);
}

#[test]
fn reconnects_after_the_server_closed_the_connection() {
    let mut s = store();
    let id = fresh_id("reco");
    s.write(&id, b"a", 60).unwrap();
    // Kill this store's connection from another client, as a Redis restart or timeout would.
    let Reply::Int(client_id) = s.run(false, |c| c.cmd(&[b"CLIENT", b"ID"])?.ok()).unwrap() else { panic!() };
    let mut admin = store();
    let cid = client_id.to_string();
    admin.run(false, |c| c.cmd(&[b"CLIENT", b"KILL", b"ID", cid.as_bytes()])?.ok()).unwrap();
    assert_eq!(s.read(&id, false).unwrap().as_deref(), Some(&b"a"[..]));
    s.destroy(&id).unwrap();
}

/// Points the store at a port nobody listens on (the server "went away") or back.
fn set_port(s: &mut RedisStore, port: u16) {
    s.disconnect();
    if let crate::config::RedisAddr::Tcp { port: p, .. } = &mut s.cfg.addr {
        *p = port;
    }
}

fn real_port(s: &RedisStore) -> u16 {
    match &s.cfg.addr {
        crate::config::RedisAddr::Tcp { port, .. } => *port,
        _ => panic!("the tests need redis over TCP"),
    }
}

#[test]
fn a_failed_write_does_not_lock_the_session_out() {
    // Redis died (or timed out) between the locked read and the write: the lock stayed in Redis
    // (AOF) under this request's token. The next request of this process must not wait for it.
    let mut s = store_with("timeout=2&lock_wait_timeout=1&lock_ttl=30");
    let port = real_port(&s);
    let id = fresh_id("orph");
    s.write(&id, b"old", 60).unwrap();
    assert_eq!(s.read(&id, true).unwrap().as_deref(), Some(&b"old"[..]));
    set_port(&mut s, 1);
    assert!(matches!(s.write(&id, b"new", 60), Err(StoreError::Connection(_))));
    set_port(&mut s, port);
    let t = Instant::now();
    assert_eq!(s.read(&id, true).unwrap().as_deref(), Some(&b"old"[..]));
    assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
    s.write(&id, b"new", 60).unwrap();
    s.destroy(&id).unwrap();
}

#[test]
fn a_lock_left_by_a_failed_call_is_released_by_the_next_locked_read() {
    let mut s = store_with("timeout=2&lock_wait_timeout=1&lock_ttl=30");
    let port = real_port(&s);
    let (id, other) = (fresh_id("orph1"), fresh_id("orph2"));
    s.read(&id, true).unwrap();
    set_port(&mut s, 1);
    assert!(s.touch(&id, 60).is_err());
    set_port(&mut s, port);
    // This process moves on to another session: the forgotten lock goes first.
    s.read(&other, true).unwrap();
    s.unlock(&other).unwrap();
    let mut next = store_with("timeout=2&lock_wait_timeout=0.3");
    let t = Instant::now();
    assert_eq!(next.read(&id, true).unwrap(), None);
    assert!(t.elapsed() < Duration::from_millis(200), "{:?}", t.elapsed());
    next.unlock(&id).unwrap();
}

#[test]
fn a_lost_lock_read_reply_does_not_lock_the_session_out() {
    // A silent server: the locked read times out, its outcome unknown. Remembered, not leaked.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = store_with("timeout=0.3&lock_wait_timeout=1&lock_ttl=30");
    let port = real_port(&s);
    let id = fresh_id("orph3");
    set_port(&mut s, l.local_addr().unwrap().port());
    assert!(matches!(s.read(&id, true), Err(StoreError::Timeout(_))));
    assert_eq!(s.locks.orphans.len(), 1);
    set_port(&mut s, port);
    s.read(&id, true).unwrap();
    assert!(s.locks.orphans.is_empty());
    s.destroy(&id).unwrap();
    drop(l);
}

#[test]
fn wrong_password_is_an_error_without_the_password() {
    let cfg = parse_dsn(&format!("{}?prefix=x:", dsn().replace("redis://", "redis://:hunter2secret@"))).unwrap();
    let mut s = RedisStore::new(&cfg, "x:", crate::registry::generation).unwrap();
    let e = s.read("abc", false).unwrap_err();
    assert!(!e.to_string().contains("hunter2secret"), "{e}");
}

/// A private TLS redis-server with a CA made for the test (openssl CLI), stopped on drop.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tls_redis(require_client_cert: bool) -> Option<TlsRedis> {
    if !crate::testutil::have("openssl") {
        eprintln!("openssl not installed: TLS test skipped");
        return None;
    }
    let dir = crate::testutil::temp_dir("tls-redis");
    crate::testutil::make_certs(&dir);
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--tls-cert-file", "server.pem", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.pem"])
        .args(["--tls-auth-clients", if require_client_cert { "yes" } else { "no" }])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let r = TlsRedis { child, port, dir };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(r);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("TLS redis-server did not start");
}

fn tls_store(dsn: &str) -> RedisStore {
    RedisStore::new(&parse_dsn(dsn).unwrap(), "tls:", crate::registry::generation).unwrap()
}

#[test]
fn tls_verifies_the_server_with_the_given_ca() {
    let Some(r) = tls_redis(false) else { return };
    let d = r.dir.display();
    let mut s = tls_store(&format!("rediss://127.0.0.1:{}?tls_ca={d}/ca.pem&timeout=2", r.port));
    s.write("tlsid", b"over tls", 60).unwrap();
    assert_eq!(s.read("tlsid", true).unwrap().as_deref(), Some(&b"over tls"[..]));
    s.unlock("tlsid").unwrap();

    // A CA that did not sign the server's certificate: refused.
    let mut wrong = tls_store(&format!("rediss://127.0.0.1:{}?tls_ca={d}/other-ca.pem&timeout=2", r.port));
    let e = wrong.read("tlsid", false).unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");

    // The certificate names localhost and 127.0.0.1, not this name.
    let mut misnamed = tls_store(&format!("rediss://127.0.0.1:{}?tls_ca={d}/ca.pem&tls_server_name=evil.example&timeout=2", r.port));
    assert!(misnamed.read("tlsid", false).is_err());

    // tls_verify=0 encrypts without checking.
    let mut unchecked = tls_store(&format!("rediss://127.0.0.1:{}?tls_verify=0&timeout=2", r.port));
    assert_eq!(unchecked.read("tlsid", false).unwrap().as_deref(), Some(&b"over tls"[..]));

    // Plain text to a TLS port fails within the timeout instead of hanging.
    let mut plain = tls_store(&format!("redis://127.0.0.1:{}?timeout=0.5", r.port));
    assert!(plain.read("tlsid", false).is_err());
}

#[test]
fn tls_client_certificate() {
    let Some(r) = tls_redis(true) else { return };
    let d = r.dir.display();
    let mut with_cert = tls_store(&format!(
        "rediss://127.0.0.1:{}?tls_ca={d}/ca.pem&tls_cert={d}/client.pem&tls_key={d}/client.key&timeout=2",
        r.port
    ));
    with_cert.write("c", b"1", 60).unwrap();
    let mut without = tls_store(&format!("rediss://127.0.0.1:{}?tls_ca={d}/ca.pem&timeout=2", r.port));
    assert!(without.read("c", false).is_err());
}

/// Not a check: times `CANNON_CYCLES` (default 2000) locked cycles of 1 KB and `CANNON_RO_CYCLES`
/// (default the same) read-only cycles, for before/after comparisons (`cargo test --release
/// ... perf_cycles -- --ignored --nocapture`, or under callgrind with two counts, to get
/// instructions per cycle by difference).
#[test]
#[ignore]
fn perf_cycles() {
    let var = |name: &str, default: u32| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let n = var("CANNON_CYCLES", 2000);
    let m = var("CANNON_RO_CYCLES", n);
    let mut s = store();
    let id = fresh_id("perf");
    let data = vec![b'x'; 1024];
    s.write(&id, &data, 60).unwrap();
    s.read(&id, true).unwrap();
    s.write(&id, &data, 60).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        s.read(&id, true).unwrap();
        s.write(&id, &data, 60).unwrap();
    }
    let locked = t.elapsed() / n.max(1);
    let t = Instant::now();
    for _ in 0..m {
        s.read_refresh(&id, 60).unwrap();
    }
    let read_only = t.elapsed() / m.max(1);
    eprintln!("perf_cycles: locked {locked:?}/cycle ({n}), read-only {read_only:?}/cycle ({m})");
    s.destroy(&id).unwrap();
}

#[test]
fn a_refused_select_drops_the_connection_instead_of_reading_stale_replies() {
    // A database the server does not have: SELECT, sent with the first command, is refused.
    let mut cfg = parse_dsn(&dsn()).unwrap();
    if let crate::config::Backend::Redis(r) = &mut cfg.backend {
        r.db = 99_999;
    }
    let mut s = RedisStore::new(&cfg, "cannon_rust_test:", crate::registry::generation).unwrap();
    for _ in 0..3 {
        match s.exists("refused-select") {
            Err(StoreError::Server(e)) => assert!(e.message.contains("set-up refused"), "{e:?}"),
            other => panic!("expected the refused set-up each time, got {other:?}"),
        }
        // Left open, the connection would answer the next call with this call's EXISTS reply.
        assert!(s.conn.is_none(), "a connection whose set-up was refused is dropped");
    }
}
