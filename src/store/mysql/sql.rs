//! The statements the store sends, built once per store for its table.
//!
//! The table name is a validated identifier (`[A-Za-z0-9_]{1,64}`) and is always quoted with
//! backticks; every value goes through a prepared-statement parameter. Time is the server's:
//! `expires_at` holds unix seconds from `UNIX_TIMESTAMP()`, so PHP hosts with skewed clocks agree.
use std::sync::Arc;

/// Rows deleted per gc statement.
pub(super) const GC_BATCH: u64 = 1000;

/// Statement texts for one table. `Arc<str>` so a method can hold one while it borrows the store
/// mutably (cloning is a reference-count bump).
pub(super) struct Statements {
    pub select: Arc<str>,
    pub exists: Arc<str>,
    pub upsert: Arc<str>,
    pub update: Arc<str>,
    pub touch: Arc<str>,
    pub delete: Arc<str>,
    pub gc: Arc<str>,
}

/// `` `name` `` (the name is already validated, so it contains no backtick).
pub(super) fn quote(table: &str) -> String {
    format!("`{table}`")
}

impl Statements {
    pub fn new(table: &str) -> Statements {
        let t = quote(table);
        let s = |text: String| -> Arc<str> { Arc::from(text) };
        Statements {
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
