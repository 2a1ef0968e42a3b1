//! The session's life against the in-memory store: no server, a manual clock, milliseconds.
use super::cookie::{https_from, incoming_keys, CookieAction, CookieEnv, CookieSettings, SetCookie, HEADERS_SENT};
use super::save::{decide, Save, SKIPPED};
use super::settings::{from_values, SESSION_PREFIX};
use super::*;
use crate::config::{Backend, Config, LockFailPolicy, Serializer};
use crate::handler::{clamp_count, Handler, HandlerError};
use crate::store::memory::{Clock, MemoryServer, MemoryStore};
use crate::store::{SessionStore, StoreError};
use std::cell::RefCell;
use std::time::Duration;

type H = Handler<RefCell<MemoryStore>>;

const LIFETIME: u64 = 1440;

fn config(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::redis_default();
    c.lock_ttl = Duration::from_secs(30);
    c.lock_wait_timeout = Duration::from_secs(10);
    f(&mut c);
    c
}

fn server() -> MemoryServer {
    MemoryServer::new(Clock::manual())
}

/// A request's handler on `srv`, opened as PHP opens it.
fn handler(srv: &MemoryServer, cfg: &Config) -> H {
    let mut h = Handler::new(RefCell::new(srv.store(cfg)), cfg, true);
    h.begin_request(false, LIFETIME);
    h
}

fn trips(h: &H) -> u64 {
    h.stats().round_trips
}

/// A well-formed id (26 characters) that starts with `tag`.
fn sid(tag: &str) -> String {
    format!("{tag}{}", "x".repeat(26 - tag.len()))
}

/// A session stored by an earlier request, live for 100 s.
fn stored(srv: &MemoryServer, tag: &str, data: &[u8]) -> String {
    let id = sid(tag);
    srv.put(&id, data, Duration::from_secs(100));
    id
}

/// Another process holding `id`'s lock.
fn holder(srv: &MemoryServer, id: &str) -> MemoryStore {
    let mut other = srv.store(&config(|_| {}));
    other.read(id, true).unwrap();
    other
}

/// The Session API started on `id` (which must be live), locked.
fn open(h: &mut H, id: &str) -> SessionState {
    let mut st = SessionState::new();
    began(st.start(h, Some(id.as_bytes()), || None, false, 32, decode).unwrap());
    st
}

fn decode(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.starts_with(b"corrupt") {
        Err("corrupt".into())
    } else {
        Ok(bytes.to_vec())
    }
}

fn began(s: Started<Vec<u8>>) -> (String, Vec<u8>, bool) {
    match s {
        Started::Began { id, data, send_cookie, .. } => (id, data, send_cookie),
        Started::Already(id) => panic!("already started as {id}"),
    }
}

// --- strict mode: validate_id prefetches ------------------------------------------------------

#[test]
fn strict_mode_a_live_id_is_valid_and_its_read_costs_no_second_trip() {
    let srv = server();
    let id = stored(&srv, "live", b"data");
    let mut h = handler(&srv, &config(|_| {}));
    assert!(h.validate_id(&id).unwrap());
    assert_eq!(trips(&h), 1);
    assert_eq!(h.read(&id).unwrap(), b"data");
    assert_eq!(trips(&h), 1, "the read used what validate_id read");
    assert!(srv.is_locked(&id), "validate_id took the lock for the read");
}

#[test]
fn strict_mode_an_unknown_id_is_invalid_and_keeps_no_lock() {
    let srv = server();
    let mut h = handler(&srv, &config(|_| {}));
    let id = sid("unknown");
    assert!(!h.validate_id(&id).unwrap());
    assert!(!srv.is_locked(&id));
    assert_eq!(h.with_store(|s| Ok(s.held_lock().map(str::to_string))).unwrap(), None);
}

#[test]
fn strict_mode_a_malformed_id_is_invalid_without_asking_the_store() {
    let srv = server();
    let mut h = handler(&srv, &config(|_| {}));
    for bad in ["", "a b", "../etc", &"a".repeat(257)] {
        assert!(!h.validate_id(bad).unwrap(), "{bad:?}");
        assert!(matches!(h.read(bad), Err(HandlerError::InvalidId)));
    }
    assert_eq!(trips(&h), 0);
}

#[test]
fn strict_mode_a_locked_id_is_valid_and_the_read_fails_without_waiting_again() {
    let srv = server();
    let id = stored(&srv, "locked", b"data");
    let _other = holder(&srv, &id);
    let mut h = handler(&srv, &config(|c| c.lock_wait_timeout = Duration::from_millis(100)));
    assert!(h.validate_id(&id).unwrap(), "an id in use is not invalid");
    let after_wait = srv.clock().now();
    assert!(matches!(h.read(&id), Err(HandlerError::Store(StoreError::LockTimeout { .. }))));
    assert_eq!(srv.clock().now(), after_wait, "the read waited a second time");
    assert_eq!(h.stats().lock_failures, 1);
}

#[test]
fn strict_mode_while_holding_another_lock_only_existence_is_checked() {
    let srv = server();
    let (held, other) = (stored(&srv, "held", b"h"), stored(&srv, "other", b"o"));
    let mut h = handler(&srv, &config(|_| {}));
    h.read(&held).unwrap();
    assert!(h.validate_id(&other).unwrap());
    assert!(srv.is_locked(&held), "checking a candidate id kept the session's lock");
    assert!(!srv.is_locked(&other));
}

#[test]
fn strict_mode_a_prefetch_for_another_id_is_released_by_the_read() {
    let srv = server();
    let (a, b) = (sid("a"), sid("b"));
    srv.put(&a, b"a", Duration::from_secs(100));
    let mut h = handler(&srv, &config(|_| {}));
    assert!(h.validate_id(&a).unwrap());
    assert_eq!(h.read(&b).unwrap(), b"");
    assert!(!srv.is_locked(&a));
    assert!(srv.is_locked(&b));
}

// --- the Session API's start: id choice and the fixation guard ------------------------------

#[test]
fn start_resumes_a_live_session_holds_its_lock_and_sends_no_cookie() {
    let srv = server();
    let id = stored(&srv, "resume", b"stored");
    let mut h = handler(&srv, &config(|_| {}));
    let mut st = SessionState::new();
    let (got, data, send_cookie) = began(st.start(&mut h, Some(id.as_bytes()), || None, false, 32, decode).unwrap());
    assert_eq!((got.as_str(), data.as_slice(), send_cookie), (id.as_str(), &b"stored"[..], false));
    assert!(srv.is_locked(&id));
    assert!(matches!(st.start(&mut h, None, || None, false, 32, decode).unwrap(), Started::Already(i) if i == id));
}

#[test]
fn start_takes_the_argument_over_the_cookie_and_asks_the_cookie_only_without_one() {
    let srv = server();
    let (arg, cookie) = (stored(&srv, "arg", b"a"), stored(&srv, "cookie", b"c"));
    let mut h = handler(&srv, &config(|_| {}));
    let mut st = SessionState::new();
    let asked = |_: &str| -> Option<Vec<u8>> { panic!("the cookie was read") };
    let (id, data, send_cookie) = began(st.start(&mut h, Some(arg.as_bytes()), || asked(""), false, 32, decode).unwrap());
    // As before: the cookie is sent only when the id used is not the one asked for.
    assert_eq!((id.as_str(), data.as_slice(), send_cookie), (arg.as_str(), &b"a"[..], false));
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"a".to_vec())).unwrap();
    let mut st = SessionState::new();
    let (id, data, send_cookie) = began(st.start(&mut h, None, || Some(cookie.clone().into_bytes()), false, 32, decode).unwrap());
    assert_eq!((id.as_str(), data.as_slice(), send_cookie), (cookie.as_str(), &b"c"[..], false));
}

#[test]
fn start_asks_for_the_end_of_request_close_once_per_object() {
    let (_srv, mut h, id, mut st) = session("auto");
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"data".to_vec())).unwrap();
    match st.start(&mut h, Some(id.as_bytes()), || None, false, 32, decode).unwrap() {
        Started::Began { auto_close, .. } => assert!(!auto_close, "registered by the first start already"),
        other => panic!("{other:?}"),
    }
    let mut fresh = SessionState::new();
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"data".to_vec())).unwrap();
    match fresh.start(&mut h, Some(id.as_bytes()), || None, false, 32, decode).unwrap() {
        Started::Began { auto_close, .. } => assert!(auto_close),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fixation_guard_an_unknown_id_is_never_adopted() {
    let srv = server();
    let planted = sid("planted");
    let mut h = handler(&srv, &config(|_| {}));
    let mut st = SessionState::new();
    let (id, data, send_cookie) = began(st.start(&mut h, Some(planted.as_bytes()), || None, false, 32, decode).unwrap());
    assert_ne!(id, planted);
    assert_eq!(id.len(), 32);
    assert!(data.is_empty() && send_cookie);
    assert!(!srv.is_locked(&planted), "the unknown id's lock was dropped");
    // Nothing is stored under the fresh id yet: close writes even an empty-looking session.
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"a:0:{}".to_vec())).unwrap();
    assert_eq!(srv.data(&id).as_deref(), Some(&b"a:0:{}"[..]));
    assert_eq!(srv.data(&planted), None);
}

#[test]
fn fixation_guard_a_malformed_or_missing_id_starts_fresh_without_reading_it() {
    let srv = server();
    for wanted in [None, Some(&b""[..]), Some(b"short"), Some(b"has spaces in it, twenty-two+"), Some(b"\xff\xfe not utf-8 at all......")] {
        let mut h = handler(&srv, &config(|_| {}));
        let mut st = SessionState::new();
        let (id, _, send_cookie) = began(st.start(&mut h, wanted, || None, false, 26, decode).unwrap());
        assert!(crate::id::is_well_formed(id.as_bytes()));
        assert!(send_cookie, "{wanted:?}");
        assert_eq!(trips(&h), 1, "only the new id's collision check: {wanted:?}");
    }
}

#[test]
fn start_with_data_that_does_not_decode_fails_and_releases_the_lock() {
    let srv = server();
    let id = stored(&srv, "corrupt", b"corrupt bytes");
    let mut h = handler(&srv, &config(|_| {}));
    let mut st = SessionState::new();
    match st.start(&mut h, Some(id.as_bytes()), || None, false, 32, decode) {
        Err(SessionError::Data(e)) => assert_eq!(e, "corrupt"),
        other => panic!("{other:?}"),
    }
    assert!(!srv.is_locked(&id));
    assert!(!st.started);
    assert_eq!(srv.data(&id).as_deref(), Some(&b"corrupt bytes"[..]), "the stored data is left as it was");
}

// --- the lazy-write decision -----------------------------------------------------------------

#[test]
fn lazy_write_decision_table() {
    assert_eq!(decide(true, false, false), Save::Write);
    assert_eq!(decide(true, false, true), Save::Write);
    assert_eq!(decide(false, false, false), Save::Touch);
    assert_eq!(decide(false, false, true), Save::UnlockOnly);
    assert_eq!(decide(true, true, true), Save::Skip { notice: true });
    assert_eq!(decide(false, true, false), Save::Skip { notice: false });
    assert!(save::changed(None, b"x"), "nothing stored yet: write");
    assert!(save::changed(Some(b"a"), b"b"));
    assert!(!save::changed(Some(b"a"), b"a"));
    assert!(save::changed(Some(b""), b""), "empty data is always written");
}

#[test]
fn lazy_write_unchanged_after_a_refreshing_read_only_unlocks() {
    let srv = server();
    let id = stored(&srv, "unlockonly", b"same");
    let mut h = handler(&srv, &config(|_| {}));
    let mut st = open(&mut h, &id);
    assert_eq!(srv.ttl_left(&id), Some(LIFETIME), "the locked read refreshed the expiry");
    srv.clock().advance(Duration::from_secs(10));
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"same".to_vec())).unwrap();
    assert_eq!(srv.ttl_left(&id), Some(LIFETIME - 10), "no second refresh");
    assert_eq!(trips(&h), 2, "the read, then the unlock");
    assert!(!srv.is_locked(&id));
}

#[test]
fn lazy_write_unchanged_without_a_refreshing_read_touches() {
    let srv = server();
    srv.set_refresh_on_read(false); // as MySQL: the read cannot refresh
    let id = stored(&srv, "touch", b"same");
    let mut h = handler(&srv, &config(|_| {}));
    let mut st = open(&mut h, &id);
    srv.clock().advance(Duration::from_secs(10));
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"same".to_vec())).unwrap();
    assert_eq!(srv.ttl_left(&id), Some(LIFETIME));
    assert_eq!(srv.data(&id).as_deref(), Some(&b"same"[..]));
    assert!(!srv.is_locked(&id));
}

#[test]
fn lazy_write_a_refresh_to_another_lifetime_is_not_taken_for_this_one() {
    let srv = server();
    let id = stored(&srv, "otherttl", b"same");
    let mut h = handler(&srv, &config(|_| {}));
    h.read(&id).unwrap();
    // PHP's gc_maxlifetime changed between read and write: the expiry must be set again.
    h.update_timestamp(&id, 60).unwrap();
    assert_eq!(srv.ttl_left(&id), Some(60));
}

#[test]
fn lazy_write_changed_data_is_written_and_the_lock_released() {
    let srv = server();
    let id = stored(&srv, "changed", b"old");
    let mut h = handler(&srv, &config(|_| {}));
    let mut st = open(&mut h, &id);
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"new".to_vec())).unwrap();
    assert_eq!(srv.data(&id).as_deref(), Some(&b"new"[..]));
    assert!(!srv.is_locked(&id));
    // A second close does nothing (it also runs at the end of the request).
    let before = trips(&h);
    st.close(&mut h, LIFETIME, || -> Result<Vec<u8>, String> { panic!("encoded twice") }).unwrap();
    assert_eq!(trips(&h), before);
}

#[test]
fn lazy_write_a_read_only_session_stores_nothing_and_takes_no_lock() {
    let srv = server();
    let id = stored(&srv, "readonly", b"old");
    let _other = holder(&srv, &id);
    let mut h = handler(&srv, &config(|_| {}));
    let mut st = SessionState::new();
    let t0 = srv.clock().now();
    let (got, data, _) = began(st.start(&mut h, Some(id.as_bytes()), || None, true, 32, decode).unwrap());
    assert_eq!((got.as_str(), data.as_slice()), (id.as_str(), &b"old"[..]));
    assert_eq!(srv.clock().now(), t0, "a read-only start never waits");
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"changed".to_vec())).unwrap();
    assert_eq!(srv.data(&id).as_deref(), Some(&b"old"[..]));
    assert!(h.take_notices().is_empty());
}

// --- lock policies ---------------------------------------------------------------------------

#[test]
fn lock_policy_fail_reports_the_lock_timeout_after_the_wait() {
    let srv = server();
    let id = sid("fail");
    let _other = holder(&srv, &id);
    let mut h = handler(&srv, &config(|c| c.lock_wait_timeout = Duration::from_secs(10)));
    match h.read(&id) {
        Err(HandlerError::Store(StoreError::LockTimeout { waited_ms, .. })) => assert_eq!(waited_ms, 10_000),
        other => panic!("{other:?}"),
    }
    assert_eq!(srv.clock().now(), Duration::from_secs(10));
}

#[test]
fn lock_policy_readonly_falls_back_to_an_unlocked_read_and_skips_the_write() {
    let srv = server();
    let id = stored(&srv, "fallback", b"theirs");
    let _other = holder(&srv, &id);
    let mut h = handler(&srv, &config(|c| c.lock_fail = LockFailPolicy::ReadOnly));
    assert_eq!(h.read(&id).unwrap(), b"theirs");
    let notices = h.take_notices();
    assert_eq!(notices.len(), 1);
    assert!(notices[0].contains("opened read-only"), "{notices:?}");
    h.write(&id, b"mine", LIFETIME).unwrap();
    assert_eq!(h.take_notices(), vec![SKIPPED.to_string()]);
    h.update_timestamp(&id, LIFETIME).unwrap();
    assert!(h.take_notices().is_empty(), "an unchanged read-only session says nothing");
    assert_eq!(srv.data(&id).as_deref(), Some(&b"theirs"[..]));
    assert!(srv.is_locked(&id), "the holder's lock is untouched");
}

#[test]
fn lock_policy_an_expired_lock_lets_the_waiter_in_and_refuses_the_old_holders_write() {
    let srv = server();
    let id = sid("expiry");
    let cfg = config(|c| c.lock_ttl = Duration::from_secs(2));
    let mut a = handler(&srv, &cfg);
    let mut b = handler(&srv, &cfg);
    a.read(&id).unwrap();
    assert_eq!(b.read(&id).unwrap(), b"", "b waited for a's lock to expire");
    assert!(srv.clock().now() >= Duration::from_secs(2));
    b.write(&id, b"b", LIFETIME).unwrap();
    assert!(matches!(a.write(&id, b"a", LIFETIME), Err(HandlerError::Store(StoreError::LockLost))));
    assert_eq!(srv.data(&id).as_deref(), Some(&b"b"[..]));
}

#[test]
fn lock_policy_an_expired_lock_nobody_touched_still_writes() {
    let srv = server();
    let id = sid("untouched");
    let mut a = handler(&srv, &config(|c| c.lock_ttl = Duration::from_secs(2)));
    a.read(&id).unwrap();
    srv.clock().advance(Duration::from_secs(5));
    a.write(&id, b"late", LIFETIME).unwrap();
    assert_eq!(srv.data(&id).as_deref(), Some(&b"late"[..]));
}

#[test]
fn lock_policy_a_release_never_frees_another_requests_lock() {
    let srv = server();
    let id = sid("token");
    let cfg = config(|c| c.lock_ttl = Duration::from_secs(2));
    let mut a = handler(&srv, &cfg);
    a.read(&id).unwrap();
    srv.clock().advance(Duration::from_secs(3));
    let _b = holder(&srv, &id);
    // a's lock expired and b took it: a's release (lazy write, close) must leave b's alone.
    a.update_timestamp(&id, LIFETIME).unwrap();
    a.close().unwrap();
    assert!(srv.is_locked(&id));
}

#[test]
fn lock_policy_locking_off_never_locks() {
    let srv = server();
    let id = sid("nolock");
    let _other = holder(&srv, &id);
    let mut h = handler(&srv, &config(|c| c.locking = Some(false)));
    assert!(!h.locking);
    h.read(&id).unwrap();
    assert_eq!(srv.clock().now(), Duration::ZERO);
    assert!(!h.with_store(|s| Ok(s.held_lock().is_some())).unwrap());
}

#[test]
fn read_and_close_never_locks_nor_waits_and_refreshes_in_the_one_trip() {
    let srv = server();
    let id = stored(&srv, "rac", b"data");
    let _other = holder(&srv, &id);
    let cfg = config(|_| {});
    let mut h = Handler::new(RefCell::new(srv.store(&cfg)), &cfg, true);
    h.begin_request(true, LIFETIME);
    assert!(h.read_only_request);
    assert_eq!(h.refresh_ttl, Some(LIFETIME));
    assert_eq!(h.read(&id).unwrap(), b"data");
    assert_eq!(srv.clock().now(), Duration::ZERO);
    assert_eq!(srv.ttl_left(&id), Some(LIFETIME));
    // PHP's lazy write after read_and_close: the read refreshed it, nothing is left to send.
    h.update_timestamp(&id, LIFETIME).unwrap();
    assert_eq!(trips(&h), 1);
}

// --- regenerate, destroy, gc -----------------------------------------------------------------

/// A started session (data `data`) on a fresh server: the server, the handler, the id, the state.
fn session(tag: &str) -> (MemoryServer, H, String, SessionState) {
    let srv = server();
    let id = stored(&srv, tag, b"data");
    let mut h = handler(&srv, &config(|_| {}));
    let st = open(&mut h, &id);
    (srv, h, id, st)
}

#[test]
fn regenerate_deleting_the_old_session_relocks_the_new_id_and_forces_a_write() {
    let (srv, mut h, old, mut st) = session("regen");
    let new = st.regenerate(&mut h, true, 32).unwrap();
    assert_ne!(new, old);
    assert_eq!(srv.data(&old), None);
    assert!(!srv.is_locked(&old));
    assert!(srv.is_locked(&new), "the new id's lock is held, as the old one's was");
    assert_eq!(st.id.as_deref(), Some(new.as_str()));
    // The data is unchanged, but nothing is stored under the new id yet.
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"data".to_vec())).unwrap();
    assert_eq!(srv.data(&new).as_deref(), Some(&b"data"[..]));
    assert!(!srv.is_locked(&new));
}

#[test]
fn regenerate_keeping_the_old_session_leaves_its_data_and_frees_its_lock() {
    let (srv, mut h, old, mut st) = session("keep");
    let new = st.regenerate(&mut h, false, 32).unwrap();
    assert_eq!(srv.data(&old).as_deref(), Some(&b"data"[..]));
    assert!(!srv.is_locked(&old));
    st.close(&mut h, LIFETIME, || Ok::<_, String>(b"changed".to_vec())).unwrap();
    assert_eq!(srv.data(&new).as_deref(), Some(&b"changed"[..]));
    assert_eq!(srv.data(&old).as_deref(), Some(&b"data"[..]), "the old session keeps its data as of start");
}

#[test]
fn destroy_deletes_once_and_asks_for_the_cookie_to_expire() {
    let (srv, mut h, id, mut st) = session("destroy");
    assert!(st.destroy(&mut h).unwrap());
    assert_eq!(srv.data(&id), None);
    assert!(!srv.is_locked(&id));
    assert!(!st.started);
    assert!(!st.destroy(&mut h).unwrap(), "nothing left to destroy");
}

#[test]
fn gc_counts_expired_sessions_and_clamps_for_php() {
    let srv = server();
    srv.put(&sid("g1"), b"1", Duration::from_secs(1));
    srv.put(&sid("g2"), b"2", Duration::from_secs(1));
    srv.put(&sid("g3"), b"3", Duration::from_secs(100));
    srv.clock().advance(Duration::from_secs(2));
    let mut h = handler(&srv, &config(|_| {}));
    assert_eq!(SessionState::gc(&mut h, None, LIFETIME).unwrap(), 2);
    assert_eq!(h.gc(-5).unwrap(), 0, "a negative lifetime is 0, not a wrapped huge number");
    assert_eq!(clamp_count(u64::MAX), i64::MAX);
    assert_eq!(clamp_count(i64::MAX as u64 + 1), i64::MAX);
    assert_eq!(clamp_count(7), 7);
}

// --- create_sid: collisions and the outage memo ----------------------------------------------

#[test]
fn create_id_skips_taken_ids_and_gives_up_after_three() {
    let srv = server();
    let mut h = handler(&srv, &config(|_| {}));
    srv.set_taken_answers(2);
    let id = h.create_id(32).unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(trips(&h), 3, "two taken, the third free");
    srv.set_taken_answers(3);
    assert!(matches!(h.create_id(32), Err(HandlerError::IdsTaken)));
    srv.set_taken_answers(3);
    assert!(matches!(h.create_sid(32), Err(HandlerError::IdsTaken)), "never an unchecked id over live sessions");
}

#[test]
fn outage_memo_create_sid_hands_out_an_id_and_the_next_read_reports_the_outage_at_once() {
    let srv = server();
    let mut h = handler(&srv, &config(|_| {}));
    srv.set_down(true);
    let id = h.create_sid(32).unwrap();
    assert!(crate::id::is_well_formed(id.as_bytes()));
    srv.set_down(false);
    let before = trips(&h);
    assert!(matches!(h.read(&id), Err(HandlerError::Store(StoreError::Connection(_)))));
    assert_eq!(trips(&h), before, "reported from the memo, without asking the store");
    assert_eq!(h.read(&id).unwrap(), b"", "reported once");
}

#[test]
fn outage_memo_is_cleared_when_a_request_begins_and_at_close() {
    let srv = server();
    let mut h = handler(&srv, &config(|_| {}));
    srv.set_down(true);
    h.create_sid(32).unwrap();
    srv.set_down(false);
    h.begin_request(false, LIFETIME);
    assert!(h.read(&sid("after")).is_ok());
    srv.set_down(true);
    h.create_sid(32).unwrap();
    srv.set_down(false);
    h.close().unwrap();
    assert!(h.read(&sid("after")).is_ok());
}

#[test]
fn outage_memo_only_for_outages() {
    assert!(StoreError::Connection("x".into()).is_outage());
    assert!(StoreError::Timeout("x".into()).is_outage());
    assert!(!StoreError::LockLost.is_outage());
    assert!(!StoreError::Busy.is_outage());
    // A re-entrant call is refused as Busy: create_sid still hands out an id, and the read
    // that follows asks the store itself.
    let srv = server();
    let h = RefCell::new(handler(&srv, &config(|_| {})));
    let mut outer = h.borrow_mut();
    let id = outer.create_sid(32).unwrap();
    assert!(outer.read(&id).is_ok());
}

// --- close and notices -----------------------------------------------------------------------

#[test]
fn close_releases_a_lock_left_behind_and_disconnects_when_not_persistent() {
    let srv = server();
    let id = sid("close");
    let mut h = handler(&srv, &config(|c| c.persistent = false));
    h.read(&id).unwrap();
    h.close().unwrap();
    assert!(!srv.is_locked(&id));
    assert_eq!(srv.disconnects(), 1);
    let mut p = handler(&srv, &config(|_| {}));
    p.close().unwrap();
    assert_eq!(srv.disconnects(), 1, "a persistent connection stays");
}

#[test]
fn notices_are_taken_once() {
    let srv = server();
    let mut h = handler(&srv, &config(|_| {}));
    h.notices.push("one".into());
    assert_eq!(h.take_notices(), vec!["one".to_string()]);
    assert!(h.take_notices().is_empty());
}

#[test]
fn a_mid_request_save_keeps_the_lock() {
    let srv = server();
    let id = sid("save");
    let mut h = handler(&srv, &config(|_| {}));
    h.read(&id).unwrap();
    h.save(&id, b"mid", LIFETIME).unwrap();
    assert!(srv.is_locked(&id));
    h.write(&id, b"end", LIFETIME).unwrap();
    assert!(!srv.is_locked(&id));
    assert_eq!(srv.data(&id).as_deref(), Some(&b"end"[..]));
}

#[test]
fn a_too_large_write_is_refused_and_keeps_the_old_data() {
    let srv = server();
    let id = stored(&srv, "big", b"old");
    let mut h = handler(&srv, &config(|c| c.max_size = 1024));
    h.read(&id).unwrap();
    assert!(matches!(h.write(&id, &[0; 2000], LIFETIME), Err(HandlerError::Store(StoreError::TooLarge { size: 2000, max: 1024 }))));
    assert_eq!(srv.data(&id).as_deref(), Some(&b"old"[..]));
    assert!(!srv.is_locked(&id));
}

// --- cookie decisions ------------------------------------------------------------------------

struct Env {
    cli: bool,
    sent: bool,
    https: bool,
    now: i64,
}

impl CookieEnv for Env {
    fn is_cli(&self) -> bool {
        self.cli
    }
    fn headers_sent(&self) -> bool {
        self.sent
    }
    fn is_https(&self) -> bool {
        self.https
    }
    fn now(&self) -> i64 {
        self.now
    }
}

const WEB: Env = Env { cli: false, sent: false, https: false, now: 1_000_000 };

fn set(a: CookieAction) -> SetCookie {
    match a {
        CookieAction::Set(c) => c,
        other => panic!("{other:?}"),
    }
}

#[test]
fn cookie_defaults_a_browser_session_cookie_secure_only_over_https() {
    let c = set(CookieSettings::default().decide("sess", Some("ID"), &WEB));
    assert_eq!(
        c,
        SetCookie {
            name: "sess".into(),
            value: "ID".into(),
            expires: 0,
            path: "/".into(),
            domain: String::new(),
            secure: false,
            http_only: true,
            same_site: "Lax".into(),
        }
    );
    assert!(set(CookieSettings::default().decide("sess", Some("ID"), &Env { https: true, ..WEB })).secure);
}

#[test]
fn cookie_secure_setting_overrides_the_request() {
    let never = CookieSettings { secure: Some(false), ..CookieSettings::default() };
    assert!(!set(never.decide("s", Some("ID"), &Env { https: true, ..WEB })).secure);
    let always = CookieSettings { secure: Some(true), ..CookieSettings::default() };
    assert!(set(always.decide("s", Some("ID"), &WEB)).secure);
    assert!(https_from(Some("on"), None));
    assert!(https_from(Some("1"), None));
    assert!(!https_from(Some("off"), None));
    assert!(!https_from(Some("OFF"), Some("http")));
    assert!(https_from(None, Some("HTTPS")));
    assert!(!https_from(Some(""), None));
}

#[test]
fn cookie_lifetime_expiry_and_expiring_a_destroyed_session() {
    let s = CookieSettings { lifetime: 3600, domain: "example.org".into(), same_site: String::new(), ..CookieSettings::default() };
    let c = set(s.decide("s", Some("ID"), &WEB));
    assert_eq!(c.expires, 1_000_000 + 3600);
    assert_eq!(c.domain, "example.org");
    let gone = set(s.decide("s", None, &WEB));
    assert_eq!((gone.value.as_str(), gone.expires), ("", 1));
    assert_eq!(set(CookieSettings::default().decide("s", None, &WEB)).expires, 1);
}

#[test]
fn cookie_none_when_disabled_or_in_the_cli_and_a_warning_after_output() {
    let off = CookieSettings { enabled: false, ..CookieSettings::default() };
    assert_eq!(off.decide("s", Some("ID"), &WEB), CookieAction::None);
    assert_eq!(CookieSettings::default().decide("s", Some("ID"), &Env { cli: true, sent: true, ..WEB }), CookieAction::None);
    assert_eq!(CookieSettings::default().decide("s", Some("ID"), &Env { sent: true, ..WEB }), CookieAction::Warn(HEADERS_SENT));
}

#[test]
fn cookie_only_sapis_that_send_headers_get_one() {
    assert!(super::cookie::is_cli_sapi("cli"));
    assert!(super::cookie::is_cli_sapi("phpdbg"));
    assert!(!super::cookie::is_cli_sapi("fpm-fcgi"));
    assert!(!super::cookie::is_cli_sapi("cli-server"), "php -S sends headers");
}

#[test]
fn cookie_incoming_names_are_looked_up_as_php_mangles_them() {
    assert_eq!(incoming_keys("cannon_session"), ("cannon_session", None));
    assert_eq!(incoming_keys("my.app"), ("my.app", Some("my_app".to_string())));
}

// --- CannonPHP settings ------------------------------------------------------------------------

#[test]
fn settings_allowed_classes() {
    use super::settings::AllowedClasses;
    for on in ["1", "true", "On", "all"] {
        assert_eq!(AllowedClasses::from_setting(on), AllowedClasses::Any, "{on}");
    }
    for off in ["", " ", "0", "false", "off", "none"] {
        assert_eq!(AllowedClasses::from_setting(off), AllowedClasses::None, "{off:?}");
    }
    assert_eq!(AllowedClasses::from_setting(" App\\User, ,DateTime "), AllowedClasses::Only(vec!["App\\User".into(), "DateTime".into()]));
}

#[test]
fn settings_flags_and_serializer_names_have_one_reading() {
    use crate::config::flag;
    assert_eq!(flag("YES"), Some(true));
    assert_eq!(flag(" off "), Some(false));
    assert_eq!(flag(""), None);
    assert_eq!(flag("maybe"), None);
    assert_eq!(Serializer::from_name(" json "), Ok(Serializer::Json));
    assert_eq!(Serializer::from_name(""), Ok(Serializer::Php));
    assert!(Serializer::from_name("igbinary").unwrap_err().0.contains("expected php or json"));
}

fn values(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

#[test]
fn settings_redis_driver_defaults() {
    let s = from_values(&values(&[("session_redis_host", "10.0.0.1"), ("session_redis_port", "6380")]), 1440).unwrap();
    let Backend::Redis(r) = &s.config.backend else { panic!("not redis") };
    assert_eq!(r.addr, crate::config::RedisAddr::Tcp { host: "10.0.0.1".into(), port: 6380 });
    assert_eq!(s.config.prefix.as_deref(), Some(SESSION_PREFIX));
    assert_eq!((s.name.as_str(), s.expire, s.autostart), ("cannon_session", 1440, false));
    assert_eq!(s.cookie, CookieSettings::default());
}

#[test]
fn settings_database_driver_and_options() {
    let s = from_values(
        &values(&[
            ("session_driver", "database"),
            ("host", "db"),
            ("username", "app"),
            ("password", "p@ss/word"),
            ("dbname", "appdb"),
            ("session_db_table", "sess"),
            ("session_serializer", "json"),
            ("session_locking", "0"),
            ("session_expire", "60"),
        ]),
        1440,
    )
    .unwrap();
    let Backend::Mysql(m) = &s.config.backend else { panic!("not mysql") };
    assert_eq!((m.host.as_str(), m.dbname.as_str(), m.table.as_str()), ("db", "appdb", "sess"));
    assert_eq!(m.password.as_ref().map(|p| p.expose()), Some("p@ss/word"));
    assert_eq!(s.config.serializer, Some(Serializer::Json));
    assert_eq!(s.config.locking, Some(false));
    assert_eq!(s.expire, 60);
}

#[test]
fn settings_cookie_flags_and_dsn_override() {
    let s = from_values(
        &values(&[
            ("session_dsn", "redis://127.0.0.1:6379/3"),
            ("session_redis_host", "ignored"),
            ("session_cookie", "FALSE"),
            ("session_http_only", ""),
            ("session_secure", "1"),
            ("session_cookie_lifetime", "300"),
            ("session_autostart", "yes"),
            ("session_name", "my.app"),
        ]),
        1440,
    )
    .unwrap();
    let Backend::Redis(r) = &s.config.backend else { panic!("not redis") };
    assert_eq!(r.db, 3);
    assert!(!s.cookie.enabled && !s.cookie.http_only);
    assert_eq!((s.cookie.secure, s.cookie.lifetime, s.autostart), (Some(true), 300, true));
    assert_eq!(s.name, "my.app");
}

#[test]
fn settings_errors_name_the_field() {
    for (pairs, field) in [
        (values(&[("session_driver", "memcached")]), "session_driver"),
        (values(&[("session_expire", "0")]), "session_expire"),
        (values(&[("session_expire", "soon")]), "session_expire"),
        (values(&[("session_name", "bad name")]), "session_name"),
        (values(&[("session_serializer", "igbinary")]), "serializer"),
        (values(&[("session_redis_port", "99999")]), "port"),
    ] {
        let e = from_values(&pairs, 1440).unwrap_err();
        assert!(e.0.contains(field), "{field}: {e}");
    }
    let e = from_values(&values(&[("session_redis_password", "s3cret"), ("session_redis_port", "x")]), 1440).unwrap_err();
    assert!(!e.0.contains("s3cret"), "{e}");
}
