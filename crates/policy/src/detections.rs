//! The `[detections]` settings, compiled: what the detection engine reads.
//! Every field has a safe default when the policy file leaves it out (see
//! [`DetectionConfig::default`] and each type's `Default`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use sekimori_proto::App;
use sekimori_types::{AlertKind, AlertSeverity};

use crate::ZoneRef;
use crate::error::Pos;

/// All detection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionConfig {
    pub segmentation: SegmentationConfig,
    pub exfiltration: ExfiltrationConfig,
    pub lateral_movement: LateralMovementConfig,
    pub remote_access: RemoteAccessConfig,
    pub new_activity: NewActivityConfig,
    /// `[[detections.silence]]`, in file order.
    pub silence: Vec<SilenceWatch>,
    pub indicators: IndicatorConfig,
    /// `[detections.severity]`: per-kind overrides of the engine's defaults.
    pub severity: BTreeMap<AlertKind, AlertSeverity>,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            segmentation: SegmentationConfig { enabled: true },
            exfiltration: ExfiltrationConfig::default(),
            lateral_movement: LateralMovementConfig::default(),
            remote_access: RemoteAccessConfig::default(),
            new_activity: NewActivityConfig::default(),
            silence: Vec::new(),
            indicators: IndicatorConfig { enabled: true, files: Vec::new() },
            severity: BTreeMap::new(),
        }
    }
}

impl DetectionConfig {
    /// The severity for `kind`: the policy's override, else `default` (the
    /// engine's own choice for that alert).
    pub fn severity(&self, kind: AlertKind, default: AlertSeverity) -> AlertSeverity {
        self.severity.get(&kind).copied().unwrap_or(default)
    }
}

/// `[detections.segmentation]`: flows the rules do not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentationConfig {
    /// Default true.
    pub enabled: bool,
}

/// `[detections.exfiltration]`: bytes from inside to the internet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExfiltrationConfig {
    /// Default true.
    pub enabled: bool,
    /// Bytes from one internal host to the internet within `window` that
    /// always alert. Default 50 MB (50,000,000 bytes).
    pub threshold_bytes: u64,
    /// Default 5 minutes.
    pub window: Duration,
    /// Alert when a host sends more than this many times its baseline for
    /// a window. Default 10.0.
    pub baseline_factor: f64,
    /// Baselines below this count as this (a host that usually sends
    /// nothing must not alert on its first kilobyte). Default 1 MB.
    pub min_baseline_bytes: u64,
}

impl Default for ExfiltrationConfig {
    fn default() -> Self {
        ExfiltrationConfig {
            enabled: true,
            threshold_bytes: 50_000_000,
            window: Duration::from_secs(300),
            baseline_factor: 10.0,
            min_baseline_bytes: 1_000_000,
        }
    }
}

/// `[detections.lateral_movement]`: one host fanning out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateralMovementConfig {
    /// Default true.
    pub enabled: bool,
    /// Distinct destination hosts within `window` that alert. Default 10.
    pub fan_out: u32,
    /// Default 60 seconds.
    pub window: Duration,
    /// Default SMB, RDP, SSH.
    pub protocols: Vec<App>,
}

impl Default for LateralMovementConfig {
    fn default() -> Self {
        LateralMovementConfig {
            enabled: true,
            fan_out: 10,
            window: Duration::from_secs(60),
            protocols: vec![App::Smb, App::Rdp, App::Ssh],
        }
    }
}

/// `[detections.remote_access]`: VPN and remote-desktop traffic that does
/// not pass through the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAccessConfig {
    /// Default true.
    pub enabled: bool,
    /// Zones whose hosts may originate remote-access traffic. Default: the
    /// gateway zone (none when the policy has no gateway zone).
    pub allowed_from: Vec<ZoneRef>,
    /// Zones whose hosts may receive it. Default: the gateway zone.
    pub allowed_to: Vec<ZoneRef>,
}

impl Default for RemoteAccessConfig {
    fn default() -> Self {
        RemoteAccessConfig { enabled: true, allowed_from: Vec::new(), allowed_to: Vec::new() }
    }
}

impl RemoteAccessConfig {
    /// Whether remote-access traffic from `from` to `to` is expected: its
    /// source is in `allowed_from` or its destination in `allowed_to`.
    pub fn is_expected(&self, from: ZoneRef, to: ZoneRef) -> bool {
        self.allowed_from.contains(&from) || self.allowed_to.contains(&to)
    }
}

/// `[detections.new_activity]`: first sightings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewActivityConfig {
    /// New device alerts. Default true.
    pub device: bool,
    /// New talker (a known asset with a new peer). Default true.
    pub talker: bool,
    /// New protocol for an asset. Default true.
    pub protocol: bool,
    /// How long after the sensor starts learning nothing counts as new.
    /// Default 24 hours.
    pub learning: Duration,
}

impl Default for NewActivityConfig {
    fn default() -> Self {
        NewActivityConfig {
            device: true,
            talker: true,
            protocol: true,
            learning: Duration::from_secs(86_400),
        }
    }
}

/// One `[[detections.silence]]` entry: alert when the target sends no
/// matching traffic for `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceWatch {
    /// The entry's `name`, if any (for alert texts).
    pub name: Option<String>,
    pub target: SilenceTarget,
    /// Default 2 minutes.
    pub window: Duration,
    /// Which traffic counts as "its usual traffic"; empty = any.
    pub protocols: Vec<App>,
    /// Where the entry is in the policy file.
    pub pos: Pos,
}

/// What a silence watch watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SilenceTarget {
    /// An asset name (lowercase, trailing dot removed), matched against
    /// the names the inventory knows.
    Asset(String),
    Address(IpAddr),
    /// Every asset in the zone: each alone (the engine decides).
    Zone(ZoneRef),
}

/// `[detections.indicators]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorConfig {
    /// Default true.
    pub enabled: bool,
    /// Indicator files, resolved against the policy file's directory.
    pub files: Vec<IndicatorFile>,
}

/// One entry of `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorFile {
    /// As written in the policy.
    pub written: String,
    /// Resolved against the policy file's directory.
    pub path: PathBuf,
    /// Where it is written in the policy file.
    pub pos: Pos,
}
