//! The command encoder's numbers, at the edges of its fast paths.
use super::*;

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
