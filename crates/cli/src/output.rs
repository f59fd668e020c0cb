//! What the CLI prints: bilingual messages for people, JSON for scripts.

use std::io::Write;

use sekimori_types::Lang;
use serde::Serialize;

use crate::args::{Cli, LangArg};

pub fn lang(cli: &Cli) -> Lang {
    match cli.lang {
        Some(LangArg::Ja) => Lang::Ja,
        Some(LangArg::En) => Lang::En,
        None => Lang::from_env(),
    }
}

/// Prints a line for people on stdout.
pub fn say(lang: Lang, ja: &str, en: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", lang.pick(ja, en));
}

/// Prints a value as one JSON document on stdout.
pub fn json<T: Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
}

/// Prints an error and its causes on one line on stderr.
pub fn error(lang: Lang, e: &anyhow::Error) {
    let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}: {}", lang.pick("エラー", "error"), chain.join(": "));
}
