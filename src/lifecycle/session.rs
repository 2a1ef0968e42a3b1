//! The Session API's life (`Cannon\Session\Session`): which id to use, the fixation guard,
//! close's lazy write, regenerate, destroy, gc. `src/php` encodes and decodes the data array
//! and carries out the cookie decisions; everything else is decided here.
use super::save;
use crate::handler::{clamp_count, Handler, HandlerError};
use crate::id;
use crate::store::StoreProvider;

/// One Session object's state between start() and close().
#[derive(Debug, Default)]
pub struct SessionState {
    pub id: Option<String>,
    pub started: bool,
    /// The encoded data as read at start, to tell whether the data changed. None: nothing is
    /// stored under the id yet (a new session, a regenerated one): close() must write.
    original: Option<Vec<u8>>,
    /// Started read-only: no lock taken, close() writes nothing.
    read_only: bool,
    /// close() was set to run at the end of the request (once per object).
    auto_close: bool,
}

/// What start() did.
#[derive(Debug, PartialEq, Eq)]
pub enum Started<T> {
    /// Already started: nothing read again.
    Already(String),
    /// Started: the id, the decoded data, whether to send the cookie (the browser does not
    /// have this id yet), and whether to have close() run at the end of the request (the first
    /// start of this object: an app that never calls close() still saves, once).
    Began { id: String, data: T, send_cookie: bool, auto_close: bool },
}

/// A failure of start() or close(): the store's, or the data's own (decoding, encoding), which
/// keeps the error the caller's codec gave.
#[derive(Debug)]
pub enum SessionError<E> {
    Handler(HandlerError),
    Data(E),
}

impl<E> From<HandlerError> for SessionError<E> {
    fn from(e: HandlerError) -> Self {
        SessionError::Handler(e)
    }
}

impl SessionState {
    pub fn new() -> SessionState {
        SessionState::default()
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Starts (or resumes) the session. The id is the one the caller passed (`argument`), or
    /// else the cookie's (`cookie` is asked only then). A missing, malformed or unknown id
    /// starts a new session under a fresh id: an id we never issued is never adopted (session
    /// fixation). `decode` turns the stored bytes into the caller's data; when they do not
    /// decode the lock is released and its error returned.
    pub fn start<P: StoreProvider, T, E>(
        &mut self,
        h: &mut Handler<P>,
        argument: Option<&[u8]>,
        cookie: impl FnOnce() -> Option<Vec<u8>>,
        read_only: bool,
        id_len: usize,
        decode: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<Started<T>, SessionError<E>> {
        if self.started {
            return Ok(Started::Already(self.id.clone().unwrap_or_default()));
        }
        let from_cookie;
        let wanted = match argument {
            Some(a) => Some(a),
            None => {
                from_cookie = cookie();
                from_cookie.as_deref()
            }
        };
        self.read_only = read_only;
        h.read_only_request = read_only;
        let mut resumed = None;
        if let Some(w) = wanted.filter(|w| id::is_well_formed(w)).and_then(|w| std::str::from_utf8(w).ok()) {
            match h.fetch(w)? {
                Some(bytes) => resumed = Some((w.to_string(), bytes)),
                // Unknown id: never adopt it; drop the lock taken to read it.
                None => {
                    let _ = h.close();
                }
            }
        }
        let (id, bytes) = match resumed {
            Some(r) => r,
            None => (h.create_id(id_len)?, Vec::new()),
        };
        let data = match decode(&bytes) {
            Ok(d) => d,
            Err(e) => {
                let _ = h.close();
                return Err(SessionError::Data(e));
            }
        };
        let send_cookie = wanted != Some(id.as_bytes());
        self.original = Some(bytes);
        self.id = Some(id.clone());
        self.started = true;
        let auto_close = !std::mem::replace(&mut self.auto_close, true);
        Ok(Started::Began { id, data, send_cookie, auto_close })
    }

    /// Saves the data if it changed since start (otherwise only refreshes the expiry) and
    /// releases the lock. A second call does nothing. `encode` gives the data's bytes now.
    pub fn close<P: StoreProvider, E>(
        &mut self,
        h: &mut Handler<P>,
        ttl: u64,
        encode: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<(), SessionError<E>> {
        if !self.started {
            return Ok(());
        }
        self.started = false;
        let original = self.original.take();
        if self.read_only {
            return Ok(());
        }
        let Some(id) = self.id.as_deref() else { return Ok(()) };
        let bytes = encode().map_err(SessionError::Data)?;
        let changed = save::changed(original.as_deref(), &bytes);
        let r = h.finish(id, changed.then_some(&bytes[..]), ttl);
        // Releases a lock the write could not, and closes the connection with persistent=0.
        let closed = h.close();
        r.and(closed).map_err(SessionError::Handler)
    }

    /// Deletes the session from the store. Returns whether there was one to delete: the caller
    /// then empties its data and expires the cookie.
    pub fn destroy<P: StoreProvider>(&mut self, h: &mut Handler<P>) -> Result<bool, HandlerError> {
        let Some(id) = self.id.take() else { return Ok(false) };
        self.started = false;
        self.original = None;
        h.destroy(&id)?;
        Ok(true)
    }

    /// Moves the session to a fresh id and returns it (the caller sends its cookie). With
    /// `delete_old` the old session is deleted, otherwise it keeps its data as of start. A
    /// started session holds the new id's lock, as it held the old one's.
    pub fn regenerate<P: StoreProvider>(&mut self, h: &mut Handler<P>, delete_old: bool, id_len: usize) -> Result<String, HandlerError> {
        let new_id = h.create_id(id_len)?;
        if let Some(old) = self.id.as_deref() {
            if delete_old {
                h.destroy(old)?;
            } else {
                h.close()?;
            }
        }
        if self.started {
            h.fetch(&new_id)?;
        }
        self.id = Some(new_id.clone());
        // Nothing is stored under the new id yet: close() must write.
        self.original = None;
        Ok(new_id)
    }

    /// Deletes expired sessions (`max_lifetime` defaults to the session's lifetime).
    pub fn gc<P: StoreProvider>(h: &mut Handler<P>, max_lifetime: Option<i64>, ttl: u64) -> Result<i64, HandlerError> {
        h.gc(max_lifetime.unwrap_or(clamp_count(ttl)))
    }
}
