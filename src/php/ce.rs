//! Finding PHP's own class entries (interfaces, RuntimeException) by name.
//!
//! During module start-up the executor's class table does not exist yet, so look in the compiler
//! globals' table, which is the same table once requests run.
use ext_php_rs::types::ZendHashTable;
use ext_php_rs::zend::{ce, ClassEntry};

pub fn find(lower_name: &str) -> Option<&'static ClassEntry> {
    // SAFETY: the compiler globals are static in an NTS build; the class table lives for the
    // process once the engine has started.
    let table: &ZendHashTable = unsafe { ext_php_rs::ffi::ext_php_rs_compiler_globals().as_ref()?.class_table.as_ref()? };
    let zv = table.get(lower_name)?;
    // SAFETY: class table entries are IS_PTR zvals pointing at class entries that live as long
    // as the process (internal classes) or the request (user classes, which we never look up).
    let ptr = unsafe { zv.ptr::<ClassEntry>()? };
    // SAFETY: as above: a live class entry, or null.
    unsafe { ptr.as_ref() }
}

fn find_or_stdclass(lower_name: &str) -> &'static ClassEntry {
    // ext/session is compiled into Debian's PHP and always starts before us; where it is a shared
    // extension it must be loaded first (README says so).
    find(lower_name).unwrap_or_else(ce::stdclass)
}

pub fn session_handler_interface() -> &'static ClassEntry {
    find_or_stdclass("sessionhandlerinterface")
}

pub fn session_id_interface() -> &'static ClassEntry {
    find_or_stdclass("sessionidinterface")
}

pub fn session_update_timestamp_interface() -> &'static ClassEntry {
    find_or_stdclass("sessionupdatetimestamphandlerinterface")
}
