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
pub mod audit;
pub mod broker;
pub mod connect;
pub mod remote;
pub mod serve;

/// An opened instance: its directory, configuration and store.
pub struct Instance {
    pub dir: DataDir,
    pub config: Config,
    pub store: Store,
    pub clock: SharedClock,
}

/// Opens (creating if needed) the data directory and the store.
pub async fn open(cli: &Cli) -> Result<(Instance, crate::instance::Created)> {
    let dir = DataDir::new(&cli.data_dir);
    let pre = Config::load(&dir.config_path())?;
    let created = dir.ensure(&pre.tls_names, DEFAULT_CONFIG)?;
    let mut config = Config::load(&dir.config_path())?;
    if let Some(db) = &cli.database {
        config.database = Some(db.clone());
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
