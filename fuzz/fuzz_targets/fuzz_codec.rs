//! Fuzzes the JSON session codec (`cannon_session::codec::json`) for a bounded time (see
//! ../Cargo.toml): `decode` of random bytes, grammar-built JSON and mutations of it and of the
//! seed corpus never panics, stays fast, and whatever it accepts round-trips through `encode`;
//! random session values that JSON can hold round-trip too.
//!
//!   cargo run --release --bin fuzz_codec -- --seconds 60 [--seed N] [--max-iters N]
//!   cargo run --release --bin fuzz_codec -- --replay artifacts/fuzz_codec/crash-...
use cannon_session::codec::{Key, Value};
use cannon_session_fuzz::*;

const DICT: &[&[u8]] = &[b"[", b"]", b"{", b"}", b"\"", b":", b",", b"\\u", b"\\ud83d", b"1e400", b"-0", b"null", b"666"];

/// The context: a generated value (the input is then its Debug text) that must round-trip, or
/// `None` for bytes to decode.
fn check(input: &[u8], value: &Option<Value>) -> Result<(), String> {
    match value {
        Some(v) => round_trip(v).map_err(|why| format!("value round trip: {why}")),
        None => check_codec(input),
    }
}

fn main() {
    let decoded = |input: &[u8]| cannon_session::codec::json::decode(input).is_ok();
    drive("fuzz_codec", check, None, ("decoded", decoded), |rng, corpus| {
        if rng.chance(5) {
            // encode side: a value JSON can hold must come back as it was.
            let v = match gen_value(rng, 0) {
                v @ Value::Array(_) => v,
                other => Value::Array(vec![(Key::Int(0), other)]),
            };
            return (format!("{v:?}").into_bytes(), Some(v));
        }
        let input = match rng.below(10) {
            0..=3 => {
                let mut s = String::new();
                gen_json(rng, 0, &mut s);
                s.into_bytes()
            }
            4..=6 => {
                let mut s = String::new();
                gen_json(rng, 0, &mut s);
                mutate(rng, s.as_bytes(), DICT)
            }
            7 | 8 if !corpus.is_empty() => {
                let seed = &corpus[rng.below(corpus.len())];
                mutate(rng, seed, DICT)
            }
            _ => rng.bytes(128),
        };
        (input, None)
    });
}
