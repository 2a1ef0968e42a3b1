//! Fuzzes the Redis reply parser and command encoder (`cannon_session::store::redis::resp`) for
//! a bounded time (see ../Cargo.toml): well-formed replies built from the grammar (alone or with
//! a pipeline's next reply behind), mutations of them and of the seed corpus, and random bytes.
//! What holds for each input is `check_resp_and_encode` in ../src/lib.rs.
//!
//!   cargo run --release --bin fuzz_resp -- --seconds 60 [--seed N] [--max-iters N]
//!   cargo run --release --bin fuzz_resp -- --replay artifacts/fuzz_resp/crash-...
use cannon_session::store::redis::resp::{self, Parsed};
use cannon_session_fuzz::*;

const DICT: &[&[u8]] = &[
    b"\r\n", b"\r", b"\n", b"*", b"$", b"+", b"-", b":", b"-1", b"*1\r\n", b"$3\r\n", b"MOVED 1 h:1", b"9223372036854775808", b"0",
];

fn main() {
    let whole = |input: &[u8]| matches!(resp::parse(input), Ok(Parsed::Reply(..)));
    drive("fuzz_resp", |input, _| check_resp_and_encode(input), (), ("whole replies", whole), |rng, corpus| {
        let input = match rng.below(10) {
            0..=3 => {
                let mut b = Vec::new();
                gen_reply(rng, 0, &mut b);
                if rng.chance(3) {
                    gen_reply(rng, 0, &mut b); // a pipeline's next reply behind it
                }
                b
            }
            4..=6 => {
                let mut b = Vec::new();
                gen_reply(rng, 0, &mut b);
                mutate(rng, &b, DICT)
            }
            7 | 8 if !corpus.is_empty() => {
                let seed = &corpus[rng.below(corpus.len())];
                mutate(rng, seed, DICT)
            }
            _ => rng.bytes(64),
        };
        (input, ())
    });
}
