//! Sentinel replies and the discovery algorithm, over a scripted probe.
use super::*;
use crate::store::error::ServerErrorKind;
use std::collections::HashMap;

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn hp(h: &str, p: u16) -> HostPort {
    (h.to_string(), p)
}

#[test]
fn master_addr_replies() {
    let r = Reply::Array(vec![bulk("127.0.0.1"), bulk("6380")]);
    assert_eq!(parse_master_addr(&r).unwrap(), Some(hp("127.0.0.1", 6380)));
    assert_eq!(parse_master_addr(&Reply::Nil).unwrap(), None);
    assert_eq!(parse_master_addr(&Reply::Array(vec![])).unwrap(), None);
    for bad in [
        Reply::Int(1),
        Reply::Array(vec![bulk("h")]),
        Reply::Array(vec![bulk("h"), bulk("0")]),
        Reply::Array(vec![bulk("h"), bulk("x")]),
        Reply::Array(vec![bulk(""), bulk("1")]),
    ] {
        assert!(matches!(parse_master_addr(&bad), Err(StoreError::Connection(_))), "{bad:?}");
    }
    let e = parse_master_addr(&Reply::Error(Box::new(crate::store::redis::errors::parse("NOAUTH Authentication required.".as_bytes())))).unwrap_err();
    assert_eq!(e.server_kind(), Some(ServerErrorKind::Auth));
}

#[test]
fn role_replies() {
    // Shapes as Redis 7.0 sends them.
    let master = Reply::Array(vec![
        bulk("master"),
        Reply::Int(3129659),
        Reply::Array(vec![
            Reply::Array(vec![bulk("127.0.0.1"), bulk("9001"), bulk("3129242")]),
            Reply::Array(vec![bulk("127.0.0.1"), bulk("9002"), bulk("3129543")]),
        ]),
    ]);
    assert_eq!(
        parse_role(&master).unwrap(),
        Role::Master { offset: 3129659, replicas: vec![(hp("127.0.0.1", 9001), 3129242), (hp("127.0.0.1", 9002), 3129543)] }
    );
    let lone = Reply::Array(vec![bulk("master"), Reply::Int(0), Reply::Array(vec![])]);
    assert_eq!(parse_role(&lone).unwrap(), Role::Master { offset: 0, replicas: vec![] });

    let replica = Reply::Array(vec![bulk("slave"), bulk("127.0.0.1"), Reply::Int(9000), bulk("connected"), Reply::Int(3167038)]);
    let r = parse_role(&replica).unwrap();
    assert_eq!(r, Role::Replica { master: hp("127.0.0.1", 9000), state: "connected".into(), offset: 3167038 });
    assert!(!r.is_master());
    assert_eq!(r.to_string(), "replica of 127.0.0.1:9000 (link connected)");
    let unlinked = Reply::Array(vec![bulk("slave"), bulk("10.0.0.1"), Reply::Int(-1), bulk("connect"), Reply::Int(-1)]);
    assert!(matches!(parse_role(&unlinked).unwrap(), Role::Replica { master: (_, 0), .. }));

    let sentinel = Reply::Array(vec![bulk("sentinel"), Reply::Array(vec![bulk("resque-master"), bulk("html-fragments-master")])]);
    assert_eq!(
        parse_role(&sentinel).unwrap(),
        Role::Sentinel { services: vec!["resque-master".into(), "html-fragments-master".into()] }
    );

    for bad in [Reply::Nil, Reply::Array(vec![]), Reply::Array(vec![bulk("leader")]), Reply::Array(vec![bulk("master")])] {
        assert!(matches!(parse_role(&bad), Err(StoreError::Connection(_))), "{bad:?}");
    }
    assert!(matches!(parse_role(&Reply::Error(Box::new(crate::store::redis::errors::parse("LOADING x".as_bytes())))), Err(StoreError::Server(_))));
}

#[test]
fn switch_master_messages() {
    assert_eq!(
        parse_switch_master(b"mymaster 127.0.0.1 6379 127.0.0.1 6380"),
        Some(SwitchMaster { service: "mymaster".into(), old: hp("127.0.0.1", 6379), new: hp("127.0.0.1", 6380) })
    );
    assert_eq!(parse_switch_master(b"mymaster 127.0.0.1 6379 127.0.0.1"), None);
    assert_eq!(parse_switch_master(b"mymaster 127.0.0.1 x 127.0.0.1 6380"), None);
    assert_eq!(parse_switch_master(b"\xff"), None);
}

/// What each sentinel answers and each node's role; anything missing is unreachable.
#[derive(Default)]
struct Script {
    sentinels: HashMap<HostPort, Result<Option<HostPort>, ServerErrorKind>>,
    roles: HashMap<HostPort, Role>,
    asked: Vec<String>,
}

impl SentinelProbe for Script {
    fn master_addr(&mut self, s: &HostPort, service: &str) -> Result<Option<HostPort>, StoreError> {
        self.asked.push(format!("sentinel {}:{} {service}", s.0, s.1));
        match self.sentinels.get(s) {
            Some(Ok(a)) => Ok(a.clone()),
            Some(Err(k)) => Err(StoreError::Server(ServerError::new(*k, "refused"))),
            None => Err(StoreError::Connection(format!("connect to {}:{}: Connection refused", s.0, s.1))),
        }
    }
    fn role(&mut self, n: &HostPort) -> Result<Role, StoreError> {
        self.asked.push(format!("role {}:{}", n.0, n.1));
        self.roles
            .get(n)
            .cloned()
            .ok_or_else(|| StoreError::Timeout(format!("connect to {}:{}", n.0, n.1)))
    }
}

fn master() -> Role {
    Role::Master { offset: 1, replicas: vec![] }
}

fn replica_of(h: &str, p: u16) -> Role {
    Role::Replica { master: hp(h, p), state: "connected".into(), offset: 1 }
}

const S: [(&str, u16); 3] = [("s1", 26379), ("s2", 26380), ("s3", 26381)];

fn sentinels() -> Vec<HostPort> {
    S.iter().map(|(h, p)| hp(h, *p)).collect()
}

#[test]
fn discovery_takes_the_first_confirmed_master() {
    let mut p = Script::default();
    for s in sentinels() {
        p.sentinels.insert(s, Ok(Some(hp("m", 6379))));
    }
    p.roles.insert(hp("m", 6379), master());
    let d = discover(&mut p, &sentinels(), "mymaster").unwrap();
    assert_eq!(d, Discovered { master: hp("m", 6379), sentinel: 0 });
    assert_eq!(p.asked, ["sentinel s1:26379 mymaster", "role m:6379"]);
}

#[test]
fn discovery_skips_unreachable_and_ignorant_sentinels() {
    let mut p = Script::default();
    // s1 unreachable, s2 does not know the service, s3 knows.
    p.sentinels.insert(hp("s2", 26380), Ok(None));
    p.sentinels.insert(hp("s3", 26381), Ok(Some(hp("m2", 6380))));
    p.roles.insert(hp("m2", 6380), master());
    let d = discover(&mut p, &sentinels(), "mymaster").unwrap();
    assert_eq!(d, Discovered { master: hp("m2", 6380), sentinel: 2 });
}

#[test]
fn discovery_passes_over_a_stale_sentinel() {
    // Mid-failover: s1 still names the old master, now a replica; s2 knows the new one.
    let mut p = Script::default();
    p.sentinels.insert(hp("s1", 26379), Ok(Some(hp("old", 6379))));
    p.sentinels.insert(hp("s2", 26380), Ok(Some(hp("new", 6380))));
    p.roles.insert(hp("old", 6379), replica_of("new", 6380));
    p.roles.insert(hp("new", 6380), master());
    assert_eq!(discover(&mut p, &sentinels(), "mymaster").unwrap().master, hp("new", 6380));
}

#[test]
fn discovery_errors_name_every_problem() {
    // Nobody reachable.
    let mut p = Script::default();
    let e = discover(&mut p, &sentinels(), "mymaster").unwrap_err();
    let StoreError::Connection(m) = &e else { panic!("{e:?}") };
    for s in ["s1:26379", "s2:26380", "s3:26381", "Connection refused", "\"mymaster\""] {
        assert!(m.contains(s), "{m}");
    }

    // A service nobody knows.
    let mut p = Script::default();
    for s in sentinels() {
        p.sentinels.insert(s, Ok(None));
    }
    let e = discover(&mut p, &sentinels(), "nosuch").unwrap_err();
    assert!(e.to_string().contains("does not know \"nosuch\""), "{e}");
    assert!(e.is_outage());

    // Every sentinel names a replica.
    let mut p = Script::default();
    for s in sentinels() {
        p.sentinels.insert(s, Ok(Some(hp("r", 6381))));
    }
    p.roles.insert(hp("r", 6381), replica_of("m", 6379));
    let e = discover(&mut p, &sentinels(), "mymaster").unwrap_err();
    assert!(e.to_string().contains("names r:6381 as master, but it reports role replica of m:6379"), "{e}");

    // A named master that cannot be reached.
    let mut p = Script::default();
    p.sentinels.insert(hp("s1", 26379), Ok(Some(hp("gone", 6379))));
    let e = discover(&mut p, &sentinels()[..1], "mymaster").unwrap_err();
    assert!(matches!(e, StoreError::Connection(_)), "{e:?}");
    assert!(e.to_string().contains("master gone:6379 (named by sentinel s1:26379)"), "{e}");

    // No sentinels at all.
    let e = discover(&mut Script::default(), &[], "m").unwrap_err();
    assert!(e.to_string().contains("no sentinel configured"), "{e}");
}

#[test]
fn discovery_keeps_a_common_server_error_kind() {
    // Every sentinel refuses our credentials: an Auth error, not an outage.
    let mut p = Script::default();
    for s in sentinels() {
        p.sentinels.insert(s, Err(ServerErrorKind::Auth));
    }
    let e = discover(&mut p, &sentinels(), "mymaster").unwrap_err();
    assert_eq!(e.server_kind(), Some(ServerErrorKind::Auth), "{e:?}");
    // Mixed failures: an outage.
    p.sentinels.remove(&hp("s2", 26380));
    let e = discover(&mut p, &sentinels(), "mymaster").unwrap_err();
    assert!(matches!(e, StoreError::Connection(_)), "{e:?}");
}
