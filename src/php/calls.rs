//! Small helpers every binding uses: calling a PHP function by name, and reading a session id.
use super::exceptions::{exception, Kind};
use ext_php_rs::exception::PhpResult;
use ext_php_rs::types::{ZendCallable, Zval};

/// Calls the PHP function `name` (serialize, setcookie, register_shutdown_function, ...); a
/// failure becomes a SessionException naming it.
pub fn call(name: &str, args: Vec<&dyn ext_php_rs::convert::IntoZvalDyn>) -> PhpResult<Zval> {
    let f = ZendCallable::try_from_name(name).map_err(|e| exception(Kind::Session, format!("{name}() unavailable: {e}")))?;
    f.try_call(args).map_err(|e| exception(Kind::Session, format!("{name}() failed: {e}")))
}

/// A session id as PHP passed it. Ours are ASCII: anything that is not UTF-8 becomes an id that
/// fails validation (`crate::id::is_valid`), so it is never used as a key.
pub fn id_of(id: &[u8]) -> &str {
    std::str::from_utf8(id).unwrap_or("\u{0}")
}
