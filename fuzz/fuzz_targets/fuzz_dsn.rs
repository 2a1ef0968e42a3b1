//! Fuzzes `cannon_session::config::parse_dsn` for a bounded time (see ../Cargo.toml):
//! grammar-built DSNs holding a known password (which must never come back in an error,
//! `redacted()` or `Debug`), mutations of them and of the seed corpus, and random bytes.
//!
//!   cargo run --release --bin fuzz_dsn -- --seconds 60 [--seed N] [--max-iters N]
//!   cargo run --release --bin fuzz_dsn -- --replay artifacts/fuzz_dsn/crash-...
use cannon_session_fuzz::*;
use std::time::{Duration, Instant};

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let o = Options::from_args();
    if !o.replay.is_empty() {
        let mut bad = 0;
        for f in &o.replay {
            let input = std::fs::read(f).expect("read the replay file");
            let r = guarded(|| check_dsn(&input, Some(SECRET)));
            println!("{f}: {r:?}");
            bad += r.is_err() as i32;
        }
        std::process::exit(bad);
    }
    let mut rng = Rng::new(o.seed);
    let corpus = corpus("dsn");
    let dict: Vec<&[u8]> = vec![b"://", b"@", b":", b"/", b"?", b"&", b"=", b"%", b"[", b"]", b"%40", b"redis", b"mysql", b"timeout", b"table", b"prefix"];
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(o.seconds);
    let (mut iters, mut failures, mut accepted) = (0u64, 0u64, 0u64);
    while iters < o.max_iters && (iters % 256 != 0 || Instant::now() < deadline) {
        iters += 1;
        // What we generate, and whether the password in it is still intact (mutations outside
        // it keep it a password; mutations that may cut through it do not).
        let (input, secret): (Vec<u8>, Option<&str>) = match rng.below(10) {
            0..=4 => {
                let (d, pw) = gen_dsn(&mut rng);
                (d.into_bytes(), pw.then_some(SECRET))
            }
            5 | 6 => {
                let (d, _) = gen_dsn(&mut rng);
                (mutate(&mut rng, d.as_bytes(), &dict), None)
            }
            7 | 8 if !corpus.is_empty() => {
                let seed = rng_pick(&mut rng, &corpus);
                (mutate(&mut rng, seed, &dict), None)
            }
            _ => (rng.bytes(96), None),
        };
        let r = guarded(|| check_dsn(&input, secret));
        if let Err(why) = r {
            failures += 1;
            let path = save_failure("fuzz_dsn", &input, &why);
            println!("FAILURE {why}\n  input {:?}\n  saved {path}", String::from_utf8_lossy(&input));
            if failures >= 10 {
                break;
            }
        } else if std::str::from_utf8(&input).ok().is_some_and(|s| cannon_session::config::parse_dsn(s).is_ok()) {
            accepted += 1;
        }
    }
    println!(
        "fuzz_dsn: {iters} inputs ({accepted} accepted) in {:.1} s, seed {}, {failures} failures",
        started.elapsed().as_secs_f64(),
        o.seed
    );
    std::process::exit(if failures == 0 { 0 } else { 1 });
}

fn rng_pick<'a>(rng: &mut Rng, items: &'a [Vec<u8>]) -> &'a [u8] {
    &items[rng.below(items.len())]
}
