//! MySQL/MariaDB backend: one row per session in an InnoDB table, session locks with `GET_LOCK`.
//!
//! - `conn.rs`: driver options and error mapping (no password in any message).
//! - `sql.rs`: the statements, built once per table, and the locked cycle's multi-statements.
//! - `schema.rs`: CREATE TABLE, and the one-time check of an existing table.
//! - `lock.rs`: named locks, held on one pooled connection from read to write; a locked cycle is
//!   two round trips (`GET_LOCK` + SELECT, then the write + `RELEASE_LOCK`), or four prepared
//!   statements when round trips are cheap (`LockShape`).
//!
//! Connections come from the driver's own `mysql::Pool`, created on first use (never in `new`:
//! php-fpm forks after start-up; the registry above forgets a store inherited across a fork).
//!
//! Reconnecting: the pool does not ping connections on checkout. A statement that fails because
//! its connection broke (server restart, `wait_timeout`, KILL, network) throws the whole pool
//! away, since its other idle connections are most likely dead too and the driver would happily
//! hand them out again, and runs once more on a fresh connection. Every statement this store
//! sends is idempotent, so running one twice is harmless; so are the multi-statements (GET_LOCK
//! again on a fresh connection, the upsert or expiry UPDATE again, RELEASE_LOCK of a lock the new
//! connection took again or never had). Timeouts are not retried (that would
//! only double the wait), but their connection is thrown away as well: a late reply would
//! otherwise be read as the answer to the next statement.
mod conn;
mod lock;
mod schema;
mod sql;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::mysql::prelude::Queryable;
use ::mysql::{Error as MyError, Opts, Pool, PooledConn, Result as MyResult};

use crate::config::{validate_identifier, Backend, Config};
use crate::store::{SessionStore, StoreError, StoreStats};
use conn::{is_broken, is_retryable, is_schema_gone, Stage, Target};
use lock::{HeldLock, Tail};
use schema::Schema;
use sql::{Statements, GC_BATCH};

pub use schema::create_table_sql;

/// gc deletes at most this many batches of `GC_BATCH` rows per call (it runs inside a request).
const GC_MAX_BATCHES: u64 = 100;

/// Room for the rest of an INSERT packet (header, id, ttl) next to the data, when comparing a
/// payload with the server's `max_allowed_packet`.
const PACKET_OVERHEAD: u64 = 1024;

/// A locked write of a larger payload takes the prepared upsert and a separate `RELEASE_LOCK`
/// (two round trips) instead of one text multi-statement: the server spends about 11 µs per KB
/// parsing the hex literal, more than the extra round trip saves beyond this size (measured with
/// mysqli on loopback, client and server on one CPU and on two; README, Performance).
const TEXT_WRITE_MAX: usize = 8 * 1024;

/// A server that answers a ping faster than this is near (same host): the locked cycle then runs
/// as four prepared statements rather than two text multi-statements. Each statement of a
/// multi-statement still costs the server a reply and the client a wake-up, and the text protocol
/// costs parsing, so batching only pays where the round trip itself is what is slow (measured with
/// mysqli, 1 KB: with client and server sharing a CPU, ping ~15 µs, a locked write is 20 µs
/// faster prepared; across CPUs on the same VM, ping ~100 µs, 70 µs faster batched).
const NEAR_ROUND_TRIP: Duration = Duration::from_micros(30);

/// How a locked cycle is sent to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LockShape {
    /// `GET_LOCK; SELECT` and `upsert; RELEASE_LOCK`, each one text multi-statement: 2 round trips.
    Batched,
    /// The same four statements, prepared, one round trip each.
    Prepared,
}

/// Sessions in a MySQL/MariaDB table. See the module documentation for the design.
pub struct MysqlStore {
    opts: Opts,
    target: Target,
    dbname: String,
    table: String,
    auto_create: bool,
    lock_wait: Duration,
    lock_slice: Duration,
    max_size: usize,
    /// `TEXT_WRITE_MAX`, as a field so that tests can force the text path.
    text_write_max: usize,
    /// Chosen from the round-trip time measured with the table check (None: not measured yet;
    /// tests set it to run either shape).
    lock_shape: Option<LockShape>,
    sql: Statements,
    /// Created on first use; dropped (with every idle connection) when a connection breaks.
    pool: Option<Pool>,
    /// The table as checked on first use.
    schema: Option<Schema>,
    lock: Option<HeldLock>,
    stats: StoreStats,
}

impl MysqlStore {
    /// Builds the store. Connects to nothing: the first statement does.
    pub fn new(cfg: &Config) -> Result<MysqlStore, StoreError> {
        let Backend::Mysql(m) = &cfg.backend else {
            return Err(StoreError::Schema("the MySQL store needs a mysql:// DSN".into()));
        };
        for (field, name) in [("table", &m.table), ("dbname", &m.dbname)] {
            validate_identifier(field, name).map_err(|e| StoreError::Schema(e.0))?;
        }
        Ok(MysqlStore {
            opts: conn::opts(m, cfg),
            target: Target::new(m, cfg),
            dbname: m.dbname.clone(),
            table: m.table.clone(),
            auto_create: m.auto_create,
            lock_wait: cfg.lock_wait_timeout,
            lock_slice: lock::slice_for(cfg.timeout),
            max_size: cfg.max_size,
            text_write_max: TEXT_WRITE_MAX,
            lock_shape: None,
            sql: Statements::new(&m.table),
            pool: None,
            schema: None,
            lock: None,
            stats: StoreStats::default(),
        })
    }

    /// Whether locked cycles send their statements one at a time (see `LockShape`).
    fn prepared_shape(&self) -> bool {
        self.lock_shape == Some(LockShape::Prepared)
    }

    /// A connection from the pool (creating the pool first). Connecting is not retried.
    fn get_conn(&mut self) -> Result<PooledConn, StoreError> {
        let pool = match &self.pool {
            Some(p) => p.clone(),
            None => {
                let p = Pool::new(self.opts.clone()).map_err(|e| self.target.map(&e, Stage::Connect))?;
                self.pool = Some(p.clone());
                p
            }
        };
        // The wait only matters if the pool were full, which one PHP process never makes it.
        pool.try_get_conn(self.target.connect_timeout + self.target.timeout)
            .map_err(|e| self.target.map(&e, Stage::Connect))
    }

    /// Runs `f` on the lock's connection when this store holds a lock (so a PHP process uses one
    /// connection), otherwise on a pooled one; once more on a fresh connection if it broke.
    fn with_conn<T>(&mut self, mut f: impl FnMut(&mut PooledConn) -> MyResult<T>) -> Result<T, StoreError> {
        let mut retried = false;
        loop {
            self.stats.round_trips += 1;
            let result = match self.lock.as_mut().and_then(|l| l.conn.as_mut()) {
                Some(conn) => f(conn),
                None => {
                    let mut conn = self.get_conn()?;
                    f(&mut conn)
                }
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if !retried && is_retryable(&e) => {
                    self.discard_connections();
                    retried = true;
                }
                Err(e) => return Err(self.fail(&e, Stage::Query)),
            }
        }
    }

    /// Runs `f` on the connection that holds the lock on `id`, calling `take` first whenever
    /// this store does not hold that lock on a live connection. If the connection breaks, the
    /// lock went with it: `take` runs again on a fresh connection, then `f` once more.
    fn with_lock_conn<T>(
        &mut self,
        id: &str,
        mut take: impl FnMut(&mut Self) -> Result<(), StoreError>,
        mut f: impl FnMut(&mut PooledConn) -> MyResult<T>,
    ) -> Result<T, StoreError> {
        let mut retried = false;
        loop {
            if !self.holds_live_lock(id) {
                take(self)?;
            }
            let Some(conn) = self.lock.as_mut().and_then(|l| l.conn.as_mut()) else {
                return Err(StoreError::server(
                    "internal error: the lock's connection is missing",
                ));
            };
            self.stats.round_trips += 1;
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(e) if !retried && is_retryable(&e) => {
                    self.discard_connections();
                    retried = true;
                }
                Err(e) => return Err(self.fail(&e, Stage::Query)),
            }
        }
    }

    /// Bookkeeping for a failed statement, then its `StoreError`.
    fn fail(&mut self, e: &MyError, stage: Stage) -> StoreError {
        if is_broken(e) {
            self.discard_connections();
        }
        if is_schema_gone(e) {
            self.schema = None;
        }
        self.target.map(e, stage)
    }

    /// Throws away the pool and the lock's connection (closing them; a closed connection's
    /// named lock is freed by the server). A lock whose connection is gone stays recorded, so
    /// that `write` knows to take it again before writing.
    fn discard_connections(&mut self) {
        if let Some(mut conn) = self.lock.as_mut().and_then(|l| l.conn.take()) {
            // Closed, not reset: a reset would wait on a connection we know is broken.
            conn.reset_connection(false);
            drop(conn);
        }
        self.pool = None;
    }

    /// The locked read: `GET_LOCK` and the SELECT in one round trip (see `lock.rs`), or only the
    /// SELECT when this store holds the lock already. If the connection breaks, the lock went with
    /// it: taken again (with the read) on a fresh connection, once.
    fn read_locked(&mut self, id: &str, schema: Schema) -> Result<Option<Vec<u8>>, StoreError> {
        let started = Instant::now();
        let deadline = started + self.lock_wait;
        if self.lock.as_ref().is_some_and(|l| l.id != id) {
            self.release_lock();
        }
        let select = Arc::clone(&self.sql.select);
        let fits = schema.id_fits(id);
        let mut retried = false;
        let data = loop {
            let row = match self.lock.as_mut().filter(|l| l.id == id).and_then(|l| l.conn.as_mut()) {
                Some(conn) => {
                    self.stats.round_trips += 1;
                    if fits {
                        sql::select_row(conn, &select, id)
                    } else {
                        Ok(None)
                    }
                }
                None => self.acquire_lock(id, started, deadline, fits)?,
            };
            match row {
                Ok(data) => break data,
                Err(e) if !retried && is_retryable(&e) => {
                    self.discard_connections();
                    retried = true;
                }
                Err(e) => return Err(self.fail(&e, Stage::Query)),
            }
        };
        if let Some(l) = self.lock.as_mut().filter(|l| l.id == id) {
            l.read = Some(data.clone());
        }
        Ok(data)
    }

    /// Stores the session. With `release`, under this store's lock on `id`, the upsert and the
    /// `RELEASE_LOCK` go in one round trip (see `lock.rs`); otherwise prepared statements, and the
    /// caller releases.
    fn write_inner(&mut self, id: &str, data: &[u8], ttl_secs: u64, release: bool) -> Result<(), StoreError> {
        let schema = self.ensure_schema()?;
        if !schema.id_fits(id) {
            return Err(StoreError::Schema(format!(
                "the session id is {} characters, longer than column session_id of `{}` allows: \
                 ALTER TABLE `{}` MODIFY COLUMN session_id VARBINARY(256) NOT NULL",
                id.len(),
                self.table,
                self.table
            )));
        }
        let needed = data.len() as u64 + id.len() as u64 + PACKET_OVERHEAD;
        if schema.max_packet > 0 && needed > schema.max_packet {
            return Err(StoreError::server(format!(
                "session data is {} bytes, too large for the server's max_allowed_packet ({} bytes): \
                 raise max_allowed_packet on the server or lower max_size",
                data.len(),
                schema.max_packet
            )));
        }
        let ttl = ttl_secs.max(1);
        let locked = self.lock.as_ref().filter(|l| l.id == id).map(|l| l.name.clone());
        if let Some(name) = locked.filter(|_| release && !self.prepared_shape() && !schema.auto_increment) {
            // As text the data takes twice its size (hex); a large payload, or one that would
            // not fit the packet that way, takes the prepared path below.
            let text_needed = 2 * data.len() as u64 + id.len() as u64 + PACKET_OVERHEAD;
            let fits = schema.max_packet == 0 || text_needed <= schema.max_packet;
            if fits && data.len() <= self.text_write_max {
                let sql = self.sql.upsert_and_release(id, data, ttl, &name)?;
                // If the lock's connection died, the lock is taken again without waiting
                // (LockLost when another request holds it now) and the write goes ahead.
                let tail = self.with_lock_conn(id, |s| s.retake_lock(id), |c| lock::run_then_release(c, &sql))?;
                self.after_release(tail);
                return Ok(());
            }
        }
        let (upsert, update) = (Arc::clone(&self.sql.upsert), Arc::clone(&self.sql.update));
        let update_first = schema.auto_increment;
        let run = |c: &mut PooledConn| -> MyResult<()> {
            if update_first {
                c.exec_drop(&*update, (data, ttl, id))?;
                if c.affected_rows() > 0 {
                    return Ok(());
                }
            }
            c.exec_drop(&*upsert, (id, data, ttl))
        };
        if self.lock.as_ref().is_some_and(|l| l.id == id) {
            // Under our lock. If its connection died, the lock is taken again without waiting
            // (LockLost when another request holds it now) and the write goes ahead.
            self.with_lock_conn(id, |s| s.retake_lock(id), run)
        } else {
            self.with_conn(run)
        }
    }

    /// After a statement that ended with `RELEASE_LOCK` on the lock's connection succeeded. When
    /// the release itself did not answer, the lock stays recorded for the caller's usual release;
    /// a connection that broke on the way is closed instead (which frees the lock).
    fn after_release(&mut self, tail: Tail) {
        match tail {
            Tail::Released => self.lock_released(),
            Tail::NotReleased(e) if is_broken(&e) => self.discard_connections(),
            Tail::NotReleased(_) => {}
        }
    }

    fn touch_inner(&mut self, id: &str, ttl_secs: u64) -> Result<(), StoreError> {
        let schema = self.ensure_schema()?;
        if !schema.id_fits(id) {
            return Ok(());
        }
        let ttl = ttl_secs.max(1);
        // Refreshing the expiry is harmless even if the lock was lost: no re-check needed.
        let live = self.lock.as_ref().filter(|l| l.id == id && l.conn.is_some());
        if let Some(name) = live.filter(|_| !self.prepared_shape()).map(|l| l.name.clone()) {
            // Under our live lock: the UPDATE and RELEASE_LOCK in one round trip, on the lock's
            // connection (`with_conn` uses it). Should that connection break, the retry runs on a
            // fresh one, where RELEASE_LOCK finds no lock: harmless, the lock died with it.
            let sql = self.sql.touch_and_release(id, ttl, &name)?;
            let tail = self.with_conn(|c| lock::run_then_release(c, &sql))?;
            if self.holds_live_lock(id) {
                self.after_release(tail);
            }
            return Ok(());
        }
        let touch = Arc::clone(&self.sql.touch);
        self.with_conn(|c| c.exec_drop(&*touch, (ttl, id)))
    }

    fn destroy_inner(&mut self, id: &str) -> Result<(), StoreError> {
        let schema = self.ensure_schema()?;
        if !schema.id_fits(id) {
            return Ok(());
        }
        let delete = Arc::clone(&self.sql.delete);
        self.with_conn(|c| c.exec_drop(&*delete, (id,)))
    }

    /// The server thread id of the lock's connection (tests kill it to simulate failures).
    #[cfg(test)]
    fn lock_connection_id(&self) -> Option<u32> {
        self.lock
            .as_ref()
            .and_then(|l| l.conn.as_ref())
            .map(|c| c.connection_id())
    }

    /// The server thread id of the connection the next statement would use.
    #[cfg(test)]
    fn connection_id(&mut self) -> Result<u32, StoreError> {
        self.with_conn(|c| Ok(c.connection_id()))
    }

    /// Drops the lock's connection without RELEASE_LOCK, as an error path might.
    #[cfg(test)]
    fn drop_lock_silently(&mut self) {
        self.lock = None;
    }
}

impl SessionStore for MysqlStore {
    fn read(&mut self, id: &str, lock: bool) -> Result<Option<Vec<u8>>, StoreError> {
        let schema = self.ensure_schema()?;
        if lock {
            return self.read_locked(id, schema);
        }
        if !schema.id_fits(id) {
            return Ok(None);
        }
        let select = Arc::clone(&self.sql.select);
        self.with_conn(|c| sql::select_row(c, &select, id))
    }

    fn write(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        // Checked before anything is sent; the stored data stays as it was.
        let result = crate::store::check_size(data, self.max_size).and_then(|()| self.write_inner(id, data, ttl_secs, true));
        // The request is over either way: never keep its lock (a no-op when the write's own
        // round trip released it).
        self.release_lock_on(id);
        result
    }

    fn write_keep_lock(&mut self, id: &str, data: &[u8], ttl_secs: u64) -> Result<(), StoreError> {
        if self.lock.as_ref().is_none_or(|l| l.id != id) {
            return self.write(id, data, ttl_secs);
        }
        crate::store::check_size(data, self.max_size)?;
        self.write_inner(id, data, ttl_secs, false)?;
        // A later check for writes by others compares against what we wrote last.
        if let Some(l) = self.lock.as_mut().filter(|l| l.id == id) {
            l.read = Some(Some(data.to_vec()));
        }
        Ok(())
    }

    fn touch(&mut self, id: &str, ttl_secs: u64) -> Result<(), StoreError> {
        let result = self.touch_inner(id, ttl_secs);
        self.release_lock_on(id);
        result
    }

    fn unlock(&mut self, id: &str) -> Result<(), StoreError> {
        self.release_lock_on(id);
        Ok(())
    }

    fn destroy(&mut self, id: &str) -> Result<(), StoreError> {
        let result = self.destroy_inner(id);
        self.release_lock_on(id);
        result
    }

    fn exists(&mut self, id: &str) -> Result<bool, StoreError> {
        let schema = self.ensure_schema()?;
        if !schema.id_fits(id) {
            return Ok(false);
        }
        let exists = Arc::clone(&self.sql.exists);
        let row = self.with_conn(|c| c.exec_first::<i64, _, _>(&*exists, (id,)))?;
        Ok(row.is_some())
    }

    /// Every row carries its own expiry (`expires_at`), set from the ttl at each write, and
    /// PHP passes `session.gc_maxlifetime` as that ttl. A row "idle for more than
    /// gc_maxlifetime" is therefore exactly a row whose `expires_at` has passed, which is what
    /// gc deletes; `max_lifetime_secs` itself is not needed (and a per-session lifetime set by
    /// the application stays honoured). Expired rows are never read, gc only reclaims space.
    /// Deletes in batches of 1000 (short row locks, little undo) and at most 100 batches per
    /// call, since gc runs inside a request; the next gc continues.
    fn gc(&mut self, _max_lifetime_secs: u64) -> Result<u64, StoreError> {
        self.ensure_schema()?;
        let gc = Arc::clone(&self.sql.gc);
        let mut total = 0;
        for _ in 0..GC_MAX_BATCHES {
            let n = self.with_conn(|c| {
                c.exec_drop(&*gc, ())?;
                Ok(c.affected_rows())
            })?;
            total += n;
            if n < GC_BATCH {
                break;
            }
        }
        Ok(total)
    }

    fn held_lock(&self) -> Option<&str> {
        self.lock.as_ref().map(|l| l.id.as_str())
    }

    fn stats(&self) -> StoreStats {
        self.stats
    }

    /// Closes every connection. A held lock is freed by the server as its connection closes
    /// (no round trip is spent on RELEASE_LOCK).
    fn disconnect(&mut self) {
        self.discard_connections();
        self.lock = None;
    }
}

impl Drop for MysqlStore {
    fn drop(&mut self) {
        // Close rather than let the lock's connection reset itself on its way back to a pool
        // that is about to go away anyway.
        self.disconnect();
    }
}
