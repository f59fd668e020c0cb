//! TOTP (RFC 6238) with the parameters every authenticator app supports:
//! HMAC-SHA-1, 30-second steps, 6 digits, 160-bit secrets.
//!
//! [`verify`] accepts the previous, current and next step and never the same
//! step twice: it returns the matched step, and the caller stores it
//! atomically (`UPDATE … SET last_step = $step WHERE last_step < $step`), so
//! two concurrent logins with one code cannot both succeed.

use std::fmt;

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};
use secrecy::SecretString;
use sekimori_types::{Lang, Localized};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder, Secret, Totp};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding;
use crate::error::AuthnError;

/// Secret length in bytes (160 bits, RFC 4226's recommendation).
pub const SECRET_LEN: usize = 20;
/// Step length in seconds.
pub const STEP_SECS: i64 = 30;
/// Digits in a code.
pub const DIGITS: usize = 6;
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "sekimori";
/// Longest issuer or account name put in an enrolment URI.
const MAX_LABEL_CHARS: usize = 128;

/// A user's TOTP shared secret. Zeroized on drop; `Debug` is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TotpSecret {
    bytes: [u8; SECRET_LEN],
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A fresh secret from the system's random number generator.
    pub fn generate() -> Result<Self, AuthnError> {
        let mut bytes = [0u8; SECRET_LEN];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| AuthnError::Random)?;
        Ok(Self { bytes })
    }

    /// A secret from its raw bytes (as the store keeps them); exactly
    /// [`SECRET_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuthnError> {
        let bytes: [u8; SECRET_LEN] = bytes
            .try_into()
            .map_err(|_| AuthnError::MalformedTotpSecret { expected: SECRET_LEN })?;
        Ok(Self { bytes })
    }

    /// The raw secret, for the store to persist. Handle as a secret.
    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.bytes
    }

    /// A secret from base32 (RFC 4648), case, spaces and `=` padding
    /// ignored; exactly [`SECRET_LEN`] bytes.
    pub fn from_base32(text: &str) -> Result<Self, AuthnError> {
        let bad = AuthnError::MalformedTotpSecret { expected: SECRET_LEN };
        if text.len() > 128 {
            return Err(bad);
        }
        let clean: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .filter(|c| !c.is_whitespace() && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        let decoded = Zeroizing::new(encoding::base32_decode(&clean).ok_or(bad)?);
        let bytes: [u8; SECRET_LEN] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| AuthnError::MalformedTotpSecret { expected: SECRET_LEN })?;
        Ok(Self { bytes })
    }

    /// The secret as unpadded base32, for storage and for manual entry in an
    /// authenticator app.
    pub fn to_base32(&self) -> SecretString {
        SecretString::from(encoding::base32(&self.bytes))
    }

    /// Builds the RFC 6238 generator for this secret.
    fn totp(&self) -> Option<Totp> {
        generator(&self.bytes, Algorithm::SHA1, 6)
    }
}

/// What a user needs to add their secret to an authenticator app. Every
/// field reveals the secret: show it once, to that user only. `Debug` is
/// redacted and the QR strings are zeroized on drop.
pub struct Enrolment {
    /// The secret in base32, for typing in by hand.
    pub secret_base32: SecretString,
    /// `otpauth://totp/sekimori:alice?secret=…&issuer=sekimori`.
    pub otpauth_uri: SecretString,
    /// The URI as a QR code of Unicode half blocks (`▀▄█`, two modules per
    /// character cell) with a quiet zone, drawn light-on-dark for terminals
    /// with a dark background.
    pub qr_terminal: String,
    /// The URI as a QR code in a standalone SVG document (black on white).
    pub qr_svg: String,
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Enrolment(<redacted>)")
    }
}

impl Drop for Enrolment {
    fn drop(&mut self) {
        self.qr_terminal.zeroize();
        self.qr_svg.zeroize();
    }
}

/// Prepares enrolment of `secret` for `account` (the username) under
/// `issuer` (normally [`ISSUER`]). Neither may be empty, contain `:` or
/// control characters, or exceed 128 characters.
pub fn enrol(secret: &TotpSecret, issuer: &str, account: &str) -> Result<Enrolment, AuthnError> {
    check_label("issuer", issuer)?;
    check_label("account", account)?;
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(Secret::new_stack(secret.bytes))
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|_| AuthnError::InvalidOtpauthLabel {
            field: "account",
            reason: "rejected by the TOTP library",
        })?;
    let uri = Zeroizing::new(totp.to_url().map_err(|_| AuthnError::InvalidOtpauthLabel {
        field: "account",
        reason: "rejected by the TOTP library",
    })?);
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .map_err(|e| AuthnError::QrCode { reason: e.to_string() })?;
    let qr_terminal = code
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    let qr_svg = code.render::<svg::Color<'_>>().min_dimensions(256, 256).quiet_zone(true).build();
    Ok(Enrolment {
        secret_base32: secret.to_base32(),
        otpauth_uri: SecretString::from(uri.as_str()),
        qr_terminal,
        qr_svg,
    })
}

fn check_label(field: &'static str, value: &str) -> Result<(), AuthnError> {
    let reason = if value.is_empty() {
        Some("empty")
    } else if value.chars().count() > MAX_LABEL_CHARS {
        Some("longer than 128 characters")
    } else if value.contains(':') {
        Some("contains ':'")
    } else if value.chars().any(char::is_control) {
        Some("contains control characters")
    } else {
        None
    };
    reason.map_or(Ok(()), |reason| Err(AuthnError::InvalidOtpauthLabel { field, reason }))
}

/// Why a TOTP code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// Not six digits (after removing spaces).
    #[error("code is not {DIGITS} digits")]
    Malformed,
    /// Six digits, but not the code for the previous, current or next step.
    #[error("code does not match")]
    Mismatch,
    /// The code matches a step at or before the last one accepted.
    #[error("code was already used")]
    Replayed,
}

impl TotpError {
    /// A stable machine-readable code: `totp_malformed`, `totp_invalid`,
    /// `totp_replayed`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "totp_malformed",
            Self::Mismatch => "totp_invalid",
            Self::Replayed => "totp_replayed",
        }
    }
}

impl Localized for TotpError {
    fn localized(&self, lang: Lang) -> String {
        let (ja, en) = match self {
            Self::Malformed => (
                "確認コードは6桁の数字で入力してください。",
                "Enter the 6-digit code from your authenticator app.",
            ),
            Self::Mismatch => (
                "確認コードが正しくありません。認証アプリに表示されている最新のコードを入力してください。",
                "That code is not correct. Enter the code your authenticator app shows now.",
            ),
            Self::Replayed => (
                "この確認コードは既に使用されています。次のコードが表示されるまでお待ちください。",
                "That code has already been used. Wait for the next code.",
            ),
        };
        lang.pick(ja, en).to_owned()
    }
}

/// The step `now` falls in: Unix seconds divided by 30, rounded down.
pub fn step_at(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(STEP_SECS)
}

/// The code an authenticator app shows at `now` for `secret` (the lab's
/// simulated users; the server itself only ever verifies).
pub fn code_at(secret: &TotpSecret, now: OffsetDateTime) -> Option<Zeroizing<String>> {
    code_at_step(&secret.totp()?, step_at(now))
}

/// Checks `code` against steps `now − 1`, `now` and `now + 1`, comparing in
/// constant time against all three. Returns the matched step, which must be
/// greater than `last_used_step`; a code for a step already used is
/// [`TotpError::Replayed`]. Spaces (also full-width) are ignored and
/// full-width digits accepted, as Japanese input methods produce them.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now: OffsetDateTime,
    last_used_step: Option<i64>,
) -> Result<i64, TotpError> {
    let given = normalise_code(code)?;
    let totp = secret.totp().ok_or(TotpError::Mismatch)?;
    let current = step_at(now);
    let mut matches = [(0i64, false); 3];
    for (slot, step) in
        matches.iter_mut().zip([current.saturating_sub(1), current, current.saturating_add(1)])
    {
        let expected = code_at_step(&totp, step);
        let equal = match &expected {
            Some(e) => bool::from(e.as_bytes().ct_eq(given.as_slice())),
            None => false,
        };
        *slot = (step, equal);
    }
    let fresh = |step: i64| last_used_step.is_none_or(|last| step > last);
    if let Some(&(step, _)) = matches.iter().find(|&&(step, ok)| ok && fresh(step)) {
        return Ok(step);
    }
    if matches.iter().any(|&(_, ok)| ok) {
        return Err(TotpError::Replayed);
    }
    Err(TotpError::Mismatch)
}

/// Six ASCII digits from what the user typed, or `Malformed`.
fn normalise_code(code: &str) -> Result<Zeroizing<Vec<u8>>, TotpError> {
    if code.len() > 64 {
        return Err(TotpError::Malformed);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(DIGITS));
    for c in code.chars() {
        match c {
            '0'..='9' => out.push(u8::try_from(c).map_err(|_| TotpError::Malformed)?),
            // Full-width digits U+FF10..U+FF19.
            '０'..='９' => {
                let d = u32::from(c) - u32::from('０');
                out.push(b'0' + u8::try_from(d).map_err(|_| TotpError::Malformed)?);
            }
            c if c.is_whitespace() => {}
            _ => return Err(TotpError::Malformed),
        }
    }
    if out.len() != DIGITS {
        return Err(TotpError::Malformed);
    }
    Ok(out)
}

/// An RFC 6238 generator; `None` if the parameters are refused.
fn generator(secret: &[u8], algorithm: Algorithm, digits: u8) -> Option<Totp> {
    Builder::new()
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_step_duration(30)
        .with_skew(0)
        .with_secret(Secret::from(secret))
        .build()
        .ok()
}

/// The code for `step`; `None` for steps before the epoch or past `u64`.
fn code_at_step(totp: &Totp, step: i64) -> Option<Zeroizing<String>> {
    let t = u64::try_from(step).ok()?.checked_mul(30)?;
    Some(Zeroizing::new(totp.generate(t).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 Appendix B: (time, SHA-1, SHA-256, SHA-512), 8 digits.
    const VECTORS: [(i64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    fn rfc_secret() -> TotpSecret {
        TotpSecret { bytes: SEED_SHA1.try_into().unwrap() }
    }

    #[test]
    fn rfc6238_appendix_b() {
        let sha1 = generator(SEED_SHA1, Algorithm::SHA1, 8).unwrap();
        let sha256 = generator(SEED_SHA256, Algorithm::SHA256, 8).unwrap();
        let sha512 = generator(SEED_SHA512, Algorithm::SHA512, 8).unwrap();
        for (t, c1, c256, c512) in VECTORS {
            let step = step_at(at(t));
            assert_eq!(code_at_step(&sha1, step).unwrap().as_str(), c1, "SHA-1 at {t}");
            assert_eq!(code_at_step(&sha256, step).unwrap().as_str(), c256, "SHA-256 at {t}");
            assert_eq!(code_at_step(&sha512, step).unwrap().as_str(), c512, "SHA-512 at {t}");
        }
    }

    #[test]
    fn rfc6238_vectors_verify_as_six_digits() {
        // A 6-digit code is the last six digits of the 8-digit one.
        let s = rfc_secret();
        for (t, c1, _, _) in VECTORS {
            let six = &c1[2..];
            assert_eq!(verify(&s, six, at(t), None), Ok(step_at(at(t))), "at {t}");
        }
    }

    #[test]
    fn accepts_one_step_either_side_not_two() {
        let s = rfc_secret();
        let t = 1_111_111_109;
        let code = "081804";
        let step = step_at(at(t));
        assert_eq!(
            verify(&s, code, at(t + 30), None),
            Ok(step),
            "now+1 step: code from previous step"
        );
        assert_eq!(verify(&s, code, at(t - 30), None), Ok(step), "now-1 step: code from next step");
        assert_eq!(verify(&s, code, at(t + 60), None), Err(TotpError::Mismatch));
        assert_eq!(verify(&s, code, at(t - 60), None), Err(TotpError::Mismatch));
    }

    #[test]
    fn a_code_is_never_accepted_twice() {
        let s = rfc_secret();
        let t = 1_234_567_890;
        let step = verify(&s, "005924", at(t), None).unwrap();
        assert_eq!(verify(&s, "005924", at(t), Some(step)), Err(TotpError::Replayed));
        assert_eq!(verify(&s, "005924", at(t + 30), Some(step)), Err(TotpError::Replayed));
        // A later step was used: an older code is a replay too.
        assert_eq!(verify(&s, "005924", at(t), Some(step + 1)), Err(TotpError::Replayed));
        assert_eq!(verify(&s, "005924", at(t), Some(step - 1)), Ok(step));
    }

    #[test]
    fn input_normalisation() {
        let s = rfc_secret();
        let t = 59;
        assert_eq!(verify(&s, " 287 082 ", at(t), None), Ok(1));
        assert_eq!(verify(&s, "２８７\u{3000}０８２", at(t), None), Ok(1));
        for bad in ["28708a", "28708", "2870822", "", "287-082", "٢٨٧٠٨٢", &"1".repeat(100)] {
            assert_eq!(verify(&s, bad, at(t), None), Err(TotpError::Malformed), "{bad:?}");
        }
        assert_eq!(verify(&s, "000000", at(t), None), Err(TotpError::Mismatch));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(code in ".{0,80}", t in i64::MIN / 2..i64::MAX / 2, last: Option<i64>) {
            let s = rfc_secret();
            let now = OffsetDateTime::from_unix_timestamp(t.clamp(-377_705_116_800, 253_402_300_799)).unwrap();
            let _ = verify(&s, &code, now, last);
        }

        #[test]
        fn only_adjacent_steps_verify(offset in -5i64..=5) {
            let s = rfc_secret();
            let t = 1_234_567_890i64;
            let code = code_at_step(&s.totp().unwrap(), step_at(at(t)) + offset).unwrap();
            let r = verify(&s, &code, at(t), None);
            if offset.abs() <= 1 {
                proptest::prop_assert_eq!(r, Ok(step_at(at(t)) + offset));
            } else {
                proptest::prop_assert_eq!(r, Err(TotpError::Mismatch));
            }
        }
    }

    #[test]
    fn before_the_epoch_nothing_matches() {
        let s = rfc_secret();
        assert_eq!(verify(&s, "287082", at(-3600), None), Err(TotpError::Mismatch));
    }

    #[test]
    fn secret_round_trips_through_base32() {
        let s = TotpSecret::generate().unwrap();
        let text = secrecy::ExposeSecret::expose_secret(&s.to_base32()).to_owned();
        assert_eq!(text.len(), 32);
        let back = TotpSecret::from_base32(&text.to_lowercase()).unwrap();
        assert_eq!(back.bytes, s.bytes);
        assert!(TotpSecret::from_base32("MZXW6").is_err());
        assert!(TotpSecret::from_base32("not base32!").is_err());
        assert_ne!(TotpSecret::generate().unwrap().bytes, s.bytes);
        assert_eq!(TotpSecret::from_bytes(s.as_bytes()).unwrap().bytes, s.bytes);
        assert!(TotpSecret::from_bytes(&[0u8; 19]).is_err());
        assert!(TotpSecret::from_bytes(&[0u8; 21]).is_err());
    }

    #[test]
    fn enrolment_has_uri_and_qr_codes() {
        use secrecy::ExposeSecret as _;
        let s = rfc_secret();
        let e = enrol(&s, ISSUER, "alice@vendor.example").unwrap();
        let b32 = e.secret_base32.expose_secret().to_owned();
        assert_eq!(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = e.otpauth_uri.expose_secret();
        assert!(uri.starts_with("otpauth://totp/sekimori:alice%40vendor.example?"), "{uri}");
        assert!(uri.contains(&format!("secret={b32}")) && uri.contains("issuer=sekimori"), "{uri}");
        assert!(
            !uri.contains("digits=") && !uri.contains("period=") && !uri.contains("algorithm="),
            "{uri}"
        );
        assert!(e.qr_terminal.contains('█') || e.qr_terminal.contains('▀'));
        assert!(e.qr_terminal.lines().count() > 10);
        assert!(e.qr_svg.contains("<svg") && e.qr_svg.ends_with("</svg>"));
        assert!(matches!(
            enrol(&s, ISSUER, "a:b"),
            Err(AuthnError::InvalidOtpauthLabel { field: "account", .. })
        ));
        assert!(matches!(
            enrol(&s, "", "alice"),
            Err(AuthnError::InvalidOtpauthLabel { field: "issuer", .. })
        ));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = TotpSecret::generate().unwrap();
        let b32 = secrecy::ExposeSecret::expose_secret(&s.to_base32()).to_owned();
        let e = enrol(&s, ISSUER, "alice").unwrap();
        for shown in [
            format!("{s:?}"),
            format!("{e:?}"),
            format!("{:?}", e.secret_base32),
            format!("{:?}", e.otpauth_uri),
        ] {
            assert!(!shown.contains(&b32), "{shown}");
            assert!(!shown.contains(&b32[..8]), "{shown}");
        }
    }
}
