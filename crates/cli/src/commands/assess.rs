//! `sekimori feeds import|status` and `sekimori assess`: advisory files into
//! the store, and the inventory matched against them.
//!
//! `assess --inventory FILE --feeds PATH` works on files alone and touches no
//! data directory; without `--feeds` it reads the feeds imported into the
//! store, without `--inventory` the store's observed devices.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use sekimori_assess::InputError;
use sekimori_assess::aliases::Aliases;
use sekimori_assess::aliases::ProductKey;
use sekimori_assess::checklist::{self, AuditEvidence, Evidence, FindingsEvidence};
use sekimori_assess::feeds::{self, FeedEvent};
use sekimori_assess::inventory::{self, InventoryItem};
use sekimori_assess::matching::{
    FeedSet, Filer, Finding, MatchOptions, MatchStatus, Matcher, Selection,
};
use sekimori_assess::model::{FeedRecord, Severity, Vulnerability};
use sekimori_assess::report;
use sekimori_audit::AuditEvent;
use sekimori_store::{
    AdvisoryFiling, AdvisoryRepo, AdvisoryRow, AdvisoryWrite, AssetRepo, AuditRepo, FiledProduct,
    InventoryRepo, Store, UserRepo,
};
use sekimori_types::Lang;

use crate::args::{
    AssessArgs, AssessFormat, ChecklistArgs, ChecklistFormat, Cli, FailOn, FeedsCmd,
    FeedsImportArgs,
};

/// Records sent to the store per call.
const BATCH: usize = 2000;
/// Errors printed one per line before the rest are only counted.
const ERRORS_SHOWN: usize = 50;

pub async fn feeds(cli: &Cli, cmd: &FeedsCmd, lang: Lang) -> Result<ExitCode> {
    match cmd {
        FeedsCmd::Import(a) => import(cli, a, lang).await,
        FeedsCmd::Status(j) => status(cli, j.json, lang).await,
    }
}

/// What an import did, for the summary and the audit record.
#[derive(Debug, Default, serde::Serialize)]
struct ImportSummary {
    files: u64,
    vulnerabilities: u64,
    kev: u64,
    epss: u64,
    added: u64,
    updated: u64,
    unchanged: u64,
    skipped: u64,
    /// Stored records filed again (imported before filing, or under
    /// another alias table).
    refiled: u64,
    errors: Vec<InputError>,
}

fn row_of(record: &FeedRecord, filer: &mut Filer<'_>, keyed_with: &str) -> Result<AdvisoryRow> {
    let body = serde_json::to_string(record).context("encoding a record")?;
    let filing = match record {
        FeedRecord::Vulnerability(v) => Some(filing_of(v, filer, keyed_with)),
        _ => None,
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
    let (kind, cve) = match record {
        FeedRecord::Vulnerability(v) => ("vulnerability", v.id.clone()),
        FeedRecord::Kev(k) => ("kev", k.cve.clone()),
        FeedRecord::Epss(e) => ("epss", e.cve.clone()),
    };
    Ok(AdvisoryRow {
        key: record.key(),
        kind: kind.to_owned(),
        cve,
        digest: hex::encode(digest.as_ref()),
        body,
        filing,
    })
}

/// Where a vulnerability record is filed (see `matching::Selection`).
fn filing_of(v: &Vulnerability, filer: &mut Filer<'_>, keyed_with: &str) -> AdvisoryFiling {
    AdvisoryFiling {
        keyed_with: keyed_with.to_owned(),
        products: filer
            .filed(v)
            .into_iter()
            .map(|f| FiledProduct { vendor: f.key.vendor, product: f.key.product, name: f.name })
            .collect(),
    }
}

/// Files again the stored records not filed with the bundled alias table
/// (imported by an older version, or before the table changed). Returns
/// how many.
async fn refile(store: &Store, aliases: &Aliases) -> Result<u64> {
    let keyed_with = aliases.fingerprint();
    if store.advisories_not_filed_count(&keyed_with).await? == 0 {
        return Ok(0);
    }
    let mut filer = Filer::new(aliases);
    let mut after: Option<String> = None;
    let mut n = 0;
    loop {
        let page = store.advisories_not_filed(&keyed_with, after.as_deref(), 2000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        let mut filings = Vec::with_capacity(page.len());
        for row in &page {
            let v: Vulnerability = serde_json::from_str(&row.body).with_context(|| {
                format!("advisory record {} in the store is unreadable", row.key)
            })?;
            filings.push((row.key.clone(), filing_of(&v, &mut filer, &keyed_with)));
        }
        n += filings.len() as u64;
        store.file_advisories(&filings).await?;
    }
    Ok(n)
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

async fn import(cli: &Cli, args: &FeedsImportArgs, lang: Lang) -> Result<ExitCode> {
    for p in &args.paths {
        if !p.exists() {
            anyhow::bail!(
                "{}: {}",
                p.display(),
                lang.pick("見つかりません", "no such file or directory")
            );
        }
    }
    let (inst, _) = super::open(cli).await?;
    let bar = progress_bar(args.json);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<FeedEvent>(4 * BATCH);
    let paths = args.paths.clone();
    let reader = tokio::task::spawn_blocking(move || {
        feeds::read_paths(&paths, &mut |event| {
            // The receiver goes away only when the import failed; stop sending.
            let _ = tx.blocking_send(event);
        })
    });

    let mut summary = ImportSummary::default();
    let aliases = Aliases::bundled();
    let keyed_with = aliases.fingerprint();
    let mut filer = Filer::new(&aliases);
    let mut batch: Vec<AdvisoryRow> = Vec::with_capacity(BATCH);
    let mut keys = std::collections::HashSet::new();
    let result: Result<()> = async {
        while let Some(event) = rx.recv().await {
            match event {
                FeedEvent::Record(record) => {
                    match &record {
                        FeedRecord::Vulnerability(_) => summary.vulnerabilities += 1,
                        FeedRecord::Kev(_) => summary.kev += 1,
                        FeedRecord::Epss(_) => summary.epss += 1,
                    }
                    let row = row_of(&without_description(record), &mut filer, &keyed_with)?;
                    // The same record twice in one import (a file given twice,
                    // a CVE in two trees): the later one wins, in its own batch.
                    if !keys.insert(row.key.clone()) {
                        flush(&inst.store, &mut batch, &mut summary).await?;
                        keys.clear();
                        keys.insert(row.key.clone());
                    }
                    batch.push(row);
                    if batch.len() >= BATCH {
                        flush(&inst.store, &mut batch, &mut summary).await?;
                        keys.clear();
                    }
                }
                FeedEvent::Error(e) => {
                    summary.skipped += 1;
                    if summary.errors.len() < ERRORS_SHOWN && !args.json {
                        bar.suspend(|| {
                            eprintln!(
                                "{}: {}",
                                lang.pick("スキップ", "skipped"),
                                e.display_in(lang == Lang::Ja)
                            );
                        });
                    }
                    summary.errors.push(e);
                }
                FeedEvent::Progress { done, total } => {
                    bar.set_length(total);
                    bar.set_position(done);
                }
            }
        }
        flush(&inst.store, &mut batch, &mut summary).await?;
        summary.refiled = refile(&inst.store, &aliases).await?;
        Ok(())
    }
    .await;
    drop(rx);
    bar.finish_and_clear();
    summary.files = reader.await.context("the feed reader stopped")?;
    if let Err(e) = result {
        inst.store.close().await;
        return Err(e);
    }
    inst.store
        .append(
            &super::cli_ctx(),
            AuditEvent::FeedsImported {
                files: summary.files,
                added: summary.added,
                updated: summary.updated,
                unchanged: summary.unchanged,
                skipped: summary.skipped,
            },
        )
        .await?;
    inst.store.close().await;

    if args.json {
        crate::output::json(&summary);
    } else {
        if summary.errors.len() > ERRORS_SHOWN {
            eprintln!(
                "{}",
                lang.pick(
                    &format!("…ほか {} 件のエラー", summary.errors.len() - ERRORS_SHOWN),
                    &format!("… and {} more errors", summary.errors.len() - ERRORS_SHOWN)
                )
            );
        }
        match lang {
            Lang::Ja => println!(
                "取り込みました: ファイル {} 件、脆弱性 {} 件、KEV {} 件、EPSS {} 件（新規 {}、更新 {}、変更なし {}、スキップ {}）",
                summary.files,
                summary.vulnerabilities,
                summary.kev,
                summary.epss,
                summary.added,
                summary.updated,
                summary.unchanged,
                summary.skipped
            ),
            Lang::En => println!(
                "Imported: {} files, {} vulnerabilities, {} KEV entries, {} EPSS scores ({} new, {} updated, {} unchanged, {} skipped)",
                summary.files,
                summary.vulnerabilities,
                summary.kev,
                summary.epss,
                summary.added,
                summary.updated,
                summary.unchanged,
                summary.skipped
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn flush(store: &Store, batch: &mut Vec<AdvisoryRow>, s: &mut ImportSummary) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let AdvisoryWrite { added, updated, unchanged } =
        store.upsert_advisories(batch).await.context("writing advisories to the store")?;
    s.added += added;
    s.updated += updated;
    s.unchanged += unchanged;
    batch.clear();
    Ok(())
}

async fn status(cli: &Cli, json_out: bool, lang: Lang) -> Result<ExitCode> {
    let (inst, _) = super::open(cli).await?;
    let read = inst.store.advisory_counts().await;
    inst.store.close().await;
    let read = read?;
    let (counts, newest) = (read.per_kind, read.newest);
    let newest = newest.map(sekimori_types::rfc3339);
    if json_out {
        let map: serde_json::Map<String, serde_json::Value> =
            counts.iter().map(|(k, n)| (k.clone(), json!(n))).collect();
        crate::output::json(&json!({ "records": map, "last_import": newest }));
    } else if counts.is_empty() {
        crate::output::say(
            lang,
            "脆弱性情報はまだ取り込まれていません（sekimori feeds import PATH）。",
            "No advisories imported yet (sekimori feeds import PATH).",
        );
    } else {
        for (kind, n) in &counts {
            println!("{kind}: {n}");
        }
        if let Some(t) = newest {
            println!("{}: {t}", lang.pick("最終取り込み", "last import"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads feed files directly (no store).
fn read_feed_files(paths: &[PathBuf]) -> (FeedSet, Vec<InputError>) {
    let mut set = FeedSet::default();
    let mut errors = Vec::new();
    feeds::read_paths(paths, &mut |event| match event {
        FeedEvent::Record(r) => set.add(without_description(r)),
        FeedEvent::Error(e) => errors.push(e),
        FeedEvent::Progress { .. } => {}
    });
    (set, errors)
}

/// A stored record, decoded.
fn record_of(row: &AdvisoryRow) -> Result<FeedRecord> {
    // The row's kind picks the type: reading the tagged enum would buffer
    // every record first (twice the time on 300,000).
    let record = match row.kind.as_str() {
        "vulnerability" => serde_json::from_str(&row.body).map(FeedRecord::Vulnerability),
        "kev" => serde_json::from_str(&row.body).map(FeedRecord::Kev),
        "epss" => serde_json::from_str(&row.body).map(FeedRecord::Epss),
        _ => serde_json::from_str::<FeedRecord>(&row.body),
    }
    .with_context(|| format!("advisory record {} in the store is unreadable", row.key))?;
    Ok(without_description(record))
}

/// Every stored record (the naive reference; see [`store_feeds_for`]).
async fn store_feeds(store: &Store) -> Result<FeedSet> {
    let mut set = FeedSet::default();
    let mut after: Option<String> = None;
    loop {
        let page = store.advisories_page(None, after.as_deref(), 5000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        for row in &page {
            set.add(record_of(row)?);
        }
    }
    Ok(set)
}

/// Every stored record of `kind`, in key order.
async fn stored_of_kind(store: &Store, kind: &str) -> Result<Vec<AdvisoryRow>> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.advisories_page(Some(kind), after.as_deref(), 5000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        all.extend(page);
    }
    Ok(all)
}

/// The stored records matching `items` can touch (`matching::Selection`):
/// those filed under the items' identities (and, for items with none, the
/// identities their name words tie with), every record of the CVEs those
/// are about and of every KEV CVE, records not yet filed, all KEV entries,
/// and the EPSS scores of those CVEs. The findings are those of the whole
/// store (the `--linear-scan` reference reads everything; a test and the
/// benchmark compare them).
async fn store_feeds_for(
    store: &Store,
    aliases: &Aliases,
    items: &[InventoryItem],
    timings: &mut LoadTimings,
) -> Result<FeedSet> {
    use std::collections::BTreeSet;
    let keyed_with = aliases.fingerprint();
    let selection = Selection::new(aliases, items);
    let pairs = |keys: &[ProductKey]| -> Vec<(String, String)> {
        keys.iter().map(|k| (k.vendor.clone(), k.product.clone())).collect()
    };
    let t = std::time::Instant::now();
    let hits = store.advisories_filed_under(&pairs(&selection.identities()), &keyed_with).await?;
    let mut filed: Vec<ProductKey> =
        hits.iter().map(|(v, p, _)| ProductKey { vendor: v.clone(), product: p.clone() }).collect();
    filed.sort();
    filed.dedup();
    let mut keys: BTreeSet<String> = hits.into_iter().map(|(_, _, k)| k).collect();
    let probes = selection.word_probes(&filed);
    if !probes.is_empty() {
        let names: Vec<(ProductKey, String)> = store
            .advisory_names_under(&probes, &keyed_with)
            .await?
            .into_iter()
            .map(|(vendor, product, name)| (ProductKey { vendor, product }, name))
            .collect();
        let tied = selection.word_ties(&filed, &names);
        if !tied.is_empty() {
            let more = store.advisories_filed_under(&pairs(&tied), &keyed_with).await?;
            keys.extend(more.into_iter().map(|(_, _, k)| k));
        }
    }

    timings.select_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let kev = stored_of_kind(store, "kev").await?;
    let mut vulns = store.advisories_by_key(&keys.into_iter().collect::<Vec<_>>()).await?;
    if store.advisories_not_filed_count(&keyed_with).await? > 0 {
        let mut after: Option<String> = None;
        loop {
            let page = store.advisories_not_filed(&keyed_with, after.as_deref(), 5000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.key.clone());
            vulns.extend(page);
        }
    }
    // Key order, as a read of the whole store gives them.
    vulns.sort_by(|a, b| a.key.cmp(&b.key));
    vulns.dedup_by(|a, b| a.key == b.key);
    let cves: Vec<String> = vulns
        .iter()
        .map(|r| r.cve.clone())
        .chain(kev.iter().map(|r| r.cve.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let have: std::collections::HashSet<String> = vulns.iter().map(|r| r.key.clone()).collect();
    let first_keys: Vec<String> = vulns.iter().map(|r| r.key.clone()).collect();
    // These are decoded while the CVEs' other records are read.
    let first = tokio::task::spawn_blocking(move || decode_all(&vulns));
    // The other records of those CVEs (other sources: scores, titles), and
    // their EPSS scores: keys first, bodies only of what is not read yet.
    let related = store.advisory_keys_by_cve(&cves).await?;
    let missing: Vec<String> = related
        .iter()
        .filter(|(key, kind)| {
            matches!(kind.as_str(), "vulnerability" | "epss") && !have.contains(key.as_str())
        })
        .map(|(key, _)| key.clone())
        .collect();
    let (mut more_vulns, epss): (Vec<AdvisoryRow>, Vec<AdvisoryRow>) = store
        .advisories_by_key(&missing)
        .await?
        .into_iter()
        .partition(|r| r.kind == "vulnerability");
    more_vulns.sort_by(|a, b| a.key.cmp(&b.key));
    more_vulns.dedup_by(|a, b| a.key == b.key);
    timings.read_s = t.elapsed().as_secs_f64();

    let t = std::time::Instant::now();
    let more_keys: Vec<String> = more_vulns.iter().map(|r| r.key.clone()).collect();
    let rest: Vec<AdvisoryRow> = more_vulns.into_iter().chain(kev).chain(epss).collect();
    let rest = tokio::task::spawn_blocking(move || decode_all(&rest))
        .await
        .context("the decoder stopped")??;
    let first = first.await.context("the decoder stopped")??;
    let mut set = FeedSet::default();
    // The two vulnerability lists merged in key order (no key is in
    // both), then KEV and EPSS: the order of a read of the whole store.
    let mut a = first_keys.iter().zip(first).peekable();
    let mut rest = rest.into_iter();
    let mut more = more_keys.iter().zip(rest.by_ref()).peekable();
    loop {
        let take_a = match (a.peek(), more.peek()) {
            (Some((ka, _)), Some((kb, _))) => ka <= kb,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_a { a.next() } else { more.next() };
        if let Some((_, r)) = next {
            set.add(r);
        }
    }
    for r in rest {
        set.add(r);
    }
    timings.decode_s = t.elapsed().as_secs_f64();
    Ok(set)
}

/// Decodes `rows` on every core, in their order.
fn decode_all(rows: &[AdvisoryRow]) -> Result<Vec<FeedRecord>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 8);
    let per = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = rows
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(record_of).collect::<Result<Vec<_>>>()))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for p in parts {
            out.extend(p.join().map_err(|_| anyhow::anyhow!("a decoder thread panicked"))??);
        }
        Ok(out)
    })
}

/// Where [`store_feeds_for`] spent its time (for `--stats`).
#[derive(Debug, Default, serde::Serialize)]
struct LoadTimings {
    /// Finding the records (identities, name words).
    select_s: f64,
    /// Reading them, their CVEs' other records, KEV and EPSS.
    read_s: f64,
    /// Decoding them, what of it did not overlap the reading (the filed
    /// records are decoded while their CVEs' other records are read).
    decode_s: f64,
}

/// What the store holds, per source, for a report's summary.
async fn stored_summary(store: &Store) -> Result<report::FeedSummary> {
    let mut vulns = Vec::new();
    let mut rest = Vec::new();
    for (kind, source, n) in store.advisory_sources().await? {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        match kind.as_str() {
            "vulnerability" => {
                vulns.push(report::FeedCount { source, vulnerabilities: n, ..Default::default() })
            }
            "kev" => rest.push(report::FeedCount {
                source: "kev".into(),
                kev_entries: n,
                ..Default::default()
            }),
            "epss" => rest.push(report::FeedCount {
                source: "epss".into(),
                epss_scores: n,
                ..Default::default()
            }),
            _ => {}
        }
    }
    rest.sort_by(|a, b| b.source.cmp(&a.source));
    vulns.extend(rest);
    Ok(report::FeedSummary { sources: vulns })
}

/// Matching and reports use titles, never descriptions (up to 4 KiB each,
/// most of a normalised record): they are neither stored nor held, which
/// keeps the store, the load and the memory of 300,000 records a fraction
/// of what they would be. The source files stay the reference for the text.
fn without_description(record: FeedRecord) -> FeedRecord {
    match record {
        FeedRecord::Vulnerability(mut v) => {
            v.description = None;
            FeedRecord::Vulnerability(v)
        }
        other => other,
    }
}

/// The sensor's observed devices (at most 5,000, the store's largest page).
async fn store_observed(store: &Store) -> Result<Vec<sekimori_store::InventoryAsset>> {
    let filter = sekimori_store::InventoryFilter { limit: 5000, ..Default::default() };
    Ok(store.list_observed(&filter).await?)
}

async fn store_inventory(store: &Store) -> Result<Vec<InventoryItem>> {
    Ok(store_observed(store).await?.iter().map(observed_item).collect())
}

/// An observed device as an inventory item.
fn observed_item(a: &sekimori_store::InventoryAsset) -> InventoryItem {
    InventoryItem {
        id: a.id.to_string(),
        name: observed_name(a),
        vendor: a.vendor.clone().or_else(|| a.mac_vendor.clone()),
        product: a.product.clone(),
        version: a.version.clone(),
        ips: a.ips.iter().map(ToString::to_string).collect(),
        mac: a.mac.clone(),
        role: a.role.clone(),
        source: "sensor:store".to_owned(),
        ..Default::default()
    }
}

fn fails(f: &Finding, on: FailOn) -> bool {
    if f.status == MatchStatus::NotAffected {
        return false;
    }
    match on {
        FailOn::KnownExploited => f.known_exploited,
        FailOn::Critical => f.known_exploited || f.severity >= Severity::Critical,
        FailOn::High => f.known_exploited || f.severity >= Severity::High,
    }
}

pub async fn assess(cli: &Cli, args: &AssessArgs, lang: Lang) -> Result<ExitCode> {
    let mut aliases = Aliases::bundled();
    if let Some(path) = &args.aliases {
        aliases
            .add_file(path)
            .map_err(|e| anyhow::anyhow!("{}", e.display_in(lang == Lang::Ja)))?;
    }
    let started = std::time::Instant::now();
    let mut warnings: Vec<InputError> = Vec::new();
    let mut items: Vec<InventoryItem> = Vec::new();
    for path in &args.inventory {
        let inv = inventory::read_path(path)
            .map_err(|e| anyhow::anyhow!("{}", e.display_in(lang == Lang::Ja)))?;
        items.extend(inv.items);
        warnings.extend(inv.errors);
    }
    for p in &args.feeds {
        if !p.exists() {
            anyhow::bail!(
                "{}: {}",
                p.display(),
                lang.pick("見つかりません", "no such file or directory")
            );
        }
    }
    let need_store = args.feeds.is_empty() || args.inventory.is_empty() || args.observed;
    let mut timings = LoadTimings::default();
    let stored = if need_store {
        let (inst, _) = super::open(cli).await?;
        let result: Result<Option<(FeedSet, report::FeedSummary)>> = async {
            if args.inventory.is_empty() || args.observed {
                items.extend(store_inventory(&inst.store).await?);
            }
            if !args.feeds.is_empty() {
                return Ok(None);
            }
            let set = if args.linear_scan {
                store_feeds(&inst.store).await?
            } else {
                store_feeds_for(&inst.store, &aliases, &items, &mut timings).await?
            };
            Ok(Some((set, stored_summary(&inst.store).await?)))
        }
        .await;
        inst.store.close().await;
        result?
    } else {
        None
    };
    let (feeds, summary) = match stored {
        Some(stored) => stored,
        None => {
            let paths = args.feeds.clone();
            let (set, errors) = tokio::task::spawn_blocking(move || read_feed_files(&paths))
                .await
                .context("the feed reader stopped")?;
            warnings.extend(errors);
            let summary = set.summary();
            (set, summary)
        }
    };
    for w in warnings.iter().take(ERRORS_SHOWN) {
        eprintln!("{}: {}", lang.pick("スキップ", "skipped"), w.display_in(lang == Lang::Ja));
    }
    if items.is_empty() {
        eprintln!(
            "{}",
            lang.pick(
                "注意: 評価する機器がありません（--inventory ファイル、またはセンサーの観測）。",
                "note: no assets to assess (--inventory FILE, or devices the sensor observed)."
            )
        );
    }
    if summary.sources.iter().all(|c| c.vulnerabilities + c.kev_entries == 0) {
        eprintln!(
            "{}",
            lang.pick(
                "注意: 脆弱性情報がありません（--feeds PATH、または sekimori feeds import）。",
                "note: no advisories to match against (--feeds PATH, or sekimori feeds import)."
            )
        );
    }

    let loaded = started.elapsed();
    let t = std::time::Instant::now();
    let matcher = Matcher::new(&feeds, &aliases);
    let indexed = t.elapsed();
    let t = std::time::Instant::now();
    let mut findings = matcher.run(
        &items,
        MatchOptions { include_not_affected: args.all, linear_scan: args.linear_scan },
    );
    sekimori_assess::priority::rank(&mut findings);
    let matched = t.elapsed();
    if args.stats {
        eprintln!(
            "{}",
            json!({
                "assets": items.len(),
                "vulnerability_records": feeds.vulnerabilities(),
                "vulnerability_records_available": summary.sources.iter().map(|c| c.vulnerabilities).sum::<usize>(),
                "kev_entries": feeds.kev_entries(),
                "findings": findings.len(),
                "load_s": loaded.as_secs_f64(),
                "load": timings,
                "index_s": indexed.as_secs_f64(),
                "match_s": matched.as_secs_f64(),
            })
        );
    }
    let failed = args.fail_on.is_some_and(|on| findings.iter().any(|f| fails(f, on)));

    let report = build_report(&items, summary, findings, lang);
    match &args.output {
        Some(path) => {
            let f = std::fs::File::create(path)
                .with_context(|| format!("writing {}", path.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            write_report(args.format, &report, &mut w)
                .and_then(|()| w.flush())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            write_report(args.format, &report, &mut out)?;
            out.flush()?;
        }
    }
    // The command ends here: the records, the index and the findings (half
    // a gigabyte for a full feed) would be freed piece by piece, a tenth of
    // the run; the process's exit returns the memory at once.
    std::mem::forget(report);
    std::mem::forget(matcher);
    std::mem::forget(feeds);
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The report in `format`, written to `w` (JSON streamed).
fn write_report(
    format: AssessFormat,
    report: &report::Report,
    w: &mut impl Write,
) -> std::io::Result<()> {
    match format {
        AssessFormat::Json => report::json::write(report, w),
        AssessFormat::Csv => w.write_all(report::csv::render(report).as_bytes()),
        AssessFormat::Html => w.write_all(report::html::render(report).as_bytes()),
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn report_lang(lang: Lang) -> report::Lang {
    match lang {
        Lang::Ja => report::Lang::Ja,
        Lang::En => report::Lang::En,
    }
}

fn build_report(
    items: &[InventoryItem],
    feeds: report::FeedSummary,
    findings: Vec<Finding>,
    lang: Lang,
) -> report::Report {
    let mut sources: Vec<String> = items.iter().map(|i| i.source.clone()).collect();
    sources.sort();
    sources.dedup();
    report::Report {
        generated_at: sekimori_types::rfc3339(time::OffsetDateTime::now_utc()),
        lang: report_lang(lang),
        inventory: report::InventorySummary { items_read: items.len(), sources },
        feeds,
        findings,
    }
}

/// Protocols that reach a device remotely without the broker: VPNs and
/// remote-support tools (the broker's own tunnels are TLS on its one port).
const UNMANAGED_REMOTE: &[&str] = &[
    "ike",
    "esp",
    "openvpn",
    "wireguard",
    "anyconnect",
    "forti-sslvpn",
    "teamviewer",
    "anydesk",
    "vnc",
];

pub async fn checklist(cli: &Cli, args: &ChecklistArgs, lang: Lang) -> Result<ExitCode> {
    let mut items: Vec<InventoryItem> = Vec::new();
    for path in &args.inventory {
        let inv = inventory::read_path(path)
            .map_err(|e| anyhow::anyhow!("{}", e.display_in(lang == Lang::Ja)))?;
        for w in inv.errors.iter().take(ERRORS_SHOWN) {
            eprintln!("{}: {}", lang.pick("スキップ", "skipped"), w.display_in(lang == Lang::Ja));
        }
        items.extend(inv.items);
    }
    let (file_feeds, feed_errors) = if args.feeds.is_empty() {
        (None, Vec::new())
    } else {
        let paths = args.feeds.clone();
        let (set, errors) = tokio::task::spawn_blocking(move || read_feed_files(&paths))
            .await
            .context("the feed reader stopped")?;
        (Some(set), errors)
    };
    for w in feed_errors.iter().take(ERRORS_SHOWN) {
        eprintln!("{}: {}", lang.pick("スキップ", "skipped"), w.display_in(lang == Lang::Ja));
    }
    let (inst, _) = super::open(cli).await?;
    let evidence = gather_evidence(&inst.store, items, file_feeds).await;
    inst.store.close().await;
    let evidence = evidence?;
    let answers = checklist::answer(&checklist::builtin(), &evidence);
    let text = match args.format {
        ChecklistFormat::Json => checklist::to_json(&answers),
        ChecklistFormat::Html => checklist::to_html(
            &answers,
            &sekimori_types::rfc3339(time::OffsetDateTime::now_utc()),
            report_lang(lang),
        ),
    };
    match &args.output {
        Some(path) => write_file(path, &text)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn gather_evidence(
    store: &Store,
    ledger: Vec<InventoryItem>,
    file_feeds: Option<FeedSet>,
) -> Result<Evidence> {
    let mut ev = Evidence::default();
    let ledger_items: Vec<&InventoryItem> =
        ledger.iter().filter(|i| i.source.starts_with("ledger:")).collect();
    if !ledger_items.is_empty() {
        ev.ledger_items = Some(ledger_items.len());
    }

    let observed = store_observed(store).await?;
    if !observed.is_empty() {
        ev.observed_assets = Some(observed.len());
        let unmanaged: Vec<String> = observed
            .iter()
            .filter_map(|a| {
                let seen: Vec<&str> = a
                    .protocols
                    .iter()
                    .map(String::as_str)
                    .filter(|p| UNMANAGED_REMOTE.contains(p))
                    .collect();
                (!seen.is_empty()).then(|| format!("{} ({})", observed_name(a), seen.join(", ")))
            })
            .collect();
        if !unmanaged.is_empty() {
            ev.remote_access_via_broker_only = Some(false);
        }
        ev.unmanaged_remote_access = Some(unmanaged);
        if !ledger_items.is_empty() {
            let known = |a: &sekimori_store::InventoryAsset| {
                ledger_items.iter().any(|i| {
                    a.ips.iter().any(|ip| i.ips.iter().any(|l| l == &ip.to_string()))
                        || (a.mac.is_some() && i.mac == a.mac)
                        || a.names.iter().any(|n| n.eq_ignore_ascii_case(&i.name))
                })
            };
            // Only the hospital's own devices: internet addresses are not
            // assets to put on a ledger.
            ev.observed_not_in_ledger =
                Some(observed.iter().filter(|a| a.local && !known(a)).map(observed_name).collect());
        }
    }

    let assets = store.list_assets().await?;
    ev.remote_maintenance_assets = Some(
        assets
            .iter()
            .filter(|a| !a.maintenance_ports.is_empty())
            .map(|a| a.name.to_string())
            .collect(),
    );

    let users = store.list_users().await?;
    // Every human account must enrol a second factor before it can use
    // sekimori (login, approvals, tunnels all require it).
    ev.mfa_required_for_all_users = Some(true);
    ev.users_without_mfa = Some(
        users
            .iter()
            .filter(|u| u.status == sekimori_types::UserStatus::Active && !u.mfa_enrolled)
            .count(),
    );

    let verified = store.verify_audit(&store.public_key()).await?;
    let first = store.audit_records(1, 1).await?;
    let oldest =
        first.first().map(|r| sekimori_types::rfc3339(sekimori_types::from_micros(r.ts_micros)));
    ev.audit_log = Some(AuditEvidence {
        records: verified.as_ref().map_or(0, |r| r.records),
        chain_verified: verified.is_ok(),
        oldest,
    });

    let mut items = ledger;
    items.extend(observed.iter().map(observed_item));
    let aliases = Aliases::bundled();
    let feeds = match file_feeds {
        Some(f) => f,
        None => store_feeds_for(store, &aliases, &items, &mut LoadTimings::default()).await?,
    };
    if feeds.vulnerabilities() + feeds.kev_entries() > 0 && !items.is_empty() {
        let findings = Matcher::new(&feeds, &aliases).run(&items, MatchOptions::default());
        ev.findings = Some(FindingsEvidence::from_findings(&findings));
    }
    Ok(ev)
}

fn observed_name(a: &sekimori_store::InventoryAsset) -> String {
    a.names
        .first()
        .cloned()
        .or_else(|| a.ip.map(|ip| ip.to_string()))
        .unwrap_or_else(|| a.key.clone())
}
