//! Session locks: one server-side named lock (`GET_LOCK`) per session id.
//!
//! - A named lock belongs to the connection that took it. The store keeps that pooled connection
//!   from `read` until `write`/`touch`/`unlock`/`destroy` releases the lock, and meanwhile runs its
//!   other statements on it too, so a PHP process uses one connection.
//! - A locked cycle is two round trips (or, with a server so near that round trips cost less than
//!   batching saves, `LockShape::Prepared`: the same four statements, prepared, one at a time). The
//!   read sends `SELECT GET_LOCK(..); SELECT data ..` as one text-protocol multi-statement: the
//!   server runs them in order, so the row is read under the lock (when GET_LOCK answers 0, the row
//!   is ignored and the wait goes on). The write sends the upsert (or, for a lazy write, the expiry
//!   UPDATE) followed by `DO RELEASE_LOCK(..)`: the statement commits as it ends, before the
//!   release runs, so nobody can take the lock and read the old row. When the statement fails, the
//!   server runs nothing after it and the lock is still held; the usual release then frees it. The
//!   older AUTO_INCREMENT layout, payloads over 8 KiB and payloads whose hex form would not fit
//!   `max_allowed_packet` keep a prepared write and a separate `RELEASE_LOCK`.
//! - Waiting is a loop of `GET_LOCK(name, slice)` calls, each at most 1 s and at most half the
//!   socket read timeout, so no call outlives the read timeout however long `lock_wait_timeout`
//!   is. The server wakes a waiter as soon as the holder releases, so the hand-over costs one
//!   round trip, not a polling interval.
//! - A named lock lives as long as its connection. A PHP process that dies closes its connection
//!   and the server frees the lock at once. Connections run with `wait_timeout = lock_ttl`, so a
//!   request that hangs between statements for longer than `lock_ttl` loses its connection and
//!   with it the lock, as a Redis lock expires.
//! - When the lock's connection dies (server restart, KILL, network), the lock dies with it.
//!   `write` then takes it again without waiting, on a fresh connection. If another connection
//!   holds it now, or the stored session changed since our read (someone held it in between),
//!   the write is refused with `LockLost`; otherwise it goes ahead. The server frees a broken
//!   connection's locks as it closes its thread, which can lag the client's error: while the old
//!   thread is still the holder (`IS_USED_LOCK`), the retake waits for it, up to
//!   `lock_wait_timeout`.
//! - A connection holding a lock is flagged for `COM_RESET_CONNECTION` on its return to the pool,
//!   which frees named locks: a lock connection dropped without `RELEASE_LOCK` (on an error path)
//!   never sits in the pool still holding a lock. The flag is cleared after an explicit release,
//!   so the normal path keeps its prepared statements and pays no extra round trip.
use std::time::{Duration, Instant};

use ::mysql::prelude::Queryable;
use ::mysql::{from_row_opt, DriverError, Error as MyError, PooledConn, Result as MyResult, Row};

use super::conn::{is_broken, is_retryable, Stage};
use super::sql::select_row;
use super::MysqlStore;
use crate::store::StoreError;

/// The lock this store holds (or held, when its connection died: `conn` is then `None`).
pub(super) struct HeldLock {
    pub id: String,
    pub name: String,
    pub conn: Option<PooledConn>,
    /// The server thread id of the connection that took it: after that connection broke, the
    /// server may still hold the lock for it for a moment, while it closes the thread.
    pub holder: u32,
    /// What the locked read found (None: no live row), to tell after a lost connection whether
    /// another request wrote in between.
    pub read: Option<Option<Vec<u8>>>,
}

/// Longest single `GET_LOCK` wait.
const MAX_SLICE: Duration = Duration::from_secs(1);
/// Shortest, for very small read timeouts.
const MIN_SLICE: Duration = Duration::from_millis(10);

/// The lock's name: MySQL allows 64 characters, so the table and id are hashed. The database is
/// part of it because named locks are server-wide. `cs:` + 40 hex digits = 43 characters.
pub(super) fn lock_name(db: &str, table: &str, id: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(db.as_bytes());
    h.update(b"\0");
    h.update(table.as_bytes());
    h.update(b"\0");
    h.update(id.as_bytes());
    format!("cs:{}", h.digest())
}

/// How long one `GET_LOCK` call may wait, given the socket read timeout.
pub(super) fn slice_for(read_timeout: Duration) -> Duration {
    (read_timeout / 2).clamp(MIN_SLICE, MAX_SLICE)
}

/// Sends a text-protocol multi-statement and reads every result set to its end, so the connection
/// is ready for its next command whatever happened. Returns the rows of each statement that
/// succeeded, in order, and the error that ended the rest (after a failed statement the server
/// runs none of the following ones).
fn run_multi(conn: &mut PooledConn, sql: &str) -> (Vec<Vec<Row>>, Option<MyError>) {
    let mut sets = Vec::new();
    let mut result = match conn.query_iter(sql) {
        Ok(r) => r,
        Err(e) => return (sets, Some(e)),
    };
    let mut error = None;
    while let Some(set) = result.iter() {
        let mut rows = Vec::new();
        for row in set {
            match row {
                Ok(r) => rows.push(r),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if error.is_none() {
            sets.push(rows);
        }
    }
    (sets, error)
}

/// The first column of a set's first row (`None`: no row).
fn first<T: ::mysql::prelude::FromValue>(rows: Vec<Row>) -> MyResult<Option<T>> {
    match rows.into_iter().next() {
        Some(row) => from_row_opt::<T>(row).map(Some).map_err(|e| MyError::FromRowError(e.0)),
        None => Ok(None),
    }
}

/// What one `GET_LOCK` round trip found.
enum Attempt {
    /// Taken; with the row read in the same round trip (`Ok(None)`: no live row, or no read), or
    /// why reading it failed. The lock is held either way.
    Taken(MyResult<Option<Vec<u8>>>),
    /// Still held by another connection after the wait.
    Busy,
    /// GET_LOCK returned NULL (an error such as the thread being killed).
    Null,
}

/// Runs `Statements::lock_and_read`'s text. `Err`: GET_LOCK itself failed (the lock is not held).
fn lock_and_read(conn: &mut PooledConn, sql: &str) -> MyResult<Attempt> {
    let (sets, error) = run_multi(conn, sql);
    let mut sets = sets.into_iter();
    let Some(lock_rows) = sets.next() else {
        return Err(error.unwrap_or(MyError::DriverError(DriverError::UnexpectedPacket)));
    };
    match first::<Option<i64>>(lock_rows)?.flatten() {
        Some(1) => {}
        // The row read while the lock was busy is not ours to use. Only a broken connection
        // matters here (its next GET_LOCK would fail anyway).
        other => {
            if let Some(e) = error.filter(is_broken) {
                return Err(e);
            }
            return Ok(if other.is_some() { Attempt::Busy } else { Attempt::Null });
        }
    }
    let row = match (error, sets.next()) {
        (Some(e), _) => Err(e),
        (None, Some(rows)) => first::<Option<Vec<u8>>>(rows).map(|r| r.map(Option::unwrap_or_default)),
        (None, None) => Ok(None),
    };
    Ok(Attempt::Taken(row))
}

/// `lock_and_read` as prepared statements (`super::LockShape::Prepared`): `GET_LOCK`, then, once the
/// lock is taken and with `select` (the statement and the id), the row.
fn lock_then_read(conn: &mut PooledConn, name: &str, wait: Duration, select: Option<(&str, &str)>) -> MyResult<Attempt> {
    match get_lock(conn, name, wait)? {
        Some(true) => {}
        Some(false) => return Ok(Attempt::Busy),
        None => return Ok(Attempt::Null),
    }
    let row = match select {
        Some((sql, id)) => select_row(conn, sql, id),
        None => Ok(None),
    };
    Ok(Attempt::Taken(row))
}

/// How a `<statement>; DO RELEASE_LOCK(..)` round trip ended, its statement having succeeded.
pub(super) enum Tail {
    /// The lock is released.
    Released,
    /// The release did not run or did not answer: the lock may still be held on the connection.
    NotReleased(MyError),
}

/// Runs `Statements::upsert_and_release`'s or `touch_and_release`'s text. `Err`: the statement
/// failed, so the release did not run and the lock is still held (or died with the connection).
pub(super) fn run_then_release(conn: &mut PooledConn, sql: &str) -> MyResult<Tail> {
    let (sets, error) = run_multi(conn, sql);
    match (sets.len(), error) {
        (0, e) => Err(e.unwrap_or(MyError::DriverError(DriverError::UnexpectedPacket))),
        (1, e) => Ok(Tail::NotReleased(e.unwrap_or(MyError::DriverError(DriverError::UnexpectedPacket)))),
        _ => Ok(Tail::Released),
    }
}

/// `Some(true)`: taken; `Some(false)`: still held by another connection after `wait`;
/// `None`: the server returned NULL (an error such as the thread being killed).
fn get_lock(conn: &mut PooledConn, name: &str, wait: Duration) -> MyResult<Option<bool>> {
    let r: Option<Option<i64>> = conn.exec_first("SELECT GET_LOCK(?, ?)", (name, wait.as_secs_f64()))?;
    Ok(r.flatten().map(|v| v == 1))
}

/// `GET_LOCK` without waiting, except while the holder is `dead` (the thread id of our own
/// connection that broke): the server frees its locks as it closes that thread, which can take a
/// moment after the client saw the connection break. Then it waits up to `wait` for that.
/// Returns what `get_lock` does, and whether the dead thread still held the lock.
fn get_lock_after(conn: &mut PooledConn, name: &str, dead: u32, wait: Duration) -> MyResult<(Option<bool>, bool)> {
    let r: Option<(Option<i64>, Option<i64>)> = conn.exec_first(
        "SELECT IS_USED_LOCK(?) = ?, IF(IS_USED_LOCK(?) = ?, GET_LOCK(?, ?), GET_LOCK(?, 0))",
        (name, dead, name, dead, name, wait.as_secs_f64(), name),
    )?;
    let (held, got) = r.unwrap_or((None, None));
    Ok((got.map(|v| v == 1), held == Some(1)))
}

fn release(conn: &mut PooledConn, name: &str) -> MyResult<()> {
    conn.exec_drop("DO RELEASE_LOCK(?)", (name,))
}

fn null_result() -> StoreError {
    StoreError::server("GET_LOCK returned NULL (the server could not take the lock)")
}

impl MysqlStore {
    /// Takes the lock on `id`, waiting until `deadline` (then `LockTimeout`); any other lock this
    /// store holds is released first. With `read`, each `GET_LOCK` goes with the session's SELECT
    /// in one round trip. Returns, once the lock is held, the row read with it (`Ok(None)`: no
    /// live row, or no read) or the error that stopped the read.
    pub(super) fn acquire_lock(
        &mut self,
        id: &str,
        started: Instant,
        deadline: Instant,
        read: bool,
    ) -> Result<MyResult<Option<Vec<u8>>>, StoreError> {
        self.release_lock();
        let name = lock_name(&self.dbname, &self.table, id);
        let mut conn = self.get_conn()?;
        let mut reconnected = false;
        let select = std::sync::Arc::clone(&self.sql.select);
        let select = read.then_some((&*select, id));
        loop {
            let asked = Instant::now();
            let wait = deadline.saturating_duration_since(asked).min(self.lock_slice);
            self.stats.round_trips += 1;
            let attempt = if self.prepared_shape() {
                let attempt = lock_then_read(&mut conn, &name, wait, select);
                if read && matches!(attempt, Ok(Attempt::Taken(_))) {
                    self.stats.round_trips += 1;
                }
                attempt
            } else {
                let sql = self.sql.lock_and_read(&name, wait, id, read)?;
                lock_and_read(&mut conn, &sql)
            };
            match attempt {
                Ok(Attempt::Taken(row)) => {
                    conn.reset_connection(true);
                    self.lock = Some(HeldLock {
                        id: id.to_string(),
                        name,
                        holder: conn.connection_id(),
                        conn: Some(conn),
                        read: None,
                    });
                    self.stats.last_lock_wait = started.elapsed();
                    return Ok(row);
                }
                Ok(Attempt::Busy) => {
                    let now = Instant::now();
                    if now >= deadline {
                        self.stats.last_lock_wait = started.elapsed();
                        self.stats.lock_failures += 1;
                        return Err(StoreError::lock_timeout(id, self.stats.last_lock_wait));
                    }
                    // A server that rounds fractional waits down to whole seconds answers at
                    // once: do not turn that into a busy loop of round trips.
                    if now.duration_since(asked) < wait / 2 {
                        std::thread::sleep(Duration::from_millis(5).min(deadline - now));
                    }
                }
                Ok(Attempt::Null) => return Err(null_result()),
                Err(e) if !reconnected && is_retryable(&e) => {
                    // A pooled connection that died while idle: try once more on a fresh one.
                    drop(conn);
                    self.discard_connections();
                    conn = self.get_conn()?;
                    reconnected = true;
                }
                Err(e) => {
                    // Should the server have taken the lock all the same, a connection that is
                    // still usable frees it as it is reset on its way back to the pool.
                    conn.reset_connection(!is_broken(&e));
                    drop(conn);
                    return Err(self.fail(&e, Stage::Query));
                }
            }
        }
    }

    /// After a round trip that ended with `RELEASE_LOCK` on the lock's connection: the lock is
    /// free, and its connection goes back to the pool as is (as `release_lock` leaves it).
    pub(super) fn lock_released(&mut self) {
        if let Some(mut conn) = self.lock.take().and_then(|mut l| l.conn.take()) {
            conn.reset_connection(false);
        }
    }

    /// After the lock's connection died: takes the lock on `id` again without waiting. Fails with
    /// `LockLost` when another connection holds it now.
    pub(super) fn retake_lock(&mut self, id: &str) -> Result<(), StoreError> {
        let name = lock_name(&self.dbname, &self.table, id);
        // What our locked read saw: if the stored session differs now, another request held the
        // lock in between (ours died with its connection, e.g. after lock_ttl) and wrote.
        let expected = self.lock.as_ref().filter(|l| l.id == id).and_then(|l| l.read.clone());
        let dead = self.lock.as_ref().filter(|l| l.id == id && l.conn.is_none()).map(|l| l.holder);
        let mut conn = self.get_conn()?;
        // While our dead connection's thread still holds the lock, wait (at most lock_wait_timeout)
        // for the server to free it; anyone else holding it means the lock is lost.
        let deadline = Instant::now() + self.lock_wait;
        let taken = loop {
            self.stats.round_trips += 1;
            let slice = self.lock_slice.min(deadline.saturating_duration_since(Instant::now()));
            let (taken, dead_holds) = match dead {
                Some(dead) => match get_lock_after(&mut conn, &name, dead, slice) {
                    Ok((taken, dead_holds)) => (Ok(taken), dead_holds),
                    Err(e) => (Err(e), false),
                },
                None => (get_lock(&mut conn, &name, Duration::ZERO), false),
            };
            if !(dead_holds && matches!(taken, Ok(Some(false))) && Instant::now() < deadline) {
                break taken;
            }
        };
        match taken {
            Ok(Some(true)) => {
                conn.reset_connection(true);
                if let Some(expected) = &expected {
                    self.stats.round_trips += 1;
                    let select = std::sync::Arc::clone(&self.sql.select);
                    let now = match select_row(&mut conn, &select, id) {
                        Ok(row) => row,
                        Err(e) => {
                            drop(conn);
                            return Err(self.fail(&e, Stage::Query));
                        }
                    };
                    if &now != expected {
                        let _ = release(&mut conn, &name);
                        self.lock = None;
                        return Err(StoreError::LockLost);
                    }
                }
                self.lock = Some(HeldLock {
                    id: id.to_string(),
                    name,
                    holder: conn.connection_id(),
                    conn: Some(conn),
                    read: expected,
                });
                Ok(())
            }
            Ok(Some(false)) => {
                self.lock = None;
                Err(StoreError::LockLost)
            }
            Ok(None) => Err(null_result()),
            Err(e) => {
                drop(conn);
                Err(self.fail(&e, Stage::Query))
            }
        }
    }

    /// Releases the lock this store holds, if any. Never fails: when `RELEASE_LOCK` cannot be
    /// sent, the connection is closed instead, which frees the lock just the same.
    pub(super) fn release_lock(&mut self) {
        let Some(mut held) = self.lock.take() else { return };
        // A lock whose connection died is already gone.
        let Some(mut conn) = held.conn.take() else { return };
        self.stats.round_trips += 1;
        match release(&mut conn, &held.name) {
            // Released: back to the pool as is, prepared statements and all.
            Ok(()) => conn.reset_connection(false),
            Err(_) => {
                // Do not let the pool try to reset a dead connection (that could wait for a read
                // timeout); closing it frees the lock.
                conn.reset_connection(false);
                drop(conn);
                self.discard_connections();
            }
        }
    }

    /// Releases the lock if it is the one on `id`.
    pub(super) fn release_lock_on(&mut self, id: &str) {
        if self.lock.as_ref().is_some_and(|l| l.id == id) {
            self.release_lock();
        }
    }

    /// The lock's connection is alive and the lock is on `id`.
    pub(super) fn holds_live_lock(&self, id: &str) -> bool {
        self.lock.as_ref().is_some_and(|l| l.id == id && l.conn.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_differ() {
        let a = lock_name("test", "cannon_session", &"x".repeat(256));
        assert_eq!(a.len(), 43);
        assert!(a.starts_with("cs:"));
        assert_ne!(a, lock_name("test", "cannon_session", "X"));
        assert_ne!(lock_name("test", "t", "a"), lock_name("test2", "t", "a"));
        assert_ne!(lock_name("test", "ta", "b"), lock_name("test", "t", "ab"));
    }

    #[test]
    fn slices() {
        assert_eq!(slice_for(Duration::from_secs(3)), Duration::from_secs(1));
        assert_eq!(slice_for(Duration::from_millis(600)), Duration::from_millis(300));
        assert_eq!(slice_for(Duration::from_millis(1)), MIN_SLICE);
    }
}
