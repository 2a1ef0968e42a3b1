//! Fuzzes the Redis reply parser and command encoder (`cannon_session::store::redis::resp`) for
//! a bounded time (see ../Cargo.toml): well-formed replies built from the grammar, mutations of
//! them and of the seed corpus, random bytes, and random commands encoded and parsed back.
//! What `check_resp` holds for each is in ../src/lib.rs.
//!
//!   cargo run --release --bin fuzz_resp -- --seconds 60 [--seed N] [--max-iters N]
//!   cargo run --release --bin fuzz_resp -- --replay artifacts/fuzz_resp/crash-...
use cannon_session::store::redis::resp::{self, Parsed};
use cannon_session_fuzz::*;
use std::time::{Duration, Instant};

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let o = Options::from_args();
    if !o.replay.is_empty() {
        let mut bad = 0;
        for f in &o.replay {
            let input = std::fs::read(f).expect("read the replay file");
            let r = guarded(|| check_resp(&input));
            println!("{f}: {r:?}");
            bad += r.is_err() as i32;
        }
        std::process::exit(bad);
    }
    let mut rng = Rng::new(o.seed);
    let corpus = corpus("resp");
    let dict: Vec<&[u8]> = vec![b"\r\n", b"\r", b"\n", b"*", b"$", b"+", b"-", b":", b"-1", b"*1\r\n", b"$3\r\n", b"MOVED 1 h:1", b"9223372036854775808", b"0"];
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(o.seconds);
    let (mut iters, mut failures, mut whole) = (0u64, 0u64, 0u64);
    while iters < o.max_iters && (iters % 256 != 0 || Instant::now() < deadline) {
        iters += 1;
        if rng.chance(8) {
            let args: Vec<Vec<u8>> = (0..rng.below(6)).map(|_| rng.bytes(30)).collect();
            if let Err(why) = guarded(|| check_encode(&args)) {
                failures += 1;
                let path = save_failure("fuzz_resp", &args.concat(), &format!("encode round trip of {args:?}: {why}"));
                println!("FAILURE {why}\n  saved {path}");
            }
            continue;
        }
        let input: Vec<u8> = match rng.below(10) {
            0..=3 => {
                let mut b = Vec::new();
                gen_reply(&mut rng, 0, &mut b);
                if rng.chance(3) {
                    gen_reply(&mut rng, 0, &mut b); // a pipeline's next reply behind it
                }
                b
            }
            4..=6 => {
                let mut b = Vec::new();
                gen_reply(&mut rng, 0, &mut b);
                mutate(&mut rng, &b, &dict)
            }
            7 | 8 if !corpus.is_empty() => {
                let seed = corpus[rng.below(corpus.len())].clone();
                mutate(&mut rng, &seed, &dict)
            }
            _ => rng.bytes(64),
        };
        match guarded(|| check_resp(&input)) {
            Ok(()) => whole += matches!(resp::parse(&input), Ok(Parsed::Reply(..))) as u64,
            Err(why) => {
                failures += 1;
                let path = save_failure("fuzz_resp", &input, &why);
                println!("FAILURE {why}\n  input {:?}\n  saved {path}", String::from_utf8_lossy(&input[..input.len().min(300)]));
            }
        }
        if failures >= 10 {
            break;
        }
    }
    println!(
        "fuzz_resp: {iters} inputs ({whole} whole replies) in {:.1} s, seed {}, {failures} failures",
        started.elapsed().as_secs_f64(),
        o.seed
    );
    std::process::exit(if failures == 0 { 0 } else { 1 });
}
