//! The `[authn]` section of the configuration file.
//!
//! Every struct takes its defaults for missing keys and refuses unknown ones;
//! `validate()` names the offending key relative to `[authn]`.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Argon2id settings OWASP's Password Storage Cheat Sheet lists as equally
/// strong minimums: `(memory KiB, passes)`, all with one lane. A configuration
/// is accepted when it is at least as strong as one of them in both respects.
pub const OWASP_ARGON2ID_MINIMUMS: [(u32, u32); 5] =
    [(47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5)];

/// Everything `sekimori-authn` reads from the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthnConfig {
    /// `[authn.password]`: hashing cost and length limits.
    pub password: PasswordConfig,
    /// `[authn.throttle]`: delays, lockout and source blocking.
    pub throttle: ThrottleConfig,
    /// `[authn.session]`: timeouts and the step-up window.
    pub session: SessionConfig,
}

impl AuthnConfig {
    /// Validates every section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.password.validate()?;
        self.throttle.validate()?;
        self.session.validate()
    }
}

/// `[authn.password]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Argon2id memory per hash in KiB (default 19456, OWASP's minimum).
    pub m_cost_kib: u32,
    /// Argon2id passes (default 2).
    pub t_cost: u32,
    /// Argon2id lanes (default 1).
    pub p_cost: u32,
    /// Hashes computed at once; bounds the memory logins can take to
    /// `m_cost_kib × max_concurrent_hashes` (default 4, about 76 MiB).
    pub max_concurrent_hashes: u32,
    /// Fewest characters (Unicode scalar values) a new password may have
    /// (default 12; never below 8, NIST SP 800-63B's floor).
    pub min_length: u32,
    /// Most characters a new password may have (default 256; at least 64 so
    /// passphrases fit, as NIST SP 800-63B asks).
    pub max_length: u32,
    /// Lets `validate` accept Argon2 parameters below OWASP's minimum. For
    /// tests and benchmarks only, which need fast hashing; a server with this
    /// set stores passwords that are cheap to crack, and logs a warning.
    pub insecure_test_only_weak_params: bool,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1,
            max_concurrent_hashes: 4,
            min_length: 12,
            max_length: 256,
            insecure_test_only_weak_params: false,
        }
    }
}

impl PasswordConfig {
    /// Fast parameters (64 KiB, one pass) with the weak flag set, for tests
    /// and benchmarks of code that hashes but is not about hashing cost.
    pub fn insecure_for_tests() -> Self {
        Self {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
            insecure_test_only_weak_params: true,
            ..Self::default()
        }
    }

    /// Whether the Argon2 cost meets one of [`OWASP_ARGON2ID_MINIMUMS`].
    pub fn meets_owasp_minimum(&self) -> bool {
        self.p_cost >= 1
            && OWASP_ARGON2ID_MINIMUMS
                .iter()
                .any(|&(m, t)| self.m_cost_kib >= m && self.t_cost >= t)
    }

    /// Checks ranges, and refuses weak Argon2 parameters unless
    /// `insecure_test_only_weak_params` is set.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.insecure_test_only_weak_params && !self.meets_owasp_minimum() {
            let key = if self.p_cost < 1 { "password.p_cost" } else { "password.m_cost_kib" };
            return Err(ConfigError::new(
                key,
                format!(
                    "Argon2id m_cost_kib={} t_cost={} p_cost={} is below OWASP's minimum \
                     (e.g. 19456 KiB with 2 passes, or 47104 KiB with 1)",
                    self.m_cost_kib, self.t_cost, self.p_cost
                ),
            ));
        }
        if self.m_cost_kib > 1_048_576 {
            return Err(ConfigError::new("password.m_cost_kib", "at most 1048576 (1 GiB)"));
        }
        if !(1..=100).contains(&self.t_cost) {
            return Err(ConfigError::new("password.t_cost", "must be 1 to 100"));
        }
        if !(1..=64).contains(&self.p_cost) {
            return Err(ConfigError::new("password.p_cost", "must be 1 to 64"));
        }
        if self.m_cost_kib < 8 * self.p_cost {
            return Err(ConfigError::new("password.m_cost_kib", "must be at least 8 × p_cost"));
        }
        if !(1..=1024).contains(&self.max_concurrent_hashes) {
            return Err(ConfigError::new("password.max_concurrent_hashes", "must be 1 to 1024"));
        }
        if self.min_length < 8 {
            return Err(ConfigError::new(
                "password.min_length",
                "must be at least 8 (NIST SP 800-63B)",
            ));
        }
        if !(64..=1024).contains(&self.max_length) {
            return Err(ConfigError::new("password.max_length", "must be 64 to 1024"));
        }
        if self.min_length > self.max_length {
            return Err(ConfigError::new(
                "password.min_length",
                "must not exceed password.max_length",
            ));
        }
        Ok(())
    }
}

/// `[authn.throttle]`: per-account delays and lockout, per-source delays and
/// blocking. See [`crate::throttle`] for how the numbers combine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Consecutive failures on an account before delays start (default 5).
    pub account_free_failures: u32,
    /// Consecutive failures that lock the account until an admin unlocks it
    /// (default 20; at most 100, NIST SP 800-63B §5.2.2).
    pub account_lock_after: u32,
    /// The first delay, in seconds; each further failure doubles it
    /// (default 1).
    pub base_delay_secs: u64,
    /// The longest delay, in seconds (default 900).
    pub max_delay_secs: u64,
    /// Failures from one source address within the window before delays
    /// start for that source (default 20).
    pub source_free_failures: u32,
    /// The window, in seconds, over which a source's failures are counted
    /// (default 900).
    pub source_window_secs: u64,
    /// Failures within the window that block the source (default 100).
    pub source_block_after: u32,
    /// How long a source stays blocked, in seconds (default 900).
    pub source_block_secs: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_free_failures: 5,
            account_lock_after: 20,
            base_delay_secs: 1,
            max_delay_secs: 900,
            source_free_failures: 20,
            source_window_secs: 900,
            source_block_after: 100,
            source_block_secs: 900,
        }
    }
}

/// NIST SP 800-63B: no more than 100 consecutive failed attempts per account.
pub const MAX_ACCOUNT_LOCK_AFTER: u32 = 100;

impl ThrottleConfig {
    /// Checks ranges, including `account_lock_after <= 100`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const DAY: u64 = 86_400;
        if !(1..=MAX_ACCOUNT_LOCK_AFTER).contains(&self.account_lock_after) {
            return Err(ConfigError::new(
                "throttle.account_lock_after",
                "must be 1 to 100 (NIST SP 800-63B allows at most 100 consecutive failures)",
            ));
        }
        if self.account_free_failures >= self.account_lock_after {
            return Err(ConfigError::new(
                "throttle.account_free_failures",
                "must be below throttle.account_lock_after",
            ));
        }
        if !(1..=DAY).contains(&self.base_delay_secs) {
            return Err(ConfigError::new("throttle.base_delay_secs", "must be 1 to 86400"));
        }
        if !(self.base_delay_secs..=DAY).contains(&self.max_delay_secs) {
            return Err(ConfigError::new(
                "throttle.max_delay_secs",
                "must be base_delay_secs to 86400",
            ));
        }
        if !(1..=DAY).contains(&self.source_window_secs) {
            return Err(ConfigError::new("throttle.source_window_secs", "must be 1 to 86400"));
        }
        if !(1..=1_000_000).contains(&self.source_block_after) {
            return Err(ConfigError::new("throttle.source_block_after", "must be 1 to 1000000"));
        }
        if self.source_free_failures >= self.source_block_after {
            return Err(ConfigError::new(
                "throttle.source_free_failures",
                "must be below throttle.source_block_after",
            ));
        }
        if !(1..=7 * DAY).contains(&self.source_block_secs) {
            return Err(ConfigError::new("throttle.source_block_secs", "must be 1 to 604800"));
        }
        Ok(())
    }
}

/// `[authn.session]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused this long, in seconds, ends (default 3600).
    pub idle_timeout_secs: u64,
    /// A session ends this long after login whatever its use (default 43200).
    pub absolute_lifetime_secs: u64,
    /// Sensitive actions need an MFA check this recent, in seconds
    /// (default 300).
    pub step_up_window_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { idle_timeout_secs: 3600, absolute_lifetime_secs: 43_200, step_up_window_secs: 300 }
    }
}

impl SessionConfig {
    /// Checks ranges: idle 60 s to the absolute lifetime, absolute at most
    /// 7 days, step-up window 10 s to 1 h.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(60..=7 * 86_400).contains(&self.absolute_lifetime_secs) {
            return Err(ConfigError::new("session.absolute_lifetime_secs", "must be 60 to 604800"));
        }
        if !(60..=self.absolute_lifetime_secs).contains(&self.idle_timeout_secs) {
            return Err(ConfigError::new(
                "session.idle_timeout_secs",
                "must be 60 to session.absolute_lifetime_secs",
            ));
        }
        if !(10..=3600).contains(&self.step_up_window_secs) {
            return Err(ConfigError::new("session.step_up_window_secs", "must be 10 to 3600"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_owasp_minimum_and_valid() {
        let c = AuthnConfig::default();
        assert_eq!((c.password.m_cost_kib, c.password.t_cost, c.password.p_cost), (19_456, 2, 1));
        assert!(c.password.meets_owasp_minimum());
        assert!(!c.password.insecure_test_only_weak_params);
        assert_eq!(c.password.max_concurrent_hashes, 4);
        assert_eq!((c.password.min_length, c.password.max_length), (12, 256));
        assert_eq!(
            (
                c.session.idle_timeout_secs,
                c.session.absolute_lifetime_secs,
                c.session.step_up_window_secs
            ),
            (3600, 43_200, 300)
        );
        assert_eq!(c.throttle.account_lock_after, 20);
        c.validate().unwrap();
    }

    #[test]
    fn weak_argon2_refused_unless_flagged() {
        let mut p = PasswordConfig { m_cost_kib: 19_455, ..PasswordConfig::default() };
        assert_eq!(p.validate().unwrap_err().key, "password.m_cost_kib");
        p = PasswordConfig { t_cost: 1, ..PasswordConfig::default() };
        assert!(p.validate().is_err());
        // An OWASP-equivalent alternative is fine.
        p = PasswordConfig { m_cost_kib: 47_104, t_cost: 1, ..PasswordConfig::default() };
        p.validate().unwrap();
        PasswordConfig::insecure_for_tests().validate().unwrap();
        let mut weak = PasswordConfig::insecure_for_tests();
        weak.insecure_test_only_weak_params = false;
        assert!(weak.validate().is_err());
    }

    #[test]
    fn ranges_name_their_key() {
        let p = PasswordConfig { min_length: 7, ..PasswordConfig::default() };
        assert_eq!(p.validate().unwrap_err().key, "password.min_length");
        let p = PasswordConfig { max_concurrent_hashes: 0, ..PasswordConfig::default() };
        assert_eq!(p.validate().unwrap_err().key, "password.max_concurrent_hashes");
        let t = ThrottleConfig { account_lock_after: 101, ..ThrottleConfig::default() };
        assert_eq!(t.validate().unwrap_err().key, "throttle.account_lock_after");
        let t = ThrottleConfig { max_delay_secs: 0, ..ThrottleConfig::default() };
        assert_eq!(t.validate().unwrap_err().key, "throttle.max_delay_secs");
        let s = SessionConfig { idle_timeout_secs: 50_000, ..SessionConfig::default() };
        assert_eq!(s.validate().unwrap_err().key, "session.idle_timeout_secs");
    }

    #[test]
    fn unknown_keys_are_refused_and_missing_keys_default() {
        let e = serde_json::from_str::<AuthnConfig>(r#"{"password":{"m_cost":1}}"#).unwrap_err();
        assert!(e.to_string().contains("m_cost"), "{e}");
        let c: AuthnConfig =
            serde_json::from_str(r#"{"session":{"idle_timeout_secs":600}}"#).unwrap();
        assert_eq!(c.session.idle_timeout_secs, 600);
        assert_eq!(c.session.absolute_lifetime_secs, 43_200);
        assert_eq!(c.password, PasswordConfig::default());
    }
}
