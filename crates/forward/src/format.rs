//! The wire forms of an alert, sans I/O: RFC 5424 syslog, CEF in syslog,
//! the webhook's JSON, and RFC 6587 octet-counting frames.
//!
//! Every form has a byte cap. What does not fit is shortened in this order:
//! evidence details are dropped, then the summaries are cut (at a character
//! boundary, marked with `…`), and a `truncated` marker says so. The
//! identifying fields (id, kind, severity, state, count, times, endpoints)
//! always fit: they are short and bounded.
//!
//! Hostile text cannot break a frame: control characters (newline, NUL, …)
//! and the Unicode line and paragraph separators become spaces (or `\n`,
//! `\r` in CEF extensions, as its spec says), and each form's special
//! characters are escaped (`"`, `\`, `]` in SD-PARAM values; `|`, `\` in the
//! CEF header; `\`, `=` in CEF extensions).

use std::borrow::Cow;

use serde::Serialize;
use time::{OffsetDateTime, UtcOffset};

use sekimori_types::{Alert, Evidence};

use crate::config::Facility;

/// SD-ID of our structured data (enterprise number 32473 is the one RFC
/// 5612 reserves for documentation; a registered number replaces it
/// without changing anything else).
pub const SD_ID: &str = "sekimori@32473";
/// APP-NAME of every message.
pub const APP_NAME: &str = "sekimori";
/// The CEF device version and the webhook's `version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const ELLIPSIS: &str = "…";
const BOM: &str = "\u{FEFF}";
/// Longest CEF Name field (characters), as the CEF spec allows.
const CEF_NAME_MAX_CHARS: usize = 512;
const TRUNCATED_PARAM: &str = " truncated=\"true\"";

/// What every syslog message of a destination shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSettings {
    pub facility: Facility,
    /// Already sanitised with [`sanitize_hostname`].
    pub hostname: String,
    /// Cap on the whole message (not counting the octet-counting frame).
    pub max_bytes: usize,
}

/// RFC 5424 TIMESTAMP: UTC, microseconds at most (TIME-SECFRAC allows six
/// digits), fraction left out when zero.
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let t = if (0..=9999).contains(&t.year()) { t } else { OffsetDateTime::UNIX_EPOCH };
    let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
    let (h, mi, s, us) = (t.hour(), t.minute(), t.second(), t.microsecond());
    if us == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
    }
}

/// HOSTNAME: printable US-ASCII only, at most 255, `-` when nothing is
/// left.
pub fn sanitize_hostname(s: &str) -> String {
    let h: String =
        s.bytes().filter(|b| (33..=126).contains(b)).take(255).map(char::from).collect();
    if h.is_empty() { "-".to_owned() } else { h }
}

fn is_breaking(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

type Escape = fn(char, &mut String);

fn esc_sd_value(c: char, out: &mut String) {
    match c {
        '"' | '\\' | ']' => {
            out.push('\\');
            out.push(c);
        }
        c if is_breaking(c) => out.push(' '),
        c => out.push(c),
    }
}

fn esc_msg(c: char, out: &mut String) {
    out.push(if is_breaking(c) { ' ' } else { c });
}

fn esc_cef_header(c: char, out: &mut String) {
    match c {
        '|' | '\\' => {
            out.push('\\');
            out.push(c);
        }
        c if is_breaking(c) => out.push(' '),
        c => out.push(c),
    }
}

fn esc_cef_ext(c: char, out: &mut String) {
    match c {
        '\\' | '=' => {
            out.push('\\');
            out.push(c);
        }
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if is_breaking(c) => out.push(' '),
        c => out.push(c),
    }
}

fn escaped(s: &str, esc: Escape) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        esc(c, &mut out);
    }
    out
}

/// `s` escaped, cut to at most `budget` bytes (with `…` when cut). Works on
/// whole characters and whole escapes, so neither a UTF-8 sequence nor an
/// escape is ever split.
fn fit(s: &str, budget: usize, esc: Escape) -> (String, bool) {
    let full = escaped(s, esc);
    if full.len() <= budget {
        return (full, false);
    }
    let Some(limit) = budget.checked_sub(ELLIPSIS.len()) else {
        return (String::new(), true);
    };
    if limit == 0 {
        return (String::new(), true);
    }
    let mut out = String::with_capacity(budget);
    let mut one = String::with_capacity(8);
    for c in s.chars() {
        one.clear();
        esc(c, &mut one);
        if out.len() + one.len() > limit {
            break;
        }
        out.push_str(&one);
    }
    out.push_str(ELLIPSIS);
    (out, true)
}

/// Cuts a string to at most `max_chars` characters, with `…` when cut.
fn cut_chars(s: &str, max_chars: usize) -> Cow<'_, str> {
    if s.chars().count() <= max_chars {
        return Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push_str(ELLIPSIS);
    Cow::Owned(out)
}

fn push_param(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        esc_sd_value(c, out);
    }
    out.push('"');
}

/// An SD-NAME for an evidence detail: `d_` and the key's `[A-Za-z0-9_.-]`
/// (others become `_`), 32 characters at most.
fn detail_param_name(key: &str) -> String {
    let mut name = String::from("d_");
    name.extend(
        key.chars()
            .map(
                |c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' },
            )
            .take(30),
    );
    name
}

/// The endpoints an alert names: the first flow's, else its first two
/// assets.
struct Endpoints {
    src: Option<String>,
    dst: Option<String>,
    dport: Option<u16>,
    app: Option<String>,
}

fn endpoints(e: &Evidence) -> Endpoints {
    match e.flows.first() {
        Some(f) => Endpoints {
            src: Some(f.src.to_string()),
            dst: Some(f.dst.to_string()),
            dport: Some(f.dport),
            app: f.app.as_deref().map(|a| cut_chars(a, 32).into_owned()),
        },
        None => Endpoints {
            src: e.assets.first().map(|a| a.ip.to_string()),
            dst: e.assets.get(1).map(|a| a.ip.to_string()),
            dport: None,
            app: None,
        },
    }
}

fn header(alert: &Alert, at: OffsetDateTime, s: &MessageSettings) -> String {
    let pri = u16::from(s.facility.code()) * 8 + u16::from(alert.severity.syslog());
    format!(
        "<{pri}>1 {ts} {host} {APP_NAME} - {msgid} ",
        ts = timestamp(at),
        host = s.hostname,
        msgid = alert.kind.as_str(),
    )
}

/// The RFC 5424 message for `alert`, at most `s.max_bytes` bytes:
///
/// `<PRI>1 TIMESTAMP HOSTNAME sekimori - KIND [sekimori@32473 id=… kind=…
/// severity=… state=… count=… first=… last=… src=… dst=… dport=… app=…
/// bytes=… summary_ja=… d_<detail>=…] BOM summary`
///
/// The BOM is written only when the summary is not pure ASCII.
pub fn rfc5424(alert: &Alert, at: OffsetDateTime, s: &MessageSettings) -> String {
    let head = header(alert, at, s);
    let mut core = String::with_capacity(512);
    core.push('[');
    core.push_str(SD_ID);
    push_param(&mut core, "id", &alert.id.to_string());
    push_param(&mut core, "kind", alert.kind.as_str());
    push_param(&mut core, "severity", alert.severity.as_str());
    push_param(&mut core, "state", alert.state.as_str());
    push_param(&mut core, "count", &alert.count.to_string());
    push_param(&mut core, "first", &timestamp(alert.first));
    push_param(&mut core, "last", &timestamp(alert.last));
    let ep = endpoints(&alert.evidence);
    if let Some(v) = &ep.src {
        push_param(&mut core, "src", v);
    }
    if let Some(v) = &ep.dst {
        push_param(&mut core, "dst", v);
    }
    if let Some(v) = ep.dport {
        push_param(&mut core, "dport", &v.to_string());
    }
    if let Some(v) = &ep.app {
        push_param(&mut core, "app", v);
    }
    if let Some(v) = alert.evidence.bytes {
        push_param(&mut core, "bytes", &v.to_string());
    }

    // What is left for the summaries and the details (the closing `]`
    // counted).
    let budget = s.max_bytes.saturating_sub(head.len() + core.len() + 1);

    let ja_full = escaped(&alert.summary_ja, esc_sd_value);
    let ja_cost =
        |text: &str| if text.is_empty() { 0 } else { " summary_ja=\"\"".len() + text.len() };
    let msg_full = escaped(&alert.summary, esc_msg);
    let msg_cost = |text: &str| match (text.is_empty(), text.is_ascii()) {
        (true, _) => 0,
        (false, true) => 1 + text.len(),
        (false, false) => 1 + BOM.len() + text.len(),
    };
    let details: Vec<(String, String)> = alert
        .evidence
        .details
        .iter()
        .map(|(k, v)| {
            let mut p = String::new();
            push_param(&mut p, &detail_param_name(k), v);
            (k.clone(), p)
        })
        .collect();
    let details_cost: usize = details.iter().map(|(_, p)| p.len()).sum();

    let (msg, ja, mut rest, truncated) =
        if msg_cost(&msg_full) + ja_cost(&ja_full) + details_cost <= budget {
            (msg_full, ja_full, details_cost, false)
        } else {
            let b = budget.saturating_sub(TRUNCATED_PARAM.len());
            let (msg, ja) = split_two(
                &alert.summary,
                esc_msg,
                msg_cost,
                &alert.summary_ja,
                esc_sd_value,
                ja_cost,
                b,
            );
            let rest = b.saturating_sub(msg_cost(&msg) + ja_cost(&ja));
            (msg, ja, rest, true)
        };

    let mut out = String::with_capacity(s.max_bytes.min(16 * 1024));
    out.push_str(&head);
    out.push_str(&core);
    if !ja.is_empty() {
        out.push_str(" summary_ja=\"");
        out.push_str(&ja);
        out.push('"');
    }
    for (_, p) in &details {
        if p.len() <= rest {
            out.push_str(p);
            rest -= p.len();
        }
    }
    if truncated {
        out.push_str(TRUNCATED_PARAM);
    }
    out.push(']');
    if !msg.is_empty() {
        out.push(' ');
        if !msg.is_ascii() {
            out.push_str(BOM);
        }
        out.push_str(&msg);
    }
    enforce_cap(out, s.max_bytes)
}

/// Shares `budget` between two texts: each gets what it needs if the other
/// leaves room, and at least half when both need more.
fn split_two(
    a: &str,
    a_esc: Escape,
    a_cost: impl Fn(&str) -> usize,
    b: &str,
    b_esc: Escape,
    b_cost: impl Fn(&str) -> usize,
    budget: usize,
) -> (String, String) {
    let a_full = escaped(a, a_esc);
    let b_full = escaped(b, b_esc);
    let a_overhead = a_cost("…") - "…".len();
    let b_overhead = b_cost("…") - "…".len();
    let a_share = a_cost(&a_full).min((budget / 2).max(budget.saturating_sub(b_cost(&b_full))));
    let a_text = if a_cost(&a_full) <= a_share {
        a_full
    } else {
        fit(a, a_share.saturating_sub(a_overhead), a_esc).0
    };
    let a_text = if a_text == ELLIPSIS { String::new() } else { a_text };
    let left = budget.saturating_sub(a_cost(&a_text));
    let b_text = if b_cost(&b_full) <= left {
        b_full
    } else {
        fit(b, left.saturating_sub(b_overhead), b_esc).0
    };
    let b_text = if b_text == ELLIPSIS { String::new() } else { b_text };
    (a_text, b_text)
}

/// Last resort (a cap below what the identifying fields need): cut at a
/// character boundary.
fn enforce_cap(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn unix_ms(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000_000
}

/// The CEF record for `alert`, at most `max_bytes`:
///
/// `CEF:0|sekimori|sekimori|VERSION|KIND|summary|CEF-SEVERITY|rt=…
/// externalId=… cnt=… start=… end=… cs1Label=state cs1=… src=… dst=… dpt=…
/// app=… cn1Label=bytes cn1=… cs2Label=summary_ja cs2=… cs3Label=details
/// cs3=key\=value; …`
pub fn cef(alert: &Alert, at: OffsetDateTime, max_bytes: usize) -> String {
    let prefix = format!("CEF:0|sekimori|sekimori|{VERSION}|{}|", alert.kind.as_str());
    let mid = format!("|{}|", alert.severity.cef());
    let mut ext = format!(
        "rt={} externalId={} cnt={} start={} end={} cs1Label=state cs1={}",
        unix_ms(at),
        alert.id,
        alert.count,
        unix_ms(alert.first),
        unix_ms(alert.last),
        alert.state.as_str(),
    );
    let ep = endpoints(&alert.evidence);
    if let Some(v) = &ep.src {
        ext.push_str(&format!(" src={v}"));
    }
    if let Some(v) = &ep.dst {
        ext.push_str(&format!(" dst={v}"));
    }
    if let Some(v) = ep.dport {
        ext.push_str(&format!(" dpt={v}"));
    }
    if let Some(v) = &ep.app {
        ext.push_str(" app=");
        ext.push_str(&escaped(v, esc_cef_ext));
    }
    if let Some(v) = alert.evidence.bytes {
        ext.push_str(&format!(" cn1Label=bytes cn1={v}"));
    }
    let details: String = alert
        .evidence
        .details
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");

    let budget = max_bytes.saturating_sub(prefix.len() + mid.len() + ext.len());
    let name_src = cut_chars(&alert.summary, CEF_NAME_MAX_CHARS);
    let name_full = escaped(&name_src, esc_cef_header);
    let ja_full = escaped(&alert.summary_ja, esc_cef_ext);
    let details_full = escaped(&details, esc_cef_ext);
    let ja_cost =
        |t: &str| if t.is_empty() { 0 } else { " cs2Label=summary_ja cs2=".len() + t.len() };
    let det_cost =
        |t: &str| if t.is_empty() { 0 } else { " cs3Label=details cs3=".len() + t.len() };
    let (name, ja, det) = if name_full.len() + ja_cost(&ja_full) + det_cost(&details_full) <= budget
    {
        (name_full, ja_full, details_full)
    } else {
        let (name, ja) = split_two(
            &name_src,
            esc_cef_header,
            str::len,
            &alert.summary_ja,
            esc_cef_ext,
            ja_cost,
            budget,
        );
        let left = budget.saturating_sub(name.len() + ja_cost(&ja));
        let det = if det_cost(&details_full) <= left { details_full } else { String::new() };
        (name, ja, det)
    };
    let mut out = String::with_capacity(max_bytes.min(16 * 1024));
    out.push_str(&prefix);
    out.push_str(&name);
    out.push_str(&mid);
    out.push_str(&ext);
    if !ja.is_empty() {
        out.push_str(" cs2Label=summary_ja cs2=");
        out.push_str(&ja);
    }
    if !det.is_empty() {
        out.push_str(" cs3Label=details cs3=");
        out.push_str(&det);
    }
    enforce_cap(out, max_bytes)
}

/// CEF carried in an RFC 5424 message (no structured data; the CEF record
/// is the MSG, after a BOM when it is not pure ASCII, as RFC 5424 requires
/// of UTF-8).
pub fn cef_message(alert: &Alert, at: OffsetDateTime, s: &MessageSettings) -> String {
    let mut out = header(alert, at, s);
    out.push_str("- ");
    let budget = s.max_bytes.saturating_sub(out.len());
    let record = cef(alert, at, budget);
    if record.is_ascii() {
        out.push_str(&record);
    } else {
        // RFC 5424 section 6.4: a UTF-8 MSG starts with the BOM.
        out.push_str(BOM);
        out.push_str(&cef(alert, at, budget.saturating_sub(BOM.len())));
    }
    enforce_cap(out, s.max_bytes)
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    source: &'static str,
    version: &'static str,
    hostname: &'a str,
    sent_at: String,
    truncated: bool,
    alert: &'a Alert,
}

/// The webhook's JSON body, at most `max_bytes`: `{"source":"sekimori",
/// "version", "hostname", "sent_at", "truncated", "alert": {…}}` with the
/// alert as the store keeps it. When too large, flows are dropped from the
/// end, then details, then the summaries and free texts are cut.
pub fn webhook_body(
    alert: &Alert,
    at: OffsetDateTime,
    hostname: &str,
    max_bytes: usize,
) -> Vec<u8> {
    let encode = |a: &Alert, truncated: bool| {
        serde_json::to_vec(&WebhookBody {
            source: APP_NAME,
            version: VERSION,
            hostname,
            sent_at: timestamp(at),
            truncated,
            alert: a,
        })
        .unwrap_or_default()
    };
    let body = encode(alert, false);
    if body.len() <= max_bytes {
        return body;
    }
    let mut a = alert.clone();
    while a.evidence.flows.pop().is_some() {
        let body = encode(&a, true);
        if body.len() <= max_bytes {
            return body;
        }
    }
    a.evidence.details.clear();
    a.evidence.assets.truncate(2);
    let body = encode(&a, true);
    if body.len() <= max_bytes {
        return body;
    }
    // Cut each of the nine free texts to a share of what is left; JSON escaping can
    // grow text up to six times, hence the divisor.
    let fixed = encode(
        &Alert {
            summary: String::new(),
            summary_ja: String::new(),
            dedup_key: String::new(),
            handled_by: None,
            comment: None,
            ..a.clone()
        },
        true,
    )
    .len();
    let share = max_bytes.saturating_sub(fixed) / 9 / 6;
    let cut = |s: &str| {
        let mut out = String::new();
        for c in s.chars() {
            if out.len() + c.len_utf8() + ELLIPSIS.len() > share {
                out.push_str(ELLIPSIS);
                break;
            }
            out.push(c);
        }
        out
    };
    a.summary = cut(&a.summary);
    a.summary_ja = cut(&a.summary_ja);
    a.dedup_key = cut(&a.dedup_key);
    a.handled_by = a.handled_by.as_deref().map(cut);
    a.comment = a.comment.as_deref().map(cut);
    for asset in &mut a.evidence.assets {
        asset.name = asset.name.as_deref().map(cut);
        asset.zone = asset.zone.as_deref().map(cut);
    }
    encode(&a, true)
}

/// Appends one RFC 6587 octet-counting frame: `LEN SP MSG`.
pub fn octet_counted(msg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

/// The bytes at the front of a stream are not an octet-counting frame
/// (no decimal length before the space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAFrame;

/// Takes the first RFC 6587 octet-counting frame from the front of `buf`
/// (what [`octet_counted`] writes): the message, `None` while it is not
/// all there yet, or [`NotAFrame`]. For receivers (a SIEM in the lab, tests).
pub fn take_octet_counted(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, NotAFrame> {
    let Some(sp) = buf.iter().position(|&b| b == b' ') else { return Ok(None) };
    let len: usize =
        std::str::from_utf8(&buf[..sp]).ok().and_then(|t| t.parse().ok()).ok_or(NotAFrame)?;
    let end = sp.checked_add(1).and_then(|s| s.checked_add(len)).ok_or(NotAFrame)?;
    if buf.len() < end {
        return Ok(None);
    }
    let msg = buf[sp + 1..end].to_vec();
    buf.drain(..end);
    Ok(Some(msg))
}
