//! The native save handler: `session.save_handler = cannon`, `session.save_path = <DSN>`.
//!
//! ext/session keeps a table of `ps_module` structs (php_session.h, unchanged since PHP 7.0 but
//! for `int` becoming `zend_result`, the same ABI). We register ours at module start-up through
//! `php_session_register_module`, looked up at run time so that the extension still loads (with
//! a warning) where ext/session is missing.
use super::{ffi, ini};
use crate::config::{parse_dsn, Config};
use crate::handler::{Handler, HandlerError};
use crate::store::StoreError;
use ext_php_rs::types::ZendStr;
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

const SUCCESS: c_int = 0;
const FAILURE: c_int = -1;

/// Key prefix when the save path names none: the same as phpredis' handler uses by default.
pub const NATIVE_PREFIX: &str = "PHPSESSID:";

type ModData = *mut *mut c_void;

#[repr(C)]
pub struct PsModule {
    s_name: *const c_char,
    s_open: unsafe extern "C" fn(ModData, *const c_char, *const c_char) -> c_int,
    s_close: unsafe extern "C" fn(ModData) -> c_int,
    s_read: unsafe extern "C" fn(ModData, *mut ZendStr, *mut *mut ZendStr, i64) -> c_int,
    s_write: unsafe extern "C" fn(ModData, *mut ZendStr, *mut ZendStr, i64) -> c_int,
    s_destroy: unsafe extern "C" fn(ModData, *mut ZendStr) -> c_int,
    s_gc: unsafe extern "C" fn(ModData, i64, *mut i64) -> i64,
    s_create_sid: unsafe extern "C" fn(ModData) -> *mut ZendStr,
    s_validate_sid: unsafe extern "C" fn(ModData, *mut ZendStr) -> c_int,
    s_update_timestamp: unsafe extern "C" fn(ModData, *mut ZendStr, *mut ZendStr, i64) -> c_int,
}

struct Module(PsModule);
// SAFETY: immutable after construction; the name points at a static C string.
unsafe impl Sync for Module {}

static MODULE: Module = Module(PsModule {
    s_name: c"cannon".as_ptr(),
    s_open: ps_open,
    s_close: ps_close,
    s_read: ps_read,
    s_write: ps_write,
    s_destroy: ps_destroy,
    s_gc: ps_gc,
    s_create_sid: ps_create_sid,
    s_validate_sid: ps_validate_sid,
    s_update_timestamp: ps_update_timestamp,
});

/// Registers the `cannon` save handler with ext/session. Called from module start-up.
pub fn register() -> bool {
    // SAFETY: dlsym on the process's global symbol table; the signature is ext/session's.
    unsafe {
        let sym = libc::dlsym(libc::RTLD_DEFAULT, c"php_session_register_module".as_ptr());
        if sym.is_null() {
            return false;
        }
        let f: unsafe extern "C" fn(*const PsModule) -> c_int = std::mem::transmute(sym);
        f(&MODULE.0) == SUCCESS
    }
}

/// A connection failure or timeout, copied: what `OUTAGE` keeps.
pub(super) fn outage_of(e: &HandlerError) -> Option<StoreError> {
    match e {
        HandlerError::Store(StoreError::Connection(m)) => Some(StoreError::Connection(m.clone())),
        HandlerError::Store(StoreError::Timeout(m)) => Some(StoreError::Timeout(m.clone())),
        _ => None,
    }
}

thread_local! {
    /// The store could not be reached by create_sid in this request: the read PHP makes next
    /// reports that at once, instead of waiting for a second timeout. Cleared by open and close.
    static OUTAGE: RefCell<Option<StoreError>> = const { RefCell::new(None) };
}

/// A parsed save path and its registry key, shared by every request that uses it.
type Parsed = (Rc<Config>, Rc<str>);

thread_local! {
    /// Parsed save paths, so a request does not parse (or read a password file) again.
    static CONFIGS: RefCell<HashMap<String, Parsed>> = RefCell::new(HashMap::new());
}

/// The configuration and registry key for a save path, parsed once per process.
fn config_for(save_path: &str) -> Result<Parsed, String> {
    if let Some(c) = CONFIGS.with(|m| m.try_borrow().ok().and_then(|m| m.get(save_path).cloned())) {
        return Ok(c);
    }
    let path = if save_path.trim().is_empty() { ini::default_dsn() } else { save_path.to_string() };
    let cfg = parse_dsn(&path).map_err(|e| e.to_string())?;
    let key: Rc<str> = Rc::from(Handler::store_key(&cfg, NATIVE_PREFIX));
    let cfg = Rc::new(cfg);
    CONFIGS.with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            if m.len() > 64 {
                m.clear();
            }
            m.insert(save_path.to_string(), (cfg.clone(), key.clone()));
        }
    });
    Ok((cfg, key))
}

/// Runs a callback body: a panic becomes a warning and `fallback`, never an abort.
fn guarded<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            ffi::warning(&format!("internal error in {what}"));
            fallback
        }
    }
}

/// The request's handler, stored in `mod_data` between open and close.
unsafe fn handler<'a>(mod_data: ModData) -> Option<&'a mut Handler> {
    if mod_data.is_null() {
        return None;
    }
    (*mod_data).cast::<Handler>().as_mut()
}

unsafe fn bytes<'a>(s: *mut ZendStr) -> &'a [u8] {
    match s.as_ref() {
        Some(z) => z.as_bytes(),
        None => &[],
    }
}

/// Session ids reach us as bytes; ours are ASCII. Anything else is invalid.
unsafe fn id_str<'a>(s: *mut ZendStr) -> &'a str {
    std::str::from_utf8(bytes(s)).unwrap_or("\u{0}")
}

fn flush_notices(h: &mut Handler) {
    for n in h.notices.drain(..) {
        ffi::notice(&n);
    }
}

fn report<T>(h: &mut Handler, what: &str, r: Result<T, crate::handler::HandlerError>) -> Option<T> {
    flush_notices(h);
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            ffi::warning(&format!("{what} failed ({}): {e}", h.config().redacted()));
            None
        }
    }
}

unsafe extern "C" fn ps_open(mod_data: ModData, save_path: *const c_char, _name: *const c_char) -> c_int {
    guarded("open", FAILURE, || {
        // Borrowed, not copied, in the common case of a UTF-8 path.
        let path = if save_path.is_null() { Cow::Borrowed("") } else { CStr::from_ptr(save_path).to_string_lossy() };
        OUTAGE.with(|o| o.replace(None));
        match config_for(&path) {
            Ok((cfg, key)) => {
                if !(*mod_data).is_null() {
                    drop(Box::from_raw((*mod_data).cast::<Handler>()));
                }
                let mut h = Box::new(Handler::with_key(cfg, key, NATIVE_PREFIX, ini::locking()));
                h.read_only_request = super::request::read_and_close();
                h.refresh_ttl = Some(ini::gc_maxlifetime());
                *mod_data = Box::into_raw(h).cast();
                SUCCESS
            }
            Err(e) => {
                ffi::warning(&format!("invalid session.save_path: {e}"));
                FAILURE
            }
        }
    })
}

unsafe extern "C" fn ps_close(mod_data: ModData) -> c_int {
    guarded("close", FAILURE, || {
        OUTAGE.with(|o| o.replace(None));
        if mod_data.is_null() || (*mod_data).is_null() {
            return SUCCESS;
        }
        let mut h = Box::from_raw((*mod_data).cast::<Handler>());
        *mod_data = std::ptr::null_mut();
        let r = h.close();
        if report(&mut h, "releasing the session lock", r).is_some() { SUCCESS } else { FAILURE }
    })
}

unsafe extern "C" fn ps_read(mod_data: ModData, key: *mut ZendStr, val: *mut *mut ZendStr, _maxlifetime: i64) -> c_int {
    guarded("read", FAILURE, || {
        let Some(h) = handler(mod_data) else { return FAILURE };
        let r = match OUTAGE.with(|o| o.take()) {
            Some(e) => Err(HandlerError::Store(e)),
            None => h.read(id_str(key)),
        };
        match report(h, "reading the session", r) {
            Some(data) => {
                *val = ZendStr::new(data, false).into_raw();
                SUCCESS
            }
            None => FAILURE,
        }
    })
}

unsafe extern "C" fn ps_write(mod_data: ModData, key: *mut ZendStr, val: *mut ZendStr, maxlifetime: i64) -> c_int {
    guarded("write", FAILURE, || {
        let Some(h) = handler(mod_data) else { return FAILURE };
        let r = h.write(id_str(key), bytes(val), maxlifetime.max(1) as u64);
        if report(h, "writing the session", r).is_some() { SUCCESS } else { FAILURE }
    })
}

unsafe extern "C" fn ps_update_timestamp(mod_data: ModData, key: *mut ZendStr, _val: *mut ZendStr, maxlifetime: i64) -> c_int {
    guarded("update_timestamp", FAILURE, || {
        let Some(h) = handler(mod_data) else { return FAILURE };
        let r = h.update_timestamp(id_str(key), maxlifetime.max(1) as u64);
        if report(h, "refreshing the session", r).is_some() { SUCCESS } else { FAILURE }
    })
}

unsafe extern "C" fn ps_destroy(mod_data: ModData, key: *mut ZendStr) -> c_int {
    guarded("destroy", FAILURE, || {
        let Some(h) = handler(mod_data) else { return FAILURE };
        let r = h.destroy(id_str(key));
        if report(h, "destroying the session", r).is_some() { SUCCESS } else { FAILURE }
    })
}

unsafe extern "C" fn ps_gc(mod_data: ModData, maxlifetime: i64, nrdels: *mut i64) -> i64 {
    guarded("gc", -1, || {
        let Some(h) = handler(mod_data) else { return -1 };
        let r = h.gc(maxlifetime.max(0) as u64);
        match report(h, "session gc", r) {
            Some(n) => {
                let n = n.min(i64::MAX as u64) as i64;
                if !nrdels.is_null() {
                    *nrdels = n;
                }
                n
            }
            None => -1,
        }
    })
}

unsafe extern "C" fn ps_create_sid(mod_data: ModData) -> *mut ZendStr {
    guarded("create_sid", std::ptr::null_mut(), || {
        let len = ini::sid_length();
        let id = match handler(mod_data) {
            Some(h) => match h.create_id(len) {
                Ok(id) => Some(id),
                // The store is unreachable: hand out an unchecked id; the read that follows
                // reports the outage (at once, see OUTAGE).
                Err(e) => {
                    OUTAGE.with(|o| o.replace(outage_of(&e)));
                    crate::id::generate(len).ok()
                }
            },
            None => crate::id::generate(len).ok(),
        };
        match id {
            Some(id) => ZendStr::new(id, false).into_raw(),
            None => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn ps_validate_sid(mod_data: ModData, key: *mut ZendStr) -> c_int {
    guarded("validate_sid", FAILURE, || {
        let Some(h) = handler(mod_data) else { return FAILURE };
        let r = h.validate_id(id_str(key));
        match report(h, "validating the session id", r) {
            Some(true) => SUCCESS,
            _ => FAILURE,
        }
    })
}
