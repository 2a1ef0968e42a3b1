//! Fuzzes the JSON session codec (`cannon_session::codec::json`) for a bounded time (see
//! ../Cargo.toml): `decode` of random bytes, grammar-built JSON and mutations of it and of the
//! seed corpus never panics, stays fast, and whatever it accepts round-trips through `encode`;
//! random session values that JSON can hold round-trip too.
//!
//!   cargo run --release --bin fuzz_codec -- --seconds 60 [--seed N] [--max-iters N]
//!   cargo run --release --bin fuzz_codec -- --replay artifacts/fuzz_codec/crash-...
use cannon_session_fuzz::*;
use std::time::{Duration, Instant};

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let o = Options::from_args();
    if !o.replay.is_empty() {
        let mut bad = 0;
        for f in &o.replay {
            let input = std::fs::read(f).expect("read the replay file");
            let r = guarded(|| check_codec(&input));
            println!("{f}: {r:?}");
            bad += r.is_err() as i32;
        }
        std::process::exit(bad);
    }
    let mut rng = Rng::new(o.seed);
    let corpus = corpus("codec");
    let dict: Vec<&[u8]> = vec![b"[", b"]", b"{", b"}", b"\"", b":", b",", b"\\u", b"\\ud83d", b"1e400", b"-0", b"null", b"666"];
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(o.seconds);
    let (mut iters, mut failures, mut accepted) = (0u64, 0u64, 0u64);
    while iters < o.max_iters && (iters % 256 != 0 || Instant::now() < deadline) {
        iters += 1;
        if rng.chance(5) {
            // encode side: a value JSON can hold must come back as it was.
            let v = match gen_value(&mut rng, 0) {
                v @ cannon_session::codec::Value::Array(_) => v,
                other => cannon_session::codec::Value::Array(vec![(cannon_session::codec::Key::Int(0), other)]),
            };
            if let Err(why) = guarded(|| round_trip(&v)) {
                failures += 1;
                let text = format!("{v:?}");
                let path = save_failure("fuzz_codec", text.as_bytes(), &format!("value round trip: {why}"));
                println!("FAILURE {why}\n  value {text}\n  saved {path}");
            }
            continue;
        }
        let input: Vec<u8> = match rng.below(10) {
            0..=3 => {
                let mut s = String::new();
                gen_json(&mut rng, 0, &mut s);
                s.into_bytes()
            }
            4..=6 => {
                let mut s = String::new();
                gen_json(&mut rng, 0, &mut s);
                mutate(&mut rng, s.as_bytes(), &dict)
            }
            7 | 8 if !corpus.is_empty() => {
                let seed = corpus[rng.below(corpus.len())].clone();
                mutate(&mut rng, &seed, &dict)
            }
            _ => rng.bytes(128),
        };
        match guarded(|| check_codec(&input)) {
            Ok(()) => accepted += cannon_session::codec::json::decode(&input).is_ok() as u64,
            Err(why) => {
                failures += 1;
                let path = save_failure("fuzz_codec", &input, &why);
                println!("FAILURE {why}\n  input {:?}\n  saved {path}", String::from_utf8_lossy(&input[..input.len().min(300)]));
            }
        }
        if failures >= 10 {
            break;
        }
    }
    println!(
        "fuzz_codec: {iters} inputs ({accepted} decoded) in {:.1} s, seed {}, {failures} failures",
        started.elapsed().as_secs_f64(),
        o.seed
    );
    std::process::exit(if failures == 0 { 0 } else { 1 });
}
