//! The dispatcher: which protocol is this flow, asked of every protocol
//! module in turn (port-hinted probes first, then the rest), remembering
//! the probes that already said no and sticking to the one that said yes.
//!
//! Payload decides; a port is only a hint for the order of asking. A
//! module is registered by one line in [`STREAM`], [`DATAGRAM`] or
//! [`FRAME`].

use crate::facts::Verdict;

/// Which end of a flow sent a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Client,
    Server,
}

/// What a probe knows about the flow besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx {
    pub client_port: u16,
    pub server_port: u16,
}

impl Ctx {
    /// Whether either end uses one of `ports`.
    pub fn either_port(&self, ports: &[u16]) -> bool {
        ports.contains(&self.client_port) || ports.contains(&self.server_port)
    }
}

/// A TCP probe: the in-order bytes each side sent so far (prefixes, capped
/// by the sensor).
pub type StreamFn = fn(&Ctx, &[u8], &[u8]) -> Verdict;
/// A UDP probe: one datagram and who sent it.
pub type DatagramFn = fn(&Ctx, Side, &[u8]) -> Verdict;
/// A link-layer probe (LLDP, CDP): the frame's payload after the
/// Ethernet/LLC header, and the sender's MAC.
pub type FrameFn = fn([u8; 6], &[u8]) -> Verdict;

/// A registered probe and the ports that make it worth asking first.
#[derive(Clone, Copy, Debug)]
pub struct Probe<F> {
    pub name: &'static str,
    pub ports: &'static [u16],
    pub probe: F,
}

macro_rules! probe {
    ($name:literal, $ports:expr, $f:path) => {
        Probe { name: $name, ports: $ports, probe: $f }
    };
}

/// TCP probes. At most 64 (a bit each in [`ProbeState`]).
pub static STREAM: &[Probe<StreamFn>] = &[
    probe!("dicom", &[104, 11112, 4242], crate::dicom::probe_stream),
    probe!("hl7", &[2575, 2100, 6661], crate::hl7::probe_stream),
    probe!("tls", &[443, 8443, 10443, 636, 993, 995, 465, 2762, 3389], crate::tls::probe_stream),
    probe!("ssh", &[22, 2222], crate::ssh::probe_stream),
    probe!("http", &[80, 8080, 8000, 8008, 8888, 3128], crate::http::probe_stream),
    probe!("smb", &[445, 139], crate::smb::probe_stream),
    probe!("rdp", &[3389], crate::rdp::probe_stream),
    probe!("vnc", &[5900, 5901, 5902, 5800], crate::vnc::probe_stream),
    probe!("openvpn", &[1194, 443], crate::openvpn::probe_stream),
    probe!("teamviewer", &[5938], crate::teamviewer::probe_stream),
    probe!("anydesk", &[7070, 6568], crate::anydesk::probe_stream),
];

/// UDP probes. At most 64.
pub static DATAGRAM: &[Probe<DatagramFn>] = &[
    probe!("dhcp", &[67, 68, 546, 547], crate::dhcp::probe_datagram),
    probe!("dns", &[53, 5353, 137, 138, 5355], crate::dns::probe_datagram),
    probe!("ssdp", &[1900], crate::ssdp::probe_datagram),
    probe!("snmp", &[161, 162], crate::snmp::probe_datagram),
    probe!("syslog", &[514], crate::syslog::probe_datagram),
    probe!("bacnet", &[47808], crate::bacnet::probe_datagram),
    probe!("netflow", &[2055, 2056, 2057, 4739, 9995, 9996], crate::netflow::probe_datagram),
    probe!("ike", &[500, 4500], crate::ike::probe_datagram),
    probe!("openvpn", &[1194], crate::openvpn::probe_datagram),
    probe!("wireguard", &[51820], crate::wireguard::probe_datagram),
    probe!("dtls", &[443, 4433, 10443], crate::tls::probe_datagram),
    probe!("teamviewer", &[5938], crate::teamviewer::probe_datagram),
    probe!("anydesk", &[6568, 50001, 50002, 50003], crate::anydesk::probe_datagram),
];

/// Link-layer probes.
pub static FRAME: &[Probe<FrameFn>] =
    &[probe!("lldp", &[], crate::lldp::probe_frame), probe!("cdp", &[], crate::cdp::probe_frame)];

/// Per-flow dispatcher state: which probes may still say yes, and the one
/// that did. 16 bytes; lives in the flow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeState {
    /// Bit i set: probe i has said `No`.
    ruled_out: u64,
    /// Index + 1 of the probe that said `Yes` (0: none yet).
    locked: u8,
    /// Set once nothing more can be learnt (a locked probe said
    /// `more: false`, or every probe said no).
    finished: bool,
}

impl Default for ProbeState {
    fn default() -> Self {
        ProbeState::new()
    }
}

impl ProbeState {
    pub const fn new() -> ProbeState {
        ProbeState { ruled_out: 0, locked: 0, finished: false }
    }

    /// Whether asking again could change anything.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The probe that said yes, if any.
    pub fn locked_name<F>(&self, table: &[Probe<F>]) -> Option<&'static str> {
        let i = usize::from(self.locked.checked_sub(1)?);
        table.get(i).map(|p| p.name)
    }

    fn run<F: Copy>(
        &mut self,
        table: &[Probe<F>],
        ctx: &Ctx,
        mut call: impl FnMut(F) -> Verdict,
    ) -> Verdict {
        if self.finished {
            return Verdict::No;
        }
        if let Some(i) = self.locked.checked_sub(1) {
            let Some(p) = table.get(usize::from(i)) else {
                self.finished = true;
                return Verdict::No;
            };
            let v = call(p.probe);
            match &v {
                Verdict::Yes { more: false, .. } | Verdict::No => self.finished = true,
                _ => {}
            }
            return v;
        }
        let mut undecided = false;
        // Two passes: probes hinted by a port first, then the others.
        for hinted in [true, false] {
            for (i, p) in table.iter().enumerate().take(64) {
                let bit = 1u64 << i;
                if self.ruled_out & bit != 0 || ctx.either_port(p.ports) != hinted {
                    continue;
                }
                match call(p.probe) {
                    Verdict::No => self.ruled_out |= bit,
                    Verdict::NeedMore => undecided = true,
                    v @ Verdict::Yes { .. } => {
                        self.locked = u8::try_from(i + 1).unwrap_or(0);
                        if matches!(v, Verdict::Yes { more: false, .. }) {
                            self.finished = true;
                        }
                        return v;
                    }
                }
            }
        }
        if undecided {
            Verdict::NeedMore
        } else {
            self.finished = true;
            Verdict::No
        }
    }

    /// Asks the TCP probes about the bytes each side has sent so far.
    pub fn stream(&mut self, ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
        self.run(STREAM, ctx, |f: StreamFn| f(ctx, client, server))
    }

    /// Asks the UDP probes about one datagram.
    pub fn datagram(&mut self, ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
        self.run(DATAGRAM, ctx, |f: DatagramFn| f(ctx, side, payload))
    }
}

/// Asks the link-layer probes about one frame (stateless: LLDP and CDP
/// frames each stand alone).
pub fn frame(src_mac: [u8; 6], payload: &[u8]) -> Verdict {
    for p in FRAME {
        if let v @ Verdict::Yes { .. } = (p.probe)(src_mac, payload) {
            return v;
        }
    }
    Verdict::No
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_fit_the_state_bitmask() {
        assert!(STREAM.len() <= 64 && DATAGRAM.len() <= 64);
    }

    #[test]
    fn empty_payloads_never_lock_a_probe() {
        let ctx = Ctx { client_port: 50000, server_port: 443 };
        let mut s = ProbeState::new();
        assert!(!matches!(s.stream(&ctx, b"", b""), Verdict::Yes { .. }));
        let mut s = ProbeState::new();
        assert!(!matches!(s.datagram(&ctx, Side::Client, b""), Verdict::Yes { .. }));
    }
}
