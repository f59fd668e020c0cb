//! `sekimori`: the binary. Wiring only — parsing, configuration, and one
//! module per command over the library crates. Errors are printed with their
//! whole cause chain on one line; exit codes: 0 ok, 1 a check failed (e.g.
//! `audit verify`), 2 bad input or configuration.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool prints")]

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

mod args;
mod commands;
mod config;
mod help_ja;
mod instance;
mod output;

use args::{Cli, Command};

/// mimalloc instead of the system allocator: an import of 300,000 advisory
/// records spent a fifth of its time in glibc's malloc/free (buffers made
/// by the reader thread, freed by the writer). Built without transparent
/// huge pages (`no_thp`): with them, memory mimalloc gave back and took
/// again was zeroed 2 MiB at a time, a third of an assessment's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parses the command line, with help in Japanese when that is the user's
/// language (`--lang ja`, `SEKIMORI_LANG`, or a Japanese `LANG`).
fn parse() -> Cli {
    let ja_flag =
        std::env::args().collect::<Vec<_>>().windows(2).any(|w| w[0] == "--lang" && w[1] == "ja")
            || std::env::args().any(|a| a == "--lang=ja");
    let en_flag =
        std::env::args().collect::<Vec<_>>().windows(2).any(|w| w[0] == "--lang" && w[1] == "en")
            || std::env::args().any(|a| a == "--lang=en");
    let ja = ja_flag || (!en_flag && sekimori_types::Lang::from_env() == sekimori_types::Lang::Ja);
    let cmd = if ja { help_ja::localize(Cli::command()) } else { Cli::command() };
    let matches = cmd.get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}

fn main() -> ExitCode {
    let cli = parse();
    let lang = output::lang(&cli);
    // `analyze` reads files on this thread; it needs no runtime.
    if let Command::Analyze(ref a) = cli.command
        && !a.store
    {
        return commands::analyze::analyze(a, lang);
    }
    if let Command::Lab(ref c) = cli.command {
        return commands::lab::lab(c, lang);
    }
    if let Command::Policy(ref c) = cli.command {
        return commands::policy::policy(c, lang);
    }
    // `connect` moves bytes between sockets and one TLS connection: one
    // thread does that without handing every chunk between workers.
    // Measured with bench/tunnel.sh: 0.69× → 1.14× `ssh -L` in back-to-back runs.
    let mut builder = if matches!(cli.command, Command::Connect(_)) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
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
            Command::Alert(ref c) => commands::alert::alert(&cli, c, lang).await,
            Command::Audit(ref c) => commands::audit::audit(&cli, c, lang).await,
            Command::Login(ref a) => commands::broker::login(a, lang).await,
            Command::Logout(ref a) => commands::broker::logout(a, lang).await,
            Command::Request(ref c) => commands::broker::request(c, lang).await,
            Command::Session(ref c) => commands::broker::session(c, lang).await,
            Command::Connect(ref a) => commands::connect::connect(a, lang).await,
            Command::Sensor(ref a) => commands::sensor::sensor(&cli, a, lang).await,
            Command::Analyze(ref a) if a.store => {
                commands::sensor::analyze_store(&cli, a, lang).await
            }
            Command::Feeds(ref c) => commands::assess::feeds(&cli, c, lang).await,
            Command::Assess(ref a) => commands::assess::assess(&cli, a, lang).await,
            Command::Checklist(ref a) => commands::assess::checklist(&cli, a, lang).await,
            Command::Analyze(_) | Command::Lab(_) | Command::Policy(_) => Ok(ExitCode::SUCCESS), // handled above
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            output::error(lang, &e);
            // The server refused (forbidden, wrong state, not found): 1.
            // Bad input, on either side: 2.
            match e.downcast_ref::<commands::remote::ApiFailure>() {
                Some(f) if !matches!(f.status, 400 | 422) => ExitCode::from(1),
                _ => ExitCode::from(2),
            }
        }
    }
}
