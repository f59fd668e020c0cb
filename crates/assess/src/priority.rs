//! The order to act in.
//!
//! 1. A remote-access device (VPN, SSL-VPN, gateway) or an internet-facing
//!    asset with a known-exploited vulnerability: always first. This is how
//!    the hospitals of 2021, 2022 and 2026 were entered.
//! 2. Known-exploited with known ransomware use.
//! 3. Known-exploited.
//! 4. Any other finding on a remote-access or internet-facing asset.
//! 5. The rest.
//! 6. Assets checked and found not affected (listed only with `--all`).
//!
//! Within a tier: affected before possibly affected, then ransomware use,
//! CVSS, EPSS, confidence; ties by CVE and asset, so the order is stable.

use std::cmp::{Ordering, Reverse};

use crate::matching::{Finding, MatchStatus};

/// The tier of a finding (1 first) and why, English and Japanese.
pub fn tier(f: &Finding) -> (u8, &'static str, &'static str) {
    if f.status == MatchStatus::NotAffected {
        return (
            6,
            "not affected by version (listed for the record)",
            "バージョンにより影響なし（記録のため掲載）",
        );
    }
    let exposed = f.remote_path || f.internet_facing;
    match (f.known_exploited, exposed, f.ransomware) {
        (true, true, _) => (
            1,
            "known-exploited vulnerability on a remote-access or internet-facing device",
            "リモートアクセス機器またはインターネットに面した機器の既知の悪用された脆弱性",
        ),
        (true, false, true) => (
            2,
            "known-exploited vulnerability used in ransomware campaigns",
            "ランサムウェアでの悪用が知られている既知の悪用された脆弱性",
        ),
        (true, false, false) => (3, "known-exploited vulnerability", "既知の悪用された脆弱性"),
        (false, true, _) => (
            4,
            "vulnerability on a remote-access or internet-facing device",
            "リモートアクセス機器またはインターネットに面した機器の脆弱性",
        ),
        (false, false, _) => (5, "ranked by severity", "深刻度による順位"),
    }
}

fn order(a: &Finding, b: &Finding) -> Ordering {
    let key = |f: &Finding| {
        (
            tier(f).0,
            Reverse(f.status),
            Reverse(f.ransomware),
            Reverse(f.severity),
            Reverse(ordered(f.cvss)),
            Reverse(ordered(f.epss)),
            Reverse(f.confidence),
        )
    };
    key(a)
        .cmp(&key(b))
        .then_with(|| a.cve.cmp(&b.cve))
        .then_with(|| a.asset_ref.id.cmp(&b.asset_ref.id))
}

/// A float as an orderable integer (scores have at most a few decimals).
fn ordered(x: Option<f32>) -> i64 {
    x.map(|v| (f64::from(v) * 10_000.0).round() as i64).unwrap_or(-1)
}

/// Sort `findings` into priority order and number them from 1.
pub fn rank(findings: &mut [Finding]) {
    findings.sort_by(order);
    for (i, f) in findings.iter_mut().enumerate() {
        let (_, en, ja) = tier(f);
        f.priority = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut en = en.to_owned();
        let mut ja = ja.to_owned();
        if f.status == MatchStatus::PossiblyAffected {
            en.push_str(&format!(" ({})", f.status.as_str().replace('_', " ")));
            ja.push_str(&format!("（{}）", f.status.ja()));
        }
        f.priority_reason = en;
        f.priority_reason_ja = ja;
    }
}
