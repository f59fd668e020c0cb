//! Live capture from an interface through libpcap (a SPAN port or a TAP),
//! with an optional BPF filter. Packets come out as the same
//! [`RawPacket`] a capture file gives, lent from libpcap's buffer.
//!
//! The handle is non-blocking and waited on with `poll(2)` for at most the
//! configured timeout: libpcap's own read timeout does not fire on Linux
//! when no packet arrives (TPACKET_V3 and, as measured with libpcap 1.10,
//! immediate mode too), which would hang a sensor on a quiet port.

use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use sekimori_proto::packet::LinkType;
use thiserror::Error;

use crate::{RawPacket, Timestamp};

/// How to capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConfig {
    /// The interface name (`eth1`, `any`, …).
    pub interface: String,
    /// A BPF filter in tcpdump syntax, compiled by libpcap.
    pub filter: Option<String>,
    /// Bytes kept of each packet.
    pub snaplen: u32,
    pub promiscuous: bool,
    /// Hand packets over as they arrive instead of when the kernel buffer
    /// fills (lower latency, more wake-ups).
    pub immediate: bool,
    /// How long a read waits before [`LiveCapture::next_packet`] returns
    /// `None`.
    pub timeout: Duration,
    /// The kernel buffer in bytes (libpcap's default when `None`).
    pub buffer_size: Option<u32>,
}

impl LiveConfig {
    /// Defaults for a SPAN port: whole packets (256 KiB snap length),
    /// promiscuous, 100 ms read timeout, 32 MiB kernel buffer.
    pub fn new(interface: impl Into<String>) -> LiveConfig {
        LiveConfig {
            interface: interface.into(),
            filter: None,
            snaplen: 262_144,
            promiscuous: true,
            immediate: false,
            timeout: Duration::from_millis(100),
            buffer_size: Some(32 * 1024 * 1024),
        }
    }
}

/// A libpcap problem on an interface.
#[derive(Debug, Error)]
#[error("live capture on {interface}: {what}")]
pub struct LiveError {
    pub interface: String,
    pub what: LiveProblem,
}

/// What went wrong.
#[derive(Debug, Error)]
pub enum LiveProblem {
    #[error("cannot open: {0}")]
    Open(pcap::Error),
    #[error("invalid filter {filter:?}: {error}")]
    Filter { filter: String, error: pcap::Error },
    #[error("unknown link type {0}")]
    UnknownLinkType(i32),
    #[error("read failed: {0}")]
    Read(pcap::Error),
    #[error("statistics unavailable: {0}")]
    Stats(pcap::Error),
}

/// Kernel counters for the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveStats {
    /// Packets the filter passed.
    pub received: u32,
    /// Packets dropped because the buffer was full.
    pub dropped: u32,
    /// Packets dropped by the interface or driver.
    pub if_dropped: u32,
}

/// An open live capture.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    interface: String,
    timeout: Duration,
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("interface", &self.interface)
            .field("link", &self.link)
            .finish()
    }
}

impl LiveCapture {
    /// Opens the interface and applies the filter.
    pub fn open(cfg: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let err = |what| LiveError { interface: cfg.interface.clone(), what };
        let timeout_ms = i32::try_from(cfg.timeout.as_millis()).unwrap_or(i32::MAX).max(1);
        let mut inactive = pcap::Capture::from_device(cfg.interface.as_str())
            .map_err(|e| err(LiveProblem::Open(e)))?
            .snaplen(i32::try_from(cfg.snaplen).unwrap_or(i32::MAX))
            .promisc(cfg.promiscuous)
            .immediate_mode(cfg.immediate)
            .timeout(timeout_ms);
        if let Some(b) = cfg.buffer_size {
            inactive = inactive.buffer_size(i32::try_from(b).unwrap_or(i32::MAX));
        }
        let mut cap =
            inactive.open().and_then(|c| c.setnonblock()).map_err(|e| err(LiveProblem::Open(e)))?;
        let dl = cap.get_datalink().0;
        let link = u32::try_from(dl)
            .ok()
            .and_then(LinkType::from_pcap)
            .ok_or_else(|| err(LiveProblem::UnknownLinkType(dl)))?;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true)
                .map_err(|error| err(LiveProblem::Filter { filter: f.clone(), error }))?;
        }
        Ok(LiveCapture { cap, link, interface: cfg.interface.clone(), timeout: cfg.timeout })
    }

    /// The interface's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The next packet; `None` when the timeout passed without one (or a
    /// wake-up brought only packets the filter dropped).
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, LiveError> {
        let link = self.link;
        let timeout = Timespec {
            tv_sec: i64::try_from(self.timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(self.timeout.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&self.cap, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(None),
            Err(e) => {
                let e = pcap::Error::IoError(std::io::Error::from(e).kind());
                return Err(LiveError {
                    interface: self.interface.clone(),
                    what: LiveProblem::Read(e),
                });
            }
        }
        match self.cap.next_packet() {
            Ok(p) => {
                let h = p.header;
                let ts = Timestamp::from_secs_nanos(
                    h.ts.tv_sec,
                    u32::try_from(h.ts.tv_usec).unwrap_or(0).saturating_mul(1000),
                );
                Ok(Some(RawPacket {
                    ts,
                    link,
                    interface: 0,
                    caplen: h.caplen,
                    origlen: h.len,
                    data: p.data,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => Ok(None),
            Err(e) => {
                Err(LiveError { interface: self.interface.clone(), what: LiveProblem::Read(e) })
            }
        }
    }

    /// The kernel's counters so far.
    pub fn stats(&mut self) -> Result<LiveStats, LiveError> {
        let s = self.cap.stats().map_err(|e| LiveError {
            interface: self.interface.clone(),
            what: LiveProblem::Stats(e),
        })?;
        Ok(LiveStats { received: s.received, dropped: s.dropped, if_dropped: s.if_dropped })
    }
}
