//! TLS 1.3 record protection for a tunnel once rustls has done the
//! handshake (RFC 8446 §5.2 records, §7.2 key updates, §7.3 keys), in
//! place: the tunnel seals the bytes it read from a device where they lie
//! and opens what it read from the socket where it lies, with no copy into
//! or out of rustls's buffers (those copies were a tenth of each end's CPU).
//! This is what kernel TLS does with the same secrets; rustls documents
//! [`rustls::ConnectionCommon::dangerous_extract_secrets`] for it.
//!
//! rustls keeps everything else: the handshake, certificate pinning, ALPN,
//! the exporter the hello is signed over. What crosses the wire is ordinary
//! TLS 1.3: a peer that is still plain rustls reads it, and this module reads
//! what such a peer sends (its `KeyUpdate`s and `NewSessionTicket`s too).
//!
//! Keys: rustls hands over the current key and IV; the traffic secrets they
//! come from are caught by a [`TrafficSecrets`] key log given to that one
//! connection's config, for the key updates. The derived key is checked
//! against rustls's at the start. A direction's key is updated before it has
//! sealed its suite's confidentiality limit of records (2^24 for AES-GCM).

use std::fmt;
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{self, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use rustls::{ConnectionTrafficSecrets, ExtractedSecrets};
use zeroize::Zeroizing;

/// A record's header: type, legacy version, length.
pub(crate) const HEADER: usize = 5;
/// The AEAD tag of every suite here.
pub(crate) const TAG: usize = 16;
/// Most plaintext in one record.
pub(crate) const MAX_PLAIN: usize = 16 * 1024;
/// What a record adds to its plaintext: header, inner content type, tag.
pub(crate) const OVERHEAD: usize = HEADER + 1 + TAG;
/// Most bytes a peer may put after a header (RFC 8446 §5.2).
const MAX_CIPHERTEXT: usize = MAX_PLAIN + 256;

const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const NEW_SESSION_TICKET: u8 = 4;
const KEY_UPDATE: u8 = 24;
const CLOSE_NOTIFY: u8 = 0;
/// A `KeyUpdate` handshake message, `update_not_requested`.
const KEY_UPDATE_NOT_REQUESTED: [u8; 5] = [KEY_UPDATE, 0, 0, 1, 0];
/// A `close_notify` alert (level warning).
const CLOSE_NOTIFY_ALERT: [u8; 2] = [1, CLOSE_NOTIFY];

/// Why a record was refused; the tunnel closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("TLS record at offset {offset}: outer type {got}, expected application data (23)")]
    OuterType { offset: usize, got: u8 },
    #[error("TLS record at offset {offset}: version {got:#06x}, expected 0x0303")]
    Version { offset: usize, got: u16 },
    #[error("TLS record at offset {offset}: length {len} outside 17..={MAX_CIPHERTEXT}")]
    Length { offset: usize, len: usize },
    #[error("TLS record at offset {offset}: decryption failed (record {seq} of this key)")]
    Decrypt { offset: usize, seq: u64 },
    #[error("TLS record at offset {offset}: {len} bytes of plaintext, more than 2^14 + 1")]
    Overflow { offset: usize, len: usize },
    #[error("TLS record at offset {offset}: no content type (all padding)")]
    NoContentType { offset: usize },
    #[error(
        "TLS record at offset {offset}: inner content type {got} not allowed after the handshake"
    )]
    InnerType { offset: usize, got: u8 },
    #[error("TLS record at offset {offset}: handshake message {kind} not allowed here")]
    Handshake { offset: usize, kind: u8 },
    #[error("TLS record at offset {offset}: malformed {what}")]
    Malformed { offset: usize, what: &'static str },
    #[error("TLS alert from the peer: description {0}")]
    Alert(u8),
    #[error("TLS: {0}")]
    Keys(String),
}

/// The key log one tunnel connection's config carries: it keeps that
/// connection's first application traffic secrets (and nothing else), for
/// the tunnel's record layer to take over from rustls.
#[derive(Default)]
pub struct TrafficSecrets {
    inner: Mutex<Logged>,
}

#[derive(Default)]
struct Logged {
    client: Option<Zeroizing<Vec<u8>>>,
    server: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for TrafficSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrafficSecrets(..)")
    }
}

impl rustls::KeyLog for TrafficSecrets {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        let Ok(mut l) = self.inner.lock() else { return };
        let secret = Some(Zeroizing::new(secret.to_vec()));
        match label {
            "CLIENT_TRAFFIC_SECRET_0" => l.client = secret,
            "SERVER_TRAFFIC_SECRET_0" => l.server = secret,
            _ => {}
        }
    }

    fn will_log(&self, label: &str) -> bool {
        matches!(label, "CLIENT_TRAFFIC_SECRET_0" | "SERVER_TRAFFIC_SECRET_0")
    }
}

impl TrafficSecrets {
    pub(crate) fn new() -> Arc<TrafficSecrets> {
        Arc::new(TrafficSecrets::default())
    }

    /// `base` for one connection that offered the tunnel's ALPN: its
    /// secrets logged to the returned key log, and extractable. Give both
    /// to [`Gateway::serve_tunnel`](crate::Gateway::serve_tunnel).
    pub fn server_config(
        base: &rustls::ServerConfig,
    ) -> (Arc<rustls::ServerConfig>, Arc<TrafficSecrets>) {
        let secrets = TrafficSecrets::new();
        let mut config = base.clone();
        config.key_log = secrets.clone();
        config.enable_secret_extraction = true;
        (Arc::new(config), secrets)
    }

    /// The client's and the server's secret, once.
    fn take(&self) -> Logged {
        match self.inner.lock() {
            Ok(mut l) => std::mem::take(&mut *l),
            Err(_) => Logged::default(),
        }
    }
}

#[derive(Clone, Copy)]
struct Suite {
    aead: &'static aead::Algorithm,
    hkdf: hkdf::Algorithm,
    key_len: usize,
    /// Records one key may seal.
    limit: u64,
}

/// One direction's keys.
struct Keys {
    suite: Suite,
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    secret: Zeroizing<Vec<u8>>,
    seq: u64,
}

impl Keys {
    fn from_secret(
        suite: Suite,
        secret: Zeroizing<Vec<u8>>,
        seq: u64,
    ) -> Result<Keys, RecordError> {
        let bad = |what: &str| RecordError::Keys(format!("deriving the {what} failed"));
        let mut key = Zeroizing::new(vec![0u8; suite.key_len]);
        expand_label(suite.hkdf, &secret, b"key", &mut key).map_err(|()| bad("key"))?;
        let mut iv = [0u8; NONCE_LEN];
        expand_label(suite.hkdf, &secret, b"iv", &mut iv).map_err(|()| bad("IV"))?;
        let key = UnboundKey::new(suite.aead, &key).map_err(|_| bad("AEAD key"))?;
        Ok(Keys { suite, key: LessSafeKey::new(key), iv, secret, seq })
    }

    /// The next generation (RFC 8446 §7.2), its sequence at 0.
    fn next(&self) -> Result<Keys, RecordError> {
        let mut secret = Zeroizing::new(vec![0u8; self.secret.len()]);
        expand_label(self.suite.hkdf, &self.secret, b"traffic upd", &mut secret)
            .map_err(|()| RecordError::Keys("deriving the next traffic secret failed".into()))?;
        Keys::from_secret(self.suite, secret, 0)
    }

    fn nonce(&self) -> Nonce {
        let mut n = self.iv;
        for (b, s) in n.iter_mut().skip(NONCE_LEN - 8).zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        Nonce::assume_unique_for_key(n)
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(
    alg: hkdf::Algorithm,
    secret: &[u8],
    label: &[u8],
    out: &mut [u8],
) -> Result<(), ()> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let len = u16::try_from(out.len()).map_err(|_| ())?;
    let full = 6 + label.len();
    let label_len = u8::try_from(full).map_err(|_| ())?;
    let len_be = len.to_be_bytes();
    let info: [&[u8]; 5] = [&len_be, &[label_len], b"tls13 ", label, &[0u8]];
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    prk.expand(&info, Len(out.len())).and_then(|okm| okm.fill(out)).map_err(|_| ())
}

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// What a record held.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Application data: `range` of the buffer given to [`Opener::open`].
    Data(std::ops::Range<usize>),
    /// Nothing for the caller (a session ticket, a key update).
    Nothing,
    /// The peer's `close_notify`.
    Closed,
}

/// The receiving half.
pub(crate) struct Opener {
    keys: Keys,
    side: Side,
    /// The peer asked for our key update too.
    pub(crate) update_requested: bool,
}

/// The sending half.
pub(crate) struct Sealer {
    keys: Keys,
}

/// Both halves of a connection whose handshake rustls finished;
/// `secrets` is the key log its config carried.
pub(crate) fn take_over(
    extracted: ExtractedSecrets,
    secrets: &TrafficSecrets,
    side: Side,
) -> Result<(Sealer, Opener), RecordError> {
    let Logged { client, server } = secrets.take();
    let missing = || RecordError::Keys("the traffic secrets were not logged".into());
    let (tx_secret, rx_secret) = match side {
        Side::Client => (client.ok_or_else(missing)?, server.ok_or_else(missing)?),
        Side::Server => (server.ok_or_else(missing)?, client.ok_or_else(missing)?),
    };
    let (tx_seq, tx) = extracted.tx;
    let (rx_seq, rx) = extracted.rx;
    let tx = keys_checked(tx, tx_secret, tx_seq)?;
    let rx = keys_checked(rx, rx_secret, rx_seq)?;
    Ok((Sealer { keys: tx }, Opener { keys: rx, side, update_requested: false }))
}

/// Keys from `secret`, checked against what rustls derived.
fn keys_checked(
    theirs: ConnectionTrafficSecrets,
    secret: Zeroizing<Vec<u8>>,
    seq: u64,
) -> Result<Keys, RecordError> {
    use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305};
    let aes_limit = 1 << 24;
    let (suite, key, iv) = match &theirs {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (
            Suite { aead: &AES_128_GCM, hkdf: hkdf::HKDF_SHA256, key_len: 16, limit: aes_limit },
            key.as_ref(),
            iv.as_ref(),
        ),
        ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (
            Suite { aead: &AES_256_GCM, hkdf: hkdf::HKDF_SHA384, key_len: 32, limit: aes_limit },
            key.as_ref(),
            iv.as_ref(),
        ),
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (
            Suite {
                aead: &CHACHA20_POLY1305,
                hkdf: hkdf::HKDF_SHA256,
                key_len: 32,
                limit: u64::MAX,
            },
            key.as_ref(),
            iv.as_ref(),
        ),
        _ => return Err(RecordError::Keys("a cipher suite this tunnel does not carry".into())),
    };
    let mut ours = Zeroizing::new(vec![0u8; suite.key_len]);
    let mut our_iv = [0u8; NONCE_LEN];
    let derived = expand_label(suite.hkdf, &secret, b"key", &mut ours)
        .and_then(|()| expand_label(suite.hkdf, &secret, b"iv", &mut our_iv));
    let same = derived.is_ok()
        && aws_lc_rs::constant_time::verify_slices_are_equal(&ours, key).is_ok()
        && our_iv.as_slice() == iv;
    if !same {
        return Err(RecordError::Keys("the logged secret does not match rustls's keys".into()));
    }
    Keys::from_secret(suite, secret, seq)
}

impl Sealer {
    /// Seals the record at the start of `rec`, laid out as header space
    /// ([`HEADER`] bytes), `len` bytes of plaintext and [`OVERHEAD`] −
    /// [`HEADER`] bytes of room: `rec[..len + OVERHEAD]` becomes the record.
    /// `len` ≤ [`MAX_PLAIN`].
    pub(crate) fn seal(&mut self, rec: &mut [u8], len: usize, typ: u8) -> Result<(), RecordError> {
        let bad = || RecordError::Keys("sealing failed".into());
        if len > MAX_PLAIN || rec.len() < len + OVERHEAD {
            return Err(bad());
        }
        let wire_len = (len + 1 + TAG) as u16;
        let [hi, lo] = wire_len.to_be_bytes();
        let header = [APPLICATION_DATA, 3, 3, hi, lo];
        let (head, body) = rec.split_at_mut(HEADER);
        head.copy_from_slice(&header);
        let (inner, rest) = body.split_at_mut(len + 1);
        if let Some(t) = inner.last_mut() {
            *t = typ;
        }
        let tag = self
            .keys
            .key
            .seal_in_place_separate_tag(self.keys.nonce(), Aad::from(header), inner)
            .map_err(|_| bad())?;
        rest.get_mut(..TAG).ok_or_else(bad)?.copy_from_slice(tag.as_ref());
        self.keys.seq += 1;
        Ok(())
    }

    /// Updates the key after `records` at most (never later than the
    /// suite's limit).
    pub(crate) fn rekey_after(&mut self, records: u64) {
        self.keys.suite.limit = self.keys.suite.limit.min(records.max(2));
    }

    /// Whether the key must be updated before the next record.
    pub(crate) fn needs_update(&self) -> bool {
        self.keys.seq >= self.keys.suite.limit.saturating_sub(1)
    }

    /// Appends `plain` (≤ [`MAX_PLAIN`]) to `out` as one record of `typ`.
    fn append(&mut self, out: &mut Vec<u8>, plain: &[u8], typ: u8) -> Result<(), RecordError> {
        let start = out.len();
        out.resize(start + OVERHEAD + plain.len(), 0);
        if let Some(dst) = out.get_mut(start + HEADER..start + HEADER + plain.len()) {
            dst.copy_from_slice(plain);
        }
        self.seal(out.get_mut(start..).unwrap_or_default(), plain.len(), typ)
    }

    /// Switches to the next key, once a `KeyUpdate` was sealed with this one.
    fn next_key(&mut self) -> Result<(), RecordError> {
        self.keys = self.keys.next()?;
        Ok(())
    }

    /// Appends a `KeyUpdate` record (`update_not_requested`) to `out` and
    /// switches to the next key: what follows is sealed with it.
    pub(crate) fn key_update(&mut self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        self.append(out, &KEY_UPDATE_NOT_REQUESTED, HANDSHAKE)?;
        self.next_key()
    }

    /// Appends `plain` to `out` as application data records.
    pub(crate) fn seal_copy(&mut self, out: &mut Vec<u8>, plain: &[u8]) -> Result<(), RecordError> {
        for chunk in plain.chunks(MAX_PLAIN) {
            if self.needs_update() {
                self.key_update(out)?;
            }
            self.append(out, chunk, APPLICATION_DATA)?;
        }
        Ok(())
    }
}

/// The length of the record at the start of `buf` once its header is there.
pub(crate) fn record_len(buf: &[u8], offset: usize) -> Result<Option<usize>, RecordError> {
    let Some(&[typ, v1, v2, l1, l2]) = buf.get(..HEADER) else { return Ok(None) };
    let (version, len) = (u16::from_be_bytes([v1, v2]), u16::from_be_bytes([l1, l2]));
    if typ != APPLICATION_DATA {
        return Err(RecordError::OuterType { offset, got: typ });
    }
    if version != 0x0303 {
        return Err(RecordError::Version { offset, got: version });
    }
    let len = usize::from(len);
    if !(1 + TAG..=MAX_CIPHERTEXT).contains(&len) {
        return Err(RecordError::Length { offset, len });
    }
    Ok(Some(HEADER + len))
}

impl Opener {
    /// Opens the record at the start of `buf` in place. `Ok(None)`: not all
    /// of it is there yet. Else how many bytes it took and what it held.
    /// `offset` only names the place in errors.
    pub(crate) fn open(
        &mut self,
        buf: &mut [u8],
        offset: usize,
    ) -> Result<Option<(usize, Content)>, RecordError> {
        let Some(total) = record_len(buf, offset)? else { return Ok(None) };
        let Some(rec) = buf.get_mut(..total) else { return Ok(None) };
        let mut header = [0u8; HEADER];
        header.copy_from_slice(rec.get(..HEADER).unwrap_or_default());
        let seq = self.keys.seq;
        let body = rec.get_mut(HEADER..).unwrap_or_default();
        let plain = self
            .keys
            .key
            .open_in_place(self.keys.nonce(), Aad::from(header), body)
            .map_err(|_| RecordError::Decrypt { offset, seq })?;
        self.keys.seq += 1;
        // Content, type and padding: at most 2^14 + 1 bytes (RFC 8446 §5.4).
        if plain.len() > MAX_PLAIN + 1 {
            return Err(RecordError::Overflow { offset, len: plain.len() });
        }
        // The inner content type is the last byte that is not padding.
        let Some(end) = plain.iter().rposition(|b| *b != 0) else {
            return Err(RecordError::NoContentType { offset });
        };
        let typ = plain.get(end).copied().unwrap_or_default();
        let content = match typ {
            APPLICATION_DATA => Content::Data(HEADER..HEADER + end),
            HANDSHAKE => self.handshake(plain.get(..end).unwrap_or_default(), offset)?,
            ALERT => match plain.get(..end) {
                Some([_, CLOSE_NOTIFY]) => Content::Closed,
                Some([_, desc]) => return Err(RecordError::Alert(*desc)),
                _ => return Err(RecordError::Malformed { offset, what: "alert" }),
            },
            got => return Err(RecordError::InnerType { offset, got }),
        };
        Ok(Some((total, content)))
    }

    /// Post-handshake messages: session tickets (the client ignores them:
    /// a tunnel is one long connection) and key updates.
    fn handshake(&mut self, mut msgs: &[u8], offset: usize) -> Result<Content, RecordError> {
        let malformed = RecordError::Malformed { offset, what: "handshake message" };
        while !msgs.is_empty() {
            let [kind, a, b, c, rest @ ..] = msgs else { return Err(malformed) };
            let len = u32::from_be_bytes([0, *a, *b, *c]) as usize;
            let (body, rest) = rest.split_at_checked(len).ok_or(malformed.clone())?;
            match (*kind, self.side) {
                (NEW_SESSION_TICKET, Side::Client) => {}
                (KEY_UPDATE, _) => {
                    // It must end its record: what follows uses the new key.
                    let request = match body {
                        [0] => false,
                        [1] => true,
                        _ => return Err(malformed),
                    };
                    if !rest.is_empty() {
                        return Err(malformed);
                    }
                    self.keys = self.keys.next()?;
                    self.update_requested |= request;
                }
                (kind, _) => return Err(RecordError::Handshake { offset, kind }),
            }
            msgs = rest;
        }
        Ok(Content::Nothing)
    }
}

#[cfg(test)]
mod tests;

/// Records on their way to the socket: sealed ones, then at most one open
/// record that plaintext is still added to. Bytes read from a device land in
/// the open record and the ones after it ([`Outbox::read_frame`]) and are
/// sealed where they lie.
#[derive(Default)]
pub(crate) struct Outbox {
    /// Zero-filled once up to its length and reused: `len` is the end in use.
    buf: Vec<u8>,
    len: usize,
    /// Bytes written to the socket.
    sent: usize,
    /// The open record's start (its header), if any.
    open: Option<usize>,
}

impl Outbox {
    /// Sealed bytes not written yet.
    pub(crate) fn pending(&self) -> &[u8] {
        self.buf.get(self.sent..self.sealed_end()).unwrap_or_default()
    }

    /// Everything held: sealed, unsent, and open.
    pub(crate) fn len(&self) -> usize {
        self.len - self.sent
    }

    fn sealed_end(&self) -> usize {
        self.open.unwrap_or(self.len)
    }

    /// `n` bytes were written to the socket.
    pub(crate) fn advance(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.sealed_end());
        if self.sent == self.len && self.open.is_none() {
            self.sent = 0;
            self.len = 0;
        }
    }

    /// Drops the buffer if it grew past `keep` and is empty now.
    pub(crate) fn shrink(&mut self, keep: usize) {
        if self.len == 0 && self.buf.len() > keep {
            self.buf = Vec::new();
        }
    }

    fn room(&mut self, end: usize) {
        if self.buf.len() < end {
            self.buf.resize(end.max(self.buf.len() * 2).max(4 * 1024), 0);
        }
    }

    /// Opens a record at the end (after a key update, if one is due).
    fn start(&mut self, sealer: &mut Sealer) -> Result<usize, RecordError> {
        if let Some(o) = self.open {
            return Ok(o);
        }
        if sealer.needs_update() {
            self.append(sealer, &KEY_UPDATE_NOT_REQUESTED, HANDSHAKE)?;
            sealer.next_key()?;
        }
        let o = self.len;
        self.room(o + HEADER);
        self.len = o + HEADER;
        self.open = Some(o);
        Ok(o)
    }

    /// Plaintext in the open record so far.
    fn filled(&self) -> usize {
        self.open.map_or(0, |o| self.len - o - HEADER)
    }

    /// Seals the open record, if it holds anything (an empty one is dropped).
    pub(crate) fn close(&mut self, sealer: &mut Sealer) -> Result<(), RecordError> {
        let Some(o) = self.open.take() else { return Ok(()) };
        let n = self.len - o - HEADER;
        if n == 0 {
            self.len = o;
            return Ok(());
        }
        self.room(o + n + OVERHEAD);
        let rec = self.buf.get_mut(o..o + n + OVERHEAD).unwrap_or_default();
        sealer.seal(rec, n, APPLICATION_DATA)?;
        self.len = o + n + OVERHEAD;
        Ok(())
    }

    /// Appends plaintext, sealing each record that fills.
    pub(crate) fn push(
        &mut self,
        sealer: &mut Sealer,
        mut plain: &[u8],
    ) -> Result<(), RecordError> {
        while !plain.is_empty() {
            self.start(sealer)?;
            let take = (MAX_PLAIN - self.filled()).min(plain.len());
            let (now, rest) = plain.split_at(take);
            self.room(self.len + take);
            if let Some(dst) = self.buf.get_mut(self.len..self.len + take) {
                dst.copy_from_slice(now);
            }
            self.len += take;
            plain = rest;
            if self.filled() == MAX_PLAIN {
                self.close(sealer)?;
            }
        }
        Ok(())
    }

    /// Makes room for `n` (≤ [`MAX_PLAIN`]) contiguous plaintext bytes in the
    /// open record: where they start.
    fn reserve(&mut self, sealer: &mut Sealer, n: usize) -> Result<usize, RecordError> {
        if self.open.is_some() && MAX_PLAIN - self.filled() < n {
            self.close(sealer)?;
        }
        self.start(sealer)?;
        let at = self.len;
        self.room(at + n);
        self.len += n;
        Ok(at)
    }

    /// Appends one frame read from a device: a `head`-byte header that
    /// `header(n, dst)` writes once `read` (given the free space of the open
    /// record and of the records after it, at most `max` bytes) returned
    /// `n` > 0. Seals every record that filled; the last stays open. Nothing
    /// is added when `read` fails or returns 0. What `read` returned.
    pub(crate) fn read_frame(
        &mut self,
        sealer: &mut Sealer,
        head: usize,
        max: usize,
        read: impl FnOnce(&mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize>,
        header: impl FnOnce(usize, &mut [u8]),
    ) -> std::io::Result<usize> {
        let to_io = |e: RecordError| std::io::Error::other(e.to_string());
        let at = self.reserve(sealer, head).map_err(to_io)?;
        let first = (MAX_PLAIN - self.filled()).min(max);
        // Whole records after the open one, as long as no key update falls
        // among them.
        let left = sealer.keys.suite.limit.saturating_sub(1).saturating_sub(sealer.keys.seq + 1);
        let more =
            (max - first).div_ceil(MAX_PLAIN).min(usize::try_from(left).unwrap_or(usize::MAX));
        let end = self.len + first + more * (MAX_PLAIN + OVERHEAD) + OVERHEAD;
        self.room(end);
        let mut slots = Vec::with_capacity(more + 1);
        let (_, rest) = self.buf.split_at_mut(self.len);
        let (a, mut rest) = rest.split_at_mut(first);
        slots.push(std::io::IoSliceMut::new(a));
        let mut wanted = max - first;
        for _ in 0..more {
            // The open record's type and tag, the next one's header.
            let (_, b) = rest.split_at_mut(OVERHEAD.min(rest.len()));
            let take = wanted.min(MAX_PLAIN).min(b.len());
            let (a, b) = b.split_at_mut(take);
            slots.push(std::io::IoSliceMut::new(a));
            rest = b;
            wanted -= take;
        }
        let n = match read(&mut slots) {
            Ok(0) => 0,
            Ok(n) => n,
            Err(e) => {
                drop(slots);
                self.truncate(at);
                return Err(e);
            }
        };
        drop(slots);
        if n == 0 {
            self.truncate(at);
            return Ok(0);
        }
        header(n, self.buf.get_mut(at..at + head).unwrap_or_default());
        // Seals what filled; the bytes already lie where their records go.
        let mut left = n;
        loop {
            let take = (MAX_PLAIN - self.filled()).min(left);
            self.len += take;
            left -= take;
            if self.filled() < MAX_PLAIN {
                break;
            }
            self.close(sealer).map_err(to_io)?;
            if left == 0 {
                break;
            }
            // The next record's header, right after the one just sealed.
            let o = self.len;
            self.len = o + HEADER;
            self.open = Some(o);
        }
        Ok(n)
    }

    /// Gives back what follows `at`, inside the open record.
    fn truncate(&mut self, at: usize) {
        if self.open.is_some_and(|o| at >= o + HEADER && at <= self.len) {
            self.len = at;
        }
    }

    /// Appends `plain` (≤ [`MAX_PLAIN`]) as one sealed record of `typ`;
    /// nothing may be open.
    fn append(&mut self, sealer: &mut Sealer, plain: &[u8], typ: u8) -> Result<(), RecordError> {
        let at = self.len;
        self.room(at + OVERHEAD + plain.len());
        if let Some(dst) = self.buf.get_mut(at + HEADER..at + HEADER + plain.len()) {
            dst.copy_from_slice(plain);
        }
        sealer.seal(self.buf.get_mut(at..).unwrap_or_default(), plain.len(), typ)?;
        self.len = at + OVERHEAD + plain.len();
        Ok(())
    }

    /// Seals what is open and appends a `close_notify`.
    pub(crate) fn close_notify(&mut self, sealer: &mut Sealer) -> Result<(), RecordError> {
        self.close(sealer)?;
        self.append(sealer, &CLOSE_NOTIFY_ALERT, ALERT)
    }

    /// Seals what is open, appends a `KeyUpdate` (the peer asked) and
    /// switches to the next key.
    pub(crate) fn key_update(&mut self, sealer: &mut Sealer) -> Result<(), RecordError> {
        self.close(sealer)?;
        self.append(sealer, &KEY_UPDATE_NOT_REQUESTED, HANDSHAKE)?;
        sealer.next_key()
    }
}
