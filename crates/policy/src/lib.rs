//! The hospital's network policy: zones, rules, detection settings and
//! indicator lists, read from one TOML file (see `data/hospital-sample.toml`,
//! [`Policy::sample_text`]) and compiled into a [`Policy`] that answers the
//! detection engine's questions quickly: which zone is this address in
//! ([`Policy::zone_of`]), may this flow happen ([`Policy::check_flow`]).
//!
//! # The file
//!
//! ```toml
//! [hospital]
//! ranges = ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]
//!
//! [[zone]]
//! name = "nurse-call"             # lowercase letters, digits, dashes
//! critical = true                 # default deny in and out
//! ranges = ["10.20.0.0/24"]
//! assets = ["nc-server-1"]        # names as the inventory knows them
//!
//! [[rule]]
//! from = "ehr"                    # a zone, a list of zones, "internet", "internal" or "any"
//! to = "nurse-call"
//! protocols = ["hl7"]             # App names as the sensor reports them
//! ports = ["2575/tcp"]            # 104, "104/tcp", "5000-5010/udp"
//! action = "allow"                # the default; or "deny"
//! ```
//!
//! Every table refuses unknown keys. Problems are reported all at once
//! (syntax errors excepted: the first one stops the read), each naming the
//! file, line, column and key, in Japanese and English ([`PolicyError`]).
//!
//! # Zones and membership
//!
//! Besides the zones the file defines there are two built-in zones:
//! `internet` (every address outside `[hospital] ranges` that no zone
//! claims) and `internal` (an address inside the hospital ranges that no
//! zone claims: unzoned). `any`, `internet` and `internal` cannot be
//! defined. [`Policy::zone_of`] decides, in this order:
//!
//! 1. **asset name**: one of the asset's names (case-insensitive, trailing
//!    dot ignored) is in a zone's `assets`; the first of the asset's names
//!    that matches decides;
//! 2. **tag**: one of the asset's tags is in a zone's `tags`;
//! 3. **role**: the sensor's role guess (`pacs-or-modality`, …; the table
//!    in `sekimori-sensor`'s `inventory` module) is in a zone's `roles`;
//! 4. **range**: the most specific (longest prefix) zone range containing
//!    the address;
//! 5. `internal` when the address is in the hospital ranges, else
//!    `internet`.
//!
//! Names, tags and roles (steps 1–3) apply only to addresses inside the
//! hospital ranges: a name is a claim a device makes (a DHCP host name, a
//! DNS answer), and an outside address must not be pulled into a zone by
//! one. Zone ranges may lie outside the hospital ranges (a vendor's cloud
//! PACS as a zone of its own). An asset name, tag, role or an identical
//! range in two zones is an error (the answer would depend on file order);
//! nested ranges are fine (the longest prefix wins).
//!
//! # Flow evaluation
//!
//! [`Policy::check_flow`] decides a flow from zone `from` (the client, the
//! side that opened it) to zone `to` (the server):
//!
//! 1. **The first matching rule in file order decides** (allow or deny). A
//!    rule matches when its `from` contains the source zone, its `to` the
//!    destination zone (`any` is every zone, built-ins included), and the
//!    traffic matches:
//!    - no `protocols` and no `ports`: all traffic;
//!    - `protocols` only: the flow's identified application is one of them;
//!    - `ports` only: the server port is one of them (a port without a
//!      transport means TCP or UDP);
//!    - **both: either matches** — an identified application in
//!      `protocols`, *or* a server port in `ports`. This keeps traffic the
//!      sensor could not identify (flow exports, encrypted, too short) on
//!      the expected ports allowed, and the expected protocol allowed when
//!      a device uses a non-standard port. It also means that a rule with
//!      `ports = [104]` allows *anything* on port 104: write `ports` only
//!      for ports the destination uses for nothing else.
//!
//!    A flow whose application was not identified (`app` is `None`) is
//!    matched by port rules only (and rules with neither list).
//! 2. With no matching rule, between two different zones: denied when the
//!    **destination** is a critical zone ("critical zones are default
//!    deny": nothing enters), else when the **source** is critical (nothing
//!    leaves), else when the destination, then the source, has
//!    `default = "deny"`; otherwise allowed.
//! 3. With no matching rule, inside one zone: allowed, unless the zone says
//!    `internal = "deny"` (any zone may; useful for a critical zone whose
//!    members should talk only as the rules say).
//!
//! The built-in zones are not critical and default allow. The gateway zone
//! (`kind = "gateway"`, the access broker's own zone) is an ordinary zone
//! for evaluation; it is what `[detections.remote_access]` defaults to.
//!
//! # Detections and indicators
//!
//! `[detections]` holds the settings the engine reads ([`DetectionConfig`],
//! each with safe defaults); `[detections.indicators] files` names
//! indicator lists (plain or STIX 2.1, see [`indicators`]) read by
//! [`Policy::load`] relative to the policy file's directory.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sekimori_proto::App;
use sekimori_types::Lang;
use time::OffsetDateTime;

mod compile;
pub mod detect;
mod detections;
mod error;
pub mod indicators;
mod net;
mod raw;
pub mod stix;
pub mod units;

pub use detections::{
    DetectionConfig, ExfiltrationConfig, IndicatorConfig, IndicatorFile, LateralMovementConfig,
    NewActivityConfig, RemoteAccessConfig, SegmentationConfig, SilenceTarget, SilenceWatch,
};
pub use error::{CidrProblem, ErrorKind, PolicyError, PolicyErrors, Pos};
pub use indicators::{IndicatorSource, Indicators, LoadReport};
pub use net::{Cidr, PrefixTable};

/// Largest policy file read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Most zones a policy defines (built-ins not counted).
pub const MAX_ZONES: usize = 256;
/// Most rules.
pub const MAX_RULES: usize = 4096;
/// Most ranges over all zones and the hospital.
pub const MAX_RANGES: usize = 65_536;
/// Most entries in one list (a zone's assets, a rule's ports, …).
pub const MAX_LIST: usize = 4096;
/// Most silence watches.
pub const MAX_SILENCE: usize = 1024;
/// Most indicator files.
pub const MAX_INDICATOR_FILES: usize = 64;

/// A zone: one the file defines, or a built-in (`internet`, `internal`).
/// Only meaningful with the [`Policy`] that made it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ZoneRef(u16);

impl ZoneRef {
    /// Everything outside the hospital's ranges that no zone claims.
    pub const INTERNET: ZoneRef = ZoneRef(0);
    /// Inside the hospital's ranges, in no zone (unzoned).
    pub const INTERNAL: ZoneRef = ZoneRef(1);

    pub fn is_builtin(self) -> bool {
        self.0 < 2
    }
    fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A rule, by its position in the file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct RuleRef(u32);

impl RuleRef {
    /// 0-based position among the file's rules.
    pub fn index(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

/// Allow or deny.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// What sort of zone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ZoneKind {
    /// A zone of the file.
    Normal,
    /// The access broker's gateway (`kind = "gateway"`).
    Gateway,
    /// Built-in `internet`.
    Internet,
    /// Built-in `internal` (unzoned).
    Internal,
}

/// A zone's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneInfo {
    pub name: String,
    pub description: Option<String>,
    pub description_ja: Option<String>,
    pub critical: bool,
    pub kind: ZoneKind,
    /// Between zones, when no rule matches: deny for critical zones.
    pub default: Action,
    /// Inside the zone, when no rule matches.
    pub internal: Action,
    pub ranges: Vec<Cidr>,
    /// Lowercase, trailing dot removed.
    pub assets: Vec<String>,
    pub roles: Vec<String>,
    /// Lowercase.
    pub tags: Vec<String>,
    /// Line of the zone's `name` in the file (0 for built-ins).
    pub line: u32,
}

impl ZoneInfo {
    /// The description in `lang` (falling back to the other language).
    pub fn description_in(&self, lang: Lang) -> Option<&str> {
        let (first, second) = match lang {
            Lang::Ja => (&self.description_ja, &self.description),
            Lang::En => (&self.description, &self.description_ja),
        };
        first.as_deref().or(second.as_deref())
    }
    pub fn is_builtin(&self) -> bool {
        matches!(self.kind, ZoneKind::Internet | ZoneKind::Internal)
    }
}

/// Which zones a rule's `from` or `to` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneSet {
    Any,
    Zones(Vec<ZoneRef>),
}

impl ZoneSet {
    pub fn contains(&self, z: ZoneRef) -> bool {
        match self {
            ZoneSet::Any => true,
            ZoneSet::Zones(v) => v.contains(&z),
        }
    }
}

/// The transport of a flow.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Transport {
    Tcp,
    Udp,
    /// ICMP, ESP, … (no ports: only rules without `ports`, or whose
    /// `protocols` name the flow's application, match).
    Other,
}

/// A `ports` entry: `first..=last`, on one transport or on TCP and UDP.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
    /// `None`: TCP or UDP.
    pub transport: Option<Transport>,
}

impl PortRange {
    pub fn matches(&self, transport: Transport, port: u16) -> bool {
        let t = match self.transport {
            Some(t) => t == transport,
            None => matches!(transport, Transport::Tcp | Transport::Udp),
        };
        t && self.first <= port && port <= self.last
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)?;
        } else {
            write!(f, "{}-{}", self.first, self.last)?;
        }
        match self.transport {
            Some(Transport::Tcp) => f.write_str("/tcp"),
            Some(Transport::Udp) => f.write_str("/udp"),
            Some(Transport::Other) | None => Ok(()),
        }
    }
}

/// A rule as compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleInfo {
    pub name: Option<String>,
    pub comment: Option<String>,
    /// Line of the rule's `from` in the file.
    pub line: u32,
    pub action: Action,
    pub from: ZoneSet,
    pub to: ZoneSet,
    pub protocols: Vec<App>,
    pub ports: Vec<PortRange>,
    /// Bit i set: `App::ALL[i]` is in `protocols`.
    apps: u64,
}

impl RuleInfo {
    /// Whether the traffic (not the zones) matches: see the crate docs.
    pub fn matches_traffic(&self, app: Option<App>, transport: Transport, port: u16) -> bool {
        self.traffic(app.map(app_bit), transport, port)
    }

    fn traffic(&self, app_bit: Option<u64>, transport: Transport, port: u16) -> bool {
        if self.apps == 0 && self.ports.is_empty() {
            return true;
        }
        if let Some(bit) = app_bit
            && self.apps & bit != 0
        {
            return true;
        }
        self.ports.iter().any(|p| p.matches(transport, port))
    }

    /// `rule "name" (line 12)` / `12 行目のルール`: how messages name it.
    pub fn label(&self, lang: Lang) -> String {
        match (&self.name, lang) {
            (Some(n), Lang::En) => format!("rule \"{n}\" (line {})", self.line),
            (Some(n), Lang::Ja) => format!("ルール「{n}」（{} 行目）", self.line),
            (None, Lang::En) => format!("the rule on line {}", self.line),
            (None, Lang::Ja) => format!("{} 行目のルール", self.line),
        }
    }
}

/// The bit of `app` in a rule's protocol set (0 for an application this
/// build of the policy does not know, which then matches no protocol).
fn app_bit(app: App) -> u64 {
    App::ALL.iter().position(|a| *a == app).filter(|&i| i < 64).map_or(0, |i| 1u64 << i)
}

/// What a device is known as, for [`Policy::zone_of`]. All empty by default.
#[derive(Clone, Copy, Debug, Default)]
pub struct AssetHints<'a> {
    /// DHCP/DNS/NetBIOS names, ledger names: any order, first match wins.
    pub names: &'a [String],
    /// The sensor's role guess.
    pub role: Option<&'a str>,
    pub tags: &'a [String],
}

/// The answer of [`Policy::check_flow`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FlowDecision {
    /// Allowed by a rule, or (`None`) by the zones' defaults.
    Allowed {
        rule: Option<RuleRef>,
    },
    Denied {
        reason: DenyReason,
    },
}

/// Why a flow was denied.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DenyReason {
    /// A rule with `action = "deny"`.
    Rule(RuleRef),
    /// No rule allows it, and it enters or leaves this critical zone.
    CriticalDefaultDeny(ZoneRef),
    /// No rule allows it, and it enters or leaves this `default = "deny"` zone.
    ZoneDefaultDeny(ZoneRef),
    /// No rule allows it, and it stays inside this `internal = "deny"` zone.
    InternalDeny(ZoneRef),
}

impl FlowDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, FlowDecision::Allowed { .. })
    }

    /// The rule that decided, if one did.
    pub fn rule(&self) -> Option<RuleRef> {
        match self {
            FlowDecision::Allowed { rule } => *rule,
            FlowDecision::Denied { reason: DenyReason::Rule(r) } => Some(*r),
            FlowDecision::Denied { .. } => None,
        }
    }

    /// One sentence for people, naming the rule (its name and line) or the
    /// zone whose default decided.
    pub fn describe(&self, policy: &Policy, lang: Lang) -> String {
        let zone = |z: ZoneRef| policy.zone(z).name.clone();
        match *self {
            FlowDecision::Allowed { rule: Some(r) } => {
                let l = policy.rule(r).label(lang);
                lang.pick(&format!("{l}により許可"), &format!("allowed by {l}")).to_owned()
            }
            FlowDecision::Allowed { rule: None } => lang
                .pick(
                    "許可：該当するルールがなく、どちらのゾーンも既定拒否ではない",
                    "allowed: no rule matches and neither zone is default deny",
                )
                .to_owned(),
            FlowDecision::Denied { reason: DenyReason::Rule(r) } => {
                let l = policy.rule(r).label(lang);
                lang.pick(&format!("{l}により拒否"), &format!("denied by {l}")).to_owned()
            }
            FlowDecision::Denied { reason: DenyReason::CriticalDefaultDeny(z) } => {
                let n = zone(z);
                lang.pick(
                    &format!("拒否：ゾーン「{n}」は重要ゾーン（既定拒否）で、この通信を許可するルールがない"),
                    &format!("denied: zone \"{n}\" is critical (default deny) and no rule allows this flow"),
                )
                .to_owned()
            }
            FlowDecision::Denied { reason: DenyReason::ZoneDefaultDeny(z) } => {
                let n = zone(z);
                lang.pick(
                    &format!("拒否：ゾーン「{n}」は既定拒否（default = \"deny\"）で、この通信を許可するルールがない"),
                    &format!("denied: zone \"{n}\" is default deny and no rule allows this flow"),
                )
                .to_owned()
            }
            FlowDecision::Denied { reason: DenyReason::InternalDeny(z) } => {
                let n = zone(z);
                lang.pick(
                    &format!("拒否：ゾーン「{n}」の内部の通信は既定拒否（internal = \"deny\"）で、許可するルールがない"),
                    &format!("denied: traffic inside zone \"{n}\" is default deny (internal = \"deny\") and no rule allows it"),
                )
                .to_owned()
            }
        }
    }
}

/// A compiled policy: immutable, `Send + Sync`, cheap to query.
#[derive(Debug)]
pub struct Policy {
    file: PathBuf,
    hospital_name: Option<String>,
    hospital_ranges: Vec<Cidr>,
    internal: PrefixTable<bool>,
    /// Index = `ZoneRef`: internet, internal, then the file's zones.
    zones: Vec<ZoneInfo>,
    by_range: PrefixTable<ZoneRef>,
    by_name: HashMap<String, ZoneRef>,
    by_asset: HashMap<String, ZoneRef>,
    by_tag: HashMap<String, ZoneRef>,
    by_role: HashMap<String, ZoneRef>,
    rules: Vec<RuleInfo>,
    /// Per source zone: the rules whose `from` contains it, in file order.
    rules_from: Vec<Vec<RuleRef>>,
    gateway: Option<ZoneRef>,
    detections: DetectionConfig,
    indicators: Indicators,
    warnings: Vec<PolicyError>,
}

impl Policy {
    /// Reads and compiles the policy file at `path`, and the indicator
    /// files it names (relative to its directory; expired STIX indicators
    /// are judged against the current time).
    pub fn load(path: &Path) -> Result<Policy, PolicyErrors> {
        Policy::load_at(path, OffsetDateTime::now_utc())
    }

    /// [`Policy::load`] judging indicator validity at `now`.
    pub fn load_at(path: &Path, now: OffsetDateTime) -> Result<Policy, PolicyErrors> {
        let text = compile::read_capped(path, MAX_FILE_BYTES)
            .map_err(|kind| PolicyErrors(vec![PolicyError::new(path, Pos::UNKNOWN, "", kind)]))?;
        let mut policy = compile::compile(&text, path)?;
        let mut errors = Vec::new();
        let files = policy.detections.indicators.files.clone();
        for f in &files {
            match policy.indicators.read_file(&f.path, now) {
                Ok(report) => policy.warnings.extend(report.problems),
                Err(e) => {
                    // Where the policy names the file, then what is wrong.
                    let mut e = *e;
                    if e.line == 0 && e.file == f.path {
                        e.file = path.to_path_buf();
                        e.line = f.pos.line;
                        e.column = f.pos.column;
                        e.key = format!("detections.indicators.files ({})", f.written);
                    }
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() { Ok(policy) } else { Err(PolicyErrors(errors)) }
    }

    /// Compiles policy text; `file` names it in messages. Indicator files
    /// are not read ([`Policy::indicators`] is empty).
    pub fn parse(text: &str, file: &Path) -> Result<Policy, PolicyErrors> {
        compile::compile(text, file)
    }

    /// The bundled sample policy (`data/hospital-sample.toml`).
    pub fn sample_text() -> &'static str {
        include_str!("../data/hospital-sample.toml")
    }

    /// The zone of `ip`: see the crate docs for the order of precedence.
    pub fn zone_of(&self, ip: IpAddr, hints: &AssetHints<'_>) -> ZoneRef {
        let ip = net::canonical(ip);
        let internal = self.is_internal(ip);
        if internal {
            if !self.by_asset.is_empty() {
                for n in hints.names {
                    if let Some(z) = self.by_asset.get(normalize_name(n).as_ref()) {
                        return *z;
                    }
                }
            }
            if !self.by_tag.is_empty() {
                for t in hints.tags {
                    if let Some(z) = self.by_tag.get(lower(t).as_ref()) {
                        return *z;
                    }
                }
            }
            if let Some(r) = hints.role
                && let Some(z) = self.by_role.get(r)
            {
                return *z;
            }
        }
        if let Some(z) = self.by_range.get(ip) {
            return z;
        }
        if internal { ZoneRef::INTERNAL } else { ZoneRef::INTERNET }
    }

    /// A zone's settings. A `ZoneRef` from another policy that is out of
    /// range here is answered as `internet`.
    pub fn zone(&self, z: ZoneRef) -> &ZoneInfo {
        match self.zones.get(z.index()).or_else(|| self.zones.first()) {
            Some(info) => info,
            None => &compile::INTERNET_INFO,
        }
    }

    /// The zone named `name` (built-ins included).
    pub fn zone_by_name(&self, name: &str) -> Option<ZoneRef> {
        self.by_name.get(name).copied()
    }

    /// Every zone, built-ins first.
    pub fn zones(&self) -> impl Iterator<Item = (ZoneRef, &ZoneInfo)> {
        self.zones.iter().enumerate().map(|(i, z)| (ZoneRef(u16::try_from(i).unwrap_or(0)), z))
    }

    /// Whether `ip` is inside the hospital's ranges.
    pub fn is_internal(&self, ip: IpAddr) -> bool {
        self.internal.get(ip).unwrap_or(false)
    }

    /// The hospital's ranges as written (normalised).
    pub fn hospital_ranges(&self) -> &[Cidr] {
        &self.hospital_ranges
    }

    /// `[hospital] name`, if given.
    pub fn hospital_name(&self) -> Option<&str> {
        self.hospital_name.as_deref()
    }

    /// May a flow from `from` to `to` happen? `app` is the identified
    /// application (`None`: not identified), `port` the server's port (0
    /// for transports without ports). See the crate docs.
    pub fn check_flow(
        &self,
        from: ZoneRef,
        to: ZoneRef,
        app: Option<App>,
        transport: Transport,
        port: u16,
    ) -> FlowDecision {
        let bit = app.map(app_bit);
        if let Some(candidates) = self.rules_from.get(from.index()) {
            for &r in candidates {
                let Some(rule) = self.rules.get(r.index()) else { continue };
                if rule.to.contains(to) && rule.traffic(bit, transport, port) {
                    return match rule.action {
                        Action::Allow => FlowDecision::Allowed { rule: Some(r) },
                        Action::Deny => FlowDecision::Denied { reason: DenyReason::Rule(r) },
                    };
                }
            }
        }
        let (f, t) = (self.zone(from), self.zone(to));
        if from == to {
            return if t.internal == Action::Deny {
                FlowDecision::Denied { reason: DenyReason::InternalDeny(to) }
            } else {
                FlowDecision::Allowed { rule: None }
            };
        }
        if t.critical {
            FlowDecision::Denied { reason: DenyReason::CriticalDefaultDeny(to) }
        } else if f.critical {
            FlowDecision::Denied { reason: DenyReason::CriticalDefaultDeny(from) }
        } else if t.default == Action::Deny {
            FlowDecision::Denied { reason: DenyReason::ZoneDefaultDeny(to) }
        } else if f.default == Action::Deny {
            FlowDecision::Denied { reason: DenyReason::ZoneDefaultDeny(from) }
        } else {
            FlowDecision::Allowed { rule: None }
        }
    }

    /// A rule's settings. An out-of-range `RuleRef` (from another policy)
    /// is answered with an empty deny rule on line 0.
    pub fn rule(&self, r: RuleRef) -> &RuleInfo {
        self.rules.get(r.index()).unwrap_or(&compile::NO_RULE)
    }

    /// Every rule in file order.
    pub fn rules(&self) -> impl Iterator<Item = (RuleRef, &RuleInfo)> {
        self.rules.iter().enumerate().map(|(i, r)| (RuleRef(u32::try_from(i).unwrap_or(0)), r))
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The access broker's gateway zone (`kind = "gateway"`), if any.
    pub fn gateway_zone(&self) -> Option<ZoneRef> {
        self.gateway
    }

    pub fn detections(&self) -> &DetectionConfig {
        &self.detections
    }

    /// The indicators read by [`Policy::load`] (empty after [`Policy::parse`]).
    pub fn indicators(&self) -> &Indicators {
        &self.indicators
    }

    /// Problems that did not stop the load: zones that match nothing,
    /// indicator lines or objects that were skipped.
    pub fn warnings(&self) -> &[PolicyError] {
        &self.warnings
    }

    /// The file the policy was read from.
    pub fn file(&self) -> &Path {
        &self.file
    }
}

/// An asset name as compared: lowercase, without a trailing dot.
pub(crate) fn normalize_name(n: &str) -> Cow<'_, str> {
    let n = n.trim().strip_suffix('.').unwrap_or(n.trim());
    lower(n)
}

fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Policy>();
    }

    #[test]
    fn every_app_has_a_bit() {
        assert!(App::ALL.len() <= 64);
        for a in App::ALL {
            assert_ne!(app_bit(*a), 0);
        }
    }
}
