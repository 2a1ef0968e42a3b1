//! Connecting: the driver's options built from the configuration, and the driver's errors turned
//! into `StoreError`s that say what happened without ever echoing the password.
use std::io;
use std::time::Duration;

use ::mysql::consts::CapabilityFlags;
use ::mysql::{ClientIdentity, DriverError, Error as MyError, Opts, OptsBuilder, PoolConstraints, PoolOpts, SslOpts};

use crate::config::{Config, MysqlConfig, Secret, SslMode};
use crate::store::StoreError;

/// Server error codes meaning the connection is finished: server shutdown (1053), connection
/// killed (1927, MariaDB), idle too long (4031, MySQL 8.0.24+), and the classic client codes
/// "server has gone away" (2006) and "lost connection" (2013) should a server ever send them.
const GONE: [u16; 5] = [1053, 1927, 4031, 2006, 2013];

/// Server error codes refusing the connection itself: too many connections, access denied (for
/// the user, the database, the host), unknown database, host blocked, user over its limits,
/// authentication method problems.
const REFUSED: [u16; 10] = [1040, 1044, 1045, 1049, 1129, 1130, 1203, 1226, 1251, 1698];

/// Unknown table (1146) or unknown column (1054): the schema changed under us.
const SCHEMA_GONE: [u16; 2] = [1146, 1054];

/// TLS as `ssl_mode` asks (rustls with the ring provider).
fn ssl_opts(m: &MysqlConfig) -> Option<SslOpts> {
    let ssl = m.ssl.as_ref()?;
    let mut o = SslOpts::default()
        .with_danger_accept_invalid_certs(ssl.mode == SslMode::Required)
        .with_danger_skip_domain_validation(ssl.mode != SslMode::VerifyIdentity);
    if let Some(ca) = &ssl.ca_file {
        o = o.with_root_cert_path(Some(ca.clone()));
    }
    if let (Some(cert), Some(key)) = (&ssl.cert_file, &ssl.key_file) {
        o = o.with_client_identity(Some(ClientIdentity::new(cert.clone(), key.clone())));
    }
    Some(o)
}

/// The driver options. Nothing connects here: `Pool::new` with `min = 0` opens no connection
/// either, so building a store never touches the network (php-fpm forks after start-up).
pub(super) fn opts(m: &MysqlConfig, cfg: &Config) -> Opts {
    let pool = PoolOpts::new()
        // A PHP process uses one connection at a time (the lock connection doubles as the one
        // for every other statement), so a handful is plenty and none is opened in advance.
        .with_constraints(PoolConstraints::new_const::<0, 4>())
        // No COM_RESET_CONNECTION on return: it costs a round trip and drops the prepared
        // statement cache. We leave no session state behind except named locks, which we release
        // ourselves; a connection holding one is flagged for reset (see `lock.rs`), so even a
        // connection dropped by mistake frees its lock on its way back to the pool.
        .with_reset_connection(false)
        // No ping on every checkout: a dead connection (server restart, wait_timeout) shows up
        // as an error on the statement, which is then retried once on a fresh pool.
        .with_check_health(false);
    let b = OptsBuilder::new()
        .user(m.username.clone())
        .pass(m.password.as_ref().map(|p| p.expose().to_string()))
        .db_name(Some(m.dbname.clone()))
        .tcp_connect_timeout(Some(cfg.connect_timeout))
        .read_timeout(Some(cfg.timeout))
        .write_timeout(Some(cfg.timeout))
        // Never switch from the configured TCP address to a local socket behind our back.
        .prefer_socket(false)
        .tcp_nodelay(true)
        // UPDATE reports matched rows, not changed rows: the older layout's write relies on it.
        .additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS)
        // The lock lives as long as its connection: an idle connection closed by the server
        // after lock_ttl frees the lock of a request that hung between statements, so a MySQL
        // lock expires like a Redis one. Run once per connection, not per request.
        // A server's own shorter wait_timeout still applies.
        .init(vec![format!(
            "SET SESSION wait_timeout = LEAST(@@GLOBAL.wait_timeout, {})",
            cfg.lock_ttl.as_secs_f64().ceil().max(1.0) as u64
        )])
        .pool_opts(pool)
        .ssl_opts(ssl_opts(m));
    let b = match &m.socket {
        Some(path) => b.socket(Some(path.to_string_lossy().into_owned())),
        // The driver wants IPv6 literals in brackets; the DSN parser strips them.
        None if m.host.contains(':') => b.ip_or_hostname(Some(format!("[{}]", m.host))).tcp_port(m.port),
        None => b.ip_or_hostname(Some(m.host.clone())).tcp_port(m.port),
    };
    Opts::from(b)
}

/// Where an error happened, for its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Opening a connection.
    Connect,
    /// Running a statement on an open connection.
    Query,
}

/// What error messages need: the server's address, the timeouts, and the password to scrub.
pub(super) struct Target {
    pub endpoint: String,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    password: Option<Secret>,
}

impl Target {
    pub fn new(m: &MysqlConfig, cfg: &Config) -> Target {
        let endpoint = match &m.socket {
            Some(path) => path.display().to_string(),
            None if m.host.contains(':') => format!("[{}]:{}", m.host, m.port),
            None => format!("{}:{}", m.host, m.port),
        };
        Target {
            endpoint,
            connect_timeout: cfg.connect_timeout,
            timeout: cfg.timeout,
            password: m.password.clone(),
        }
    }

    /// Turns a driver error into a `StoreError`. The message is built here from the error's
    /// parts (never from the driver's options), and any occurrence of the password is masked
    /// all the same.
    pub fn map(&self, e: &MyError, stage: Stage) -> StoreError {
        let ep = &self.endpoint;
        let err = match e {
            MyError::MySqlError(s) if REFUSED.contains(&s.code) => StoreError::Connection(format!(
                "MySQL at {ep} refused the connection: ERROR {} ({}): {}",
                s.code, s.state, s.message
            )),
            MyError::MySqlError(s) if GONE.contains(&s.code) => StoreError::Connection(format!(
                "MySQL at {ep} closed the connection: ERROR {} ({}): {}",
                s.code, s.state, s.message
            )),
            MyError::MySqlError(s) if SCHEMA_GONE.contains(&s.code) => StoreError::Schema(format!(
                "MySQL error {} ({}): {} (was the session table changed or dropped? \
                 with auto_create=1 it is created again on the next request)",
                s.code, s.state, s.message
            )),
            MyError::MySqlError(s) => {
                StoreError::server(format!("MySQL error {} ({}): {}", s.code, s.state, s.message))
            }
            _ if is_timeout(e) => match stage {
                Stage::Connect => StoreError::Connection(format!(
                    "cannot connect to MySQL at {ep}: timed out (connect_timeout {}, timeout {})",
                    secs(self.connect_timeout),
                    secs(self.timeout)
                )),
                Stage::Query => {
                    StoreError::Connection(format!("MySQL at {ep} did not answer within {}", secs(self.timeout)))
                }
            },
            MyError::DriverError(DriverError::CouldNotConnect(Some((_, desc, _)))) => {
                StoreError::Connection(format!("cannot connect to MySQL at {ep}: {desc}"))
            }
            MyError::DriverError(DriverError::CouldNotConnect(None)) => {
                StoreError::Connection(format!("cannot connect to MySQL at {ep}: no address"))
            }
            MyError::IoError(_) | MyError::CodecError(_) => {
                let what = match io_error(e) {
                    Some(io) => io_text(io),
                    None => e.to_string(),
                };
                match stage {
                    Stage::Connect => StoreError::Connection(format!("cannot connect to MySQL at {ep}: {what}")),
                    Stage::Query => StoreError::Connection(format!("lost the connection to MySQL at {ep}: {what}")),
                }
            }
            MyError::DriverError(d) if is_broken(e) => match stage {
                Stage::Connect => StoreError::Connection(format!("cannot connect to MySQL at {ep}: {d}")),
                Stage::Query => StoreError::Connection(format!("broken connection to MySQL at {ep}: {d}")),
            },
            MyError::DriverError(d) => StoreError::server(format!("MySQL driver error: {d}")),
            MyError::UrlError(_) => StoreError::Connection(format!("invalid MySQL options for {ep}")),
            MyError::TlsError(t) => StoreError::Connection(format!("TLS to MySQL at {ep} failed: {t}")),
            MyError::FromValueError(_) | MyError::FromRowError(_) => StoreError::server(
                "MySQL returned a value of an unexpected type (check the session table's column types)",
            ),
        };
        self.scrub(err)
    }

    fn scrub(&self, err: StoreError) -> StoreError {
        let Some(pw) = self.password.as_ref().map(Secret::expose).filter(|p| !p.is_empty()) else {
            return err;
        };
        let clean = |m: String| if m.contains(pw) { m.replace(pw, "***") } else { m };
        match err {
            StoreError::Connection(m) => StoreError::Connection(clean(m)),
            StoreError::Server(mut s) => {
                s.message = clean(s.message);
                StoreError::Server(s)
            },
            StoreError::Schema(m) => StoreError::Schema(clean(m)),
            other => other,
        }
    }
}

/// `0.5s`, `3s`.
fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// The OS's description without the driver's wrapping (which is harmless, but noisy).
fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "the server closed the connection".to_string(),
        _ => e.to_string(),
    }
}

/// A timeout: the server (or the network) is slow, not necessarily gone. Not retried, since a
/// retry would double the wait, but the connection is discarded (a late reply would desync it).
pub(super) fn is_timeout(e: &MyError) -> bool {
    match e {
        MyError::DriverError(DriverError::Timeout | DriverError::ConnectTimeout) => true,
        // A socket read/write timeout surfaces as EAGAIN (WouldBlock), bare or inside the codec.
        _ => io_error(e).is_some_and(|io| matches!(io.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)),
    }
}

/// The I/O error behind `e`, whether the driver reports it bare or inside its packet codec.
fn io_error(e: &MyError) -> Option<&io::Error> {
    match e {
        MyError::IoError(io) => Some(io),
        MyError::CodecError(c) => std::error::Error::source(c).and_then(|s| s.downcast_ref::<io::Error>()),
        _ => None,
    }
}

/// Whether the connection that produced `e` can no longer be used (and must not go back to a
/// pool: the driver does not notice by itself, and a desynchronised connection would hand one
/// request's reply to the next).
pub(super) fn is_broken(e: &MyError) -> bool {
    match e {
        MyError::IoError(_) | MyError::CodecError(_) => true,
        MyError::MySqlError(s) => GONE.contains(&s.code),
        MyError::DriverError(d) => !matches!(
            d,
            DriverError::MismatchedStmtParams(..)
                | DriverError::Params(_)
                | DriverError::MixedParams
                | DriverError::Timeout // the pool had no free connection: nothing was sent
        ),
        _ => false,
    }
}

/// Whether running the same (idempotent) statement again on a fresh connection may help: the
/// connection broke (a restarted server, an idle connection closed by `wait_timeout`, a killed
/// connection), but not because the server is too slow to answer.
pub(super) fn is_retryable(e: &MyError) -> bool {
    is_broken(e) && !is_timeout(e)
}

/// The table is gone or lost a column: the verified schema must be checked again.
pub(super) fn is_schema_gone(e: &MyError) -> bool {
    matches!(e, MyError::MySqlError(s) if SCHEMA_GONE.contains(&s.code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::mysql::MySqlError;

    fn target(pw: &str) -> Target {
        Target {
            endpoint: "db:3306".into(),
            connect_timeout: Duration::from_millis(1500),
            timeout: Duration::from_secs(3),
            password: Some(Secret::new(pw)),
        }
    }

    fn server(code: u16, message: &str) -> MyError {
        MyError::MySqlError(MySqlError {
            state: "HY000".into(),
            message: message.into(),
            code,
        })
    }

    #[test]
    fn classification() {
        let t = target("hunter22");
        assert!(matches!(
            t.map(&server(1045, "Access denied"), Stage::Connect),
            StoreError::Connection(_)
        ));
        assert!(matches!(
            t.map(&server(1927, "Connection was killed"), Stage::Query),
            StoreError::Connection(_)
        ));
        assert!(matches!(
            t.map(&server(1062, "Duplicate"), Stage::Query),
            StoreError::Server(_)
        ));
        assert!(matches!(
            t.map(&server(1146, "no table"), Stage::Query),
            StoreError::Schema(_)
        ));
        let reset = MyError::IoError(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(is_retryable(&reset));
        let slow = MyError::IoError(io::Error::from(io::ErrorKind::WouldBlock));
        assert!(is_broken(&slow) && !is_retryable(&slow));
        match t.map(&slow, Stage::Query) {
            StoreError::Connection(m) => assert!(m.contains("within 3s"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(!is_broken(&server(1062, "Duplicate")));
        assert!(is_broken(&server(4031, "idle")));
    }

    #[test]
    fn password_is_masked() {
        let t = target("hunter22");
        let e = server(1045, "Access denied for user 'u'@'h' (password hunter22)");
        let text = t.map(&e, Stage::Connect).to_string();
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("***"), "{text}");
    }
}
