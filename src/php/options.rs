//! What PHP code passes as configuration (a DSN string, an options array, a CannonPHP config),
//! converted to text for the plain-Rust mapping in `crate::config::options` and
//! `crate::lifecycle::settings`.
use crate::config::options::handler_config;
use crate::config::{parse_dsn, Config, ConfigError};
use ext_php_rs::types::{ArrayKey, ZendHashTable, Zval};

/// A scalar zval as option text; `None` for null. Arrays/objects are an error.
pub fn scalar(z: &Zval, key: &str) -> Result<Option<String>, ConfigError> {
    if z.is_null() {
        return Ok(None);
    }
    if let Some(b) = z.bool() {
        return Ok(Some(if b { "1" } else { "0" }.into()));
    }
    if let Some(n) = z.long() {
        return Ok(Some(n.to_string()));
    }
    if let Some(f) = z.double() {
        return Ok(Some(f.to_string()));
    }
    if let Some(s) = z.zend_str() {
        return Ok(Some(String::from_utf8_lossy(s.as_bytes()).into_owned()));
    }
    Err(ConfigError(format!("invalid option {key:?}: expected a string or number")))
}

/// An options array as (name, text) pairs, in order; null values are left out.
fn pairs(arr: &ZendHashTable) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::with_capacity(arr.len());
    for (k, v) in arr.iter() {
        let key = match k {
            ArrayKey::Long(n) => return Err(ConfigError(format!("invalid option key {n}: expected option names"))),
            ArrayKey::String(s) => s,
            ArrayKey::Str(s) => s.to_string(),
            other => other.to_string(),
        };
        if let Some(val) = scalar(v, &key)? {
            out.push((key, val));
        }
    }
    Ok(out)
}

/// The values of the given keys that are set and not null.
pub fn known(arr: &ZendHashTable, keys: &[&'static str]) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let mut out = Vec::new();
    for key in keys {
        if let Some(z) = arr.get(*key) {
            if let Some(v) = scalar(z, key)? {
                out.push((*key, v));
            }
        }
    }
    Ok(out)
}

/// `string|array|null` as handlers accept it; `scheme` is the class's (`redis` or `mysql`).
pub fn from_zval(z: Option<&Zval>, scheme: &str) -> Result<Config, ConfigError> {
    match z {
        None => parse_dsn(&super::ini::default_dsn()),
        Some(z) if z.is_null() => parse_dsn(&super::ini::default_dsn()),
        Some(z) => {
            if let Some(arr) = z.array() {
                return handler_config(pairs(arr)?, scheme);
            }
            match z.zend_str() {
                Some(s) => parse_dsn(&String::from_utf8_lossy(s.as_bytes())),
                None => Err(ConfigError("expected a DSN string or an options array".into())),
            }
        }
    }
}
