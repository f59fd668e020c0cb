//! Login throttling as pure decisions over persisted state.
//!
//! Two keys are throttled independently; the caller checks both before
//! verifying a password and refuses without verifying if either says no.
//!
//! - **Account**, keyed by the username *as typed* (after
//!   [`sekimori_types::Username`] folding), whether or not such a user
//!   exists: unknown and real accounts get the same delays, lockouts and
//!   responses, so throttling reveals nothing about which usernames exist.
//!   The first [`ThrottleConfig::account_free_failures`] consecutive failures
//!   are free; each later one imposes a delay of `base × 2^(n − free)`
//!   seconds, capped at `max_delay_secs`, counted from the last failure.
//!   [`ThrottleConfig::account_lock_after`] consecutive failures (at most 100,
//!   NIST SP 800-63B) lock the account until an admin unlocks it. A
//!   successful login resets the state (the caller stores
//!   `ThrottleState::default()`).
//! - **Source address**: failures are counted in a fixed window that starts
//!   at the first failure; past `source_free_failures` in the window, the same
//!   growing delays apply; at `source_block_after` the source is blocked for
//!   `source_block_secs`. Success does not reset a source (one valid account
//!   must not launder an attacker's guesses against others).
//!
//! Attempts refused by a decision are not failures: callers record a
//! failure only after a password or code was actually checked and wrong.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

pub use crate::config::ThrottleConfig;
use sekimori_types::{from_micros, to_micros};

/// Persisted throttling state for one account or one source address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleState {
    /// Consecutive failures (account) or failures in the window (source).
    pub failures: u32,
    /// When the first of them happened, µs since the Unix epoch.
    pub first_failure_micros: i64,
    /// When the last of them happened (for a blocked source, when the block
    /// began), µs since the Unix epoch.
    pub last_failure_micros: i64,
    /// Account: locked until an admin unlocks. Source: blocked until
    /// `last_failure_micros + source_block_secs`.
    pub locked: bool,
}

/// What to do with a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead and check the credentials.
    Allow,
    /// Refuse for now; try again at `until`.
    Wait {
        /// When the next attempt will be allowed.
        until: OffsetDateTime,
    },
    /// The account is locked until an admin unlocks it.
    Locked,
    /// The source address is blocked until `until`.
    Blocked {
        /// When the block ends.
        until: OffsetDateTime,
    },
}

impl Decision {
    /// Whether the attempt may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

/// `base × 2^(failures − free)` seconds, capped at `max`; zero while
/// `failures <= free`.
fn growing_delay(base: u64, max: u64, free: u32, failures: u32) -> Duration {
    if failures <= free {
        return Duration::ZERO;
    }
    let exp = failures - free;
    let factor = 1u64.checked_shl(exp).filter(|_| exp < 64).unwrap_or(u64::MAX);
    secs(base.saturating_mul(factor).min(max))
}

impl ThrottleConfig {
    /// The delay after `failures` consecutive failures on an account.
    pub fn account_delay(&self, failures: u32) -> Duration {
        growing_delay(
            self.base_delay_secs,
            self.max_delay_secs,
            self.account_free_failures,
            failures,
        )
    }

    /// The delay after `failures` failures from a source within the window.
    pub fn source_delay(&self, failures: u32) -> Duration {
        growing_delay(
            self.base_delay_secs,
            self.max_delay_secs,
            self.source_free_failures,
            failures,
        )
    }
}

/// `at + d`, saturating at the representable range.
fn add(at: OffsetDateTime, d: Duration) -> OffsetDateTime {
    at.checked_add(d).unwrap_or(at)
}

/// The key under which an account name's failures are counted: the typed
/// name, trimmed and lower-cased, whether or not such a user exists (so
/// unknown names throttle and lock exactly like real ones). Logins count
/// under it and unlocking clears it: both must use this one function.
pub fn account_key(typed_username: &str) -> String {
    format!("account:{}", typed_username.trim().to_lowercase())
}

/// The key under which a client address's failures are counted.
pub fn source_key(ip: std::net::IpAddr) -> String {
    format!("source:{ip}")
}

/// May this account try to log in at `now`?
pub fn check_account(cfg: &ThrottleConfig, state: &ThrottleState, now: OffsetDateTime) -> Decision {
    if state.locked || state.failures >= cfg.account_lock_after {
        return Decision::Locked;
    }
    let delay = cfg.account_delay(state.failures);
    if delay.is_zero() {
        return Decision::Allow;
    }
    let until = add(from_micros(state.last_failure_micros), delay);
    if now < until { Decision::Wait { until } } else { Decision::Allow }
}

/// Records a failed login for an account; returns the new state and whether
/// this failure locked it.
pub fn record_account_failure(
    cfg: &ThrottleConfig,
    state: ThrottleState,
    now: OffsetDateTime,
) -> (ThrottleState, bool) {
    let now_us = to_micros(now);
    let failures = state.failures.saturating_add(1);
    let locked = state.locked || failures >= cfg.account_lock_after;
    let next = ThrottleState {
        failures,
        first_failure_micros: if state.failures == 0 { now_us } else { state.first_failure_micros },
        last_failure_micros: now_us,
        locked,
    };
    (next, locked && !state.locked)
}

/// When a blocked source's block ends.
fn block_end(cfg: &ThrottleConfig, state: &ThrottleState) -> OffsetDateTime {
    add(from_micros(state.last_failure_micros), secs(cfg.source_block_secs))
}

/// Whether the state no longer counts at `now`: its window passed, or its
/// block ended.
fn source_expired(cfg: &ThrottleConfig, state: &ThrottleState, now: OffsetDateTime) -> bool {
    if state.locked {
        now >= block_end(cfg, state)
    } else {
        now >= add(from_micros(state.first_failure_micros), secs(cfg.source_window_secs))
    }
}

/// May this source address try to log in at `now`?
pub fn check_source(cfg: &ThrottleConfig, state: &ThrottleState, now: OffsetDateTime) -> Decision {
    if state.failures == 0 || source_expired(cfg, state, now) {
        return Decision::Allow;
    }
    if state.locked {
        return Decision::Blocked { until: block_end(cfg, state) };
    }
    let delay = cfg.source_delay(state.failures);
    if delay.is_zero() {
        return Decision::Allow;
    }
    let until = add(from_micros(state.last_failure_micros), delay);
    if now < until { Decision::Wait { until } } else { Decision::Allow }
}

/// Records a failed login from a source address; returns the new state and
/// whether this failure blocked it. An expired window or block starts
/// afresh. While blocked, further failures are counted but do not extend
/// the block.
pub fn record_source_failure(
    cfg: &ThrottleConfig,
    state: ThrottleState,
    now: OffsetDateTime,
) -> (ThrottleState, bool) {
    let now_us = to_micros(now);
    let base = if state.failures == 0 || source_expired(cfg, &state, now) {
        ThrottleState {
            failures: 0,
            first_failure_micros: now_us,
            last_failure_micros: now_us,
            locked: false,
        }
    } else {
        state
    };
    if base.locked {
        return (ThrottleState { failures: base.failures.saturating_add(1), ..base }, false);
    }
    let failures = base.failures.saturating_add(1);
    let locked = failures >= cfg.source_block_after;
    (ThrottleState { failures, last_failure_micros: now_us, locked, ..base }, locked)
}

#[cfg(test)]
mod key_tests {
    #[test]
    fn account_keys_fold_case_and_space() {
        assert_eq!(super::account_key(" Tanaka "), "account:tanaka");
        assert_eq!(super::account_key("tanaka"), super::account_key("TANAKA"));
        assert_eq!(super::source_key("203.0.113.5".parse().unwrap()), "source:203.0.113.5");
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn account_keys_fold_case_and_space() {
        assert_eq!(account_key(" Tanaka "), "account:tanaka");
        assert_eq!(account_key("tanaka"), account_key("TANAKA"));
        assert_eq!(source_key("203.0.113.5".parse().unwrap()), "source:203.0.113.5");
    }

    fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn account_free_then_growing_delays_then_lock() {
        let cfg = ThrottleConfig::default();
        let mut s = ThrottleState::default();
        let mut now = t(0);
        for _ in 0..5 {
            assert_eq!(check_account(&cfg, &s, now), Decision::Allow);
            s = record_account_failure(&cfg, s, now).0;
        }
        // Five free failures: the sixth attempt is still immediate.
        assert_eq!(check_account(&cfg, &s, now), Decision::Allow);
        s = record_account_failure(&cfg, s, now).0;
        assert_eq!(s.failures, 6);
        assert_eq!(check_account(&cfg, &s, now), Decision::Wait { until: t(2) });
        assert_eq!(check_account(&cfg, &s, t(1)), Decision::Wait { until: t(2) });
        assert_eq!(check_account(&cfg, &s, t(2)), Decision::Allow);
        now = t(2);
        s = record_account_failure(&cfg, s, now).0;
        assert_eq!(check_account(&cfg, &s, now), Decision::Wait { until: t(2 + 4) });
        // Delays cap at max_delay_secs.
        assert_eq!(cfg.account_delay(19), Duration::seconds(900));
        // Lock at 20.
        while s.failures < 19 {
            now = add(now, Duration::hours(1));
            let (n, locked) = record_account_failure(&cfg, s, now);
            assert!(!locked);
            s = n;
        }
        let (n, became_locked) = record_account_failure(&cfg, s, now);
        assert!(became_locked && n.locked);
        assert_eq!(check_account(&cfg, &n, add(now, Duration::days(365))), Decision::Locked);
        // Further failures do not report a new lock.
        assert!(!record_account_failure(&cfg, n, now).1);
        // An admin unlock (or a success) stores the default state.
        assert_eq!(check_account(&cfg, &ThrottleState::default(), now), Decision::Allow);
    }

    #[test]
    fn unknown_and_real_accounts_behave_the_same() {
        // The state machine never sees whether the account exists: same
        // inputs, same decisions. This pins that no such input is added.
        let cfg = ThrottleConfig::default();
        let run = || {
            let mut s = ThrottleState::default();
            let mut out = Vec::new();
            for i in 0..25 {
                out.push(check_account(&cfg, &s, t(i * 10)));
                s = record_account_failure(&cfg, s, t(i * 10)).0;
            }
            out
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn source_window_delay_and_block() {
        let cfg = ThrottleConfig::default();
        let mut s = ThrottleState::default();
        for i in 0..20 {
            assert_eq!(check_source(&cfg, &s, t(i)), Decision::Allow);
            s = record_source_failure(&cfg, s, t(i)).0;
        }
        assert_eq!(check_source(&cfg, &s, t(19)), Decision::Allow, "20 free failures");
        s = record_source_failure(&cfg, s, t(20)).0;
        assert_eq!(check_source(&cfg, &s, t(20)), Decision::Wait { until: t(22) });
        // Reach 100 within the window.
        let mut blocked_at = None;
        for i in 21..200 {
            let (n, b) = record_source_failure(&cfg, s, t(i));
            s = n;
            if b {
                blocked_at = Some(i);
                break;
            }
        }
        let at = blocked_at.unwrap();
        assert_eq!(s.failures, 100);
        assert_eq!(check_source(&cfg, &s, t(at + 1)), Decision::Blocked { until: t(at + 900) });
        // More failures while blocked do not extend it.
        s = record_source_failure(&cfg, s, t(at + 100)).0;
        assert_eq!(check_source(&cfg, &s, t(at + 899)), Decision::Blocked { until: t(at + 900) });
        // The block expires, and the next failure starts afresh.
        assert_eq!(check_source(&cfg, &s, t(at + 900)), Decision::Allow);
        let (n, b) = record_source_failure(&cfg, s, t(at + 900));
        assert!(!b);
        assert_eq!((n.failures, n.locked), (1, false));
    }

    #[test]
    fn source_window_expires() {
        let cfg = ThrottleConfig::default();
        let mut s = ThrottleState::default();
        for i in 0..50 {
            s = record_source_failure(&cfg, s, t(i)).0;
        }
        assert!(matches!(check_source(&cfg, &s, t(50)), Decision::Wait { .. }));
        assert_eq!(check_source(&cfg, &s, t(900)), Decision::Allow);
        let n = record_source_failure(&cfg, s, t(900)).0;
        assert_eq!(n.failures, 1);
        assert_eq!(n.first_failure_micros, to_micros(t(900)));
    }

    #[test]
    fn state_serialises() {
        let s = ThrottleState {
            failures: 3,
            first_failure_micros: 1,
            last_failure_micros: 2,
            locked: true,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ThrottleState>(&json).unwrap(), s);
    }

    fn any_config() -> impl Strategy<Value = ThrottleConfig> {
        (1u32..=100, 1u64..=60, 1u64..=86_400).prop_flat_map(|(lock, base, max)| {
            (0..lock).prop_map(move |free| ThrottleConfig {
                account_free_failures: free,
                account_lock_after: lock,
                base_delay_secs: base,
                max_delay_secs: max.max(base),
                ..ThrottleConfig::default()
            })
        })
    }

    proptest! {
        #[test]
        fn locked_after_lock_after_consecutive_failures(cfg in any_config(), step in 0i64..100_000) {
            prop_assert!(cfg.validate().is_ok());
            let mut s = ThrottleState::default();
            let mut now = t(0);
            for i in 0..cfg.account_lock_after {
                let (n, became) = record_account_failure(&cfg, s, now);
                prop_assert_eq!(became, i + 1 == cfg.account_lock_after);
                s = n;
                now = add(now, Duration::seconds(step));
            }
            prop_assert_eq!(check_account(&cfg, &s, now), Decision::Locked);
            prop_assert_eq!(check_account(&cfg, &s, add(now, Duration::days(3650))), Decision::Locked);
        }

        #[test]
        fn never_allowed_at_or_past_lock_after(
            cfg in any_config(),
            extra in 0u32..1000,
            first in -1_000_000i64..1_000_000,
            last in -1_000_000i64..1_000_000,
            now in -1_000_000i64..10_000_000,
            locked: bool,
        ) {
            let s = ThrottleState {
                failures: cfg.account_lock_after + extra,
                first_failure_micros: to_micros(t(first)),
                last_failure_micros: to_micros(t(last)),
                locked,
            };
            prop_assert_eq!(check_account(&cfg, &s, t(now)), Decision::Locked);
        }

        #[test]
        fn delays_are_monotone(cfg in any_config(), n in 0u32..200) {
            prop_assert!(cfg.account_delay(n) <= cfg.account_delay(n + 1));
            prop_assert!(cfg.source_delay(n) <= cfg.source_delay(n + 1));
            prop_assert!(cfg.account_delay(n) <= Duration::seconds(i64::try_from(cfg.max_delay_secs).unwrap()));
        }

        #[test]
        fn lock_after_over_100_is_rejected(lock in 101u32..=u32::MAX) {
            let cfg = ThrottleConfig { account_lock_after: lock, ..ThrottleConfig::default() };
            let e = cfg.validate().unwrap_err();
            prop_assert_eq!(e.key, "throttle.account_lock_after");
        }

        #[test]
        fn source_is_never_allowed_while_blocked(
            failures in 0u32..500,
            now in 0i64..2000,
        ) {
            let cfg = ThrottleConfig::default();
            let mut s = ThrottleState::default();
            let mut became = None;
            for i in 0..failures {
                let (n, b) = record_source_failure(&cfg, s, t(0));
                if b { became = Some(i); }
                s = n;
            }
            let d = check_source(&cfg, &s, t(now));
            if became.is_some() && now < 900 {
                prop_assert_eq!(d, Decision::Blocked { until: t(900) });
            }
            if now >= 900 {
                prop_assert_eq!(d, Decision::Allow);
            }
        }
    }
}
