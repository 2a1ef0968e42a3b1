//! Session ids: generated from the OS CSPRNG, and validated before any reaches a store.

/// 64 symbols, 6 bits each: the characters PHP's own ids use at `sid_bits_per_character=6`.
const ALPHABET: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,-";

pub const MIN_LEN: usize = 22; // 22 × 6 = 132 bits
pub const MAX_LEN: usize = 256;

/// Whether `id` may be used as a key: 1..=256 characters of `[A-Za-z0-9,-]`.
pub fn is_valid(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.iter().all(|&b| b.is_ascii_alphanumeric() || b == b',' || b == b'-')
}

/// Whether `id` is one we could have issued: valid and at least `MIN_LEN` long (so guessable short
/// ids from an attacker's cookie are not adopted).
pub fn is_well_formed(id: &[u8]) -> bool {
    id.len() >= MIN_LEN && is_valid(id)
}

/// A fresh id of `len` characters (at least `MIN_LEN`, at most `MAX_LEN`).
pub fn generate(len: usize) -> Result<String, getrandom::Error> {
    let len = len.clamp(MIN_LEN, MAX_LEN);
    let mut raw = vec![0u8; len];
    getrandom::getrandom(&mut raw)?;
    Ok(raw.iter().map(|b| ALPHABET[(b & 63) as usize] as char).collect())
}

#[cfg(test)]
#[path = "id_tests.rs"]
mod tests;
