//! The multiplexing layer of `sekimori/1`, sans I/O: the frames that carry
//! many tunnelled connections (streams) over one TLS connection after the
//! hello, their encoding, and an incremental decoder that never panics and
//! never buffers more than one control frame.
//!
//! Every frame is a 9-byte header — type (`u8`), stream ID (big-endian
//! `u32`), payload length (big-endian `u32`) — and that many payload bytes:
//!
//! | type | name | stream | payload |
//! |---|---|---|---|
//! | 1 | `OPEN` | new, client → gateway | request ID (16 bytes), port (`u16`), the first bytes of the connection |
//! | 2 | `GRANT` | new, client → gateway | request ID (16 bytes) |
//! | 3 | `ACCEPT` | gateway → client | empty (`OPEN`) or the grant as JSON (`GRANT`) |
//! | 4 | `REFUSE` | gateway → client | code length (`u8`), code, localized message (UTF-8) |
//! | 5 | `DATA` | either way | 1 ..= [`MAX_DATA`] bytes of the connection |
//! | 6 | `WINDOW` | either way; 0 = the tunnel | credit increment (`u32`, > 0) |
//! | 7 | `FIN` | either way | empty: the sender will send no more data (half-close) |
//! | 8 | `RESET` | either way | reason (`u8`, [`ResetReason`]): the stream is gone |
//! | 9 | `GOAWAY` | 0 | reason (`u8`, [`GoAwayReason`]): the tunnel closes |
//!
//! Streams are opened by the client only, with IDs that strictly increase
//! (from 1). Flow control is by credit: each end may send at most
//! [`STREAM_WINDOW`](crate::protocol::STREAM_WINDOW) bytes of `DATA`
//! (the first bytes of an `OPEN` included) per stream and
//! [`TUNNEL_WINDOW`](crate::protocol::TUNNEL_WINDOW) per tunnel beyond
//! what the receiver has credited back with `WINDOW` frames. A receiver
//! credits bytes once they have left its hands (written to the target
//! socket), so what it holds per stream and per tunnel is bounded.

use sekimori_types::AccessRequestId;

/// Bytes of a frame header.
pub const HEADER: usize = 9;
/// Largest `DATA` payload.
pub const MAX_DATA: usize = 256 * 1024;
/// Largest payload of any other frame (an `OPEN`'s first bytes included).
pub const MAX_CONTROL: usize = 16 * 1024;
/// Largest first bytes an `OPEN` carries.
pub const MAX_OPEN_DATA: usize = MAX_CONTROL - OPEN_FIXED;
/// Request ID and port at the start of an `OPEN`.
const OPEN_FIXED: usize = 18;

/// Frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Open = 1,
    Grant = 2,
    Accept = 3,
    Refuse = 4,
    Data = 5,
    Window = 6,
    Fin = 7,
    Reset = 8,
    GoAway = 9,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Open,
            2 => Kind::Grant,
            3 => Kind::Accept,
            4 => Kind::Refuse,
            5 => Kind::Data,
            6 => Kind::Window,
            7 => Kind::Fin,
            8 => Kind::Reset,
            9 => Kind::GoAway,
            _ => return None,
        })
    }
}

/// Why a stream was reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ResetReason {
    /// The sender's side of the connection went away or failed.
    Cancel = 0,
    /// The gateway closed the connection (revoked, expired, killed, locked,
    /// the device failed, or the recording failed).
    Closed = 1,
    /// The stream broke the protocol (flow control, a frame out of place).
    Protocol = 2,
}

impl ResetReason {
    fn from_u8(b: u8) -> ResetReason {
        match b {
            1 => ResetReason::Closed,
            2 => ResetReason::Protocol,
            _ => ResetReason::Cancel,
        }
    }
}

/// Why a tunnel is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GoAwayReason {
    /// Closed normally (the gateway shuts down, the tunnel was closed).
    Closed = 0,
    /// The peer broke the protocol.
    Protocol = 1,
    /// The peer sent beyond its flow-control credit.
    FlowControl = 2,
}

impl GoAwayReason {
    fn from_u8(b: u8) -> GoAwayReason {
        match b {
            1 => GoAwayReason::Protocol,
            2 => GoAwayReason::FlowControl,
            _ => GoAwayReason::Closed,
        }
    }
}

/// A complete frame other than `DATA`, borrowed from the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control<'a> {
    Open { stream: u32, request: AccessRequestId, port: u16, first: &'a [u8] },
    Grant { stream: u32, request: AccessRequestId },
    Accept { stream: u32, body: &'a [u8] },
    Refuse { stream: u32, code: &'a str, message: &'a str },
    Window { stream: u32, increment: u32 },
    Fin { stream: u32 },
    Reset { stream: u32, reason: ResetReason },
    GoAway { reason: GoAwayReason },
}

/// What the decoder found in its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A control frame.
    Control(Control<'a>),
    /// The header of a `DATA` frame of `len` bytes on `stream`: check the
    /// credit here; the payload follows as [`Event::Data`] pieces.
    DataStart { stream: u32, len: u32 },
    /// Some payload of the current `DATA` frame.
    Data { stream: u32, bytes: &'a [u8] },
}

/// Why the input is not a valid frame sequence. The tunnel must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MuxError {
    #[error("frame type {0} is unknown")]
    UnknownKind(u8),
    #[error("{kind:?} frame: payload of {len} bytes exceeds {max}")]
    TooLong { kind: Kind, len: u32, max: usize },
    #[error("{kind:?} frame: {what}")]
    Malformed { kind: Kind, what: &'static str },
}

enum State {
    /// Collecting a header (`have` bytes so far).
    Header { have: usize },
    /// Collecting a control frame's payload.
    Control { kind: Kind, stream: u32, len: usize },
    /// Passing on a `DATA` payload, `left` bytes to go.
    Data { stream: u32, left: usize },
}

/// Incremental decoder: feed it whatever arrived, in any split.
pub struct Decoder {
    header: [u8; HEADER],
    state: State,
    /// The payload of the control frame being collected (at most
    /// [`MAX_CONTROL`]; empty and unallocated between frames).
    payload: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self { header: [0; HEADER], state: State::Header { have: 0 }, payload: Vec::new() }
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Decoder {
    /// Decodes from the start of `input`: returns how many bytes it used
    /// and at most one event. `(n, None)` means those `n` bytes were taken
    /// into a partial frame; call again with the rest (or more input).
    pub fn feed<'a>(&'a mut self, input: &'a [u8]) -> Result<(usize, Option<Event<'a>>), MuxError> {
        match self.state {
            State::Header { have } => {
                let take = (HEADER - have).min(input.len());
                self.header[have..have + take].copy_from_slice(&input[..take]);
                let have = have + take;
                if have < HEADER {
                    self.state = State::Header { have };
                    return Ok((take, None));
                }
                let [k, s0, s1, s2, s3, l0, l1, l2, l3] = self.header;
                let stream = u32::from_be_bytes([s0, s1, s2, s3]);
                let len = u32::from_be_bytes([l0, l1, l2, l3]);
                let kind = Kind::from_u8(k).ok_or(MuxError::UnknownKind(k))?;
                if kind == Kind::Data {
                    if len as usize > MAX_DATA {
                        return Err(MuxError::TooLong { kind, len, max: MAX_DATA });
                    }
                    if len == 0 {
                        return Err(MuxError::Malformed { kind, what: "empty" });
                    }
                    self.state = State::Data { stream, left: len as usize };
                    return Ok((take, Some(Event::DataStart { stream, len })));
                }
                if len as usize > MAX_CONTROL {
                    return Err(MuxError::TooLong { kind, len, max: MAX_CONTROL });
                }
                self.state = State::Control { kind, stream, len: len as usize };
                self.payload.clear();
                if len == 0 {
                    return self.finish_control(take);
                }
                Ok((take, None))
            }
            State::Control { len, .. } => {
                let take = (len - self.payload.len()).min(input.len());
                self.payload.extend_from_slice(&input[..take]);
                if self.payload.len() < len {
                    return Ok((take, None));
                }
                self.finish_control(take)
            }
            State::Data { stream, left } => {
                let take = left.min(input.len());
                if take == 0 {
                    return Ok((0, None));
                }
                let left = left - take;
                self.state = if left == 0 {
                    State::Header { have: 0 }
                } else {
                    State::Data { stream, left }
                };
                Ok((take, Some(Event::Data { stream, bytes: &input[..take] })))
            }
        }
    }

    /// Whether the decoder is between frames.
    pub fn at_boundary(&self) -> bool {
        matches!(self.state, State::Header { have: 0 })
    }

    fn finish_control(&mut self, used: usize) -> Result<(usize, Option<Event<'_>>), MuxError> {
        let State::Control { kind, stream, .. } = self.state else {
            return Ok((used, None));
        };
        self.state = State::Header { have: 0 };
        let p = self.payload.as_slice();
        let bad = |what| MuxError::Malformed { kind, what };
        let need_stream = |s: u32| if s == 0 { Err(bad("stream 0")) } else { Ok(s) };
        let control = match kind {
            Kind::Open => {
                let stream = need_stream(stream)?;
                let (request, rest) = request_at(p).ok_or(bad("too short"))?;
                let [a, b] = rest.get(..2).ok_or(bad("too short"))? else {
                    return Err(bad("too short"));
                };
                let port = u16::from_be_bytes([*a, *b]);
                Control::Open { stream, request, port, first: rest.get(2..).unwrap_or_default() }
            }
            Kind::Grant => {
                let stream = need_stream(stream)?;
                let (request, rest) = request_at(p).ok_or(bad("too short"))?;
                if !rest.is_empty() {
                    return Err(bad("trailing bytes"));
                }
                Control::Grant { stream, request }
            }
            Kind::Accept => Control::Accept { stream: need_stream(stream)?, body: p },
            Kind::Refuse => {
                let stream = need_stream(stream)?;
                let (&n, rest) = p.split_first().ok_or(bad("too short"))?;
                let code = rest.get(..usize::from(n)).ok_or(bad("code past the end"))?;
                let message = rest.get(usize::from(n)..).unwrap_or_default();
                let code = std::str::from_utf8(code).map_err(|_| bad("code is not UTF-8"))?;
                let message =
                    std::str::from_utf8(message).map_err(|_| bad("message is not UTF-8"))?;
                Control::Refuse { stream, code, message }
            }
            Kind::Window => {
                let b: [u8; 4] = p.try_into().map_err(|_| bad("payload is not 4 bytes"))?;
                let increment = u32::from_be_bytes(b);
                if increment == 0 {
                    return Err(bad("zero increment"));
                }
                Control::Window { stream, increment }
            }
            Kind::Fin => {
                if !p.is_empty() {
                    return Err(bad("payload"));
                }
                Control::Fin { stream: need_stream(stream)? }
            }
            Kind::Reset => {
                let [r] = p else { return Err(bad("payload is not 1 byte")) };
                Control::Reset { stream: need_stream(stream)?, reason: ResetReason::from_u8(*r) }
            }
            Kind::GoAway => {
                if stream != 0 {
                    return Err(bad("not on stream 0"));
                }
                let [r] = p else { return Err(bad("payload is not 1 byte")) };
                Control::GoAway { reason: GoAwayReason::from_u8(*r) }
            }
            Kind::Data => return Err(bad("data as control")),
        };
        Ok((used, Some(Event::Control(control))))
    }
}

fn request_at(p: &[u8]) -> Option<(AccessRequestId, &[u8])> {
    let (id, rest) = p.split_first_chunk::<16>()?;
    Some((AccessRequestId(uuid::Uuid::from_bytes(*id)), rest))
}

fn header(out: &mut Vec<u8>, kind: Kind, stream: u32, len: usize) {
    out.push(kind as u8);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

/// Appends an `OPEN` (with at most [`MAX_OPEN_DATA`] first bytes).
pub fn open(out: &mut Vec<u8>, stream: u32, request: AccessRequestId, port: u16, first: &[u8]) {
    let first = first.get(..MAX_OPEN_DATA.min(first.len())).unwrap_or_default();
    header(out, Kind::Open, stream, OPEN_FIXED + first.len());
    out.extend_from_slice(request.0.as_bytes());
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(first);
}

/// Appends a `GRANT`.
pub fn grant(out: &mut Vec<u8>, stream: u32, request: AccessRequestId) {
    header(out, Kind::Grant, stream, 16);
    out.extend_from_slice(request.0.as_bytes());
}

/// Appends an `ACCEPT` (a body longer than [`MAX_CONTROL`] is cut).
pub fn accept(out: &mut Vec<u8>, stream: u32, body: &[u8]) {
    let body = body.get(..MAX_CONTROL.min(body.len())).unwrap_or_default();
    header(out, Kind::Accept, stream, body.len());
    out.extend_from_slice(body);
}

/// Appends a `REFUSE` (a message is cut to fit, at a character boundary).
pub fn refuse(out: &mut Vec<u8>, stream: u32, code: &str, message: &str) {
    let code = if code.len() > 255 { "unknown" } else { code };
    let mut end = message.len().min(MAX_CONTROL - 1 - code.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let message = message.get(..end).unwrap_or_default();
    header(out, Kind::Refuse, stream, 1 + code.len() + message.len());
    out.push(code.len() as u8);
    out.extend_from_slice(code.as_bytes());
    out.extend_from_slice(message.as_bytes());
}

/// Appends a `DATA` frame header for `len` (1 ..= [`MAX_DATA`]) payload
/// bytes, which the caller appends.
pub fn data_header(out: &mut Vec<u8>, stream: u32, len: usize) {
    header(out, Kind::Data, stream, len);
}

/// Writes a `DATA` frame header into `buf` (exactly [`HEADER`] bytes).
pub fn put_data_header(buf: &mut [u8; HEADER], stream: u32, len: usize) {
    buf[0] = Kind::Data as u8;
    buf[1..5].copy_from_slice(&stream.to_be_bytes());
    buf[5..9].copy_from_slice(&(len as u32).to_be_bytes());
}

/// Appends a `WINDOW`.
pub fn window(out: &mut Vec<u8>, stream: u32, increment: u32) {
    header(out, Kind::Window, stream, 4);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// Appends a `FIN`.
pub fn fin(out: &mut Vec<u8>, stream: u32) {
    header(out, Kind::Fin, stream, 0);
}

/// Appends a `RESET`.
pub fn reset(out: &mut Vec<u8>, stream: u32, reason: ResetReason) {
    header(out, Kind::Reset, stream, 1);
    out.push(reason as u8);
}

/// Appends a `GOAWAY`.
pub fn goaway(out: &mut Vec<u8>, reason: GoAwayReason) {
    header(out, Kind::GoAway, 0, 1);
    out.push(reason as u8);
}

/// Decodes all of `input` (split into pieces of `step` bytes, at least 1)
/// and returns the events as owned values: for tests and fuzzing.
pub fn decode_all(input: &[u8], step: usize) -> Result<Vec<OwnedEvent>, MuxError> {
    let mut d = Decoder::default();
    let mut events = Vec::new();
    for piece in input.chunks(step.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            let (n, ev) = d.feed(rest)?;
            if let Some(ev) = ev {
                events.push(OwnedEvent::from(ev));
            }
            rest = rest.get(n..).unwrap_or_default();
        }
    }
    Ok(events)
}

/// An [`Event`] with its bytes owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedEvent {
    Open { stream: u32, request: AccessRequestId, port: u16, first: Vec<u8> },
    Grant { stream: u32, request: AccessRequestId },
    Accept { stream: u32, body: Vec<u8> },
    Refuse { stream: u32, code: String, message: String },
    Window { stream: u32, increment: u32 },
    Fin { stream: u32 },
    Reset { stream: u32, reason: ResetReason },
    GoAway { reason: GoAwayReason },
    DataStart { stream: u32, len: u32 },
    Data { stream: u32, bytes: Vec<u8> },
}

impl From<Event<'_>> for OwnedEvent {
    fn from(e: Event<'_>) -> Self {
        match e {
            Event::DataStart { stream, len } => OwnedEvent::DataStart { stream, len },
            Event::Data { stream, bytes } => OwnedEvent::Data { stream, bytes: bytes.to_vec() },
            Event::Control(c) => match c {
                Control::Open { stream, request, port, first } => {
                    OwnedEvent::Open { stream, request, port, first: first.to_vec() }
                }
                Control::Grant { stream, request } => OwnedEvent::Grant { stream, request },
                Control::Accept { stream, body } => {
                    OwnedEvent::Accept { stream, body: body.to_vec() }
                }
                Control::Refuse { stream, code, message } => {
                    OwnedEvent::Refuse { stream, code: code.into(), message: message.into() }
                }
                Control::Window { stream, increment } => OwnedEvent::Window { stream, increment },
                Control::Fin { stream } => OwnedEvent::Fin { stream },
                Control::Reset { stream, reason } => OwnedEvent::Reset { stream, reason },
                Control::GoAway { reason } => OwnedEvent::GoAway { reason },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<u8>, AccessRequestId) {
        let r = AccessRequestId::new();
        let mut out = Vec::new();
        open(&mut out, 1, r, 22, b"SSH-2.0");
        grant(&mut out, 3, r);
        accept(&mut out, 1, b"");
        refuse(&mut out, 3, "no_grant", "このIDのアクセス申請はありません。");
        data_header(&mut out, 1, 5);
        out.extend_from_slice(b"hello");
        window(&mut out, 0, 70_000);
        fin(&mut out, 1);
        reset(&mut out, 1, ResetReason::Closed);
        goaway(&mut out, GoAwayReason::Protocol);
        (out, r)
    }

    #[test]
    fn frames_round_trip_in_any_split() {
        let (bytes, r) = sample();
        let want = vec![
            OwnedEvent::Open { stream: 1, request: r, port: 22, first: b"SSH-2.0".to_vec() },
            OwnedEvent::Grant { stream: 3, request: r },
            OwnedEvent::Accept { stream: 1, body: vec![] },
            OwnedEvent::Refuse {
                stream: 3,
                code: "no_grant".into(),
                message: "このIDのアクセス申請はありません。".into(),
            },
            OwnedEvent::DataStart { stream: 1, len: 5 },
            OwnedEvent::Data { stream: 1, bytes: b"hello".to_vec() },
            OwnedEvent::Window { stream: 0, increment: 70_000 },
            OwnedEvent::Fin { stream: 1 },
            OwnedEvent::Reset { stream: 1, reason: ResetReason::Closed },
            OwnedEvent::GoAway { reason: GoAwayReason::Protocol },
        ];
        assert_eq!(decode_all(&bytes, bytes.len()).unwrap(), want);
        for step in 1..12 {
            let got = decode_all(&bytes, step).unwrap();
            // Data may come in pieces: join them before comparing.
            let mut joined: Vec<OwnedEvent> = Vec::new();
            for e in got {
                match (joined.last_mut(), e) {
                    (
                        Some(OwnedEvent::Data { bytes, .. }),
                        OwnedEvent::Data { bytes: more, .. },
                    ) => bytes.extend(more),
                    (_, e) => joined.push(e),
                }
            }
            assert_eq!(joined, want, "step {step}");
        }
    }

    #[test]
    fn hostile_frames_are_named_errors() {
        assert_eq!(decode_all(&[42, 0, 0, 0, 1, 0, 0, 0, 0], 9), Err(MuxError::UnknownKind(42)));
        let too_long = [5, 0, 0, 0, 1, 0, 4, 0, 1];
        assert!(matches!(decode_all(&too_long, 9), Err(MuxError::TooLong { .. })));
        let empty_data = [5, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(matches!(decode_all(&empty_data, 9), Err(MuxError::Malformed { .. })));
        let zero_window = [6, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0];
        assert!(matches!(decode_all(&zero_window, 9), Err(MuxError::Malformed { .. })));
        let short_open = [1, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3];
        assert!(matches!(decode_all(&short_open, 9), Err(MuxError::Malformed { .. })));
        let fin_on_zero = [7, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(decode_all(&fin_on_zero, 9), Err(MuxError::Malformed { .. })));
        let big_control = [1, 0, 0, 0, 1, 0, 1, 0, 0];
        assert!(matches!(decode_all(&big_control, 9), Err(MuxError::TooLong { .. })));
    }

    #[test]
    fn long_messages_are_cut_at_a_character() {
        let mut out = Vec::new();
        refuse(&mut out, 1, "x", &"あ".repeat(10_000));
        let ev = decode_all(&out, 1000).unwrap();
        let [OwnedEvent::Refuse { message, .. }] = ev.as_slice() else { panic!("{ev:?}") };
        assert!(message.len() < MAX_CONTROL && message.chars().all(|c| c == 'あ'));
    }
}
