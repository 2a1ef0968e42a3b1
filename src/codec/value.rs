//! A plain-Rust model of a PHP value as a session can hold it: scalars and ordered arrays.
//!
//! No PHP types here: `src/php/convert.rs` maps zvals to and from this model, and the
//! serializers in this module tree work on it alone.

use std::fmt;

/// A PHP array key. PHP normalises keys: a string that is a canonical decimal integer
/// (`"666"`, `"-3"`, but not `"01"`, `"+1"`, `"-0"` or `" 1"`) is stored as an integer key.
/// Build string keys with [`Key::from_bytes`] to get the same normalisation; a
/// `Key::Str` holding a canonical integer is treated as that integer wherever it matters
/// (see [`Key::normalized`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Int(i64),
    /// Binary-safe: PHP string keys need not be UTF-8.
    Str(Vec<u8>),
}

/// A PHP value. `Array` keeps insertion order, like a PHP array; keys are expected to be
/// unique (if they are not, the last value wins in PHP, at the first one's position).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Binary-safe: PHP strings need not be UTF-8.
    Str(Vec<u8>),
    Array(Vec<(Key, Value)>),
}

impl Key {
    /// A key from string bytes, normalised the way PHP does it for `$a["..."]`.
    pub fn from_bytes(bytes: Vec<u8>) -> Key {
        match canonical_int(&bytes) {
            Some(i) => Key::Int(i),
            None => Key::Str(bytes),
        }
    }

    /// This key as PHP would store it: a `Str` holding a canonical integer becomes `Int`.
    /// Borrows when nothing changes.
    pub fn normalized(&self) -> std::borrow::Cow<'_, Key> {
        match self {
            Key::Str(b) => match canonical_int(b) {
                Some(i) => std::borrow::Cow::Owned(Key::Int(i)),
                None => std::borrow::Cow::Borrowed(self),
            },
            Key::Int(_) => std::borrow::Cow::Borrowed(self),
        }
    }
}

impl From<i64> for Key {
    fn from(i: i64) -> Key {
        Key::Int(i)
    }
}

impl From<&str> for Key {
    /// Normalised like [`Key::from_bytes`]: `Key::from("7") == Key::Int(7)`.
    fn from(s: &str) -> Key {
        Key::from_bytes(s.as_bytes().to_vec())
    }
}

impl fmt::Display for Key {
    /// As PHP source would write an array access: `[7]`, `["name"]` (lossy for non-UTF-8).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(i) => write!(f, "[{i}]"),
            Key::Str(b) => write!(f, "[{:?}]", String::from_utf8_lossy(b)),
        }
    }
}

/// Parses `bytes` as PHP's canonical integer array key (`ZEND_HANDLE_NUMERIC_STR`): an
/// optional `-`, then decimal digits without a leading zero (`"0"` itself is fine, `"-0"`
/// is not), and the result within `i64`. Anything else stays a string key.
pub fn canonical_int(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    match digits {
        [] => return None,
        [b'0'] => return if negative { None } else { Some(0) },
        [b'0', ..] => return None,
        _ => {}
    }
    // Accumulate towards the sign so i64::MIN, whose magnitude has no positive i64, parses.
    let mut n: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = i64::from(c - b'0');
        n = n.checked_mul(10)?;
        n = if negative {
            n.checked_sub(d)?
        } else {
            n.checked_add(d)?
        };
    }
    Some(n)
}

/// True when the keys are exactly `0, 1, …, n-1` in this order: what PHP 8.1's
/// `array_is_list()` calls a list (and what `json_encode` writes as a JSON array).
pub fn is_list(entries: &[(Key, Value)]) -> bool {
    entries
        .iter()
        .enumerate()
        .all(|(i, (k, _))| match k.normalized().as_ref() {
            Key::Int(n) => usize::try_from(*n).ok() == Some(i),
            Key::Str(_) => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_int_keys_follow_php() {
        for (s, n) in [
            ("0", 0),
            ("7", 7),
            ("666", 666),
            ("-3", -3),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(canonical_int(s.as_bytes()), Some(n), "{s:?}");
            assert_eq!(Key::from(s), Key::Int(n), "{s:?}");
        }
        for s in [
            "",
            "-",
            "-0",
            "00",
            "01",
            "-01",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "0x1",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
            "١",
        ] {
            assert_eq!(canonical_int(s.as_bytes()), None, "{s:?}");
            assert_eq!(Key::from(s), Key::Str(s.as_bytes().to_vec()), "{s:?}");
        }
    }

    #[test]
    fn normalized_and_display() {
        assert_eq!(*Key::Str(b"12".to_vec()).normalized(), Key::Int(12));
        assert_eq!(
            *Key::Str(b"012".to_vec()).normalized(),
            Key::Str(b"012".to_vec())
        );
        assert_eq!(Key::Int(-4).to_string(), "[-4]");
        assert_eq!(Key::Str(b"a\"b".to_vec()).to_string(), r#"["a\"b"]"#);
    }

    #[test]
    fn list_detection() {
        let v = |k: Key| (k, Value::Null);
        assert!(is_list(&[]));
        assert!(is_list(&[v(Key::Int(0)), v(Key::Int(1)), v(Key::Int(2))]));
        assert!(is_list(&[v(Key::Int(0)), v(Key::Str(b"1".to_vec()))]));
        assert!(!is_list(&[v(Key::Int(1))]));
        assert!(!is_list(&[v(Key::Int(1)), v(Key::Int(0))]));
        assert!(!is_list(&[v(Key::Int(0)), v(Key::Int(2))]));
        assert!(!is_list(&[
            v(Key::Str(b"0".to_vec())),
            v(Key::Str(b"a".to_vec()))
        ]));
        assert!(!is_list(&[v(Key::Int(-1))]));
    }
}
