//! The phpinfo() section: version, drivers, effective settings. Never a password.
use super::ini;
use crate::config::parse_dsn;
use ext_php_rs::zend::ModuleEntry;
use ext_php_rs::{info_table_end, info_table_row, info_table_start};

fn redacted_dsn(dsn: &str) -> String {
    match parse_dsn(dsn) {
        Ok(c) => c.redacted(),
        Err(_) => "(invalid DSN)".into(),
    }
}

pub extern "C" fn php_info(_module: *mut ModuleEntry) {
    let _ = std::panic::catch_unwind(|| {
        info_table_start!();
        info_table_row!("cannon_session support", "enabled");
        info_table_row!("version", env!("CARGO_PKG_VERSION"));
        info_table_row!("drivers", "redis, database (mysql/mariadb)");
        info_table_row!("save handler", "cannon");
        info_table_row!("cannon_session.default_dsn (effective)", redacted_dsn(&ini::default_dsn()));
        info_table_row!("cannon_session.locking", if ini::locking() { "1" } else { "0" });
        info_table_row!("cannon_session.serializer", ini::serializer());
        info_table_row!("cannon_session.allowed_classes", ini::allowed_classes());
        let t = crate::registry::totals();
        info_table_row!("connections in this process", t.stores.to_string());
        info_table_row!("lock waits that timed out (this process)", t.lock_failures.to_string());
        info_table_row!("round trips (this process)", t.round_trips.to_string());
        info_table_end!();
    });
}
