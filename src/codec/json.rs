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

    fn expect_byte(&mut self, c: u8, what: &str) -> Result<(), CodecError> {
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
        self.expect_byte(b':', "expected ':' after an object key")?;
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
#[path = "json_tests.rs"]
mod tests;
