//! Turning what PHP code passes (a DSN string, an options array, a CannonPHP config) into a
//! `Config`. Arrays are rewritten as a DSN and parsed by the one parser, so every path validates
//! the same way and reports the same errors.
use crate::config::{parse_dsn, Backend, Config, ConfigError};
use ext_php_rs::types::{ArrayKey, ZendHashTable, Zval};

/// A scalar zval as option text; `None` for null. Arrays/objects are an error.
pub fn scalar(z: &Zval, key: &str) -> Result<Option<String>, ConfigError> {
    if z.is_null() {
        return Ok(None);
    }
    if let Some(b) = z.bool() {
        return Ok(Some(if b { "1" } else { "0" }.into()));
    }
    if let Some(n) = z.long() {
        return Ok(Some(n.to_string()));
    }
    if let Some(f) = z.double() {
        return Ok(Some(f.to_string()));
    }
    if let Some(s) = z.zend_str() {
        return Ok(Some(String::from_utf8_lossy(s.as_bytes()).into_owned()));
    }
    Err(ConfigError(format!("invalid option {key:?}: expected a string or number")))
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parts of a DSN gathered from an array.
#[derive(Default)]
pub struct DsnParts {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub query: Vec<(String, String)>,
}

impl DsnParts {
    pub fn to_dsn(&self) -> String {
        let mut s = format!("{}://", self.scheme);
        if self.user.is_some() || self.password.is_some() {
            if let Some(u) = &self.user {
                s.push_str(&encode(u));
            }
            if let Some(p) = &self.password {
                s.push(':');
                s.push_str(&encode(p));
            }
            s.push('@');
        }
        let host = self.host.clone().unwrap_or_else(|| "127.0.0.1".into());
        if host.contains(':') {
            s.push_str(&format!("[{host}]"));
        } else {
            s.push_str(&host);
        }
        if let Some(p) = &self.port {
            s.push(':');
            s.push_str(p);
        }
        if let Some(p) = &self.path {
            s.push('/');
            s.push_str(&encode(p));
        }
        for (i, (k, v)) in self.query.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&encode(k));
            s.push('=');
            s.push_str(&encode(v));
        }
        s
    }
}

/// Options array for the handler classes: either `['dsn' => ..., <option> => ...]` or the DSN's
/// parts as keys (`host`, `port`, `database`/`db`, `username`/`user`, `password`, `socket`,
/// `dbname`, `table`, and every DSN query option).
pub fn handler_config(arr: &ZendHashTable, scheme: &str) -> Result<Config, ConfigError> {
    let mut base: Option<String> = None;
    let mut p = DsnParts { scheme: scheme.into(), ..Default::default() };
    for (k, v) in arr.iter() {
        let key = match k {
            ArrayKey::Long(n) => return Err(ConfigError(format!("invalid option key {n}: expected option names"))),
            ArrayKey::String(s) => s,
            ArrayKey::Str(s) => s.to_string(),
            other => other.to_string(),
        };
        let Some(val) = scalar(v, &key)? else { continue };
        match key.as_str() {
            "dsn" => base = Some(val),
            "host" => p.host = Some(val),
            "port" => p.port = Some(val),
            "database" | "db" if scheme == "redis" => p.path = Some(val),
            "dbname" if scheme == "mysql" => p.path = Some(val),
            "username" | "user" => p.user = Some(val),
            "password" | "auth" => p.password = Some(val),
            _ => p.query.push((key, val)),
        }
    }
    let dsn = match base {
        Some(d) => {
            let sep = if d.contains('?') { '&' } else { '?' };
            let extra = DsnParts { query: p.query, ..Default::default() }.to_dsn();
            match extra.find('?') {
                Some(i) => format!("{d}{sep}{}", &extra[i + 1..]),
                None => d,
            }
        }
        None => {
            let socket = p.query.iter().position(|(k, _)| k == "socket");
            match socket {
                Some(i) if scheme == "redis" => {
                    // redis over a unix socket: redis+unix://[auth@]/path?db=N
                    let (_, sock) = p.query.remove(i);
                    if let Some(db) = p.path.take() {
                        p.query.push(("db".into(), db));
                    }
                    let auth = DsnParts { scheme: String::new(), user: p.user.take(), password: p.password.take(), host: Some("H".into()), ..Default::default() }.to_dsn();
                    let auth = auth.trim_start_matches("://").trim_end_matches('H');
                    let query = DsnParts { query: std::mem::take(&mut p.query), ..Default::default() }.to_dsn();
                    let query = query.find('?').map(|i| query[i..].to_string()).unwrap_or_default();
                    format!("redis+unix://{auth}{sock}{query}")
                }
                _ => p.to_dsn(),
            }
        }
    };
    parse_dsn(&dsn)
}
/// Checks the configured backend is the one a handler class serves.
pub fn expect_backend(cfg: &Config, redis: bool, class: &str) -> Result<(), ConfigError> {
    match (&cfg.backend, redis) {
        (Backend::Redis(_), true) | (Backend::Mysql(_), false) => Ok(()),
        (_, true) => Err(ConfigError(format!("{class} needs a redis:// or redis+unix:// DSN"))),
        (_, false) => Err(ConfigError(format!("{class} needs a mysql:// DSN"))),
    }
}

/// `string|array|null` as handlers accept it.
pub fn from_zval(z: Option<&Zval>, scheme: &str) -> Result<Config, ConfigError> {
    match z {
        None => parse_dsn(&super::ini::default_dsn()),
        Some(z) if z.is_null() => parse_dsn(&super::ini::default_dsn()),
        Some(z) => {
            if let Some(arr) = z.array() {
                return handler_config(arr, scheme);
            }
            match z.zend_str() {
                Some(s) => parse_dsn(&String::from_utf8_lossy(s.as_bytes())),
                None => Err(ConfigError("expected a DSN string or an options array".into())),
            }
        }
    }
}
