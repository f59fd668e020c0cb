//! Opening stores: migrations, URLs, unreachable databases.

use std::sync::Arc;
use std::time::Duration;

use sekimori_audit::InstanceKey;
use sekimori_store::{Backend, Store, StoreError, StoreOptions};
use sekimori_types::SystemClock;

fn options() -> StoreOptions {
    let (key, _) = InstanceKey::generate().unwrap();
    let mut o = StoreOptions::new(Arc::new(SystemClock), Arc::new(key));
    o.lock_timeout = Duration::from_secs(2);
    o
}

/// Every file in `migrations/<backend>/` is embedded, in order, and both
/// backends have the same versions.
#[test]
fn every_migration_file_is_embedded() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut versions = Vec::new();
    for (backend, dir) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
        let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> =
            backend.migrations().map(|(v, d)| format!("{v:04}_{d}.sql")).collect();
        assert_eq!(files, embedded, "{backend:?}");
        versions.push(backend.migrations().map(|(v, _)| v).collect::<Vec<_>>());
    }
    assert_eq!(versions[0], versions[1]);
}

#[tokio::test]
async fn urls_are_checked() {
    assert!(matches!(Backend::from_url("mysql://x"), Err(StoreError::UnsupportedUrl)));
    assert_eq!(Backend::from_url("postgresql://h/db").unwrap(), Backend::Postgres);
    assert!(matches!(Store::open("nonsense", options()).await, Err(StoreError::UnsupportedUrl)));
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let err = Store::open("postgres://nobody@127.0.0.1:1/none", options()).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn migrations_are_idempotent_across_opens() {
    let t = sekimori_test_support::sqlite().await;
    let again = t.open_another().await;
    again.close().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}/nested/nope.db?mode=rwc", dir.path().display());
    assert!(Store::open(&missing, options()).await.is_err());
}
