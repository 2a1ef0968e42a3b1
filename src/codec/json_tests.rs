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
