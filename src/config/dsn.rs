//! DSN strings: `redis://`, `redis+unix://`, `mysql://`.
//!
//! `redis://[user[:password]@]host[:port][/db][?opt=val&...]`
//! `redis+unix:///path/to/redis.sock[?db=N&...]`
//! `mysql://[user[:password]@]host[:port]/dbname[?table=..&socket=..&...]`
use super::*;

/// Parses a DSN. Every error names the field at fault and never echoes a password.
pub fn parse_dsn(dsn: &str) -> Result<Config, ConfigError> {
    let dsn = dsn.trim();
    if dsn.is_empty() {
        return err("empty DSN: expected redis://host:port, redis+unix:///path or mysql://user@host/db");
    }
    let (scheme, rest) = match dsn.find("://") {
        Some(i) => (dsn[..i].to_ascii_lowercase(), &dsn[i + 3..]),
        None => {
            return err("invalid DSN: missing scheme (expected redis://, redis+unix:// or mysql://)")
        }
    };
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let opts = parse_query(query)?;
    match scheme.as_str() {
        "redis" | "tcp" => parse_redis_tcp(rest, opts, false),
        "rediss" | "tls" => parse_redis_tcp(rest, opts, true),
        "redis+unix" | "unix" => parse_redis_unix(rest, opts),
        "mysql" | "mariadb" => parse_mysql(rest, opts),
        other => err(format!(
            "unknown DSN scheme {:?}: expected redis, rediss, redis+unix or mysql",
            other.chars().take(32).collect::<String>()
        )),
    }
}

type Opts = Vec<(String, String)>;

fn parse_query(q: &str) -> Result<Opts, ConfigError> {
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.find('=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        out.push((percent_decode(k, "option name")?, percent_decode(v, "option value")?));
    }
    Ok(out)
}

fn percent_decode(s: &str, field: &str) -> Result<String, ConfigError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => out.push(v),
                None => return err(format!("invalid percent-encoding in {field}")),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).or_else(|_| err(format!("{field} is not valid UTF-8")))
}

/// Splits `user:password@hostport` into its parts (both optional).
fn split_userinfo(s: &str) -> Result<(Option<String>, Option<Secret>, &str), ConfigError> {
    match s.rfind('@') {
        None => Ok((None, None, s)),
        Some(i) => {
            let info = &s[..i];
            let (u, p) = match info.find(':') {
                Some(j) => (&info[..j], Some(&info[j + 1..])),
                None => (info, None),
            };
            let user = if u.is_empty() { None } else { Some(percent_decode(u, "user")?) };
            // Never echo the password, even in its own error.
            let pass = match p {
                Some(p) if !p.is_empty() => Some(Secret::new(
                    percent_decode(p, "password").map_err(|_| ConfigError("invalid percent-encoding in password".into()))?,
                )),
                _ => None,
            };
            Ok((user, pass, &s[i + 1..]))
        }
    }
}

fn parse_host_port(s: &str, default_port: u16) -> Result<(String, u16), ConfigError> {
    let (host, port) = if let Some(stripped) = s.strip_prefix('[') {
        // [ipv6]:port
        let end = stripped.find(']').ok_or_else(|| ConfigError("invalid host: unclosed '[' in IPv6 address".into()))?;
        let host = &stripped[..end];
        let after = &stripped[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return err("invalid host: unexpected text after IPv6 address"),
        };
        (host.to_string(), port)
    } else {
        match s.rfind(':') {
            Some(i) => (s[..i].to_string(), Some(&s[i + 1..])),
            None => (s.to_string(), None),
        }
    };
    if host.is_empty() {
        return err("invalid host: empty");
    }
    if host.contains(':') && !s.starts_with('[') {
        // `redis://::1` would otherwise be host ":" and port 1.
        return err("invalid host: put an IPv6 address in brackets, e.g. [::1]:6379");
    }
    if host.bytes().any(|b| b.is_ascii_whitespace() || b == b'/' || b == b'@' || b == b'?') {
        return err(format!("invalid host {:?}", host.chars().take(64).collect::<String>()));
    }
    let port = match port {
        None => default_port,
        Some(p) => parse_port(p)?,
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, ConfigError> {
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => err(format!("invalid port {:?}: expected 1..65535", p.chars().take(16).collect::<String>())),
    }
}

fn parse_db(s: &str) -> Result<i64, ConfigError> {
    match s.parse::<i64>() {
        Ok(n) if (0..=100_000).contains(&n) => Ok(n),
        _ => err(format!("invalid db {:?}: expected a number >= 0", s.chars().take(16).collect::<String>())),
    }
}

fn parse_secs(field: &str, v: &str) -> Result<Duration, ConfigError> {
    match v.parse::<f64>() {
        // At least 1 ms: a tinier value would become a zero Duration, which sockets refuse.
        Ok(s) if s.is_finite() && (0.001..=86_400.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => err(format!(
            "invalid {field} {:?}: expected seconds from 0.001 to 86400 (e.g. 1.5)",
            v.chars().take(16).collect::<String>()
        )),
    }
}

fn parse_bool(field: &str, v: &str) -> Result<bool, ConfigError> {
    match flag(v) {
        Some(b) => Ok(b),
        None => err(format!("invalid {field} {:?}: expected 0 or 1", v.chars().take(16).collect::<String>())),
    }
}

/// Reads a password from a file (first line) or an environment variable named in the DSN, so that
/// the DSN itself (which PHP prints in warnings and phpinfo) need not hold it.
fn password_from(opt: &str, v: &str) -> Result<Secret, ConfigError> {
    if opt == "password_env" {
        return std::env::var(v)
            .map(Secret::new)
            .or_else(|_| err(format!("password_env: environment variable {v:?} is not set")));
    }
    match std::fs::read_to_string(v) {
        Ok(s) => Ok(Secret::new(s.lines().next().unwrap_or("").to_string())),
        Err(e) => err(format!("password_file: cannot read {v:?}: {}", e.kind())),
    }
}

/// Applies the options every backend shares; returns the ones left for the backend.
fn apply_common(cfg: &mut Config, opts: Opts, password: &mut Option<Secret>) -> Result<Opts, ConfigError> {
    let mut left = Vec::new();
    for (k, v) in opts {
        match k.as_str() {
            "prefix" => {
                if v.len() > 128 {
                    return err("invalid prefix: at most 128 characters");
                }
                cfg.prefix = Some(v)
            }
            "connect_timeout" => cfg.connect_timeout = parse_secs("connect_timeout", &v)?,
            "timeout" | "read_timeout" => cfg.timeout = parse_secs("timeout", &v)?,
            "lock" | "locking" => cfg.locking = Some(parse_bool("lock", &v)?),
            "lock_ttl" => cfg.lock_ttl = parse_secs("lock_ttl", &v)?,
            "lock_wait_timeout" => cfg.lock_wait_timeout = parse_secs("lock_wait_timeout", &v)?,
            "lock_fail" => {
                cfg.lock_fail = match v.as_str() {
                    "fail" => LockFailPolicy::Fail,
                    "readonly" | "read_only" => LockFailPolicy::ReadOnly,
                    _ => return err(format!("invalid lock_fail {:?}: expected fail or readonly", v.chars().take(16).collect::<String>())),
                }
            }
            "max_size" => {
                cfg.max_size = match v.parse::<usize>() {
                    Ok(n) if n >= 1024 => n,
                    _ => return err(format!("invalid max_size {:?}: expected bytes >= 1024", v.chars().take(16).collect::<String>())),
                }
            }
            "serializer" => cfg.serializer = Some(Serializer::from_name(&v)?),
            "persistent" => cfg.persistent = parse_bool("persistent", &v)?,
            "password_file" | "password_env" => *password = Some(password_from(&k, &v)?),
            _ => left.push((k, v)),
        }
    }
    Ok(left)
}

fn unknown(k: &str) -> ConfigError {
    ConfigError(format!("unknown DSN option {:?}", k.chars().take(32).collect::<String>()))
}

fn redis_config(
    addr: RedisAddr,
    db: i64,
    username: Option<String>,
    mut password: Option<Secret>,
    opts: Opts,
    tls: bool,
) -> Result<Config, ConfigError> {
    let mut cfg = Config::redis_default();
    let left = apply_common(&mut cfg, opts, &mut password)?;
    let mut db = db;
    let mut username = username;
    let mut t = TlsConfig { verify: true, ..TlsConfig::default() };
    let mut tls_opt_seen = None;
    for (k, v) in &left {
        match k.as_str() {
            "db" | "database" => db = parse_db(v)?,
            "user" | "username" => username = Some(v.clone()),
            "tls_ca" | "tls_ca_file" => t.ca_file = Some(PathBuf::from(v)),
            "tls_cert" | "tls_cert_file" => t.cert_file = Some(PathBuf::from(v)),
            "tls_key" | "tls_key_file" => t.key_file = Some(PathBuf::from(v)),
            "tls_verify" => t.verify = parse_bool("tls_verify", v)?,
            "tls_server_name" => t.server_name = Some(v.clone()),
            _ => return Err(unknown(k)),
        }
        if k.starts_with("tls_") {
            tls_opt_seen = Some(k.clone());
        }
    }
    if let (false, Some(k)) = (tls, &tls_opt_seen) {
        return err(format!("{k} needs TLS: use a rediss:// DSN"));
    }
    if t.cert_file.is_some() != t.key_file.is_some() {
        return err("tls_cert and tls_key go together: give both or neither");
    }
    let tls = if tls { Some(t) } else { None };
    cfg.backend = Backend::Redis(RedisConfig { addr, db, username, password, tls });
    Ok(cfg)
}

fn parse_redis_tcp(rest: &str, opts: Opts, tls: bool) -> Result<Config, ConfigError> {
    let (user, pass, hostpath) = split_userinfo(rest)?;
    let (hostport, path) = match hostpath.find('/') {
        Some(i) => (&hostpath[..i], &hostpath[i + 1..]),
        None => (hostpath, ""),
    };
    let (host, port) = parse_host_port(hostport, 6379)?;
    let db = if path.is_empty() { 0 } else { parse_db(path)? };
    redis_config(RedisAddr::Tcp { host, port }, db, user, pass, opts, tls)
}

fn parse_redis_unix(rest: &str, opts: Opts) -> Result<Config, ConfigError> {
    let (user, pass, path) = split_userinfo(rest)?;
    if !path.starts_with('/') {
        return err("invalid socket path: redis+unix:// needs an absolute path, e.g. redis+unix:///run/redis.sock");
    }
    redis_config(RedisAddr::Unix(PathBuf::from(path)), 0, user, pass, opts, false)
}

fn parse_mysql(rest: &str, opts: Opts) -> Result<Config, ConfigError> {
    let (user, mut pass, hostpath) = split_userinfo(rest)?;
    let (hostport, path) = match hostpath.find('/') {
        Some(i) => (&hostpath[..i], &hostpath[i + 1..]),
        None => (hostpath, ""),
    };
    let (host, port) = parse_host_port(hostport, 3306)?;
    let mut cfg = Config::with_backend(Backend::Redis(RedisConfig {
        addr: RedisAddr::Tcp { host: String::new(), port: 0 },
        db: 0,
        username: None,
        password: None,
        tls: None,
    }));
    let left = apply_common(&mut cfg, opts, &mut pass)?;
    let mut m = MysqlConfig {
        host,
        port,
        socket: None,
        username: user,
        password: None,
        dbname: percent_decode(path.trim_end_matches('/'), "dbname")?,
        table: DEFAULT_TABLE.to_string(),
        auto_create: false,
        ssl: None,
    };
    let mut ssl_mode = None;
    let (mut ssl_ca, mut ssl_cert, mut ssl_key) = (None, None, None);
    for (k, v) in left {
        match k.as_str() {
            "table" => m.table = v,
            "socket" => m.socket = Some(PathBuf::from(v)),
            "auto_create" => m.auto_create = parse_bool("auto_create", &v)?,
            "user" | "username" => m.username = Some(v),
            "dbname" => m.dbname = v,
            "ssl_mode" | "sslmode" => {
                ssl_mode = match v.to_ascii_lowercase().as_str() {
                    "disabled" => None,
                    "required" => Some(SslMode::Required),
                    "verify_ca" => Some(SslMode::VerifyCa),
                    "verify_identity" => Some(SslMode::VerifyIdentity),
                    _ => return err(format!(
                        "invalid ssl_mode {:?}: expected disabled, required, verify_ca or verify_identity",
                        v.chars().take(24).collect::<String>()
                    )),
                }
            }
            "ssl_ca" => ssl_ca = Some(PathBuf::from(v)),
            "ssl_cert" => ssl_cert = Some(PathBuf::from(v)),
            "ssl_key" => ssl_key = Some(PathBuf::from(v)),
            _ => return Err(unknown(&k)),
        }
    }
    if ssl_cert.is_some() != ssl_key.is_some() {
        return err("ssl_cert and ssl_key go together: give both or neither");
    }
    if matches!(ssl_mode, Some(SslMode::VerifyCa | SslMode::VerifyIdentity)) && ssl_ca.is_none() {
        return err("ssl_mode verify_ca and verify_identity need ssl_ca (the CA certificate file)");
    }
    m.ssl = match ssl_mode {
        Some(mode) => Some(MysqlSsl { mode, ca_file: ssl_ca, cert_file: ssl_cert, key_file: ssl_key }),
        None if ssl_ca.is_some() || ssl_cert.is_some() => {
            return err("ssl_ca/ssl_cert/ssl_key need ssl_mode=required, verify_ca or verify_identity")
        }
        None => None,
    };
    if m.dbname.is_empty() {
        return err("missing dbname: use mysql://user:password@host:3306/dbname");
    }
    validate_identifier("dbname", &m.dbname)?;
    validate_identifier("table", &m.table)?;
    m.password = pass;
    cfg.backend = Backend::Mysql(m);
    Ok(cfg)
}

#[cfg(test)]
#[path = "dsn_tests.rs"]
mod tests;
