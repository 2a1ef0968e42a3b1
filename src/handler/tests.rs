//! Against the real Redis named by CANNON_REDIS_DSN (default redis://127.0.0.1:6379/0).
use super::*;
use crate::config::parse_dsn;

fn cfg(opts: &str) -> Config {
    let dsn = std::env::var("CANNON_REDIS_DSN").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let sep = if dsn.contains('?') { '&' } else { '?' };
    parse_dsn(&format!("{dsn}{sep}prefix=cannon_rust_handler_test:&{opts}")).unwrap()
}

/// Strict mode: an id whose lock another request holds past lock_wait_timeout is in use. It
/// must not be reported invalid (PHP would start a fresh empty session under a new id); the
/// read that follows fails with the lock timeout instead, without waiting a second time.
#[test]
fn validate_id_on_a_locked_id_fails_the_read_not_the_id() {
    let id = crate::id::generate(26).unwrap();
    let mut other = store::open(&cfg(""), "", crate::registry::generation).unwrap();
    other.write(&id, b"data", 60).unwrap();
    assert_eq!(other.read(&id, true).unwrap().as_deref(), Some(&b"data"[..]));

    let mut h = Handler::registered(cfg("lock_wait_timeout=0.1"), "", true);
    assert!(h.validate_id(&id).unwrap());
    let started = std::time::Instant::now();
    match h.read(&id) {
        Err(HandlerError::Store(StoreError::LockTimeout { .. })) => {}
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    // A second wait would take lock_wait_timeout (100 ms) again.
    assert!(started.elapsed() < std::time::Duration::from_millis(95), "the read waited again");
    assert_eq!(h.stats().lock_failures, 1);

    other.destroy(&id).unwrap();
    assert!(h.validate_id(&id).is_ok_and(|valid| !valid), "a missing session is still invalid");
    h.close().unwrap();
}
