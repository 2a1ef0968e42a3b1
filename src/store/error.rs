//! Errors every backend reports, in kinds the PHP layer maps to exceptions or warnings.
use std::fmt;

#[derive(Debug)]
pub enum StoreError {
    /// Could not connect, or the connection broke or timed out.
    Connection(String),
    /// A connect, read or write took longer than its timeout.
    Timeout(String),
    /// The server answered with an error (e.g. Redis OOM, a MySQL error).
    Server(String),
    /// The lock could not be taken before the lock wait timeout.
    LockTimeout { id_prefix: String, waited_ms: u64 },
    /// Our lock expired and another request took it: the write was refused.
    LockLost,
    /// The backend's schema or configuration is not usable as is.
    Schema(String),
    /// The payload is larger than `max_size`.
    TooLarge { size: usize, max: usize },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Connection(m) => write!(f, "connection failed: {m}"),
            StoreError::Timeout(m) => write!(f, "timed out: {m}"),
            StoreError::Server(m) => write!(f, "server error: {m}"),
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
        }
    }
}

impl std::error::Error for StoreError {}
