//! A UDP socket for flow exports (NetFlow v5/v9, IPFIX): receives each
//! datagram into one reused buffer and lends it with the exporter's
//! address and the time it arrived. Decoding is the caller's
//! (`sekimori_proto::netflow`), which keeps templates per exporter.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::Timestamp;

/// The largest UDP payload (IPv4: 65 507; one buffer fits any).
const MAX_DATAGRAM: usize = 65_536;

/// The socket receive buffer asked for: ~25,000 typical export datagrams.
pub const RECV_BUFFER: usize = 32 << 20;

/// A clock: where receive times come from (tests inject their own).
pub type Clock = fn() -> Timestamp;

/// The system's wall clock.
pub fn system_clock() -> Timestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp::from_secs_nanos(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => Timestamp(0),
    }
}

/// One export datagram, lent until the next receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub exporter: SocketAddr,
    pub bytes: &'a [u8],
    pub received: Timestamp,
}

/// A socket problem, with the address the collector listens on.
#[derive(Debug, Error)]
#[error("flow collector on {addr}: {what}: {source}")]
pub struct CollectorError {
    pub addr: SocketAddr,
    pub what: &'static str,
    pub source: io::Error,
}

/// A bound flow-export socket.
#[derive(Debug)]
pub struct Collector {
    socket: UdpSocket,
    addr: SocketAddr,
    buf: Vec<u8>,
    clock: Clock,
    received: u64,
}

impl Collector {
    /// Binds `addr` (port 0 for any free port). Receives block for at most
    /// `timeout` (then [`Collector::recv`] returns `None`).
    pub fn bind(addr: SocketAddr, timeout: Duration) -> Result<Collector, CollectorError> {
        let err = |what| move |source| CollectorError { addr, what, source };
        let socket = UdpSocket::bind(addr).map_err(err("bind"))?;
        socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(err("set read timeout"))?;
        // A burst of exports must wait in the kernel while the sensor
        // writes a flush: ask for a large receive buffer (beyond
        // net.core.rmem_max when the process may), else as large as the
        // system allows. Neither failing is fatal: the default still works.
        if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, RECV_BUFFER).is_err() {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, RECV_BUFFER);
        }
        let addr = socket.local_addr().map_err(err("local address"))?;
        Ok(Collector { socket, addr, buf: vec![0; MAX_DATAGRAM], clock: system_clock, received: 0 })
    }

    /// Receive times from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Collector {
        self.clock = clock;
        self
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Datagrams received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next datagram; `None` when the timeout passed without one.
    pub fn recv(&mut self) -> Result<Option<Datagram<'_>>, CollectorError> {
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, exporter)) => {
                self.received += 1;
                let bytes = self.buf.get(..n).unwrap_or(&[]);
                Ok(Some(Datagram { exporter, bytes, received: (self.clock)() }))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(source) => Err(CollectorError { addr: self.addr, what: "receive", source }),
        }
    }
}
