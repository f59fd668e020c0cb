//! Opaque bearer tokens: 32 random bytes in base64url behind a short prefix
//! saying what the token is for (`skm_s_…` sessions, `skm_c_…` login
//! challenges), which also makes leaked tokens easy to find with a secret
//! scanner. Only [`Token::hash`] is ever stored; a presented token is
//! checked with [`parse_presented`] and looked up by its hash.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding;
use crate::error::AuthnError;

/// Random bytes per token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Base64url characters for [`TOKEN_BYTES`] without padding.
const BODY_CHARS: usize = 43;

/// What a token grants; each kind has its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A login session (`skm_s_`).
    Session,
    /// A login challenge between the password and the MFA step (`skm_c_`).
    Challenge,
}

impl TokenKind {
    /// The prefix of tokens of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Session => "skm_s_",
            Self::Challenge => "skm_c_",
        }
    }

    /// Length of a well-formed token of this kind, in bytes.
    pub fn token_len(self) -> usize {
        self.prefix().len() + BODY_CHARS
    }
}

/// A freshly generated token, to hand to the client once. Zeroized on drop;
/// `Debug` shows only the kind.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Token {
    #[zeroize(skip)]
    kind: TokenKind,
    text: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}<redacted>)", self.kind.prefix())
    }
}

impl Token {
    /// A new random token of `kind`.
    pub fn generate(kind: TokenKind) -> Result<Self, AuthnError> {
        let mut raw = zeroize::Zeroizing::new([0u8; TOKEN_BYTES]);
        aws_lc_rs::rand::fill(raw.as_mut_slice()).map_err(|_| AuthnError::Random)?;
        let mut text = String::with_capacity(kind.token_len());
        text.push_str(kind.prefix());
        text.push_str(&encoding::base64url(raw.as_slice()));
        Ok(Self { kind, text })
    }

    /// What the token is for.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The token text, for the response to the client (cookie or JSON).
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the token text: what the store keeps and looks up.
    pub fn hash(&self) -> [u8; 32] {
        sha256(self.text.as_bytes())
    }
}

/// The hash of a presented token of either kind if it is well-formed, else
/// `None`. Prefer [`parse_presented_as`] where the expected kind is known.
pub fn parse_presented(presented: &str) -> Option<[u8; 32]> {
    [TokenKind::Session, TokenKind::Challenge]
        .into_iter()
        .find_map(|kind| parse_presented_as(kind, presented))
}

/// The hash of a presented token if it is a well-formed token of `kind`
/// (its prefix, then exactly 43 base64url characters in canonical form),
/// else `None`. Checks the length first, so oversized input costs nothing.
pub fn parse_presented_as(kind: TokenKind, presented: &str) -> Option<[u8; 32]> {
    if presented.len() != kind.token_len() {
        return None;
    }
    let body = presented.strip_prefix(kind.prefix())?.as_bytes();
    if !body.iter().all(|b| encoding::BASE64URL.contains(b)) {
        return None;
    }
    // 256 bits leave 2 spare bits in the last character; a canonical
    // encoding has them zero.
    let last = body.last()?;
    let value = encoding::BASE64URL.iter().position(|c| c == last)?;
    if value & 0b11 != 0 {
        return None;
    }
    Some(sha256(presented.as_bytes()))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    for (o, d) in out.iter_mut().zip(digest.as_ref()) {
        *o = *d;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_to_their_hash() {
        for kind in [TokenKind::Session, TokenKind::Challenge] {
            let t = Token::generate(kind).unwrap();
            assert!(t.expose().starts_with(kind.prefix()));
            assert_eq!(t.expose().len(), kind.token_len());
            assert_eq!(parse_presented_as(kind, t.expose()), Some(t.hash()));
            assert_eq!(parse_presented(t.expose()), Some(t.hash()));
        }
        let a = Token::generate(TokenKind::Session).unwrap();
        let b = Token::generate(TokenKind::Session).unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let t = Token::generate(TokenKind::Session).unwrap();
        let s = t.expose();
        assert_eq!(parse_presented_as(TokenKind::Challenge, s), None, "wrong kind");
        assert_eq!(parse_presented_as(TokenKind::Session, &s[..s.len() - 1]), None);
        assert_eq!(parse_presented_as(TokenKind::Session, &format!("{s}A")), None);
        assert_eq!(parse_presented_as(TokenKind::Session, &"x".repeat(1 << 20)), None);
        assert_eq!(parse_presented_as(TokenKind::Session, ""), None);
        let mut bad = s.to_owned();
        bad.replace_range(10..11, "+");
        assert_eq!(parse_presented_as(TokenKind::Session, &bad), None, "not base64url");
        // Non-canonical last character (spare bits set).
        let mut noncanon = s[..s.len() - 1].to_owned();
        noncanon.push('B');
        assert_eq!(parse_presented_as(TokenKind::Session, &noncanon), None);
        // Multi-byte characters of the right byte length.
        let odd = format!("skm_s_{}", "é".repeat(21));
        assert_eq!(odd.len(), TokenKind::Session.token_len() - 1);
        assert_eq!(parse_presented_as(TokenKind::Session, &format!("{odd}A")), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".{0,80}", session: bool) {
            let kind = if session { TokenKind::Session } else { TokenKind::Challenge };
            let _ = parse_presented_as(kind, &s);
            let _ = parse_presented(&s);
            let _ = parse_presented_as(kind, &format!("{}{s}", kind.prefix()));
        }
    }

    #[test]
    fn debug_is_redacted() {
        let t = Token::generate(TokenKind::Session).unwrap();
        let shown = format!("{t:?}");
        assert_eq!(shown, "Token(skm_s_<redacted>)");
        assert!(!shown.contains(&t.expose()[6..]));
    }
}
