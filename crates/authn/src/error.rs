//! The crate's errors. Nothing in them ever carries a password, a TOTP secret
//! or code, or a token: only facts about what went wrong.

/// A configuration value is out of range. `key` is the path of the setting
/// inside the `[authn]` section, e.g. `password.m_cost_kib`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    /// The setting, relative to `[authn]` (`throttle.account_lock_after`).
    pub key: &'static str,
    /// Why it was refused, in English, for the operator.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(key: &'static str, reason: impl Into<String>) -> Self {
        Self { key, reason: reason.into() }
    }
}

/// Everything that can fail in `sekimori-authn`.
///
/// Expected outcomes of checks are not errors here: a wrong password is
/// `false` from [`crate::password::PasswordHasher::verify`], a rejected
/// password is a [`crate::policy::PasswordRejection`], a wrong TOTP code is a
/// [`crate::totp::TotpError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthnError {
    /// The configuration was refused.
    #[error("invalid authn configuration: {0}")]
    Config(#[from] ConfigError),

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,

    /// Argon2 refused its input or parameters.
    #[error("password hashing failed: {reason}")]
    Hashing {
        /// The Argon2 crate's description (never contains the password).
        reason: String,
    },

    /// The blocking task that hashes a password could not run or did not
    /// finish (the runtime is shutting down, or the task panicked).
    #[error("password hashing task did not complete")]
    HashingTaskFailed,

    /// A password longer than the hard cap was given to be hashed.
    #[error("password is {len} bytes, over the cap of {max}")]
    PasswordTooLong {
        /// Bytes given.
        len: usize,
        /// The cap, [`crate::password::MAX_PASSWORD_BYTES`].
        max: usize,
    },

    /// A stored TOTP secret is not valid base32 or has the wrong length.
    #[error("stored TOTP secret is malformed (expected {expected} bytes of base32)")]
    MalformedTotpSecret {
        /// Bytes a secret must have.
        expected: usize,
    },

    /// The issuer or account name cannot appear in an `otpauth://` URI.
    #[error("invalid {field} for the authenticator app: {reason}")]
    InvalidOtpauthLabel {
        /// `issuer` or `account`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The enrolment QR code could not be built.
    #[error("QR code could not be built: {reason}")]
    QrCode {
        /// The qrcode crate's description.
        reason: String,
    },
}
