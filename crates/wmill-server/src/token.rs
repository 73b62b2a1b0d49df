//! API tokens: `wm_` + 40 random base62 characters + a 6-character base62 CRC32 of them.
//! Only the SHA-256 digest (lowercase hex) and the 10-character prefix are ever stored; a
//! token whose checksum is wrong is refused before any database work.

use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX: &str = "wm_";
const RANDOM_LEN: usize = 40;
const CHECK_LEN: usize = 6;
/// Length of every token this server mints.
pub const TOKEN_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECK_LEN;

/// A freshly minted token. Its `Debug` never shows the secret.
pub struct Minted {
    /// The raw token, to be shown once.
    pub raw: String,
    /// SHA-256 hex digest, what is stored.
    pub hash: String,
    /// First 10 characters.
    pub prefix: String,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Minted({}*****)", self.prefix)
    }
}

/// The base62 digit of `n % 62`.
fn base62(n: u64) -> char {
    ALPHABET
        .get((n % 62) as usize)
        .map_or('0', |&b| char::from(b))
}

fn checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes()) as u64;
    let mut out = ['0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = base62(n);
        n /= 62;
    }
    out.iter().collect()
}

/// `len` random base62 characters from the OS CSPRNG (rejection sampling keeps the
/// distribution uniform: 248 = 4 × 62).
pub fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the OS random source is available");
        for b in buf {
            if b < 248 && out.len() < len {
                out.push(base62(u64::from(b)));
            }
        }
    }
    out
}

/// Mints a new token from the OS CSPRNG (238 bits of entropy).
pub fn mint() -> Minted {
    let random = random_base62(RANDOM_LEN);
    let raw = format!("{PREFIX}{random}{}", checksum(&random));
    Minted {
        hash: digest(&raw),
        prefix: prefix_of(&raw).to_string(),
        raw,
    }
}

/// Whether `raw` has the shape and checksum of a token we mint.
pub fn well_formed(raw: &str) -> bool {
    let Some(rest) = raw.strip_prefix(PREFIX) else {
        return false;
    };
    if rest.len() != RANDOM_LEN + CHECK_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let Some((random, check)) = rest.split_at_checked(RANDOM_LEN) else {
        return false;
    };
    checksum(random) == check
}

/// SHA-256 of the token, lowercase hex.
pub fn digest(raw: &str) -> String {
    let d = Sha256::digest(raw.as_bytes());
    // Every request pays for this: no formatting machinery, one allocation.
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    s
}

/// The first 10 characters, the token's public name.
pub fn prefix_of(raw: &str) -> &str {
    let end = raw
        .char_indices()
        .nth(wmill_api::TOKEN_PREFIX_LEN)
        .map_or(raw.len(), |(i, _)| i);
    raw.get(..end).unwrap_or(raw)
}

/// How a token appears in audit entries: its prefix and five stars.
pub fn truncated(prefix: &str) -> String {
    format!("{prefix}*****")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_have_the_documented_shape() {
        let t = mint();
        assert_eq!(t.raw.len(), TOKEN_LEN);
        assert_eq!(TOKEN_LEN, 49);
        assert!(t.raw.starts_with("wm_"));
        assert!(well_formed(&t.raw));
        assert_eq!(t.prefix, &t.raw[..10]);
        assert_eq!(t.hash, digest(&t.raw));
        assert_eq!(t.hash.len(), 64);
        assert!(!format!("{t:?}").contains(&t.raw));
        assert_ne!(mint().raw, t.raw);
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let t = mint();
        let mut bytes = t.raw.into_bytes();
        bytes[20] = if bytes[20] == b'a' { b'b' } else { b'a' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(!well_formed(&tampered));
        assert!(!well_formed("wm_short"));
        assert!(!well_formed(""));
        assert!(!well_formed("abcdefghijabcdefghijabcdefghij12"));
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
