use super::*;
use crate::config::{MysqlConfig, RedisAddr, RedisConfig};
use std::path::PathBuf;

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The Redis or the MySQL part of a configuration (None: the other backend).
fn parts(cfg: &Config) -> (Option<&RedisConfig>, Option<&MysqlConfig>) {
    match &cfg.backend {
        Backend::Redis(r) => (Some(r), None),
        Backend::Mysql(m) => (None, Some(m)),
    }
}

fn redis(cfg: &Config) -> &RedisConfig {
    parts(cfg).0.expect("a redis configuration")
}

fn mysql(cfg: &Config) -> &MysqlConfig {
    parts(cfg).1.expect("a mysql configuration")
}

#[test]
fn parts_become_a_dsn_with_everything_encoded() {
    let cfg = handler_config(pairs(&[("host", "10.0.0.2"), ("port", "6380"), ("database", "2"), ("password", "p@ss:w/rd"), ("prefix", "a b:")]), "redis").unwrap();
    let r = redis(&cfg);
    assert_eq!(r.addr, RedisAddr::Tcp { host: "10.0.0.2".into(), port: 6380 });
    assert_eq!((r.db, r.password.as_ref().map(|p| p.expose())), (2, Some("p@ss:w/rd")));
    assert_eq!(cfg.prefix.as_deref(), Some("a b:"));
}

#[test]
fn a_redis_socket_with_auth_and_db() {
    let cfg = handler_config(pairs(&[("socket", "/run/redis.sock"), ("user", "app"), ("auth", "s3cret"), ("db", "4"), ("timeout", "2")]), "redis").unwrap();
    let r = redis(&cfg);
    assert_eq!(r.addr, RedisAddr::Unix(PathBuf::from("/run/redis.sock")));
    assert_eq!((r.db, r.username.as_deref(), r.password.as_ref().map(|p| p.expose())), (4, Some("app"), Some("s3cret")));
    assert_eq!(cfg.timeout, std::time::Duration::from_secs(2));
}

#[test]
fn a_dsn_key_takes_the_other_keys_as_options() {
    let cfg = handler_config(pairs(&[("dsn", "redis://127.0.0.1:6379/1?prefix=x:"), ("lock", "0")]), "redis").unwrap();
    assert_eq!((redis(&cfg).db, cfg.prefix.as_deref(), cfg.locking), (1, Some("x:"), Some(false)));
    let cfg = handler_config(pairs(&[("dsn", "redis://127.0.0.1/3"), ("max_size", "2048")]), "redis").unwrap();
    assert_eq!((redis(&cfg).db, cfg.max_size), (3, 2048));
    let cfg = handler_config(pairs(&[("dsn", "redis://127.0.0.1/3")]), "redis").unwrap();
    assert_eq!(redis(&cfg).db, 3);
}

#[test]
fn mysql_parts_and_the_backend_check() {
    let cfg = handler_config(pairs(&[("host", "db"), ("username", "u"), ("password", "p"), ("dbname", "app"), ("table", "t1")]), "mysql").unwrap();
    let m = mysql(&cfg);
    assert_eq!((m.host.as_str(), m.dbname.as_str(), m.table.as_str(), m.username.as_deref()), ("db", "app", "t1", Some("u")));
    assert!(expect_backend(&cfg, false, "DatabaseHandler").is_ok());
    let e = expect_backend(&cfg, true, "RedisHandler").unwrap_err();
    assert!(e.0.contains("RedisHandler needs a redis://"), "{e}");
    let e = handler_config(pairs(&[("nonsense", "1")]), "redis").unwrap_err();
    assert!(e.0.contains("nonsense"), "{e}");
}
