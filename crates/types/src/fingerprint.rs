//! Certificate fingerprints as sekimori prints and takes them:
//! `SHA256:AB:CD:…` (the gateway's pinning, the forwarders' TLS pins).
//! The digest is the caller's (aws-lc-rs); this is the one text form.

/// `SHA256:` and the 32 digest bytes as colon-separated upper-case hex.
pub fn format_fingerprint(sha256: &[u8]) -> String {
    let hex: Vec<String> = sha256.iter().map(|b| format!("{b:02X}")).collect();
    format!("SHA256:{}", hex.join(":"))
}

/// Normalises a fingerprint as people type it: case, separators and the
/// `SHA256:` prefix do not matter. `None` unless 32 bytes of hex.
pub fn normalise_fingerprint(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("SHA256:").or_else(|| s.strip_prefix("sha256:")).unwrap_or(s);
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | ' ' | '-')).collect();
    let bytes = hex::decode(&hex).ok().filter(|b| b.len() == 32)?;
    Some(format_fingerprint(&bytes))
}
