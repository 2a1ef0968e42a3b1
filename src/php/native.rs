//! The native save handler: `session.save_handler = cannon`, `session.save_path = <DSN>`.
//!
//! ext/session keeps a table of `ps_module` structs (php_session.h, unchanged since PHP 7.0 but
//! for `int` becoming `zend_result`, the same ABI). We register ours at module start-up through
//! `php_session_register_module`, looked up at run time so that the extension still loads (with
//! a warning) where ext/session is missing.
use super::{ffi, ini};
use crate::config::{parse_dsn, Config};
use crate::handler::{Handler, HandlerError};
use crate::registry::{self, Registered};
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
// SAFETY: immutable after construction; the name points at a static C string and the rest are
// function pointers, so sharing it between threads cannot race.
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
    // SAFETY: dlsym on the process's global symbol table with a NUL-terminated name.
    let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"php_session_register_module".as_ptr()) };
    if sym.is_null() {
        return false;
    }
    // SAFETY: the symbol is ext/session's `int php_session_register_module(const ps_module *)`,
    // and MODULE is a `#[repr(C)]` ps_module that lives as long as the process.
    unsafe {
        let f: unsafe extern "C" fn(*const PsModule) -> c_int = std::mem::transmute(sym);
        f(&MODULE.0) == SUCCESS
    }
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
    let key: Rc<str> = Rc::from(registry::store_key(&cfg, NATIVE_PREFIX));
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
///
/// # Safety
/// `mod_data` is null or ext/session's `PS(mod_data)` slot, which holds null or a pointer
/// from `Box::into_raw` in `ps_open`; no other reference to the handler is alive.
unsafe fn handler<'a>(mod_data: ModData) -> Option<&'a mut Handler> {
    if mod_data.is_null() {
        return None;
    }
    // SAFETY: as the function's contract says.
    unsafe { (*mod_data).cast::<Handler>().as_mut() }
}

/// # Safety
/// `s` is null or a zend_string ext/session lends for the callback's duration.
unsafe fn bytes<'a>(s: *mut ZendStr) -> &'a [u8] {
    // SAFETY: as the function's contract says.
    match unsafe { s.as_ref() } {
        Some(z) => z.as_bytes(),
        None => &[],
    }
}

/// Session ids reach us as bytes; ours are ASCII. Anything else is invalid.
///
/// # Safety
/// As `bytes`.
unsafe fn id_str<'a>(s: *mut ZendStr) -> &'a str {
    // SAFETY: as the function's contract says.
    super::calls::id_of(unsafe { bytes(s) })
}

fn report<T>(h: &mut Handler, what: &str, r: Result<T, HandlerError>) -> Option<T> {
    ffi::raise_notices(h);
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            ffi::warning(&format!("{what} failed ({}): {e}", h.config().redacted()));
            None
        }
    }
}

fn status(ok: Option<()>) -> c_int {
    if ok.is_some() { SUCCESS } else { FAILURE }
}

// Every callback below is called by ext/session with `mod_data` = &PS(mod_data) and borrowed
// zend_strings (see `handler` and `bytes`); their bodies run under `guarded`.

unsafe extern "C" fn ps_open(mod_data: ModData, save_path: *const c_char, _name: *const c_char) -> c_int {
    guarded("open", FAILURE, || {
        // Borrowed, not copied, in the common case of a UTF-8 path.
        // SAFETY: ext/session passes save_path as a NUL-terminated string (or null).
        let path = if save_path.is_null() { Cow::Borrowed("") } else { unsafe { CStr::from_ptr(save_path) }.to_string_lossy() };
        match config_for(&path) {
            Ok((cfg, key)) => {
                // SAFETY: the slot holds null or our handler from a previous open (see `handler`).
                if let Some(old) = unsafe { handler(mod_data) } {
                    // SAFETY: the pointer came from Box::into_raw and is dropped once, here.
                    drop(unsafe { Box::from_raw(old as *mut Handler) });
                }
                let mut h = Box::new(Handler::new(Registered::with_key(cfg.clone(), key, NATIVE_PREFIX), &cfg, ini::locking()));
                h.begin_request(super::request::read_and_close(), ini::gc_maxlifetime());
                // SAFETY: mod_data is ext/session's slot, valid for writing.
                unsafe { *mod_data = Box::into_raw(h).cast() };
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
        // SAFETY: see `handler`; the handler is taken out of the slot and dropped here.
        let Some(h) = (unsafe { handler(mod_data) }) else { return SUCCESS };
        // SAFETY: the pointer came from Box::into_raw in ps_open; the slot is cleared at once.
        let mut h = unsafe {
            let b = Box::from_raw(h as *mut Handler);
            *mod_data = std::ptr::null_mut();
            b
        };
        let r = h.close();
        status(report(&mut h, "releasing the session lock", r))
    })
}

unsafe extern "C" fn ps_read(mod_data: ModData, key: *mut ZendStr, val: *mut *mut ZendStr, _maxlifetime: i64) -> c_int {
    guarded("read", FAILURE, || {
        // SAFETY: see the note above the callbacks.
        let Some(h) = (unsafe { handler(mod_data) }) else { return FAILURE };
        // SAFETY: as above.
        let r = h.read(unsafe { id_str(key) });
        match report(h, "reading the session", r) {
            Some(data) => {
                // SAFETY: `val` is ext/session's out-parameter; it takes ownership of a fresh,
                // request-allocated string.
                unsafe { *val = ZendStr::new(data, false).into_raw() };
                SUCCESS
            }
            None => FAILURE,
        }
    })
}

unsafe extern "C" fn ps_write(mod_data: ModData, key: *mut ZendStr, val: *mut ZendStr, maxlifetime: i64) -> c_int {
    guarded("write", FAILURE, || {
        // SAFETY: see the note above the callbacks.
        let Some(h) = (unsafe { handler(mod_data) }) else { return FAILURE };
        // SAFETY: as above.
        let r = h.write(unsafe { id_str(key) }, unsafe { bytes(val) }, maxlifetime.max(1) as u64);
        status(report(h, "writing the session", r))
    })
}

unsafe extern "C" fn ps_update_timestamp(mod_data: ModData, key: *mut ZendStr, _val: *mut ZendStr, maxlifetime: i64) -> c_int {
    guarded("update_timestamp", FAILURE, || {
        // SAFETY: see the note above the callbacks.
        let Some(h) = (unsafe { handler(mod_data) }) else { return FAILURE };
        // SAFETY: as above.
        let r = h.update_timestamp(unsafe { id_str(key) }, maxlifetime.max(1) as u64);
        status(report(h, "refreshing the session", r))
    })
}

unsafe extern "C" fn ps_destroy(mod_data: ModData, key: *mut ZendStr) -> c_int {
    guarded("destroy", FAILURE, || {
        // SAFETY: see the note above the callbacks.
        let Some(h) = (unsafe { handler(mod_data) }) else { return FAILURE };
        // SAFETY: as above.
        let r = h.destroy(unsafe { id_str(key) });
        status(report(h, "destroying the session", r))
    })
}

unsafe extern "C" fn ps_gc(mod_data: ModData, maxlifetime: i64, nrdels: *mut i64) -> i64 {
    guarded("gc", -1, || {
        // SAFETY: see the note above the callbacks.
        let Some(h) = (unsafe { handler(mod_data) }) else { return -1 };
        let r = h.gc(maxlifetime);
        match report(h, "session gc", r) {
            Some(n) => {
                if !nrdels.is_null() {
                    // SAFETY: ext/session's out-parameter, checked for null.
                    unsafe { *nrdels = n };
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
        // SAFETY: see the note above the callbacks.
        let id = match unsafe { handler(mod_data) } {
            Some(h) => {
                let r = h.create_sid(len);
                report(h, "creating a session id", r)
            }
            None => crate::id::generate(len).ok(),
        };
        match id {
            // ext/session takes ownership of the returned string.
            Some(id) => ZendStr::new(id, false).into_raw(),
            None => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn ps_validate_sid(mod_data: ModData, key: *mut ZendStr) -> c_int {
    guarded("validate_sid", FAILURE, || {
        // SAFETY: see the note above the callbacks.
        let Some(h) = (unsafe { handler(mod_data) }) else { return FAILURE };
        // SAFETY: as above.
        let r = h.validate_id(unsafe { id_str(key) });
        match report(h, "validating the session id", r) {
            Some(true) => SUCCESS,
            _ => FAILURE,
        }
    })
}
