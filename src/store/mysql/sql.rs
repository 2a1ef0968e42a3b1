//! The statements the store sends, built once per store for its table.
//!
//! The table name is a validated identifier (`[A-Za-z0-9_]{1,64}`) and is always quoted with
//! backticks. Time is the server's: `expires_at` holds unix seconds from `UNIX_TIMESTAMP()`, so
//! PHP hosts with skewed clocks agree.
//!
//! Most statements are prepared, every value a parameter. The locked cycle instead sends
//! text-protocol multi-statements (a prepared statement is one statement, and the point is to
//! pair the lock with the read, and the write with the release, in one round trip). Their values
//! are written into the text here, and only in forms that cannot end a literal: the id and the
//! lock name are checked byte by byte (an id with any other byte is refused, whatever the caller
//! validated), numbers are formatted from integers, and the data only ever goes in as `X'hex'`.
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use ::mysql::prelude::Queryable;
use ::mysql::{PooledConn, Result as MyResult};

use crate::store::StoreError;

/// Rows deleted per gc statement.
pub(super) const GC_BATCH: u64 = 1000;

/// Statement texts for one table. `Arc<str>` so a method can hold one while it borrows the store
/// mutably (cloning is a reference-count bump).
pub(super) struct Statements {
    /// The quoted table name, for the multi-statements built per call.
    table: String,
    pub select: Arc<str>,
    pub exists: Arc<str>,
    pub upsert: Arc<str>,
    pub update: Arc<str>,
    pub touch: Arc<str>,
    pub delete: Arc<str>,
    pub gc: Arc<str>,
}

/// `` `name` `` (the name is already validated, so it contains no backtick).
/// Runs `Statements::select` for `id`: the live row's data (a NULL `data` reads as empty), or
/// `None` when there is no live row.
pub(super) fn select_row(conn: &mut PooledConn, select: &str, id: &str) -> MyResult<Option<Vec<u8>>> {
    conn.exec_first::<Option<Vec<u8>>, _, _>(select, (id,)).map(|r| r.map(Option::unwrap_or_default))
}

pub(super) fn quote(table: &str) -> String {
    format!("`{table}`")
}

impl Statements {
    pub fn new(table: &str) -> Statements {
        let t = quote(table);
        let s = |text: String| -> Arc<str> { Arc::from(text) };
        Statements {
            table: t.clone(),
            // An expired row is never returned, even before gc has deleted it.
            select: s(format!(
                "SELECT data FROM {t} WHERE session_id = ? AND expires_at > UNIX_TIMESTAMP()"
            )),
            exists: s(format!(
                "SELECT 1 FROM {t} WHERE session_id = ? AND expires_at > UNIX_TIMESTAMP()"
            )),
            // One round trip for a new or an existing session. Parameters: id, data, ttl.
            upsert: s(format!(
                "INSERT INTO {t} (session_id, data, last_activity, expires_at) \
                 VALUES (?, ?, NOW(), UNIX_TIMESTAMP() + ?) \
                 ON DUPLICATE KEY UPDATE data = VALUES(data), \
                 last_activity = VALUES(last_activity), expires_at = VALUES(expires_at)"
            )),
            // Used first on tables with an AUTO_INCREMENT column (the older layout): there an
            // INSERT ... ON DUPLICATE KEY UPDATE that updates still uses up an auto-increment
            // value (innodb_autoinc_lock_mode 1 and 2), and a busy site would exhaust an INT id.
            // Parameters: data, ttl, id. Matched rows are counted (CLIENT_FOUND_ROWS).
            update: s(format!(
                "UPDATE {t} SET data = ?, last_activity = NOW(), expires_at = UNIX_TIMESTAMP() + ? \
                 WHERE session_id = ?"
            )),
            // Lazy write: the request read this session while it was live (PHP writes, never
            // touches, after a read that found nothing), so refresh it even if it expired while
            // the request ran. Parameters: ttl, id.
            touch: s(format!(
                "UPDATE {t} SET last_activity = NOW(), expires_at = UNIX_TIMESTAMP() + ? \
                 WHERE session_id = ?"
            )),
            delete: s(format!("DELETE FROM {t} WHERE session_id = ?")),
            gc: s(format!(
                "DELETE FROM {t} WHERE expires_at <= UNIX_TIMESTAMP() LIMIT {GC_BATCH}"
            )),
        }
    }
}

/// Longest session id (as `crate::id`): the column is VARBINARY(256).
const MAX_ID_LEN: usize = 256;

/// `id` as it may appear between single quotes: 1 to 256 bytes of `[A-Za-z0-9,-]`. Checked here,
/// not trusted from the caller, since this is what keeps the text statements free of injection.
fn id_literal(id: &str) -> Result<&str, StoreError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b',' || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(StoreError::server(
            "internal error: a session id with characters outside [A-Za-z0-9,-] reached the MySQL store",
        ))
    }
}

/// A lock name (`cs:` + hex, see `lock::lock_name`) as it may appear between single quotes.
fn lock_literal(name: &str) -> Result<&str, StoreError> {
    let ok = name.len() <= 64
        && name
            .strip_prefix("cs:")
            .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(name)
    } else {
        Err(StoreError::server("internal error: a malformed lock name reached the MySQL store"))
    }
}

/// Seconds with microseconds, as a decimal literal (`0.300000`): never an exponent.
fn seconds_literal(d: Duration) -> String {
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

/// `X'…'`: the bytes in hex digits, which no byte value can break out of.
fn push_hex(out: &mut String, data: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(data.len() * 2 + 3);
    out.push_str("X'");
    for &b in data {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out.push('\'');
}

impl Statements {
    /// The locked read, one round trip: `GET_LOCK`, then (with `read`) the session's row. The
    /// server runs the statements in order, so the row is read once the lock is held. Two
    /// statements on purpose: folded into one SELECT, the server may evaluate a constant subquery
    /// before GET_LOCK, or skip GET_LOCK when no row matches.
    pub fn lock_and_read(&self, name: &str, wait: Duration, id: &str, read: bool) -> Result<String, StoreError> {
        let name = lock_literal(name)?;
        let id = id_literal(id)?;
        let mut sql = format!("SELECT GET_LOCK('{name}', {})", seconds_literal(wait));
        if read {
            let _ = write!(
                sql,
                "; SELECT data FROM {} WHERE session_id = '{id}' AND expires_at > UNIX_TIMESTAMP()",
                self.table
            );
        }
        Ok(sql)
    }

    /// The locked write, one round trip: the upsert, then `RELEASE_LOCK`. The INSERT autocommits
    /// as it ends, before RELEASE_LOCK runs, so nobody can take the lock and read the old row.
    /// (RELEASE_LOCK inside the INSERT's expressions would free the lock before the commit.) When
    /// the INSERT fails, the server runs nothing after it: the lock is still held.
    pub fn upsert_and_release(&self, id: &str, data: &[u8], ttl: u64, name: &str) -> Result<String, StoreError> {
        let name = lock_literal(name)?;
        let id = id_literal(id)?;
        let mut sql = String::with_capacity(data.len() * 2 + 400);
        let _ = write!(
            sql,
            "INSERT INTO {} (session_id, data, last_activity, expires_at) VALUES ('{id}', ",
            self.table
        );
        push_hex(&mut sql, data);
        let _ = write!(
            sql,
            ", NOW(), UNIX_TIMESTAMP() + {ttl}) ON DUPLICATE KEY UPDATE data = VALUES(data), \
             last_activity = VALUES(last_activity), expires_at = VALUES(expires_at); \
             DO RELEASE_LOCK('{name}')"
        );
        Ok(sql)
    }

    /// The locked lazy write, one round trip: the expiry refresh (as `touch`), then `RELEASE_LOCK`.
    pub fn touch_and_release(&self, id: &str, ttl: u64, name: &str) -> Result<String, StoreError> {
        let name = lock_literal(name)?;
        let id = id_literal(id)?;
        Ok(format!(
            "UPDATE {} SET last_activity = NOW(), expires_at = UNIX_TIMESTAMP() + {ttl} \
             WHERE session_id = '{id}'; DO RELEASE_LOCK('{name}')",
            self.table
        ))
    }
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;
