//! RESP2, the Redis protocol: the command encoder and the reply parser, as pure functions on byte
//! slices. No IO here (`conn` feeds the parser from its socket), so both are unit-tested and
//! fuzzed on their own.
use super::errors;
use crate::store::error::ServerError;
use crate::store::StoreError;
use std::fmt;

/// A reply. Error replies are parsed into kinds here, once (see `errors::parse`).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Nil,
    Status(Vec<u8>),
    /// Boxed: errors are rare, and the box keeps every other reply small.
    Error(Box<ServerError>),
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Reply>),
}

impl Reply {
    /// A bulk or status reply as UTF-8 text.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Bulk(b) | Reply::Status(b) => String::from_utf8(b.clone()).ok(),
            _ => None,
        }
    }

    /// A number sent as an integer or as a string (ROLE mixes both; some proxies answer
    /// CLUSTER SLOTS' numbers as strings).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(b) | Reply::Status(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// An error reply as `Err(StoreError::Server)`, anything else as is.
    pub fn ok(self) -> Result<Reply, StoreError> {
        match self {
            Reply::Error(e) => Err(StoreError::Server(*e)),
            other => Ok(other),
        }
    }

    /// A GET's reply: the bytes, or `None` for a missing key.
    pub fn bulk(self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.ok()? {
            Reply::Bulk(b) => Ok(Some(b)),
            Reply::Nil => Ok(None),
            other => Err(other.unexpected()),
        }
    }

    /// A reply of a shape the command never gives.
    pub fn unexpected(self) -> StoreError {
        StoreError::server(format!("unexpected reply from redis: {self:?}").chars().take(200).collect::<String>())
    }
}

// ----------------------------------------------------------------------------------- encoder

/// Appends one command (an array of bulk strings) to `out`.
pub fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.push(b'*');
    push_num(out, args.len() as i64);
    for a in args {
        out.push(b'$');
        push_num(out, a.len() as i64);
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A number as decimal digits on the stack: command arguments (TTLs) without an allocation.
pub struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    pub fn new(mut v: u64) -> Decimal {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        Decimal { buf, start: i }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// `n` and CRLF.
fn push_num(w: &mut Vec<u8>, n: i64) {
    // Argument counts and most lengths have one or two digits: written directly.
    if (0..10).contains(&n) {
        w.extend_from_slice(&[b'0' + n as u8, b'\r', b'\n']);
        return;
    }
    if (10..100).contains(&n) {
        w.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8, b'\r', b'\n']);
        return;
    }
    if n < 0 {
        w.push(b'-');
    }
    w.extend_from_slice(Decimal::new(n.unsigned_abs()).as_bytes());
    w.extend_from_slice(b"\r\n");
}

// ------------------------------------------------------------------------------------ parser

/// Replies nest at most this deep (ours are two levels at most).
pub const MAX_DEPTH: usize = 8;
/// A status, error, integer or length line longer than this is refused.
pub const MAX_LINE: usize = 64 * 1024;
/// Redis' own limit for a string (proto-max-bulk-len).
pub const MAX_BULK: usize = 512 * 1024 * 1024;
pub const MAX_ARRAY: usize = 1_000_000;

/// What `parse` found at the start of a buffer.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// One whole reply, and how many bytes it took.
    Reply(Reply, usize),
    /// The buffer holds only the start of a reply: it needs at least `need` bytes in all (more
    /// than it has). Never more than the whole reply, so a reader may wait for that many bytes
    /// before parsing again (a large value then is parsed once, not at every read).
    Incomplete { need: usize },
}

/// Bytes that are not a RESP2 reply: the connection cannot be trusted after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    BadType(u8),
    /// A CR not followed by LF inside a line.
    BadLine,
    BadNumber,
    /// A bulk or array length below -1 (-1 is nil).
    NegativeLength,
    LineTooLong,
    TooDeep,
    BulkTooLarge,
    ArrayTooLarge,
    BulkNotTerminated,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            ProtocolError::BadType(b) => return write!(f, "malformed reply from redis (type byte 0x{b:02x})"),
            ProtocolError::BadLine => "CR without LF",
            ProtocolError::BadNumber => "bad number",
            ProtocolError::NegativeLength => "negative length",
            ProtocolError::LineTooLong => "line too long",
            ProtocolError::TooDeep => "too deep",
            ProtocolError::BulkTooLarge => "bulk too large",
            ProtocolError::ArrayTooLarge => "array too large",
            ProtocolError::BulkNotTerminated => "bulk not terminated",
        };
        write!(f, "malformed reply from redis ({what})")
    }
}

impl From<ProtocolError> for StoreError {
    fn from(e: ProtocolError) -> StoreError {
        StoreError::Connection(e.to_string())
    }
}

/// Parses the reply at the start of `buf`. Incremental: on `Incomplete`, call again with the
/// same bytes and more after them.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProtocolError> {
    value(buf, 0, 0)
}

/// The reply starting at `at`; positions in `Parsed` are offsets in `buf`, not from `at`.
fn value(buf: &[u8], at: usize, depth: usize) -> Result<Parsed, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::TooDeep);
    }
    let Some(&kind) = buf.get(at) else { return Ok(Parsed::Incomplete { need: at + 1 }) };
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(ProtocolError::BadType(kind));
    }
    let Some(eol) = line_end(buf, at + 1)? else { return Ok(Parsed::Incomplete { need: buf.len() + 1 }) };
    let line = &buf[at + 1..eol];
    let next = eol + 2;
    let reply = match kind {
        b'+' => Reply::Status(line.to_vec()),
        b'-' => Reply::Error(Box::new(errors::parse(line))),
        b':' => Reply::Int(int(line)?),
        b'$' => {
            let Some(len) = length(line, MAX_BULK, ProtocolError::BulkTooLarge)? else {
                return Ok(Parsed::Reply(Reply::Nil, next));
            };
            let end = next + len;
            if buf.len() < end + 2 {
                return Ok(Parsed::Incomplete { need: end + 2 });
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError::BulkNotTerminated);
            }
            return Ok(Parsed::Reply(Reply::Bulk(buf[next..end].to_vec()), end + 2));
        }
        _ => {
            let Some(n) = length(line, MAX_ARRAY, ProtocolError::ArrayTooLarge)? else {
                return Ok(Parsed::Reply(Reply::Nil, next));
            };
            // Every element takes 3 bytes at least: wait for those before allocating for n.
            if buf.len() < next + 3 * n {
                return Ok(Parsed::Incomplete { need: next + 3 * n });
            }
            let mut items = Vec::with_capacity(n);
            let mut pos = next;
            for _ in 0..n {
                match value(buf, pos, depth + 1)? {
                    Parsed::Reply(r, end) => {
                        items.push(r);
                        pos = end;
                    }
                    incomplete => return Ok(incomplete),
                }
            }
            return Ok(Parsed::Reply(Reply::Array(items), pos));
        }
    };
    Ok(Parsed::Reply(reply, next))
}

/// The position of the CR of the line starting at `from`; `None` when it has not all arrived.
fn line_end(buf: &[u8], from: usize) -> Result<Option<usize>, ProtocolError> {
    let rest = &buf[from..];
    match rest.iter().position(|&b| b == b'\r') {
        Some(i) if i > MAX_LINE => Err(ProtocolError::LineTooLong),
        Some(i) => match rest.get(i + 1) {
            Some(b'\n') => Ok(Some(from + i)),
            Some(_) => Err(ProtocolError::BadLine),
            None => Ok(None),
        },
        None if rest.len() > MAX_LINE => Err(ProtocolError::LineTooLong),
        None => Ok(None),
    }
}

/// A bulk or array length: `None` for -1 (nil).
fn length(line: &[u8], max: usize, too_large: ProtocolError) -> Result<Option<usize>, ProtocolError> {
    match int(line)? {
        -1 => Ok(None),
        n if n < 0 => Err(ProtocolError::NegativeLength),
        n if n as u64 > max as u64 => Err(too_large),
        n => Ok(Some(n as usize)),
    }
}

/// A decimal integer as Redis writes one: an optional `-`, then digits, within i64.
fn int(line: &[u8]) -> Result<i64, ProtocolError> {
    let (neg, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() {
        return Err(ProtocolError::BadNumber);
    }
    // Accumulated negatively: i64::MIN has no positive counterpart.
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(ProtocolError::BadNumber);
        }
        v = v.checked_mul(10).and_then(|v| v.checked_sub((d - b'0') as i64)).ok_or(ProtocolError::BadNumber)?;
    }
    if neg {
        Ok(v)
    } else {
        v.checked_neg().ok_or(ProtocolError::BadNumber)
    }
}

#[cfg(test)]
#[path = "resp_tests.rs"]
mod tests;
