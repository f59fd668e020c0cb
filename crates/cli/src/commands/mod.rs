//! One module per command family, over a shared way to open the instance.

use std::sync::Arc;

use anyhow::{Context, Result};
use sekimori_audit::Actor;
use sekimori_store::{AuditCtx, MetaRepo, Store, StoreOptions};
use sekimori_types::{SharedClock, SystemClock};

use crate::args::Cli;
use crate::config::{Config, DEFAULT_CONFIG};
use crate::instance::DataDir;

pub mod admin;
pub mod alert;
pub mod alerting;
pub mod analyze;
pub mod assess;
pub mod audit;
pub mod broker;
pub mod connect;
pub mod detect;
pub mod lab;
pub mod policy;
pub mod remote;
pub mod sensor;
pub mod serve;

/// Which password [`read_password`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordKind {
    /// A new account's first password: asked twice at a terminal.
    Initial,
    /// The user's own password, to log in: asked once.
    Login,
}

/// A password from `--password-file` (first line), `--password-stdin`,
/// `SEKIMORI_PASSWORD`, or — for a person at a terminal — a prompt that does
/// not echo. Never a plain flag (it would show in `ps`).
pub fn read_password(
    file: Option<&std::path::Path>,
    stdin: bool,
    kind: PasswordKind,
    lang: sekimori_types::Lang,
) -> Result<secrecy::SecretString> {
    use std::io::{BufRead, IsTerminal};
    let line = if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        text.lines().next().unwrap_or("").to_owned()
    } else if stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if let Ok(p) = std::env::var("SEKIMORI_PASSWORD") {
        p
    } else if std::io::stdin().is_terminal() {
        let from_terminal = |ja, en| {
            rpassword::prompt_password(lang.pick(ja, en))
                .context("reading the password from the terminal")
        };
        match kind {
            PasswordKind::Login => from_terminal("パスワード: ", "Password: ")?,
            PasswordKind::Initial => {
                let first = from_terminal("初期パスワード: ", "Initial password: ")?;
                let again = from_terminal("もう一度入力: ", "Repeat it: ")?;
                if first != again {
                    anyhow::bail!(
                        "{}",
                        lang.pick("入力したパスワードが一致しません", "the two passwords differ")
                    );
                }
                first
            }
        }
    } else {
        let which =
            if kind == PasswordKind::Initial { "the initial password" } else { "the password" };
        anyhow::bail!(
            "give {which} with --password-file FILE, --password-stdin or SEKIMORI_PASSWORD"
        );
    };
    Ok(secrecy::SecretString::from(line))
}

/// An opened instance: its directory, configuration and store.
pub struct Instance {
    pub dir: DataDir,
    pub config: Config,
    pub store: Store,
    pub clock: SharedClock,
}

/// Opens (creating if needed) the data directory and the store.
pub async fn open(cli: &Cli) -> Result<(Instance, crate::instance::Created)> {
    open_at(&cli.data_dir, cli.database.as_deref()).await
}

/// [`open`] for a data directory and database URL given directly.
pub async fn open_at(
    data_dir: &std::path::Path,
    database: Option<&str>,
) -> Result<(Instance, crate::instance::Created)> {
    let dir = DataDir::new(data_dir);
    let pre = Config::load(&dir.config_path())?;
    let created = dir.ensure(&pre.tls_names, DEFAULT_CONFIG)?;
    let mut config = Config::load(&dir.config_path())?;
    if let Some(db) = database {
        config.database = Some(db.to_owned());
    }
    config.validate()?;
    let key = Arc::new(dir.load_key()?);
    let url = config.database.clone().unwrap_or_else(|| dir.sqlite_url());
    let clock: SharedClock = Arc::new(SystemClock);
    let store = Store::open(&url, StoreOptions::new(clock.clone(), key))
        .await
        .with_context(|| format!("opening the store ({})", redact_url(&url)))?;
    // The store remembers which key signs its audit log: a different key
    // (a copied store, a replaced key file) is refused, not silently used.
    let ours = store.public_key().to_hex();
    let info = store
        .initialise_instance(&AuditCtx::system(), &uuid_like(&ours), &store.public_key())
        .await
        .context("recording the instance identity")?;
    if info.public_key != ours {
        store.close().await;
        anyhow::bail!(
            "the store at {} belongs to another instance (its audit log is signed by key {}, \
             but {} holds key {}); refusing to mix them",
            redact_url(&url),
            info.public_key,
            dir.key_path().display(),
            ours
        );
    }
    Ok((Instance { dir, config, store, clock }, created))
}

/// A stable instance ID derived from the public key (so every process that
/// opens the same data directory names the instance the same way).
fn uuid_like(public_key_hex: &str) -> String {
    format!("skm-{}", &public_key_hex[..16.min(public_key_hex.len())])
}

/// The audit actor for console commands: the operating-system user.
pub fn cli_ctx() -> AuditCtx {
    let os_user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    AuditCtx { actor: Actor::Cli { os_user }, source: None }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn password_is_redacted() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("sqlite://x.db?mode=rwc"), "sqlite://x.db?mode=rwc");
    }
}
