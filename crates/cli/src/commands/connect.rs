//! `sekimori connect REQUEST`: a local port whose every connection is carried
//! through the gateway to the grant's device:port. The gateway decides the
//! target from the grant; nothing here names an address.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use sekimori_gateway::client::{CarryEnd, ClientError, Counters, Pin, Tunnel};
use sekimori_types::{AccessRequestId, Lang};

use super::remote::{Profile, explain, load_key, load_profile};
use crate::args::ConnectArgs;

/// The tunnel, reopened when it drops.
struct Link {
    profile: Profile,
    key: sekimori_gateway::client::ClientKey,
    lang: Lang,
    tunnel: Mutex<Option<Tunnel>>,
}

impl Link {
    async fn get(&self) -> Result<Tunnel, ClientError> {
        let mut t = self.tunnel.lock().await;
        if let Some(tunnel) = t.as_ref()
            && tunnel.ready().await
        {
            return Ok(tunnel.clone());
        }
        let pin = Pin::Fingerprint(self.profile.fingerprint.clone());
        let tunnel =
            Tunnel::open(&self.profile.server, &pin, self.profile.credential, &self.key, self.lang)
                .await?;
        *t = Some(tunnel.clone());
        Ok(tunnel)
    }
}

pub async fn connect(a: &ConnectArgs, lang: Lang) -> Result<ExitCode> {
    let request: AccessRequestId = a.request.parse().map_err(|_| {
        anyhow!("{}: {}", a.request, lang.pick("申請IDではありません", "not a request ID"))
    })?;
    let profile = load_profile()?;
    let key = load_key()?;
    let server = profile.server.clone();
    let link = Arc::new(Link { profile, key, lang, tunnel: Mutex::new(None) });
    let tunnel = link.get().await.map_err(|e| explain(lang, &server, e))?;
    let grant = tunnel.grant(request).await.map_err(|e| explain(lang, &server, e))?;
    let port = match (a.port, grant.ports.as_slice()) {
        (Some(p), ports) if ports.contains(&p) => p,
        (Some(p), _) => bail!(
            "--port {p}: {} {:?}",
            lang.pick(
                "この許可に含まれないポートです。許可されたポート:",
                "not in this grant; granted ports:"
            ),
            grant.ports
        ),
        (None, [only]) => *only,
        (None, ports) => bail!(
            "--port: {} {ports:?}",
            lang.pick(
                "許可に複数のポートがあります。どれか指定してください:",
                "the grant has several ports; choose one of"
            )
        ),
    };
    let listener =
        TcpListener::bind(a.listen).await.map_err(|e| anyhow!("--listen {}: {e}", a.listen))?;
    let local = listener.local_addr()?;
    if a.json {
        // One line, so a script can read it and keep the process running.
        println!(
            "{}",
            json!({"listen": local, "request": request, "asset": grant.asset, "port": port, "window_end": grant.window_end})
        );
    } else {
        println!(
            "{} {} ({}:{port}, {} {})",
            lang.pick("接続待ち:", "listening on"),
            local,
            grant.asset,
            lang.pick("終了", "until"),
            grant.window_end.as_deref().unwrap_or("-"),
        );
    }
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let (sock, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("{}: {e}", lang.pick("受け付けに失敗", "accept failed"));
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = sock.set_nodelay(true);
        let link = link.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let tunnel = match link.get().await {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{peer}: {}", explain(lang, &server, e));
                    return;
                }
            };
            let counters = Counters::default();
            match tunnel.carry(request, port, sock, &counters).await {
                Ok(CarryEnd::Closed) => {}
                Ok(CarryEnd::CutByGateway) => eprintln!(
                    "{peer}: {}",
                    lang.pick(
                        "ゲートウェイが接続を切断しました(許可の取り消し・期限切れ・管理者による切断)",
                        "the gateway closed the connection (grant revoked or expired, or killed by an administrator)"
                    )
                ),
                Ok(CarryEnd::LocalError(e)) => eprintln!("{peer}: {e}"),
                Err(ClientError::Refused(r)) => {
                    eprintln!("{peer}: {} {r}", lang.pick("接続を拒否されました:", "connection refused:"))
                }
                Err(e) => eprintln!("{peer}: {}", explain(lang, &server, e)),
            }
        });
    }
    Ok(ExitCode::SUCCESS)
}
