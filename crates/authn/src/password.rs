//! Argon2id password hashing, off the async runtime and bounded in memory.
//!
//! Hashing runs on a fixed pool of `max_concurrent_hashes` dedicated threads,
//! so logins cannot starve the runtime or take unbounded memory. Dedicated
//! threads matter for memory: the allocator keeps a freed Argon2 buffer
//! (`m_cost_kib`) in the arena of the thread that used it, so on Tokio's
//! rotating blocking pool every new thread kept another 19 MiB (≈ 300 MiB per
//! concurrent login was measured, docs/PERFORMANCE.md); with N long-lived
//! threads the buffers are reused and memory stays near N × `m_cost_kib`. Verifying for an unknown user, or a user without a
//! password, hashes against a dummy PHC string with the configured
//! parameters, so it costs what a wrong password costs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Params, Version};
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
    /// Work queue of the hashing threads; they exit when it closes (when the
    /// last clone of the hasher is dropped).
    jobs: std::sync::mpsc::Sender<Job>,
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
        let jobs = spawn_workers(permits)?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Arc::new(Semaphore::new(permits)),
                jobs,
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
                let mut out = [0u8; OUTPUT_LEN];
                argon2id_into(
                    &inner.params,
                    Version::V0x13,
                    pw.expose_secret().as_bytes(),
                    &salt,
                    &mut out,
                )?;
                let bad = |e: argon2::password_hash::phc::Error| AuthnError::Hashing {
                    reason: e.to_string(),
                };
                let phc = PasswordHash {
                    algorithm: ARGON2ID_IDENT,
                    version: Some(Version::V0x13.into()),
                    params: ParamsString::try_from(&inner.params)
                        .map_err(|e| AuthnError::Hashing { reason: e.to_string() })?,
                    salt: Some(Salt::new(&salt).map_err(bad)?),
                    hash: Some(Output::new(&out).map_err(bad)?),
                };
                Ok(phc.to_string())
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

    /// Waits for a permit (so at most N jobs are ever queued, and a caller
    /// that gives up before its turn costs nothing), then runs `f` on a
    /// hashing thread.
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
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = f(&inner);
            drop(permit);
            let _ = tx.send(out);
        });
        self.inner.jobs.send(job).map_err(|_| AuthnError::HashingTaskFailed)?;
        rx.await.map_err(|_| AuthnError::HashingTaskFailed)
    }
}

/// One unit of work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Starts `n` hashing threads sharing one queue. A job that panics is
/// contained (its caller sees `HashingTaskFailed`); the thread lives on.
fn spawn_workers(n: usize) -> Result<std::sync::mpsc::Sender<Job>, AuthnError> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    for i in 0..n {
        let rx = Arc::clone(&rx);
        std::thread::Builder::new()
            .name(format!("sekimori-argon2-{i}"))
            .spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return, // the hasher is gone
                    }
                }
            })
            .map_err(|_| AuthnError::HashingTaskFailed)?;
    }
    Ok(tx)
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
            Some(hash) => self.counted(|| verify_phc(pw, &hash)),
            None => {
                let pw = pw.get(..MAX_PASSWORD_BYTES).unwrap_or(pw);
                if let Some(dummy) = parse_bounded(&self.dummy_phc) {
                    // The result is ignored: only the cost matters.
                    let _ = self.counted(|| verify_phc(pw, &dummy));
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

thread_local! {
    /// The Argon2 working memory of this hashing thread, allocated once at
    /// its first hash and reused for every later one: no allocation, no page
    /// faults, and a bound of `max_concurrent_hashes` × `m_cost_kib` in all.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Argon2id of `pw` and `salt` with `params` into `out`, in this thread's
/// reusable working memory.
fn argon2id_into(
    params: &Params,
    version: Version,
    pw: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), AuthnError> {
    let argon = Argon2::new(Algorithm::Argon2id, version, params.clone());
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        let need = params.block_count();
        if blocks.len() < need {
            blocks.resize(need, argon2::Block::default());
        }
        let mem = blocks.get_mut(..need).ok_or(AuthnError::HashingTaskFailed)?;
        argon
            .hash_password_into_with_memory(pw, salt, out, mem)
            .map_err(|e| AuthnError::Hashing { reason: e.to_string() })
    })
}

/// Whether `pw` matches a parsed Argon2id PHC hash: recomputed with the
/// stored parameters and salt, compared in constant time.
fn verify_phc(pw: &[u8], hash: &PasswordHash) -> bool {
    use subtle::ConstantTimeEq as _;
    let (Some(salt), Some(expected)) = (hash.salt.as_ref(), hash.hash.as_ref()) else {
        return false;
    };
    if hash.algorithm != ARGON2ID_IDENT {
        return false;
    }
    let version = match hash.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(stored) = Params::try_from(hash) else {
        return false;
    };
    let Ok(params) =
        Params::new(stored.m_cost(), stored.t_cost(), stored.p_cost(), Some(expected.len()))
    else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2id_into(&params, version, pw, salt.as_ref(), &mut out).is_err() {
        return false;
    }
    bool::from(out.as_slice().ct_eq(expected.as_bytes()))
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
    /// Hashes made in reusable memory are ordinary PHC strings: the
    /// argon2 crate's own verifier accepts ours, ours accepts its, and a
    /// wrong password fails both ways.
    #[tokio::test]
    async fn phc_interoperates_with_the_reference_api() {
        use argon2::password_hash::PasswordVerifier as _;
        let cfg = PasswordConfig::insecure_for_tests();
        let hasher = PasswordHasher::new(&cfg).unwrap();
        let pw = SecretString::from("Kiri-no-naka-4417-michi");
        let ours = hasher.hash(&pw).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"Kiri-no-naka-4417-michi", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"kiri-no-naka-4417-michi", &parsed).is_err());

        let params = Params::new(cfg.m_cost_kib, cfg.t_cost, cfg.p_cost, Some(OUTPUT_LEN)).unwrap();
        let theirs = argon2::password_hash::PasswordHasher::hash_password_with_salt(
            &Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            b"Kiri-no-naka-4417-michi",
            b"0123456789abcdef",
        )
        .unwrap()
        .to_string();
        assert!(hasher.verify(&pw, Some(&theirs)).await);
        assert!(!hasher.verify(&SecretString::from("wrong"), Some(&theirs)).await);
        assert!(hasher.verify(&pw, Some(&ours)).await);
    }

    /// Regression (memory per login, docs/PERFORMANCE.md): every hash runs
    /// on one of exactly `max_concurrent_hashes` long-lived threads, never on
    /// a fresh thread whose allocator arena would keep another buffer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn hashes_run_on_a_fixed_set_of_dedicated_threads() {
        let mut cfg = PasswordConfig::insecure_for_tests();
        cfg.max_concurrent_hashes = 2;
        let hasher = PasswordHasher::new(&cfg).unwrap();
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let h = hasher.clone();
            tasks.push(tokio::spawn(async move {
                h.run_blocking(|_| std::thread::current().name().map(str::to_owned)).await.unwrap()
            }));
        }
        let mut names = std::collections::BTreeSet::new();
        for t in tasks {
            names.insert(t.await.unwrap().unwrap_or_default());
        }
        assert!(names.len() <= 2, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("sekimori-argon2-")), "{names:?}");
    }

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
