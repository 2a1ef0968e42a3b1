//! Errors every backend reports, as kinds: the handler and the PHP layer choose what to do (and
//! which exception class to throw) by kind, never by reading the message.
use std::fmt;

#[derive(Debug)]
pub enum StoreError {
    /// Could not connect, or the connection broke.
    Connection(String),
    /// A connect, read or write took longer than its timeout.
    Timeout(String),
    /// The server answered with an error (e.g. Redis OOM, a MySQL error).
    Server(ServerError),
    /// The lock could not be taken before the lock wait timeout.
    LockTimeout { id_prefix: String, waited_ms: u64 },
    /// Our lock expired and another request took it: the write was refused.
    LockLost,
    /// The backend's schema or configuration is not usable as is.
    Schema(String),
    /// The payload is larger than `max_size`.
    TooLarge { size: usize, max: usize },
    /// A store call was made while another one of this process was still running (a PHP
    /// callback re-entering the extension): refused rather than run on a half-used connection.
    Busy,
    /// The operating system's random generator failed (lock tokens, session ids).
    Random(String),
    /// `wait=N`: the write was done on the master, but fewer than `wanted` replicas
    /// acknowledged it within `wait_timeout`; a failover could lose it, so it counts as failed.
    NotReplicated { acked: i64, wanted: u32 },
}

/// A server's error reply, parsed once into a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub kind: ServerErrorKind,
    pub message: String,
    /// Where a Redis Cluster redirection points: `Some` exactly when `kind` is `Moved` or `Ask`.
    pub redirect: Option<Redirect>,
}

/// A Redis Cluster redirection (`MOVED slot host:port`, `ASK slot host:port`), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The key's hash slot, 0..16384.
    pub slot: u16,
    /// The node to ask, as Redis gives it: `host:port` (an IPv6 host is not bracketed).
    pub addr: String,
}

/// What a server error means to us. The Redis names are the replies' first words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerErrorKind {
    /// Redis Cluster: the key's slot lives on another node (`MOVED slot host:port`).
    Moved,
    /// Redis Cluster: the slot is migrating; ask the other node once (`ASK slot host:port`).
    Ask,
    /// A replica (or a demoted master) refused a write.
    ReadOnly,
    /// The server is loading its data set.
    Loading,
    /// The server is busy running a script.
    Busy,
    /// A replica whose master is down, with `replica-serve-stale-data no`.
    MasterDown,
    /// Redis Cluster: the cluster is down or a multi-key operation's slot is being moved.
    ClusterDown,
    TryAgain,
    /// EVALSHA of a script the server does not have.
    NoScript,
    /// The server is out of memory (`maxmemory` reached).
    OutOfMemory,
    /// The key holds a value of another type.
    WrongType,
    /// Authentication missing or refused (NOAUTH, WRONGPASS, NOPERM).
    Auth,
    /// The server does not know the command (or this form of it): an older server.
    UnknownCommand,
    /// The server refused the command's syntax (an older server, for newer options).
    Syntax,
    /// Anything else.
    Other,
}

impl ServerErrorKind {
    /// The server is up but cannot serve right now: reported like an unreachable server.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ServerErrorKind::Loading
                | ServerErrorKind::Busy
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::TryAgain
        )
    }
}

impl ServerError {
    pub fn new(kind: ServerErrorKind, message: impl Into<String>) -> ServerError {
        ServerError { kind, message: message.into(), redirect: None }
    }
}

impl StoreError {
    /// A server error of no particular kind.
    pub fn server(message: impl Into<String>) -> StoreError {
        StoreError::Server(ServerError::new(ServerErrorKind::Other, message))
    }

    /// The lock on `id` could not be had within `waited`: names only the id's first characters.
    pub fn lock_timeout(id: &str, waited: std::time::Duration) -> StoreError {
        StoreError::LockTimeout {
            id_prefix: id.chars().take(6).collect(),
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The server error's kind, if this is one.
    pub fn server_kind(&self) -> Option<ServerErrorKind> {
        match self {
            StoreError::Server(s) => Some(s.kind),
            _ => None,
        }
    }

    /// The backend could not be reached or could not serve: what an outage looks like.
    pub fn is_outage(&self) -> bool {
        match self {
            StoreError::Connection(_) | StoreError::Timeout(_) => true,
            StoreError::Server(s) => s.kind.is_transient(),
            _ => false,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Connection(m) => write!(f, "connection failed: {m}"),
            StoreError::Timeout(m) => write!(f, "timed out: {m}"),
            StoreError::Server(s) => write!(f, "server error: {}", s.message),
            StoreError::LockTimeout { id_prefix, waited_ms } => write!(
                f,
                "could not lock session {id_prefix}… within {waited_ms} ms (another request holds it)"
            ),
            StoreError::LockLost => write!(
                f,
                "the session lock expired and another request took it; this write was refused"
            ),
            StoreError::Schema(m) => write!(f, "{m}"),
            StoreError::TooLarge { size, max } => {
                write!(f, "session data is {size} bytes, more than max_size {max}")
            }
            StoreError::Busy => f.write_str("session store is busy (re-entrant call)"),
            StoreError::Random(m) => write!(f, "the system random generator failed: {m}"),
            StoreError::NotReplicated { acked, wanted } => write!(
                f,
                "write not acknowledged by {wanted} replica(s) within wait_timeout ({acked} did): \
                 it could be lost on failover, so it counts as failed"
            ),
        }
    }
}

impl std::error::Error for StoreError {}
