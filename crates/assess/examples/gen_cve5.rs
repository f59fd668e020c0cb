//! Writes N CVE JSON 5 records derived from the real ones in a directory, as
//! a zip laid out like the cvelistV5 release (`cves/<year>/<bucket>/ID.json`),
//! for the import benchmark (`bench/assess.sh`).
//!
//! Each record is a real one (in file-name order, round robin) with a new ID
//! (`CVE-2090-<n>`), its versions shifted (the last number of every version
//! field plus `n % 40`), and, from record 60 on, its products renamed
//! (`<product> <n % 60000>`, CNA and ADP entries, CPEs dropped), so the
//! import and the index see 60,000 products with five records each, not 15
//! products with 20,000.
//!
//! Usage: `cargo run --release -p sekimori-assess --example gen_cve5 -- SRC_DIR COUNT OUT.zip`

#![allow(clippy::print_stderr, reason = "a generator reports what it wrote")]

use std::io::Write;

use serde_json::Value;

fn shift_version(v: &str, by: u64) -> String {
    // Shift the last run of digits.
    let bytes: Vec<char> = v.chars().collect();
    let Some(end) = bytes.iter().rposition(|c| c.is_ascii_digit()) else { return v.to_owned() };
    let mut start = end;
    while start > 0 && bytes.get(start - 1).is_some_and(|c| c.is_ascii_digit()) {
        start -= 1;
    }
    let digits: String = bytes.get(start..=end).unwrap_or_default().iter().collect();
    let Ok(n) = digits.parse::<u64>() else { return v.to_owned() };
    let head: String = bytes.get(..start).unwrap_or_default().iter().collect();
    let tail: String = bytes.get(end + 1..).unwrap_or_default().iter().collect();
    format!("{head}{}{tail}", n + by)
}

/// Products per seed record: record `n` names product `<product> <n % PRODUCTS>`
/// (so each generated product has `count / PRODUCTS` records, as a real
/// feed's long tail of products has a few each), except the first
/// `KEEP_REAL` records, which keep the real names.
const PRODUCTS: u64 = 60_000;
const KEEP_REAL: u64 = 60;

fn vary_affected(list: &mut Value, n: u64) {
    let Some(affected) = list.as_array_mut() else { return };
    let shift = n % 40;
    for a in affected {
        if n >= KEEP_REAL {
            // Each product a name lists gets the suffix ("Fortinet FortiOS 7,
            // FortiProxy 7"), so no copy keeps a real product's name.
            let k = n % PRODUCTS;
            for field in ["product", "packageName"] {
                if let Some(Value::String(p)) = a.get_mut(field) {
                    *p = p
                        .split(',')
                        .map(|part| format!("{} {k}", part.trim()))
                        .collect::<Vec<_>>()
                        .join(", ");
                }
            }
            // CPEs would tie every copy to the real product; drop them.
            if let Some(obj) = a.as_object_mut() {
                obj.remove("cpes");
            }
        }
        if let Some(versions) = a.get_mut("versions").and_then(Value::as_array_mut) {
            for v in versions {
                for field in ["version", "lessThan", "lessThanOrEqual"] {
                    if let Some(Value::String(s)) = v.get_mut(field) {
                        *s = shift_version(s, shift);
                    }
                }
            }
        }
    }
}

fn vary(record: &mut Value, n: u64) {
    let id = format!("CVE-2090-{n:07}");
    if let Some(meta) = record.get_mut("cveMetadata") {
        meta["cveId"] = Value::String(id);
    }
    if let Some(a) = record.pointer_mut("/containers/cna/affected") {
        vary_affected(a, n);
    }
    if let Some(adps) = record.pointer_mut("/containers/adp").and_then(Value::as_array_mut) {
        for adp in adps {
            if let Some(a) = adp.get_mut("affected") {
                vary_affected(a, n);
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, src, count, out] = args.as_slice() else {
        return Err("usage: gen_cve5 SRC_DIR COUNT OUT.zip".into());
    };
    let count: u64 = count.parse()?;
    let mut seeds: Vec<Value> = Vec::new();
    let mut paths: Vec<_> =
        std::fs::read_dir(src)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        seeds.push(serde_json::from_slice(&std::fs::read(p)?)?);
    }
    if seeds.is_empty() {
        return Err("no CVE JSON 5 records in SRC_DIR".into());
    }
    let file = std::fs::File::create(out)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    let mut bytes = 0u64;
    for n in 0..count {
        let Some(seed) = seeds.get((n % seeds.len() as u64) as usize) else { continue };
        let mut record = seed.clone();
        vary(&mut record, n);
        let body = serde_json::to_vec(&record)?;
        bytes += body.len() as u64;
        zip.start_file(format!("cves/2090/{}xxx/CVE-2090-{n:07}.json", n / 1000), opts)?;
        zip.write_all(&body)?;
    }
    zip.finish()?;
    eprintln!("wrote {count} records ({} MB of JSON) to {out}", bytes / 1_000_000);
    Ok(())
}
