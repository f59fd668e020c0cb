//! Session lifetime rules: an idle timeout, an absolute lifetime, and how
//! recent an MFA check must be for sensitive actions (step-up).

use sekimori_types::{Lang, Localized};
use time::{Duration, OffsetDateTime};

pub use crate::config::SessionConfig;

/// Why a session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionExpiry {
    /// Unused for longer than `idle_timeout_secs`.
    #[error("session idle for too long")]
    Idle,
    /// Older than `absolute_lifetime_secs`.
    #[error("session reached its maximum lifetime")]
    Absolute,
}

impl SessionExpiry {
    /// A stable machine-readable code: `session_idle`, `session_expired`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Idle => "session_idle",
            Self::Absolute => "session_expired",
        }
    }
}

impl Localized for SessionExpiry {
    fn localized(&self, lang: Lang) -> String {
        let (ja, en) = match self {
            Self::Idle => (
                "一定時間操作がなかったため、ログアウトしました。もう一度ログインしてください。",
                "You were signed out after a period of inactivity. Please sign in again.",
            ),
            Self::Absolute => (
                "セッションの有効期限が切れました。もう一度ログインしてください。",
                "Your session has expired. Please sign in again.",
            ),
        };
        lang.pick(ja, en).to_owned()
    }
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

/// Whether a session created at `created_at` and last used at
/// `last_seen_at` is still valid at `now`. The absolute lifetime is checked
/// first, so a session past both limits reports [`SessionExpiry::Absolute`].
pub fn check_session(
    cfg: &SessionConfig,
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), SessionExpiry> {
    if now - created_at >= secs(cfg.absolute_lifetime_secs) {
        return Err(SessionExpiry::Absolute);
    }
    if now - last_seen_at >= secs(cfg.idle_timeout_secs) {
        return Err(SessionExpiry::Idle);
    }
    Ok(())
}

/// Whether an MFA check at `mfa_at` is recent enough at `now` for a
/// step-up action. An `mfa_at` in the future (clock stepped back) is not
/// fresh: the user is asked again, the safe direction.
pub fn mfa_is_fresh(cfg: &SessionConfig, mfa_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    mfa_at <= now && now - mfa_at < secs(cfg.step_up_window_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn idle_and_absolute_limits() {
        let c = SessionConfig::default();
        assert_eq!(check_session(&c, t(0), t(0), t(3599)), Ok(()));
        assert_eq!(check_session(&c, t(0), t(0), t(3600)), Err(SessionExpiry::Idle));
        // Kept alive by use, until the absolute limit.
        assert_eq!(check_session(&c, t(0), t(43_000), t(43_199)), Ok(()));
        assert_eq!(check_session(&c, t(0), t(43_199), t(43_200)), Err(SessionExpiry::Absolute));
        assert_eq!(check_session(&c, t(0), t(0), t(50_000)), Err(SessionExpiry::Absolute));
    }

    #[test]
    fn step_up_window() {
        let c = SessionConfig::default();
        assert!(mfa_is_fresh(&c, t(0), t(0)));
        assert!(mfa_is_fresh(&c, t(0), t(299)));
        assert!(!mfa_is_fresh(&c, t(0), t(300)));
        assert!(!mfa_is_fresh(&c, t(10), t(0)), "future MFA time is not trusted");
    }

    #[test]
    fn codes_and_messages() {
        assert_eq!(SessionExpiry::Idle.code(), "session_idle");
        assert_eq!(SessionExpiry::Absolute.code(), "session_expired");
        assert!(SessionExpiry::Idle.localized(Lang::Ja).contains("ログイン"));
    }
}
