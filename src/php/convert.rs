//! PHP values (zvals) to and from the plain-Rust [`Value`] model of `crate::codec`.
//!
//! Strings and string keys are copied as bytes, never through `&str`: PHP strings need not
//! be UTF-8. References are followed (a `&$x` inside a session array stores its target's
//! value). Objects and resources have no place in the model and are refused. Arrays nest at
//! most [`MAX_DEPTH`] levels, which also stops a recursive reference (`$a['me'] = &$a`).
//!
//! Both functions must run inside a request: the zvals built use PHP's request allocator.

use ext_php_rs::flags::DataType;
use ext_php_rs::types::{ArrayKey, ZendHashTable, ZendStr, Zval};

use crate::codec::{CodecError, Key, Value, MAX_DEPTH};

/// Copies a PHP value into a [`Value`]. Errors on objects, resources and nesting deeper than
/// [`MAX_DEPTH`], naming where in the array the problem is.
pub fn zval_to_value(z: &Zval) -> Result<Value, CodecError> {
    to_value(z, 1).map_err(|e| e.into_codec_error())
}

/// Builds a new PHP value from a [`Value`]. String keys that are canonical integers
/// (`"666"`) become integer keys, as they would in PHP; a repeated key keeps the last value.
pub fn value_to_zval(v: &Value) -> Result<Zval, CodecError> {
    to_zval(v, 1)
}

/// What went wrong in `zval_to_value`.
enum Problem {
    /// The class name, if PHP could tell it.
    Object(Option<String>),
    Resource,
    TooDeep,
    Other(String),
}

/// A conversion error and, from the innermost array outwards, the keys leading to it.
struct Failure {
    problem: Problem,
    /// Innermost key first; reversed when formatted.
    path: Vec<Key>,
}

impl Failure {
    fn new(problem: Problem) -> Failure {
        Failure {
            problem,
            path: Vec::new(),
        }
    }

    fn into_codec_error(self) -> CodecError {
        let place = if self.path.is_empty() {
            "at the top level".to_string()
        } else {
            let mut s = String::from("at ");
            for k in self.path.iter().rev() {
                s.push_str(&k.to_string());
            }
            s
        };
        CodecError(match self.problem {
            Problem::Object(Some(class)) => format!(
                "objects cannot be stored with serializer=json (found a {class} object {place}); use serializer=php"
            ),
            Problem::Object(None) => format!(
                "objects cannot be stored with serializer=json (found one {place}); use serializer=php"
            ),
            Problem::Resource => {
                format!("resources cannot be stored in a session (found one {place})")
            }
            Problem::TooDeep => format!(
                "arrays nest deeper than {MAX_DEPTH} levels {place} (a recursive reference?)"
            ),
            Problem::Other(what) => format!("{what} {place}"),
        })
    }
}

/// Follows references and indirect slots (symbol tables such as `$GLOBALS` hold those) to
/// the value itself.
fn deref(z: &Zval) -> &Zval {
    let mut z = z;
    // At most an indirect slot pointing at a reference pointing at the value.
    for _ in 0..3 {
        if let Some(inner) = z.indirect() {
            z = inner;
        } else if let Some(inner) = z.reference() {
            z = inner;
        } else {
            break;
        }
    }
    z
}

/// `depth` is the nesting level an array found here would have (the top level is 1).
fn to_value(z: &Zval, depth: usize) -> Result<Value, Failure> {
    let z = deref(z);
    if z.is_null() {
        return Ok(Value::Null);
    }
    if let Some(b) = z.bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(i) = z.long() {
        return Ok(Value::Int(i));
    }
    if let Some(f) = z.double() {
        return Ok(Value::Float(f));
    }
    if let Some(s) = z.zend_str() {
        return Ok(Value::Str(s.as_bytes().to_vec()));
    }
    if let Some(ht) = z.array() {
        return array_to_value(ht, depth);
    }
    if let Some(obj) = z.object() {
        return Err(Failure::new(Problem::Object(obj.get_class_name().ok())));
    }
    if z.is_resource() {
        return Err(Failure::new(Problem::Resource));
    }
    if matches!(z.get_type(), DataType::Undef) {
        return Ok(Value::Null);
    }
    Err(Failure::new(Problem::Other(format!(
        "cannot store a value of type {:?}",
        z.get_type()
    ))))
}

fn array_to_value(ht: &ZendHashTable, depth: usize) -> Result<Value, Failure> {
    if depth > MAX_DEPTH {
        return Err(Failure::new(Problem::TooDeep));
    }
    let mut entries = Vec::with_capacity(ht.len());
    let mut iter = ht.iter();
    // `next_zval` gives keys as zvals, so binary string keys stay bytes.
    while let Some((key, val)) = iter.next_zval() {
        let key = if let Some(i) = key.long() {
            Key::Int(i)
        } else if let Some(s) = key.zend_str() {
            Key::Str(s.as_bytes().to_vec())
        } else {
            return Err(Failure::new(Problem::Other(
                "an array key is neither int nor string".to_string(),
            )));
        };
        // An unset variable in a symbol table is an indirect slot to UNDEF: not an entry.
        if matches!(deref(val).get_type(), DataType::Undef) {
            continue;
        }
        match to_value(val, depth + 1) {
            Ok(v) => entries.push((key, v)),
            Err(mut failure) => {
                failure.path.push(key);
                return Err(failure);
            }
        }
    }
    Ok(Value::Array(entries))
}

fn to_zval(v: &Value, depth: usize) -> Result<Zval, CodecError> {
    let mut z = Zval::new();
    match v {
        Value::Null => z.set_null(),
        Value::Bool(b) => z.set_bool(*b),
        Value::Int(i) => z.set_long(*i),
        Value::Float(f) => z.set_double(*f),
        Value::Str(bytes) => z.set_zend_string(ZendStr::new(bytes, false)),
        Value::Array(entries) => {
            if depth > MAX_DEPTH {
                return Err(CodecError(format!(
                    "cannot build a PHP array: arrays nest deeper than {MAX_DEPTH} levels"
                )));
            }
            // Only a size hint; PHP grows the table as needed.
            let hint = u32::try_from(entries.len().min(1 << 16)).unwrap_or(8);
            let mut ht = ZendHashTable::with_capacity(hint);
            for (key, item) in entries {
                let child = to_zval(item, depth + 1)?;
                let done = match key.normalized().as_ref() {
                    Key::Int(i) => ht.insert_at_index(*i, child),
                    Key::Str(bytes) => {
                        // zend_hash_update takes its own reference to the key string.
                        let name = ZendStr::new(bytes, false);
                        ht.insert(ArrayKey::ZendString(&name), child)
                    }
                };
                done.map_err(|e| CodecError(format!("cannot build a PHP array: {e}")))?;
            }
            z.set_hashtable(ht);
        }
    }
    Ok(z)
}
