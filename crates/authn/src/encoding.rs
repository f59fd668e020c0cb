//! The two text encodings secrets need, small enough to own: RFC 4648
//! base32 (recovery codes) and base64url without padding (tokens).

/// RFC 4648 base32 alphabet.
pub(crate) const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// RFC 4648 §5 base64url alphabet.
pub(crate) const BASE64URL: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes `bytes` in base32 without padding.
pub(crate) fn base32(bytes: &[u8]) -> String {
    encode_bits::<5>(bytes, BASE32)
}

/// Encodes `bytes` in base64url without padding.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    encode_bits::<6>(bytes, BASE64URL)
}

/// Decodes unpadded RFC 4648 base32 (uppercase only). `None` on any other
/// character, or if the trailing bits are not zero (a non-canonical form).
pub(crate) fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len().saturating_mul(5) / 8);
    let mut acc: u32 = 0;
    let mut nbits: u32 = 0;
    for c in text.bytes() {
        let v = BASE32.iter().position(|&a| a == c)?;
        acc = (acc << 5) | u32::try_from(v).ok()?;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push(u8::try_from((acc >> nbits) & 0xff).ok()?);
        }
        acc &= (1 << nbits) - 1;
    }
    (acc == 0).then_some(out)
}

/// Emits `BITS`-bit groups, most significant first, padding the last group
/// with zero bits.
fn encode_bits<const BITS: u32>(bytes: &[u8], alphabet: &[u8]) -> String {
    let mask = (1u32 << BITS) - 1;
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    let mut acc: u32 = 0;
    let mut nbits: u32 = 0;
    let mut push = |v: u32| {
        if let Some(&c) = usize::try_from(v & mask).ok().and_then(|i| alphabet.get(i)) {
            out.push(char::from(c));
        }
    };
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        nbits += 8;
        while nbits >= BITS {
            nbits -= BITS;
            push(acc >> nbits);
        }
        acc &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        push(acc << (BITS - nbits));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (input, b32) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), b32);
            assert_eq!(base32_decode(b32).unwrap(), input.as_bytes());
        }
        for (input, b64) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
        ] {
            assert_eq!(base64url(input.as_bytes()), b64);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert!(base32_decode("mzxw6").is_none());
        assert!(base32_decode("MZXW7").is_none(), "non-zero trailing bits");
        assert!(base32_decode("MZ1W6").is_none());
        assert_eq!(base64url(&[0u8; 32]).len(), 43);
    }
}
