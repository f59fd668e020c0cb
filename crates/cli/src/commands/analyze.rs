//! `sekimori analyze FILE... [--format json|table]`: offline analysis of
//! captures with the sensor library.
//!
//! JSON is the contract of design.md: `{"flows":[...], "assets":[...],
//! "alerts":[...]}`. A file that cannot be read on stops the analysis: what
//! was read before is still printed, then the error (naming the file and
//! byte offset) goes to stderr and the exit code is 2.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use sekimori_sensor::{Analysis, FlowConfig, Options, Outcome};
use sekimori_types::Lang;

use crate::args::{AnalyzeArgs, AnalyzeFormat};

pub fn analyze(args: &AnalyzeArgs, lang: Lang) -> ExitCode {
    let opts = Options {
        flows: FlowConfig { max_flows: args.max_flows.max(1), ..FlowConfig::default() },
        identify: !args.no_identify,
        threads: args.threads.max(1),
        ..Options::default()
    };
    let detector = match super::detect::detector(args.policy.as_deref(), lang) {
        Ok(d) => d,
        Err(problems) => {
            let mut err = std::io::stderr().lock();
            for p in problems {
                let _ = writeln!(err, "{p}");
            }
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let Outcome { mut analysis, error } = match &detector {
        // Detections follow one timeline: one thread.
        Some(d) => sekimori_sensor::analyze_files_with_progress(
            &args.files,
            &Options { threads: 1, ..opts },
            d.sink(),
        ),
        None => sekimori_sensor::analyze_files(&args.files, &opts),
    };
    let mut failed = false;
    if let Some(d) = &detector {
        let mut drafts = d.take();
        // Most severe first, then in order of time.
        drafts.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.first.cmp(&b.first)));
        failed = args.fail_on.is_some_and(|on| drafts.iter().any(|a| a.severity >= on.severity()));
        analysis.alerts = drafts.iter().map(super::detect::alert_json).collect();
    }
    if args.stats {
        print_stats(&analysis, started.elapsed(), args.threads.max(1));
        if let Some(s) = detector.as_ref().and_then(super::detect::Detector::stats) {
            let v = serde_json::json!({"detections": {
                "events": s.events,
                "flows": s.flows_started,
                "drafts": s.drafts.values().sum::<u64>(),
                "dropped": s.dropped,
            }});
            let _ = writeln!(std::io::stderr().lock(), "{v}");
        }
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    // A closed pipe (`| head`) is not an error of the analysis.
    let _ = match args.format {
        AnalyzeFormat::Json => serde_json::to_writer_pretty(&mut out, &analysis)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        AnalyzeFormat::Table => table(&mut out, &analysis, lang),
    };
    let _ = out.flush();
    drop(out);
    match error {
        None if failed => ExitCode::from(1),
        None => ExitCode::SUCCESS,
        Some(e) => {
            crate::output::error(lang, &anyhow::anyhow!(message(&e, lang)));
            ExitCode::from(2)
        }
    }
}

/// `--stats`: the counters, bytes per tracked flow and the read rate, as
/// one JSON line on stderr (for bench/sensor.sh).
fn print_stats(a: &Analysis, elapsed: std::time::Duration, threads: usize) {
    let st = &a.stats;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let v = serde_json::json!({
        "threads": threads,
        "files": st.files,
        "packets": st.packets,
        "bytes": st.bytes,
        "flows": st.table.created,
        "peak_flows": st.table.peak,
        "evicted": st.table.evicted,
        "bytes_per_flow": sekimori_sensor::FlowTable::bytes_per_flow(),
        "elapsed_s": secs,
        "mb_per_s": st.bytes as f64 / 1e6 / secs,
    });
    let _ = writeln!(std::io::stderr().lock(), "{v}");
}

/// The error in the user's language, naming the file and offset.
fn message(e: &sekimori_sensor::Error, lang: Lang) -> String {
    match e {
        sekimori_sensor::Error::Capture(c) => {
            let file = c.file.display();
            let (offset, what) = (c.offset, &c.what);
            let unopened = offset == 0 && matches!(what, sekimori_sensor::Problem::Io(_));
            match lang {
                Lang::Ja if unopened => format!("{file} を読めません: {what}"),
                Lang::En if unopened => format!("{file}: cannot read: {what}"),
                Lang::Ja => format!(
                    "{file} の {offset} バイト目で読み取りを中止しました: {what}（それまでに読んだ分の結果を出力しました）"
                ),
                Lang::En => format!(
                    "{file}: stopped reading at byte {offset}: {what} (results of what was read before are printed)"
                ),
            }
        }
        sekimori_sensor::Error::ConnLog(z) => {
            let (file, line, what) = (z.file.display(), z.line, &z.what);
            match (lang, z.field) {
                (Lang::Ja, Some(field)) => format!(
                    "{file} の {line} 行目（フィールド {field}）を読めません: {what}（それまでに読んだ分の結果を出力しました）"
                ),
                (Lang::Ja, None) => format!(
                    "{file} の {line} 行目を読めません: {what}（それまでに読んだ分の結果を出力しました）"
                ),
                (Lang::En, _) => {
                    format!("{z} (results of what was read before are printed)")
                }
            }
        }
    }
}

/// Display width: ASCII one column, everything else (Japanese) two.
fn width(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// Writes rows as aligned columns (the last column unpadded).
fn columns(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| width(c)).max().unwrap_or(0))
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < r.len() {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(width(cell)) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn or_dash(s: Option<impl ToString>) -> String {
    s.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `2026-11-22 11:11:44.869` from the RFC 3339 form.
fn short_time(t: sekimori_sensor::Timestamp) -> String {
    let s = t.rfc3339().replacen('T', " ", 1);
    s.get(..23).unwrap_or(&s).to_owned()
}

fn table(out: &mut impl Write, a: &Analysis, lang: Lang) -> std::io::Result<()> {
    let t = |ja: &str, en: &str| lang.pick(ja, en).to_owned();
    writeln!(out, "{} ({})", t("フロー", "Flows"), a.flows.len())?;
    let mut rows = vec![vec![
        t("開始", "first"),
        t("転送", "proto"),
        t("クライアント", "client"),
        t("サーバー", "server"),
        t("アプリ", "app"),
        t("パケット 送/受", "packets out/in"),
        t("バイト 送/受", "bytes out/in"),
        t("状態", "state"),
    ]];
    for f in &a.flows {
        let app = match (f.app, f.port_hint) {
            (Some(app), _) => app.to_string(),
            (None, Some(hint)) => format!("({hint}?)"),
            (None, None) => "-".to_owned(),
        };
        let mut state = f.tcp_state.unwrap_or("").to_owned();
        if f.direction_guessed {
            state.push_str(if state.is_empty() { "~" } else { " ~" });
        }
        rows.push(vec![
            short_time(f.first),
            f.transport.to_owned(),
            endpoint(f.src, f.sport),
            endpoint(f.dst, f.dport),
            app,
            format!("{}/{}", f.packets_out, f.packets_in),
            format!("{}/{}", f.bytes_out, f.bytes_in),
            state,
        ]);
    }
    columns(out, &rows)?;
    writeln!(out)?;
    writeln!(out, "{} ({})", t("機器", "Assets"), a.assets.len())?;
    let mut rows = vec![vec![
        t("IP", "ip"),
        t("MAC", "mac"),
        t("ベンダー", "vendor"),
        t("製品", "product"),
        t("名前", "names"),
        t("役割", "role"),
        t("プロトコル", "protocols"),
    ]];
    for s in &a.assets {
        let mut ip = or_dash(s.ip);
        if s.ips.len() > 1 {
            ip.push_str(&format!(" (+{})", s.ips.len() - 1));
        }
        let product = match (&s.product, &s.version) {
            (Some(p), Some(v)) => format!("{p} {v}"),
            (Some(p), None) => p.clone(),
            (None, Some(v)) => v.clone(),
            (None, None) => "-".to_owned(),
        };
        let protocols: Vec<&str> = s.protocols.iter().map(|p| p.as_str()).collect();
        rows.push(vec![
            ip,
            or_dash(s.mac),
            or_dash(s.vendor.as_deref()),
            product,
            if s.names.is_empty() { "-".to_owned() } else { s.names.join(", ") },
            or_dash(s.role),
            if protocols.is_empty() { "-".to_owned() } else { protocols.join(",") },
        ]);
    }
    columns(out, &rows)?;
    let st = &a.stats;
    writeln!(out)?;
    match lang {
        Lang::Ja => writeln!(
            out,
            "{} ファイル、{} パケット（{} バイト、解析不能 {}）、フロー {}（追い出し {}）。~ はポートから推定した向き",
            st.files, st.packets, st.bytes, st.undecodable, st.table.created, st.table.evicted
        ),
        Lang::En => writeln!(
            out,
            "{} file(s), {} packets ({} bytes, {} undecodable), {} flows ({} evicted); ~ = direction guessed from ports",
            st.files, st.packets, st.bytes, st.undecodable, st.table.created, st.table.evicted
        ),
    }
}

fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}
