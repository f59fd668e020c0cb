//! Runs every operation that handles a secret with all logging captured,
//! then greps the log for canary values: none may appear.

use std::io::Write;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret as _, SecretString};
use sekimori_authn::password::PasswordHasher;
use sekimori_authn::token::{Token, TokenKind};
use sekimori_authn::totp::{self, TotpSecret};
use sekimori_authn::{PasswordConfig, recovery};
use time::OffsetDateTime;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let password = "CANARY-password-7f3a9c";
    let hasher = PasswordHasher::new(&PasswordConfig::insecure_for_tests()).unwrap();
    let phc = hasher.hash(&SecretString::from(password)).await.unwrap();
    assert!(hasher.verify(&SecretString::from(password), Some(&phc)).await);
    assert!(!hasher.verify(&SecretString::from(password), Some("$argon2id$corrupt")).await);
    assert!(!hasher.verify(&SecretString::from(password), None).await);

    let secret = TotpSecret::generate().unwrap();
    let b32 = secret.to_base32().expose_secret().to_owned();
    let enrolment = totp::enrol(&secret, totp::ISSUER, "alice").unwrap();
    let _ = totp::verify(&secret, "123456", OffsetDateTime::now_utc(), None);
    let (codes, _) = recovery::generate(2).unwrap();
    let token = Token::generate(TokenKind::Session).unwrap();
    tracing::info!(?secret, ?enrolment, ?codes, ?token, "debug output of every secret type");

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    // The capture works: the hasher warned about weak parameters, and about
    // the corrupt hash.
    assert!(text.contains("below OWASP"), "{text}");
    assert!(text.contains("malformed"), "{text}");
    for canary in [password, &b32, &phc, codes[0].expose(), token.expose(), &token.expose()[6..20]]
    {
        assert!(!text.contains(canary), "{canary} leaked into:\n{text}");
    }
    assert!(!text.contains(enrolment.otpauth_uri.expose_secret()));
}
