//! The registry: keys, one store per configuration, re-entry refused.
use super::*;
use crate::store::memory::{Clock, MemoryServer};

#[test]
fn store_keys_tell_passwords_and_prefixes_apart() {
    let a = crate::config::parse_dsn("redis://:one@127.0.0.1:6379/0").unwrap();
    let b = crate::config::parse_dsn("redis://:two@127.0.0.1:6379/0").unwrap();
    assert_ne!(store_key(&a, "p:"), store_key(&b, "p:"));
    assert_ne!(store_key(&a, "p:"), store_key(&a, "q:"));
    assert_eq!(store_key(&a, "p:"), store_key(&a.clone(), "p:"));
    assert!(!store_key(&a, "p:").contains("one"));
}

#[test]
fn a_store_is_built_once_and_reentry_is_refused() {
    let srv = MemoryServer::new(Clock::manual());
    let cfg = Config::redis_default();
    let key = "registry-test-memory";
    let mut built = 0;
    for _ in 0..2 {
        let r: Result<(), StoreError> = with_store(
            key,
            || {
                built += 1;
                Ok(Box::new(srv.store(&cfg)) as Box<dyn SessionStore>)
            },
            |s| {
                s.write("abcdefghijklmnopqrstuvwxyz", b"x", 60)?;
                let inner = with_store(key, || Err(StoreError::Busy), |_| Ok(()));
                assert!(matches!(inner, Err(StoreError::Busy)), "re-entry must be refused");
                Ok(())
            },
        );
        r.unwrap();
    }
    assert_eq!(built, 1);
    assert_eq!(srv.data("abcdefghijklmnopqrstuvwxyz").as_deref(), Some(&b"x"[..]));
}
