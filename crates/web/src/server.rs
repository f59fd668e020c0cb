//! The accept loop: TCP → TLS 1.3 handshake (with a deadline) → dispatch on
//! the negotiated ALPN protocol → HTTP/1.1 or HTTP/2 served by the axum
//! router, or a `sekimori/1` tunnel served by the gateway. One port carries
//! everything, so a hospital opens one port instead of a VPN.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use rustls::server::Acceptor;
use sekimori_gateway::TrafficSecrets;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::LazyConfigAcceptor;
use tower::ServiceExt;

use sekimori_gateway::Gateway;

/// Limits of the listener. Every read from the network has a deadline.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub tls_handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(15),
            max_connections: 1024,
        }
    }
}

/// Bytes read from a client's socket at a time (see the accept loop).
pub const SOCKET_READ_BUFFER: usize = 64 * 1024;

/// The client's address as seen by the gateway, for handlers
/// (`ConnectInfo<ClientAddr>`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Serves `app` on `listener` over TLS until `shutdown` resolves, then stops
/// accepting and lets open connections finish (bounded by `drain`).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    gateway: Arc<Gateway>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
    drain: Duration,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);

    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(message = "Accept failed.", %error);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(message = "Connection refused: too many open connections.", %peer);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let app = app.clone();
        let gateway = gateway.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let handshake_timeout = limits.tls_handshake_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            // rustls reads at most 4 KiB per call; a read buffer in front of
            // the socket turns that into one system call per 64 KiB (the web
            // side; a tunnel's driver reads 256 KiB at a time once its record
            // layer takes over, starting with what this buffer still holds).
            let tcp = tokio::io::BufReader::with_capacity(SOCKET_READ_BUFFER, tcp);
            // A connection that offers the tunnel's ALPN gets a config of its
            // own that keeps its traffic secrets (the tunnel's record layer
            // takes over from rustls after the hello).
            let handshake = async {
                let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await?;
                let tunnel = start.client_hello().alpn().is_some_and(|mut offered| {
                    offered.any(|p| p == sekimori_gateway::protocol::ALPN)
                });
                let (config, secrets) = if tunnel {
                    let (c, s) = TrafficSecrets::server_config(&tls);
                    (c, Some(s))
                } else {
                    (tls.clone(), None)
                };
                Ok::<_, std::io::Error>((start.into_stream(config).await?, secrets))
            };
            let (tls, secrets) = match tokio::time::timeout(handshake_timeout, handshake).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(message = "TLS handshake failed.", %peer, %error);
                    return;
                }
                Err(_) => {
                    tracing::debug!(message = "TLS handshake timed out.", %peer);
                    return;
                }
            };
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            match alpn.as_deref() {
                Some(b"h2") | Some(b"http/1.1") | None => {
                    let svc = hyper::service::service_fn(
                        move |mut req: hyper::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(ConnectInfo(ClientAddr(peer)));
                            app.clone().oneshot(req.map(axum::body::Body::new))
                        },
                    );
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
                    if let Err(error) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(message = "HTTP connection ended with an error.", %peer, %error);
                    }
                }
                Some(sekimori_gateway::protocol::ALPN) => match secrets {
                    Some(secrets) => gateway.serve_tunnel(tls, peer, secrets).await,
                    None => tracing::debug!(message = "Tunnel ALPN without its offer.", %peer),
                },
                Some(other) => {
                    tracing::debug!(message = "Unknown ALPN protocol.", %peer, alpn = ?String::from_utf8_lossy(other));
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(message = "Open connections did not finish in time; closing them.");
    }
    Ok(())
}
