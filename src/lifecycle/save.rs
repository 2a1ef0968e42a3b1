//! The one lazy-write decision, used by every API: PHP's write and update_timestamp in the native
//! handler and the handler classes, and `Session::close()`.

/// What ending a request's use of a session does with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Save {
    /// Store the new data (and release the lock).
    Write,
    /// Unchanged: refresh the expiry (and release the lock).
    Touch,
    /// Unchanged, and the read already refreshed the expiry: only the lock is left to release.
    UnlockOnly,
    /// Opened read-only (the lock was not had): nothing is stored; say so when data changed.
    Skip { notice: bool },
}

/// The notice for a change that a read-only session does not store.
pub const SKIPPED: &str = "session opened read-only (lock not acquired): write skipped";

/// `changed`: the data differs from what was read. `read_only`: the session fell back to
/// read-only at its read. `refreshed`: the read refreshed the expiry to this same lifetime.
pub fn decide(changed: bool, read_only: bool, refreshed: bool) -> Save {
    if read_only {
        Save::Skip { notice: changed }
    } else if changed {
        Save::Write
    } else if refreshed {
        Save::UnlockOnly
    } else {
        Save::Touch
    }
}

/// Whether the Session API's data changed since it was read: `original` is what the read gave
/// (None when nothing is stored under the id yet, as after a regenerate: that must be written).
pub fn changed(original: Option<&[u8]>, now: &[u8]) -> bool {
    original != Some(now) || now.is_empty()
}
