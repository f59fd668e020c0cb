//! What the CLI prints: bilingual messages for people, JSON for scripts.

use std::io::Write;

use sekimori_types::Lang;
use serde::Serialize;

use crate::args::{Cli, LangArg};

static LANG: std::sync::OnceLock<Lang> = std::sync::OnceLock::new();

/// The user's language for this run (flag, then environment); remembered
/// so deep error paths can explain themselves in it.
pub fn lang(cli: &Cli) -> Lang {
    let lang = match cli.lang {
        Some(LangArg::Ja) => Lang::Ja,
        Some(LangArg::En) => Lang::En,
        None => Lang::from_env(),
    };
    *LANG.get_or_init(|| lang)
}

/// The language chosen by [`lang`] (English before it is called).
pub fn current_lang() -> Lang {
    LANG.get().copied().unwrap_or_default()
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
