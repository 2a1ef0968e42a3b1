//! `cannon_session.*` INI entries: defaults that are not per-DSN.
use super::ffi;
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::zend::{IniEntryDef, IniEntryDefs};

pub const DEFAULT_DSN: &str = "redis://127.0.0.1:6379/0";

static ENTRIES: IniEntryDefs<5> = IniEntryDefs::new([
    // Locking on unless a DSN says lock=0.
    IniEntryDef::new(c"cannon_session.locking", c"1", IniEntryPermission::All),
    // Backend for `new Session()` and handlers constructed without a DSN.
    IniEntryDef::new(c"cannon_session.default_dsn", c"redis://127.0.0.1:6379/0", IniEntryPermission::All),
    // How the Session/Adapter API encodes arrays: php (serialize) or json.
    IniEntryDef::new(c"cannon_session.serializer", c"php", IniEntryPermission::All),
    // Classes unserialize() may instantiate for the Session/Adapter API: 1 = any, 0 = none,
    // or a comma-separated list of class names.
    IniEntryDef::new(c"cannon_session.allowed_classes", c"1", IniEntryPermission::All),
    IniEntryDef::end(),
]);

pub fn register(module_number: i32) {
    IniEntryDef::register(ENTRIES.as_slice(), module_number);
}

pub fn locking() -> bool {
    ffi::ini_long("cannon_session.locking") != 0
}

pub fn default_dsn() -> String {
    ffi::ini_string("cannon_session.default_dsn").filter(|s| !s.trim().is_empty()).unwrap_or_else(|| DEFAULT_DSN.into())
}

pub fn serializer() -> String {
    ffi::ini_string("cannon_session.serializer").unwrap_or_else(|| "php".into())
}

pub fn allowed_classes() -> String {
    ffi::ini_string("cannon_session.allowed_classes").unwrap_or_else(|| "1".into())
}

/// PHP's session settings we follow.
pub fn gc_maxlifetime() -> u64 {
    ffi::ini_long("session.gc_maxlifetime").max(1) as u64
}

pub fn sid_length() -> usize {
    let n = ffi::ini_long("session.sid_length");
    if n <= 0 { 32 } else { n as usize }
}
