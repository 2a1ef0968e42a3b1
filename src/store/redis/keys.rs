//! The key layout, in one place: `{prefix}{id}` holds the session's bytes (expiring with the
//! session), `{prefix}{id}:lock` the token of the request that holds its lock. On a Redis
//! Cluster the id is a hash tag, `{prefix}{{id}}` and `{prefix}{{id}}:lock`, so both keys live
//! in one slot (one node serves a whole locked cycle).

/// Builds the keys of a store's sessions.
pub struct Keys {
    prefix: String,
    /// Cluster: braces around the id (the hash tag).
    tagged: bool,
}

/// One session's two keys, built in one allocation (the lock key extends the data key).
pub struct SessionKeys {
    buf: Vec<u8>,
    data_len: usize,
}

const LOCK_SUFFIX: &[u8] = b":lock";

impl Keys {
    pub fn new(prefix: String) -> Keys {
        Keys { prefix, tagged: false }
    }

    /// A cluster's layout: the id hash-tagged.
    pub fn tagged(prefix: String) -> Keys {
        Keys { prefix, tagged: true }
    }

    pub fn of(&self, id: &str) -> SessionKeys {
        let mut buf = Vec::with_capacity(self.prefix.len() + id.len() + 2 + LOCK_SUFFIX.len());
        buf.extend_from_slice(self.prefix.as_bytes());
        if self.tagged {
            buf.push(b'{');
            buf.extend_from_slice(id.as_bytes());
            buf.push(b'}');
        } else {
            buf.extend_from_slice(id.as_bytes());
        }
        let data_len = buf.len();
        buf.extend_from_slice(LOCK_SUFFIX);
        SessionKeys { buf, data_len }
    }
}

impl SessionKeys {
    /// The session's bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.data_len]
    }

    /// Its lock.
    pub fn lock(&self) -> &[u8] {
        &self.buf
    }

    /// Both, in the order the scripts take them (KEYS[1], KEYS[2]).
    pub fn both(&self) -> [&[u8]; 2] {
        [self.data(), self.lock()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let k = Keys::new("PHPREDIS_SESSION:".into()).of("abc,-9");
        assert_eq!(k.data(), b"PHPREDIS_SESSION:abc,-9");
        assert_eq!(k.lock(), b"PHPREDIS_SESSION:abc,-9:lock");
        assert_eq!(k.both(), [k.data(), k.lock()]);
        let k = Keys::new(String::new()).of("x");
        assert_eq!((k.data(), k.lock()), (&b"x"[..], &b"x:lock"[..]));
        let k = Keys::tagged("PHPREDIS_SESSION:".into()).of("abc");
        assert_eq!(k.data(), b"PHPREDIS_SESSION:{abc}");
        assert_eq!(k.lock(), b"PHPREDIS_SESSION:{abc}:lock");
        assert_eq!(k.data(), &super::super::slots::tagged_key("PHPREDIS_SESSION:", "abc")[..]);
        let slot = super::super::slots::key_slot;
        assert_eq!(slot(k.data()), slot(k.lock()));
        assert_eq!(slot(k.data()), slot(b"abc"));
    }
}
