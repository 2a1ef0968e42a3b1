//! The session cookie of the `Session` API, sent with PHP's own setcookie().
use super::calls::call;
use super::exceptions::{exception, Kind};
use ext_php_rs::exception::PhpResult;
use ext_php_rs::types::{ZendHashTable, Zval};
use ext_php_rs::zend::ProcessGlobals;

#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub enabled: bool,
    pub path: String,
    pub domain: String,
    pub http_only: bool,
    pub same_site: String,
    /// None: secure exactly when the request came over HTTPS.
    pub secure: Option<bool>,
    /// 0: until the browser closes.
    pub lifetime: i64,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            enabled: true,
            path: "/".into(),
            domain: String::new(),
            http_only: true,
            same_site: "Lax".into(),
            secure: None,
            lifetime: 0,
        }
    }
}

fn is_cli() -> bool {
    call("php_sapi_name", vec![]).ok().and_then(|z| z.string()).is_some_and(|s| s == "cli" || s == "phpdbg")
}

fn is_https() -> bool {
    let globals = ProcessGlobals::get();
    let Some(server) = globals.http_server_vars() else { return false };
    let https = server.get("HTTPS").and_then(|z| z.string()).unwrap_or_default();
    if !https.is_empty() && !https.eq_ignore_ascii_case("off") {
        return true;
    }
    server.get("REQUEST_SCHEME").and_then(|z| z.string()).is_some_and(|s| s.eq_ignore_ascii_case("https"))
}

/// The id the browser sent in the cookie `name`, if any.
pub fn incoming(name: &str) -> Option<Vec<u8>> {
    let globals = ProcessGlobals::get();
    let cookies = globals.http_cookie_vars()?;
    let found = cookies.get(name).or_else(|| {
        // PHP stores an incoming `my.app` cookie as $_COOKIE['my_app'] (as it does for any
        // request variable name); `.` is the only such character a session name may contain.
        name.contains('.').then(|| name.replace('.', "_")).and_then(|mangled| cookies.get(mangled.as_str()))
    });
    found.and_then(|z| z.zend_str()).map(|s| s.as_bytes().to_vec())
}

impl CookieSettings {
    /// Sends `name=value` (or expires it when `value` is None). Not in the CLI, not once output
    /// has started (PHP would only warn), not when cookies are off.
    pub fn send(&self, name: &str, value: Option<&str>) -> PhpResult<()> {
        if !self.enabled || is_cli() {
            return Ok(());
        }
        if call("headers_sent", vec![])?.bool().unwrap_or(false) {
            // As PHP's own session_start() does: say why the next request will not find this
            // session, instead of starting a new one every time in silence.
            super::ffi::warning("cannot send the session cookie: output has already started (call start() before any output)");
            return Ok(());
        }
        let now = call("time", vec![])?.long().unwrap_or(0);
        let expires = match value {
            None => 1,
            Some(_) if self.lifetime > 0 => now + self.lifetime,
            Some(_) => 0,
        };
        let mut opts = ZendHashTable::new();
        let err = |e: ext_php_rs::error::Error| exception(Kind::Session, e.to_string());
        opts.insert("expires", expires).map_err(err)?;
        opts.insert("path", self.path.as_str()).map_err(err)?;
        if !self.domain.is_empty() {
            opts.insert("domain", self.domain.as_str()).map_err(err)?;
        }
        opts.insert("secure", self.secure.unwrap_or_else(is_https)).map_err(err)?;
        opts.insert("httponly", self.http_only).map_err(err)?;
        if !self.same_site.is_empty() {
            opts.insert("samesite", self.same_site.as_str()).map_err(err)?;
        }
        let mut opts_z = Zval::new();
        opts_z.set_hashtable(opts);
        call("setcookie", vec![&name, &value.unwrap_or(""), &opts_z])?;
        Ok(())
    }
}
