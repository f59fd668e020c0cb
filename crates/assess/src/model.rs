//! The normalised advisory model every feed is read into.
//!
//! Each feed format says the same few things in its own words: *this product
//! of this vendor, in these versions, has this vulnerability; this is how bad
//! it is; this fixes it.* The model keeps those things and the words the
//! source used for them (vendor and product names as written, version text as
//! written), because a finding must be able to quote its evidence.
//!
//! Nothing here interprets versions: a [`VersionRange`] holds strings, and
//! [`crate::version`] decides how (and whether) they compare.

use serde::{Deserialize, Serialize};

/// Which kind of file a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// CVE JSON 5 record (cvelistV5, vulnrichment).
    Cve5,
    /// NVD CVE API 2.0 (CPE match configurations).
    Nvd,
    /// CSAF 2.0 advisory (e.g. CISA ICSMA).
    Csaf,
    /// OSV record.
    Osv,
    /// CISA Known Exploited Vulnerabilities catalogue.
    Kev,
    /// FIRST EPSS scores (CSV).
    Epss,
}

impl Source {
    /// The short name used in reports and the store (`cve5`, `nvd`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cve5 => "cve5",
            Source::Nvd => "nvd",
            Source::Csaf => "csaf",
            Source::Osv => "osv",
            Source::Kev => "kev",
            Source::Epss => "epss",
        }
    }
}

/// One record read from a feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeedRecord {
    /// A vulnerability with the products it affects (CVE 5, NVD, CSAF, OSV).
    /// A CSAF advisory covering several CVEs yields one record per CVE.
    Vulnerability(Vulnerability),
    /// A KEV catalogue entry.
    Kev(KevEntry),
    /// An EPSS score.
    Epss(EpssScore),
}

impl FeedRecord {
    /// The store key of the record: source and ID together are unique, so a
    /// re-import replaces instead of adding (`cve5:CVE-2024-3400`,
    /// `csaf:ICSMA-22-167-01:CVE-2022-26388`, `kev:CVE-2024-3400`).
    pub fn key(&self) -> String {
        match self {
            FeedRecord::Vulnerability(v) => match &v.advisory {
                Some(adv) => format!("{}:{}:{}", v.source.as_str(), adv, v.id),
                None => format!("{}:{}", v.source.as_str(), v.id),
            },
            FeedRecord::Kev(k) => format!("kev:{}", k.cve),
            FeedRecord::Epss(e) => format!("epss:{}", e.cve),
        }
    }
}

/// A vulnerability and what it affects, as one source says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// `CVE-YYYY-N…` when the source names one; else the source's own ID
    /// (an OSV `GHSA-…`, a CSAF vulnerability without CVE gets
    /// `<tracking id>#<index>`).
    pub id: String,
    /// Other IDs of the same vulnerability (OSV `aliases`, a CSAF `ids` entry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Where this record came from.
    pub source: Source,
    /// The advisory document, when the record is part of one (CSAF
    /// `document.tracking.id` such as `ICSMA-22-167-01`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory: Option<String>,
    /// A one-line title (CVE 5 `title`, CSAF vulnerability `title`, OSV
    /// `summary`, KEV name when nothing else), at most 512 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The English description, at most 4,096 characters (cut on a char boundary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Publication date as the source gives it (RFC 3339 or a date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Last modification as the source gives it; re-import compares records,
    /// not this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// CVSS scores the source gives (any version); see [`Vulnerability::best_cvss`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<Cvss>,
    /// CWE IDs (`CWE-787`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwes: Vec<String>,
    /// What is affected, one entry per product (and per CPE criterion).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<Affected>,
    /// Fixes and mitigations that are not tied to one product entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediations: Vec<Remediation>,
    /// CISA's KEV fields when the record itself carries them (NVD's
    /// `cisaExploitAdd`, CVE 5 vulnrichment's KEV reference): the KEV catalogue
    /// is authoritative, this is a fallback when it was not imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev_hint: Option<KevHint>,
}

impl Vulnerability {
    /// The score to rank by: the newest CVSS version given, preferring the
    /// primary source's score within a version.
    pub fn best_cvss(&self) -> Option<&Cvss> {
        self.cvss.iter().max_by(|a, b| {
            a.version_rank()
                .cmp(&b.version_rank())
                .then(a.primary.cmp(&b.primary))
                .then(a.base_score.total_cmp(&b.base_score))
        })
    }
}

/// KEV facts found inside a vulnerability record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevHint {
    /// Date added to KEV (`2024-02-09`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_added: Option<String>,
    /// Federal remediation due date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
}

/// One CVSS score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: String,
    /// Base score, 0.0–10.0.
    pub base_score: f32,
    /// The vector string as given (`CVSS:3.1/AV:N/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    /// Given by the primary scorer (NVD `type: Primary`, the CNA in CVE 5).
    #[serde(default)]
    pub primary: bool,
}

impl Cvss {
    fn version_rank(&self) -> u8 {
        match self.version.as_str() {
            "4.0" => 4,
            "3.1" => 3,
            "3.0" => 2,
            _ => 1,
        }
    }

    /// The qualitative rating of the score (CVSS v3/v4 bands).
    pub fn severity(&self) -> Severity {
        Severity::from_score(self.base_score)
    }
}

/// Qualitative severity, in rank order (`Critical` is greatest).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// No score known.
    #[default]
    Unknown,
    /// 0.0.
    None,
    /// 0.1–3.9.
    Low,
    /// 4.0–6.9.
    Medium,
    /// 7.0–8.9.
    High,
    /// 9.0–10.0.
    Critical,
}

impl Severity {
    /// The CVSS v3 band of `score`.
    pub fn from_score(score: f32) -> Self {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::None
        }
    }

    /// `critical`, `high`, … (the JSON spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What one source says about one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The vendor as the source writes it (`Ivanti`, `Pulse Secure`,
    /// `fortinet` from a CPE). Empty when the source gives only a CPE/purl.
    pub vendor: String,
    /// The product as the source writes it (`ICS`, `Connect Secure`,
    /// `FortiOS`, a CSAF full product name).
    pub product: String,
    /// CPE 2.3 names or match criteria for the product (NVD `criteria`,
    /// CVE 5 `cpes`, CSAF `product_identification_helper.cpe`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpes: Vec<String>,
    /// Package URL, when given (OSV, CSAF helper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// OSV ecosystem (`npm`, `Debian:12`, …) when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
    /// Version statements, in source order. Empty with
    /// `default_status: Affected` means "all versions".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionRange>,
    /// Status of versions no entry covers (CVE 5 `defaultStatus`; CSAF and
    /// NVD: `Unaffected`; OSV: `Unaffected`).
    #[serde(default)]
    pub default_status: Status,
    /// NVD `AND` configurations: the product is affected only together with
    /// one of these (e.g. running on a given OS or hardware). Empty: no
    /// condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_any: Vec<String>,
    /// Fixes for this product (fixed versions, vendor-fix text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Remediation>,
}

/// CVE 5 vocabulary for a version's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Vulnerable.
    Affected,
    /// Not vulnerable (including fixed).
    Unaffected,
    /// The source does not know.
    #[default]
    Unknown,
}

/// One version statement: an exact version, a range, or "all".
///
/// The bounds are kept as the source wrote them; [`crate::version`] parses
/// them under a scheme when matching. `start: None, end: None, exact: None`
/// means every version (`vers:all/*`, `*`, CVE 5 `version: "0"` with no
/// upper bound).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRange {
    /// What the versions in this statement are.
    pub status: Status,
    /// A single version (`version` with no `lessThan*`; NVD criteria with a
    /// concrete version; OSV `versions` entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Bound>,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Bound>,
    /// The source's version type (`semver`, `custom`, `git`, `ECOSYSTEM`…),
    /// a hint only: sources often get it wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme_hint: Option<String>,
    /// The statement as the source wrote it, for `why`
    /// (`version 7.0.0 lessThan 7.0.14`, `<= 2.2.0`, `vers:all/*`).
    pub text: String,
}

/// One end of a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    /// The version text.
    pub version: String,
    /// Whether `version` itself is inside the range.
    pub inclusive: bool,
}

/// A fix or mitigation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remediation {
    /// `vendor_fix`, `workaround`, `mitigation`, `none_available`, `fixed_version`.
    pub category: String,
    /// The first fixed version when the source states one (CVE 5 `lessThan`
    /// with a later `unaffected` entry, OSV `fixed`, a version read out of CSAF
    /// remediation text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// The source's text, at most 1,024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// A link to the fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One entry of CISA's Known Exploited Vulnerabilities catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevEntry {
    /// `CVE-…`.
    pub cve: String,
    /// `vendorProject`.
    pub vendor_project: String,
    /// `product`.
    pub product: String,
    /// `vulnerabilityName`.
    pub name: String,
    /// `dateAdded` (`YYYY-MM-DD`).
    pub date_added: String,
    /// `dueDate` (`YYYY-MM-DD`).
    pub due_date: String,
    /// `requiredAction`.
    pub required_action: String,
    /// `knownRansomwareCampaignUse == "Known"`.
    pub known_ransomware: bool,
    /// `cwes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwes: Vec<String>,
}

/// One EPSS score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpssScore {
    /// `CVE-…`.
    pub cve: String,
    /// Probability of exploitation in the next 30 days, 0–1.
    pub score: f32,
    /// Percentile, 0–1.
    pub percentile: f32,
    /// The score date from the file's header comment, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}
