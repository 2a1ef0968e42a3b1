//! The optional `json` session format, for stores that other languages read and write.
//!
//! Mapping, chosen to agree with PHP's `json_encode()` / `json_decode($s, true)`:
//!
//! * An array whose keys are exactly `0..n-1` in order is a JSON array; any other array is
//!   a JSON object, integer keys written as strings (`[666 => 1]` → `{"666":1}`). The empty
//!   array is `[]`.
//! * Decoding normalises object keys as PHP does array keys: `"666"` and `"-3"` become
//!   integer keys, `"01"`, `"+1"` and `"-0"` stay strings. Duplicate keys: the last value
//!   wins, at the first one's position.
//! * Integers beyond `i64` decode to floats (as `json_decode` does). Floats keep their
//!   type: `1.0` is written `1.0` and read back as a float, and every finite float
//!   round-trips bit for bit. NaN and infinities cannot be written, and a number too large
//!   for a float (`1e400`) cannot be read (`json_decode` would give INF, which could not be
//!   written back).
//! * JSON strings are Unicode: strings and keys that are not valid UTF-8 cannot be written
//!   (use `serializer=php` for binary data). Input must be valid UTF-8; `\u` escapes with an
//!   unpaired UTF-16 surrogate are refused.
//! * The top level must be an array (a JSON array or object), since a session is one.
//! * Arrays may nest [`MAX_DEPTH`] deep either way, like `json_encode` (PHP's `json_decode`
//!   at its default depth reads only 511). Decoding does not recurse, so no input can
//!   overflow the stack.
//!
//! Empty input is an error: an empty payload means "no session", which the caller checks
//! before decoding.
//!
//! Floats are formatted by serde_json; decoding is done here rather than by serde_json,
//! because serde_json without its `float_roundtrip` feature rounds some floats wrongly
//! (`994.1414234139935` comes back one bit off) and stops at 128 levels of nesting.

use std::collections::HashMap;

use super::value::{is_list, Key, Value};
use super::{CodecError, MAX_DEPTH};

const BINARY_HINT: &str = "JSON cannot hold binary data; use serializer=php for binary data";

/// Encodes a session array as compact JSON. The top-level value must be a `Value::Array`.
pub fn encode(v: &Value) -> Result<Vec<u8>, CodecError> {
    if !matches!(v, Value::Array(_)) {
        return Err(CodecError(format!(
            "cannot encode {} as session data: the top level must be an array",
            type_name(v)
        )));
    }
    let mut enc = Encoder {
        out: Vec::with_capacity(128),
        path: Vec::new(),
    };
    enc.value(v)?;
    Ok(enc.out)
}

/// Decodes a JSON array or object into a `Value::Array`. Errors on empty input, invalid
/// UTF-8, invalid JSON, a top level that is not an array or object, nesting deeper than
/// [`MAX_DEPTH`], unpaired surrogates and numbers too large for a float.
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    if bytes.is_empty() {
        return Err(CodecError(
            "cannot decode JSON session data: the input is empty".to_string(),
        ));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(CodecError(format!(
            "cannot decode JSON session data: invalid UTF-8 at byte {}",
            e.valid_up_to()
        )));
    }
    Decoder { b: bytes, pos: 0 }.document()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Int(_) => "an int",
        Value::Float(_) => "a float",
        Value::Str(_) => "a string",
        Value::Array(_) => "an array",
    }
}

fn serde_err(e: serde_json::Error) -> CodecError {
    CodecError(format!("cannot encode session data as JSON: {e}"))
}

struct Encoder<'v> {
    out: Vec<u8>,
    /// Keys from the top level down to the value being written, for error messages.
    path: Vec<&'v Key>,
}

impl<'v> Encoder<'v> {
    fn here(&self) -> String {
        if self.path.is_empty() {
            "at the top level".to_string()
        } else {
            let mut s = String::from("at ");
            for k in &self.path {
                s.push_str(&k.to_string());
            }
            s
        }
    }

    fn value(&mut self, v: &'v Value) -> Result<(), CodecError> {
        match v {
            Value::Null => self.out.extend_from_slice(b"null"),
            Value::Bool(true) => self.out.extend_from_slice(b"true"),
            Value::Bool(false) => self.out.extend_from_slice(b"false"),
            Value::Int(i) => self.out.extend_from_slice(i.to_string().as_bytes()),
            Value::Float(f) => {
                if !f.is_finite() {
                    return Err(CodecError(format!(
                        "cannot encode the float {f} {} as JSON: NaN and infinity have no JSON form",
                        self.here()
                    )));
                }
                serde_json::to_writer(&mut self.out, f).map_err(serde_err)?;
            }
            Value::Str(bytes) => {
                let s = std::str::from_utf8(bytes).map_err(|e| {
                    CodecError(format!(
                        "cannot encode the string {} as JSON: it is not valid UTF-8 (bad byte at offset {}); {BINARY_HINT}",
                        self.here(),
                        e.valid_up_to()
                    ))
                })?;
                serde_json::to_writer(&mut self.out, s).map_err(serde_err)?;
            }
            Value::Array(entries) => {
                // The top-level array is depth 1, so `path.len() + 1` is this array's depth.
                if self.path.len() >= MAX_DEPTH {
                    return Err(CodecError(format!(
                        "cannot encode session data as JSON: arrays nest deeper than {MAX_DEPTH} levels {} (a recursive reference?)",
                        self.here()
                    )));
                }
                if is_list(entries) {
                    self.out.push(b'[');
                    for (i, (k, item)) in entries.iter().enumerate() {
                        if i > 0 {
                            self.out.push(b',');
                        }
                        self.path.push(k);
                        self.value(item)?;
                        self.path.pop();
                    }
                    self.out.push(b']');
                } else {
                    self.out.push(b'{');
                    for (i, (k, item)) in entries.iter().enumerate() {
                        if i > 0 {
                            self.out.push(b',');
                        }
                        self.path.push(k);
                        self.key(k)?;
                        self.out.push(b':');
                        self.value(item)?;
                        self.path.pop();
                    }
                    self.out.push(b'}');
                }
            }
        }
        Ok(())
    }

    /// Writes an object key; `self.path` already ends with it.
    fn key(&mut self, k: &Key) -> Result<(), CodecError> {
        match k {
            Key::Int(i) => {
                self.out.push(b'"');
                self.out.extend_from_slice(i.to_string().as_bytes());
                self.out.push(b'"');
            }
            Key::Str(bytes) => {
                let s = std::str::from_utf8(bytes).map_err(|e| {
                    CodecError(format!(
                        "cannot encode the array key {} as JSON: it is not valid UTF-8 (bad byte at offset {}); {BINARY_HINT}",
                        self.here(),
                        e.valid_up_to()
                    ))
                })?;
                serde_json::to_writer(&mut self.out, s).map_err(serde_err)?;
            }
        }
        Ok(())
    }
}

/// An array being decoded: the entries so far and, for an object, the key whose value
/// comes next.
struct Frame {
    entries: Vec<(Key, Value)>,
    is_object: bool,
    /// For an object, the key whose value is being parsed.
    key: Option<Key>,
    /// For objects with many keys, where each key sits in `entries` (for duplicates).
    index: Option<HashMap<Key, usize>>,
}

/// Objects up to this size look for duplicate keys by scanning; larger ones use a map.
const SCAN_LIMIT: usize = 16;

impl Frame {
    fn list() -> Frame {
        Frame {
            entries: Vec::new(),
            is_object: false,
            key: None,
            index: None,
        }
    }

    fn object(first_key: Key) -> Frame {
        Frame {
            entries: Vec::new(),
            is_object: true,
            key: Some(first_key),
            index: None,
        }
    }

    /// Adds an object member. A repeated key replaces the earlier value in place, as PHP's
    /// hash update does.
    fn insert(&mut self, key: Key, value: Value) {
        let found = if self.entries.len() < SCAN_LIMIT {
            self.entries.iter().position(|(k, _)| *k == key)
        } else {
            let entries = &self.entries;
            let index = self.index.get_or_insert_with(|| {
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .collect()
            });
            match index.get(&key) {
                Some(&i) => Some(i),
                None => {
                    index.insert(key.clone(), entries.len());
                    None
                }
            }
        };
        match found.and_then(|i| self.entries.get_mut(i)) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }
}

struct Decoder<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn err(&self, what: &str) -> CodecError {
        if self.pos >= self.b.len() {
            CodecError(format!(
                "cannot decode JSON session data: {what} at the end of the input (truncated?)"
            ))
        } else {
            CodecError(format!(
                "cannot decode JSON session data: {what} at byte {}",
                self.pos
            ))
        }
    }

    fn rest(&self) -> &[u8] {
        self.b.get(self.pos..).unwrap_or(&[])
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), CodecError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn document(mut self) -> Result<Value, CodecError> {
        self.skip_ws();
        if !matches!(self.peek(), Some(b'[' | b'{')) {
            return Err(
                self.err("the top level must be a JSON array or object (a session is an array)")
            );
        }
        let value = self.nested()?;
        self.skip_ws();
        if self.pos < self.b.len() {
            return Err(self.err("unexpected data after the JSON value"));
        }
        Ok(value)
    }

    /// Parses one value, arrays and objects included, with an explicit stack of open
    /// arrays instead of recursion.
    fn nested(&mut self) -> Result<Value, CodecError> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            // A value is expected here: after `[`, `,` in an array, or `:`.
            self.skip_ws();
            let mut value = match self.peek() {
                Some(open @ (b'[' | b'{')) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(
                            self.err(&format!("arrays nest deeper than {MAX_DEPTH} levels"))
                        );
                    }
                    self.pos += 1;
                    self.skip_ws();
                    let close = if open == b'[' { b']' } else { b'}' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        Value::Array(Vec::new())
                    } else if open == b'[' {
                        stack.push(Frame::list());
                        continue;
                    } else {
                        let key = self.object_key()?;
                        stack.push(Frame::object(key));
                        continue;
                    }
                }
                Some(b'"') => Value::Str(self.string()?),
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b't') => self.literal("true", Value::Bool(true))?,
                Some(b'f') => self.literal("false", Value::Bool(false))?,
                Some(b'n') => self.literal("null", Value::Null)?,
                _ => return Err(self.err("expected a JSON value")),
            };
            // Store the value in the innermost open array, then close every array that ends
            // here, until one continues with `,` (or the outermost one is done).
            loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(value);
                };
                match top.key.take() {
                    None if !top.is_object => {
                        let index = i64::try_from(top.entries.len())
                            .map_err(|_| self.err("too many array elements"))?;
                        top.entries.push((Key::Int(index), value));
                    }
                    Some(key) => top.insert(key, value),
                    None => return Err(self.err("internal error: object value without a key")),
                }
                let is_object = top.is_object;
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if is_object {
                            let key = self.object_key()?;
                            if let Some(top) = stack.last_mut() {
                                top.key = Some(key);
                            }
                        }
                        break;
                    }
                    Some(b']') if !is_object => {}
                    Some(b'}') if is_object => {}
                    _ => {
                        return Err(self.err(if is_object {
                            "expected ',' or '}' in an object"
                        } else {
                            "expected ',' or ']' in an array"
                        }))
                    }
                }
                self.pos += 1;
                match stack.pop() {
                    Some(done) => value = Value::Array(done.entries),
                    None => return Err(self.err("internal error: no open array")),
                }
            }
        }
    }

    /// After `{` or `,` in an object: a key string, then `:`.
    fn object_key(&mut self) -> Result<Key, CodecError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string key in an object"));
        }
        let key = Key::from_bytes(self.string()?);
        self.expect(b':', "expected ':' after an object key")?;
        Ok(key)
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, CodecError> {
        if self.rest().starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("expected a JSON value"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Result<Value, CodecError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.err("numbers cannot have leading zeros"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("expected a digit")),
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after the decimal point"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            is_float = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in the exponent"));
            }
        }
        // ASCII only, so always UTF-8.
        let text = std::str::from_utf8(self.b.get(start..self.pos).unwrap_or(&[]))
            .map_err(|_| self.err("invalid number"))?;
        if !is_float {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Int(i));
            }
            // Beyond i64: a float, as json_decode() does.
        }
        // Rust's float parsing is correctly rounded, so shortest-form output reads back
        // exactly.
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => {
                self.pos = start;
                Err(self.err(&format!("the number {text} is too large for a float")))
            }
        }
    }

    /// A JSON string starting at the opening quote, as UTF-8 bytes.
    fn string(&mut self) -> Result<Vec<u8>, CodecError> {
        self.pos += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let run = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The input is valid UTF-8 and runs end at ASCII bytes, so this copy is too.
            out.extend_from_slice(self.b.get(run..self.pos).unwrap_or(&[]));
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape()?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => return Err(self.err("invalid escape in a string")),
                    };
                    self.pos += 1;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(_) => {
                    return Err(self.err("unescaped control character in a string"));
                }
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    /// After `\u`: four hex digits, and for a high surrogate the `\uXXXX` low surrogate
    /// that must follow it.
    fn unicode_escape(&mut self) -> Result<char, CodecError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.rest().starts_with(b"\\u") {
                    return Err(self.err("unpaired UTF-16 surrogate in a \\u escape"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.err("unpaired UTF-16 surrogate in a \\u escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return Err(self.err("unpaired UTF-16 surrogate in a \\u escape"));
            }
            _ => first,
        };
        char::from_u32(code).ok_or_else(|| self.err("invalid \\u escape"))
    }

    fn hex4(&mut self) -> Result<u32, CodecError> {
        let mut n = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("expected four hex digits after \\u")),
            };
            n = n * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.as_bytes().to_vec())
    }

    fn ks(x: &str) -> Key {
        Key::Str(x.as_bytes().to_vec())
    }

    fn map(entries: Vec<(Key, Value)>) -> Value {
        Value::Array(entries)
    }

    fn list(items: Vec<Value>) -> Value {
        Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Key::Int(i as i64), v))
                .collect(),
        )
    }

    fn enc(v: &Value) -> String {
        String::from_utf8(encode(v).unwrap()).unwrap()
    }

    fn dec(x: &str) -> Value {
        decode(x.as_bytes()).unwrap_or_else(|e| panic!("{x:?}: {e}"))
    }

    fn dec_err(x: &[u8]) -> String {
        match decode(x) {
            Ok(v) => panic!("{:?} decoded to {v:?}", String::from_utf8_lossy(x)),
            Err(e) => e.0,
        }
    }

    fn round_trip(v: &Value) {
        let bytes = encode(v).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(&back, v, "via {}", String::from_utf8_lossy(&bytes));
    }

    /// Compares floats by bits, which `PartialEq` does not (-0.0 == 0.0, NaN != NaN).
    fn same_bits(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((ka, va), (kb, vb))| ka == kb && same_bits(va, vb))
            }
            _ => a == b,
        }
    }

    #[test]
    fn lists_and_maps() {
        assert_eq!(enc(&map(vec![])), "[]");
        assert_eq!(
            enc(&list(vec![Value::Int(1), s("a"), Value::Null])),
            r#"[1,"a",null]"#
        );
        assert_eq!(
            enc(&map(vec![(Key::Int(666), Value::Int(123))])),
            r#"{"666":123}"#
        );
        assert_eq!(
            enc(&map(vec![(Key::Int(1), s("b")), (Key::Int(0), s("a"))])),
            r#"{"1":"b","0":"a"}"#
        );
        assert_eq!(
            enc(&map(vec![(Key::Int(0), s("a")), (Key::Int(2), s("c"))])),
            r#"{"0":"a","2":"c"}"#
        );
        assert_eq!(
            enc(&map(vec![
                (ks("user"), s("ann")),
                (Key::Int(7), Value::Bool(true))
            ])),
            r#"{"user":"ann","7":true}"#
        );
        // A string key holding a canonical integer is that integer, as in PHP.
        assert_eq!(enc(&map(vec![(ks("0"), Value::Bool(false))])), "[false]");
    }

    #[test]
    fn round_trips() {
        let nested = map(vec![
            (
                ks("user"),
                map(vec![
                    (ks("id"), Value::Int(42)),
                    (ks("name"), s("Zoë 日本 😀")),
                ]),
            ),
            (
                ks("cart"),
                list(vec![
                    list(vec![]),
                    map(vec![]),
                    list(vec![Value::Int(1), Value::Float(2.5)]),
                ]),
            ),
            (Key::Int(-3), Value::Null),
            (Key::Int(10), Value::Bool(false)),
            (ks(""), s("")),
            (ks("01"), s("leading zero stays a string key")),
            (ks("+1"), s("plus stays a string key")),
            (ks("-0"), s("minus zero stays a string key")),
            (ks("ctl\u{0}\u{1f}\"\\/\n"), s("\u{0}\u{7f}\u{2028}\"\\")),
            (ks("min"), Value::Int(i64::MIN)),
            (ks("max"), Value::Int(i64::MAX)),
            (Key::Int(i64::MIN), Value::Int(0)),
            (Key::Int(i64::MAX), Value::Int(-1)),
        ]);
        round_trip(&nested);
        round_trip(&map(vec![]));
        round_trip(&list(vec![map(vec![])]));
        round_trip(&list(vec![
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Int(0),
        ]));
    }

    #[test]
    fn floats_keep_type_and_value() {
        assert_eq!(enc(&list(vec![Value::Float(1.0)])), "[1.0]");
        assert_eq!(enc(&list(vec![Value::Float(0.1)])), "[0.1]");
        assert_eq!(dec("[1.0]"), list(vec![Value::Float(1.0)]));
        assert_eq!(dec("[1]"), list(vec![Value::Int(1)]));
        assert_eq!(
            dec("[1e2, 1E-2, 2.5e+3]"),
            list(vec![
                Value::Float(100.0),
                Value::Float(0.01),
                Value::Float(2500.0)
            ])
        );
        for f in [
            0.0,
            -0.0,
            0.1,
            1.0,
            -1.0,
            1e16,
            1e300,
            5e-324,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            0.30000000000000004,
            994.1414234139935,
            9007199254740993.0,
        ] {
            let v = list(vec![Value::Float(f)]);
            let back = decode(&encode(&v).unwrap()).unwrap();
            assert!(same_bits(&v, &back), "{f:?} came back as {back:?}");
        }
        // Every finite float comes back bit for bit.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for f in [
                f64::from_bits(x),
                (x >> 11) as f64 / (1u64 << 53) as f64 * 1000.0,
            ] {
                if !f.is_finite() {
                    continue;
                }
                let v = list(vec![Value::Float(f)]);
                let back = decode(&encode(&v).unwrap()).unwrap();
                assert!(same_bits(&v, &back), "{f:?} came back as {back:?}");
            }
        }
    }

    #[test]
    fn non_finite_floats_are_refused() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let v = map(vec![(ks("x"), list(vec![Value::Float(f)]))]);
            let e = encode(&v).unwrap_err().0;
            assert!(
                e.contains(r#"at ["x"][0]"#) && e.contains("NaN and infinity"),
                "{e}"
            );
        }
        assert!(dec_err(b"[1e400]").contains("too large for a float"));
        assert!(dec_err(b"[-1e400]").contains("too large for a float"));
        dec_err(b"[NaN]");
        dec_err(b"[Infinity]");
    }

    #[test]
    fn integers_beyond_i64_become_floats() {
        assert_eq!(
            dec("[9223372036854775807]"),
            list(vec![Value::Int(i64::MAX)])
        );
        assert_eq!(
            dec("[-9223372036854775808]"),
            list(vec![Value::Int(i64::MIN)])
        );
        assert_eq!(
            dec("[9223372036854775808]"),
            list(vec![Value::Float(9223372036854775808.0)])
        );
        assert_eq!(
            dec("[-9223372036854775809]"),
            list(vec![Value::Float(-9223372036854775808.0)])
        );
        assert_eq!(
            dec("[123456789012345678901234567890]"),
            list(vec![Value::Float(1.2345678901234568e29)])
        );
        assert_eq!(dec("[-0]"), list(vec![Value::Int(0)]));
        assert!(same_bits(&dec("[-0.0]"), &list(vec![Value::Float(-0.0)])));
    }

    #[test]
    fn object_keys_are_normalised_like_php() {
        assert_eq!(
            dec(r#"{"666":123}"#),
            map(vec![(Key::Int(666), Value::Int(123))])
        );
        assert_eq!(
            dec(r#"{"-3":1,"01":2,"+1":3,"-0":4,"0":5,"9223372036854775808":6,"1.5":7," 1":8}"#),
            map(vec![
                (Key::Int(-3), Value::Int(1)),
                (ks("01"), Value::Int(2)),
                (ks("+1"), Value::Int(3)),
                (ks("-0"), Value::Int(4)),
                (Key::Int(0), Value::Int(5)),
                (ks("9223372036854775808"), Value::Int(6)),
                (ks("1.5"), Value::Int(7)),
                (ks(" 1"), Value::Int(8)),
            ])
        );
        // A JSON object with keys 0..n-1 is a list once decoded, and is written as one.
        let v = dec(r#"{"0":"a","1":"b"}"#);
        assert_eq!(v, list(vec![s("a"), s("b")]));
        assert_eq!(enc(&v), r#"["a","b"]"#);
        assert_eq!(dec("{}"), map(vec![]));
        assert_eq!(dec(r#"{"":1}"#), map(vec![(ks(""), Value::Int(1))]));
    }

    #[test]
    fn duplicate_keys_keep_first_position_and_last_value() {
        assert_eq!(
            dec(r#"{"a":1,"b":2,"a":3,"1":4,"01":5,"1":6}"#),
            map(vec![
                (ks("a"), Value::Int(3)),
                (ks("b"), Value::Int(2)),
                (Key::Int(1), Value::Int(6)),
                (ks("01"), Value::Int(5)),
            ])
        );
        // Past the scanning limit, through the index.
        let mut json = String::from("{");
        for i in 0..100 {
            json.push_str(&format!(r#""k{i}":{i},"#));
        }
        json.push_str(r#""k5":"five","k99":"last"}"#);
        let Value::Array(entries) = dec(&json) else {
            panic!()
        };
        assert_eq!(entries.len(), 100);
        assert_eq!(entries[5], (ks("k5"), s("five")));
        assert_eq!(entries[99], (ks("k99"), s("last")));
        assert_eq!(entries[6], (ks("k6"), Value::Int(6)));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            dec(r#"["\u00e9\ud83d\ude00\n\/\"\\\b\f\r\t\u0000", "raw é😀"]"#),
            list(vec![s("é😀\n/\"\\\u{8}\u{c}\r\t\u{0}"), s("raw é😀")])
        );
        assert_eq!(dec(r#"["\u00E9"]"#), list(vec![s("é")]));
        let text = enc(&list(vec![s("é\u{1}\"\\")]));
        assert_eq!(text, "[\"é\\u0001\\\"\\\\\"]");
        // Whitespace around everything.
        assert_eq!(
            dec(" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\n "),
            map(vec![
                (ks("a"), list(vec![Value::Int(1), Value::Int(2)])),
                (ks("b"), map(vec![]))
            ])
        );
    }

    #[test]
    fn invalid_json_is_an_error() {
        for bad in [
            "",
            " ",
            "[",
            "]",
            "{",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{a:1}",
            "{'a':1}",
            "{1:1}",
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "[1e+]",
            "[+1]",
            "[-]",
            "[--1]",
            "[0x10]",
            "[tru]",
            "[nul]",
            "[True]",
            "[\"\\x\"]",
            "[\"\\u12\"]",
            "[\"\\u12G4\"]",
            "[\"a\nb\"]",
            "[\"a\tb\"]",
            "[\"abc",
            "[\"abc\\",
            "[1] x",
            "[1][2]",
            "[1]]",
            "\u{feff}[]",
            "1",
            "\"s\"",
            "null",
            "true",
            "[1,2",
            "{\"a\":1",
            "[\"\\ud800\"]",
            "[\"\\udc00\"]",
            "[\"\\ud800\\u0041\"]",
            "[\"\\ud800x\"]",
            "[\"\\ude00\\ud83d\"]",
            "[1]\u{0}",
            "/*c*/[]",
        ] {
            let e = dec_err(bad.as_bytes());
            assert!(
                e.starts_with("cannot decode JSON session data: "),
                "{bad:?}: {e}"
            );
        }
        assert!(dec_err(b"").contains("empty"));
        assert!(dec_err(b"42").contains("must be a JSON array or object"));
        assert!(dec_err(b"[1,2").contains("end of the input"));
        assert!(dec_err(b"[1,@]").contains("at byte 3"));
    }

    #[test]
    fn binary_data_is_refused_with_a_hint() {
        let e = dec_err(b"[\"\xff\"]");
        assert!(e.contains("invalid UTF-8 at byte 2"), "{e}");
        dec_err(b"{\"\xc3\":1}");

        let v = map(vec![(
            ks("avatar"),
            Value::Str(vec![0x89, b'P', b'N', b'G']),
        )]);
        let e = encode(&v).unwrap_err().0;
        assert!(
            e.contains(r#"["avatar"]"#) && e.contains("use serializer=php for binary data"),
            "{e}"
        );

        let v = map(vec![(
            ks("ok"),
            map(vec![(Key::Str(vec![b'k', 0xfe]), Value::Null)]),
        )]);
        let e = encode(&v).unwrap_err().0;
        assert!(
            e.contains("array key") && e.contains("use serializer=php"),
            "{e}"
        );
    }

    #[test]
    fn top_level_must_be_an_array() {
        for v in [
            Value::Null,
            Value::Bool(true),
            Value::Int(1),
            Value::Float(1.0),
            s("x"),
        ] {
            let e = encode(&v).unwrap_err().0;
            assert!(e.contains("top level must be an array"), "{e}");
        }
    }

    fn nested_lists(depth: usize) -> Value {
        let mut v = list(vec![]);
        for _ in 1..depth {
            v = list(vec![v]);
        }
        v
    }

    #[test]
    fn depth_limit() {
        let ok = nested_lists(MAX_DEPTH);
        let text = encode(&ok).unwrap();
        assert_eq!(decode(&text).unwrap(), ok);

        let too_deep = nested_lists(MAX_DEPTH + 1);
        assert!(encode(&too_deep).unwrap_err().0.contains("deeper than 512"));
        let text = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(dec_err(text.as_bytes()).contains("deeper than 512"));
        let text = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(dec_err(text.as_bytes()).contains("deeper than 512"));
    }

    #[test]
    fn depth_bombs_do_not_crash() {
        let n = 100_000;
        for text in [
            "[".repeat(n),
            format!("{}{}", "[".repeat(n), "]".repeat(n)),
            "{\"a\":".repeat(n),
            "[{\"a\":".repeat(n),
        ] {
            assert!(dec_err(text.as_bytes()).contains("deeper than 512"));
        }
    }
}
