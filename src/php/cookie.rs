//! The Session API's cookie: what the request says (`CookieEnv`), and the decisions of
//! `crate::lifecycle::cookie` carried out with PHP's own setcookie().
use super::calls::call;
use super::exceptions::{exception, Kind};
use crate::lifecycle::cookie::{https_from, incoming_keys, is_cli_sapi, CookieAction, CookieEnv, CookieSettings, SetCookie};
use ext_php_rs::exception::PhpResult;
use ext_php_rs::types::{ZendHashTable, Zval};
use ext_php_rs::zend::ProcessGlobals;

/// The running request, asked through PHP.
struct Request;

impl CookieEnv for Request {
    fn is_cli(&self) -> bool {
        call("php_sapi_name", vec![]).ok().and_then(|z| z.string()).is_some_and(|s| is_cli_sapi(&s))
    }

    fn headers_sent(&self) -> bool {
        call("headers_sent", vec![]).ok().and_then(|z| z.bool()).unwrap_or(false)
    }

    fn is_https(&self) -> bool {
        let globals = ProcessGlobals::get();
        let Some(server) = globals.http_server_vars() else { return false };
        let var = |name: &str| server.get(name).and_then(|z| z.string());
        https_from(var("HTTPS").as_deref(), var("REQUEST_SCHEME").as_deref())
    }

    fn now(&self) -> i64 {
        call("time", vec![]).ok().and_then(|z| z.long()).unwrap_or(0)
    }
}

/// The id the browser sent in the cookie `name`, if any.
pub fn incoming(name: &str) -> Option<Vec<u8>> {
    let globals = ProcessGlobals::get();
    let cookies = globals.http_cookie_vars()?;
    let (plain, mangled) = incoming_keys(name);
    let found = cookies.get(plain).or_else(|| mangled.and_then(|m| cookies.get(m.as_str())));
    found.and_then(|z| z.zend_str()).map(|s| s.as_bytes().to_vec())
}

/// Sends `name=id`, or expires the cookie when `id` is None, as the settings decide.
pub fn send(settings: &CookieSettings, name: &str, id: Option<&str>) -> PhpResult<()> {
    match settings.decide(name, id, &Request) {
        CookieAction::None => Ok(()),
        CookieAction::Warn(msg) => {
            super::ffi::warning(msg);
            Ok(())
        }
        CookieAction::Set(c) => set_cookie(&c),
    }
}

fn set_cookie(c: &SetCookie) -> PhpResult<()> {
    let mut opts = ZendHashTable::new();
    let err = |e: ext_php_rs::error::Error| exception(Kind::Session, e.to_string());
    opts.insert("expires", c.expires).map_err(err)?;
    opts.insert("path", c.path.as_str()).map_err(err)?;
    if !c.domain.is_empty() {
        opts.insert("domain", c.domain.as_str()).map_err(err)?;
    }
    opts.insert("secure", c.secure).map_err(err)?;
    opts.insert("httponly", c.http_only).map_err(err)?;
    if !c.same_site.is_empty() {
        opts.insert("samesite", c.same_site.as_str()).map_err(err)?;
    }
    let mut opts_z = Zval::new();
    opts_z.set_hashtable(opts);
    call("setcookie", vec![&c.name.as_str(), &c.value.as_str(), &opts_z])?;
    Ok(())
}
