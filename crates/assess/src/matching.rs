//! Inventory × advisories → findings that say why they matched.
//!
//! Matching has two steps, and a finding reports both:
//!
//! 1. **Identity**: is this asset the product the advisory names? Both sides
//!    are reduced to a [`ProductKey`] through the alias table — from
//!    vendor + product, vendor + model, CPE and package URL. A key match is
//!    `exact`; where the names differ but every word of the shorter one is in
//!    the longer (`ELI 280` in `Welch Allyn ELI 280/BUR280 … Electrocardiograph`)
//!    it is a `name_words` match and confidence drops to medium. A KEV entry
//!    whose CVE has no imported record matches by its vendor/product alone
//!    (`kev_product`, low confidence: the catalogue has no versions).
//! 2. **Version**: is the asset's version inside an affected range? Versions
//!    compare under the product's scheme (alias table) or the one their shape
//!    shows; when they cannot be compared — no version, free text, different
//!    schemes — the answer is *possibly affected*, never a guess.
//!
//! Record quirks are read as the record's author meant them and the finding
//! says so (`interpreted`, medium confidence): `version X lessThanOrEqual X`
//! means "up to X on X's release line"; Citrix `version 13.1 lessThan 49.13`
//! means builds of 13.1 before 13.1-49.13; `A to B` ranges in free text are
//! read as inclusive ranges; `9.x` means the 9 line.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// Hash maps keyed by names and IDs from our own index: fast hashing (the
/// keys come from files the hospital chose to import, not from the network).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type Set<T> = HashSet<T, foldhash::fast::RandomState>;

use serde::Serialize;

use crate::aliases::{Aliases, ProductClass, ProductKey};
use crate::inventory::InventoryItem;
use crate::model::{
    Affected, Bound, EpssScore, FeedRecord, KevEntry, Severity, Status, VersionRange, Vulnerability,
};
use crate::version::{self, Scheme};

/// Everything imported, ready to match.
#[derive(Debug, Default)]
pub struct FeedSet {
    vulns: Vec<Vulnerability>,
    kev: Map<String, KevEntry>,
    epss: Map<String, EpssScore>,
}

impl FeedSet {
    /// Add one record. KEV and EPSS entries replace earlier ones of their CVE.
    pub fn add(&mut self, record: FeedRecord) {
        match record {
            FeedRecord::Vulnerability(v) => self.vulns.push(v),
            FeedRecord::Kev(k) => {
                self.kev.insert(k.cve.clone(), k);
            }
            FeedRecord::Epss(e) => {
                self.epss.insert(e.cve.clone(), e);
            }
        }
    }

    /// Vulnerability records held.
    pub fn vulnerabilities(&self) -> usize {
        self.vulns.len()
    }

    /// KEV entries held.
    pub fn kev_entries(&self) -> usize {
        self.kev.len()
    }

    /// EPSS scores held.
    pub fn epss_scores(&self) -> usize {
        self.epss.len()
    }

    /// Vulnerability records per source (`cve5`, `nvd`, `csaf`, `osv`), then
    /// `kev` and `epss` entries, for a report's summary.
    pub fn summary(&self) -> crate::report::FeedSummary {
        use crate::report::FeedCount;
        let mut per: std::collections::BTreeMap<&'static str, usize> = Default::default();
        for v in &self.vulns {
            *per.entry(v.source.as_str()).or_default() += 1;
        }
        let mut sources: Vec<FeedCount> = per
            .into_iter()
            .map(|(source, n)| FeedCount {
                source: source.to_owned(),
                vulnerabilities: n,
                ..Default::default()
            })
            .collect();
        if !self.kev.is_empty() {
            sources.push(FeedCount {
                source: "kev".into(),
                kev_entries: self.kev.len(),
                ..Default::default()
            });
        }
        if !self.epss.is_empty() {
            sources.push(FeedCount {
                source: "epss".into(),
                epss_scores: self.epss.len(),
                ..Default::default()
            });
        }
        crate::report::FeedSummary { sources }
    }
}

/// How sure a finding is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    /// The version is outside every affected range (fixed, or never affected).
    NotAffected,
    /// The product matches but the version could not decide.
    PossiblyAffected,
    /// The version is inside an affected range.
    Affected,
}

impl MatchStatus {
    /// JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchStatus::NotAffected => "not_affected",
            MatchStatus::PossiblyAffected => "possibly_affected",
            MatchStatus::Affected => "affected",
        }
    }

    /// Japanese label.
    pub fn ja(self) -> &'static str {
        match self {
            MatchStatus::NotAffected => "影響なし",
            MatchStatus::PossiblyAffected => "影響の可能性",
            MatchStatus::Affected => "影響あり",
        }
    }
}

/// How much the finding can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Guessed from the product alone (no version, or KEV without versions).
    Low,
    /// Name words matched, or a record quirk was interpreted.
    Medium,
    /// Product identity and version comparison both exact.
    High,
}

impl Confidence {
    /// JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// How the asset was tied to the advisory's product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// Same vendor and product identity (names, aliases, model).
    Name,
    /// A CPE of the asset against the advisory's CPE.
    Cpe,
    /// A package URL.
    Purl,
    /// Every word of one product name is in the other (same vendor).
    NameWords,
    /// The product name alone: the advisory names no vendor (a package
    /// name such as `OpenSSH`).
    ProductOnly,
    /// The KEV catalogue's vendor/product; no version data for this CVE.
    KevProduct,
}

impl MatchedBy {
    fn describe(self) -> (&'static str, &'static str) {
        match self {
            MatchedBy::Name => ("vendor and product", "ベンダー名と製品名"),
            MatchedBy::Cpe => ("CPE", "CPE"),
            MatchedBy::Purl => ("package URL", "パッケージURL"),
            MatchedBy::NameWords => {
                ("product name words (not the exact name)", "製品名の語の一致（完全一致ではない）")
            }
            MatchedBy::ProductOnly => (
                "product name only (the advisory names no vendor)",
                "製品名のみ（脆弱性情報にベンダー名がない）",
            ),
            MatchedBy::KevProduct => (
                "the KEV catalogue's vendor and product (no version data imported)",
                "KEVカタログのベンダー名・製品名（バージョン情報なし）",
            ),
        }
    }
}

/// The asset a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetRef {
    /// Inventory ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Vendor as the inventory writes it.
    pub vendor: Option<String>,
    /// Product (or model) as the inventory writes it.
    pub product: Option<String>,
    /// Version as the inventory writes it.
    pub version: Option<String>,
    /// Addresses.
    pub ips: Vec<String>,
    /// Where the item came from.
    pub source: String,
}

/// One asset × one vulnerability.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The asset's name (the design.md contract's `asset`).
    pub asset: String,
    /// The asset in full.
    pub asset_ref: AssetRef,
    /// The vulnerability (`CVE-…`, or the source's ID when it has no CVE).
    pub cve: String,
    /// A one-line title.
    pub title: Option<String>,
    /// Which records said so (`cve5`, `nvd`, `csaf:ICSMA-22-167-01`, `kev`).
    pub sources: Vec<String>,
    /// Affected, possibly affected, or not affected by version.
    pub status: MatchStatus,
    /// How sure.
    pub confidence: Confidence,
    /// How the product was matched.
    pub matched_by: MatchedBy,
    /// The version statement that decided, as the record wrote it.
    pub range: Option<String>,
    /// The version scheme used for comparing.
    pub scheme: Option<Scheme>,
    /// Why, in English: identity, range, version compared.
    pub why: String,
    /// Why, in Japanese.
    pub why_ja: String,
    /// In CISA's KEV catalogue.
    pub known_exploited: bool,
    /// KEV says it is known to be used by ransomware.
    pub ransomware: bool,
    /// KEV due date.
    pub kev_due_date: Option<String>,
    /// KEV required action.
    pub kev_required_action: Option<String>,
    /// Qualitative severity.
    pub severity: Severity,
    /// CVSS base score.
    pub cvss: Option<f32>,
    /// CVSS vector.
    pub cvss_vector: Option<String>,
    /// EPSS probability, when imported.
    pub epss: Option<f32>,
    /// The fix, where known (a fixed version, or the vendor's text).
    pub fix: Option<String>,
    /// The asset is a remote-access device (VPN, SSL-VPN) or the inventory says it
    /// takes remote maintenance.
    pub remote_path: bool,
    /// The inventory says it is reachable from the internet.
    pub internet_facing: bool,
    /// Rank, 1 first (set by [`crate::priority::rank`]).
    pub priority: u32,
    /// Why it ranks where it does, English.
    pub priority_reason: String,
    /// Why it ranks where it does, Japanese.
    pub priority_reason_ja: String,
}

/// Options of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchOptions {
    /// Also report assets checked and found not affected (by version).
    pub include_not_affected: bool,
    /// Find candidates by scanning every advisory entry instead of the
    /// index: the naive reference the benchmark compares against (same
    /// findings, by construction and by test).
    pub linear_scan: bool,
}

#[derive(Debug, Clone, Copy)]
struct EntryRef {
    vuln: u32,
    affected: u32,
}

/// The advisories, indexed by product identity.
#[derive(Debug)]
pub struct Matcher<'a> {
    feeds: &'a FeedSet,
    aliases: &'a Aliases,
    by_key: Map<ProductKey, Vec<EntryRef>>,
    /// Vendor identity → its products' words, for name-word matching.
    words_by_vendor: Map<String, Vec<(Vec<String>, ProductKey)>>,
    kev_by_key: Map<ProductKey, Vec<String>>,
    cves_with_records: Set<String>,
    /// CVE → indexes of its vulnerability records (for scores and titles).
    records_by_cve: Map<String, Vec<u32>>,
}

impl<'a> Matcher<'a> {
    /// Index `feeds`.
    pub fn new(feeds: &'a FeedSet, aliases: &'a Aliases) -> Self {
        let mut m = Matcher {
            feeds,
            aliases,
            by_key: Map::default(),
            words_by_vendor: Map::default(),
            kev_by_key: Map::default(),
            cves_with_records: Set::default(),
            records_by_cve: Map::default(),
        };
        let mut cache = KeyCache { aliases, known: Map::default() };
        // Keys whose product words are filed (the first named product of each).
        let mut worded: Set<ProductKey> = Set::default();
        for (vi, v) in feeds.vulns.iter().enumerate() {
            let vi = u32::try_from(vi).unwrap_or(u32::MAX);
            m.records_by_cve.entry(v.id.clone()).or_default().push(vi);
            if !v.affected.is_empty() {
                m.cves_with_records.insert(v.id.clone());
            }
            for (ai, a) in v.affected.iter().enumerate() {
                let entry = EntryRef { vuln: vi, affected: u32::try_from(ai).unwrap_or(u32::MAX) };
                let mut keys = affected_keys(&mut cache, a);
                keys.sort();
                keys.dedup();
                for key in keys {
                    if !a.product.is_empty() && !worded.contains(&key) {
                        worded.insert(key.clone());
                        let words = words(&a.product);
                        if !words.is_empty() {
                            m.words_by_vendor
                                .entry(key.vendor.clone())
                                .or_default()
                                .push((words, key.clone()));
                        }
                    }
                    m.by_key.entry(key).or_default().push(entry);
                }
            }
        }
        for k in feeds.kev.values() {
            // "FortiOS and FortiProxy", "Connect Secure, Policy Secure, and
            // ZTA Gateways": each product named.
            let mut keys: Vec<ProductKey> = std::iter::once(k.product.as_str())
                .chain(product_parts(&k.product))
                .map(|p| aliases.product_key(&k.vendor_project, p).0)
                .collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                m.kev_by_key.entry(key).or_default().push(k.cve.clone());
            }
        }
        for cves in m.kev_by_key.values_mut() {
            cves.sort();
        }
        m
    }

    /// The findings of `items`, unranked (see [`crate::priority::rank`]).
    pub fn run(&self, items: &[InventoryItem], options: MatchOptions) -> Vec<Finding> {
        // Items are matched independently: a share of them per core, the
        // findings joined in item order (the same list as one thread's).
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let threads = cores.min(8).min(items.len() / MIN_ITEMS_PER_THREAD).max(1);
        if threads == 1 {
            let mut out = Vec::new();
            for item in items {
                self.match_item(item, options, &mut out);
            }
            return out;
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = items
                .chunks(items.len().div_ceil(threads))
                .map(|share| {
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for item in share {
                            self.match_item(item, options, &mut out);
                        }
                        out
                    })
                })
                .collect();
            let mut out = Vec::new();
            for h in handles {
                match h.join() {
                    Ok(found) => out.extend(found),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            out
        })
    }

    fn match_item(&self, item: &InventoryItem, options: MatchOptions, out: &mut Vec<Finding>) {
        // (vuln, affected) → how it was tied; the strongest tie wins.
        let mut ties: Vec<(EntryRef, MatchedBy, ProductKey)> = Vec::new();
        let keys = item_keys(self.aliases, item);
        if options.linear_scan {
            for (entry_key, entries) in &self.by_key {
                for (key, by) in &keys {
                    if key == entry_key {
                        ties.extend(entries.iter().map(|e| (*e, *by, key.clone())));
                    }
                }
            }
            // The index yields ties in key order; so must the scan.
            ties.sort_by_key(|(e, by, key)| {
                (keys.iter().position(|(k, b)| k == key && b == by), e.vuln, e.affected)
            });
        } else {
            for (key, by) in &keys {
                if let Some(entries) = self.by_key.get(key) {
                    ties.extend(entries.iter().map(|e| (*e, *by, key.clone())));
                }
            }
        }
        if ties.is_empty() {
            // Name words, under a vendor the item names.
            for (key, _) in keys.iter().filter(|(_, by)| *by == MatchedBy::Name) {
                let item_words = words(&key_source_name(item, key));
                if !distinctive(&item_words) {
                    continue;
                }
                for (adv_words, adv_key) in
                    self.words_by_vendor.get(&key.vendor).map(Vec::as_slice).unwrap_or(&[])
                {
                    let tied = subset(&item_words, adv_words)
                        || (distinctive(adv_words) && subset(adv_words, &item_words));
                    if tied && let Some(entries) = self.by_key.get(adv_key) {
                        ties.extend(
                            entries.iter().map(|e| (*e, MatchedBy::NameWords, adv_key.clone())),
                        );
                    }
                }
            }
        }

        // One finding per CVE: the strongest verdict, with every source that
        // agreed. Verdicts are compared first; a finding is built only for
        // the winner, and only when it is reported.
        let mut per_cve: Map<&str, Candidate<'_>> = Map::default();
        let version_text = item.version.as_deref().and_then(extract_version);
        for (entry, by, key) in ties {
            let Some(vuln) = self.feeds.vulns.get(entry.vuln as usize) else { continue };
            let Some(affected) = vuln.affected.get(entry.affected as usize) else { continue };
            let scheme_hint = self.aliases.info(&key).and_then(|i| i.scheme);
            let is_ours = |name: &str| {
                self.aliases.product_key(&affected.vendor, name).0.product == key.product
            };
            let mut verdict = judge(affected, version_text.as_deref(), scheme_hint, &is_ours);
            if matches!(by, MatchedBy::NameWords | MatchedBy::ProductOnly) {
                verdict.confidence = verdict.confidence.min(Confidence::Medium);
            }
            if verdict.status == MatchStatus::NotAffected {
                verdict.fix = None;
            } else if verdict.fix.is_none() {
                verdict.fix = first_fix(affected, vuln);
            }
            let candidate = Candidate { vuln, affected, by, key, verdict, sources: Vec::new() };
            merge(&mut per_cve, vuln.id.as_str(), candidate);
        }

        let mut found: Vec<Finding> = Vec::new();
        let mut cves: Vec<&str> = per_cve.keys().copied().collect();
        cves.sort_unstable();
        for cve in &cves {
            let Some(c) = per_cve.remove(cve) else { continue };
            if options.include_not_affected || c.verdict.status != MatchStatus::NotAffected {
                found.push(self.finding(item, c));
            }
        }

        // KEV entries with no record to compare versions against.
        for (key, _) in &keys {
            for cve in self.kev_by_key.get(key).map(Vec::as_slice).unwrap_or(&[]) {
                // A CVE with records was judged above; one listed under two
                // of the item's keys is reported once.
                if self.cves_with_records.contains(cve) || found.iter().any(|f| f.cve == *cve) {
                    continue;
                }
                if let Some(f) = self.kev_only_finding(item, cve, key) {
                    found.push(f);
                }
            }
        }
        found.sort_by(|a, b| a.cve.cmp(&b.cve));
        out.extend(found);
    }

    fn finding(&self, item: &InventoryItem, c: Candidate<'_>) -> Finding {
        let Candidate { vuln, affected, by, key, verdict, mut sources } = c;
        let key = &key;
        let confidence = verdict.confidence;
        let source = source_of(vuln);
        sources.push(source.clone());
        sources.sort();
        sources.dedup();
        let (by_en, by_ja) = by.describe();
        let product_said = if affected.product.is_empty() {
            affected.cpes.first().cloned().unwrap_or_default()
        } else {
            format!("{} {}", affected.vendor, affected.product).trim().to_owned()
        };
        let why = format!(
            "{asset} matched \"{product_said}\" of {cve} ({source}) by {by_en}; {}",
            verdict.why_en,
            asset = describe_item(item),
            cve = vuln.id,
        );
        let why_ja = format!(
            "{asset} は {cve}（{source}）の「{product_said}」に{by_ja}で一致。{}",
            verdict.why_ja,
            asset = describe_item(item),
            cve = vuln.id,
        );
        let fix = verdict.fix;
        let mut f = self.base_finding(item, &vuln.id, key);
        f.title = vuln.title.clone().or(f.title);
        f.sources = sources;
        f.status = verdict.status;
        f.confidence = confidence;
        f.matched_by = by;
        f.range = verdict.range;
        f.scheme = verdict.scheme;
        f.why = why;
        f.why_ja = why_ja;
        f.fix = fix;
        f
    }

    fn kev_only_finding(
        &self,
        item: &InventoryItem,
        cve: &str,
        key: &ProductKey,
    ) -> Option<Finding> {
        let kev = self.feeds.kev.get(cve)?;
        let mut f = self.base_finding(item, cve, key);
        f.sources = vec!["kev".to_owned()];
        f.status = MatchStatus::PossiblyAffected;
        f.confidence = Confidence::Low;
        f.matched_by = MatchedBy::KevProduct;
        f.why = format!(
            "{} is {} {}, which CISA's KEV catalogue lists for {cve}; no advisory with version ranges for {cve} was imported, so the version was not compared",
            describe_item(item),
            kev.vendor_project,
            kev.product
        );
        f.why_ja = format!(
            "{} は {} {} で、CISAのKEVカタログが {cve} を挙げている製品。{cve} のバージョン範囲を含む脆弱性情報が取り込まれていないため、バージョンは比較していない",
            describe_item(item),
            kev.vendor_project,
            kev.product
        );
        f.fix = Some(kev.required_action.clone());
        Some(f)
    }

    /// The fields every finding of (`item`, `cve`) shares: KEV, scores, class.
    fn base_finding(&self, item: &InventoryItem, cve: &str, key: &ProductKey) -> Finding {
        let kev = self.feeds.kev.get(cve);
        let records = self.records_by_cve.get(cve).map(Vec::as_slice).unwrap_or(&[]);
        let vulns = || records.iter().filter_map(|i| self.feeds.vulns.get(*i as usize));
        let best = vulns()
            .filter_map(Vulnerability::best_cvss)
            .max_by(|a, b| a.primary.cmp(&b.primary).then(a.base_score.total_cmp(&b.base_score)))
            .cloned();
        let kev_hint = vulns().find_map(|v| v.kev_hint.clone());
        let title = vulns().find_map(|v| v.title.clone()).or_else(|| kev.map(|k| k.name.clone()));
        let class = self.aliases.info(key).and_then(|i| i.class);
        let remote_path = class == Some(ProductClass::RemoteAccess)
            || item.remote_access == Some(true)
            || matches!(item.role.as_deref(), Some("vpn_gateway" | "remote_access" | "gateway"));
        Finding {
            asset: item.name.clone(),
            asset_ref: AssetRef {
                id: item.id.clone(),
                name: item.name.clone(),
                vendor: item.vendor.clone(),
                product: item.product.clone().or_else(|| item.model.clone()),
                version: item.version.clone(),
                ips: item.ips.clone(),
                source: item.source.clone(),
            },
            cve: cve.to_owned(),
            title,
            sources: Vec::new(),
            status: MatchStatus::PossiblyAffected,
            confidence: Confidence::Low,
            matched_by: MatchedBy::Name,
            range: None,
            scheme: None,
            why: String::new(),
            why_ja: String::new(),
            known_exploited: kev.is_some() || kev_hint.is_some(),
            ransomware: kev.is_some_and(|k| k.known_ransomware),
            kev_due_date: kev
                .map(|k| k.due_date.clone())
                .or_else(|| kev_hint.as_ref().and_then(|h| h.due_date.clone())),
            kev_required_action: kev.map(|k| k.required_action.clone()),
            severity: best.as_ref().map(|c| c.severity()).unwrap_or_default(),
            cvss: best.as_ref().map(|c| c.base_score),
            cvss_vector: best.and_then(|c| c.vector),
            epss: self.feeds.epss.get(cve).map(|e| e.score),
            fix: None,
            remote_path,
            internet_facing: item.internet_facing == Some(true),
            priority: 0,
            priority_reason: String::new(),
            priority_reason_ja: String::new(),
        }
    }
}

/// One advisory entry's verdict on an item, before it becomes a finding.
#[derive(Debug)]
struct Candidate<'v> {
    vuln: &'v Vulnerability,
    affected: &'v Affected,
    by: MatchedBy,
    key: ProductKey,
    verdict: Verdict,
    /// Sources of the other entries of this CVE that were merged into it.
    sources: Vec<String>,
}

/// `cve5`, `nvd`, `csaf:ICSMA-22-167-01`.
fn source_of(vuln: &Vulnerability) -> String {
    match &vuln.advisory {
        Some(adv) => format!("{}:{adv}", vuln.source.as_str()),
        None => vuln.source.as_str().to_owned(),
    }
}

/// Keep the stronger of two verdicts for one CVE, the union of sources, and
/// a precise fix ("fixed in X") from an entry that agrees on the status.
fn merge<'k, 'v>(per_cve: &mut Map<&'k str, Candidate<'v>>, cve: &'k str, new: Candidate<'v>) {
    let Some(old) = per_cve.get_mut(cve) else {
        per_cve.insert(cve, new);
        return;
    };
    let precise = |fix: &Option<String>| fix.as_ref().is_some_and(|f| f.starts_with("fixed in "));
    let new_source = source_of(new.vuln);
    if weight(&new) > weight(old) {
        let mut sources = std::mem::take(&mut old.sources);
        sources.push(source_of(old.vuln));
        let old_fix = old.verdict.fix.take();
        let old_status = old.verdict.status;
        *old = new;
        old.sources = sources;
        if !precise(&old.verdict.fix) && precise(&old_fix) && old_status == old.verdict.status {
            old.verdict.fix = old_fix;
        }
    } else {
        if !precise(&old.verdict.fix)
            && precise(&new.verdict.fix)
            && new.verdict.status == old.verdict.status
        {
            old.verdict.fix = new.verdict.fix;
        }
        old.sources.push(new_source);
    }
}

/// How much a verdict counts when two entries of one CVE disagree: a
/// definite "affected" wins (fail safe); a definite "not affected" from a
/// precise statement beats "possibly" (no information) from a vague one.
fn weight(c: &Candidate<'_>) -> (u8, Confidence, std::cmp::Reverse<MatchedBy>) {
    let rank = match (c.verdict.status, c.verdict.confidence) {
        (MatchStatus::Affected, _) => 3,
        (MatchStatus::NotAffected, Confidence::High | Confidence::Medium) => 2,
        (MatchStatus::PossiblyAffected, _) => 1,
        (MatchStatus::NotAffected, Confidence::Low) => 0,
    };
    (rank, c.verdict.confidence, std::cmp::Reverse(c.by))
}

fn describe_item(item: &InventoryItem) -> String {
    let mut s = format!("\"{}\"", item.name);
    let what: Vec<&str> =
        [item.vendor.as_deref(), item.product.as_deref().or(item.model.as_deref())]
            .into_iter()
            .flatten()
            .collect();
    if !what.is_empty() {
        s.push_str(&format!(" ({})", what.join(" ")));
    }
    s
}

fn first_fix(affected: &Affected, vuln: &Vulnerability) -> Option<String> {
    let fixes = affected.fixes.iter().chain(vuln.remediations.iter());
    let mut texts =
        fixes.clone().filter_map(|r| r.fixed_version.clone()).map(|v| format!("fixed in {v}"));
    texts.next().or_else(|| fixes.filter_map(|r| r.details.clone()).next())
}

/// One product identity an advisory entry is filed under, with the product
/// as the entry writes it (the words name-word matching ties on).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Filed {
    pub key: ProductKey,
    pub name: String,
}

/// Works out where vulnerability records are filed: the identities
/// [`Matcher`] indexes their entries under. Kept with each stored record
/// (with the alias table's [`Aliases::fingerprint`]), so an assessment can
/// read only the records its assets can match ([`Selection`]).
pub struct Filer<'a> {
    cache: KeyCache<'a>,
}

impl std::fmt::Debug for Filer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filer").field("names", &self.cache.known.len()).finish()
    }
}

impl<'a> Filer<'a> {
    pub fn new(aliases: &'a Aliases) -> Self {
        Filer { cache: KeyCache { aliases, known: Map::default() } }
    }

    /// Where `v` is filed, each identity and name once, sorted.
    pub fn filed(&mut self, v: &Vulnerability) -> Vec<Filed> {
        let mut out = Vec::new();
        for a in &v.affected {
            for key in affected_keys(&mut self.cache, a) {
                out.push(Filed { key, name: a.product.clone() });
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Which filed records matching some items can touch, worked out in two
/// rounds against wherever the filings are kept:
///
/// 1. the records filed under any [`Selection::identities`] (every key an
///    item is looked up under) — all of them, so each key's entries are
///    exactly what the whole feed would give;
/// 2. for the items none of whose identities has a record, name-word
///    matching: the names filed under the vendors of [`Selection::word_probes`] are read
///    and [`Selection::word_ties`] picks the identities they tie with,
///    whose records are then read too.
///
/// A [`Matcher`] over those records, plus every record of each CVE they
/// name (scores, titles) and of every KEV CVE (a KEV entry with a record
/// is judged by the record), gives the findings the whole feed gives
/// (tested: `selection_gives_the_findings_of_the_whole_feed`).
#[derive(Debug)]
pub struct Selection {
    /// Per item: its identities, and its name-word probes.
    items: Vec<(Vec<ProductKey>, Vec<Probe>)>,
}

/// A name-word probe: a vendor identity and the words of the item's name.
type Probe = (String, Vec<String>);

impl Selection {
    pub fn new(aliases: &Aliases, items: &[InventoryItem]) -> Self {
        let items = items
            .iter()
            .map(|item| {
                let keys = item_keys(aliases, item);
                let probes = keys
                    .iter()
                    .filter(|(_, by)| *by == MatchedBy::Name)
                    .map(|(k, _)| (k.vendor.clone(), words(&key_source_name(item, k))))
                    .filter(|(_, w)| distinctive(w))
                    .collect();
                (keys.into_iter().map(|(k, _)| k).collect(), probes)
            })
            .collect();
        Selection { items }
    }

    /// Every identity an item is looked up under, each once, sorted.
    pub fn identities(&self) -> Vec<ProductKey> {
        let mut all: Vec<ProductKey> = self.items.iter().flat_map(|(k, _)| k.clone()).collect();
        all.sort();
        all.dedup();
        all
    }

    fn unmatched<'s>(
        &'s self,
        filed: &'s Set<&ProductKey>,
    ) -> impl Iterator<Item = &'s [Probe]> + 's {
        self.items
            .iter()
            .filter(|(keys, _)| !keys.iter().any(|k| filed.contains(k)))
            .map(|(_, probes)| probes.as_slice())
    }

    /// What round 2 needs, given the identities round 1 found records
    /// under: per vendor, the words of the unmatched items' names. A filed
    /// name can tie only if it contains one of them (as a substring of its
    /// lower-cased text), so a store may read only such names.
    pub fn word_probes(&self, filed: &[ProductKey]) -> Vec<(String, Vec<String>)> {
        let filed: Set<&ProductKey> = filed.iter().collect();
        let mut by_vendor: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (vendor, words) in self.unmatched(&filed).flatten() {
            by_vendor.entry(vendor.clone()).or_default().extend(words.iter().cloned());
        }
        by_vendor
            .into_iter()
            .map(|(v, mut w)| {
                w.sort();
                w.dedup();
                (v, w)
            })
            .collect()
    }

    /// Of `names` (identity, name as filed) under the word vendors, the
    /// identities some unmatched item ties with by name words.
    pub fn word_ties(
        &self,
        filed: &[ProductKey],
        names: &[(ProductKey, String)],
    ) -> Vec<ProductKey> {
        let filed: Set<&ProductKey> = filed.iter().collect();
        let probes: Vec<&Probe> = self.unmatched(&filed).flatten().collect();
        let mut out: Vec<ProductKey> = names
            .iter()
            .filter(|(key, name)| {
                if name.is_empty() {
                    return false;
                }
                let adv_words = words(name);
                probes.iter().any(|(vendor, item_words)| {
                    *vendor == key.vendor
                        && (subset(item_words, &adv_words)
                            || (distinctive(&adv_words) && subset(&adv_words, item_words)))
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Fewer items than this per thread are matched on one thread (starting
/// threads would cost more than it saves).
const MIN_ITEMS_PER_THREAD: usize = 500;

/// Product keys already worked out while indexing: feeds repeat the same
/// vendor and product names many times.
struct KeyCache<'a> {
    aliases: &'a Aliases,
    /// Vendor as written → product as written → key.
    known: Map<String, Map<String, ProductKey>>,
}

impl KeyCache<'_> {
    fn key(&mut self, vendor: &str, product: &str) -> ProductKey {
        if let Some(k) = self.known.get(vendor).and_then(|m| m.get(product)) {
            return k.clone();
        }
        let k = self.aliases.product_key(vendor, product).0;
        self.known.entry(vendor.to_owned()).or_default().insert(product.to_owned(), k.clone());
        k
    }
}

/// The keys an advisory entry is filed under.
fn affected_keys(cache: &mut KeyCache<'_>, a: &Affected) -> Vec<ProductKey> {
    let mut keys = Vec::new();
    if !a.product.is_empty() && !is_na(&a.product) {
        keys.push(cache.key(&a.vendor, &a.product));
        // "Fortinet FortiOS, FortiProxy": one entry for several products.
        for part in product_parts(&a.product) {
            keys.push(cache.key(&a.vendor, part));
        }
    }
    for cpe in &a.cpes {
        if let Some((v, p)) = cpe_vendor_product(cpe) {
            keys.push(cache.key(&v, &p));
        }
    }
    if let Some((v, p)) = a.purl.as_deref().and_then(purl_vendor_product) {
        keys.push(cache.key(&v, &p));
    } else if let (Some(eco), false) = (&a.ecosystem, a.product.is_empty()) {
        keys.push(cache.key(eco, &a.product));
    }
    keys
}

/// The keys an inventory item is looked up under, with how each was made.
fn item_keys(aliases: &Aliases, item: &InventoryItem) -> Vec<(ProductKey, MatchedBy)> {
    let mut keys = Vec::new();
    if let Some(vendor) = item.vendor.as_deref().filter(|v| !v.trim().is_empty()) {
        for name in [item.product.as_deref(), item.model.as_deref()].into_iter().flatten() {
            if !name.trim().is_empty() {
                keys.push((aliases.product_key(vendor, name).0, MatchedBy::Name));
            }
        }
    }
    if let Some((v, p)) = item.cpe.as_deref().and_then(cpe_vendor_product) {
        keys.push((aliases.product_key(&v, &p).0, MatchedBy::Cpe));
    }
    if let Some((v, p)) = item.purl.as_deref().and_then(purl_vendor_product) {
        keys.push((aliases.product_key(&v, &p).0, MatchedBy::Purl));
    }
    // Advisories that name no vendor (a package name alone) are filed under
    // an empty vendor; reach them by the product's own name and table ID.
    let vendorless: Vec<(ProductKey, MatchedBy)> = keys
        .iter()
        .filter(|(_, by)| *by == MatchedBy::Name)
        .flat_map(|(k, _)| {
            let mut names = vec![k.product.clone()];
            for name in [item.product.as_deref(), item.model.as_deref()].into_iter().flatten() {
                names.push(crate::aliases::normalise(name));
            }
            names.into_iter().map(|product| {
                (ProductKey { vendor: String::new(), product }, MatchedBy::ProductOnly)
            })
        })
        .collect();
    keys.extend(vendorless);
    let mut seen = Set::default();
    keys.retain(|(k, _)| seen.insert(k.clone()));
    keys
}

/// The name an item key was made from (product, else model).
fn key_source_name(item: &InventoryItem, key: &ProductKey) -> String {
    for name in [item.product.as_deref(), item.model.as_deref()].into_iter().flatten() {
        if crate::aliases::normalise(name) == key.product || words(name).concat() == key.product {
            return name.to_owned();
        }
    }
    item.product.clone().or_else(|| item.model.clone()).unwrap_or_default()
}

/// The products a name lists: `A, B, and C`, `A and B`, `A & B`; empty
/// when it names one.
fn product_parts(name: &str) -> Vec<&str> {
    if !(name.contains(',') || name.contains(" and ") || name.contains(" & ")) {
        return Vec::new();
    }
    name.split([',', '&'])
        .flat_map(|p| p.split(" and "))
        .map(|p| p.trim().trim_start_matches("and ").trim())
        .filter(|p| !p.is_empty())
        .collect()
}

fn is_na(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "n/a" | "na" | "-" | "unknown")
}

/// Lower-case words of a name, split at anything not a letter or digit.
fn words(name: &str) -> Vec<String> {
    name.replace("â„¢", " ")
        .split(|c: char| !c.is_alphanumeric() || matches!(c, '™' | '®'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Enough to tie a product on: a word with a digit, or two words.
fn distinctive(words: &[String]) -> bool {
    words.len() >= 2 || words.iter().any(|w| w.chars().any(|c| c.is_ascii_digit()) && w.len() >= 3)
}

fn subset(small: &[String], big: &[String]) -> bool {
    !small.is_empty() && small.iter().all(|w| big.contains(w))
}

/// Vendor and product of a CPE 2.3 formatted string or 2.2 URI.
fn cpe_vendor_product(cpe: &str) -> Option<(String, String)> {
    let parsed = crate::cpe::Cpe::parse(cpe).ok()?;
    let v = component_value(&parsed.vendor)?;
    let p = component_value(&parsed.product)?;
    Some((v, p))
}

fn component_value(c: &crate::cpe::Component) -> Option<String> {
    match c {
        crate::cpe::Component::Value(v) if !v.contains(['*', '?']) => Some(v.clone()),
        _ => None,
    }
}

/// Namespace (or type) and name of a package URL.
fn purl_vendor_product(purl: &str) -> Option<(String, String)> {
    let rest = purl.strip_prefix("pkg:")?;
    let rest = rest.split(['@', '?', '#']).next()?;
    let mut parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let name = parts.pop()?;
    let vendor = if parts.len() >= 2 { parts.last()? } else { parts.first()? };
    Some(((*vendor).to_owned(), name.to_owned()))
}

/// The version token of an inventory version text: `FortiOS 7.0.12` → `7.0.12`,
/// `Version 2.2.0` → `2.2.0`, `22.7R2.3` as is.
pub fn extract_version(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    t.split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, ',' | ';' | '(' | ')' | '"' | '\'')))
        .find(|w| {
            let w = w.strip_prefix(['v', 'V']).unwrap_or(w);
            w.chars().next().is_some_and(|c| c.is_ascii_digit())
        })
        .map(str::to_owned)
}

/// The verdict on one advisory entry for one version.
#[derive(Debug, Clone)]
struct Verdict {
    status: MatchStatus,
    confidence: Confidence,
    range: Option<String>,
    scheme: Option<Scheme>,
    why_en: String,
    why_ja: String,
    fix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Eval {
    In { interpreted: Option<&'static str> },
    Out,
    Unknown(String),
}

/// Decide `affected` for `version` (None: the inventory has none).
fn judge(
    affected: &Affected,
    version: Option<&str>,
    hint: Option<Scheme>,
    is_ours: &dyn Fn(&str) -> bool,
) -> Verdict {
    let default = affected.default_status;
    let Some(version) = version else {
        let all = affected.versions.is_empty() && default == Status::Affected
            || affected.versions.iter().any(|r| r.status == Status::Affected && is_all(r));
        let (status, en, ja) = if all {
            (
                MatchStatus::Affected,
                "every version is affected".to_owned(),
                "全バージョンが影響を受ける".to_owned(),
            )
        } else {
            (
                MatchStatus::PossiblyAffected,
                "the inventory gives no version, so the affected versions could not be compared"
                    .to_owned(),
                "台帳にバージョンがないため、影響を受けるバージョンと比較できない".to_owned(),
            )
        };
        return Verdict {
            status,
            confidence: if all { Confidence::Medium } else { Confidence::Low },
            range: affected.versions.first().map(|r| r.text.clone()),
            scheme: None,
            why_en: en,
            why_ja: ja,
            fix: None,
        };
    };

    let scheme = choose_scheme(hint, version, affected);
    let mut unknown: Option<(String, String)> = None;
    // Unknowns that only come from bounds this scheme cannot read (other
    // editions such as `13.1-FIPS`), and a readable statement on the
    // version's own release line that answered "outside".
    let mut unknown_only_unreadable = true;
    let mut own_line_outside = false;
    let mut unaffected_hit: Option<&VersionRange> = None;
    let mut affected_hit: Option<(&VersionRange, Option<&'static str>)> = None;
    for r in &affected.versions {
        let evals = match scheme {
            Some(s) => eval_range(s, r, version, is_ours),
            None => Eval::Unknown(format!(
                "version {version} does not follow a scheme the statement can be compared in"
            )),
        };
        if let Some(s) = scheme {
            if evals == Eval::Out
                && r.status == Status::Affected
                && bounds(s, r).any(|b| parses(s, &b) && version::same_line(s, version, &b))
            {
                own_line_outside = true;
            }
            if matches!(evals, Eval::Unknown(_)) && bounds(s, r).all(|b| parses(s, &b)) {
                unknown_only_unreadable = false;
            }
        } else {
            unknown_only_unreadable = false;
        }
        match (evals, r.status) {
            (Eval::In { interpreted }, Status::Affected)
                if affected_hit.is_none_or(|(_, i)| i.is_some() && interpreted.is_none()) =>
            {
                affected_hit = Some((r, interpreted));
            }
            (Eval::In { .. }, Status::Unaffected) => unaffected_hit = unaffected_hit.or(Some(r)),
            (Eval::Unknown(reason), Status::Affected) if unknown.is_none() => {
                unknown = Some((r.text.clone(), reason));
            }
            (Eval::In { .. }, Status::Unknown) if unknown.is_none() => {
                let reason = format!("the status of {version} is not known to the source");
                unknown = Some((r.text.clone(), reason));
            }
            _ => {}
        }
    }
    let scheme_name = scheme.map(scheme_label).unwrap_or("unknown");
    if let (Some((r, interpreted)), None) = (affected_hit, unaffected_hit) {
        let end = scheme.map_or_else(|| r.end.clone(), |s| effective_bounds(s, r).1);
        let fix = end.as_ref().map(|b| {
            if b.inclusive {
                format!("a version later than {}", b.version)
            } else {
                format!("fixed in {}", b.version)
            }
        });
        let (en, ja, confidence) = match interpreted {
            None => (
                format!(
                    "version {version} is inside \"{}\" (compared as {scheme_name} versions)",
                    r.text
                ),
                format!(
                    "バージョン {version} は「{}」の範囲内（{scheme_name} として比較）",
                    r.text
                ),
                Confidence::High,
            ),
            Some(how) => (
                format!(
                    "version {version} is inside \"{}\" read as {how} (compared as {scheme_name} versions)",
                    r.text
                ),
                format!(
                    "バージョン {version} は「{}」の範囲内（{how} と解釈、{scheme_name} として比較）",
                    r.text
                ),
                Confidence::Medium,
            ),
        };
        return Verdict {
            status: MatchStatus::Affected,
            confidence,
            range: Some(r.text.clone()),
            scheme,
            why_en: en,
            why_ja: ja,
            fix,
        };
    }
    if let Some(r) = unaffected_hit {
        return Verdict {
            status: MatchStatus::NotAffected,
            confidence: Confidence::High,
            range: Some(r.text.clone()),
            scheme,
            why_en: format!("version {version} is listed as unaffected by \"{}\"", r.text),
            why_ja: format!("バージョン {version} は「{}」により影響なしとされている", r.text),
            fix: None,
        };
    }
    if let Some((text, _)) = &unknown
        && unknown_only_unreadable
        && own_line_outside
    {
        return Verdict {
            status: MatchStatus::NotAffected,
            confidence: Confidence::Medium,
            range: Some(text.clone()),
            scheme,
            why_en: format!(
                "version {version} is outside the affected range of its release line (compared as {scheme_name} versions); \"{text}\" names another edition whose versions cannot be compared"
            ),
            why_ja: format!(
                "バージョン {version} は同じリリース系列の影響範囲の外（{scheme_name} として比較）。「{text}」は別エディションの記述で比較できない"
            ),
            fix: None,
        };
    }
    if let Some((text, reason)) = unknown {
        return Verdict {
            status: MatchStatus::PossiblyAffected,
            confidence: Confidence::Low,
            range: Some(text.clone()),
            scheme,
            why_en: format!("version {version} could not be compared with \"{text}\": {reason}"),
            why_ja: format!("バージョン {version} を「{text}」と比較できない: {reason}"),
            fix: None,
        };
    }
    let listed: Vec<&str> = affected
        .versions
        .iter()
        .filter(|r| r.status == Status::Affected)
        .map(|r| r.text.as_str())
        .collect();
    match default {
        Status::Affected => Verdict {
            status: MatchStatus::Affected,
            confidence: Confidence::Medium,
            range: None,
            scheme,
            why_en: format!(
                "version {version} is not named by any statement and the source's default status is affected"
            ),
            why_ja: format!(
                "バージョン {version} はどの記述にも該当せず、情報源の既定の状態が「影響あり」"
            ),
            fix: None,
        },
        Status::Unknown if listed.is_empty() => Verdict {
            status: MatchStatus::PossiblyAffected,
            confidence: Confidence::Low,
            range: None,
            scheme,
            why_en: "the source names the product but no affected versions".to_owned(),
            why_ja: "情報源は製品名のみで、影響を受けるバージョンを示していない".to_owned(),
            fix: None,
        },
        _ => Verdict {
            status: MatchStatus::NotAffected,
            // A source that lists affected versions but states no default
            // (CVE 5 `defaultStatus` absent or `unknown`) is trusted less.
            confidence: if scheme.is_some() && default == Status::Unaffected {
                Confidence::High
            } else {
                Confidence::Medium
            },
            range: listed.first().map(|s| (*s).to_owned()),
            scheme,
            why_en: format!(
                "version {version} is outside every affected range ({}) (compared as {scheme_name} versions){}",
                listed.join("; "),
                if default == Status::Unaffected {
                    ""
                } else {
                    "; the source states no default status for other versions"
                }
            ),
            why_ja: format!(
                "バージョン {version} は影響を受ける範囲（{}）の外（{scheme_name} として比較）",
                listed.join("; ")
            ),
            fix: None,
        },
    }
}

fn scheme_label(s: Scheme) -> &'static str {
    match s {
        Scheme::Semver => "semver",
        Scheme::Dotted => "dotted",
        Scheme::Ivanti => "Ivanti",
        Scheme::FortiOs => "FortiOS",
        Scheme::PanOs => "PAN-OS",
        Scheme::Citrix => "Citrix",
        Scheme::Windows => "Windows build",
        Scheme::Date => "date",
    }
}

fn parses(s: Scheme, v: &str) -> bool {
    version::compare(s, v, v).is_ok()
}

/// The table's scheme if the version follows it; else the one its shape
/// shows; else dotted or semver, whichever reads it.
fn choose_scheme(hint: Option<Scheme>, version: &str, affected: &Affected) -> Option<Scheme> {
    let mut candidates: Vec<Scheme> = Vec::new();
    candidates.extend(hint);
    candidates.extend(version::detect(version));
    for r in &affected.versions {
        if let Some(h) = r.scheme_hint.as_deref() {
            match h.to_ascii_lowercase().as_str() {
                "date" => candidates.push(Scheme::Date),
                "semver" => candidates.push(Scheme::Semver),
                _ => {}
            }
        }
    }
    candidates.extend([Scheme::Dotted, Scheme::Semver]);
    candidates.into_iter().find(|s| parses(*s, version))
}

fn is_all(r: &VersionRange) -> bool {
    let all_text = r.exact.as_deref().is_some_and(|e| {
        matches!(
            e.trim().to_ascii_lowercase().as_str(),
            "*" | "all" | "all versions" | "vers:all/*" | "any"
        )
    });
    (r.exact.is_none() && r.start.is_none() && r.end.is_none()) || all_text
}

fn cmp(s: Scheme, a: &str, b: &str) -> Result<Ordering, String> {
    version::compare(s, a, b).map_err(|e| e.reason)
}

/// Whether `version` is in `r`, under scheme `s`.
fn eval_range(s: Scheme, r: &VersionRange, version: &str, is_ours: &dyn Fn(&str) -> bool) -> Eval {
    if is_all(r) {
        return Eval::In { interpreted: None };
    }
    if let Some(exact) = &r.exact {
        let e = exact.trim();
        if let Some(prefix) = e.strip_suffix(".x").or_else(|| e.strip_suffix(".*")) {
            let v = version.trim().trim_start_matches(['v', 'V']);
            return if v == prefix || v.starts_with(&format!("{prefix}.")) {
                Eval::In { interpreted: Some("every version of that release line") }
            } else if prefix.chars().all(|c| c.is_ascii_digit() || c == '.') {
                Eval::Out
            } else {
                Eval::Unknown(format!("\"{e}\" is not a version"))
            };
        }
        if parses(s, e) {
            return match cmp(s, version, e) {
                Ok(Ordering::Equal) => Eval::In { interpreted: None },
                Ok(_) => Eval::Out,
                Err(reason) => Eval::Unknown(reason),
            };
        }
        // Free text: "FortiOS 6.0.0 to 6.0.4, 5.6.3 to 5.6.7 …".
        let ranges = free_text_ranges(e, is_ours);
        if ranges.is_empty() {
            return Eval::Unknown(format!("\"{e}\" is free text, not a version"));
        }
        for (lo, hi) in ranges {
            match (cmp(s, version, &lo), cmp(s, version, &hi)) {
                (Ok(a), Ok(b)) if a != Ordering::Less && b != Ordering::Greater => {
                    return Eval::In { interpreted: Some("the free-text range read as inclusive") };
                }
                (Ok(_), Ok(_)) => {}
                (Err(reason), _) | (_, Err(reason)) => return Eval::Unknown(reason),
            }
        }
        return Eval::Out;
    }

    let (start, end) = effective_bounds(s, r);
    // `version X lessThanOrEqual X`: up to X on X's line.
    if let (Some(st), Some(en)) = (&start, &end)
        && st.inclusive
        && en.inclusive
        && st.version.trim() == en.version.trim()
    {
        let x = en.version.trim();
        return match cmp(s, version, x) {
            Ok(Ordering::Equal) => Eval::In { interpreted: None },
            Ok(Ordering::Greater) => Eval::Out,
            Ok(Ordering::Less) if version::same_line(s, version, x) => {
                Eval::In { interpreted: Some("\"every version up to X on X's release line\"") }
            }
            Ok(Ordering::Less) => Eval::Unknown(format!(
                "the record names only {x} (version = lessThanOrEqual); {version} is on an older release line it does not state"
            )),
            Err(reason) => Eval::Unknown(reason),
        };
    }
    if let Some(st) = &start
        && !is_open_start(&st.version)
    {
        match cmp(s, version, st.version.trim()) {
            Ok(Ordering::Less) => return Eval::Out,
            Ok(Ordering::Equal) if !st.inclusive => return Eval::Out,
            Ok(_) => {}
            Err(reason) => return Eval::Unknown(reason),
        }
    }
    if let Some(en) = &end {
        if is_open_start(&en.version) {
            return Eval::In { interpreted: None };
        }
        match cmp(s, version, en.version.trim()) {
            Ok(Ordering::Greater) => return Eval::Out,
            Ok(Ordering::Equal) if !en.inclusive => return Eval::Out,
            Ok(_) => {}
            Err(reason) => return Eval::Unknown(reason),
        }
    }
    Eval::In { interpreted: None }
}

/// A range's bounds as the scheme reads them. Citrix records write the
/// release as `version` and the build as the bound (`version 13.1 lessThan
/// 49.13`): that is builds of 13.1 before 13.1-49.13.
fn effective_bounds(s: Scheme, r: &VersionRange) -> (Option<Bound>, Option<Bound>) {
    let mut start = r.start.clone();
    let mut end = r.end.clone();
    if s == Scheme::Citrix
        && let (Some(st), Some(en)) = (&mut start, &mut end)
        && !en.version.contains('-')
        && !st.version.contains('-')
    {
        en.version = format!("{}-{}", st.version.trim(), en.version.trim());
        st.version = format!("{}-0", st.version.trim());
    }
    (start, end)
}

/// The version texts a statement names, as scheme `s` reads them.
fn bounds(s: Scheme, r: &VersionRange) -> impl Iterator<Item = String> {
    let (start, end) = effective_bounds(s, r);
    r.exact
        .clone()
        .into_iter()
        .chain(start.map(|b| b.version))
        .chain(end.map(|b| b.version))
        .map(|b| b.trim().to_owned())
        .filter(|b| !is_open_start(b))
}

fn is_open_start(v: &str) -> bool {
    matches!(v.trim(), "" | "0" | "*" | "-")
}

/// `A to B` (also `A through B`, `A - B`) pairs and lone versions in free
/// text, counting only those after a name `is_ours` accepts when the text
/// names several products (`FortiOS 6.0.0 to 6.0.4, FortiProxy 2.0.0`).
fn free_text_ranges(text: &str, is_ours: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
    const FILLER: &[&str] = &[
        "to",
        "through",
        "and",
        "or",
        "-",
        "version",
        "versions",
        "from",
        "including",
        "inclusive",
    ];
    let tokens: Vec<&str> = text.split([' ', ',', ';']).filter(|t| !t.is_empty()).collect();
    let mut out = Vec::new();
    let mut ours = true;
    let mut i = 0;
    while let Some(t) = tokens.get(i).copied() {
        if versionish(t) {
            if let (Some(sep), Some(b)) = (tokens.get(i + 1), tokens.get(i + 2))
                && matches!(sep.to_ascii_lowercase().as_str(), "to" | "through" | "-")
                && versionish(b)
            {
                if ours {
                    out.push((t.to_owned(), (*b).to_owned()));
                }
                i += 3;
                continue;
            }
            if ours {
                out.push((t.to_owned(), t.to_owned()));
            }
        } else if !FILLER.contains(&t.to_ascii_lowercase().as_str()) {
            ours = is_ours(t);
        }
        i += 1;
    }
    out
}

fn versionish(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_digit())
}
