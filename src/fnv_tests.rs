//! Known FNV-1a 64 values, and the Hasher agreeing with the function.
use super::*;
use std::hash::Hasher;

#[test]
fn known_values() {
    assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    let mut h = Fnv::default();
    h.write(b"foo");
    h.write(b"bar");
    assert_eq!(h.finish(), hash(b"foobar"));
}
