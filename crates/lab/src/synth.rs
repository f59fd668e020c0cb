//! The traffic: sessions (a TCP connection, a UDP exchange, an ESP
//! tunnel) that each produce their packets in time order, interleaved by
//! one event queue, started by a Poisson arrival process whose rate is
//! per host (so traffic scales with `--hosts` and `--duration`).
//!
//! TCP is written as a capture on the hospital's core switch would show
//! it: three-way handshake with MSS/SACK/window-scale options, consistent
//! sequence and acknowledgement numbers, an ACK for every second full
//! segment or at the end of a message (never a duplicate), PSH on the last
//! segment of each message, and a FIN exchange at the end. Nothing is lost
//! or retransmitted, so `tshark`'s TCP analysis has nothing to flag.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;

use crate::Error;
use crate::hospital::{
    DOMAIN, HL7_ENGINE, HL7_FEEDS, Hospital, INTERNET, MODALITIES, Role, VENDOR_API, VENDOR_VPN,
};
use crate::msgs::{self, DhcpType, Dimse};
use crate::rng::Rng;
use crate::wire::{Frame, L3, PcapWriter, SYN_OPTIONS, flags};

const MSS: usize = 1460;
const FILLER: usize = 1 << 18;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// How a message's body is cut into protocol records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Opaque bytes (SMB read data, SSH and ESP ciphertext).
    Raw,
    /// TLS application data records of up to 16 KiB.
    Tls,
    /// DICOM P-DATA-TF PDUs of one data PDV each, on this presentation
    /// context.
    Dicom(u8),
}

/// One application message: a header built byte for byte, then `body`
/// bytes (`prefix`, then synthetic filler) cut into records.
#[derive(Debug)]
struct Msg {
    /// 0 = client, 1 = server.
    from: usize,
    head: Vec<u8>,
    framing: Framing,
    prefix: Vec<u8>,
    body: u64,
    /// Wait before the message's first segment (think time).
    think: u64,
}

impl Msg {
    fn new(from: usize, head: Vec<u8>) -> Msg {
        Msg { from, head, framing: Framing::Raw, prefix: Vec::new(), body: 0, think: 0 }
    }
    fn body(mut self, framing: Framing, body: u64) -> Msg {
        self.framing = framing;
        self.body = body;
        self
    }
    fn think(mut self, t: u64) -> Msg {
        self.think = t;
        self
    }
}

/// Where the sender is in the current message.
#[derive(Debug, Default)]
struct Cursor {
    head: usize,
    /// Body bytes written.
    body: u64,
    /// Body bytes left in the current record.
    rec_left: u64,
    hdr: [u8; 12],
    hdr_len: u8,
    hdr_pos: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Syn,
    SynAck,
    Ack,
    Data,
    Fin,
    FinAck,
    LastAck,
}

#[derive(Debug)]
struct Tcp {
    host: [usize; 2],
    port: [u16; 2],
    seq: [u32; 2],
    /// Data segments each side has received and not yet acknowledged.
    unacked: [u8; 2],
    window: [u16; 2],
    phase: Phase,
    msgs: VecDeque<Msg>,
    cur: Cursor,
    /// Time per full segment (the flow's rate), and the round trip.
    gap: u64,
    /// Which sides are on the internet (they answer a round trip later).
    remote: [bool; 2],
    rtt: u64,
    /// Offset of this flow's filler in the shared table.
    salt: usize,
}

#[derive(Debug)]
struct Dgram {
    l3: L3,
    id_host: usize,
    ports: (u16, u16),
    payload: Vec<u8>,
    /// Wait after this datagram.
    after: u64,
}

#[derive(Debug)]
struct Esp {
    host: [usize; 2],
    spi: [u32; 2],
    seq: [u32; 2],
    left: u64,
    gap: u64,
}

#[derive(Debug)]
enum Session {
    Tcp(Box<Tcp>),
    Udp(VecDeque<Dgram>),
    Esp(Esp),
}

/// What the generator writes with, shared by every session.
struct Net<W: Write> {
    h: Hospital,
    rng: Rng,
    frame: Frame,
    pcap: PcapWriter<W>,
    filler: Vec<u8>,
    /// Sessions to start: (time, session).
    spawn: Vec<(u64, Session)>,
    /// End of the simulated duration (ns since the epoch).
    end: u64,
    /// Sessions being made now are the small showcase ones.
    small: bool,
}

impl<W: Write> Net<W> {
    fn l3(&self, from: usize, to: usize) -> L3 {
        let (a, b) = (&self.h.hosts[from], &self.h.hosts[to]);
        L3 { src_mac: a.mac, dst_mac: b.mac, src: a.ip, dst: b.ip, ttl: a.ttl }
    }

    fn is_internet(&self, i: usize) -> bool {
        matches!(self.h.hosts[i].role, Role::Internet(_))
    }

    fn write(&mut self, ts: u64) -> Result<(), Error> {
        let f = self.frame.finish();
        self.pcap.record(ts, f).map_err(Error::Write)
    }

    /// Appends `n` bytes of the shared filler from `off`.
    fn fill(filler: &[u8], out: &mut Vec<u8>, off: usize, n: usize) {
        let mut off = off % FILLER;
        let mut n = n;
        while n > 0 {
            let k = n.min(FILLER - off);
            out.extend_from_slice(filler.get(off..off + k).unwrap_or(&[]));
            n -= k;
            off = 0;
        }
    }
}

impl Tcp {
    fn new<W: Write>(
        net: &mut Net<W>,
        client: usize,
        server: usize,
        sport: u16,
        msgs: Vec<Msg>,
    ) -> Tcp {
        let internet = net.is_internet(client) || net.is_internet(server);
        let rtt = if internet { net.rng.range(8, 60) * MS } else { net.rng.range(80, 400) * US };
        // 50–800 Mbit/s on the LAN, 10–100 to the internet: ns per 1514 bytes.
        let mbps = if internet { net.rng.range(10, 100) } else { net.rng.range(50, 800) };
        let gap = 1514 * 8 * 1000 / mbps;
        let cport = net.h.hosts[client].port();
        let remote = [net.is_internet(client), net.is_internet(server)];
        Tcp {
            remote,
            host: [client, server],
            port: [cport, sport],
            seq: [net.rng.next_u32(), net.rng.next_u32()],
            unacked: [0, 0],
            window: [2053, 1026 + (net.rng.below(1000) as u16)],
            phase: Phase::Syn,
            msgs: msgs.into(),
            cur: Cursor::default(),
            gap,
            rtt,
            salt: net.rng.below(FILLER as u64) as usize,
        }
    }

    /// The delay before side `to` answers something side `from` sent.
    fn turn(&self, to: usize) -> u64 {
        // The capture point is at the hospital's core: an internet
        // server answers a round trip later, a local host almost at once.
        if self.remote[to] { self.rtt } else { 20 * US + self.rtt.min(400 * US) / 4 }
    }

    fn send<W: Write>(
        &mut self,
        net: &mut Net<W>,
        ts: u64,
        side: usize,
        fl: u8,
        payload: impl FnOnce(&mut Vec<u8>, &[u8]),
    ) -> Result<(), Error> {
        let other = 1 - side;
        let l3 = net.l3(self.host[side], self.host[other]);
        let id = net.h.hosts[self.host[side]].ip_id();
        let syn = fl & flags::SYN != 0;
        let ack = if fl & flags::ACK != 0 { self.seq[other] } else { 0 };
        let opts: &[u8] = if syn { &SYN_OPTIONS } else { &[] };
        let win = if syn { 65_535 } else { self.window[side] };
        let ports = (self.port[side], self.port[other]);
        let buf = net.frame.tcp(&l3, id, ports, self.seq[side], ack, fl, win, opts);
        let before = buf.len();
        payload(buf, &net.filler);
        let len = (buf.len() - before) as u32;
        self.seq[side] =
            self.seq[side].wrapping_add(len + u32::from(syn) + u32::from(fl & flags::FIN != 0));
        self.unacked[side] = 0;
        if len > 0 {
            self.unacked[other] = self.unacked[other].saturating_add(1);
        }
        net.write(ts)
    }

    /// Writes the next packet at `now`; returns when the one after is due.
    fn step<W: Write>(&mut self, net: &mut Net<W>, now: u64) -> Result<Option<u64>, Error> {
        match self.phase {
            Phase::Syn => {
                self.send(net, now, 0, flags::SYN, |_, _| {})?;
                self.phase = Phase::SynAck;
                Ok(Some(now + self.turn(1)))
            }
            Phase::SynAck => {
                self.send(net, now, 1, flags::SYN | flags::ACK, |_, _| {})?;
                self.phase = Phase::Ack;
                Ok(Some(now + 30 * US))
            }
            Phase::Ack => {
                self.send(net, now, 0, flags::ACK, |_, _| {})?;
                self.phase = Phase::Data;
                let think = self.msgs.front().map_or(0, |m| m.think);
                Ok(Some(now + 20 * US + think))
            }
            Phase::Data => self.data(net, now),
            Phase::Fin => {
                self.send(net, now, 0, flags::FIN | flags::ACK, |_, _| {})?;
                self.phase = Phase::FinAck;
                Ok(Some(now + self.turn(1)))
            }
            Phase::FinAck => {
                self.send(net, now, 1, flags::FIN | flags::ACK, |_, _| {})?;
                self.phase = Phase::LastAck;
                Ok(Some(now + 30 * US))
            }
            Phase::LastAck => {
                self.send(net, now, 0, flags::ACK, |_, _| {})?;
                Ok(None)
            }
        }
    }

    fn data<W: Write>(&mut self, net: &mut Net<W>, now: u64) -> Result<Option<u64>, Error> {
        // A receiver that holds two unacknowledged segments acknowledges.
        for r in 0..2 {
            if self.unacked[r] >= 2 {
                self.send(net, now, r, flags::ACK, |_, _| {})?;
                return Ok(Some(now + self.gap / 4));
            }
        }
        let Some(m) = self.msgs.front() else {
            self.phase = Phase::Fin;
            return self.step(net, now);
        };
        let from = m.from;
        let salt = self.salt;
        let c = &mut self.cur;
        let mut done = false;
        let mut fill = |buf: &mut Vec<u8>, filler: &[u8]| {
            let mut room = MSS;
            // Header bytes.
            if let Some(rest) = m.head.get(c.head..) {
                let k = rest.len().min(room);
                buf.extend_from_slice(rest.get(..k).unwrap_or(&[]));
                c.head += k;
                room -= k;
            }
            while room > 0 {
                if c.hdr_pos < c.hdr_len {
                    let k = usize::from(c.hdr_len - c.hdr_pos).min(room);
                    let p = usize::from(c.hdr_pos);
                    buf.extend_from_slice(c.hdr.get(p..p + k).unwrap_or(&[]));
                    c.hdr_pos += k as u8;
                    room -= k;
                    continue;
                }
                if c.rec_left > 0 {
                    let k = (c.rec_left.min(room as u64)) as usize;
                    let pre = m.prefix.len() as u64;
                    if c.body < pre {
                        let from = c.body as usize;
                        let k = k.min(m.prefix.len() - from);
                        buf.extend_from_slice(m.prefix.get(from..from + k).unwrap_or(&[]));
                        c.body += k as u64;
                        c.rec_left -= k as u64;
                        room -= k;
                    } else {
                        Net::<W>::fill(filler, buf, salt + c.body as usize, k);
                        c.body += k as u64;
                        c.rec_left -= k as u64;
                        room -= k;
                    }
                    continue;
                }
                let left = m.body - c.body;
                if left == 0 {
                    done = true;
                    break;
                }
                // A new record.
                let (n, hdr, hlen): (u64, [u8; 12], u8) = match m.framing {
                    Framing::Raw => (left, [0; 12], 0),
                    Framing::Tls => {
                        let n = left.min(16_384);
                        let l = (n as u16).to_be_bytes();
                        (n, [23, 3, 3, l[0], l[1], 0, 0, 0, 0, 0, 0, 0], 5)
                    }
                    Framing::Dicom(pc) => {
                        let n = left.min(16_372);
                        let last = n == left;
                        let pdu = ((n + 6) as u32).to_be_bytes();
                        let pdv = ((n + 2) as u32).to_be_bytes();
                        let h = [
                            4,
                            0,
                            pdu[0],
                            pdu[1],
                            pdu[2],
                            pdu[3],
                            pdv[0],
                            pdv[1],
                            pdv[2],
                            pdv[3],
                            pc,
                            if last { 2 } else { 0 },
                        ];
                        (n, h, 12)
                    }
                };
                c.rec_left = n;
                c.hdr = hdr;
                c.hdr_len = hlen;
                c.hdr_pos = 0;
            }
            if c.head >= m.head.len() && c.body >= m.body && c.hdr_pos >= c.hdr_len {
                done = true;
            }
        };
        // Build the segment; PSH when it ends the message.
        let other = 1 - from;
        let l3 = net.l3(self.host[from], self.host[other]);
        let id = net.h.hosts[self.host[from]].ip_id();
        let ports = (self.port[from], self.port[other]);
        let buf = net.frame.tcp(
            &l3,
            id,
            ports,
            self.seq[from],
            self.seq[other],
            flags::ACK,
            self.window[from],
            &[],
        );
        let before = buf.len();
        fill(buf, &net.filler);
        let len = buf.len() - before;
        if done {
            // Set PSH in place (flags byte at Ethernet 14 + IP 20 + 13).
            if let Some(b) = buf.get_mut(14 + 20 + 13) {
                *b |= flags::PSH;
            }
        }
        if len == 0 {
            // An empty message: nothing to send.
            buf.clear();
            self.msgs.pop_front();
            self.cur = Cursor::default();
            return Ok(Some(now));
        }
        self.seq[from] = self.seq[from].wrapping_add(len as u32);
        self.unacked[from] = 0;
        self.unacked[other] = self.unacked[other].saturating_add(1);
        net.write(now)?;
        let t = now + self.gap * len as u64 / 1514 + US;
        if !done {
            return Ok(Some(t));
        }
        self.msgs.pop_front();
        self.cur = Cursor::default();
        match self.msgs.front() {
            Some(next) if next.from == from => Ok(Some(t + next.think)),
            Some(next) => {
                let think = next.think;
                // The other side answers after a turn (its data carries the
                // acknowledgement).
                Ok(Some(now + self.turn(other) + think))
            }
            None => {
                // The receiver acknowledges the last message, then the
                // client closes.
                if self.unacked[other] > 0 {
                    self.unacked[other] = 2;
                }
                Ok(Some(now + self.turn(other)))
            }
        }
    }
}

/// `YYYYMMDDHHMMSS` for HL7 from nanoseconds since the epoch.
fn hl7_time(ns: u64) -> String {
    let secs = ns / SEC;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Kinds of session started by the arrival process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dns,
    Tls,
    Smb,
    Rdp,
    Ssh,
    DicomStore,
    DicomEcho,
    Hl7,
    Ike,
    VendorApi,
}

/// Starts per host and hour: (kind, which hosts, rate).
const RATES: &[(Kind, &str, f64)] = &[
    (Kind::Dns, "ws", 120.0),
    (Kind::Dns, "mod", 20.0),
    (Kind::Tls, "ws", 240.0),
    (Kind::Smb, "ws", 2.0),
    (Kind::Rdp, "ws", 0.5),
    (Kind::Ssh, "admin", 6.0),
    (Kind::DicomStore, "mod", 2.0),
    (Kind::DicomEcho, "mod", 12.0),
    (Kind::Hl7, "hl7", 60.0),
    (Kind::Ike, "vpn", 2.0),
    (Kind::VendorApi, "mod", 2.0),
];

impl<W: Write> Net<W> {
    fn group(&self, g: &str) -> &[usize] {
        match g {
            "ws" => &self.h.workstations,
            "mod" => &self.h.modalities,
            "hl7" => &self.h.hl7,
            "admin" => &self.h.admins,
            _ => std::slice::from_ref(&self.h.vpn),
        }
    }

    /// A UDP request and its answer between `client` and `server`.
    fn udp_pair(
        &mut self,
        client: usize,
        server: usize,
        dport: u16,
        q: Vec<u8>,
        a: Vec<u8>,
    ) -> Session {
        let sport = self.h.hosts[client].port();
        let delay = if self.is_internet(server) { 30 * MS } else { self.rng.range(100, 900) * US };
        Session::Udp(VecDeque::from([
            Dgram {
                l3: self.l3(client, server),
                id_host: client,
                ports: (sport, dport),
                payload: q,
                after: delay,
            },
            Dgram {
                l3: self.l3(server, client),
                id_host: server,
                ports: (dport, sport),
                payload: a,
                after: 0,
            },
        ]))
    }

    fn dns(&mut self, client: usize, name: &str, addr: [u8; 4]) -> Session {
        let id = self.rng.next_u32() as u16;
        let (mut q, mut a) = (Vec::new(), Vec::new());
        msgs::dns_query(id, name, &mut q);
        msgs::dns_answer(id, name, addr, 300, &mut a);
        let dc = self.h.dc;
        self.udp_pair(client, dc, 53, q, a)
    }

    /// DHCP: DISCOVER, OFFER, REQUEST, ACK by broadcast (`renew` false),
    /// or a unicast REQUEST/ACK renewal.
    fn dhcp(&mut self, host: usize, renew: bool) -> Session {
        let (dc, router) = (self.h.dc, self.h.router);
        let (c, s) = (&self.h.hosts[host], &self.h.hosts[dc]);
        let xid = self.rng.next_u32();
        let base = msgs::Dhcp {
            kind: DhcpType::Discover,
            xid,
            mac: c.mac,
            ciaddr: [0; 4],
            yiaddr: [0; 4],
            hostname: &c.name,
            vendor_class: c.vendor_class,
            requested: Some(c.ip),
            server: s.ip,
            router: self.h.hosts[router].ip,
            broadcast: false,
        };
        let bcast = [0xff; 6];
        let mut out = VecDeque::new();
        let mut push = |m: &msgs::Dhcp<'_>, client_side: bool, l3: L3, after: u64| {
            let mut p = Vec::with_capacity(342);
            msgs::dhcp(m, &mut p);
            let ports = if client_side { (68, 67) } else { (67, 68) };
            out.push_back(Dgram {
                l3,
                id_host: if client_side { host } else { dc },
                ports,
                payload: p,
                after,
            });
        };
        if renew {
            let m = msgs::Dhcp {
                kind: DhcpType::Request,
                ciaddr: c.ip,
                requested: None,
                ..base.clone()
            };
            let l3 = L3 { src_mac: c.mac, dst_mac: s.mac, src: c.ip, dst: s.ip, ttl: c.ttl };
            push(&m, true, l3, 400 * US);
            let m = msgs::Dhcp { kind: DhcpType::Ack, ciaddr: c.ip, yiaddr: c.ip, ..base.clone() };
            let l3 = L3 { src_mac: s.mac, dst_mac: c.mac, src: s.ip, dst: c.ip, ttl: s.ttl };
            push(&m, false, l3, 0);
        } else {
            let from_c =
                L3 { src_mac: c.mac, dst_mac: bcast, src: [0; 4], dst: [255; 4], ttl: c.ttl };
            let from_s =
                L3 { src_mac: s.mac, dst_mac: bcast, src: s.ip, dst: [255; 4], ttl: s.ttl };
            let b = msgs::Dhcp { broadcast: true, ..base.clone() };
            push(&b, true, from_c, 2 * MS);
            push(
                &msgs::Dhcp { kind: DhcpType::Offer, yiaddr: c.ip, ..b.clone() },
                false,
                from_s,
                20 * MS,
            );
            push(&msgs::Dhcp { kind: DhcpType::Request, ..b.clone() }, true, from_c, 2 * MS);
            push(&msgs::Dhcp { kind: DhcpType::Ack, yiaddr: c.ip, ..b.clone() }, false, from_s, 0);
        }
        Session::Udp(out)
    }

    /// A size for a response or file: mostly small, some medium, a few
    /// very large (most bytes end up in those few).
    fn size(
        &mut self,
        small: (u64, u64),
        medium: (u64, u64),
        large: (u64, u64),
        p_med: f64,
        p_large: f64,
    ) -> u64 {
        let u = if self.small { 1.0 } else { self.rng.unit() };
        let (lo, hi) = if u < p_large {
            large
        } else if u < p_large + p_med {
            medium
        } else {
            small
        };
        self.rng.log_uniform(lo, hi)
    }

    fn tls_msgs(
        &mut self,
        sni: Option<&str>,
        alpn: &[&str],
        rounds: u64,
        resp: impl Fn(&mut Self) -> u64,
    ) -> Vec<Msg> {
        let mut ch = Vec::with_capacity(600);
        msgs::client_hello(&mut self.rng, sni, alpn, &mut ch);
        let mut sh = Vec::with_capacity(4000);
        let enc = self.rng.range(1800, 4500) as u16;
        msgs::server_hello(&mut self.rng, enc, &mut sh);
        let mut fin = Vec::with_capacity(64);
        msgs::client_finished(&mut self.rng, &mut fin);
        let mut v = vec![Msg::new(0, ch), Msg::new(1, sh)];
        for r in 0..rounds {
            let req = self.rng.range(200, 1200);
            let head = if r == 0 { std::mem::take(&mut fin) } else { Vec::new() };
            let think = if r == 0 { 0 } else { self.rng.range(1, 2000) * MS };
            v.push(Msg::new(0, head).body(Framing::Tls, req).think(think));
            let n = resp(self);
            v.push(Msg::new(1, Vec::new()).body(Framing::Tls, n).think(self.rng.range(1, 30) * MS));
        }
        v
    }

    /// Starts a session of `kind` at `t` from a host of its group.
    fn start(&mut self, kind: Kind, host: usize, t: u64) {
        match kind {
            Kind::Dns => {
                let internal =
                    ["pacs01", "his-engine", "fs01", "ts01", "ehr-app01", "dc01", "wpad", "time"];
                let name =
                    format!("{}.{DOMAIN}", self.rng.pick(&internal).copied().unwrap_or("dc01"));
                let ip = [10, 20, 1, self.rng.range(2, 60) as u8];
                let s = self.dns(host, &name, ip);
                self.spawn.push((t, s));
            }
            Kind::Tls | Kind::VendorApi => {
                let svc = if kind == Kind::VendorApi {
                    VENDOR_API
                } else {
                    self.rng.below((INTERNET.len() - 2) as u64) as usize
                };
                let server = self.h.internet + svc;
                let name = INTERNET[svc].name;
                let d = self.dns(host, name, INTERNET[svc].ip);
                self.spawn.push((t, d));
                let rounds = self.rng.range(1, 4);
                let m = self.tls_msgs(Some(name), &["h2", "http/1.1"], rounds, |n| {
                    n.size((500, 40_000), (40_000, 1_000_000), (1_000_000, 50_000_000), 0.08, 0.004)
                });
                let s = Tcp::new(self, host, server, 443, m);
                self.spawn.push((t + 2 * MS, Session::Tcp(Box::new(s))));
            }
            Kind::Smb => {
                let fs = self.h.fs;
                let mut g = [0u8; 32];
                self.rng.fill(&mut g);
                let (cg, sg) =
                    (g[..16].try_into().unwrap_or([0; 16]), g[16..].try_into().unwrap_or([0; 16]));
                let mut v = Vec::new();
                let mut q = Vec::new();
                msgs::smb2_negotiate_request(cg, &mut q);
                v.push(Msg::new(0, q));
                let mut a = Vec::new();
                let filetime = (t / 100) + 116_444_736_000_000_000;
                msgs::smb2_negotiate_response(sg, filetime, &mut a);
                v.push(Msg::new(1, a));
                let size = self.size(
                    (10_000, 200_000),
                    (200_000, 5_000_000),
                    (5_000_000, 100_000_000),
                    0.3,
                    0.05,
                );
                let (tree, session) = (self.rng.range(1, 9) as u32, self.rng.next_u64() | 1);
                let mut fid = [0u8; 16];
                self.rng.fill(&mut fid);
                let mut off = 0u64;
                let mut id = 2u64;
                while off < size {
                    let n = (size - off).min(1 << 20) as u32;
                    let mut q = Vec::new();
                    msgs::smb2_read_request(id, tree, session, fid, off, n, &mut q);
                    v.push(Msg::new(0, q).think(50 * US));
                    let mut h = Vec::new();
                    msgs::smb2_read_response_head(id, tree, session, n, &mut h);
                    v.push(Msg::new(1, h).body(Framing::Raw, u64::from(n)).think(200 * US));
                    off += u64::from(n);
                    id += 1;
                }
                let s = Tcp::new(self, host, fs, 445, v);
                self.spawn.push((t, Session::Tcp(Box::new(s))));
            }
            Kind::Rdp => {
                let ts = self.h.ts;
                let user = format!("user{:04}", host % 10_000);
                let mut v = Vec::new();
                let mut cr = Vec::new();
                msgs::rdp_connection_request(&user, &mut cr);
                v.push(Msg::new(0, cr));
                let mut cc = Vec::new();
                msgs::rdp_connection_confirm(&mut cc);
                v.push(Msg::new(1, cc));
                let rounds = self.rng.range(3, 40);
                let mut tls = self.tls_msgs(None, &[], rounds, |n| {
                    n.size((2_000, 60_000), (60_000, 600_000), (600_000, 6_000_000), 0.1, 0.01)
                });
                v.append(&mut tls);
                let s = Tcp::new(self, host, ts, 3389, v);
                self.spawn.push((t, Session::Tcp(Box::new(s))));
            }
            Kind::Ssh => {
                let server = if self.rng.chance(0.5) { self.h.app } else { self.h.pacs };
                let mut v = vec![
                    Msg::new(1, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec()),
                    Msg::new(0, b"SSH-2.0-OpenSSH_for_Windows_9.5\r\n".to_vec()),
                ];
                let mut k = Vec::new();
                msgs::ssh_kexinit(&mut self.rng, false, &mut k);
                v.push(Msg::new(0, k));
                let mut k = Vec::new();
                msgs::ssh_kexinit(&mut self.rng, true, &mut k);
                v.push(Msg::new(1, k));
                let mut nk = Vec::new();
                msgs::ssh_newkeys(&mut nk);
                v.push(Msg::new(0, nk.clone()));
                v.push(Msg::new(1, nk));
                for _ in 0..self.rng.range(5, 60) {
                    let c = 36 + 16 * self.rng.below(4);
                    v.push(
                        Msg::new(0, Vec::new())
                            .body(Framing::Raw, c)
                            .think(self.rng.range(50, 2000) * MS),
                    );
                    let s =
                        self.size((36, 2_000), (2_000, 100_000), (100_000, 20_000_000), 0.1, 0.02);
                    v.push(Msg::new(1, Vec::new()).body(Framing::Raw, s));
                }
                let s = Tcp::new(self, host, server, 22, v);
                self.spawn.push((t, Session::Tcp(Box::new(s))));
            }
            Kind::DicomStore | Kind::DicomEcho => self.dicom(host, kind == Kind::DicomStore, t),
            Kind::Hl7 => {
                let Role::Hl7Sender(f) = self.h.hosts[host].role else { return };
                let feed = HL7_FEEDS[f];
                let (to_app, to_fac) = HL7_ENGINE;
                let mut v = Vec::new();
                for i in 0..self.rng.range(1, 8) {
                    let when = hl7_time(t + i * SEC);
                    let ctl = self.rng.below(100_000_000) as u32;
                    let mut m = Vec::with_capacity(300);
                    msgs::hl7(
                        feed.app,
                        feed.facility,
                        to_app,
                        to_fac,
                        &when,
                        feed.kind,
                        ctl,
                        &mut m,
                    );
                    v.push(Msg::new(0, m).think(if i == 0 {
                        0
                    } else {
                        self.rng.range(10, 800) * MS
                    }));
                    let mut a = Vec::with_capacity(160);
                    msgs::hl7_ack(to_app, to_fac, feed.app, feed.facility, &when, ctl, &mut a);
                    v.push(Msg::new(1, a).think(self.rng.range(1, 20) * MS));
                }
                let his = self.h.his;
                let s = Tcp::new(self, host, his, 2575, v);
                self.spawn.push((t, Session::Tcp(Box::new(s))));
            }
            Kind::Ike => {
                let peer = self.h.internet + VENDOR_VPN;
                let (spi_i, spi_r) = (self.rng.next_u64() | 1, self.rng.next_u64() | 1);
                let mut out = VecDeque::new();
                for (resp, auth) in [(false, false), (true, false), (false, true), (true, true)] {
                    let mut p = Vec::with_capacity(400);
                    let r = if resp || auth { spi_r } else { 0 };
                    if auth {
                        msgs::ike_auth(&mut self.rng, spi_i, r, resp, &mut p);
                    } else {
                        msgs::ike_sa_init(&mut self.rng, spi_i, r, resp, &mut p);
                    }
                    let (a, b) = if resp { (peer, host) } else { (host, peer) };
                    let after = if resp { 5 * MS } else { 35 * MS };
                    out.push_back(Dgram {
                        l3: self.l3(a, b),
                        id_host: a,
                        ports: (500, 500),
                        payload: p,
                        after,
                    });
                }
                self.spawn.push((t, Session::Udp(out)));
                let esp = Esp {
                    host: [host, peer],
                    spi: [self.rng.next_u32() | 0x100, self.rng.next_u32() | 0x100],
                    seq: [0, 0],
                    left: self.size(
                        (20_000, 500_000),
                        (500_000, 20_000_000),
                        (20_000_000, 60_000_000),
                        0.4,
                        0.1,
                    ),
                    gap: self.rng.range(200, 2000) * US,
                };
                self.spawn.push((t + 200 * MS, Session::Esp(esp)));
            }
        }
    }

    fn dicom(&mut self, host: usize, store: bool, t: u64) {
        let Role::Modality(mi) = self.h.hosts[host].role else { return };
        let m = MODALITIES[mi];
        let pacs = self.h.pacs;
        let calling = self.h.hosts[host].ae.clone();
        let called = self.h.hosts[pacs].ae.clone();
        let ctx: Vec<(u8, &str)> = if store {
            vec![(1, msgs::uid::VERIFICATION), (3, m.sop_class)]
        } else {
            vec![(1, msgs::uid::VERIFICATION)]
        };
        let impl_uid = "2.25.131000100420261101";
        let mut rq = Vec::new();
        msgs::associate(
            &msgs::Associate {
                called: &called,
                calling: &calling,
                contexts: &ctx,
                impl_uid,
                impl_version: m.impl_version,
            },
            false,
            &mut rq,
        );
        let mut ac = Vec::new();
        msgs::associate(
            &msgs::Associate {
                called: &called,
                calling: &calling,
                contexts: &ctx,
                impl_uid: "2.25.131000100420261102",
                impl_version: "SYNTH_PACS_7",
            },
            true,
            &mut ac,
        );
        let mut v = vec![Msg::new(0, rq), Msg::new(1, ac)];
        let mut id = 1u16;
        let mut e = Vec::new();
        msgs::pdata_command(1, Dimse::EchoRq { msg_id: id }, &mut e);
        v.push(Msg::new(0, e));
        let mut e = Vec::new();
        msgs::pdata_command(1, Dimse::EchoRsp { msg_id: id }, &mut e);
        v.push(Msg::new(1, e));
        if store {
            let images = if self.small { 2 } else { self.rng.range(m.images.0, m.images.1) };
            for _ in 0..images {
                id = id.wrapping_add(1);
                let inst = msgs::synthetic_uid(&mut self.rng);
                let px = self.rng.range(m.image_bytes.0, m.image_bytes.1) & !1;
                let mut c = Vec::new();
                msgs::pdata_command(
                    3,
                    Dimse::StoreRq { msg_id: id, sop_class: m.sop_class, instance: &inst },
                    &mut c,
                );
                let prefix = msgs::dataset_prefix(m.sop_class, &inst, m.code, px as u32);
                let total = prefix.len() as u64 + px;
                let mut msg = Msg::new(0, c).body(Framing::Dicom(3), total).think(300 * US);
                msg.prefix = prefix;
                v.push(msg);
                let mut r = Vec::new();
                msgs::pdata_command(
                    3,
                    Dimse::StoreRsp { msg_id: id, sop_class: m.sop_class, instance: &inst },
                    &mut r,
                );
                v.push(Msg::new(1, r).think(2 * MS));
            }
        }
        let mut r = Vec::new();
        msgs::release(false, &mut r);
        v.push(Msg::new(0, r));
        let mut r = Vec::new();
        msgs::release(true, &mut r);
        v.push(Msg::new(1, r));
        let s = Tcp::new(self, host, pacs, 104, v);
        self.spawn.push((t, Session::Tcp(Box::new(s))));
    }
}

impl Session {
    fn step<W: Write>(&mut self, net: &mut Net<W>, now: u64) -> Result<Option<u64>, Error> {
        match self {
            Session::Tcp(t) => t.step(net, now),
            Session::Udp(q) => {
                let Some(d) = q.pop_front() else { return Ok(None) };
                let id = net.h.hosts[d.id_host].ip_id();
                net.frame.udp(&d.l3, id, d.ports.0, d.ports.1).extend_from_slice(&d.payload);
                net.write(now)?;
                Ok((!q.is_empty()).then_some(now + d.after))
            }
            Session::Esp(e) => {
                // Two packets out for one back, 100–1400 bytes.
                let side = usize::from(net.rng.below(3) == 0);
                let n = if net.rng.chance(0.6) { 1400 } else { net.rng.range(100, 1400) } as usize;
                let l3 = net.l3(e.host[side], e.host[1 - side]);
                let id = net.h.hosts[e.host[side]].ip_id();
                e.seq[side] = e.seq[side].wrapping_add(1);
                let salt = net.rng.below(FILLER as u64) as usize;
                let buf = net.frame.esp(&l3, id, e.spi[side], e.seq[side]);
                Net::<W>::fill(&net.filler, buf, salt, n);
                net.write(now)?;
                e.left = e.left.saturating_sub(n as u64);
                Ok((e.left > 0).then_some(now + e.gap * n as u64 / 1400))
            }
        }
    }
}

/// What a run wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Packets written.
    pub packets: u64,
    /// Bytes of the file (headers included).
    pub bytes: u64,
    /// Sessions started (TCP connections, UDP exchanges, ESP tunnels).
    pub sessions: u64,
    /// Time of the first and last packet (ns since the epoch).
    pub first_ns: u64,
    pub last_ns: u64,
}

const ARRIVAL: usize = usize::MAX;

/// The event queue: sessions in slots, each due at a time; ties keep the
/// order of insertion (so a run is deterministic).
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slots: Vec<Option<Session>>,
    free: Vec<usize>,
    order: u64,
}

impl Queue {
    fn push(&mut self, t: u64, slot: usize) {
        self.order += 1;
        self.heap.push(Reverse((t, self.order, slot)));
    }

    fn pop(&mut self) -> Option<(u64, usize)> {
        self.heap.pop().map(|Reverse((t, _, slot))| (t, slot))
    }

    /// Queues new sessions (none earlier than `now`); returns how many.
    fn schedule(&mut self, spawn: &mut Vec<(u64, Session)>, now: u64) -> u64 {
        let n = spawn.len() as u64;
        for (t, s) in spawn.drain(..) {
            let slot = match self.free.pop() {
                Some(i) => {
                    if let Some(x) = self.slots.get_mut(i) {
                        *x = Some(s);
                    }
                    i
                }
                None => {
                    self.slots.push(Some(s));
                    self.slots.len() - 1
                }
            };
            self.push(t.max(now), slot);
        }
        n
    }
}

/// Runs the simulation into `out`.
pub(crate) fn run<W: Write>(cfg: &crate::Config, out: W) -> Result<Summary, Error> {
    let mut rng = Rng::new(cfg.seed);
    let h = Hospital::new(cfg.hosts, &mut rng);
    let mut filler = vec![0u8; FILLER];
    rng.fill(&mut filler);
    let t0 = cfg.start_unix.saturating_mul(SEC);
    let dur = u64::try_from(cfg.duration.as_nanos()).unwrap_or(u64::MAX).max(SEC);
    let mut net = Net {
        h,
        rng,
        frame: Frame::new(),
        pcap: PcapWriter::new(out).map_err(Error::Write)?,
        filler,
        spawn: Vec::new(),
        small: false,
        end: t0.saturating_add(dur),
    };
    let max_bytes = cfg.max_bytes.unwrap_or(u64::MAX);
    let mut q = Queue::default();
    let mut summary = Summary { first_ns: u64::MAX, ..Summary::default() };

    // Every DHCP host asks for its lease in the first 5% of the run (at
    // most two minutes), and renews every half hour.
    let boot = (dur / 20).clamp(SEC, 120 * SEC);
    for i in 0..net.h.hosts.len() {
        if net.h.hosts[i].dhcp() {
            let t = t0 + net.rng.below(boot);
            let s = net.dhcp(i, false);
            net.spawn.push((t, s));
            let mut r = t + 1800 * SEC;
            while r < net.end {
                let s = net.dhcp(i, true);
                net.spawn.push((r, s));
                r += 1800 * SEC;
            }
        }
    }
    // Every kind of session once, small, right after boot: a capture of
    // any size shows every protocol.
    net.small = true;
    let mut t = t0 + boot;
    for &(kind, group, _) in RATES {
        if let Some(&host) = net.group(group).first() {
            net.start(kind, host, t);
            t += 50 * MS;
        }
    }
    net.small = false;
    summary.sessions += q.schedule(&mut net.spawn, t0);
    // Arrivals: one Poisson process over all kinds, thinned by weight.
    let weights: Vec<(Kind, &str, f64)> =
        RATES.iter().map(|&(k, g, r)| (k, g, r * net.group(g).len() as f64 / 3600.0)).collect();
    let total: f64 = weights.iter().map(|w| w.2).sum();
    q.push(t0 + boot / 2, ARRIVAL);

    while let Some((now, slot)) = q.pop() {
        if net.pcap.bytes >= max_bytes {
            break;
        }
        if slot == ARRIVAL {
            // Arrivals go on past the duration only to reach --size-mb.
            if now < net.end || cfg.max_bytes.is_some() {
                let mut x = net.rng.unit() * total;
                let mut kind = weights.first().map(|w| (w.0, w.1));
                for w in &weights {
                    if x < w.2 {
                        kind = Some((w.0, w.1));
                        break;
                    }
                    x -= w.2;
                }
                if let Some((k, g)) = kind {
                    let n = net.group(g).len() as u64;
                    let pick = net.rng.below(n) as usize;
                    let host = net.group(g).get(pick).copied();
                    if let Some(host) = host {
                        net.start(k, host, now);
                    }
                }
                let next = now + (net.rng.exp(1e9 / total.max(1e-9)) as u64).max(1);
                q.push(next, ARRIVAL);
            }
        } else if let Some(mut s) = q.slots.get_mut(slot).and_then(Option::take) {
            summary.first_ns = summary.first_ns.min(now);
            summary.last_ns = summary.last_ns.max(now);
            match s.step(&mut net, now)? {
                Some(t) => {
                    if let Some(x) = q.slots.get_mut(slot) {
                        *x = Some(s);
                    }
                    q.push(t.max(now), slot);
                }
                None => q.free.push(slot),
            }
        }
        summary.sessions += q.schedule(&mut net.spawn, now);
    }
    summary.packets = net.pcap.packets;
    summary.bytes = net.pcap.bytes;
    if summary.first_ns == u64::MAX {
        summary.first_ns = 0;
    }
    net.pcap.finish().map_err(Error::Write)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hl7_time_is_civil_utc() {
        // 2026-11-02T08:00:00Z = 1793606400.
        assert_eq!(hl7_time(1_793_606_400 * SEC), "20261102080000");
        assert_eq!(hl7_time(0), "19700101000000");
    }
}
