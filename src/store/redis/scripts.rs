//! Server-side scripts that make each locked step one round trip.
//!
//! KEYS[1] is the session's data key, KEYS[2] its lock key; ARGV[1] is this request's lock token.
use super::conn::Conn;
use super::resp::{Decimal, Reply};
use crate::store::error::ServerErrorKind;
use crate::store::StoreError;
use std::sync::OnceLock;

/// Takes the lock (or finds it already ours, when a reply was lost and the call retried) and
/// returns `{1, data}`; `{0}` when another request holds it. ARGV[2]: lock TTL in ms.
pub const LOCK_READ: &str = r#"
local cur = redis.call('GET', KEYS[2])
if cur == ARGV[1] or (not cur and redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])) then
  return {1, redis.call('GET', KEYS[1])}
end
return {0}
"#;

/// Writes and unlocks when the lock is still ours (returns 1). Returns 0 when another request
/// holds it now, -1 when nobody does (ours expired): the caller then checks the data has not
/// changed since it read it (`WRITE_IF_UNCHANGED`). ARGV[2]: data, ARGV[3]: TTL in seconds.
pub const WRITE_UNLOCK: &str = r#"
local cur = redis.call('GET', KEYS[2])
if cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
if cur then return 0 end
return -1
"#;

/// Writes while keeping the lock (a save in the middle of a request) and extends the lock's
/// life. ARGV[2]: data, ARGV[3]: TTL in seconds, ARGV[4]: lock TTL in ms. 0: not our lock.
pub const WRITE_KEEP_LOCK: &str = r#"
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return 1
end
return 0
"#;

/// Our lock expired and nobody holds one: write only if the stored data is still what we read
/// (ARGV[4]: its SHA-1, '' for none) or already what we write (a retried call). 1 = written.
pub const WRITE_IF_UNCHANGED: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local old = redis.call('GET', KEYS[1])
local sha = ''
if old then sha = redis.sha1hex(old) end
if sha == ARGV[4] or (old and old == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"#;

/// Refreshes the expiry and releases our lock. ARGV[2]: TTL in seconds.
pub const TOUCH_UNLOCK: &str = r#"
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return redis.call('EXPIRE', KEYS[1], ARGV[2])
"#;

/// Releases our lock, never another request's.
pub const UNLOCK: &str = r#"
if redis.call('GET', KEYS[2]) == ARGV[1] then return redis.call('DEL', KEYS[2]) end
return 0
"#;

/// Deletes the session and our lock.
pub const DESTROY: &str = r#"
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"#;

/// A script with its SHA-1, so calls send EVALSHA and fall back to EVAL once after a restart.
pub struct Script {
    pub body: &'static str,
    pub sha: String,
}

impl Script {
    pub fn new(body: &'static str) -> Script {
        Script { body, sha: sha1_smol::Sha1::from(body).digest().to_string() }
    }

    /// Runs the script (one round trip): EVALSHA, and EVAL when the server does not have it
    /// (new or restarted). An error reply comes back as `StoreError::Server`.
    pub fn eval(&self, c: &mut Conn, keys: &[&[u8]], args: &[&[u8]]) -> Result<Reply, StoreError> {
        let nkeys = Decimal::new(keys.len() as u64);
        let mut argv: Vec<&[u8]> = Vec::with_capacity(3 + keys.len() + args.len());
        argv.extend_from_slice(&[b"EVALSHA", self.sha.as_bytes(), nkeys.as_bytes()]);
        argv.extend_from_slice(keys);
        argv.extend_from_slice(args);
        match c.cmd(&argv)? {
            Reply::Error(e) if e.kind == ServerErrorKind::NoScript => {
                argv[0] = b"EVAL";
                argv[1] = self.body.as_bytes();
                c.cmd(&argv)?.ok()
            }
            other => other.ok(),
        }
    }
}

/// The scripts, their SHA-1s computed once per process.
pub fn scripts() -> &'static Scripts {
    static S: OnceLock<Scripts> = OnceLock::new();
    S.get_or_init(Scripts::new)
}

pub struct Scripts {
    pub lock_read: Script,
    pub write_unlock: Script,
    pub write_keep_lock: Script,
    pub write_if_unchanged: Script,
    pub touch_unlock: Script,
    pub unlock: Script,
    pub destroy: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            lock_read: Script::new(LOCK_READ),
            write_unlock: Script::new(WRITE_UNLOCK),
            write_keep_lock: Script::new(WRITE_KEEP_LOCK),
            write_if_unchanged: Script::new(WRITE_IF_UNCHANGED),
            touch_unlock: Script::new(TOUCH_UNLOCK),
            unlock: Script::new(UNLOCK),
            destroy: Script::new(DESTROY),
        }
    }
}
