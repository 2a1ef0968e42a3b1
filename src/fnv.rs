//! FNV-1a, 64 bits: a fast hash for our own short keys (nothing an attacker chooses), where the
//! standard SipHash's resistance to crafted collisions buys nothing on a per-request path.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x100_0000_01b3;

/// Continues a hash `h` over `bytes` (start with `hash(&[])` or use `hash`).
pub fn extend(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h
}

/// The hash of `bytes`.
pub fn hash(bytes: &[u8]) -> u64 {
    extend(OFFSET, bytes)
}

/// A `Hasher` for `HashMap`s keyed by such keys.
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(OFFSET)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = extend(self.0, bytes);
    }
}

pub type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

#[cfg(test)]
#[path = "fnv_tests.rs"]
mod tests;
