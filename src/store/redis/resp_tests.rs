//! The encoder and the parser on their own: every reply type, every split of the input, and
//! input no server should send.
use super::*;
use crate::store::error::{Redirect, ServerErrorKind};

fn reply(buf: &[u8]) -> Reply {
    match parse(buf) {
        Ok(Parsed::Reply(r, used)) => {
            assert_eq!(used, buf.len(), "{:?}", String::from_utf8_lossy(buf));
            r
        }
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn err(buf: &[u8]) -> ProtocolError {
    match parse(buf) {
        Err(e) => e,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

/// Every strict prefix of `whole` is incomplete, asking for no more than `whole` has.
fn every_prefix_is_incomplete(whole: &[u8]) {
    for cut in 0..whole.len() {
        match parse(&whole[..cut]) {
            Ok(Parsed::Incomplete { need }) => {
                assert!(need > cut && need <= whole.len(), "cut {cut} of {:?}: need {need}", String::from_utf8_lossy(whole))
            }
            other => panic!("cut {cut} of {:?}: {other:?}", String::from_utf8_lossy(whole)),
        }
    }
}

#[test]
fn numbers_encode_as_decimal_lines() {
    for n in [0i64, 1, 9, 10, 11, 42, 99, 100, 101, 999, 1000, 1060, 65_536, 8 * 1024 * 1024, i64::MAX, -1, -10, -100] {
        let mut w = Vec::new();
        push_num(&mut w, n);
        assert_eq!(w, format!("{n}\r\n").into_bytes(), "{n}");
    }
    for n in [0u64, 7, 10, 1440, 86_400, u64::MAX] {
        assert_eq!(Decimal::new(n).as_bytes(), n.to_string().as_bytes());
    }
}

#[test]
fn commands_encode_as_arrays_of_bulk_strings() {
    let mut w = b"before".to_vec();
    encode(&[b"SET", b"k", b"", b"a\r\nb"], &mut w);
    assert_eq!(w, b"before*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n$4\r\na\r\nb\r\n");
    let mut w = Vec::new();
    encode(&[], &mut w);
    assert_eq!(w, b"*0\r\n");
    // What the encoder writes, the parser reads back.
    let big = vec![b'x'; 70_000];
    let mut w = Vec::new();
    encode(&[b"GET", &big], &mut w);
    assert_eq!(reply(&w), Reply::Array(vec![Reply::Bulk(b"GET".to_vec()), Reply::Bulk(big)]));
}

#[test]
fn every_reply_type() {
    assert_eq!(reply(b"+OK\r\n"), Reply::Status(b"OK".to_vec()));
    assert_eq!(reply(b"+\r\n"), Reply::Status(Vec::new()));
    assert_eq!(reply(b":0\r\n"), Reply::Int(0));
    assert_eq!(reply(b":-42\r\n"), Reply::Int(-42));
    assert_eq!(reply(b":9223372036854775807\r\n"), Reply::Int(i64::MAX));
    assert_eq!(reply(b":-9223372036854775808\r\n"), Reply::Int(i64::MIN));
    assert_eq!(reply(b"$5\r\nhello\r\n"), Reply::Bulk(b"hello".to_vec()));
    assert_eq!(reply(b"$0\r\n\r\n"), Reply::Bulk(Vec::new()));
    assert_eq!(reply(b"$4\r\na\r\nb\r\n"), Reply::Bulk(b"a\r\nb".to_vec()));
    assert_eq!(reply(b"$-1\r\n"), Reply::Nil);
    assert_eq!(reply(b"*-1\r\n"), Reply::Nil);
    assert_eq!(reply(b"*0\r\n"), Reply::Array(vec![]));
    assert_eq!(
        reply(b"*3\r\n:1\r\n$-1\r\n*2\r\n+a\r\n$1\r\nb\r\n"),
        Reply::Array(vec![Reply::Int(1), Reply::Nil, Reply::Array(vec![Reply::Status(b"a".to_vec()), Reply::Bulk(b"b".to_vec())])])
    );
}

#[test]
fn error_replies_are_parsed_once_into_kinds() {
    let Reply::Error(e) = reply(b"-MOVED 3999 127.0.0.1:6381\r\n") else { panic!() };
    assert_eq!(e.kind, ServerErrorKind::Moved);
    assert_eq!(e.redirect, Some(Redirect { slot: 3999, addr: "127.0.0.1:6381".into() }));
    let Reply::Error(e) = reply(b"-NOSCRIPT No matching script. Please use EVAL.\r\n") else { panic!() };
    assert_eq!((e.kind, e.message.as_str()), (ServerErrorKind::NoScript, "NOSCRIPT No matching script. Please use EVAL."));
    // Inside a pipeline's or a script's array as well.
    let Reply::Array(items) = reply(b"*2\r\n-OOM no memory\r\n:1\r\n") else { panic!() };
    assert!(matches!(&items[0], Reply::Error(e) if e.kind == ServerErrorKind::OutOfMemory));
    // And as a StoreError.
    let e = reply(b"-WRONGTYPE bad\r\n").ok().unwrap_err();
    assert_eq!(e.server_kind(), Some(ServerErrorKind::WrongType));
}

#[test]
fn a_reply_split_anywhere_is_incomplete_until_whole() {
    for whole in [
        &b"+OK\r\n"[..],
        b"-ERR syntax error\r\n",
        b":1234\r\n",
        b"$-1\r\n",
        b"$0\r\n\r\n",
        b"$10\r\n0123\r\n6789\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"*2\r\n$-1\r\n$3\r\nabc\r\n",
        b"*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n-ASK 1 h:2\r\n",
        b"*3\r\n+\r\n+\r\n+\r\n",
    ] {
        every_prefix_is_incomplete(whole);
        reply(whole);
    }
}

#[test]
fn a_large_value_asks_for_all_of_itself_at_once() {
    // So the connection reads the whole value before parsing again.
    assert_eq!(parse(b"$1048576\r\nab"), Ok(Parsed::Incomplete { need: 10 + 1_048_576 + 2 }));
    assert_eq!(parse(b"*2\r\n:1\r\n$100\r\n"), Ok(Parsed::Incomplete { need: 14 + 100 + 2 }));
    // An array asks for 3 bytes an element before it allocates anything.
    assert_eq!(parse(b"*1000000\r\n"), Ok(Parsed::Incomplete { need: 10 + 3_000_000 }));
}

#[test]
fn only_the_first_reply_is_taken() {
    assert_eq!(parse(b":1\r\n:2\r\n"), Ok(Parsed::Reply(Reply::Int(1), 4)));
    assert_eq!(parse(b"$1\r\nx\r\n+OK"), Ok(Parsed::Reply(Reply::Bulk(b"x".to_vec()), 7)));
}

#[test]
fn malformed_input_is_refused() {
    for b in [b'!', b'%', b'_', b'#', b'x', b'\r', b'\n', 0, 0xff] {
        assert_eq!(err(&[b, b'\r', b'\n']), ProtocolError::BadType(b));
        // At once, without waiting for the rest of a line.
        assert_eq!(err(&[b]), ProtocolError::BadType(b));
    }
    assert_eq!(err(b"*1\r\n?\r\n:1\r\n"), ProtocolError::BadType(b'?'));
    assert_eq!(err(b"+O\rK\r\n"), ProtocolError::BadLine);
    // Numbers: digits only, one optional minus, within i64.
    for bad in [&b":\r\n"[..], b":-\r\n", b":+1\r\n", b": 1\r\n", b":1 \r\n", b":1.0\r\n", b":0x1\r\n", b":--1\r\n"] {
        assert_eq!(err(bad), ProtocolError::BadNumber, "{:?}", String::from_utf8_lossy(bad));
    }
    assert_eq!(err(b":9223372036854775808\r\n"), ProtocolError::BadNumber);
    assert_eq!(err(b":-9223372036854775809\r\n"), ProtocolError::BadNumber);
    assert_eq!(err(b":99999999999999999999999\r\n"), ProtocolError::BadNumber);
    assert_eq!(err(b"$abc\r\n"), ProtocolError::BadNumber);
    // Lengths: -1 is nil, below is wrong, and huge is refused before anything is allocated.
    assert_eq!(err(b"$-2\r\n"), ProtocolError::NegativeLength);
    assert_eq!(err(b"*-5\r\n"), ProtocolError::NegativeLength);
    assert_eq!(err(b"$-9223372036854775808\r\n"), ProtocolError::NegativeLength);
    assert_eq!(err(b"$536870913\r\n"), ProtocolError::BulkTooLarge);
    assert_eq!(err(b"$9223372036854775807\r\n"), ProtocolError::BulkTooLarge);
    assert_eq!(err(b"*1000001\r\n"), ProtocolError::ArrayTooLarge);
    assert_eq!(err(b"*9223372036854775807\r\n"), ProtocolError::ArrayTooLarge);
    assert!(matches!(parse(b"$536870912\r\n"), Ok(Parsed::Incomplete { .. })));
    // A bulk must end with CRLF right after its length.
    assert_eq!(err(b"$3\r\nabcd\r\n"), ProtocolError::BulkNotTerminated);
    assert_eq!(err(b"$3\r\nabc\n\r"), ProtocolError::BulkNotTerminated);
}

#[test]
fn lines_and_nesting_are_bounded() {
    let mut long = b"+".to_vec();
    long.extend(std::iter::repeat_n(b'a', MAX_LINE + 1));
    assert_eq!(err(&long), ProtocolError::LineTooLong);
    long.extend_from_slice(b"\r\n");
    assert_eq!(err(&long), ProtocolError::LineTooLong);
    let mut ok = b"+".to_vec();
    ok.extend(std::iter::repeat_n(b'a', MAX_LINE));
    assert!(matches!(parse(&ok), Ok(Parsed::Incomplete { .. })));
    ok.extend_from_slice(b"\r\n");
    assert_eq!(reply(&ok), Reply::Status(vec![b'a'; MAX_LINE]));

    let nested = |depth: usize| {
        let mut b = b"*1\r\n".repeat(depth);
        b.extend_from_slice(b":7\r\n");
        b
    };
    let mut r = reply(&nested(MAX_DEPTH));
    for _ in 0..MAX_DEPTH {
        let Reply::Array(mut items) = r else { panic!() };
        r = items.pop().unwrap();
    }
    assert_eq!(r, Reply::Int(7));
    assert_eq!(err(&nested(MAX_DEPTH + 1)), ProtocolError::TooDeep);
    // Deep without the end arrived yet: refused all the same, at the limit, not later.
    assert_eq!(err(&b"*1\r\n".repeat(100)), ProtocolError::TooDeep);
}

#[test]
fn errors_read_as_what_they_are() {
    let e: StoreError = ProtocolError::BadType(b'!').into();
    assert!(matches!(&e, StoreError::Connection(m) if m == "malformed reply from redis (type byte 0x21)"), "{e}");
    let e: StoreError = ProtocolError::LineTooLong.into();
    assert!(matches!(&e, StoreError::Connection(m) if m == "malformed reply from redis (line too long)"), "{e}");
}
