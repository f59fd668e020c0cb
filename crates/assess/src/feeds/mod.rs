//! Reading advisory feeds: format detection, directory walking and zip
//! archives; one module per format does the mapping into [`crate::model`].
//!
//! # Formats and detection
//!
//! The format is decided by the **content**, never by the file name:
//!
//! | format | recognised by | module |
//! |---|---|---|
//! | CISA KEV | top-level `catalogVersion` and `vulnerabilities` | [`kev`] |
//! | CVE JSON 5 | `dataType: "CVE_RECORD"` (or `cveMetadata` + `containers`) | [`cve5`] |
//! | CSAF 2.0 | `document.csaf_version` | [`csaf`] |
//! | NVD CVE API 2.0 | the API response (`vulnerabilities` with `resultsPerPage`/`totalResults`/`format: NVD_CVE`), a single CVE object (`id` with `vulnStatus`, `configurations` or `sourceIdentifier`), or `{"cve": {…}}` | [`nvd`] |
//! | OSV | `id` + `modified` with `affected`, `schema_version`, `aliases`, `summary` or `details` | [`osv`] |
//! | FIRST EPSS | CSV whose first non-comment line is `cve,epss,percentile` | [`epss`] |
//!
//! # Errors
//!
//! Nothing here panics on input. A malformed **record** (one KEV entry, one
//! CSAF vulnerability, one element of an NVD response) becomes one
//! [`FeedEvent::Error`] whose `location` is a JSON path
//! (`$.vulnerabilities[17].dueDate`) and whose message names the absolute
//! line and column; the other records are kept. A file that is empty, not
//! UTF-8, not JSON/CSV, of no known format, or larger than
//! [`Limits::max_file_bytes`] is one error (with the line/column or byte
//! offset where that is known). Nesting is bounded by serde_json's recursion
//! limit (128), which returns an error, not a stack overflow.
//!
//! # Walking
//!
//! [`read_paths`] takes files and directories. Directories are walked
//! recursively in sorted (byte-wise file name) order; names starting with `.`
//! are skipped; symbolic links to files are followed only when their target
//! lies inside the directory given, symbolic links to directories are never
//! followed (no loops, no escaping the tree). In a walk only `.json`, `.csv`
//! and `.zip` files are read (case-insensitive); a file named directly is
//! always tried, whatever its extension (`.zip` ones as archives).
//!
//! A `.zip` archive (such as the cvelistV5 release, entries like
//! `cves/2024/3xxx/CVE-2024-3400.json`) is read entry by entry in archive
//! order: `.json`/`.csv` entries are parsed, and a `.zip` entry inside is
//! opened once more (one level of nesting, as in the release's
//! `cves.zip` inside the outer zip; deeper archives are reported as errors).
//! A nested archive is held in memory, up to [`Limits::max_nested_zip_bytes`].
//! Against zip bombs, an archive may have at most [`Limits::max_zip_entries`]
//! entries and [`Limits::max_zip_total_bytes`] of uncompressed data in all,
//! each entry at most [`Limits::max_file_bytes`] — sizes are counted as the
//! data is inflated, not taken from the headers. Errors inside an archive
//! name the file as `archive.zip!/path/in/zip`.
//!
//! # Progress
//!
//! After the walk, one `Progress { done: 0, total }` (total = files found,
//! counting each `.json`/`.csv` entry of a top-level archive as a file);
//! after each file or archive entry, `Progress { done, total }`. Entries of a
//! nested archive are added to `total` when it is opened.

mod archive_file;
pub mod csaf;
pub mod cve5;
pub mod epss;
pub mod kev;
pub mod nvd;
pub mod osv;

use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::InputError;
use crate::model::{Bound, FeedRecord, Status, VersionRange};

/// What reading reports, as it goes.
// `Record` is large, but events go straight to the sink (one at a time), and
// the variant's shape is the agreed API.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum FeedEvent {
    /// A record read.
    Record(FeedRecord),
    /// A record (or file) skipped.
    Error(InputError),
    /// Progress: `done` of `total` files (total known after the walk).
    Progress {
        /// Files read so far.
        done: u64,
        /// Files found.
        total: u64,
    },
}

/// Size limits for reading (defaults: [`Limits::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file (or archive entry) parsed, in bytes: 64 MiB.
    pub max_file_bytes: u64,
    /// Most entries in one zip archive: 2,000,000.
    pub max_zip_entries: usize,
    /// Most uncompressed bytes read from one zip archive (nested archive
    /// included): 16 GiB.
    pub max_zip_total_bytes: u64,
    /// Largest zip archive inside a zip archive (held in memory): 1 GiB.
    pub max_nested_zip_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 64 << 20,
            max_zip_entries: 2_000_000,
            max_zip_total_bytes: 16 << 30,
            max_nested_zip_bytes: 1 << 30,
        }
    }
}

/// Read every feed file under `paths` (files, directories walked
/// recursively, `.zip` archives such as cvelistV5), calling `sink` for each
/// record, error and progress step. Returns the number of files read
/// (archive entries count one each; an archive itself does not).
pub fn read_paths(paths: &[PathBuf], sink: &mut dyn FnMut(FeedEvent)) -> u64 {
    read_paths_with(paths, &Limits::default(), sink)
}

/// [`read_paths`] with explicit [`Limits`].
pub fn read_paths_with(paths: &[PathBuf], limits: &Limits, sink: &mut dyn FnMut(FeedEvent)) -> u64 {
    let mut files = Vec::new();
    for p in paths {
        match fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let root = fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                walk(p, &root, &mut files, sink);
            }
            Ok(_) => files.push(p.clone()),
            Err(e) => {
                sink(FeedEvent::Error(InputError::new(p, "file", format!("cannot read: {e}"))))
            }
        }
    }
    // Total: archives count their readable entries.
    let mut total = 0u64;
    for f in &files {
        total += if is_zip_name(f) { zip_entry_count(f).unwrap_or(1) } else { 1 };
    }
    sink(FeedEvent::Progress { done: 0, total });
    let mut progress = Progress { done: 0, total };
    for f in &files {
        if is_zip_name(f) {
            read_zip_file(f, limits, &mut progress, sink);
        } else {
            read_file(f, limits, sink);
            progress.step(sink);
        }
    }
    progress.done
}

struct Progress {
    done: u64,
    total: u64,
}

impl Progress {
    fn step(&mut self, sink: &mut dyn FnMut(FeedEvent)) {
        self.done += 1;
        self.total = self.total.max(self.done);
        sink(FeedEvent::Progress { done: self.done, total: self.total });
    }
}

fn ext_lower(p: &Path) -> Option<String> {
    p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase())
}

fn is_zip_name(p: &Path) -> bool {
    ext_lower(p).as_deref() == Some("zip")
}

fn is_feed_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".json") || lower.ends_with(".csv")
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>, sink: &mut dyn FnMut(FeedEvent)) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            sink(FeedEvent::Error(InputError::new(dir, "directory", format!("cannot read: {e}"))));
            return;
        }
    };
    let mut names: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    for p in names {
        let hidden = p.file_name().map(|n| n.to_string_lossy().starts_with('.')).unwrap_or(true);
        if hidden {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(&p) else { continue };
        let ft = meta.file_type();
        if ft.is_symlink() {
            // Follow links to files inside the tree only; never to directories.
            match (fs::canonicalize(&p), fs::metadata(&p)) {
                (Ok(target), Ok(m)) if m.is_file() && target.starts_with(root) && wanted(&p) => {
                    out.push(p);
                }
                _ => {}
            }
        } else if ft.is_dir() {
            walk(&p, root, out, sink);
        } else if ft.is_file() && wanted(&p) {
            out.push(p);
        }
    }
}

fn wanted(p: &Path) -> bool {
    matches!(ext_lower(p).as_deref(), Some("json" | "csv" | "zip"))
}

fn read_file(path: &Path, limits: &Limits, sink: &mut dyn FnMut(FeedEvent)) {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            sink(FeedEvent::Error(InputError::new(path, "file", format!("cannot read: {e}"))));
            return;
        }
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > limits.max_file_bytes {
        sink(FeedEvent::Error(too_big(path, size, limits.max_file_bytes)));
        return;
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // `take` guards against a file growing while it is read.
    if let Err(e) = file.take(limits.max_file_bytes + 1).read_to_end(&mut bytes) {
        sink(FeedEvent::Error(InputError::new(path, "file", format!("cannot read: {e}"))));
        return;
    }
    read_bytes_with(path, &bytes, limits, sink);
}

fn too_big(name: &Path, size: u64, max: u64) -> InputError {
    InputError::new(
        name,
        "file",
        format!("file too large: {size} bytes (limit {max} bytes); refused"),
    )
}

fn zip_entry_count(path: &Path) -> Option<u64> {
    let f = archive_file::ArchiveFile::new(fs::File::open(path).ok()?, ZIP_READ_BUFFER).ok()?;
    let z = zip::ZipArchive::new(f).ok()?;
    let mut n = 0;
    for i in 0..z.len() {
        if let Some(name) = z.name_for_index(i)
            && is_feed_name(name)
        {
            n += 1;
        }
    }
    Some(n.max(1))
}

/// Bytes read from an archive on disk at a time.
const ZIP_READ_BUFFER: usize = 64 * 1024;

fn read_zip_file(
    path: &Path,
    limits: &Limits,
    progress: &mut Progress,
    sink: &mut dyn FnMut(FeedEvent),
) {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            sink(FeedEvent::Error(InputError::new(path, "file", format!("cannot read: {e}"))));
            progress.step(sink);
            return;
        }
    };
    let mut budget = limits.max_zip_total_bytes;
    let before = progress.done;
    // Seeks without system calls, reads through a buffer.
    let file = match archive_file::ArchiveFile::new(file, ZIP_READ_BUFFER) {
        Ok(f) => f,
        Err(e) => {
            sink(FeedEvent::Error(InputError::new(path, "file", format!("cannot read: {e}"))));
            progress.step(sink);
            return;
        }
    };
    read_zip(path.to_path_buf(), file, limits, &mut budget, 0, progress, sink);
    if progress.done == before {
        progress.step(sink);
    }
}

/// Read one archive. `depth` 0 is the archive on disk; 1 a zip inside it.
fn read_zip<R: Read + Seek>(
    name: PathBuf,
    reader: R,
    limits: &Limits,
    budget: &mut u64,
    depth: u8,
    progress: &mut Progress,
    sink: &mut dyn FnMut(FeedEvent),
) {
    let mut archive = match zip::ZipArchive::new(reader) {
        Ok(a) => a,
        Err(e) => {
            sink(FeedEvent::Error(InputError::new(
                &name,
                "file",
                format!("not a readable zip archive: {e}"),
            )));
            return;
        }
    };
    if archive.len() > limits.max_zip_entries {
        sink(FeedEvent::Error(InputError::new(
            &name,
            "file",
            format!(
                "zip archive has {} entries (limit {}); refused",
                archive.len(),
                limits.max_zip_entries
            ),
        )));
        return;
    }
    if depth > 0 {
        let n = (0..archive.len())
            .filter(|&i| archive.name_for_index(i).is_some_and(is_feed_name))
            .count() as u64;
        progress.total += n;
    }
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                sink(FeedEvent::Error(InputError::new(
                    &name,
                    format!("entry {i}"),
                    format!("cannot read zip entry: {e}"),
                )));
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let entry_name = entry.name().to_string();
        let shown = PathBuf::from(format!("{}!/{}", name.display(), entry_name));
        let lower = entry_name.to_ascii_lowercase();
        let nested = lower.ends_with(".zip");
        let hidden = entry_name.rsplit('/').next().is_some_and(|b| b.starts_with('.'));
        if hidden || !(nested || is_feed_name(&entry_name)) {
            continue;
        }
        if nested && depth > 0 {
            sink(FeedEvent::Error(InputError::new(
                &shown,
                "file",
                "zip archive nested more than one level deep; not read",
            )));
            continue;
        }
        let cap = if nested { limits.max_nested_zip_bytes } else { limits.max_file_bytes };
        if entry.size() > cap {
            sink(FeedEvent::Error(too_big(&shown, entry.size(), cap)));
            if !nested {
                progress.step(sink);
            }
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size().min(cap) as usize);
        let limit = cap.min(*budget).saturating_add(1);
        if let Err(e) = (&mut entry).take(limit).read_to_end(&mut bytes) {
            sink(FeedEvent::Error(InputError::new(
                &shown,
                "file",
                format!("cannot inflate zip entry: {e}"),
            )));
            if !nested {
                progress.step(sink);
            }
            continue;
        }
        let read = bytes.len() as u64;
        if read > *budget {
            sink(FeedEvent::Error(InputError::new(
                &name,
                "file",
                format!(
                    "zip archive inflates to more than {} bytes; stopped at entry {entry_name}",
                    limits.max_zip_total_bytes
                ),
            )));
            return;
        }
        *budget -= read;
        if read > cap {
            sink(FeedEvent::Error(InputError::new(
                &shown,
                "file",
                format!(
                    "file too large: more than {cap} bytes inflated (header said {}); refused",
                    entry.size()
                ),
            )));
            if !nested {
                progress.step(sink);
            }
            continue;
        }
        drop(entry);
        if nested {
            read_zip(shown, std::io::Cursor::new(bytes), limits, budget, depth + 1, progress, sink);
        } else {
            read_bytes_with(&shown, &bytes, limits, sink);
            progress.step(sink);
        }
    }
}

/// Read one file's bytes (`name` is used in errors), whatever its format.
pub fn read_bytes(name: &Path, bytes: &[u8], sink: &mut dyn FnMut(FeedEvent)) {
    read_bytes_with(name, bytes, &Limits::default(), sink);
}

fn read_bytes_with(name: &Path, bytes: &[u8], limits: &Limits, sink: &mut dyn FnMut(FeedEvent)) {
    if bytes.len() as u64 > limits.max_file_bytes {
        sink(FeedEvent::Error(too_big(name, bytes.len() as u64, limits.max_file_bytes)));
        return;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            sink(FeedEvent::Error(InputError::new(
                name,
                format!("byte {}", e.valid_up_to()),
                format!("not UTF-8: invalid byte sequence at byte offset {}", e.valid_up_to()),
            )));
            return;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        sink(FeedEvent::Error(InputError::new(name, "file", "empty file")));
        return;
    }
    let ctx = Ctx { name, doc: text };
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        read_json(&ctx, sink);
    } else if epss::looks_like(trimmed) {
        epss::read(&ctx, sink);
    } else {
        sink(FeedEvent::Error(InputError::new(
            name,
            "line 1",
            "unknown format: neither JSON nor an EPSS CSV (`cve,epss,percentile`)",
        )));
    }
}

/// The top-level members that decide the format; each is kept raw so the
/// format module parses only what it needs.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Top<'a> {
    #[serde(borrow, rename = "catalogVersion")]
    pub catalog_version: Option<&'a RawValue>,
    #[serde(borrow)]
    pub vulnerabilities: Option<&'a RawValue>,
    #[serde(borrow, rename = "dataType")]
    pub data_type: Option<&'a RawValue>,
    #[serde(borrow, rename = "cveMetadata")]
    pub cve_metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    pub containers: Option<&'a RawValue>,
    #[serde(borrow)]
    pub document: Option<&'a RawValue>,
    #[serde(borrow)]
    pub product_tree: Option<&'a RawValue>,
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub cve: Option<&'a RawValue>,
    #[serde(borrow, rename = "vulnStatus")]
    pub vuln_status: Option<&'a RawValue>,
    #[serde(borrow)]
    pub configurations: Option<&'a RawValue>,
    #[serde(borrow, rename = "sourceIdentifier")]
    pub source_identifier: Option<&'a RawValue>,
    #[serde(borrow, rename = "resultsPerPage")]
    pub results_per_page: Option<&'a RawValue>,
    #[serde(borrow, rename = "totalResults")]
    pub total_results: Option<&'a RawValue>,
    #[serde(borrow)]
    pub format: Option<&'a RawValue>,
    #[serde(borrow)]
    pub modified: Option<&'a RawValue>,
    #[serde(borrow)]
    pub affected: Option<&'a RawValue>,
    #[serde(borrow)]
    pub schema_version: Option<&'a RawValue>,
    #[serde(borrow)]
    pub aliases: Option<&'a RawValue>,
    #[serde(borrow)]
    pub summary: Option<&'a RawValue>,
    #[serde(borrow)]
    pub details: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DocProbe<'a> {
    #[serde(borrow)]
    csaf_version: Option<&'a RawValue>,
}

fn read_json(ctx: &Ctx<'_>, sink: &mut dyn FnMut(FeedEvent)) {
    if ctx.doc.trim_start().starts_with('[') {
        // Validated (iteratively, whatever the depth) only to say which error it is.
        let e = match serde_json::from_str::<serde::de::IgnoredAny>(ctx.doc) {
            Err(e) => InputError::new(
                ctx.name,
                format!("line {}, column {}", e.line(), e.column()),
                format!("not valid JSON: {}", strip_position(&e)),
            ),
            Ok(_) => InputError::new(
                ctx.name,
                "$",
                "unknown format: a JSON array at the top level; every known feed is an object",
            ),
        };
        return sink(FeedEvent::Error(e));
    }
    let top: Top<'_> = match serde_json::from_str(ctx.doc) {
        Ok(t) => t,
        Err(e) => {
            let what = if e.is_data() {
                "unknown format (not a JSON object of a known feed)"
            } else {
                "not valid JSON"
            };
            sink(FeedEvent::Error(InputError::new(
                ctx.name,
                format!("line {}, column {}", e.line(), e.column()),
                format!("{what}: {}", strip_position(&e)),
            )));
            return;
        }
    };
    let is_csaf = top.document.is_some_and(|d| {
        serde_json::from_str::<DocProbe<'_>>(d.get()).is_ok_and(|p| p.csaf_version.is_some())
    });
    if top.catalog_version.is_some() && top.vulnerabilities.is_some() {
        kev::read(ctx, &top, sink);
    } else if top.data_type.is_some_and(|d| d.get() == "\"CVE_RECORD\"")
        || (top.cve_metadata.is_some() && top.containers.is_some())
    {
        cve5::read(ctx, &top, sink);
    } else if is_csaf {
        csaf::read(ctx, &top, sink);
    } else if top.vulnerabilities.is_some()
        && (top.results_per_page.is_some()
            || top.total_results.is_some()
            || top.format.is_some_and(|f| f.get().starts_with("\"NVD_CVE")))
    {
        nvd::read_response(ctx, &top, sink);
    } else if top.id.is_some()
        && (top.vuln_status.is_some()
            || top.configurations.is_some()
            || top.source_identifier.is_some())
    {
        nvd::read_single(ctx, sink);
    } else if let (Some(cve), None) = (top.cve, top.id) {
        nvd::read_wrapped(ctx, cve, sink);
    } else if top.id.is_some()
        && top.modified.is_some()
        && (top.affected.is_some()
            || top.schema_version.is_some()
            || top.aliases.is_some()
            || top.summary.is_some()
            || top.details.is_some())
    {
        osv::read(ctx, sink);
    } else {
        sink(FeedEvent::Error(InputError::new(
            ctx.name,
            "$",
            "unknown format: JSON, but not a KEV catalogue, CVE 5 record, NVD 2.0 CVE, CSAF 2.0 document or OSV record",
        )));
    }
}

/// One file being read: its name (for errors) and its text (for positions).
pub(crate) struct Ctx<'a> {
    pub name: &'a Path,
    pub doc: &'a str,
}

impl<'a> Ctx<'a> {
    /// An error at `location`.
    pub fn error(&self, location: impl Into<String>, message: impl Into<String>) -> InputError {
        InputError::new(self.name, location, message)
    }

    /// Parse a raw member of this document into `T`; errors name `path` and
    /// the absolute line/column.
    pub fn parse<T: Deserialize<'a>>(
        &self,
        raw: &'a RawValue,
        path: &str,
    ) -> Result<T, InputError> {
        serde_json::from_str(raw.get()).map_err(|e| self.json_error(raw, path, &e))
    }

    /// A serde error in `raw` as an [`InputError`] at `path`.
    pub fn json_error(&self, raw: &RawValue, path: &str, e: &serde_json::Error) -> InputError {
        let base = (raw.get().as_ptr() as usize).wrapping_sub(self.doc.as_ptr() as usize);
        let base = if base <= self.doc.len() { base } else { 0 };
        let before = &self.doc[..base];
        let base_line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let base_col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let (line, col) = if e.line() <= 1 {
            (base_line, base_col + e.column())
        } else {
            (base_line + e.line() - 1, e.column())
        };
        self.error(path, format!("{} (line {line}, column {col})", strip_position(e)))
    }

    /// Parse a raw array into its raw elements.
    pub fn elements(&self, raw: &'a RawValue, path: &str) -> Result<Vec<&'a RawValue>, InputError> {
        self.parse(raw, path)
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the format modules.

/// `s` cut to at most `max` characters (on a char boundary).
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// `Some(cut(s))` when `s` has non-blank text.
pub(crate) fn non_empty(s: Option<&str>, max: usize) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(|s| cut(s, max))
}

/// CVE 5 status words (`affected`, `unaffected`, anything else unknown).
pub(crate) fn status_of(s: Option<&str>) -> Status {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("affected") => Status::Affected,
        Some("unaffected") => Status::Unaffected,
        _ => Status::Unknown,
    }
}

/// A string field that also accepts a number or boolean (written as JSON
/// text), so a record with `"version": 2` is not lost.
/// A CVSS object as CVE 5 (`cvssV3_1`…), CSAF (`cvss_v3`) and NVD
/// (`cvssData`) all write it: the fields sekimori keeps.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(crate) struct CvssJson {
    #[serde(deserialize_with = "lenient::text")]
    pub(crate) version: Option<String>,
    #[serde(rename = "baseScore")]
    pub(crate) base_score: Option<f32>,
    #[serde(rename = "vectorString")]
    pub(crate) vector: Option<String>,
}

pub(crate) mod lenient {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;

    struct TextVisitor;

    impl<'de> Visitor<'de> for TextVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    /// Deserialize `Option<String>` from a string, number, bool or null.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

/// A version token: starts with a digit (after an optional `v`), no spaces.
pub(crate) fn version_token(s: &str) -> bool {
    let t = s.strip_prefix(['v', 'V']).unwrap_or(s);
    t.chars().next().is_some_and(|c| c.is_ascii_digit()) && !t.chars().any(char::is_whitespace)
}

/// Interpret a free-text version statement, when it is one of the simple
/// patterns below; `None` otherwise (the caller keeps the text as `exact`).
///
/// * `*`, `all`, `all versions`, `vers:all/*` → every version;
/// * `prior to X`, `before X`, `earlier than X`, `all versions prior to X`,
///   `all versions before X` → end exclusive `X`;
/// * `X and prior`, `X and earlier`, `X or earlier`, `X and below`,
///   `X and older`, optionally led by `version`/`versions` → end inclusive `X`.
///
/// `X` must be a single version-looking token (starts with a digit, after an
/// optional `v`, no spaces); the bounds are kept as written (`v7.2` stays
/// `v7.2`). Returns `(start, end)`.
pub(crate) fn free_text_bounds(text: &str) -> Option<(Option<Bound>, Option<Bound>)> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    if matches!(lower.as_str(), "*" | "all" | "all versions" | "vers:all/*") {
        return Some((None, None));
    }
    for prefix in [
        "all versions prior to ",
        "all versions before ",
        "all versions earlier than ",
        "versions prior to ",
        "versions before ",
        "prior to ",
        "before ",
        "earlier than ",
    ] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            let v = t[t.len() - rest.len()..].trim();
            if version_token(v) {
                return Some((None, Some(Bound { version: v.to_string(), inclusive: false })));
            }
            return None;
        }
    }
    for suffix in
        [" and prior", " and earlier", " or earlier", " and below", " and older", " or prior"]
    {
        if let Some(head) = lower.strip_suffix(suffix) {
            let head_orig = t[..head.len()].trim();
            let v = ["versions ", "version ", "Versions ", "Version "]
                .iter()
                .find_map(|p| head_orig.strip_prefix(p))
                .unwrap_or(head_orig)
                .trim();
            if version_token(v) {
                return Some((None, Some(Bound { version: v.to_string(), inclusive: true })));
            }
            return None;
        }
    }
    None
}

/// A version statement from free text: the simple patterns of
/// [`free_text_bounds`], else `exact` = the text as written (trimmed).
pub(crate) fn free_text_range(
    text: &str,
    status: Status,
    scheme_hint: Option<String>,
) -> VersionRange {
    match free_text_bounds(text) {
        Some((start, end)) => {
            VersionRange { status, exact: None, start, end, scheme_hint, text: text.to_string() }
        }
        None => VersionRange {
            status,
            exact: Some(text.trim().to_string()),
            start: None,
            end: None,
            scheme_hint,
            text: text.to_string(),
        },
    }
}

/// Push `item` unless already present.
pub(crate) fn push_unique<T: PartialEq>(v: &mut Vec<T>, item: T) {
    if !v.contains(&item) {
        v.push(item);
    }
}
