use super::*;

fn redis(c: &Config) -> &RedisConfig {
    match &c.backend {
        Backend::Redis(r) => r,
        _ => panic!("not redis"),
    }
}

#[test]
fn redis_full() {
    let c = parse_dsn("redis://bob:s3cr%40t@10.0.0.1:6380/2?prefix=app:&timeout=0.5&connect_timeout=2").unwrap();
    let r = redis(&c);
    assert_eq!(r.addr, RedisAddr::Tcp { host: "10.0.0.1".into(), port: 6380 });
    assert_eq!(r.db, 2);
    assert_eq!(r.username.as_deref(), Some("bob"));
    assert_eq!(r.password.as_ref().unwrap().expose(), "s3cr@t");
    assert_eq!(c.prefix.as_deref(), Some("app:"));
    assert_eq!(c.timeout, Duration::from_millis(500));
    assert_eq!(c.connect_timeout, Duration::from_secs(2));
    assert!(!c.redacted().contains("s3cr"));
    assert!(!format!("{c:?}").contains("s3cr"));
}

#[test]
fn redis_defaults() {
    let c = parse_dsn("redis://127.0.0.1").unwrap();
    let r = redis(&c);
    assert_eq!(r.addr, RedisAddr::Tcp { host: "127.0.0.1".into(), port: 6379 });
    assert_eq!(r.db, 0);
    assert_eq!(c.prefix, None);
    assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    assert_eq!(c.locking, None);
}

#[test]
fn password_only_and_ipv6() {
    let c = parse_dsn("redis://:pw@[::1]:7000/3").unwrap();
    let r = redis(&c);
    assert_eq!(r.addr, RedisAddr::Tcp { host: "::1".into(), port: 7000 });
    assert_eq!(r.username, None);
    assert_eq!(r.password.as_ref().unwrap().expose(), "pw");
}

#[test]
fn unix_socket() {
    let c = parse_dsn("redis+unix:///var/run/redis.sock?db=4").unwrap();
    let r = redis(&c);
    assert_eq!(r.addr, RedisAddr::Unix("/var/run/redis.sock".into()));
    assert_eq!(r.db, 4);
}

#[test]
fn password_from_env_and_file() {
    std::env::set_var("CANNON_TEST_PW", "envpw");
    let c = parse_dsn("redis://localhost?password_env=CANNON_TEST_PW").unwrap();
    assert_eq!(redis(&c).password.as_ref().unwrap().expose(), "envpw");
    let f = std::env::temp_dir().join(format!("cannon-pw-{}", std::process::id()));
    std::fs::write(&f, "filepw\n").unwrap();
    let c = parse_dsn(&format!("redis://localhost?password_file={}", f.display())).unwrap();
    assert_eq!(redis(&c).password.as_ref().unwrap().expose(), "filepw");
    let _ = std::fs::remove_file(f);
    let e = parse_dsn("redis://localhost?password_env=CANNON_NOT_SET_XYZ").unwrap_err();
    assert!(e.0.contains("password_env"), "{e}");
}

#[test]
fn errors_name_the_field() {
    let cases = [
        ("memcached://x", "scheme"),
        ("localhost:6379", "scheme"),
        ("redis://h:0", "port"),
        ("redis://h:70000", "port"),
        ("redis://h:abc", "port"),
        ("redis://h/-1", "db"),
        ("redis://h?bogus=1", "unknown DSN option"),
        ("redis://h?timeout=0", "timeout"),
        ("redis://h?timeout=abc", "timeout"),
        ("redis://h?timeout=1e-10", "timeout"),
        ("redis://h?connect_timeout=0.0000001", "connect_timeout"),
        ("redis://::1", "brackets"),
        ("redis://:hunter2@::1:6379", "host"),
        ("redis://h?connect_timeout=-1", "connect_timeout"),
        ("redis://h?lock=maybe", "lock"),
        ("redis://h?lock_fail=x", "lock_fail"),
        ("redis://h?max_size=1", "max_size"),
        ("redis://:hunter2@:6379", "host"),
        ("mysql://u:p@h/db?table=x'y", "table"),
        ("mysql://u:p@h/", "dbname"),
        ("redis+unix://relative.sock", "socket"),
        ("", "empty"),
    ];
    for (dsn, word) in cases {
        let e = parse_dsn(dsn).unwrap_err();
        assert!(e.0.contains(word), "{dsn}: {e}");
        assert!(!e.0.contains("hunter2"), "{dsn}: {e}");
    }
}

#[test]
fn tls_options() {
    let c = parse_dsn("rediss://h:6380?tls_ca=/ca.pem&tls_cert=/c.pem&tls_key=/k.pem&tls_server_name=redis.local").unwrap();
    let t = redis(&c).tls.clone().unwrap();
    assert!(t.verify);
    assert_eq!(t.ca_file.as_deref(), Some(std::path::Path::new("/ca.pem")));
    assert_eq!(t.server_name.as_deref(), Some("redis.local"));
    assert!(c.redacted().starts_with("rediss://"));
    assert!(redis(&parse_dsn("redis://h").unwrap()).tls.is_none());
    assert!(!redis(&parse_dsn("rediss://h?tls_verify=0").unwrap()).tls.clone().unwrap().verify);
    assert!(parse_dsn("redis://h?tls_ca=/x").unwrap_err().0.contains("rediss"));
    assert!(parse_dsn("rediss://h?tls_cert=/x").unwrap_err().0.contains("tls_key"));
}

#[test]
fn mysql_ssl_options() {
    let c = parse_dsn("mysql://u:p@h/db?ssl_mode=verify_identity&ssl_ca=/ca.pem").unwrap();
    let Backend::Mysql(m) = &c.backend else { panic!() };
    assert_eq!(m.ssl.as_ref().unwrap().mode, SslMode::VerifyIdentity);
    assert!(parse_dsn("mysql://u:p@h/db?ssl_mode=verify_ca").unwrap_err().0.contains("ssl_ca"));
    assert!(parse_dsn("mysql://u:p@h/db?ssl_mode=bogus").unwrap_err().0.contains("ssl_mode"));
    assert!(parse_dsn("mysql://u:p@h/db?ssl_ca=/x").unwrap_err().0.contains("ssl_mode"));
    let Backend::Mysql(m) = parse_dsn("mysql://u:p@h/db?ssl_mode=disabled").unwrap().backend else { panic!() };
    assert!(m.ssl.is_none());
}

#[test]
fn mysql_full() {
    let c = parse_dsn("mysql://app:pa%3Ass@db.local:3307/sessions?table=sess&connect_timeout=2&auto_create=1").unwrap();
    match &c.backend {
        Backend::Mysql(m) => {
            assert_eq!(m.host, "db.local");
            assert_eq!(m.port, 3307);
            assert_eq!(m.username.as_deref(), Some("app"));
            assert_eq!(m.password.as_ref().unwrap().expose(), "pa:ss");
            assert_eq!(m.dbname, "sessions");
            assert_eq!(m.table, "sess");
            assert!(m.auto_create);
        }
        _ => panic!(),
    }
    assert!(!c.redacted().contains("pa:ss"));
    let c = parse_dsn("mysql://app@localhost/test?socket=/run/mysqld/mysqld.sock").unwrap();
    match &c.backend {
        Backend::Mysql(m) => {
            assert_eq!(m.socket.as_deref(), Some(std::path::Path::new("/run/mysqld/mysqld.sock")));
            assert_eq!(m.table, DEFAULT_TABLE);
        }
        _ => panic!(),
    }
}
