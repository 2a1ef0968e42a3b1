//! The session table: the SQL that creates it, and a one-time check that an existing table (ours,
//! or the older `id INT AUTO_INCREMENT` layout with the columns added) can hold sessions. When it
//! cannot, the error names the exact statement to run.
use std::collections::BTreeMap;
use std::fmt::Write;

use ::mysql::prelude::Queryable;
use ::mysql::{PooledConn, Result as MyResult};

use super::sql::quote;
use super::{LockShape, MysqlStore, NEAR_ROUND_TRIP};
use crate::store::StoreError;

/// The table this backend creates. `session_id` is VARBINARY, so ids compare byte for byte
/// (case-sensitive) whatever the server's collation; `expires_at` is unix seconds, set from the
/// write's ttl by the server's clock.
pub fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  \
           session_id VARBINARY(256) NOT NULL,\n  \
           data LONGBLOB NOT NULL,\n  \
           last_activity DATETIME NOT NULL,\n  \
           expires_at BIGINT UNSIGNED NOT NULL,\n  \
           PRIMARY KEY (session_id),\n  \
           KEY idx_expires_at (expires_at)\n\
         ) ENGINE=InnoDB",
        quote(table)
    )
}

/// What the checked table is like, remembered for the store's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Schema {
    /// The longest id `session_id` can hold (the older layout has VARCHAR(255); ids can be 256).
    pub id_max_len: Option<u64>,
    /// The table has an AUTO_INCREMENT column (the older layout): writes update before inserting.
    pub auto_increment: bool,
    /// The server's `max_allowed_packet`: larger writes are refused before anything is sent.
    pub max_packet: u64,
}

impl Schema {
    /// Whether `id` fits in `session_id`. An id that does not cannot have been stored.
    pub fn id_fits(&self, id: &str) -> bool {
        self.id_max_len.is_none_or(|max| id.len() as u64 <= max)
    }
}

/// The outcome of looking at the table.
#[derive(Debug)]
pub(super) enum Inspection {
    Missing,
    Usable(Schema),
    /// The table exists but cannot be used as is; the message says what to run.
    Unusable(String),
}

struct Column {
    name: String,
    data_type: String,
    column_type: String,
    max_len: Option<u64>,
    nullable: bool,
    default: Option<String>,
    extra: String,
    collation: Option<String>,
}

const COLUMNS: &str = "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, \
     IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLLATION_NAME FROM information_schema.COLUMNS \
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION";

const INDEXES: &str = "SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART \
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?";

type ColumnRow = (String, String, String, Option<u64>, String, Option<String>, String, Option<String>);
type IndexRow = (String, i64, u64, Option<String>, Option<u64>);

/// Reads the table's columns and indexes from information_schema (three small queries, once per
/// store) and judges them. `max_size` is the largest payload the configuration allows.
pub(super) fn inspect(conn: &mut PooledConn, db: &str, table: &str, max_size: usize) -> MyResult<Inspection> {
    let columns: Vec<Column> = conn
        .exec::<ColumnRow, _, _>(COLUMNS, (table,))?
        .into_iter()
        .map(
            |(name, data_type, column_type, max_len, nullable, default, extra, collation)| Column {
                name,
                data_type: data_type.to_ascii_lowercase(),
                column_type,
                max_len,
                nullable: nullable.eq_ignore_ascii_case("YES"),
                default,
                extra: extra.to_ascii_lowercase(),
                collation,
            },
        )
        .collect();
    if columns.is_empty() {
        return Ok(Inspection::Missing);
    }
    let indexes: Vec<IndexRow> = conn.exec(INDEXES, (table,))?;
    let max_packet: u64 = conn.query_first("SELECT @@max_allowed_packet")?.unwrap_or(0);
    Ok(judge(db, table, &columns, &indexes, max_size, max_packet))
}

const PINGS: u64 = 3;

/// The fastest of `PINGS` pings: the server's distance, with as little of its own work as a
/// statement can have.
fn fastest_ping(conn: &mut PooledConn) -> MyResult<std::time::Duration> {
    let mut best = std::time::Duration::MAX;
    for _ in 0..PINGS {
        let t = std::time::Instant::now();
        conn.as_mut().ping()?;
        best = best.min(t.elapsed());
    }
    Ok(best)
}

fn judge(
    db: &str,
    table: &str,
    columns: &[Column],
    indexes: &[IndexRow],
    max_size: usize,
    max_packet: u64,
) -> Inspection {
    let col = |name: &str| columns.iter().find(|c| c.name.eq_ignore_ascii_case(name));
    let mut problems: Vec<String> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    let mut id_max_len = None;

    match col("session_id") {
        None => {
            problems.push("it has no session_id column".into());
            clauses.push("ADD COLUMN session_id VARBINARY(256) NOT NULL".into());
        }
        // BINARY pads with NUL bytes and would never compare equal; blobs and texts cannot be
        // a full-length key.
        Some(c) if !matches!(c.data_type.as_str(), "varbinary" | "varchar" | "char") => {
            problems.push(format!("its session_id column is {}", c.column_type));
            clauses.push("MODIFY COLUMN session_id VARBINARY(256) NOT NULL".into());
        }
        // A text column with a case-insensitive collation would let `ABC…` read `abc…`'s
        // session: ids must compare byte for byte.
        Some(c)
            if c.data_type != "varbinary"
                && !c.collation.as_deref().is_some_and(|co| co.to_ascii_lowercase().ends_with("_bin")) =>
        {
            problems.push(format!(
                "its session_id column compares ids case-insensitively (collation {})",
                c.collation.as_deref().unwrap_or("unknown")
            ));
            clauses.push("MODIFY COLUMN session_id VARBINARY(256) NOT NULL".into());
        }
        Some(c) => id_max_len = c.max_len,
    }

    match col("data") {
        None => {
            problems.push("it has no data column".into());
            clauses.push("ADD COLUMN data LONGBLOB NOT NULL".into());
        }
        Some(c)
            if !matches!(
                c.data_type.as_str(),
                "tinyblob" | "blob" | "mediumblob" | "longblob" | "varbinary"
            ) =>
        {
            problems.push(format!("its data column is {} (session data is binary)", c.column_type));
            clauses.push("MODIFY COLUMN data LONGBLOB NOT NULL".into());
        }
        Some(c) if c.max_len.is_some_and(|cap| cap < max_size as u64) => {
            problems.push(format!(
                "its data column ({}) holds at most {} bytes but max_size is {} (or lower max_size in the DSN)",
                c.column_type,
                c.max_len.unwrap_or(0),
                max_size
            ));
            clauses.push("MODIFY COLUMN data LONGBLOB NOT NULL".into());
        }
        Some(_) => {}
    }

    match col("last_activity") {
        None => {
            problems.push("it has no last_activity column".into());
            clauses.push("ADD COLUMN last_activity DATETIME NULL".into());
        }
        Some(c) if !matches!(c.data_type.as_str(), "datetime" | "timestamp") => {
            problems.push(format!("its last_activity column is {}", c.column_type));
            clauses.push("MODIFY COLUMN last_activity DATETIME NULL".into());
        }
        Some(_) => {}
    }

    match col("expires_at") {
        None => {
            problems.push("it has no expires_at column".into());
            clauses.push("ADD COLUMN expires_at BIGINT UNSIGNED NOT NULL DEFAULT 0".into());
        }
        Some(c) if !matches!(c.data_type.as_str(), "bigint" | "int") => {
            problems.push(format!(
                "its expires_at column is {} (it holds unix seconds)",
                c.column_type
            ));
            clauses.push("MODIFY COLUMN expires_at BIGINT UNSIGNED NOT NULL DEFAULT 0".into());
        }
        Some(_) => {}
    }

    // Group index rows by index: a usable unique key has session_id as its only, full-length column.
    let mut by_index: BTreeMap<&str, Vec<&IndexRow>> = BTreeMap::new();
    for row in indexes {
        by_index.entry(row.0.as_str()).or_default().push(row);
    }
    let is_col = |row: &IndexRow, name: &str| row.3.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(name));
    let unique_id = by_index
        .values()
        .any(|rows| matches!(rows.as_slice(), [row] if row.1 == 0 && is_col(row, "session_id") && row.4.is_none()));
    let expiry_index = indexes.iter().any(|row| row.2 == 1 && is_col(row, "expires_at"));
    if !unique_id {
        problems.push(
            "session_id is not a PRIMARY or UNIQUE key on its own (writes need it; remove rows with duplicate session_id first)"
                .into(),
        );
        clauses.push("ADD UNIQUE KEY uniq_session_id (session_id)".into());
    }
    if !clauses.is_empty() && !expiry_index {
        // Not required, but gc scans the whole table without it.
        clauses.push("ADD KEY idx_expires_at (expires_at)".into());
    }

    // Columns we do not write must take care of themselves.
    let ours = ["session_id", "data", "last_activity", "expires_at"];
    let mut fixes: Vec<String> = Vec::new();
    for c in columns
        .iter()
        .filter(|c| !ours.iter().any(|o| c.name.eq_ignore_ascii_case(o)))
    {
        let fills_itself =
            c.nullable || c.default.is_some() || c.extra.contains("auto_increment") || c.extra.contains("generated");
        if !fills_itself {
            problems.push(format!(
                "its column `{}` is NOT NULL without a default, so rows cannot be inserted",
                c.name
            ));
            fixes.push(format!(
                "ALTER TABLE {} MODIFY COLUMN `{}` {} NULL;",
                quote(table),
                c.name,
                c.column_type
            ));
        }
    }

    if problems.is_empty() {
        return Inspection::Usable(Schema {
            id_max_len,
            auto_increment: columns.iter().any(|c| c.extra.contains("auto_increment")),
            max_packet,
        });
    }
    let mut msg = format!(
        "the MySQL table `{db}`.`{table}` cannot store sessions as it is: {}. Run:",
        problems.join("; ")
    );
    if !clauses.is_empty() {
        let _ = write!(msg, "\n  ALTER TABLE {} {};", quote(table), clauses.join(", "));
    }
    for f in fixes {
        msg.push_str("\n  ");
        msg.push_str(&f);
    }
    Inspection::Unusable(msg)
}

/// The error for a table that does not exist.
pub(super) fn missing_message(db: &str, table: &str) -> String {
    format!(
        "the MySQL table `{db}`.`{table}` does not exist. Create it with:\n{};\n\
         or add auto_create=1 to the DSN, or call DatabaseHandler::createTable() once",
        create_table_sql(table)
    )
}

impl MysqlStore {
    /// The CREATE TABLE statement for `table` (default `cannon_session`).
    pub fn create_table_sql(table: &str) -> String {
        create_table_sql(table)
    }

    /// Creates the session table if it does not exist (`CREATE TABLE IF NOT EXISTS`). The next
    /// call checks it again.
    pub fn create_table(&mut self) -> Result<(), StoreError> {
        let sql = create_table_sql(&self.table);
        self.with_conn(|c| c.query_drop(&sql))?;
        self.schema = None;
        Ok(())
    }

    /// Checks the table once (creating it first with `auto_create`); afterwards this costs
    /// nothing. A statement that later fails with "unknown table/column" clears the check.
    pub(super) fn ensure_schema(&mut self) -> Result<Schema, StoreError> {
        if self.schema.is_none() {
            let (db, table, max_size) = (self.dbname.clone(), self.table.clone(), self.max_size);
            let mut found = self.with_conn(|c| inspect(c, &db, &table, max_size))?;
            if matches!(found, Inspection::Missing) && self.auto_create {
                self.create_table()?;
                found = self.with_conn(|c| inspect(c, &db, &table, max_size))?;
            }
            if self.lock_shape.is_none() && matches!(found, Inspection::Usable(_)) {
                let rtt = self.with_conn(fastest_ping)?;
                self.stats.round_trips += PINGS - 1; // with_conn counted one
                self.lock_shape = Some(if rtt < NEAR_ROUND_TRIP { LockShape::Prepared } else { LockShape::Batched });
            }
            match found {
                Inspection::Usable(s) => self.schema = Some(s),
                Inspection::Missing => return Err(StoreError::Schema(missing_message(&db, &table))),
                Inspection::Unusable(msg) => return Err(StoreError::Schema(msg)),
            }
        }
        match self.schema {
            Some(s) => Ok(s),
            None => Err(StoreError::Schema("the session table could not be checked".into())),
        }
    }
}
