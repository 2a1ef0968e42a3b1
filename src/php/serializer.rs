//! Arrays <-> bytes for the Session/Adapter API: PHP's own serialize() by default (every PHP
//! value survives: objects, references, floats, binary strings), JSON for stores shared with
//! other languages. Stored bytes that do not decode raise CorruptDataException.
use super::calls::call;
use super::exceptions::{exception, from_config, Kind};
use super::{convert, ini};
use crate::codec::json;
use crate::config::{Config, Serializer};
use crate::lifecycle::settings::AllowedClasses;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::zend::ExecutorGlobals;
use ext_php_rs::types::{ZendHashTable, ZendStr, Zval};

pub fn encode(data: &Zval, fmt: Serializer) -> PhpResult<Vec<u8>> {
    match fmt {
        Serializer::Php => {
            let out = call("serialize", vec![data])?;
            out.zend_str()
                .map(|s| s.as_bytes().to_vec())
                .ok_or_else(|| exception(Kind::Session, "serialize() did not return a string"))
        }
        Serializer::Json => {
            let v = convert::zval_to_value(data).map_err(|e| exception(Kind::Session, e.to_string()))?;
            json::encode(&v).map_err(|e| exception(Kind::Session, e.to_string()))
        }
    }
}

/// `unserialize()`'s `allowed_classes` option from `cannon_session.allowed_classes`.
fn allowed_classes() -> PhpResult<Zval> {
    let mut z = Zval::new();
    match AllowedClasses::from_setting(&ini::allowed_classes()) {
        AllowedClasses::None => z.set_bool(false),
        AllowedClasses::Any => z.set_bool(true),
        AllowedClasses::Only(list) => {
            let mut names = ZendHashTable::new();
            for n in list {
                names.push(n.as_str()).map_err(|e| exception(Kind::Config, e.to_string()))?;
            }
            z.set_hashtable(names);
        }
    }
    Ok(z)
}

/// Decodes stored bytes into an array. Empty bytes are an empty session.
pub fn decode(bytes: &[u8], fmt: Serializer) -> PhpResult<ZBox<ZendHashTable>> {
    if bytes.is_empty() {
        return Ok(ZendHashTable::new());
    }
    match fmt {
        Serializer::Php => {
            let mut arg = Zval::new();
            arg.set_zend_string(ZendStr::new(bytes, false));
            let mut opts = ZendHashTable::new();
            opts.insert("allowed_classes", allowed_classes()?).map_err(|e| exception(Kind::Session, e.to_string()))?;
            let mut opts_z = Zval::new();
            opts_z.set_hashtable(opts);
            // unserialize() reports its own notice on malformed input; we add the exception.
            // As `@unserialize()`: malformed input becomes our CorruptDataException, not a notice
            // that an error handler would turn into some other exception first.
            let saved = std::mem::replace(&mut ExecutorGlobals::get_mut().error_reporting, 0);
            let out = call("unserialize", vec![&arg, &opts_z]);
            ExecutorGlobals::get_mut().error_reporting = saved;
            let out = out?;
            match out.array() {
                Some(a) => Ok(a.to_owned()),
                None => Err(exception(
                    Kind::CorruptData,
                    format!("stored session data ({} bytes) is not a serialized PHP array", bytes.len()),
                )),
            }
        }
        Serializer::Json => {
            let v = json::decode(bytes).map_err(|e| exception(Kind::CorruptData, format!("stored session data is not valid JSON: {e}")))?;
            let z = convert::value_to_zval(&v).map_err(|e| exception(Kind::CorruptData, e.to_string()))?;
            z.array()
                .map(|a| a.to_owned())
                .ok_or_else(|| exception(Kind::CorruptData, "stored session data is not a JSON object or array"))
        }
    }
}

/// The configuration's serializer, or else `cannon_session.serializer`.
pub fn of(cfg: &Config) -> PhpResult<Serializer> {
    match cfg.serializer {
        Some(s) => Ok(s),
        None => Serializer::from_name(&ini::serializer()).map_err(|e| from_config(&e)),
    }
}
