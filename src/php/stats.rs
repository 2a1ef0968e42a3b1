//! `Cannon\Session\stats()`: this process's counters across every backend it uses, for
//! applications' metrics, tests and benchmarks (the native handler has no object to ask).
use ext_php_rs::boxed::ZBox;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::types::ZendHashTable;

/// `['connections' => int, 'round_trips' => int, 'lock_failures' => int, 'last_lock_wait_ms' => float]`
pub fn process_stats() -> PhpResult<ZBox<ZendHashTable>> {
    let (mut stores, mut round_trips, mut failures, mut last_wait) = (0i64, 0u64, 0u64, 0f64);
    crate::registry::for_each(|s| {
        let st = s.stats();
        stores += 1;
        round_trips += st.round_trips;
        failures += st.lock_failures;
        last_wait = last_wait.max(st.last_lock_wait.as_secs_f64() * 1000.0);
    });
    let mut out = ZendHashTable::new();
    out.insert("connections", stores)?;
    out.insert("round_trips", round_trips as i64)?;
    out.insert("lock_failures", failures as i64)?;
    out.insert("last_lock_wait_ms", last_wait)?;
    Ok(out)
}
