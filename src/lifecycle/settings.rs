//! A CannonPHP config (`session_driver`, `session_redis_host`, ...) mapped to a `Config` and the
//! Session API's own settings. `src/php` reads the known keys out of the array (or the config
//! class's constants) as text; this decides what they mean.
use super::cookie::CookieSettings;
use crate::config::options::DsnParts;
use crate::config::{flag, parse_dsn, Config, ConfigError};

/// The Redis key prefix of the Session API when the config names none.
pub const SESSION_PREFIX: &str = "cannon_session:";

/// The cookie's name when the config names none.
pub const DEFAULT_NAME: &str = "cannon_session";

/// CannonPHP config names this object understands. Others are ignored: a CannonPHP config holds
/// other settings too.
pub const SESSION_KEYS: &[&str] = &[
    "session_driver", "session_engine", "session_dsn", "session_redis_host", "session_redis_port",
    "session_redis_password", "session_redis_database", "session_expire", "session_name",
    "session_prefix", "session_autostart", "session_db_table", "host", "port", "username", "password",
    "dbname", "session_path", "session_domain", "session_http_only", "session_samesite", "session_secure",
    "session_cookie", "session_cookie_lifetime", "session_serializer", "session_locking",
    "session_lock_wait_timeout", "session_timeout", "session_connect_timeout",
];

#[derive(Debug)]
pub struct Settings {
    pub config: Config,
    /// The cookie's name.
    pub name: String,
    /// The session's lifetime in seconds.
    pub expire: u64,
    pub cookie: CookieSettings,
    pub autostart: bool,
}

/// The config's values by name: (key, text) for each key that is set and not null.
struct Values<'a>(&'a [(&'a str, String)]);

impl Values<'_> {
    fn text(&self, key: &str) -> Option<String> {
        self.0.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    fn nonempty(&self, key: &str) -> Option<String> {
        self.text(key).filter(|s| !s.is_empty())
    }

    /// An on/off setting, lenient as CannonPHP's own: empty or a "no" word is off, anything
    /// else on.
    fn on(&self, key: &str, default: bool) -> bool {
        match self.text(key) {
            None => default,
            Some(v) => !v.is_empty() && flag(&v).unwrap_or(true),
        }
    }
}

/// Maps a CannonPHP config. `default_expire` is `session.gc_maxlifetime`.
pub fn from_values(values: &[(&str, String)], default_expire: u64) -> Result<Settings, ConfigError> {
    let v = Values(values);
    let mut query: Vec<(String, String)> = Vec::new();
    for (key, opt) in [
        ("session_serializer", "serializer"),
        ("session_locking", "lock"),
        ("session_lock_wait_timeout", "lock_wait_timeout"),
        ("session_timeout", "timeout"),
        ("session_connect_timeout", "connect_timeout"),
    ] {
        if let Some(val) = v.text(key) {
            query.push((opt.into(), val));
        }
    }
    let config = match v.text("session_dsn") {
        Some(dsn) => parse_dsn(&dsn)?,
        None => parse_dsn(&driver_parts(&v, query)?.to_dsn())?,
    };
    let expire = match v.text("session_expire") {
        None => default_expire,
        Some(e) => match e.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => return Err(ConfigError(format!("invalid session_expire {e:?}: expected seconds > 0"))),
        },
    };
    let name = v.nonempty("session_name").unwrap_or_else(|| DEFAULT_NAME.into());
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
        return Err(ConfigError(format!("invalid session_name {name:?}: use letters, digits, '_', '-', '.'")));
    }
    let defaults = CookieSettings::default();
    let cookie = CookieSettings {
        enabled: v.on("session_cookie", true),
        path: v.text("session_path").unwrap_or(defaults.path),
        domain: v.text("session_domain").unwrap_or(defaults.domain),
        http_only: v.on("session_http_only", true),
        same_site: v.text("session_samesite").unwrap_or(defaults.same_site),
        secure: v.text("session_secure").map(|_| v.on("session_secure", false)),
        lifetime: v.text("session_cookie_lifetime").and_then(|l| l.parse().ok()).unwrap_or(0),
    };
    Ok(Settings { config, name, expire, cookie, autostart: v.on("session_autostart", false) })
}

/// The DSN the driver keys describe (`session_driver`/`session_engine`: redis or database).
fn driver_parts(v: &Values, mut query: Vec<(String, String)>) -> Result<DsnParts, ConfigError> {
    let driver = v.text("session_driver").or_else(|| v.text("session_engine")).unwrap_or_else(|| "redis".into());
    match driver.to_ascii_lowercase().as_str() {
        "redis" => {
            query.push(("prefix".into(), v.text("session_prefix").unwrap_or_else(|| SESSION_PREFIX.into())));
            Ok(DsnParts {
                scheme: "redis".into(),
                user: None,
                password: v.nonempty("session_redis_password"),
                host: v.nonempty("session_redis_host"),
                port: v.nonempty("session_redis_port"),
                path: v.nonempty("session_redis_database"),
                query,
            })
        }
        "database" | "mysql" | "db" => {
            if let Some(t) = v.text("session_db_table") {
                query.push(("table".into(), t));
            }
            Ok(DsnParts {
                scheme: "mysql".into(),
                user: v.nonempty("username"),
                password: v.nonempty("password"),
                host: v.nonempty("host"),
                port: v.nonempty("port"),
                path: Some(v.text("dbname").unwrap_or_default()),
                query,
            })
        }
        other => Err(ConfigError(format!(
            "invalid session_driver {:?}: expected redis or database",
            other.chars().take(32).collect::<String>()
        ))),
    }
}

/// `cannon_session.allowed_classes`: the classes `unserialize()` may create for the Session API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedClasses {
    Any,
    None,
    Only(Vec<String>),
}

impl AllowedClasses {
    /// `1`/`all` (or another "on" word), `0`/`none`/empty (or another "off" word), or a
    /// comma-separated list of class names.
    pub fn from_setting(setting: &str) -> AllowedClasses {
        match (setting.trim(), flag(setting)) {
            ("" | "none", _) | (_, Some(false)) => AllowedClasses::None,
            ("all", _) | (_, Some(true)) => AllowedClasses::Any,
            (list, None) => AllowedClasses::Only(list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect()),
        }
    }
}
