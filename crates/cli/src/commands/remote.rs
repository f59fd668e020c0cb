//! The vendor's and approver's side of the CLI: the saved login (profile),
//! the pinned server certificates, and a small JSON client for the API.
//!
//! Everything lives in the user's config directory (`$SEKIMORI_CLIENT_DIR`,
//! else `$XDG_CONFIG_HOME/sekimori`, else `~/.config/sekimori`), 0700, files
//! 0600: `profile.json` (server, pinned fingerprint, session token,
//! credential ID), `client.key` (the Ed25519 key generated here; only its
//! public half is ever sent) and `known_servers.json` (pins by server).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use sekimori_gateway::client::{ClientError, ClientKey, Pin, connect_tls};
use sekimori_types::{Lang, TunnelCredentialId};

/// The saved login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub server: String,
    pub fingerprint: String,
    pub username: String,
    /// The API session token (Bearer); secret, file is 0600.
    pub token: String,
    pub credential: TunnelCredentialId,
    pub credential_expires_at: String,
}

/// The client's directory.
pub fn client_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("SEKIMORI_CLIENT_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("sekimori"));
    }
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| anyhow!("neither SEKIMORI_CLIENT_DIR, XDG_CONFIG_HOME nor HOME is set"))?;
    Ok(PathBuf::from(home).join(".config").join("sekimori"))
}

fn ensure_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("securing {}", dir.display()))?;
    Ok(())
}

/// Writes a private file: 0600, replaced atomically.
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().ok_or_else(|| anyhow!("{}: no parent directory", path.display()))?;
    ensure_dir(dir)?;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn load_profile() -> Result<Profile> {
    let path = client_dir()?.join("profile.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let lang = crate::output::current_lang();
            bail!(
                "{}",
                lang.pick(
                    "ログインしていません。先に `sekimori login --server HOST:PORT` を実行してください",
                    "not logged in: run `sekimori login --server HOST:PORT` first"
                )
            );
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a sekimori profile", path.display()))
}

pub fn save_profile(p: &Profile) -> Result<()> {
    let path = client_dir()?.join("profile.json");
    write_private(&path, serde_json::to_string_pretty(p)?.as_bytes())
}

pub fn remove_profile() -> Result<()> {
    let path = client_dir()?.join("profile.json");
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// The client key, generated here on first use.
pub fn load_or_create_key() -> Result<ClientKey> {
    let path = client_dir()?.join("client.key");
    match std::fs::read(&path) {
        Ok(der) => ClientKey::from_pkcs8(&der).with_context(|| path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = ClientKey::generate()?;
            write_private(&path, key.pkcs8())?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn load_key() -> Result<ClientKey> {
    let path = client_dir()?.join("client.key");
    let der = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    ClientKey::from_pkcs8(&der).with_context(|| path.display().to_string())
}

fn known_servers_path() -> Result<PathBuf> {
    Ok(client_dir()?.join("known_servers.json"))
}

/// The pinned fingerprint of `server`, if any.
pub fn known_fingerprint(server: &str) -> Result<Option<String>> {
    let path = known_servers_path()?;
    match std::fs::read_to_string(&path) {
        Ok(t) => {
            let map: BTreeMap<String, String> = serde_json::from_str(&t)
                .with_context(|| format!("{}: not a known-servers file", path.display()))?;
            Ok(map.get(server).cloned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Pins `fingerprint` for `server`.
pub fn remember_fingerprint(server: &str, fingerprint: &str) -> Result<()> {
    let path = known_servers_path()?;
    let mut map: BTreeMap<String, String> = match std::fs::read_to_string(&path) {
        Ok(t) => serde_json::from_str(&t).unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    };
    map.insert(server.to_owned(), fingerprint.to_owned());
    write_private(&path, serde_json::to_string_pretty(&map)?.as_bytes())
}

/// The message for a certificate that is not the pinned one.
pub fn mismatch_message(lang: Lang, server: &str, expected: &str, presented: &str) -> String {
    match lang {
        Lang::Ja => format!(
            "警告: {server} の証明書が記録済みのものと一致しません。中間者攻撃の可能性があります。接続を中止しました。\n  記録済み: {expected}\n  提示された: {presented}\nサーバーの証明書を正当に更新した場合のみ、管理者に確認したフィンガープリントを --server-fingerprint で指定してください。"
        ),
        Lang::En => format!(
            "WARNING: the certificate of {server} does not match the pinned one. Someone may be intercepting the connection; nothing was sent.\n  pinned:    {expected}\n  presented: {presented}\nOnly if the server's certificate was replaced on purpose, pass the fingerprint you confirmed with its administrator as --server-fingerprint."
        ),
    }
}

/// Turns client errors into messages people can act on.
pub fn explain(lang: Lang, server: &str, e: ClientError) -> anyhow::Error {
    match e {
        ClientError::PinMismatch { expected, presented } => {
            anyhow!("{}", mismatch_message(lang, server, &expected, &presented))
        }
        ClientError::Refused(r) => anyhow!("{}", r),
        other => anyhow!(other),
    }
}

/// A JSON API client over one pinned TLS connection (HTTP/1.1).
pub struct Api {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    token: Option<String>,
    lang: Lang,
    server: String,
}

/// An API answer that was not a success.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiFailure {}

impl Api {
    /// Connects to `server` trusting `pin`; returns the client and the
    /// fingerprint the server presented.
    pub async fn connect(server: &str, pin: &Pin, lang: Lang) -> Result<(Api, String)> {
        let c =
            connect_tls(server, pin, &[b"http/1.1"]).await.map_err(|e| explain(lang, server, e))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(c.tls))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok((Api { sender, token: None, lang, server: server.to_owned() }, c.fingerprint))
    }

    /// Connects with the saved profile's server, pin and token.
    pub async fn from_profile(p: &Profile, lang: Lang) -> Result<Api> {
        let (mut api, _) =
            Api::connect(&p.server, &Pin::Fingerprint(p.fingerprint.clone()), lang).await?;
        api.token = Some(p.token.clone());
        Ok(api)
    }

    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    /// Sends a request; the body of a 2xx answer, or the API's error.
    pub async fn call_raw(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Bytes)> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header(hyper::header::HOST, self.server.as_str())
            .header(hyper::header::ACCEPT_LANGUAGE, self.lang.to_string())
            .header(hyper::header::USER_AGENT, concat!("sekimori-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(t) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let payload = match body {
            Some(b) => {
                req = req.header(hyper::header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(b)?)
            }
            None => Bytes::new(),
        };
        self.sender.ready().await.context("the server closed the connection")?;
        let resp = self
            .sender
            .send_request(req.body(Full::new(payload))?)
            .await
            .context("sending the request")?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.context("reading the answer")?.to_bytes();
        Ok((status, bytes))
    }

    /// Sends a JSON request and parses a JSON answer; API errors become
    /// [`ApiFailure`] with the server's localized message.
    pub async fn call(&mut self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, bytes) = self.call_raw(method, path, body).await?;
        if !(200..300).contains(&status) {
            return Err(failure(status, &bytes).into());
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).context("the server's answer is not JSON")
    }
}

pub fn failure(status: u16, bytes: &[u8]) -> ApiFailure {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    ApiFailure {
        status,
        code: v["error"].as_str().unwrap_or("http_error").to_owned(),
        message: v["message"].as_str().map_or_else(|| format!("HTTP {status}"), str::to_owned),
    }
}
