use super::*;

#[test]
fn generated_ids_are_valid_and_distinct() {
    let a = generate(32).unwrap();
    let b = generate(32).unwrap();
    assert_eq!(a.len(), 32);
    assert!(is_well_formed(a.as_bytes()));
    assert_ne!(a, b);
    assert_eq!(generate(5).unwrap().len(), MIN_LEN);
    assert_eq!(generate(1000).unwrap().len(), MAX_LEN);
}

#[test]
fn hostile_ids_are_rejected() {
    for id in [
        &b""[..], b"../../etc/passwd", b"abc\0def", b"a*", b"{x}", b"a\r\nb", b"' OR 1=1 --", "caf\u{e9}".as_bytes(),
        b"a b", b"a:b", b"a/b",
    ] {
        assert!(!is_valid(id), "{id:?}");
    }
    assert!(!is_valid(&[b'a'; 257]));
    assert!(is_valid(&[b'a'; 256]));
    assert!(is_valid(b"abc,-XYZ09"));
    assert!(!is_well_formed(b"short"));
}
