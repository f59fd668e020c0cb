//! Argon2id password hashing, off the async runtime and bounded in memory.
//!
//! Hashing runs on Tokio's blocking pool, at most `max_concurrent_hashes` at
//! once, so logins cannot starve the runtime or take unbounded memory
//! (`m_cost_kib` each). Verifying for an unknown user, or a user without a
//! password, hashes against a dummy PHC string with the configured
//! parameters, so it costs what a wrong password costs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version,
};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;
use crate::error::AuthnError;

/// Longest password, in bytes, that is ever hashed. Longer input to
/// [`PasswordHasher::verify`] is checked against the dummy hash and fails.
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// Argon2 output length in bytes.
const OUTPUT_LEN: usize = 32;

/// Hashes and verifies passwords. Cheap to clone: clones share the
/// concurrency limit and the counters.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Arc<Semaphore>,
    /// A PHC string with the configured parameters, a random salt and a random
    /// output: no password matches it, and checking one costs a full hash.
    dummy_phc: String,
    hashes: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost_kib", &self.inner.params.m_cost())
            .field("t_cost", &self.inner.params.t_cost())
            .field("p_cost", &self.inner.params.p_cost())
            .field("hashes_computed", &self.hashes_computed())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Validates `cfg` and prepares the dummy hash.
    pub fn new(cfg: &PasswordConfig) -> Result<Self, AuthnError> {
        cfg.validate()?;
        if !cfg.meets_owasp_minimum() {
            tracing::warn!(
                message = "Password hashing below OWASP's minimum: for tests only.",
                m_cost_kib = cfg.m_cost_kib,
                t_cost = cfg.t_cost,
                p_cost = cfg.p_cost,
            );
        }
        let params = Params::new(cfg.m_cost_kib, cfg.t_cost, cfg.p_cost, Some(OUTPUT_LEN))
            .map_err(|e| AuthnError::Hashing { reason: e.to_string() })?;
        let dummy_phc = dummy_phc(&params)?;
        let permits = usize::try_from(cfg.max_concurrent_hashes).unwrap_or(1).max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Arc::new(Semaphore::new(permits)),
                dummy_phc,
                hashes: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                peak_in_flight: AtomicUsize::new(0),
            }),
        })
    }

    /// Hashes `pw` with a fresh random salt; returns the PHC string to store
    /// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). Does not apply the password
    /// policy: call [`crate::policy::PasswordPolicy::check`] first.
    pub async fn hash(&self, pw: &SecretString) -> Result<String, AuthnError> {
        let len = pw.expose_secret().len();
        if len > MAX_PASSWORD_BYTES {
            return Err(AuthnError::PasswordTooLong { len, max: MAX_PASSWORD_BYTES });
        }
        let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| AuthnError::Random)?;
        let pw = pw.clone();
        self.run_blocking(move |inner| {
            inner.counted(|| {
                Argon2::new(Algorithm::Argon2id, Version::V0x13, inner.params.clone())
                    .hash_password_with_salt(pw.expose_secret().as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(|e| AuthnError::Hashing { reason: e.to_string() })
            })
        })
        .await?
    }

    /// Whether `pw` matches the stored PHC string. With `phc` `None` (unknown
    /// user, or no password set), a malformed `phc`, or an over-long `pw`,
    /// hashes against the dummy and returns `false`, so every failure costs
    /// one Argon2 computation like a wrong password does. Also `false` if the
    /// hashing task could not run.
    pub async fn verify(&self, pw: &SecretString, phc: Option<&str>) -> bool {
        let pw = pw.clone();
        let stored = phc.map(str::to_owned);
        self.run_blocking(move |inner| {
            inner.verify(pw.expose_secret().as_bytes(), stored.as_deref())
        })
        .await
        .unwrap_or(false)
    }

    /// Whether `phc` was made with other parameters than the configured ones
    /// (or another algorithm, or is unreadable), so that it should be
    /// replaced with [`Self::hash`] after the next successful login.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return true;
        };
        if hash.algorithm != ARGON2ID_IDENT || hash.version != Some(Version::V0x13.into()) {
            return true;
        }
        let Ok(stored) = Params::try_from(&hash) else {
            return true;
        };
        let want = &self.inner.params;
        (stored.m_cost(), stored.t_cost(), stored.p_cost(), stored.output_len())
            != (want.m_cost(), want.t_cost(), want.p_cost(), want.output_len())
    }

    /// How many Argon2 computations this hasher (and its clones) has run:
    /// lets tests prove that failures take the full cost.
    pub fn hashes_computed(&self) -> u64 {
        self.inner.hashes.load(Ordering::Relaxed)
    }

    /// Waits for a permit, then runs `f` on the blocking pool.
    async fn run_blocking<T, F>(&self, f: F) -> Result<T, AuthnError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> T + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| AuthnError::HashingTaskFailed)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let out = f(&inner);
            drop(permit);
            out
        })
        .await
        .map_err(|_| AuthnError::HashingTaskFailed)
    }
}

impl Inner {
    /// Runs one Argon2 computation, counting it.
    fn counted<T>(&self, f: impl FnOnce() -> T) -> T {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst).saturating_add(1);
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        let out = f();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.hashes.fetch_add(1, Ordering::Relaxed);
        out
    }

    fn verify(&self, pw: &[u8], stored: Option<&str>) -> bool {
        let real = stored.filter(|_| pw.len() <= MAX_PASSWORD_BYTES).and_then(|s| match parse_bounded(s) {
            Some(h) => Some(h),
            None => {
                tracing::warn!(message = "Stored password hash is malformed or out of bounds; treating as wrong.");
                None
            }
        });
        match real {
            Some(hash) => self.counted(|| Argon2::default().verify_password(pw, &hash).is_ok()),
            None => {
                let pw = pw.get(..MAX_PASSWORD_BYTES).unwrap_or(pw);
                if let Some(dummy) = parse_bounded(&self.dummy_phc) {
                    // The result is ignored: only the cost matters.
                    let _ = self.counted(|| Argon2::default().verify_password(pw, &dummy));
                }
                false
            }
        }
    }
}

/// Parses an Argon2id PHC string whose parameters are within what
/// configuration allows, so a corrupt row cannot ask for 4 GiB.
fn parse_bounded(phc: &str) -> Option<PasswordHash> {
    let hash = PasswordHash::new(phc).ok()?;
    // Without salt or output, argon2 would answer "no" without hashing.
    if hash.algorithm != ARGON2ID_IDENT || hash.salt.is_none() || hash.hash.is_none() {
        return None;
    }
    let params = Params::try_from(&hash).ok()?;
    let ok = params.m_cost() <= 1_048_576 && params.t_cost() <= 100 && params.p_cost() <= 64;
    ok.then_some(hash)
}

/// A PHC string with `params`, a random salt and a random output.
fn dummy_phc(params: &Params) -> Result<String, AuthnError> {
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    let mut out = [0u8; OUTPUT_LEN];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| AuthnError::Random)?;
    aws_lc_rs::rand::fill(&mut out).map_err(|_| AuthnError::Random)?;
    let bad = |e: argon2::password_hash::phc::Error| AuthnError::Hashing { reason: e.to_string() };
    let hash = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)
            .map_err(|e| AuthnError::Hashing { reason: e.to_string() })?,
        salt: Some(Salt::new(&salt).map_err(bad)?),
        hash: Some(Output::new(&out).map_err(bad)?),
    };
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(&PasswordConfig::insecure_for_tests()).unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hasher();
        let phc = h.hash(&secret("correct horse battery staple")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h.verify(&secret("correct horse battery staple"), Some(&phc)).await);
        assert!(!h.verify(&secret("correct horse battery stapler"), Some(&phc)).await);
        // Same password, different salt.
        assert_ne!(phc, h.hash(&secret("correct horse battery staple")).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_and_malformed_hash_still_cost_one_hash() {
        let h = hasher();
        let before = h.hashes_computed();
        assert!(!h.verify(&secret("anything at all"), None).await);
        assert_eq!(h.hashes_computed(), before + 1);
        assert!(!h.verify(&secret("anything at all"), Some("not a phc string")).await);
        assert_eq!(h.hashes_computed(), before + 2);
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(!h.verify(&secret(&long), Some(&h.inner.dummy_phc.clone())).await);
        assert_eq!(h.hashes_computed(), before + 3);
    }

    #[tokio::test]
    async fn wrong_password_costs_one_hash_too() {
        let h = hasher();
        let phc = h.hash(&secret("a long enough password")).await.unwrap();
        let before = h.hashes_computed();
        assert!(!h.verify(&secret("wrong"), Some(&phc)).await);
        assert_eq!(h.hashes_computed(), before + 1);
    }

    #[test]
    fn dummy_uses_configured_parameters() {
        let h = hasher();
        assert!(!h.needs_rehash(&h.inner.dummy_phc));
        let dummy = PasswordHash::new(&h.inner.dummy_phc).unwrap();
        assert_eq!(dummy.algorithm, ARGON2ID_IDENT);
    }

    #[tokio::test]
    async fn needs_rehash_when_parameters_change() {
        let weak = hasher();
        let phc = weak.hash(&secret("some password here")).await.unwrap();
        assert!(!weak.needs_rehash(&phc));
        let cfg = PasswordConfig { m_cost_kib: 128, ..PasswordConfig::insecure_for_tests() };
        let other = PasswordHasher::new(&cfg).unwrap();
        assert!(other.needs_rehash(&phc));
        // Old hashes still verify under the new configuration.
        assert!(other.verify(&secret("some password here"), Some(&phc)).await);
        assert!(other.needs_rehash("garbage"));
        assert!(other.needs_rehash(
            "$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A"
        ));
    }

    #[tokio::test]
    async fn too_long_password_is_not_hashed() {
        let h = hasher();
        let e = h.hash(&secret(&"x".repeat(MAX_PASSWORD_BYTES + 1))).await.unwrap_err();
        assert!(matches!(e, AuthnError::PasswordTooLong { .. }));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_is_bounded() {
        let cfg = PasswordConfig {
            max_concurrent_hashes: 2,
            m_cost_kib: 256,
            ..PasswordConfig::insecure_for_tests()
        };
        let h = PasswordHasher::new(&cfg).unwrap();
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.verify(&SecretString::from("pw"), None).await })
            })
            .collect();
        for t in tasks {
            assert!(!t.await.unwrap());
        }
        assert_eq!(h.hashes_computed(), 12);
        assert!(h.inner.peak_in_flight.load(Ordering::SeqCst) <= 2);
    }

    #[tokio::test]
    async fn defaults_hash_with_owasp_parameters() {
        let h = PasswordHasher::new(&PasswordConfig::default()).unwrap();
        let phc = h.hash(&secret("one hash at full cost")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!h.needs_rehash(&phc));
    }

    #[tokio::test]
    async fn phc_without_output_still_costs_a_hash() {
        let h = hasher();
        let before = h.hashes_computed();
        assert!(!h.verify(&secret("pw"), Some("$argon2id$v=19$m=64,t=1,p=1")).await);
        assert_eq!(h.hashes_computed(), before + 1);
    }

    #[test]
    fn rejects_invalid_config() {
        let cfg = PasswordConfig { m_cost_kib: 64, t_cost: 1, ..PasswordConfig::default() };
        assert!(matches!(PasswordHasher::new(&cfg), Err(AuthnError::Config(_))));
    }

    #[test]
    fn debug_shows_parameters_only() {
        let s = format!("{:?}", hasher());
        assert!(s.contains("m_cost_kib: 64"), "{s}");
        assert!(!s.contains("argon2id$"), "{s}");
    }
}
