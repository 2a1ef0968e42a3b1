//! Configuration: DSN parsing, option validation, defaults. Errors name the field at fault and
//! never contain a password.

mod dsn;
pub mod options;
mod secret;

pub use dsn::parse_dsn;
pub use secret::Secret;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConfigError {}

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Where a Redis server is.
#[derive(Debug, Clone, PartialEq)]
pub enum RedisAddr {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    /// The server for `Single`; for Sentinel and Cluster the first listed host (a sentinel or a
    /// seed), kept so that code written for one node still compiles. Topology-aware code reads
    /// `topology` instead.
    pub addr: RedisAddr,
    pub db: i64,
    /// The data nodes' credentials (never the sentinels').
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `rediss://`: TLS to the server (for Sentinel and Cluster: to the data nodes).
    pub tls: Option<TlsConfig>,
    pub topology: RedisTopology,
    /// `wait=N`: after each write, `WAIT N` replicas; 0 (the default) waits for none.
    pub wait: u32,
    /// `wait_timeout=ms`: how long `WAIT` may block before fewer acknowledgements count as a
    /// failed write.
    pub wait_timeout: Duration,
}

/// How the Redis data nodes are found.
#[derive(Debug, Clone, PartialEq)]
pub enum RedisTopology {
    /// One server, at `RedisConfig::addr`.
    Single,
    /// `redis+sentinel://`: ask these sentinels, in order, for the master of `service`.
    Sentinel {
        sentinels: Vec<(String, u16)>,
        service: String,
        /// The sentinels' own credentials (`sentinel_user`, `sentinel_password*`).
        username: Option<String>,
        password: Option<Secret>,
        /// Talk TLS to the sentinels too (`sentinel_tls`; by default as the data nodes do).
        tls: bool,
        /// `sentinel_check_interval`: at most this often a request asks a sentinel, alongside its
        /// first pipeline, whether the master moved (zero: every request).
        check_interval: Duration,
    },
    /// `redis+cluster://`: any of these nodes gives the slot map.
    Cluster { seeds: Vec<(String, u16)> },
}

pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_millis(100);
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;
pub const DEFAULT_SENTINEL_CHECK_INTERVAL: Duration = Duration::from_secs(1);

impl RedisConfig {
    /// The configuration to reach one data node (a sentinel's master, a cluster node): the same
    /// credentials, database and TLS settings, at `host:port`, as a single server.
    pub fn for_node(&self, host: &str, port: u16) -> RedisConfig {
        RedisConfig {
            addr: RedisAddr::Tcp { host: host.to_string(), port },
            topology: RedisTopology::Single,
            ..self.clone()
        }
    }

    /// The configuration to talk to one sentinel: its own credentials, database 0, TLS only
    /// when `sentinel_tls` says so. `None` unless the topology is Sentinel.
    pub fn for_sentinel(&self, host: &str, port: u16) -> Option<RedisConfig> {
        let RedisTopology::Sentinel { username, password, tls, .. } = &self.topology else {
            return None;
        };
        Some(RedisConfig {
            addr: RedisAddr::Tcp { host: host.to_string(), port },
            db: 0,
            username: username.clone(),
            password: password.clone(),
            // `sentinel_tls=1` is only accepted with `rediss+sentinel://`, so `self.tls` is set.
            tls: if *tls { self.tls.clone() } else { None },
            topology: RedisTopology::Single,
            wait: 0,
            wait_timeout: self.wait_timeout,
        })
    }
}

/// TLS options (`rediss://`). Verification is on unless `tls_verify=0`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    /// PEM file of CA certificates to trust; the system's roots when absent.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key, for servers that require one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Check the server's certificate chain and name.
    pub verify: bool,
    /// The name to check the certificate against (and send as SNI); the host by default.
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MysqlConfig {
    pub host: String,
    pub port: u16,
    pub socket: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub dbname: String,
    /// Validated identifier: `[A-Za-z0-9_]`, 1..=64 characters.
    pub table: String,
    pub auto_create: bool,
    /// TLS to the server (`ssl_mode` other than `disabled`).
    pub ssl: Option<MysqlSsl>,
}

/// `ssl_mode` as MySQL's own clients name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Encrypt; accept any certificate.
    Required,
    /// Encrypt and check the certificate chain against `ssl_ca`.
    VerifyCa,
    /// As VerifyCa, and the certificate must name the host.
    VerifyIdentity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MysqlSsl {
    pub mode: SslMode,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    Redis(RedisConfig),
    Mysql(MysqlConfig),
}

/// What to do when the lock wait timeout passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockFailPolicy {
    /// session_start() fails / LockTimeoutException.
    Fail,
    /// The request gets the data; its write is skipped with a notice.
    ReadOnly,
}

/// How the `Session`/`Adapter` API turns arrays into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    Php,
    Json,
}

impl Serializer {
    /// `php` or `json` (surrounding blanks ignored; empty is the default, `php`).
    pub fn from_name(name: &str) -> Result<Serializer, ConfigError> {
        match name.trim() {
            "" | "php" => Ok(Serializer::Php),
            "json" => Ok(Serializer::Json),
            other => err(format!("invalid serializer {:?}: expected php or json", other.chars().take(16).collect::<String>())),
        }
    }
}

/// The one reading of an on/off setting: `1`/`true`/`on`/`yes` or `0`/`false`/`off`/`no`, in
/// any case; None for anything else (each caller says what that means).
pub fn flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub backend: Backend,
    /// Key prefix (Redis); `None` means the caller's default.
    pub prefix: Option<String>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub locking: Option<bool>,
    pub lock_ttl: Duration,
    pub lock_wait_timeout: Duration,
    pub lock_fail: LockFailPolicy,
    pub max_size: usize,
    pub serializer: Option<Serializer>,
    /// Keep the connection for the process's next request (default), or close it at the end of
    /// each session (`persistent=0`), as a php-fpm worker without persistent connections does.
    pub persistent: bool,
}

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(30);
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_SIZE: usize = 16 * 1024 * 1024;
pub const DEFAULT_TABLE: &str = "cannon_session";

impl Config {
    pub fn with_backend(backend: Backend) -> Config {
        Config {
            backend,
            prefix: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            locking: None,
            lock_ttl: DEFAULT_LOCK_TTL,
            lock_wait_timeout: DEFAULT_LOCK_WAIT,
            lock_fail: LockFailPolicy::Fail,
            max_size: DEFAULT_MAX_SIZE,
            serializer: None,
            persistent: true,
        }
    }

    pub fn redis_default() -> Config {
        Config::with_backend(Backend::Redis(RedisConfig {
            addr: RedisAddr::Tcp { host: "127.0.0.1".into(), port: 6379 },
            db: 0,
            username: None,
            password: None,
            tls: None,
            topology: RedisTopology::Single,
            wait: 0,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        }))
    }

    /// A description safe to show anywhere (warnings, phpinfo): no password.
    pub fn redacted(&self) -> String {
        match &self.backend {
            Backend::Redis(r) => {
                let auth = match (&r.username, &r.password) {
                    (Some(u), Some(_)) => format!("{u}:***@"),
                    (None, Some(_)) => ":***@".to_string(),
                    (Some(u), None) => format!("{u}@"),
                    (None, None) => String::new(),
                };
                let scheme = if r.tls.is_some() { "rediss" } else { "redis" };
                let mut out = match (&r.topology, &r.addr) {
                    (RedisTopology::Sentinel { sentinels, service, .. }, _) => {
                        format!("{scheme}+sentinel://{auth}{}/{service}/{}", host_list(sentinels), r.db)
                    }
                    (RedisTopology::Cluster { seeds }, _) => format!("{scheme}+cluster://{auth}{}", host_list(seeds)),
                    (RedisTopology::Single, RedisAddr::Tcp { host, port }) => {
                        format!("{scheme}://{auth}{host}:{port}/{}", r.db)
                    }
                    (RedisTopology::Single, RedisAddr::Unix(p)) => {
                        format!("redis+unix://{auth}{}?db={}", p.display(), r.db)
                    }
                };
                // Options that change where or how data lands; the sentinels' password as ***.
                let mut opts = Vec::new();
                if let RedisTopology::Sentinel { username, password, tls, check_interval, .. } = &r.topology {
                    if let Some(u) = username {
                        opts.push(format!("sentinel_user={u}"));
                    }
                    if password.is_some() {
                        opts.push("sentinel_password=***".to_string());
                    }
                    if *tls != r.tls.is_some() {
                        opts.push(format!("sentinel_tls={}", u8::from(*tls)));
                    }
                    if *check_interval != DEFAULT_SENTINEL_CHECK_INTERVAL {
                        opts.push(format!("sentinel_check_interval={}", check_interval.as_secs_f64()));
                    }
                }
                if r.wait > 0 {
                    opts.push(format!("wait={}&wait_timeout={}", r.wait, r.wait_timeout.as_millis()));
                }
                if !opts.is_empty() {
                    out.push(if out.contains('?') { '&' } else { '?' });
                    out.push_str(&opts.join("&"));
                }
                out
            }
            Backend::Mysql(m) => {
                let auth = match (&m.username, &m.password) {
                    (Some(u), Some(_)) => format!("{u}:***@"),
                    (Some(u), None) => format!("{u}@"),
                    (None, Some(_)) => ":***@".to_string(),
                    (None, None) => String::new(),
                };
                match &m.socket {
                    Some(s) => format!("mysql://{auth}localhost/{}?table={}&socket={}", m.dbname, m.table, s.display()),
                    None => format!("mysql://{auth}{}:{}/{}?table={}", m.host, m.port, m.dbname, m.table),
                }
            }
        }
    }
}

/// `host:port,host:port`, IPv6 addresses in brackets.
fn host_list(hosts: &[(String, u16)]) -> String {
    let mut out = String::new();
    for (i, (h, p)) in hosts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if h.contains(':') {
            out.push_str(&format!("[{h}]:{p}"));
        } else {
            out.push_str(&format!("{h}:{p}"));
        }
    }
    out
}

/// Checks a SQL identifier (table name): letters, digits and `_`, at most 64 characters.
pub fn validate_identifier(field: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        err(format!(
            "invalid {field} {:?}: use only letters, digits and '_' (at most 64 characters)",
            name.chars().take(80).collect::<String>()
        ))
    }
}
