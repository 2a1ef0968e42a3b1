//! Options arrays as PHP code passes them (`['host' => ..., 'port' => ...]`), already turned
//! into (name, text) pairs by `src/php`, rewritten as a DSN and parsed by the one parser: every
//! path validates the same way and reports the same errors.
use super::{parse_dsn, Backend, Config, ConfigError};

/// Percent-encodes everything but RFC 3986's unreserved characters.
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
    /// `user:password@`, encoded; empty without either.
    fn userinfo(&self) -> String {
        if self.user.is_none() && self.password.is_none() {
            return String::new();
        }
        let mut s = self.user.as_deref().map(encode).unwrap_or_default();
        if let Some(p) = &self.password {
            s.push(':');
            s.push_str(&encode(p));
        }
        s.push('@');
        s
    }

    /// `?k=v&...`, encoded; empty without options.
    fn query_string(&self) -> String {
        let mut s = String::new();
        for (i, (k, v)) in self.query.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&encode(k));
            s.push('=');
            s.push_str(&encode(v));
        }
        s
    }

    pub fn to_dsn(&self) -> String {
        let mut s = format!("{}://{}", self.scheme, self.userinfo());
        let host = self.host.as_deref().unwrap_or("127.0.0.1");
        if host.contains(':') {
            s.push_str(&format!("[{host}]"));
        } else {
            s.push_str(host);
        }
        if let Some(p) = &self.port {
            s.push(':');
            s.push_str(p);
        }
        if let Some(p) = &self.path {
            s.push('/');
            s.push_str(&encode(p));
        }
        s.push_str(&self.query_string());
        s
    }

    /// Redis over a unix socket: `redis+unix://[auth@]/path?db=N&...`.
    fn into_unix_dsn(mut self, socket: &str) -> String {
        if let Some(db) = self.path.take() {
            self.query.push(("db".into(), db));
        }
        format!("redis+unix://{}{socket}{}", self.userinfo(), self.query_string())
    }
}

/// Options for the handler classes: either `['dsn' => ..., <option> => ...]` or the DSN's parts
/// as keys (`host`, `port`, `database`/`db`, `username`/`user`, `password`, `socket`, `dbname`,
/// `table`, and every DSN query option). `scheme` is the class's: `redis` or `mysql`.
pub fn handler_config(pairs: Vec<(String, String)>, scheme: &str) -> Result<Config, ConfigError> {
    let mut base: Option<String> = None;
    let mut p = DsnParts { scheme: scheme.into(), ..Default::default() };
    for (key, val) in pairs {
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
        // The other keys are options added to the DSN's own.
        Some(d) => {
            let extra = DsnParts { query: p.query, ..Default::default() }.query_string();
            match extra.strip_prefix('?') {
                Some(q) => format!("{d}{}{q}", if d.contains('?') { '&' } else { '?' }),
                None => d,
            }
        }
        None => match p.query.iter().position(|(k, _)| k == "socket") {
            Some(i) if scheme == "redis" => {
                let (_, socket) = p.query.remove(i);
                p.into_unix_dsn(&socket)
            }
            _ => p.to_dsn(),
        },
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

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
