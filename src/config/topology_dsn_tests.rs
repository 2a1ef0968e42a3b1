//! `redis+sentinel://` and `redis+cluster://` DSNs, and phpredis' `rediscluster` save_path form.
use super::*;

fn redis(c: &Config) -> &RedisConfig {
    match &c.backend {
        Backend::Redis(r) => r,
        _ => panic!("not redis"),
    }
}

fn hosts(list: &[(&str, u16)]) -> Vec<(String, u16)> {
    list.iter().map(|(h, p)| (h.to_string(), *p)).collect()
}

#[test]
fn sentinel_full() {
    let c = parse_dsn(
        "redis+sentinel://app:d%40ta@10.0.0.1:26380,10.0.0.2,[::1]:26381/mymaster/2\
         ?sentinel_user=watch&sentinel_password=s3ntinel&prefix=app:&lock_ttl=5&wait=1&wait_timeout=250&persistent=0",
    )
    .unwrap();
    let r = redis(&c);
    let RedisTopology::Sentinel { sentinels, service, username, password, tls, .. } = &r.topology else {
        panic!("{:?}", r.topology)
    };
    assert_eq!(sentinels, &hosts(&[("10.0.0.1", 26380), ("10.0.0.2", 26379), ("::1", 26381)]));
    assert_eq!(service, "mymaster");
    assert_eq!(username.as_deref(), Some("watch"));
    assert_eq!(password.as_ref().unwrap().expose(), "s3ntinel");
    assert!(!tls);
    // The authority's credentials are the data nodes'.
    assert_eq!(r.username.as_deref(), Some("app"));
    assert_eq!(r.password.as_ref().unwrap().expose(), "d@ta");
    assert_eq!(r.db, 2);
    assert_eq!(r.addr, RedisAddr::Tcp { host: "10.0.0.1".into(), port: 26380 });
    assert_eq!((r.wait, r.wait_timeout), (1, Duration::from_millis(250)));
    assert_eq!(c.prefix.as_deref(), Some("app:"));
    assert_eq!(c.lock_ttl, Duration::from_secs(5));
    assert!(!c.persistent);

    // Never a password, in any rendering.
    let shown = [c.redacted(), format!("{c:?}"), format!("{:?}", r.topology)];
    for s in &shown {
        assert!(!s.contains("s3ntinel") && !s.contains("d@ta") && !s.contains("d%40ta"), "{s}");
    }
    assert_eq!(
        c.redacted(),
        "redis+sentinel://app:***@10.0.0.1:26380,10.0.0.2:26379,[::1]:26381/mymaster/2\
         ?sentinel_user=watch&sentinel_password=***&wait=1&wait_timeout=250"
    );
}

#[test]
fn sentinel_check_interval() {
    let interval = |dsn: &str| match &redis(&parse_dsn(dsn).unwrap()).topology {
        RedisTopology::Sentinel { check_interval, .. } => *check_interval,
        other => panic!("{other:?}"),
    };
    assert_eq!(interval("redis+sentinel://s1/m"), Duration::from_secs(1));
    assert_eq!(interval("redis+sentinel://s1/m?sentinel_check_interval=0"), Duration::ZERO);
    assert_eq!(interval("redis+sentinel://s1/m?sentinel_check_interval=0.25"), Duration::from_millis(250));
    assert_eq!(interval("redis+sentinel://s1/m?sentinel_check_interval=30"), Duration::from_secs(30));
    // Shown when not the default.
    assert_eq!(
        parse_dsn("redis+sentinel://s1/m?sentinel_check_interval=0.5").unwrap().redacted(),
        "redis+sentinel://s1:26379/m/0?sentinel_check_interval=0.5"
    );
    assert_eq!(parse_dsn("redis+sentinel://s1/m?sentinel_check_interval=1").unwrap().redacted(), "redis+sentinel://s1:26379/m/0");
}

#[test]
fn sentinel_defaults_and_forms() {
    let c = parse_dsn("redis+sentinel://s1/mymaster").unwrap();
    let r = redis(&c);
    let RedisTopology::Sentinel { sentinels, service, username, password, tls, check_interval } = &r.topology else { panic!() };
    assert_eq!(*check_interval, crate::config::DEFAULT_SENTINEL_CHECK_INTERVAL);
    assert_eq!(sentinels, &hosts(&[("s1", 26379)]));
    assert_eq!(service, "mymaster");
    assert!(username.is_none() && password.is_none() && !tls);
    assert_eq!((r.db, r.wait, r.wait_timeout), (0, 0, DEFAULT_WAIT_TIMEOUT));
    assert!(r.username.is_none() && r.password.is_none() && r.tls.is_none());
    assert_eq!(c.redacted(), "redis+sentinel://s1:26379/mymaster/0");

    // A trailing slash, ?db=, a percent-encoded service name.
    assert_eq!(redis(&parse_dsn("redis+sentinel://s1/mymaster/").unwrap()).db, 0);
    assert_eq!(redis(&parse_dsn("redis+sentinel://s1/mymaster?db=5").unwrap()).db, 5);
    let c = parse_dsn("redis+sentinel://s1/my%2Dmaster.eu").unwrap();
    let RedisTopology::Sentinel { service, .. } = &redis(&c).topology else { panic!() };
    assert_eq!(service, "my-master.eu");
}

#[test]
fn sentinel_passwords_from_env_and_file() {
    std::env::set_var("CANNON_TEST_SENTINEL_PW", "envsentinel");
    std::env::set_var("CANNON_TEST_DATA_PW", "envdata");
    let c = parse_dsn("redis+sentinel://s1/m?sentinel_password_env=CANNON_TEST_SENTINEL_PW&password_env=CANNON_TEST_DATA_PW").unwrap();
    let r = redis(&c);
    let RedisTopology::Sentinel { password, .. } = &r.topology else { panic!() };
    assert_eq!(password.as_ref().unwrap().expose(), "envsentinel");
    assert_eq!(r.password.as_ref().unwrap().expose(), "envdata");
    assert!(!c.redacted().contains("envsentinel") && !c.redacted().contains("envdata"));

    let f = std::env::temp_dir().join(format!("cannon-sentinel-pw-{}", std::process::id()));
    std::fs::write(&f, "filesentinel\nsecond line ignored\n").unwrap();
    let c = parse_dsn(&format!("redis+sentinel://s1/m?sentinel_password_file={}", f.display())).unwrap();
    let _ = std::fs::remove_file(&f);
    let RedisTopology::Sentinel { password, .. } = &redis(&c).topology else { panic!() };
    assert_eq!(password.as_ref().unwrap().expose(), "filesentinel");
    assert!(!format!("{c:?}").contains("filesentinel"));

    let e = parse_dsn("redis+sentinel://s1/m?sentinel_password_env=CANNON_NOT_SET_XYZ").unwrap_err();
    assert!(e.0.contains("sentinel_password_env"), "{e}");
    let e = parse_dsn("redis+sentinel://s1/m?sentinel_password_file=/nonexistent/cannon").unwrap_err();
    assert!(e.0.contains("sentinel_password_file"), "{e}");
}

#[test]
fn sentinel_tls() {
    let c = parse_dsn("rediss+sentinel://s1,s2/m?tls_ca=/ca.pem").unwrap();
    let r = redis(&c);
    let RedisTopology::Sentinel { tls, .. } = &r.topology else { panic!() };
    assert!(*tls, "sentinels follow the data nodes by default");
    assert!(r.tls.is_some());
    assert!(c.redacted().starts_with("rediss+sentinel://"));
    let sentinel = r.for_sentinel("s2", 26379).unwrap();
    assert!(sentinel.tls.is_some());

    let c = parse_dsn("rediss+sentinel://s1/m?sentinel_tls=0").unwrap();
    let r = redis(&c);
    assert!(r.for_sentinel("s1", 26379).unwrap().tls.is_none());
    assert!(r.for_node("10.0.0.9", 6380).tls.is_some());
    assert!(c.redacted().ends_with("?sentinel_tls=0"), "{}", c.redacted());

    let e = parse_dsn("redis+sentinel://s1/m?sentinel_tls=1").unwrap_err();
    assert!(e.0.contains("rediss+sentinel"), "{e}");
}

#[test]
fn per_node_configs() {
    let c = parse_dsn("redis+sentinel://u:datapw@s1:26379/m/3?sentinel_user=su&sentinel_password=sentpw").unwrap();
    let r = redis(&c);
    let node = r.for_node("10.1.1.1", 6390);
    assert_eq!(node.addr, RedisAddr::Tcp { host: "10.1.1.1".into(), port: 6390 });
    assert_eq!(node.topology, RedisTopology::Single);
    assert_eq!((node.db, node.username.as_deref()), (3, Some("u")));
    assert_eq!(node.password.as_ref().unwrap().expose(), "datapw");
    let s = r.for_sentinel("s1", 26379).unwrap();
    assert_eq!((s.db, s.username.as_deref()), (0, Some("su")));
    assert_eq!(s.password.as_ref().unwrap().expose(), "sentpw");
    assert_eq!(s.topology, RedisTopology::Single);
    let single = parse_dsn("redis://h").unwrap();
    assert!(redis(&single).for_sentinel("h", 1).is_none());
}

#[test]
fn cluster_full() {
    let c = parse_dsn("redis+cluster://:pw@n1:7000,n2:7001,[::1]:7002?prefix=s:&timeout=0.5&lock_wait_timeout=2&max_size=4096&wait=1").unwrap();
    let r = redis(&c);
    let RedisTopology::Cluster { seeds } = &r.topology else { panic!() };
    assert_eq!(seeds, &hosts(&[("n1", 7000), ("n2", 7001), ("::1", 7002)]));
    assert_eq!(r.addr, RedisAddr::Tcp { host: "n1".into(), port: 7000 });
    assert_eq!(r.db, 0);
    assert_eq!(r.password.as_ref().unwrap().expose(), "pw");
    assert_eq!((c.timeout, c.lock_wait_timeout, c.max_size), (Duration::from_millis(500), Duration::from_secs(2), 4096));
    assert_eq!(r.wait, 1);
    assert_eq!(c.redacted(), "redis+cluster://:***@n1:7000,n2:7001,[::1]:7002?wait=1&wait_timeout=100");

    // Default port, db 0 written out, TLS.
    let c = parse_dsn("rediss+cluster://n1,n2/0?tls_verify=0").unwrap();
    let r = redis(&c);
    let RedisTopology::Cluster { seeds } = &r.topology else { panic!() };
    assert_eq!(seeds, &hosts(&[("n1", 6379), ("n2", 6379)]));
    assert!(!r.tls.as_ref().unwrap().verify);
    assert_eq!(c.redacted(), "rediss+cluster://n1:6379,n2:6379");
}

#[test]
fn phpredis_cluster_save_path() {
    let c = parse_dsn(
        "redis+cluster://seed[]=127.0.0.1:7000&seed[]=127.0.0.1:7001&seed%5B%5D=127.0.0.1:7002\
         &timeout=2&read_timeout=1.5&failover=error&persistent=1&auth=pa+ss%21&prefix=PHPREDIS_CLUSTER_SESSION:",
    )
    .unwrap();
    let r = redis(&c);
    let RedisTopology::Cluster { seeds } = &r.topology else { panic!() };
    assert_eq!(seeds, &hosts(&[("127.0.0.1", 7000), ("127.0.0.1", 7001), ("127.0.0.1", 7002)]));
    // phpredis' meanings: timeout connects, read_timeout reads; `+` is a space as PHP decodes it.
    assert_eq!(c.connect_timeout, Duration::from_secs(2));
    assert_eq!(c.timeout, Duration::from_millis(1500));
    assert!(c.persistent);
    assert_eq!(r.password.as_ref().unwrap().expose(), "pa ss!");
    assert_eq!(r.username, None);
    assert_eq!(c.prefix.as_deref(), Some("PHPREDIS_CLUSTER_SESSION:"));
    assert!(!c.redacted().contains("pa ss") && !format!("{c:?}").contains("pa ss"));

    // `?` first, ACL user and password as an array, 0 timeouts meaning "default", our options.
    let c = parse_dsn("redis+cluster://?seed[]=n1:7000&auth[]=alice&auth[]=secret&timeout=0&persistent=0&lock=0").unwrap();
    let r = redis(&c);
    assert_eq!(r.username.as_deref(), Some("alice"));
    assert_eq!(r.password.as_ref().unwrap().expose(), "secret");
    assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    assert!(!c.persistent);
    assert_eq!(c.locking, Some(false));
    let c = parse_dsn("redis+cluster://seed[]=n1:7000&auth[user]=bob&auth[pass]=pw2").unwrap();
    assert_eq!(redis(&c).username.as_deref(), Some("bob"));
    assert_eq!(redis(&c).password.as_ref().unwrap().expose(), "pw2");
    let c = parse_dsn("rediss+cluster://seed[]=n1:7000&tls_ca=/ca.pem").unwrap();
    assert!(redis(&c).tls.is_some());
}

#[test]
fn topology_errors_name_the_problem() {
    let cases = [
        ("redis+sentinel:///mymaster", "empty sentinel list"),
        ("redis+sentinel://", "empty sentinel list"),
        ("redis+sentinel://s1,,s2/m", "empty host"),
        ("redis+sentinel://s1,/m", "empty host"),
        ("redis+sentinel://s1:0/m", "port"),
        ("redis+sentinel://s1:26379,s2:99999/m", "port"),
        ("redis+sentinel://s1:abc/m", "port"),
        ("redis+sentinel://s1:26379", "missing service"),
        ("redis+sentinel://s1:26379/", "missing service"),
        ("redis+sentinel://:hunter2@s1:26379/", "missing service"),
        ("redis+sentinel://s1/m%20x", "service"),
        ("redis+sentinel://s1/m/x", "db"),
        ("redis+sentinel://s1/m/1/extra", "path"),
        ("redis+sentinel://s1/m?bogus=1", "unknown DSN option"),
        ("redis+sentinel://s1/m?wait=-1", "wait"),
        ("redis+sentinel://s1/m?wait=x", "wait"),
        ("redis+sentinel://s1/m?wait=1&wait_timeout=0", "wait_timeout"),
        ("redis+sentinel://s1/m?wait=1&wait_timeout=abc", "wait_timeout"),
        ("redis+sentinel://s1/m?wait=1&wait_timeout=5000&timeout=2", "shorter than timeout"),
        ("redis+sentinel://s1/m?tls_ca=/x", "rediss"),
        ("redis+sentinel://s1/m?sentinel_password_env=CANNON_NOT_SET_XYZ", "sentinel_password_env"),
        ("redis+sentinel://s1/m?sentinel_check_interval=-1", "sentinel_check_interval"),
        ("redis+sentinel://s1/m?sentinel_check_interval=3601", "sentinel_check_interval"),
        ("redis+sentinel://s1/m?sentinel_check_interval=soon", "sentinel_check_interval"),
        ("redis://h?sentinel_check_interval=1", "redis+sentinel"),
        ("redis+cluster://", "empty cluster seed list"),
        ("redis+cluster://n1,,n2", "empty host"),
        ("redis+cluster://n1:70000", "port"),
        ("redis+cluster://:hunter2@n1:7000/3", "only database 0"),
        ("redis+cluster://n1:7000?db=1", "only database 0"),
        ("redis+cluster://n1?prefix=a{b}:", "prefix"),
        ("redis+cluster://n1?bogus=1", "unknown DSN option"),
        ("redis+cluster://n1?sentinel_password=hunter2", "redis+sentinel"),
        ("redis://h?sentinel_user=x", "redis+sentinel"),
        ("redis+cluster://n1:7000?seed[]=n2:7001", "seed[]"),
        ("redis+cluster://seed[]=&timeout=1", "seed"),
        ("redis+cluster://seed[]=n1:0", "port"),
        ("redis+cluster://seed[]=n1:7000&auth=hunter2&stream[verify_peer]=0", "stream"),
        ("redis+cluster://seed[]=n1:7000&failover=sideways", "failover"),
        ("redis+cluster://seed[]=n1:7000&timeout=abc&auth=hunter2", "timeout"),
        ("redis+cluster://seed[]=n1:7000&bogus=1", "unknown DSN option"),
        ("redis+cluster://seed[]=n1:7000&auth[]=a&auth[]=b&auth[]=hunter2", "auth"),
        ("redis+clustr://n1", "scheme"),
        ("redis+cluster://seeds[]=n1:7000&auth=hunter2", "'=' or '&' before '?'"),
        // Found by fuzz_dsn: credentials then a seed[] option were read as phpredis' form, and
        // the authority echoed as an unknown option name.
        ("redis+cluster://:hunter2@db.local/1?seed[]=off", "seed[]"),
        ("redis+cluster://bob:hunter2@[::1]:1,h?lock=1&seed[]=h:1", "seed[]"),
        ("redis+cluster://:hunter2@h,db.local:,x:0/?seed[]=1", "port"),
        ("redis+cluster://n1:7000&auth=hunter2", "'=' or '&' before '?'"),
        ("redis+sentinel://s1:26379&sentinel_password=hunter2/m", "'=' or '&' before '?'"),
    ];
    for (dsn, word) in cases {
        let e = match parse_dsn(dsn) {
            Err(e) => e,
            Ok(c) => panic!("{dsn}: accepted as {c:?}"),
        };
        assert!(e.0.contains(word), "{dsn}: {e}");
        assert!(!e.0.contains("hunter2"), "{dsn}: {e}");
    }
}

#[test]
fn single_node_keeps_its_shape() {
    let c = parse_dsn("redis://h:6380/1?wait=2&wait_timeout=50").unwrap();
    let r = redis(&c);
    assert_eq!(r.topology, RedisTopology::Single);
    assert_eq!((r.wait, r.wait_timeout), (2, Duration::from_millis(50)));
    assert_eq!(c.redacted(), "redis://h:6380/1?wait=2&wait_timeout=50");
    assert_eq!(parse_dsn("redis://h").unwrap().redacted(), "redis://h:6379/0");
    assert_eq!(
        parse_dsn("redis+unix:///run/r.sock?wait=1").unwrap().redacted(),
        "redis+unix:///run/r.sock?db=0&wait=1&wait_timeout=100"
    );
}
