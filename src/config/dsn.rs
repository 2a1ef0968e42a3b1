//! DSN strings: `redis://`, `redis+unix://`, `redis+sentinel://`, `redis+cluster://`, `mysql://`.
//!
//! `redis://[user[:password]@]host[:port][/db][?opt=val&...]`
//! `redis+unix:///path/to/redis.sock[?db=N&...]`
//! `redis+sentinel://[user[:password]@]host[:port][,host[:port]...]/SERVICE[/db][?opt=val&...]`
//! `redis+cluster://[user[:password]@]host[:port][,host[:port]...][?opt=val&...]`
//! `redis+cluster://seed[]=host:port&seed[]=...&timeout=..&read_timeout=..&auth=..` (phpredis)
//! (`rediss+sentinel://`, `rediss+cluster://`: TLS to the data nodes.)
//! `mysql://[user[:password]@]host[:port]/dbname[?table=..&socket=..&...]`
use super::*;

/// Parses a DSN. Every error names the field at fault and never echoes a password.
pub fn parse_dsn(dsn: &str) -> Result<Config, ConfigError> {
    let dsn = dsn.trim();
    if dsn.is_empty() {
        return err("empty DSN: expected redis://host:port, redis+unix:///path, redis+sentinel://host:26379/SERVICE, redis+cluster://host:port or mysql://user@host/db");
    }
    let (scheme, rest) = match dsn.find("://") {
        Some(i) => (dsn[..i].to_ascii_lowercase(), &dsn[i + 3..]),
        None => {
            return err("invalid DSN: missing scheme (expected redis://, redis+unix://, redis+sentinel://, redis+cluster:// or mysql://)")
        }
    };
    let cluster_tls = match scheme.as_str() {
        "redis+cluster" => Some(false),
        "rediss+cluster" => Some(true),
        _ => None,
    };
    if let Some(tls) = cluster_tls {
        let q = rest.strip_prefix('?').unwrap_or(rest);
        if is_phpredis_seed_form(q) {
            return parse_phpredis_cluster(q, tls);
        }
    }
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let opts = parse_query(query)?;
    match scheme.as_str() {
        "redis" | "tcp" => parse_redis_tcp(rest, opts, false),
        "rediss" | "tls" => parse_redis_tcp(rest, opts, true),
        "redis+unix" | "unix" => parse_redis_unix(rest, opts),
        "redis+sentinel" => parse_redis_sentinel(rest, opts, false),
        "rediss+sentinel" => parse_redis_sentinel(rest, opts, true),
        "redis+cluster" => parse_redis_cluster(rest, opts, false),
        "rediss+cluster" => parse_redis_cluster(rest, opts, true),
        "mysql" | "mariadb" => parse_mysql(rest, opts),
        other => err(format!(
            "unknown DSN scheme {:?}: expected redis, rediss, redis+unix, redis+sentinel, redis+cluster or mysql",
            other.chars().take(32).collect::<String>()
        )),
    }
}

type Opts = Vec<(String, String)>;

fn parse_query(q: &str) -> Result<Opts, ConfigError> {
    parse_query_as(q, false)
}

/// `plus_is_space`: decode as PHP's `parse_str` does (`+` is a space), for phpredis' form.
fn parse_query_as(q: &str, plus_is_space: bool) -> Result<Opts, ConfigError> {
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.find('=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        let (k, v) = if plus_is_space {
            (k.replace('+', " "), v.replace('+', " "))
        } else {
            (k.to_string(), v.to_string())
        };
        out.push((percent_decode(&k, "option name")?, percent_decode(&v, "option value")?));
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
/// the DSN itself (which PHP prints in warnings and phpinfo) need not hold it. `opt` is the
/// option's name (`password_env`, `sentinel_password_file`, ...), for the error.
fn password_from(opt: &str, v: &str) -> Result<Secret, ConfigError> {
    if opt.ends_with("_env") {
        return std::env::var(v)
            .map(Secret::new)
            .or_else(|_| err(format!("{opt}: environment variable {v:?} is not set")));
    }
    match std::fs::read_to_string(v) {
        Ok(s) => Ok(Secret::new(s.lines().next().unwrap_or("").to_string())),
        Err(e) => err(format!("{opt}: cannot read {v:?}: {}", e.kind())),
    }
}

/// `wait=N`: how many replicas must acknowledge each write.
fn parse_wait(v: &str) -> Result<u32, ConfigError> {
    match v.parse::<u32>() {
        Ok(n) if n <= 1000 => Ok(n),
        _ => err(format!(
            "invalid wait {:?}: expected the number of replicas that must acknowledge a write (0 = off)",
            v.chars().take(16).collect::<String>()
        )),
    }
}

/// `wait_timeout=ms`. At least 1: `WAIT n 0` would block for ever.
fn parse_millis(field: &str, v: &str) -> Result<Duration, ConfigError> {
    match v.parse::<u64>() {
        Ok(n) if (1..=60_000).contains(&n) => Ok(Duration::from_millis(n)),
        _ => err(format!(
            "invalid {field} {:?}: expected milliseconds from 1 to 60000",
            v.chars().take(16).collect::<String>()
        )),
    }
}

/// `sentinel_check_interval=s`: 0 (every request) to 3600 seconds, fractions allowed.
fn parse_check_interval(v: &str) -> Result<Duration, ConfigError> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => err(format!(
            "invalid sentinel_check_interval {:?}: expected seconds from 0 (every request) to 3600",
            v.chars().take(16).collect::<String>()
        )),
    }
}

/// A comma-separated `host[:port]` list (sentinels, cluster seeds). `what` names one entry.
fn parse_host_list(s: &str, default_port: u16, what: &str, example: &str) -> Result<Vec<(String, u16)>, ConfigError> {
    if s.is_empty() {
        return err(format!("empty {what} list: give at least one host, e.g. {example}"));
    }
    // Options where hosts belong (a mistyped phpredis form, a missing '?'): not echoed, as
    // they may hold a password.
    if s.contains('=') || s.contains('&') {
        return err(format!(
            "invalid {what} list: '=' or '&' before '?' (options go after '?'; phpredis' form starts with seed[]=host:port)"
        ));
    }
    let mut out = Vec::new();
    for item in s.split(',') {
        if item.is_empty() {
            return err(format!("empty host in the {what} list (two commas in a row, or a comma at an end?)"));
        }
        out.push(parse_host_port(item, default_port)?);
    }
    if out.len() > 64 {
        return err(format!("too many {what} hosts: at most 64"));
    }
    Ok(out)
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

/// Builds a Redis configuration. `cfg` may already hold options set by the caller (phpredis'
/// form sets the timeouts); `topology` comes without the sentinels' credentials, which the
/// options give.
#[allow(clippy::too_many_arguments)]
fn redis_config(
    mut cfg: Config,
    addr: RedisAddr,
    db: i64,
    username: Option<String>,
    mut password: Option<Secret>,
    opts: Opts,
    tls: bool,
    mut topology: RedisTopology,
) -> Result<Config, ConfigError> {
    let left = apply_common(&mut cfg, opts, &mut password)?;
    let mut db = db;
    let mut username = username;
    let mut t = TlsConfig { verify: true, ..TlsConfig::default() };
    let mut tls_opt_seen = None;
    let mut wait = 0;
    let mut wait_timeout = DEFAULT_WAIT_TIMEOUT;
    let (mut s_user, mut s_pass, mut s_tls) = (None, None, None);
    let mut s_interval = DEFAULT_SENTINEL_CHECK_INTERVAL;
    let mut sentinel_opt_seen = None;
    for (k, v) in &left {
        match k.as_str() {
            "db" | "database" => db = parse_db(v)?,
            "user" | "username" => username = Some(v.clone()),
            "tls_ca" | "tls_ca_file" => t.ca_file = Some(PathBuf::from(v)),
            "tls_cert" | "tls_cert_file" => t.cert_file = Some(PathBuf::from(v)),
            "tls_key" | "tls_key_file" => t.key_file = Some(PathBuf::from(v)),
            "tls_verify" => t.verify = parse_bool("tls_verify", v)?,
            "tls_server_name" => t.server_name = Some(v.clone()),
            "wait" => wait = parse_wait(v)?,
            "wait_timeout" => wait_timeout = parse_millis("wait_timeout", v)?,
            "sentinel_user" | "sentinel_username" => s_user = Some(v.clone()).filter(|u| !u.is_empty()),
            // Never echoed: an empty one means none, like an empty password in the authority.
            "sentinel_password" => s_pass = Some(Secret::new(v.clone())).filter(|p| !p.expose().is_empty()),
            "sentinel_password_file" | "sentinel_password_env" => s_pass = Some(password_from(k, v)?),
            "sentinel_tls" => s_tls = Some(parse_bool("sentinel_tls", v)?),
            "sentinel_check_interval" => s_interval = parse_check_interval(v)?,
            _ if k.starts_with("seed[") => {
                return err("seed[] (phpredis' save_path form) cannot follow hosts: write either redis+cluster://seed[]=host:port&seed[]=... or redis+cluster://host:port,host:port")
            }
            _ => return Err(unknown(k)),
        }
        if k.starts_with("tls_") {
            tls_opt_seen = Some(k.clone());
        }
        if k.starts_with("sentinel_") {
            sentinel_opt_seen = Some(k.clone());
        }
    }
    if let (false, Some(k)) = (tls, &tls_opt_seen) {
        return err(format!("{k} needs TLS: use a rediss:// DSN"));
    }
    if t.cert_file.is_some() != t.key_file.is_some() {
        return err("tls_cert and tls_key go together: give both or neither");
    }
    // WAIT blocks up to wait_timeout inside a call bounded by timeout: a shorter timeout would
    // turn every short acknowledgement into a broken connection instead of a failed write.
    if wait > 0 && wait_timeout >= cfg.timeout {
        return err(format!(
            "wait_timeout ({} ms) must be shorter than timeout ({} ms)",
            wait_timeout.as_millis(),
            cfg.timeout.as_millis()
        ));
    }
    match &mut topology {
        RedisTopology::Sentinel { username, password, tls: sentinel_tls, check_interval, .. } => {
            *username = s_user;
            *password = s_pass;
            *check_interval = s_interval;
            *sentinel_tls = s_tls.unwrap_or(tls);
            if *sentinel_tls && !tls {
                return err("sentinel_tls=1 needs TLS: use a rediss+sentinel:// DSN");
            }
        }
        RedisTopology::Single | RedisTopology::Cluster { .. } => {
            if let Some(k) = sentinel_opt_seen {
                return err(format!("{k} applies to redis+sentinel:// DSNs only"));
            }
        }
    }
    if let RedisTopology::Cluster { .. } = topology {
        if db != 0 {
            return err(format!("invalid db {db}: Redis Cluster has only database 0 (leave the db out of a redis+cluster:// DSN)"));
        }
        // Keys are `prefix{id}`: a brace in the prefix would move the hash tag into it, and
        // every session into one slot.
        if cfg.prefix.as_deref().is_some_and(|p| p.contains('{') || p.contains('}')) {
            return err("invalid prefix for redis+cluster://: no '{' or '}' (keys are hash-tagged as prefix{id})");
        }
    }
    let tls = if tls { Some(t) } else { None };
    cfg.backend = Backend::Redis(RedisConfig { addr, db, username, password, tls, topology, wait, wait_timeout });
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
    redis_config(Config::redis_default(), RedisAddr::Tcp { host, port }, db, user, pass, opts, tls, RedisTopology::Single)
}

fn parse_redis_unix(rest: &str, opts: Opts) -> Result<Config, ConfigError> {
    let (user, pass, path) = split_userinfo(rest)?;
    if !path.starts_with('/') {
        return err("invalid socket path: redis+unix:// needs an absolute path, e.g. redis+unix:///run/redis.sock");
    }
    redis_config(Config::redis_default(), RedisAddr::Unix(PathBuf::from(path)), 0, user, pass, opts, false, RedisTopology::Single)
}

const SENTINEL_EXAMPLE: &str = "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster";
const CLUSTER_EXAMPLE: &str = "redis+cluster://10.0.0.1:7000,10.0.0.2:7001";

fn parse_redis_sentinel(rest: &str, opts: Opts, tls: bool) -> Result<Config, ConfigError> {
    let (user, pass, hostpath) = split_userinfo(rest)?;
    let (hosts, path) = match hostpath.find('/') {
        Some(i) => (&hostpath[..i], &hostpath[i + 1..]),
        None => (hostpath, ""),
    };
    let sentinels = parse_host_list(hosts, DEFAULT_SENTINEL_PORT, "sentinel", SENTINEL_EXAMPLE)?;
    let mut parts = path.splitn(3, '/');
    let service = percent_decode(parts.next().unwrap_or(""), "service")?;
    if service.is_empty() {
        return err(format!(
            "missing service name: write {SENTINEL_EXAMPLE}[/db] (the name in `sentinel monitor NAME ...`)"
        ));
    }
    if service.len() > 256 || service.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return err(format!(
            "invalid service name {:?}: no spaces or control characters, at most 256 bytes",
            service.chars().take(64).collect::<String>()
        ));
    }
    let db = match parts.next() {
        Some(d) if !d.is_empty() => parse_db(d)?,
        _ => 0,
    };
    if parts.next().is_some_and(|p| !p.is_empty()) {
        return err(format!("invalid path: expected /SERVICE[/db] after the sentinel hosts, e.g. {SENTINEL_EXAMPLE}/0"));
    }
    let (host, port) = sentinels[0].clone();
    let topology = RedisTopology::Sentinel {
        sentinels,
        service,
        username: None,
        password: None,
        tls: false,
        check_interval: DEFAULT_SENTINEL_CHECK_INTERVAL,
    };
    redis_config(Config::redis_default(), RedisAddr::Tcp { host, port }, db, user, pass, opts, tls, topology)
}

fn parse_redis_cluster(rest: &str, opts: Opts, tls: bool) -> Result<Config, ConfigError> {
    let (user, pass, hostpath) = split_userinfo(rest)?;
    let (hosts, path) = match hostpath.find('/') {
        Some(i) => (&hostpath[..i], &hostpath[i + 1..]),
        None => (hostpath, ""),
    };
    let seeds = parse_host_list(hosts, 6379, "cluster seed", CLUSTER_EXAMPLE)?;
    let path = path.trim_end_matches('/');
    let db = if path.is_empty() { 0 } else { parse_db(path)? };
    let (host, port) = seeds[0].clone();
    redis_config(Config::redis_default(), RedisAddr::Tcp { host, port }, db, user, pass, opts, tls, RedisTopology::Cluster { seeds })
}

/// phpredis' `rediscluster` save_path: it starts with an option (`key=`, a plain key: never
/// hosts or credentials, which must not be read as option names and echoed in an error), and
/// some `seed[...]` key is among its `&`-separated pairs.
fn is_phpredis_seed_form(q: &str) -> bool {
    let plain_key = |k: &str| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_[]%".contains(&b));
    let first = q.split('&').next().unwrap_or("");
    if !first.split_once('=').is_some_and(|(k, _)| plain_key(k)) {
        return false;
    }
    q.split('&').any(|pair| {
        let key = pair.split('=').next().unwrap_or("");
        let key = percent_decode(key, "option name").unwrap_or_default();
        key.starts_with("seed[")
    })
}

/// phpredis' `rediscluster` save_path after `redis+cluster://`, decoded as PHP decodes it:
/// `seed[]=host:port` (repeated) are the seeds; `timeout` is the connect timeout and
/// `read_timeout` the read/write timeout (phpredis' meanings; 0 = our default); `auth=password`,
/// `auth[]=user&auth[]=password` or `auth[user]=..&auth[pass]=..`; `persistent` as phpredis
/// reads it (1/true/yes, anything else is off); `prefix`; `failover` is accepted and ignored
/// (every command goes to a master). Our own options work too.
fn parse_phpredis_cluster(q: &str, tls: bool) -> Result<Config, ConfigError> {
    let mut cfg = Config::redis_default();
    let mut seeds = Vec::new();
    let mut auth_list: Vec<String> = Vec::new();
    let (mut user, mut pass) = (None, None);
    let mut rest = Vec::new();
    for (k, v) in parse_query_as(q, true)? {
        match k.as_str() {
            _ if k.starts_with("seed[") => {
                if v.is_empty() {
                    return err("empty seed[]: expected seed[]=host:port");
                }
                seeds.push(parse_host_port(&v, 6379)?);
            }
            "timeout" | "read_timeout" => {
                // phpredis takes 0 (and its absence) as "use the default".
                if v.parse::<f64>().is_ok_and(|t| t == 0.0) {
                    continue;
                }
                let field = if k == "timeout" { "timeout (phpredis: the connect timeout)" } else { "read_timeout" };
                let d = parse_secs(field, &v)?;
                if k == "timeout" {
                    cfg.connect_timeout = d;
                } else {
                    cfg.timeout = d;
                }
            }
            "persistent" => {
                let on = matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes");
                cfg.persistent = on;
            }
            "auth" => pass = Some(Secret::new(v)).filter(|p| !p.expose().is_empty()),
            "auth[]" => auth_list.push(v),
            "auth[user]" => user = Some(v).filter(|u| !u.is_empty()),
            "auth[pass]" => pass = Some(Secret::new(v)).filter(|p| !p.expose().is_empty()),
            "failover" => match v.to_ascii_lowercase().as_str() {
                "none" | "error" | "distribute" | "distribute_slaves" => {}
                _ => return err(format!(
                    "invalid failover {:?}: expected none, error, distribute or distribute_slaves",
                    v.chars().take(24).collect::<String>()
                )),
            },
            _ if k.starts_with("stream[") => {
                return err("stream[...] (a PHP stream context) is not supported: use rediss+cluster:// with tls_ca, tls_cert, tls_key, tls_verify")
            }
            _ => rest.push((k, v)),
        }
    }
    match auth_list.len() {
        0 => {}
        1 => pass = Some(Secret::new(auth_list.remove(0))).filter(|p| !p.expose().is_empty()),
        2 => {
            pass = Some(Secret::new(auth_list.remove(1))).filter(|p| !p.expose().is_empty());
            user = Some(auth_list.remove(0)).filter(|u| !u.is_empty());
        }
        _ => return err("invalid auth[]: give auth[]=password or auth[]=user&auth[]=password"),
    }
    if seeds.is_empty() {
        return err(format!("empty cluster seed list: give at least one seed[]=host:port, or write {CLUSTER_EXAMPLE}"));
    }
    if seeds.len() > 64 {
        return err("too many cluster seed hosts: at most 64");
    }
    let (host, port) = seeds[0].clone();
    redis_config(cfg, RedisAddr::Tcp { host, port }, 0, user, pass, rest, tls, RedisTopology::Cluster { seeds })
}

fn parse_mysql(rest: &str, opts: Opts) -> Result<Config, ConfigError> {
    let (user, mut pass, hostpath) = split_userinfo(rest)?;
    let (hostport, path) = match hostpath.find('/') {
        Some(i) => (&hostpath[..i], &hostpath[i + 1..]),
        None => (hostpath, ""),
    };
    let (host, port) = parse_host_port(hostport, 3306)?;
    // A placeholder backend, replaced below; `with_backend` gives the shared defaults.
    let mut cfg = Config::redis_default();
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

#[cfg(test)]
#[path = "topology_dsn_tests.rs"]
mod topology_tests;
