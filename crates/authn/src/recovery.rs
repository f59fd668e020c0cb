//! Single-use recovery codes, for a user who lost their authenticator.
//!
//! A code is 80 random bits shown as 16 base32 characters in four groups,
//! `ABCD-EFGH-IJKL-MNOP`. Only SHA-256 hashes are stored; the caller deletes
//! (or marks used) the matching hash when a code is accepted.
//!
//! A plain SHA-256 is enough here, unlike for passwords: a slow hash defends
//! low-entropy human choices against offline guessing, but these codes are
//! machine-made with 80 bits of entropy, so even a fast hash leaves 2^79
//! guesses per code on average. The domain prefix keeps these hashes
//! distinct from any other SHA-256 in the system.

use std::fmt;

use subtle::{Choice, ConditionallySelectable as _, ConstantTimeEq as _};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding;
use crate::error::AuthnError;

/// Codes issued at once by default.
pub const DEFAULT_COUNT: usize = 10;
/// Random bytes per code (80 bits).
const CODE_BYTES: usize = 10;
/// Base32 characters per code.
const CODE_CHARS: usize = 16;
/// Prefix hashed before the normalised code.
const DOMAIN: &[u8] = b"sekimori recovery code v1\0";

/// One recovery code in display form. Zeroized on drop; `Debug` is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// The code as shown to the user, `XXXX-XXXX-XXXX-XXXX`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// Makes `n` fresh codes: what to show the user once, and the hashes to
/// store, in the same order.
pub fn generate(n: usize) -> Result<(Vec<RecoveryCode>, Vec<[u8; 32]>), AuthnError> {
    let mut codes = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for _ in 0..n {
        let mut raw = Zeroizing::new([0u8; CODE_BYTES]);
        aws_lc_rs::rand::fill(raw.as_mut_slice()).map_err(|_| AuthnError::Random)?;
        let plain = Zeroizing::new(encoding::base32(raw.as_slice()));
        hashes.push(hash_normalised(plain.as_bytes()));
        let mut display = String::with_capacity(CODE_CHARS + 3);
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                display.push('-');
            }
            display.push(c);
        }
        codes.push(RecoveryCode(display));
    }
    Ok((codes, hashes))
}

/// The hash of what the user typed, or `None` if it cannot be a code.
/// Case, dashes and spaces are ignored, and `0`, `1`, `8` are read as `O`,
/// `I`, `B` (base32 has no such digits; people misread them).
pub fn hash_code(input: &str) -> Option<[u8; 32]> {
    if input.len() > 64 {
        return None;
    }
    let mut clean = Zeroizing::new(Vec::with_capacity(CODE_CHARS));
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | '‐' | 'ー' | '－' => continue,
            c if c.is_whitespace() => continue,
            '0' => 'O',
            '1' => 'I',
            '8' => 'B',
            c => c,
        };
        let b = u8::try_from(c).ok().filter(|b| encoding::BASE32.contains(b))?;
        clean.push(b);
    }
    (clean.len() == CODE_CHARS).then(|| hash_normalised(&clean))
}

fn hash_normalised(code: &[u8]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(DOMAIN);
    ctx.update(code);
    let digest = ctx.finish();
    let mut out = [0u8; 32];
    for (o, d) in out.iter_mut().zip(digest.as_ref()) {
        *o = *d;
    }
    out
}

/// The index of `input_hash` in `stored`, comparing against every entry in
/// constant time (the time depends only on `stored.len()`).
pub fn find_match(input_hash: &[u8; 32], stored: &[[u8; 32]]) -> Option<usize> {
    let mut found = Choice::from(0);
    let mut index: u64 = 0;
    for (i, h) in stored.iter().enumerate() {
        let eq = h.ct_eq(input_hash);
        index.conditional_assign(&u64::try_from(i).unwrap_or(u64::MAX), eq & !found);
        found |= eq;
    }
    if bool::from(found) { usize::try_from(index).ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_display_form_and_matching_hashes() {
        let (codes, hashes) = generate(DEFAULT_COUNT).unwrap();
        assert_eq!((codes.len(), hashes.len()), (10, 10));
        for (i, c) in codes.iter().enumerate() {
            let s = c.expose();
            assert_eq!(s.len(), 19, "{s}");
            let groups: Vec<&str> = s.split('-').collect();
            assert_eq!(groups.len(), 4);
            assert!(
                groups
                    .iter()
                    .all(|g| g.len() == 4 && g.bytes().all(|b| encoding::BASE32.contains(&b)))
            );
            assert_eq!(hash_code(s), Some(hashes[i]));
            assert_eq!(find_match(&hash_code(s).unwrap(), &hashes), Some(i));
        }
        let mut unique = hashes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn typing_variations_are_forgiven() {
        let (codes, hashes) = generate(1).unwrap();
        let s = codes[0].expose();
        let variants = [
            s.to_lowercase(),
            s.replace('-', ""),
            s.replace('-', " "),
            format!("  {s}\t"),
            s.replace('O', "0"),
        ];
        for v in variants {
            assert_eq!(hash_code(&v), Some(hashes[0]), "{v}");
        }
    }

    #[test]
    fn non_codes_are_refused() {
        for bad in
            ["", "ABCD-EFGH-IJKL", "ABCD-EFGH-IJKL-MNOPQ", "ABCD-EFGH-IJKL-MN9P", &"A".repeat(100)]
        {
            assert_eq!(hash_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_match_and_used_codes() {
        let (codes, mut hashes) = generate(3).unwrap();
        let h = hash_code(codes[1].expose()).unwrap();
        let i = find_match(&h, &hashes).unwrap();
        hashes.remove(i); // what the store does on use
        assert_eq!(find_match(&h, &hashes), None);
        assert_eq!(find_match(&h, &[]), None);
    }

    #[test]
    fn hash_has_a_domain_prefix() {
        let plain = b"AAAAAAAAAAAAAAAA";
        let bare = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, plain);
        assert_ne!(hash_normalised(plain).as_slice(), bare.as_ref());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".{0,80}") {
            let _ = hash_code(&s);
        }

        #[test]
        fn normalisation_is_idempotent(s in "[A-Za-z2-7018 -]{0,30}") {
            if let Some(h) = hash_code(&s) {
                proptest::prop_assert_eq!(hash_code(&s.to_uppercase()), Some(h));
            }
        }
    }

    #[test]
    fn debug_is_redacted() {
        let (codes, _) = generate(1).unwrap();
        let shown = format!("{codes:?}");
        assert!(!shown.contains(&codes[0].expose()[..4]), "{shown}");
    }
}
