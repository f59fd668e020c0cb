//! The registry of live tunnels and tunnelled connections, and the kill
//! switch each one waits on. Revocation in this process (API revoke, kill,
//! lock) reaches the connections at once through here; changes made by
//! another process (the CLI, a second server) are found by the re-check
//! tick, which reads the store for every distinct credential and grant.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;
use tokio::sync::Notify;

use sekimori_types::{
    AccessRequestId, AssetId, CloseReason, TunnelCredentialId, TunnelSessionId, UserId,
};

/// A one-shot kill switch: the first reason wins, and a waiter that starts
/// waiting after the kill still sees it.
#[derive(Debug, Default)]
pub struct KillSwitch {
    /// 0 = alive, else 1 + index into [`CloseReason::ALL`].
    reason: AtomicU8,
    notify: Notify,
}

impl KillSwitch {
    /// Kills with `reason` unless already killed; `true` if this call did it.
    pub fn kill(&self, reason: CloseReason) -> bool {
        let code = CloseReason::ALL.iter().position(|r| *r == reason).map_or(1, |i| i as u8 + 1);
        let first =
            self.reason.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if first {
            // notify_one keeps a permit if nobody waits yet; notify_waiters
            // wakes everyone already waiting.
            self.notify.notify_one();
            self.notify.notify_waiters();
        }
        first
    }

    /// The reason, once killed.
    pub fn reason(&self) -> Option<CloseReason> {
        match self.reason.load(Ordering::Acquire) {
            0 => None,
            n => CloseReason::ALL.get(usize::from(n - 1)).copied(),
        }
    }

    /// Resolves when killed.
    pub async fn killed(&self) -> CloseReason {
        loop {
            let notified = self.notify.notified();
            if let Some(r) = self.reason() {
                return r;
            }
            notified.await;
        }
    }
}

/// One live tunnelled connection.
#[derive(Debug)]
pub struct LiveConn {
    pub id: TunnelSessionId,
    /// The tunnel (TLS connection) carrying it.
    pub tunnel: u64,
    pub user: UserId,
    pub username: String,
    pub credential: TunnelCredentialId,
    pub request: AccessRequestId,
    pub asset: AssetId,
    pub port: u16,
    pub client: SocketAddr,
    pub target: SocketAddr,
    pub started_at: OffsetDateTime,
    /// End of the grant's window: the re-check tick closes the connection
    /// then without asking the store.
    pub window_end: OffsetDateTime,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    pub kill: KillSwitch,
}

/// One live tunnel (TLS connection), which carries connections.
#[derive(Debug)]
pub struct LiveTunnel {
    pub id: u64,
    pub credential: TunnelCredentialId,
    pub user: UserId,
    pub client: SocketAddr,
    pub kill: KillSwitch,
}

/// A point-in-time view of a live connection, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSnapshot {
    pub id: TunnelSessionId,
    pub request: AccessRequestId,
    pub user: UserId,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// All live tunnels and connections of this gateway.
#[derive(Debug, Default)]
pub struct Registry {
    conns: Mutex<HashMap<TunnelSessionId, Arc<LiveConn>>>,
    tunnels: Mutex<HashMap<u64, Arc<LiveTunnel>>>,
    next_tunnel: AtomicU64,
    /// Signalled whenever a connection leaves (shutdown waits on it).
    changed: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain maps behind; keep going.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Registry {
    pub fn next_tunnel_id(&self) -> u64 {
        self.next_tunnel.fetch_add(1, Ordering::Relaxed)
    }

    pub fn add_conn(&self, c: Arc<LiveConn>) {
        lock(&self.conns).insert(c.id, c);
    }

    pub fn remove_conn(&self, id: TunnelSessionId) {
        lock(&self.conns).remove(&id);
        self.changed.notify_waiters();
    }

    pub fn add_tunnel(&self, t: Arc<LiveTunnel>) {
        lock(&self.tunnels).insert(t.id, t);
    }

    pub fn remove_tunnel(&self, id: u64) {
        lock(&self.tunnels).remove(&id);
        self.changed.notify_waiters();
    }

    pub fn conns(&self) -> Vec<Arc<LiveConn>> {
        lock(&self.conns).values().cloned().collect()
    }

    pub fn tunnels(&self) -> Vec<Arc<LiveTunnel>> {
        lock(&self.tunnels).values().cloned().collect()
    }

    pub fn conn_count(&self) -> usize {
        lock(&self.conns).len()
    }

    /// Byte counters (up, down) of one live connection, if it is live here.
    pub fn bytes(&self, id: TunnelSessionId) -> Option<(u64, u64)> {
        lock(&self.conns)
            .get(&id)
            .map(|c| (c.bytes_up.load(Ordering::Relaxed), c.bytes_down.load(Ordering::Relaxed)))
    }

    /// Live byte counters of every connection.
    pub fn snapshot(&self) -> Vec<LiveSnapshot> {
        lock(&self.conns)
            .values()
            .map(|c| LiveSnapshot {
                id: c.id,
                request: c.request,
                user: c.user,
                bytes_up: c.bytes_up.load(Ordering::Relaxed),
                bytes_down: c.bytes_down.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Kills the connections `pick` selects; returns how many it killed.
    pub fn kill_where(&self, reason: CloseReason, pick: impl Fn(&LiveConn) -> bool) -> usize {
        self.conns().iter().filter(|c| pick(c)).filter(|c| c.kill.kill(reason)).count()
    }

    /// Kills the tunnels `pick` selects (their connections are killed
    /// separately, with their own reasons).
    pub fn kill_tunnels_where(&self, reason: CloseReason, pick: impl Fn(&LiveTunnel) -> bool) {
        for t in self.tunnels().iter().filter(|t| pick(t)) {
            t.kill.kill(reason);
        }
    }

    /// Waits until no connection or tunnel is left.
    pub async fn drained(&self) {
        loop {
            let changed = self.changed.notified();
            if lock(&self.conns).is_empty() && lock(&self.tunnels).is_empty() {
                return;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kill_switch_first_reason_wins_and_late_waiters_see_it() {
        let k = KillSwitch::default();
        assert_eq!(k.reason(), None);
        assert!(k.kill(CloseReason::Revoked));
        assert!(!k.kill(CloseReason::Killed));
        assert_eq!(k.killed().await, CloseReason::Revoked);
        for r in CloseReason::ALL {
            let k = KillSwitch::default();
            k.kill(r);
            assert_eq!(k.reason(), Some(r));
        }
    }

    #[tokio::test]
    async fn a_waiter_is_woken_by_a_later_kill() {
        let k = Arc::new(KillSwitch::default());
        let w = tokio::spawn({
            let k = k.clone();
            async move { k.killed().await }
        });
        tokio::task::yield_now().await;
        k.kill(CloseReason::Expired);
        assert_eq!(w.await.unwrap(), CloseReason::Expired);
    }
}
