//! `sekimori policy check FILE [--json]` and `sekimori policy sample`: the
//! network policy file (see `sekimori_policy`), checked without a store.
//!
//! `check` exits 0 with a summary when the file (and every indicator file
//! it names) is valid, 2 with every problem as `FILE:LINE:COL: key:
//! message` in the user's language when not.

use std::io::Write;
use std::process::ExitCode;

use sekimori_policy::{Action, Policy, PolicyError, ZoneKind};
use sekimori_types::Lang;
use serde_json::{Value, json};

use crate::args::{PolicyCheckArgs, PolicyCmd};

pub fn policy(cmd: &PolicyCmd, lang: Lang) -> ExitCode {
    match cmd {
        PolicyCmd::Check(a) => check(a, lang),
        PolicyCmd::Sample => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(Policy::sample_text().as_bytes());
            ExitCode::SUCCESS
        }
    }
}

fn problem_json(e: &PolicyError, lang: Lang) -> Value {
    json!({
        "file": e.file.display().to_string(),
        "line": e.line,
        "column": e.column,
        "key": e.key,
        "code": e.code(),
        "message": sekimori_types::Localized::localized(&e.kind, lang),
    })
}

fn check(a: &PolicyCheckArgs, lang: Lang) -> ExitCode {
    let policy = match Policy::load(&a.file) {
        Ok(p) => p,
        Err(errors) => {
            if a.json {
                let list: Vec<Value> = errors.iter().map(|e| problem_json(e, lang)).collect();
                crate::output::json(&json!({ "valid": false, "errors": list }));
            } else {
                let mut err = std::io::stderr().lock();
                for line in errors.lines(lang) {
                    let _ = writeln!(err, "{line}");
                }
                let n = errors.len();
                let _ = writeln!(
                    err,
                    "{}",
                    match lang {
                        Lang::Ja => format!("{}：問題が {n} 件あります", a.file.display()),
                        Lang::En => format!(
                            "{}: {n} problem{}",
                            a.file.display(),
                            if n == 1 { "" } else { "s" }
                        ),
                    }
                );
            }
            return ExitCode::from(2);
        }
    };
    if a.json {
        crate::output::json(&summary_json(&policy, lang));
    } else {
        print_summary(&policy, lang);
    }
    ExitCode::SUCCESS
}

fn kind_str(k: ZoneKind) -> &'static str {
    match k {
        ZoneKind::Normal => "zone",
        ZoneKind::Gateway => "gateway",
        ZoneKind::Internet => "internet",
        ZoneKind::Internal => "internal",
    }
}

fn summary_json(p: &Policy, lang: Lang) -> Value {
    let zones: Vec<Value> = p
        .zones()
        .filter(|(_, z)| !z.is_builtin())
        .map(|(_, z)| {
            json!({
                "name": z.name,
                "description": z.description_in(lang),
                "critical": z.critical,
                "kind": kind_str(z.kind),
                "default": z.default.as_str(),
                "internal": z.internal.as_str(),
                "ranges": z.ranges.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "assets": z.assets,
                "roles": z.roles,
                "tags": z.tags,
                "line": z.line,
            })
        })
        .collect();
    let ind = p.indicators();
    let d = p.detections();
    json!({
        "valid": true,
        "file": p.file().display().to_string(),
        "hospital": p.hospital_name(),
        "hospital_ranges": p.hospital_ranges().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "zones": zones,
        "gateway_zone": p.gateway_zone().map(|g| p.zone(g).name.clone()),
        "rules": p.rule_count(),
        "deny_rules": p.rules().filter(|(_, r)| r.action == Action::Deny).count(),
        "indicators": {
            "addresses": ind.ip_count(),
            "names": ind.name_count(),
            "files": ind.files().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        },
        "silence_watches": d.silence.len(),
        "warnings": p.warnings().iter().map(|e| problem_json(e, lang)).collect::<Vec<_>>(),
    })
}

fn print_summary(p: &Policy, lang: Lang) {
    let mut out = std::io::stdout().lock();
    let file = p.file().display();
    let zones: Vec<_> = p.zones().filter(|(_, z)| !z.is_builtin()).collect();
    let critical = zones.iter().filter(|(_, z)| z.critical).count();
    let deny = p.rules().filter(|(_, r)| r.action == Action::Deny).count();
    let gateway = p.gateway_zone().map(|g| p.zone(g).name.clone());
    let ind = p.indicators();
    let d = p.detections();
    let ranges = p.hospital_ranges().iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let lines = match lang {
        Lang::Ja => vec![
            format!("{file}：問題はありません"),
            format!("  病院のアドレス範囲：{ranges}"),
            format!(
                "  ゾーン：{} 件（重要ゾーン {critical} 件、ゲートウェイ：{}）",
                zones.len(),
                gateway.as_deref().unwrap_or("なし")
            ),
        ],
        Lang::En => vec![
            format!("{file}: valid"),
            format!("  hospital ranges: {ranges}"),
            format!(
                "  zones: {} ({critical} critical; gateway: {})",
                zones.len(),
                gateway.as_deref().unwrap_or("none")
            ),
        ],
    };
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    for (_, z) in &zones {
        let mut flags = Vec::new();
        if z.critical {
            flags.push(lang.pick("重要", "critical"));
        } else if z.default == Action::Deny {
            flags.push(lang.pick("既定拒否", "default deny"));
        }
        if z.internal == Action::Deny {
            flags.push(lang.pick("内部拒否", "internal deny"));
        }
        if z.kind == ZoneKind::Gateway {
            flags.push(lang.pick("ゲートウェイ", "gateway"));
        }
        let _ = writeln!(
            out,
            "    {:<24} {:<24} {}",
            z.name,
            flags.join(", "),
            match lang {
                Lang::Ja => format!(
                    "範囲 {}・機器名 {}・役割 {}・タグ {}",
                    z.ranges.len(),
                    z.assets.len(),
                    z.roles.len(),
                    z.tags.len()
                ),
                Lang::En => format!(
                    "ranges {}, assets {}, roles {}, tags {}",
                    z.ranges.len(),
                    z.assets.len(),
                    z.roles.len(),
                    z.tags.len()
                ),
            }
        );
    }
    let files = ind.files().count();
    let rest = match lang {
        Lang::Ja => vec![
            format!("  ルール：{} 件（拒否 {deny} 件）", p.rule_count()),
            format!(
                "  脅威情報：アドレス・範囲 {} 件、ドメイン名 {} 件（ファイル {files} 件）",
                ind.ip_count(),
                ind.name_count()
            ),
            format!("  沈黙の監視：{} 件", d.silence.len()),
        ],
        Lang::En => vec![
            format!("  rules: {} ({deny} deny)", p.rule_count()),
            format!(
                "  indicators: {} addresses/ranges, {} domain names ({files} files)",
                ind.ip_count(),
                ind.name_count()
            ),
            format!("  silence watches: {}", d.silence.len()),
        ],
    };
    for l in rest {
        let _ = writeln!(out, "{l}");
    }
    if !p.warnings().is_empty() {
        let _ = writeln!(out, "  {}: {}", lang.pick("警告", "warnings"), p.warnings().len());
        for w in p.warnings() {
            let _ = writeln!(out, "    {}", w.line_in(lang));
        }
    }
}
