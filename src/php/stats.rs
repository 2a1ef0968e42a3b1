//! `Cannon\Session\stats()`: this process's counters across every backend it uses, for
//! applications' metrics, tests and benchmarks (the native handler has no object to ask).
use ext_php_rs::boxed::ZBox;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::types::ZendHashTable;

/// `['connections' => int, 'round_trips' => int, 'lock_failures' => int, 'last_lock_wait_ms' => float]`
pub fn process_stats() -> PhpResult<ZBox<ZendHashTable>> {
    let t = crate::registry::totals();
    let mut out = ZendHashTable::new();
    out.insert("connections", t.stores as i64)?;
    out.insert("round_trips", t.round_trips as i64)?;
    out.insert("lock_failures", t.lock_failures as i64)?;
    out.insert("last_lock_wait_ms", t.last_lock_wait_ms)?;
    Ok(out)
}
