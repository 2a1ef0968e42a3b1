//! The few Zend symbols ext-php-rs does not bind. All are exported by every PHP 8.x binary.
use std::ffi::{c_char, c_int, CString};

extern "C" {
    fn zend_ini_long(name: *const c_char, name_length: usize, orig: c_int) -> i64;
    fn zend_ini_string_ex(name: *const c_char, name_length: usize, orig: c_int, exists: *mut bool) -> *mut c_char;
}

/// The current value of an integer INI setting (0 when unknown).
pub fn ini_long(name: &str) -> i64 {
    // SAFETY: the name is passed with its length; the engine does not keep the pointer.
    unsafe { zend_ini_long(name.as_ptr().cast(), name.len(), 0) }
}

/// The current value of a string INI setting.
pub fn ini_string(name: &str) -> Option<String> {
    let mut exists = false;
    // SAFETY: as above; the returned pointer is the engine's NUL-terminated value, copied at once.
    let p = unsafe { zend_ini_string_ex(name.as_ptr().cast(), name.len(), 0, &mut exists) };
    if !exists || p.is_null() {
        return None;
    }
    // SAFETY: checked non-null above; the engine's value is NUL-terminated and outlives this call.
    Some(unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

pub const E_WARNING: c_int = 2;
pub const E_NOTICE: c_int = 8;

/// Raises a PHP warning or notice with our prefix. Never panics; NUL bytes are replaced.
pub fn php_error(level: c_int, msg: &str) {
    let text = format!("cannon_session: {msg}").replace('\0', "\\0");
    let Ok(c) = CString::new(text) else { return };
    // SAFETY: "%s" with one NUL-terminated argument.
    unsafe {
        ext_php_rs::ffi::php_error_docref(std::ptr::null(), level, c"%s".as_ptr(), c.as_ptr());
    }
}

/// At start-up no request exists for php_error_docref: write to stderr like PHP's own
/// start-up errors.
pub fn core_warning(msg: &str) {
    eprintln!("PHP Warning:  cannon_session: {msg}");
}

pub fn warning(msg: &str) {
    php_error(E_WARNING, msg)
}

pub fn notice(msg: &str) {
    php_error(E_NOTICE, msg)
}

/// Raises, as notices, what a handler gathered (read-only fallbacks, skipped writes).
pub fn raise_notices<P: crate::store::StoreProvider>(h: &mut crate::handler::Handler<P>) {
    for n in h.take_notices() {
        notice(&n);
    }
}
