//! `#[\SensitiveParameter]` (PHP 8.2+) on every parameter that can carry a password, so that
//! exception traces and debug_backtrace() show `Object(SensitiveParameterValue)` instead of the
//! DSN or options array, even with `zend.exception_ignore_args = Off`.
//!
//! ext-php-rs registers our classes after our own start-up function runs, so the attributes
//! are added from `zend_post_startup_cb`, which the engine calls once every module is started.
use ext_php_rs::ffi::{zend_function, zend_hash_str_find, zend_string, HashTable};
use ext_php_rs::types::ZendStr;
use std::ffi::c_void;
use std::sync::OnceLock;

/// zend_attributes.h: the attribute lives as long as the (internal, persistent) function.
const ZEND_ATTRIBUTE_PERSISTENT: u32 = 1;

/// (lower-case class name, lower-case method name, 0-based parameter)
const SENSITIVE: &[(&str, &str, u32)] = &[
    ("cannon\\session\\redishandler", "__construct", 0),
    ("cannon\\session\\databasehandler", "__construct", 0),
    ("cannon\\session\\databasehandler", "createtable", 0),
    ("cannon\\session\\session", "__construct", 0),
    ("cannon\\session\\adapter", "__construct", 0),
];

type PostStartup = unsafe extern "C" fn() -> i32;
type AddAttribute = unsafe extern "C" fn(*mut *mut HashTable, *mut zend_string, u32, u32, u32, u32) -> *mut c_void;

static PREVIOUS: OnceLock<Option<PostStartup>> = OnceLock::new();

/// Chains our hook into `zend_post_startup_cb`. Called from module start-up. Symbols are
/// looked up at run time (see the notes on `cargo php stubs`).
pub fn install() {
    // SAFETY: MINIT runs single-threaded; the symbol is the engine's `zend_post_startup_cb`.
    unsafe {
        let slot = libc::dlsym(libc::RTLD_DEFAULT, c"zend_post_startup_cb".as_ptr()).cast::<Option<PostStartup>>();
        if slot.is_null() {
            return;
        }
        let _ = PREVIOUS.set(*slot);
        *slot = Some(post_startup);
    }
}

unsafe extern "C" fn post_startup() -> i32 {
    // SAFETY: called once by the engine after every module started, single-threaded, before
    // any request: the class tables `mark` edits are complete and not yet in use.
    let _ = std::panic::catch_unwind(|| unsafe { mark() });
    match PREVIOUS.get().copied().flatten() {
        // SAFETY: the hook that was installed before ours, called as the engine would have.
        Some(previous) => unsafe { previous() },
        None => 0,
    }
}

/// Adds `#[\SensitiveParameter]` to the parameters in `SENSITIVE`.
///
/// # Safety
/// Only from `zend_post_startup_cb` (see `post_startup`).
unsafe fn mark() {
    // SAFETY: dlsym on the global symbol table with a NUL-terminated name.
    let add = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"zend_add_attribute".as_ptr()) };
    if add.is_null() {
        return; // PHP < 8.0: no attributes at all
    }
    // SAFETY: the symbol is zend_add_attribute, whose C signature AddAttribute spells out.
    let add: AddAttribute = unsafe { std::mem::transmute(add) };
    let name = ZendStr::new("SensitiveParameter", true);
    let name_ptr = name.as_ptr() as *mut zend_string;
    for (class, method, param) in SENSITIVE {
        let Some(ce) = super::ce::find(class) else { continue };
        let table = std::ptr::addr_of!(ce.function_table).cast_mut();
        // SAFETY: the class's function table, looked up with the name and its length.
        let zv = unsafe { zend_hash_str_find(table, method.as_ptr().cast(), method.len()) };
        // SAFETY: null or a live entry of that table.
        let Some(zv) = (unsafe { zv.as_ref() }) else { continue };
        // SAFETY: function table entries are IS_PTR zvals pointing at zend_functions.
        let func = unsafe { zv.value.ptr }.cast::<zend_function>();
        if func.is_null() {
            continue;
        }
        // SAFETY: an internal (persistent) function of our class; the attribute is persistent
        // too, and the engine copies the name string.
        unsafe {
            add(std::ptr::addr_of_mut!((*func).common.attributes), name_ptr, 0, ZEND_ATTRIBUTE_PERSISTENT, param + 1, 0);
        }
    }
    drop(name);
}
