//! Fuzzes `cannon_session::config::parse_dsn` for a bounded time (see ../Cargo.toml):
//! grammar-built DSNs holding a known password (which must never come back in an error,
//! `redacted()` or `Debug`), mutations of them and of the seed corpus, and random bytes.
//!
//!   cargo run --release --bin fuzz_dsn -- --seconds 60 [--seed N] [--max-iters N]
//!   cargo run --release --bin fuzz_dsn -- --replay artifacts/fuzz_dsn/crash-...
use cannon_session_fuzz::*;

const DICT: &[&[u8]] = &[b"://", b"@", b":", b"/", b"?", b"&", b"=", b"%", b"[", b"]", b"%40", b"redis", b"mysql", b"timeout", b"table", b"prefix"];

fn main() {
    let accepted = |input: &[u8]| std::str::from_utf8(input).ok().is_some_and(|s| cannon_session::config::parse_dsn(s).is_ok());
    // The context: the password in the input, while it is still intact (mutations outside it
    // keep it a password; mutations that may cut through it do not).
    drive("fuzz_dsn", |input, secret| check_dsn(input, *secret), Some(SECRET), ("accepted", accepted), |rng, corpus| {
        match rng.below(10) {
            0..=4 => {
                let (d, pw) = gen_dsn(rng);
                (d.into_bytes(), pw.then_some(SECRET))
            }
            5 | 6 => {
                let (d, _) = gen_dsn(rng);
                (mutate(rng, d.as_bytes(), DICT), None)
            }
            7 | 8 if !corpus.is_empty() => {
                let seed = &corpus[rng.below(corpus.len())];
                (mutate(rng, seed, DICT), None)
            }
            _ => (rng.bytes(96), None),
        }
    });
}
