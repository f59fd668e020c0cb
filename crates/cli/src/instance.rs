//! The data directory: everything one sekimori instance owns on disk.
//!
//! ```text
//! sekimori-data/            0700
//!   config.toml             settings (written with defaults on first start)
//!   instance.key            Ed25519 PKCS#8, signs audit checkpoints (0600)
//!   instance.pub            its public key, hex, for auditors
//!   tls/cert.pem            self-signed gateway certificate
//!   tls/key.pem             its private key (0600)
//!   sekimori.db             SQLite store (WAL) unless a PostgreSQL URL is configured
//! ```

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sekimori_audit::InstanceKey;

#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

/// What [`DataDir::ensure`] created, so `serve` can tell the operator.
#[derive(Debug, Default)]
pub struct Created {
    pub dir: bool,
    pub key: bool,
    pub cert: bool,
    pub config: bool,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn key_path(&self) -> PathBuf {
        self.root.join("instance.key")
    }
    pub fn pub_path(&self) -> PathBuf {
        self.root.join("instance.pub")
    }
    pub fn cert_path(&self) -> PathBuf {
        self.root.join("tls").join("cert.pem")
    }
    pub fn tls_key_path(&self) -> PathBuf {
        self.root.join("tls").join("key.pem")
    }
    pub fn sqlite_path(&self) -> PathBuf {
        self.root.join("sekimori.db")
    }

    /// The default database URL: SQLite in the data directory.
    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.sqlite_path().display())
    }

    /// Creates whatever is missing: the directory (0700), the instance key,
    /// the TLS certificate for `tls_names`, and a default config file.
    /// Existing files are never overwritten.
    pub fn ensure(&self, tls_names: &[String], default_config: &str) -> Result<Created> {
        let mut created = Created::default();
        if !self.root.exists() {
            fs::create_dir_all(&self.root)
                .with_context(|| format!("creating data directory {}", self.root.display()))?;
            created.dir = true;
        }
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting mode 0700 on {}", self.root.display()))?;
        fs::create_dir_all(self.root.join("tls"))?;

        if !self.key_path().exists() {
            let (key, pkcs8) = InstanceKey::generate()?;
            write_private(&self.key_path(), &pkcs8)?;
            fs::write(self.pub_path(), format!("{}\n", key.public_key()))?;
            created.key = true;
        }
        if !self.cert_path().exists() || !self.tls_key_path().exists() {
            let g = sekimori_web::tls::generate_self_signed(tls_names)?;
            write_private(&self.tls_key_path(), g.key_pem.as_bytes())?;
            fs::write(self.cert_path(), g.cert_pem.as_bytes())?;
            created.cert = true;
        }
        if !self.config_path().exists() {
            fs::write(self.config_path(), default_config)?;
            created.config = true;
        }
        Ok(created)
    }

    /// Loads the instance signing key, refusing a key file others can read.
    pub fn load_key(&self) -> Result<InstanceKey> {
        let path = self.key_path();
        let meta = fs::metadata(&path)
            .with_context(|| format!("reading {} (run `sekimori init` first)", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!(
                "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
                path.display(),
                meta.permissions().mode() & 0o777,
                path.display()
            );
        }
        let der = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        InstanceKey::from_pkcs8(&der).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn read_tls(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let cert = fs::read(self.cert_path())
            .with_context(|| format!("reading {}", self.cert_path().display()))?;
        let key = fs::read(self.tls_key_path())
            .with_context(|| format!("reading {}", self.tls_key_path().display()))?;
        Ok((cert, key))
    }
}

/// Writes a secret file with mode 0600 from the start (no window where it
/// is world-readable).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
