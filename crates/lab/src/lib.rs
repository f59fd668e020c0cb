//! Synthetic hospital traffic: a deterministic generator of valid pcap
//! captures for fixtures, benchmarks of any size and, later, incident
//! replay.
//!
//! A simulated hospital ([`hospital`]) — a DNS/DHCP server, a PACS, an
//! HL7 engine, a file server, a terminal server, imaging modalities, HL7
//! feeds, workstations and a vendor's FortiGate VPN box — talks:
//!
//! - DHCP DISCOVER/OFFER/REQUEST/ACK per host (hostname, vendor class),
//!   renewals every half hour; DNS queries and answers;
//! - DICOM associations (A-ASSOCIATE-RQ/AC with the modality's and the
//!   PACS's AE titles, C-ECHO, C-STORE of synthetic images, release);
//! - HL7 v2.5 over MLLP (MSH with sending application and facility; the
//!   only patient is `TEST^PATIENT`) with acknowledgements;
//! - TLS 1.3 to internet services (SNI, ALPN), SMB2 NEGOTIATE and file
//!   reads, SSH (banners, KEXINIT, NEWKEYS, then ciphertext), RDP (X.224
//!   cookie, then TLS), IKEv2 with Fortinet's vendor ID and ESP.
//!
//! Bytes are concentrated in a few large flows (image studies, file
//! copies, downloads), as on a real network. Frames have correct IPv4,
//! TCP and UDP lengths and checksums; TCP connections have handshakes,
//! consistent sequence numbers and a FIN close ([`synth`]). The same seed
//! gives the same file. Rates are per host and hour, so traffic scales
//! with the number of hosts and the duration.
//!
//! Live labs: [`netns`] builds network namespaces joined by veth pairs and
//! bridges; [`incident`] is the hospital network of `sekimori lab incident`.
//!
//! Speed: one frame buffer reused for every packet and one buffered
//! writer; payload filler is copied from a table made once.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

pub mod hospital;
pub mod incident;
pub mod msgs;
pub mod netns;
pub mod rng;
pub mod synth;
pub mod wire;

pub use synth::Summary;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// About how many hosts the hospital has (at least 14).
    pub hosts: u32,
    /// Simulated time span.
    pub duration: Duration,
    /// Seed of every random choice.
    pub seed: u64,
    /// Stop once the file has this many bytes; the simulation runs past
    /// `duration` if needed to get there.
    pub max_bytes: Option<u64>,
    /// The capture's start, seconds since the Unix epoch.
    pub start_unix: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hosts: 100,
            duration: Duration::from_secs(600),
            seed: 1,
            max_bytes: None,
            // 2026-11-02T08:00:00Z, a Monday morning.
            start_unix: 1_793_606_400,
        }
    }
}

/// Why generation failed.
#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot create {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("write failed: {0}")]
    Write(io::Error),
    #[error("bad duration {0:?}: expected a number with s, m, h or d (e.g. 90s, 10m, 2h)")]
    Duration(String),
}

/// Writes a capture to `out` (buffer it yourself; [`write_file`] does).
pub fn generate<W: io::Write>(cfg: &Config, out: W) -> Result<Summary, Error> {
    synth::run(cfg, out)
}

/// Writes a capture to the file at `path` (created or truncated).
pub fn write_file(path: impl AsRef<Path>, cfg: &Config) -> Result<Summary, Error> {
    let path = path.as_ref();
    let f =
        File::create(path).map_err(|source| Error::Create { path: path.to_path_buf(), source })?;
    generate(cfg, BufWriter::with_capacity(1 << 20, f))
}

/// Parses `90`, `90s`, `10m`, `2h`, `1d`, `1.5h`.
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let t = s.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let mult = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(Error::Duration(s.to_owned())),
    };
    let v: f64 = num.trim().parse().map_err(|_| Error::Duration(s.to_owned()))?;
    if !v.is_finite() || v <= 0.0 || v * mult > 1e9 {
        return Err(Error::Duration(s.to_owned()));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m").ok(), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5h").ok(), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d").ok(), Some(Duration::from_secs(86_400)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("-1m").is_err());
        assert!(parse_duration("").is_err());
    }
}
