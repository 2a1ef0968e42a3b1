//! The text statements of the locked cycle: literals that cannot break out of their quotes.
use super::*;

const NAME: &str = "cs:0123456789abcdef0123456789abcdef01234567";

#[test]
fn ids_outside_the_alphabet_are_refused() {
    let s = Statements::new("t");
    for bad in ["", "a'b", "a\\b", "a\"b", "a b", "a;b", "a\0b", "a`b", "ä", "a\nb", "a_b", "a%b"] {
        assert!(s.lock_and_read(NAME, Duration::ZERO, bad, true).is_err(), "{bad:?}");
        assert!(s.upsert_and_release(bad, b"x", 60, NAME).is_err(), "{bad:?}");
        assert!(s.touch_and_release(bad, 60, NAME).is_err(), "{bad:?}");
    }
    let long = "a".repeat(257);
    assert!(s.touch_and_release(&long, 60, NAME).is_err());
    assert!(s.touch_and_release(&"a".repeat(256), 60, NAME).is_ok());
    assert!(s.touch_and_release("aZ09,-", 60, NAME).is_ok());
}

#[test]
fn lock_names_are_checked() {
    let s = Statements::new("t");
    for bad in ["", "cs:", "cs:x'", "xx:abcd", "cs:ab') OR ('1"] {
        assert!(s.lock_and_read(bad, Duration::ZERO, "abc", false).is_err(), "{bad:?}");
        assert!(s.upsert_and_release("abc", b"", 60, bad).is_err(), "{bad:?}");
    }
}

#[test]
fn texts() {
    let s = Statements::new("sess");
    assert_eq!(
        s.lock_and_read(NAME, Duration::from_millis(300), "abc", true).unwrap(),
        format!(
            "SELECT GET_LOCK('{NAME}', 0.300000); SELECT data FROM `sess` WHERE session_id = 'abc' \
             AND expires_at > UNIX_TIMESTAMP()"
        )
    );
    assert_eq!(
        s.lock_and_read(NAME, Duration::from_secs(1), "abc", false).unwrap(),
        format!("SELECT GET_LOCK('{NAME}', 1.000000)")
    );
    let w = s.upsert_and_release("abc", &[0, 0x27, 0x5c, 0xff], 60, NAME).unwrap();
    assert!(w.contains("VALUES ('abc', X'00275CFF', NOW(), UNIX_TIMESTAMP() + 60)"), "{w}");
    assert!(w.ends_with(&format!("; DO RELEASE_LOCK('{NAME}')")), "{w}");
    assert!(s.upsert_and_release("abc", b"", 1, NAME).unwrap().contains("X''"));
    assert_eq!(seconds_literal(Duration::from_nanos(1)), "0.000000");
    assert_eq!(seconds_literal(Duration::from_micros(12_345_678)), "12.345678");
}
