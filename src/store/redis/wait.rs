//! `wait=N`: a write counts as done only when N replicas acknowledged it.
//!
//! Every write the store makes (the data write and release in `write`, `touch`, `destroy`,
//! `write_keep_lock`, and their scripted forms) runs through `run_write`: with `wait` set, the
//! connection appends `WAIT N wait_timeout` to the write's own pipeline (no extra round trip;
//! the call waits up to `wait_timeout` for the replicas), and fewer acknowledgements make the
//! write a failure, `StoreError::NotReplicated`. Without `wait`, `run_write` is `run`.
use super::{Conn, RedisStore, Reply};
use crate::store::StoreError;

/// What a `WAIT` reply means for a write that wanted `wanted` acknowledgements. No reply: the
/// call sent nothing (it failed before writing), so there is nothing to confirm.
pub(super) fn check_acked(reply: Option<Reply>, wanted: u32) -> Result<(), StoreError> {
    match reply {
        None => Ok(()),
        Some(Reply::Int(n)) if n >= i64::from(wanted) => Ok(()),
        Some(Reply::Int(n)) => Err(StoreError::NotReplicated { acked: n, wanted }),
        Some(Reply::Error(e)) => Err(StoreError::Server(*e)),
        Some(other) => Err(other.unexpected()),
    }
}

impl RedisStore {
    /// `run(true, f)` for a write: with `wait=N`, confirmed by N replicas or failed.
    pub(super) fn run_write<T>(&mut self, f: impl Fn(&mut Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let Some(w) = self.wait else {
            return self.run(true, f);
        };
        let r = self.run(true, |c| {
            c.wait = Some(w);
            c.acked = None;
            let r = f(c);
            c.wait = None;
            let acked = c.acked.take();
            let v = r?;
            check_acked(acked, w.0)?;
            Ok(v)
        });
        if matches!(r, Err(StoreError::NotReplicated { .. })) {
            // The master may be cut off from its replicas, or demoted: look again soon.
            self.check_soon();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::error::{ServerError, ServerErrorKind};

    #[test]
    fn acknowledgements_decide() {
        assert!(check_acked(None, 1).is_ok());
        assert!(check_acked(Some(Reply::Int(1)), 1).is_ok());
        assert!(check_acked(Some(Reply::Int(3)), 2).is_ok());
        assert!(matches!(check_acked(Some(Reply::Int(0)), 1), Err(StoreError::NotReplicated { acked: 0, wanted: 1 })));
        assert!(matches!(check_acked(Some(Reply::Int(1)), 2), Err(StoreError::NotReplicated { acked: 1, wanted: 2 })));
        let e = ServerError::new(ServerErrorKind::Other, "ERR WAIT cannot be used with replica instances");
        assert!(matches!(check_acked(Some(Reply::Error(Box::new(e))), 1), Err(StoreError::Server(_))));
        assert!(check_acked(Some(Reply::Status(b"OK".to_vec())), 1).is_err());
        let m = StoreError::NotReplicated { acked: 0, wanted: 1 }.to_string();
        assert!(m.contains("1 replica") && m.contains("0 did"), "{m}");
    }
}
