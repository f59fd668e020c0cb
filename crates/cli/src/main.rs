//! `sekimori`: the binary. Wiring only — parsing, configuration, and one
//! module per command over the library crates. Errors are printed with their
//! whole cause chain on one line; exit codes: 0 ok, 1 a check failed (e.g.
//! `audit verify`), 2 bad input or configuration.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool prints")]

use std::process::ExitCode;

use clap::Parser;

mod args;
mod commands;
mod config;
mod instance;
mod output;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let lang = output::lang(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            output::error(lang, &anyhow::Error::from(e));
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(ref a) => commands::serve::init(&cli, a, lang).await,
            Command::Serve(ref a) => commands::serve::serve(&cli, a, lang).await,
            Command::User(ref c) => commands::admin::user(&cli, c, lang).await,
            Command::Asset(ref c) => commands::admin::asset(&cli, c, lang).await,
            Command::Zone(ref c) => commands::admin::zone(&cli, c, lang).await,
            Command::Audit(ref c) => commands::audit::audit(&cli, c, lang).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            output::error(lang, &e);
            ExitCode::from(2)
        }
    }
}
