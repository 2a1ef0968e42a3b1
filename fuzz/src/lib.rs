//! Properties checked by the fuzz targets, plus a small deterministic random generator.
//!
//! Each `check_*` takes one input and returns `Err(description)` when a property does not
//! hold. A panic inside the code under test is caught by the driver (`run`) and counts as a
//! failure too.
use cannon_session::codec::json;
use cannon_session::codec::{Key, Value};
use cannon_session::config::{parse_dsn, Backend, RedisAddr, RedisTopology};
use cannon_session::store::error::ServerErrorKind;
use cannon_session::store::redis::resp::{self, Parsed, Reply};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// xorshift64*: deterministic for a seed, so a run can be replayed exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// 0..n (n > 0)
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Byte-level mutations: flips, inserts, deletions, splices, truncation, repetition.
pub fn mutate(rng: &mut Rng, input: &[u8], dict: &[&[u8]]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            1 => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i + 1).min(16);
                v.drain(i..i + n);
            }
            3 if !dict.is_empty() => {
                let i = rng.below(len + 1);
                let word = dict[rng.below(dict.len())];
                v.splice(i..i, word.iter().copied());
            }
            4 if len > 0 => v.truncate(rng.below(len)),
            5 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(64) + 1);
                let chunk: Vec<u8> = v[i..i + n].to_vec();
                for _ in 0..1 + rng.below(8) {
                    v.splice(i..i, chunk.iter().copied());
                }
            }
            _ => {
                let i = rng.below(len + 1);
                v.insert(i, *rng.pick(b"\"\\{}[]:,@?&=/%0-9eE.+ \x00\xff"));
            }
        }
    }
    v
}

// ------------------------------------------------------------------------------------ DSN

/// The password every generated DSN uses; it must never come back in a message or a dump.
pub const SECRET: &str = "Zq7-S3cr3t:p@ss/w%rd";

/// Percent-encodes everything but unreserved characters.
pub fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// No password in what the parser returns: its error, or the parsed config's redacted form
/// and Debug output. Also sanity of what it accepts.
pub fn check_dsn(input: &[u8], secret: Option<&str>) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Ok(()); // PHP hands us strings; parse_dsn takes &str.
    };
    let started = Instant::now();
    let r = parse_dsn(text);
    if started.elapsed() > Duration::from_millis(200) {
        return Err(format!("parse_dsn took {:?}", started.elapsed()));
    }
    let leak = |what: &str, s: &str| -> Result<(), String> {
        if let Some(sec) = secret {
            // The password, percent-encoded or not, or any 8 characters of it.
            for form in [sec.to_string(), pct(sec)] {
                let b = form.as_bytes();
                for w in b.windows(8.min(b.len())) {
                    if s.as_bytes().windows(w.len()).any(|x| x == w) {
                        return Err(format!("{what} contains (part of) the password: {s}"));
                    }
                }
            }
        }
        Ok(())
    };
    match r {
        Err(e) => {
            leak("the error", &e.0)?;
            if e.0.is_empty() {
                return Err("an empty error message".into());
            }
        }
        Ok(cfg) => {
            leak("redacted()", &cfg.redacted())?;
            leak("Debug", &format!("{cfg:?}"))?;
            if cfg.timeout.is_zero() || cfg.connect_timeout.is_zero() {
                return Err(format!("accepted a zero timeout: {cfg:?}"));
            }
            if cfg.max_size < 1024 {
                return Err(format!("accepted max_size {}", cfg.max_size));
            }
            match &cfg.backend {
                Backend::Redis(r) => {
                    if r.db < 0 {
                        return Err(format!("accepted db {}", r.db));
                    }
                    if let RedisAddr::Tcp { host, port } = &r.addr {
                        if *port == 0 || host.is_empty() {
                            return Err(format!("accepted host {host:?} port {port}"));
                        }
                    }
                    if r.wait_timeout.is_zero() {
                        return Err("accepted wait_timeout 0 (WAIT would block for ever)".into());
                    }
                    let hosts = match &r.topology {
                        RedisTopology::Single => &[][..],
                        RedisTopology::Sentinel { sentinels, service, .. } => {
                            if service.is_empty() || service.chars().any(char::is_whitespace) {
                                return Err(format!("accepted service {service:?}"));
                            }
                            &sentinels[..]
                        }
                        RedisTopology::Cluster { seeds } => {
                            if r.db != 0 {
                                return Err(format!("accepted db {} on a cluster", r.db));
                            }
                            if cfg.prefix.as_deref().is_some_and(|p| p.contains('{') || p.contains('}')) {
                                return Err("accepted a brace in a cluster prefix".into());
                            }
                            &seeds[..]
                        }
                    };
                    if r.topology != RedisTopology::Single && hosts.is_empty() {
                        return Err("accepted an empty host list".into());
                    }
                    if let Some((h, p)) = hosts.iter().find(|(h, p)| h.is_empty() || *p == 0) {
                        return Err(format!("accepted host {h:?} port {p} in a list"));
                    }
                }
                Backend::Mysql(m) => {
                    for (field, name) in [("table", &m.table), ("dbname", &m.dbname)] {
                        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                            return Err(format!("accepted {field} {name:?}"));
                        }
                    }
                    if m.port == 0 {
                        return Err("accepted port 0".into());
                    }
                }
            }
        }
    }
    Ok(())
}

const SCHEMES: &[&str] = &[
    "redis", "rediss", "redis+unix", "unix", "tcp", "tls", "mysql", "mariadb", "REDIS", "memcached", "", "http", "redis+",
    "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster", "REDIS+CLUSTER",
];
const OPTIONS: &[&str] = &[
    "prefix", "db", "database", "connect_timeout", "timeout", "read_timeout", "lock", "locking", "lock_ttl",
    "lock_wait_timeout", "lock_fail", "max_size", "serializer", "user", "username", "table", "socket",
    "auto_create", "dbname", "password_env", "password_file", "tls_ca", "tls_cert", "tls_key", "tls_verify",
    "tls_server_name", "colour", "password", "", "PREFIX", "wait", "wait_timeout", "sentinel_user",
    "sentinel_password", "sentinel_password_env", "sentinel_password_file", "sentinel_tls", "seed[]", "auth",
    "auth[]", "failover", "persistent", "stream[verify_peer]",
];
const VALUES: &[&str] = &[
    "0", "1", "-1", "1.5", "0.0001", "abc", "", "NaN", "inf", "1e308", "86400", "86401", "yes", "off",
    "readonly", "fail", "php", "json", "x'y", "x`y", "sess_1", "16777216", "1023", "99999999999999999999",
    "%", "%zz", "%41", "a&b", "a=b", "/tmp/x", "CANNON_NO_SUCH_ENV", "1e-10", "0.0000000001", "-0",
    "100", "60001", "127.0.0.1:7000", "h:0", "[::1]:7001", "error", "distribute", "a{b}",
];
const HOSTS: &[&str] = &["127.0.0.1", "localhost", "[::1]", "[::1", "::1", "", "h", "a b", "ex@mple", "db.local", "[fe80::1%25lo]", "x?y"];
const PORTS: &[&str] = &["", ":6379", ":0", ":70000", ":65535", ":1", ":-1", ":abc", ":", ":99999999999"];

/// A DSN built from parts, some of them bad, with SECRET as the password (when there is one).
pub fn gen_dsn(rng: &mut Rng) -> (String, bool) {
    let scheme = rng.pick(SCHEMES);
    let mut s = format!("{scheme}://");
    let with_pw = rng.below(3) > 0;
    if with_pw {
        if rng.chance(2) {
            s.push_str(rng.word(&["app", "u%40x", "", "bob"]));
        }
        s.push(':');
        s.push_str(&pct(SECRET));
        s.push('@');
    }
    let topology = scheme.contains("+sentinel") || scheme.to_ascii_lowercase().contains("+cluster");
    if scheme.to_ascii_lowercase().contains("+cluster") && rng.chance(3) {
        // phpredis' rediscluster save_path form.
        for i in 0..rng.below(4) {
            s.push_str(if i == 0 { "" } else { "&" });
            s.push_str(&format!("seed[]={}{}", rng.word(HOSTS), rng.word(PORTS)));
        }
        for _ in 0..rng.below(4) {
            s.push('&');
            s.push_str(rng.word(OPTIONS));
            s.push('=');
            s.push_str(rng.word(VALUES));
        }
        let pw = with_pw && rng.chance(2);
        if pw {
            s.push_str(rng.word(&["&auth=", "&auth[]=user&auth[]=", "&auth[pass]="]));
            s.push_str(&pct(SECRET));
        }
        // The authority's password, put there above, is not part of this form.
        return (s.replacen(&format!(":{}@", pct(SECRET)), "", 1), pw);
    }
    if topology {
        for i in 0..1 + rng.below(3) {
            if i > 0 {
                s.push(',');
            }
            s.push_str(rng.word(HOSTS));
            s.push_str(rng.word(PORTS));
        }
        if scheme.contains("+sentinel") {
            s.push_str(rng.word(&["/mymaster", "/mymaster/2", "/", "", "/my master", "/m/x", "/m/1/2"]));
        } else if rng.chance(3) {
            s.push_str(rng.word(&["/0", "/1", "/"]));
        }
    } else if scheme.contains("unix") {
        s.push_str(rng.word(&["/run/redis.sock", "relative.sock", "", "/"]));
    } else {
        s.push_str(rng.word(HOSTS));
        s.push_str(rng.word(PORTS));
        match rng.below(4) {
            0 => {}
            1 => s.push_str(&format!("/{}", rng.pick(&["0", "3", "-1", "test", "te'st", "", "100001", "a/b"]))),
            _ => s.push('/'),
        }
    }
    let n = rng.below(5);
    for i in 0..n {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(rng.word(OPTIONS));
        if !rng.chance(8) {
            s.push('=');
            s.push_str(rng.word(VALUES));
        }
    }
    if topology && rng.chance(2) {
        // The sentinels' password: as secret as the data nodes'.
        s.push(if n == 0 { '?' } else { '&' });
        s.push_str("sentinel_password=");
        s.push_str(&pct(SECRET));
        return (s, true);
    }
    (s, with_pw)
}

/// `f(input)`, failing when it takes longer than linear time (20 ms + 200 ns a byte) allows
/// three times in a row: `f` is deterministic, so a slow input is slow every time, while a
/// busy machine (the process descheduled) makes single runs slow at random.
fn linear_time<T>(what: &str, input: &[u8], f: impl Fn(&[u8]) -> T) -> Result<T, String> {
    let bound = Duration::from_millis(20) + Duration::from_nanos(200 * input.len() as u64);
    let mut took = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let r = f(input);
        let t = started.elapsed();
        if t <= bound {
            return Ok(r);
        }
        took.push(t);
    }
    Err(format!("{what} of {} bytes took {took:?}", input.len()))
}

// ----------------------------------------------------------------------------------- JSON

/// decode never panics; whatever it accepts encodes again and decodes to the same value.
pub fn check_codec(input: &[u8]) -> Result<(), String> {
    let decoded = linear_time("decode", input, json::decode)?;
    let Ok(v) = decoded else { return Ok(()) };
    if !matches!(v, Value::Array(_)) {
        return Err(format!("decode returned a non-array: {v:?}"));
    }
    round_trip(&v)
}

/// encode(v) decodes back to v, and encoding is stable.
pub fn round_trip(v: &Value) -> Result<(), String> {
    let e = json::encode(v).map_err(|e| format!("decoded value does not encode: {e}"))?;
    let back = json::decode(&e).map_err(|err| format!("encoded value does not decode: {err}: {}", String::from_utf8_lossy(&e)))?;
    if &back != v {
        return Err(format!("round trip changed the value: {v:?} -> {}", String::from_utf8_lossy(&e)));
    }
    let e2 = json::encode(&back).map_err(|e| e.to_string())?;
    if e2 != e {
        return Err("encoding is not stable".into());
    }
    Ok(())
}

/// A random session value that JSON can hold: valid UTF-8, finite floats, unique keys
/// normalised as PHP does, bounded depth.
pub fn gen_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 6 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(2)),
        2 => {
            let r = rng.next() as i64;
            Value::Int(*rng.pick(&[0, 1, -1, i64::MAX, i64::MIN, 666, r]))
        }
        3 => {
            let f = f64::from_bits(rng.next());
            Value::Float(if f.is_finite() { f } else { *rng.pick(&[0.5, -0.0, 1e300, 5e-324, 1.0]) })
        }
        4 | 5 => Value::Str(gen_string(rng).into_bytes()),
        _ => {
            let n = rng.below(6);
            let mut entries: Vec<(Key, Value)> = Vec::new();
            let list = rng.chance(2);
            for i in 0..n {
                let key = if list { Key::Int(i as i64) } else { gen_key(rng) };
                if entries.iter().any(|(k, _)| *k == key) {
                    continue;
                }
                entries.push((key, gen_value(rng, depth + 1)));
            }
            Value::Array(entries)
        }
    }
}

fn gen_key(rng: &mut Rng) -> Key {
    match rng.below(3) {
        0 => {
            let r = rng.next() as i64;
            Key::Int(*rng.pick(&[0, 5, -3, 666, i64::MAX, r]))
        }
        _ => Key::from_bytes(gen_string(rng).into_bytes()),
    }
}

fn gen_string(rng: &mut Rng) -> String {
    let pieces = ["", "a", "666", "-0", "01", "+1", " 1", "é", "日本", "\u{1F600}", "\"", "\\", "\n", "\u{0}", "\u{7f}", "\u{2028}", "</script>", "9223372036854775808", "-9223372036854775808"];
    let n = rng.below(4);
    (0..n).map(|_| rng.word(&pieces)).collect()
}

/// Grammar-built JSON text, valid or nearly so (deep nesting, odd numbers, escapes).
pub fn gen_json(rng: &mut Rng, depth: usize, out: &mut String) {
    match rng.below(if depth > 8 { 5 } else { 8 }) {
        0 => out.push_str(rng.word(&["null", "true", "false", "nul", "tru"])),
        1 => out.push_str(rng.word(&["0", "-0", "1.0", "1e400", "-1e400", "1E2", "99999999999999999999", "-9223372036854775809", "0.1", "1.", ".5", "01", "-", "5e-324", "2.2250738585072014e-308", "1e-400"])),
        2 | 3 => {
            out.push('"');
            for _ in 0..rng.below(5) {
                out.push_str(rng.word(&["a", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\ud83d", "\\ude00", "\\u0000", "\\x", "é", "\\\"", "666"]));
            }
            out.push('"');
        }
        4 => {
            let deep = 1 + rng.below(600);
            out.push_str(&"[".repeat(deep));
            out.push_str(&"]".repeat(if rng.chance(4) { deep - 1 } else { deep }));
        }
        5 | 6 => {
            out.push('[');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                gen_json(rng, depth + 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(rng.word(&["\"a\"", "\"666\"", "\"-0\"", "\"01\"", "\"0\"", "\"1\"", "\"\"", "\"a\""]));
                out.push(':');
                gen_json(rng, depth + 1, out);
            }
            out.push('}');
        }
    }
}

// ----------------------------------------------------------------------------------- RESP

/// The Redis reply parser on any bytes: never panics, stays fast, and is consistent with itself:
/// a reply parsed from a buffer parses the same from just its own bytes, and from none of its
/// strict prefixes (each asking for no more bytes than the reply has); an incomplete buffer
/// asks for more than it holds; a redirection error always carries its slot and node.
pub fn check_resp(input: &[u8]) -> Result<(), String> {
    let parsed = linear_time("parse", input, resp::parse)?;
    match parsed {
        Err(_) => Ok(()),
        Ok(Parsed::Incomplete { need }) if need > input.len() => Ok(()),
        Ok(Parsed::Incomplete { need }) => Err(format!("incomplete, but asks for {need} bytes of the {} it has", input.len())),
        Ok(Parsed::Reply(_, used)) if used == 0 || used > input.len() => Err(format!("took {used} bytes of {}", input.len())),
        Ok(Parsed::Reply(reply, used)) => {
            redirects_carried(&reply)?;
            let alone = resp::parse(&input[..used]);
            if alone != Ok(Parsed::Reply(reply.clone(), used)) {
                return Err(format!("the reply's own {used} bytes parse as {alone:?}, not {reply:?}"));
            }
            // Every prefix for a small reply, some for a large one (each parse is linear).
            let step = (used / 64).max(1);
            for cut in (0..used).step_by(step).chain([used - 1]) {
                match resp::parse(&input[..cut]) {
                    Ok(Parsed::Incomplete { need }) if need > cut && need <= used => {}
                    other => return Err(format!("the first {cut} of the reply's {used} bytes: {other:?}")),
                }
            }
            Ok(())
        }
    }
}

fn redirects_carried(r: &Reply) -> Result<(), String> {
    match r {
        Reply::Error(e) => {
            let redirecting = matches!(e.kind, ServerErrorKind::Moved | ServerErrorKind::Ask);
            match &e.redirect {
                Some(to) if redirecting && to.slot < 16384 && e.message.contains(&to.addr) => Ok(()),
                None if !redirecting => Ok(()),
                other => Err(format!("{:?} with redirect {other:?}: {:?}", e.kind, e.message)),
            }
        }
        Reply::Array(items) => items.iter().try_for_each(redirects_carried),
        _ => Ok(()),
    }
}

/// The input parses as `check_resp` wants, and, split at newlines into a command's arguments,
/// encodes to an array of the same bulk strings that parses back whole.
pub fn check_resp_and_encode(input: &[u8]) -> Result<(), String> {
    check_resp(input)?;
    let args: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let mut out = Vec::new();
    resp::encode(&args, &mut out);
    let want = Reply::Array(args.iter().map(|a| Reply::Bulk(a.to_vec())).collect());
    match resp::parse(&out) {
        Ok(Parsed::Reply(r, used)) if r == want && used == out.len() => check_resp(&out),
        other => Err(format!("{args:?} encoded as {:?}, parsed as {other:?}", String::from_utf8_lossy(&out))),
    }
}

/// A well-formed reply (sometimes nested, sometimes with odd but legal contents).
pub fn gen_reply(rng: &mut Rng, depth: usize, out: &mut Vec<u8>) {
    match rng.below(if depth >= 4 { 5 } else { 7 }) {
        0 => {
            out.push(b'+');
            out.extend_from_slice(rng.word(&["OK", "", "QUEUED", "PONG", "a b c"]).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        1 => {
            out.push(b'-');
            let r = rng.next() % 20000;
            let slot = *rng.pick(&[0u64, 3999, 16383, 16384, 99999, r]);
            let err = match rng.below(6) {
                0 => format!("MOVED {slot} 127.0.0.1:{}", rng.below(70000)),
                1 => format!("ASK {slot} {}:7001", rng.word(&["::1", "", "h", "10.0.0.1"])),
                2 => format!("{} {slot}", rng.word(&["MOVED", "ASK"])),
                _ => rng.word(&["ERR syntax error", "ERR unknown command 'GETEX'", "NOSCRIPT x", "OOM y", "LOADING z", "WRONGPASS", "", "READONLY r"]).to_string(),
            };
            out.extend_from_slice(err.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        2 => {
            let r = rng.next() as i64;
            let n = *rng.pick(&[0i64, 1, -1, i64::MAX, i64::MIN, r]);
            out.extend_from_slice(format!(":{n}\r\n").as_bytes());
        }
        3 => out.extend_from_slice(rng.word(&["$-1\r\n", "*-1\r\n", "*0\r\n", "$0\r\n\r\n"]).as_bytes()),
        4 => {
            let data = if rng.chance(20) { vec![b'x'; rng.below(300_000)] } else { rng.bytes(40) };
            out.extend_from_slice(format!("${}\r\n", data.len()).as_bytes());
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\r\n");
        }
        _ => {
            let n = rng.below(5);
            out.extend_from_slice(format!("*{n}\r\n").as_bytes());
            for _ in 0..n {
                gen_reply(rng, depth + 1, out);
            }
        }
    }
}

// --------------------------------------------------------------------------------- driver

pub struct Options {
    pub seconds: f64,
    pub seed: u64,
    pub max_iters: u64,
    pub replay: Vec<String>,
}

impl Options {
    pub fn from_args() -> Options {
        let mut o = Options { seconds: 30.0, seed: 0, max_iters: u64::MAX, replay: Vec::new() };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--seconds" => o.seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(30.0),
                "--seed" => o.seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
                "--max-iters" => o.max_iters = args.next().and_then(|v| v.parse().ok()).unwrap_or(u64::MAX),
                "--replay" => o.replay.extend(args.next()),
                other => {
                    eprintln!("unknown argument {other}: use --seconds N --seed N --max-iters N --replay FILE");
                    std::process::exit(2);
                }
            }
        }
        if o.seed == 0 {
            o.seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        }
        o
    }
}

/// The loop of a target: with `--replay`, `check` on the files named (with `replay` as its
/// context); otherwise `check` on inputs from `next` (given the seed corpus of
/// `corpus/<name>/`), each with the context `next` gives, until the time is up; failing inputs
/// are saved. `counted` names and tells the passing inputs the summary counts. Exits 0 when
/// nothing failed.
pub fn drive<T>(
    target: &str,
    check: fn(&[u8], &T) -> Result<(), String>,
    replay: T,
    counted: (&str, fn(&[u8]) -> bool),
    mut next: impl FnMut(&mut Rng, &[Vec<u8>]) -> (Vec<u8>, T),
) -> ! {
    std::panic::set_hook(Box::new(|_| {}));
    let o = Options::from_args();
    if !o.replay.is_empty() {
        let mut bad = 0;
        for f in &o.replay {
            let input = std::fs::read(f).expect("read the replay file");
            let r = guarded(|| check(&input, &replay));
            println!("{f}: {r:?}");
            bad += r.is_err() as i32;
        }
        std::process::exit(bad);
    }
    let mut rng = Rng::new(o.seed);
    let corpus = corpus(target.trim_start_matches("fuzz_"));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(o.seconds);
    let (mut iters, mut failures, mut count) = (0u64, 0u64, 0u64);
    while iters < o.max_iters && failures < 10 && (iters % 256 != 0 || Instant::now() < deadline) {
        iters += 1;
        let (input, context) = next(&mut rng, &corpus);
        match guarded(|| check(&input, &context)) {
            Ok(()) => count += counted.1(&input) as u64,
            Err(why) => {
                failures += 1;
                let path = save_failure(target, &input, &why);
                println!("FAILURE {why}\n  input {:?}\n  saved {path}", String::from_utf8_lossy(&input[..input.len().min(300)]));
            }
        }
    }
    println!(
        "{target}: {iters} inputs ({count} {}) in {:.1} s, seed {}, {failures} failures",
        counted.0,
        started.elapsed().as_secs_f64(),
        o.seed
    );
    std::process::exit(if failures == 0 { 0 } else { 1 });
}

/// Runs one check, turning a panic into a failure.
pub fn guarded(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(format!(
            "PANIC: {}",
            p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
        )),
    }
}

/// Keeps a failing input under `artifacts/<target>/` and says how to replay it.
pub fn save_failure(target: &str, input: &[u8], why: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts").join(target);
    let _ = std::fs::create_dir_all(&dir);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input {
        h = (h ^ *b as u64).wrapping_mul(0x100_0000_01b3);
    }
    let path = dir.join(format!("crash-{h:016x}"));
    let _ = std::fs::write(&path, input);
    let _ = std::fs::write(path.with_extension("txt"), why);
    path.display().to_string()
}

/// Seed inputs from `corpus/<target>/`.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| std::fs::read(e.path()).ok()).collect())
        .unwrap_or_default();
    out.sort();
    out
}
