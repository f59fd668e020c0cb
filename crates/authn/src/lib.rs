//! Authentication logic for sekimori: password hashing and policy, TOTP,
//! recovery codes, login throttling, opaque tokens and session rules.
//!
//! A pure library: it holds no state between calls except the password
//! hasher's concurrency limit, does no I/O, and takes the time as an
//! argument. The store crate persists what these functions return (PHC
//! strings, TOTP steps, hashes of recovery codes and tokens, throttle
//! states); the web crate strings them together into a login.
//!
//! Secrets never reach a log line or a `Debug` output: secret-bearing types
//! ([`totp::TotpSecret`], [`totp::Enrolment`], [`token::Token`],
//! [`recovery::RecoveryCode`]) have redacted `Debug` and zeroize on drop;
//! passwords travel as [`secrecy::SecretString`].

// Input from users and the store must never panic this crate.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::as_conversions
    )
)]
#![warn(missing_docs)]

pub mod config;
mod encoding;
pub mod error;
pub mod password;
pub mod policy;
pub mod recovery;
pub mod session;
pub mod throttle;
pub mod token;
pub mod totp;

pub use config::{AuthnConfig, PasswordConfig, SessionConfig, ThrottleConfig};
pub use error::{AuthnError, ConfigError};
pub use password::PasswordHasher;
pub use policy::{PasswordPolicy, PasswordRejection, check_password};
pub use secrecy;
pub use session::{SessionExpiry, check_session, mfa_is_fresh};
pub use throttle::{Decision, ThrottleState};
pub use token::{Token, TokenKind};
pub use totp::{Enrolment, TotpError, TotpSecret};
