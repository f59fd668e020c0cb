//! NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) export packets.
//!
//! Two entry points:
//! - [`probe_datagram`] names a UDP flow carrying export packets
//!   ([`App::NetflowV5`], [`App::NetflowV9`], [`App::Ipfix`]);
//! - [`Decoder`] is the flow collector's sans-I/O decoder: it holds the
//!   templates each exporter announced (per exporter address, observation
//!   domain / source ID and template ID) and turns each export datagram into
//!   [`FlowRecord`]s. Data sets whose template is not known yet are counted
//!   in the [`Summary`], never dropped silently; options data is read only
//!   for the exporter's system init time (IPFIX element 160) and otherwise
//!   skipped; unknown and enterprise-specific fields are skipped by length;
//!   IPFIX variable-length fields are supported.
//!
//! Memory is bounded: at most [`Decoder::MAX_TEMPLATES`] templates of at
//! most [`MAX_TEMPLATE_FIELDS`] fields each; further templates are refused
//! and counted.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};
use crate::reader::{Incomplete, Reader};

/// The most fields a template may have (IPFIX allows 65535; real
/// exporters use a few dozen).
pub const MAX_TEMPLATE_FIELDS: usize = 512;

/// Why an export datagram could not be decoded. Records decoded before the
/// error are kept in the output vector.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    /// The datagram ended inside `field`.
    #[error("export packet truncated in {field} at offset {offset}")]
    Truncated { field: &'static str, offset: usize },
    /// The version field is not 5, 9 or 10.
    #[error("unsupported flow export version {version}")]
    Version { version: u16 },
    /// A header or set field holds an impossible value.
    #[error("invalid {field} {value} at offset {offset}")]
    Invalid { field: &'static str, offset: usize, value: u64 },
}

impl Error {
    fn truncated(field: &'static str) -> impl Fn(Incomplete) -> Error {
        move |i| Error::Truncated { field, offset: i.offset }
    }
}

/// Which export format a datagram or record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExportVersion {
    V5,
    V9,
    Ipfix,
}

impl ExportVersion {
    /// The protocol name for the sensor.
    pub fn app(self) -> App {
        match self {
            ExportVersion::V5 => App::NetflowV5,
            ExportVersion::V9 => App::NetflowV9,
            ExportVersion::Ipfix => App::Ipfix,
        }
    }
}

/// A flow's start or end time as the exporter stated it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowTime {
    /// Milliseconds since the Unix epoch (v5/v9 uptime converted with the
    /// header's clock; IPFIX absolute times; IPFIX uptime converted with
    /// the exporter's announced system init time).
    UnixMillis(u64),
    /// Milliseconds of the exporter's uptime, when no conversion was
    /// possible (IPFIX elements 21/22 before the exporter announced its
    /// system init time).
    UptimeMillis(u32),
}

/// One flow record, whatever format carried it. Fields the template did
/// not carry are zero / `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    pub version: ExportVersion,
    /// v9 source ID / IPFIX observation domain ID (v5: engine type << 8 |
    /// engine ID).
    pub domain: u32,
    /// The template the record was decoded with (0 for v5).
    pub template_id: u16,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number.
    pub protocol: u8,
    pub packets: u64,
    pub bytes: u64,
    pub first: Option<FlowTime>,
    pub last: Option<FlowTime>,
    /// SNMP ifIndex of the input and output interfaces.
    pub input_if: Option<u32>,
    pub output_if: Option<u32>,
    /// Cumulative TCP flags (low 8 bits).
    pub tcp_flags: Option<u8>,
}

impl FlowRecord {
    fn empty(version: ExportVersion, domain: u32, template_id: u16) -> FlowRecord {
        FlowRecord {
            version,
            domain,
            template_id,
            src: None,
            dst: None,
            src_port: 0,
            dst_port: 0,
            protocol: 0,
            packets: 0,
            bytes: 0,
            first: None,
            last: None,
            input_if: None,
            output_if: None,
            tcp_flags: None,
        }
    }
}

/// What one export datagram held besides its flow records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub version: Option<ExportVersion>,
    /// v9 source ID / IPFIX observation domain ID.
    pub domain: u32,
    /// The header's sequence number.
    pub sequence: u32,
    /// The header's export time (Unix seconds).
    pub export_secs: u32,
    /// Flow records appended to the output.
    pub records: u32,
    /// Templates (data and options) learnt or refreshed.
    pub templates: u32,
    /// Templates withdrawn (IPFIX field count 0).
    pub withdrawn: u32,
    /// Templates refused (decoder full, too many fields, zero length).
    pub templates_refused: u32,
    /// Options data records read (and not turned into flows).
    pub options_records: u32,
    /// Data sets whose template was not known: their records are lost
    /// until the exporter resends the template.
    pub sets_without_template: u32,
    /// Bytes in those sets.
    pub bytes_without_template: u32,
    /// Sets with a reserved ID, skipped.
    pub reserved_sets: u32,
}

/// How a template field is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    /// Information element ID (0 for enterprise-specific elements: they
    /// are skipped, never interpreted).
    id: u16,
    /// Length in bytes; [`VARIABLE`] for IPFIX variable-length fields.
    len: u16,
}

const VARIABLE: u16 = 0xffff;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Template {
    fields: Box<[Field]>,
    /// The fewest bytes a record can take (a variable field takes ≥ 1).
    min_len: usize,
    options: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct TemplateKey {
    exporter: SocketAddr,
    domain: u32,
    id: u16,
}

/// The collector's decoder: templates per exporter and domain, and the
/// exporters' system init times.
#[derive(Debug, Default)]
pub struct Decoder {
    templates: HashMap<TemplateKey, Template>,
    init_ms: HashMap<(SocketAddr, u32), u64>,
}

impl Decoder {
    /// The most templates held, over all exporters.
    pub const MAX_TEMPLATES: usize = 4096;

    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// How many templates are held.
    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    /// Decodes one export datagram sent by `exporter`, appending its flow
    /// records to `out`. On error, the records decoded before it stay in
    /// `out` and the templates learnt before it are kept.
    pub fn decode(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<Summary, Error> {
        let r = Reader::new(datagram);
        let version = r.peek(2).map_err(Error::truncated("version"))?;
        match version {
            [0, 5] => decode_v5(datagram, out),
            [0, 9] => self.decode_v9(exporter, datagram, out),
            [0, 10] => self.decode_ipfix(exporter, datagram, out),
            [a, b] => Err(Error::Version { version: u16::from_be_bytes([*a, *b]) }),
            _ => Err(Error::Truncated { field: "version", offset: 0 }),
        }
    }

    fn decode_v9(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<Summary, Error> {
        let mut r = Reader::new(datagram);
        r.skip(4).map_err(Error::truncated("header"))?;
        let uptime = r.u32_be().map_err(Error::truncated("sys_uptime"))?;
        let secs = r.u32_be().map_err(Error::truncated("unix_secs"))?;
        let sequence = r.u32_be().map_err(Error::truncated("sequence"))?;
        let domain = r.u32_be().map_err(Error::truncated("source_id"))?;
        let mut sum = Summary {
            version: Some(ExportVersion::V9),
            domain,
            sequence,
            export_secs: secs,
            ..Summary::default()
        };
        let clock = Clock::Header { export_ms: u64::from(secs) * 1000, uptime_ms: uptime };
        while r.remaining() >= 4 {
            let (id, body, body_off) = set(&mut r)?;
            match id {
                0 => self.v9_templates(exporter, domain, body, body_off, false, &mut sum)?,
                1 => self.v9_templates(exporter, domain, body, body_off, true, &mut sum)?,
                2..=255 => sum.reserved_sets += 1,
                _ => self.data_set(
                    exporter,
                    ExportVersion::V9,
                    domain,
                    id,
                    body,
                    clock,
                    &mut sum,
                    out,
                ),
            }
        }
        Ok(sum)
    }

    fn decode_ipfix(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<Summary, Error> {
        let mut r = Reader::new(datagram);
        r.skip(2).map_err(Error::truncated("header"))?;
        let len = r.u16_be().map_err(Error::truncated("length"))?;
        let secs = r.u32_be().map_err(Error::truncated("export_time"))?;
        let sequence = r.u32_be().map_err(Error::truncated("sequence"))?;
        let domain = r.u32_be().map_err(Error::truncated("observation_domain"))?;
        if usize::from(len) < 16 || usize::from(len) > datagram.len() {
            return Err(Error::Invalid { field: "message length", offset: 2, value: len.into() });
        }
        let mut sum = Summary {
            version: Some(ExportVersion::Ipfix),
            domain,
            sequence,
            export_secs: secs,
            ..Summary::default()
        };
        let message = datagram.get(..usize::from(len)).unwrap_or_default();
        let mut r = Reader::new(message);
        r.skip(16).map_err(Error::truncated("header"))?;
        while r.remaining() >= 4 {
            let (id, body, body_off) = set(&mut r)?;
            match id {
                2 => self.ipfix_templates(exporter, domain, body, body_off, false, &mut sum)?,
                3 => self.ipfix_templates(exporter, domain, body, body_off, true, &mut sum)?,
                0..=255 => sum.reserved_sets += 1,
                _ => {
                    let clock = match self.init_ms.get(&(exporter, domain)) {
                        Some(&init_ms) => Clock::Init { init_ms },
                        None => Clock::None,
                    };
                    self.data_set(
                        exporter,
                        ExportVersion::Ipfix,
                        domain,
                        id,
                        body,
                        clock,
                        &mut sum,
                        out,
                    );
                }
            }
        }
        if r.remaining() > 0 {
            return Err(Error::Invalid {
                field: "trailing bytes",
                offset: r.offset(),
                value: r.remaining() as u64,
            });
        }
        Ok(sum)
    }

    fn insert(&mut self, key: TemplateKey, t: Template, sum: &mut Summary) {
        if t.min_len == 0 || t.fields.len() > MAX_TEMPLATE_FIELDS {
            sum.templates_refused += 1;
            return;
        }
        if self.templates.len() >= Decoder::MAX_TEMPLATES && !self.templates.contains_key(&key) {
            sum.templates_refused += 1;
            return;
        }
        self.templates.insert(key, t);
        sum.templates += 1;
    }

    fn v9_templates(
        &mut self,
        exporter: SocketAddr,
        domain: u32,
        body: &[u8],
        body_off: usize,
        options: bool,
        sum: &mut Summary,
    ) -> Result<(), Error> {
        let at =
            |i: Incomplete| Error::Truncated { field: "template", offset: body_off + i.offset };
        let mut r = Reader::new(body);
        // Anything shorter than a template header is padding.
        while r.remaining() >= 4 {
            let id = r.u16_be().map_err(at)?;
            let fields = if options {
                let scope_len = r.u16_be().map_err(at)?;
                let opt_len = r.u16_be().map_err(at)?;
                let n = (usize::from(scope_len) + usize::from(opt_len)) / 4;
                read_fields(&mut r, n, false).map_err(at)?
            } else {
                let n = r.u16_be().map_err(at)?;
                read_fields(&mut r, usize::from(n), false).map_err(at)?
            };
            if id < 256 {
                return Err(Error::Invalid {
                    field: "template id",
                    offset: body_off + r.offset(),
                    value: id.into(),
                });
            }
            let t = template(fields, options);
            self.insert(TemplateKey { exporter, domain, id }, t, sum);
        }
        Ok(())
    }

    fn ipfix_templates(
        &mut self,
        exporter: SocketAddr,
        domain: u32,
        body: &[u8],
        body_off: usize,
        options: bool,
        sum: &mut Summary,
    ) -> Result<(), Error> {
        let at =
            |i: Incomplete| Error::Truncated { field: "template", offset: body_off + i.offset };
        let mut r = Reader::new(body);
        while r.remaining() >= 4 {
            let id = r.u16_be().map_err(at)?;
            let n = r.u16_be().map_err(at)?;
            if id < 256 {
                return Err(Error::Invalid {
                    field: "template id",
                    offset: body_off + r.offset(),
                    value: id.into(),
                });
            }
            if n == 0 {
                // Template withdrawal (RFC 7011 section 8.1).
                if self.templates.remove(&TemplateKey { exporter, domain, id }).is_some() {
                    sum.withdrawn += 1;
                }
                continue;
            }
            if options {
                let _scope_count = r.u16_be().map_err(at)?;
            }
            let fields = read_fields(&mut r, usize::from(n), true).map_err(at)?;
            let t = template(fields, options);
            self.insert(TemplateKey { exporter, domain, id }, t, sum);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn data_set(
        &mut self,
        exporter: SocketAddr,
        version: ExportVersion,
        domain: u32,
        id: u16,
        body: &[u8],
        clock: Clock,
        sum: &mut Summary,
        out: &mut Vec<FlowRecord>,
    ) {
        let Some(t) = self.templates.get(&TemplateKey { exporter, domain, id }) else {
            sum.sets_without_template += 1;
            sum.bytes_without_template =
                sum.bytes_without_template.saturating_add(u32::try_from(body.len()).unwrap_or(0));
            return;
        };
        let mut r = Reader::new(body);
        let mut init = None;
        // Anything shorter than the smallest record is padding.
        while r.remaining() >= t.min_len {
            let mut rec = FlowRecord::empty(version, domain, id);
            let mut times = Times::default();
            let ok = t.fields.iter().all(|f| {
                let Ok(v) = field_value(&mut r, f.len) else {
                    return false;
                };
                if t.options {
                    if f.id == 160 {
                        init = Some(uint(v));
                    }
                } else {
                    apply(&mut rec, &mut times, f.id, v);
                }
                true
            });
            if !ok {
                // A variable-length field ran past the set: the rest is lost.
                break;
            }
            if t.options {
                sum.options_records += 1;
            } else {
                rec.first = times.first.map(|t| clock.convert(t));
                rec.last = times.last.map(|t| clock.convert(t));
                out.push(rec);
                sum.records += 1;
            }
        }
        if let Some(ms) = init
            && (self.init_ms.len() < Decoder::MAX_TEMPLATES
                || self.init_ms.contains_key(&(exporter, domain)))
        {
            self.init_ms.insert((exporter, domain), ms);
        }
    }
}

/// A set/flowset header and its body. Errors when the length is shorter
/// than the header or runs past the datagram.
fn set<'a>(r: &mut Reader<'a>) -> Result<(u16, &'a [u8], usize), Error> {
    let off = r.offset();
    let id = r.u16_be().map_err(Error::truncated("set id"))?;
    let len = r.u16_be().map_err(Error::truncated("set length"))?;
    if len < 4 {
        return Err(Error::Invalid { field: "set length", offset: off + 2, value: len.into() });
    }
    let body = r.take(usize::from(len) - 4).map_err(Error::truncated("set"))?;
    Ok((id, body, off + 4))
}

fn read_fields(r: &mut Reader<'_>, n: usize, ipfix: bool) -> Result<Vec<Field>, Incomplete> {
    // Bounded by the bytes present (4 per field), not by the claimed count.
    let mut fields = Vec::with_capacity(n.min(r.remaining() / 4).min(MAX_TEMPLATE_FIELDS + 1));
    for _ in 0..n {
        let raw = r.u16_be()?;
        let len = r.u16_be()?;
        let id = if ipfix && raw & 0x8000 != 0 {
            r.skip(4)?; // enterprise number
            0
        } else {
            raw
        };
        if fields.len() <= MAX_TEMPLATE_FIELDS {
            fields.push(Field { id, len: if ipfix { len } else { len.min(VARIABLE - 1) } });
        }
    }
    Ok(fields)
}

fn template(fields: Vec<Field>, options: bool) -> Template {
    let min_len =
        fields.iter().map(|f| if f.len == VARIABLE { 1 } else { usize::from(f.len) }).sum();
    Template { fields: fields.into_boxed_slice(), min_len, options }
}

fn field_value<'a>(r: &mut Reader<'a>, len: u16) -> Result<&'a [u8], Incomplete> {
    if len != VARIABLE {
        return r.take(usize::from(len));
    }
    let n = r.u8()?;
    if n < 255 {
        return r.take(usize::from(n));
    }
    let n = r.u16_be()?;
    r.take(usize::from(n))
}

/// An unsigned integer of any encoded length (reduced-size encoding);
/// more than 8 bytes keeps the low 8.
fn uint(v: &[u8]) -> u64 {
    v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn addr(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => <[u8; 4]>::try_from(v).ok().map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        16 => <[u8; 16]>::try_from(v).ok().map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

/// Start and end as found in a record, before conversion.
#[derive(Default)]
struct Times {
    first: Option<RawTime>,
    last: Option<RawTime>,
}

#[derive(Clone, Copy)]
enum RawTime {
    Uptime(u32),
    Unix(u64),
}

#[derive(Clone, Copy)]
enum Clock {
    /// v5/v9: the header's export time and uptime.
    Header {
        export_ms: u64,
        uptime_ms: u32,
    },
    /// IPFIX: the exporter's system init time (element 160).
    Init {
        init_ms: u64,
    },
    None,
}

impl Clock {
    fn convert(self, t: RawTime) -> FlowTime {
        match (t, self) {
            (RawTime::Unix(ms), _) => FlowTime::UnixMillis(ms),
            (RawTime::Uptime(up), Clock::Header { export_ms, uptime_ms }) => {
                // How long before the export the flow's time was, modulo the
                // 32-bit uptime wrap.
                let ago = u64::from(uptime_ms.wrapping_sub(up));
                FlowTime::UnixMillis(export_ms.saturating_sub(ago))
            }
            (RawTime::Uptime(up), Clock::Init { init_ms }) => {
                FlowTime::UnixMillis(init_ms.saturating_add(u64::from(up)))
            }
            (RawTime::Uptime(up), Clock::None) => FlowTime::UptimeMillis(up),
        }
    }
}

/// Stores one information element's value into the record.
fn apply(rec: &mut FlowRecord, times: &mut Times, id: u16, v: &[u8]) {
    let n = uint(v);
    let low32 = u32::try_from(n & 0xffff_ffff).unwrap_or(0);
    match id {
        1 | 85 if rec.bytes == 0 => rec.bytes = n,
        2 | 86 if rec.packets == 0 => rec.packets = n,
        4 => rec.protocol = u8::try_from(n & 0xff).unwrap_or(0),
        6 => rec.tcp_flags = Some(u8::try_from(n & 0xff).unwrap_or(0)),
        7 => rec.src_port = u16::try_from(n & 0xffff).unwrap_or(0),
        11 => rec.dst_port = u16::try_from(n & 0xffff).unwrap_or(0),
        8 | 27 => rec.src = addr(v).or(rec.src),
        12 | 28 => rec.dst = addr(v).or(rec.dst),
        10 => rec.input_if = Some(low32),
        14 => rec.output_if = Some(low32),
        22 => times.first = Some(RawTime::Uptime(low32)),
        21 => times.last = Some(RawTime::Uptime(low32)),
        150 => times.first = Some(RawTime::Unix(n.saturating_mul(1000))),
        151 => times.last = Some(RawTime::Unix(n.saturating_mul(1000))),
        152 => times.first = Some(RawTime::Unix(n)),
        153 => times.last = Some(RawTime::Unix(n)),
        _ => {}
    }
}

fn decode_v5(datagram: &[u8], out: &mut Vec<FlowRecord>) -> Result<Summary, Error> {
    let mut r = Reader::new(datagram);
    r.skip(2).map_err(Error::truncated("header"))?;
    let count = r.u16_be().map_err(Error::truncated("count"))?;
    let uptime = r.u32_be().map_err(Error::truncated("sys_uptime"))?;
    let secs = r.u32_be().map_err(Error::truncated("unix_secs"))?;
    let nsecs = r.u32_be().map_err(Error::truncated("unix_nsecs"))?;
    let sequence = r.u32_be().map_err(Error::truncated("flow_sequence"))?;
    let engine = r.u16_be().map_err(Error::truncated("engine"))?;
    r.skip(2).map_err(Error::truncated("sampling_interval"))?;
    if count == 0 || count > 30 {
        return Err(Error::Invalid { field: "count", offset: 2, value: count.into() });
    }
    let clock = Clock::Header {
        export_ms: u64::from(secs) * 1000 + u64::from(nsecs / 1_000_000),
        uptime_ms: uptime,
    };
    let mut sum = Summary {
        version: Some(ExportVersion::V5),
        domain: engine.into(),
        sequence,
        export_secs: secs,
        ..Summary::default()
    };
    for _ in 0..count {
        let rec = r.take(48).map_err(Error::truncated("v5 record"))?;
        let mut f = Reader::new(rec);
        let v5 = (|| -> Result<FlowRecord, Incomplete> {
            let src = f.array::<4>()?;
            let dst = f.array::<4>()?;
            f.skip(4)?; // next hop
            let input = f.u16_be()?;
            let output = f.u16_be()?;
            let packets = f.u32_be()?;
            let bytes = f.u32_be()?;
            let first = f.u32_be()?;
            let last = f.u32_be()?;
            let src_port = f.u16_be()?;
            let dst_port = f.u16_be()?;
            f.skip(1)?;
            let flags = f.u8()?;
            let protocol = f.u8()?;
            Ok(FlowRecord {
                src: Some(IpAddr::V4(Ipv4Addr::from(src))),
                dst: Some(IpAddr::V4(Ipv4Addr::from(dst))),
                src_port,
                dst_port,
                protocol,
                packets: packets.into(),
                bytes: bytes.into(),
                first: Some(clock.convert(RawTime::Uptime(first))),
                last: Some(clock.convert(RawTime::Uptime(last))),
                input_if: Some(input.into()),
                output_if: Some(output.into()),
                tcp_flags: Some(flags),
                ..FlowRecord::empty(ExportVersion::V5, engine.into(), 0)
            })
        })()
        .map_err(Error::truncated("v5 record"))?;
        out.push(v5);
        sum.records += 1;
    }
    Ok(sum)
}

/// Checks an export datagram's framing without templates: which version,
/// and the exporter's domain, or `None` when it is not an export packet.
pub fn sniff(payload: &[u8]) -> Option<(ExportVersion, u32)> {
    let mut r = Reader::new(payload);
    let version = r.u16_be().ok()?;
    match version {
        5 => {
            let count = r.u16_be().ok()?;
            r.skip(16).ok()?;
            let engine = r.u16_be().ok()?;
            let ok = (1..=30).contains(&count) && payload.len() == 24 + 48 * usize::from(count);
            ok.then_some((ExportVersion::V5, u32::from(engine)))
        }
        9 => {
            let count = r.u16_be().ok()?;
            r.skip(12).ok()?;
            let domain = r.u32_be().ok()?;
            if count == 0 || !sets_fit(&mut r, |id| id <= 1 || id >= 256) {
                return None;
            }
            Some((ExportVersion::V9, domain))
        }
        10 => {
            let len = r.u16_be().ok()?;
            r.skip(8).ok()?;
            let domain = r.u32_be().ok()?;
            if usize::from(len) != payload.len()
                || !sets_fit(&mut r, |id| id == 2 || id == 3 || id >= 256)
            {
                return None;
            }
            Some((ExportVersion::Ipfix, domain))
        }
        _ => None,
    }
}

/// Whether the rest of `r` is a non-empty sequence of sets with valid IDs
/// and lengths (v9 allows trailing padding shorter than a set header).
fn sets_fit(r: &mut Reader<'_>, valid_id: impl Fn(u16) -> bool) -> bool {
    let mut n = 0;
    while r.remaining() >= 4 {
        let (Ok(id), Ok(len)) = (r.u16_be(), r.u16_be()) else {
            return false;
        };
        if len < 4 || !valid_id(id) || r.skip(usize::from(len) - 4).is_err() {
            return false;
        }
        n += 1;
    }
    n > 0
}

/// Names NetFlow v5/v9 and IPFIX export datagrams. The sender is the
/// exporter; its fact says which format and domain it exports.
pub fn probe_datagram(_ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let Some((version, domain)) = sniff(payload) else {
        return Verdict::No;
    };
    let subject = match side {
        Side::Client => Subject::Client,
        Side::Server => Subject::Server,
    };
    let what = match version {
        ExportVersion::V5 => format!("netflow-v5 engine {domain}"),
        ExportVersion::V9 => format!("netflow-v9 source {domain}"),
        ExportVersion::Ipfix => format!("ipfix domain {domain}"),
    };
    Verdict::Yes {
        app: version.app(),
        facts: Fact::new(subject, FactKey::FlowExporter, &what).into_iter().collect(),
        more: false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn exporter() -> SocketAddr {
        "192.0.2.1:40000".parse().unwrap()
    }

    /// A NetFlow v9 datagram: one template (256: src/dst v4, ports,
    /// protocol, bytes, packets, first/last, tcp flags), one options
    /// template, one options data record, two flow records, then a data set
    /// for an unknown template.
    fn v9_packet() -> Vec<u8> {
        let mut p = vec![0, 9, 0, 4];
        p.extend_from_slice(&100_000u32.to_be_bytes()); // uptime 100 s
        p.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes()); // sequence
        p.extend_from_slice(&3u32.to_be_bytes()); // source id
        // Template flowset.
        let fields: &[(u16, u16)] = &[
            (8, 4),
            (12, 4),
            (7, 2),
            (11, 2),
            (4, 1),
            (1, 4),
            (2, 4),
            (22, 4),
            (21, 4),
            (6, 1),
            (99, 3),
        ];
        p.extend_from_slice(&0u16.to_be_bytes());
        p.extend_from_slice(&(8 + 4 * fields.len() as u16).to_be_bytes());
        p.extend_from_slice(&256u16.to_be_bytes());
        p.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for (t, l) in fields {
            p.extend_from_slice(&t.to_be_bytes());
            p.extend_from_slice(&l.to_be_bytes());
        }
        // Options template flowset (id 1): template 300, scope (1,4), option (34,4), padded.
        p.extend_from_slice(&[0, 1, 0, 20, 1, 44, 0, 4, 0, 4, 0, 1, 0, 4, 0, 34, 0, 4, 0, 0]);
        // Options data.
        p.extend_from_slice(&[1, 44, 0, 12, 0, 0, 0, 1, 0, 0, 0, 100]);
        // Data flowset 256, two records of 33 bytes, padded to 4.
        let rec = |src: [u8; 4], sport: u16, bytes: u32| {
            let mut r = Vec::new();
            r.extend_from_slice(&src);
            r.extend_from_slice(&[10, 0, 0, 9]);
            r.extend_from_slice(&sport.to_be_bytes());
            r.extend_from_slice(&443u16.to_be_bytes());
            r.push(6);
            r.extend_from_slice(&bytes.to_be_bytes());
            r.extend_from_slice(&5u32.to_be_bytes());
            r.extend_from_slice(&90_000u32.to_be_bytes());
            r.extend_from_slice(&99_000u32.to_be_bytes());
            r.push(0x1b);
            r.extend_from_slice(&[1, 2, 3]);
            r
        };
        let mut body = rec([10, 0, 0, 1], 50000, 1234);
        body.extend(rec([10, 0, 0, 2], 50001, 99));
        body.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&256u16.to_be_bytes());
        p.extend_from_slice(&(4 + body.len() as u16).to_be_bytes());
        p.extend(body);
        // A data set for template 999, never announced.
        p.extend_from_slice(&[3, 231, 0, 8, 1, 2, 3, 4]);
        p
    }

    #[test]
    fn v9_templates_data_options_and_missing_templates() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let p = v9_packet();
        let s = d.decode(exporter(), &p, &mut out).unwrap();
        assert_eq!(s.records, 2);
        assert_eq!(s.templates, 2);
        assert_eq!(s.options_records, 1);
        assert_eq!(s.sets_without_template, 1);
        assert_eq!(s.bytes_without_template, 4);
        assert_eq!((s.domain, s.sequence), (3, 7));
        let r = &out[0];
        assert_eq!(r.src, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(r.dst, Some("10.0.0.9".parse().unwrap()));
        assert_eq!((r.src_port, r.dst_port, r.protocol), (50000, 443, 6));
        assert_eq!((r.bytes, r.packets, r.tcp_flags), (1234, 5, Some(0x1b)));
        // 10 s and 1 s before the export.
        assert_eq!(r.first, Some(FlowTime::UnixMillis(1_700_000_000_000 - 10_000)));
        assert_eq!(r.last, Some(FlowTime::UnixMillis(1_700_000_000_000 - 1_000)));
        assert_eq!(out[1].src_port, 50001);
        // The same data from another exporter has no template.
        let other: SocketAddr = "192.0.2.2:40000".parse().unwrap();
        let mut out2 = Vec::new();
        let s = d.decode(other, &p, &mut out2).unwrap();
        assert_eq!(s.records, 2, "the packet carries its own templates");
        assert_eq!(
            probe_datagram(&ctx(), Side::Client, &p),
            Verdict::Yes {
                app: App::NetflowV9,
                facts: vec![
                    Fact::new(Subject::Client, FactKey::FlowExporter, "netflow-v9 source 3")
                        .unwrap()
                ],
                more: false,
            }
        );
    }

    fn ctx() -> Ctx {
        Ctx { client_port: 40000, server_port: 2055 }
    }

    #[test]
    fn v5_records() {
        let mut p = vec![0, 5, 0, 1];
        p.extend_from_slice(&60_000u32.to_be_bytes());
        p.extend_from_slice(&1_600_000_000u32.to_be_bytes());
        p.extend_from_slice(&500_000_000u32.to_be_bytes());
        p.extend_from_slice(&42u32.to_be_bytes());
        p.extend_from_slice(&[1, 2, 0, 0]);
        p.extend_from_slice(&[192, 168, 1, 5, 8, 8, 8, 8, 0, 0, 0, 0, 0, 3, 0, 4]);
        p.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 140]);
        p.extend_from_slice(&59_000u32.to_be_bytes());
        p.extend_from_slice(&59_500u32.to_be_bytes());
        p.extend_from_slice(&[0xd4, 0x31, 0, 53, 0, 0, 17, 0, 0, 0, 0, 0, 24, 0, 0, 0]);
        assert_eq!(p.len(), 72);
        let mut out = Vec::new();
        let s = Decoder::new().decode(exporter(), &p, &mut out).unwrap();
        assert_eq!((s.records, s.sequence, s.domain), (1, 42, 0x0102));
        let r = &out[0];
        assert_eq!(r.src, Some("192.168.1.5".parse().unwrap()));
        assert_eq!(
            (r.src_port, r.dst_port, r.protocol, r.packets, r.bytes),
            (54321, 53, 17, 2, 140)
        );
        assert_eq!((r.input_if, r.output_if), (Some(3), Some(4)));
        assert_eq!(r.first, Some(FlowTime::UnixMillis(1_600_000_000_500 - 1_000)));
        assert!(matches!(
            probe_datagram(&ctx(), Side::Client, &p),
            Verdict::Yes { app: App::NetflowV5, .. }
        ));
        assert_eq!(probe_datagram(&ctx(), Side::Client, &p[..71]), Verdict::No);
    }

    #[test]
    fn ipfix_variable_length_enterprise_fields_and_withdrawal() {
        // Template 400: src v4 (8,4), enterprise field (0x8000|5, 2, PEN 9),
        // variable-length string (82 interfaceName, 0xffff), packets (2, 8).
        let mut p = vec![0, 10, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 5];
        p.extend_from_slice(&[0, 2, 0, 28, 1, 144, 0, 4, 0, 8, 0, 4, 0x80, 5, 0, 2, 0, 0, 0, 9]);
        p.extend_from_slice(&[0, 82, 0xff, 0xff, 0, 2, 0, 8]);
        // Data: record 1 with a 3-byte string, record 2 with a 255-escaped 2-byte string.
        let mut body = vec![10, 1, 1, 1, 0xaa, 0xbb, 3, b'e', b't', b'h', 0, 0, 0, 0, 0, 0, 0, 7];
        body.extend_from_slice(&[
            10, 1, 1, 2, 0xaa, 0xbb, 255, 0, 2, b'e', b'1', 0, 0, 0, 0, 0, 0, 0, 9,
        ]);
        p.extend_from_slice(&400u16.to_be_bytes());
        p.extend_from_slice(&(4 + body.len() as u16).to_be_bytes());
        p.extend(body);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let s = d.decode(exporter(), &p, &mut out).unwrap();
        assert_eq!(s.records, 2);
        assert_eq!(out[0].packets, 7);
        assert_eq!(out[1].src, Some("10.1.1.2".parse().unwrap()));
        assert_eq!(out[1].packets, 9);
        assert!(matches!(
            probe_datagram(&ctx(), Side::Client, &p),
            Verdict::Yes { app: App::Ipfix, .. }
        ));
        // Withdraw template 400.
        let mut w = vec![0, 10, 0, 24, 0, 0, 0, 1, 0, 0, 0, 10, 0, 0, 0, 5];
        w.extend_from_slice(&[0, 2, 0, 8, 1, 144, 0, 0]);
        let s = d.decode(exporter(), &w, &mut out).unwrap();
        assert_eq!(s.withdrawn, 1);
        assert_eq!(d.template_count(), 0);
    }

    #[test]
    fn zero_length_templates_are_refused_not_looped_on() {
        // Template 256 with one zero-length field, then a data set for it.
        let mut p = vec![0, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(&[0, 0, 0, 12, 1, 0, 0, 1, 0, 8, 0, 0]);
        p.extend_from_slice(&[1, 0, 0, 8, 0, 0, 0, 0]);
        let mut out = Vec::new();
        let s = Decoder::new().decode(exporter(), &p, &mut out).unwrap();
        assert_eq!((s.templates_refused, s.sets_without_template, s.records), (1, 1, 0));
    }

    #[test]
    fn every_prefix_of_a_v9_packet_is_an_error_or_a_subset() {
        let p = v9_packet();
        for n in 0..p.len() {
            let mut out = Vec::new();
            let r = Decoder::new().decode(exporter(), &p[..n], &mut out);
            assert!(out.len() <= 2, "prefix {n}");
            if n < 20 {
                assert!(r.is_err(), "prefix {n}");
            }
            assert!(
                !matches!(probe_datagram(&ctx(), Side::Client, &p[..n]), Verdict::Yes { .. })
                    || n >= 20
            );
        }
    }

    #[test]
    fn errors_name_the_field_and_offset() {
        let mut out = Vec::new();
        let mut d = Decoder::new();
        assert_eq!(
            d.decode(exporter(), &[0, 7, 0, 0], &mut out),
            Err(Error::Version { version: 7 })
        );
        let p = [0, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        assert_eq!(
            d.decode(exporter(), &p, &mut out),
            Err(Error::Invalid { field: "set length", offset: 22, value: 2 })
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
                                       version in 0u8..3) {
            let mut data = data;
            if data.len() >= 2 {
                data[0] = 0;
                data[1] = [5, 9, 10][usize::from(version)];
            }
            let mut d = Decoder::new();
            let mut out = Vec::new();
            let _ = d.decode(exporter(), &data, &mut out);
            let _ = d.decode(exporter(), &data, &mut out);
            let _ = probe_datagram(&ctx(), Side::Client, &data);
        }
    }
}
