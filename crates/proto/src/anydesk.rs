//! AnyDesk: TLS (tcp/7070 to its relays, 6568 direct, or any port) whose
//! certificate is AnyDesk's self-signed `CN=AnyDesk Client` — the
//! signature nDPI and scanners such as nmap use. The TLS probe already
//! names such flows [`App::AnyDesk`] (it usually answers first, at the
//! ClientHello); this probe answers for flows where it is asked first.
//!
//! AnyDesk's ClientHello carries no SNI; while one without SNI is waiting
//! for the server's certificate, the answer is `NeedMore`.
//!
//! UDP (LAN discovery on 50001–50003) has no payload signature this crate
//! could verify against a capture or a published description, and ports
//! alone are not evidence: `probe_datagram` says no.

use crate::facts::{App, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};
use crate::tls;

/// TCP probe.
pub fn probe_stream(ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    match tls::probe_stream(ctx, client, server) {
        v @ Verdict::Yes { app: App::AnyDesk, .. } => v,
        Verdict::Yes { facts, more: true, .. }
            if !facts.iter().any(|f| f.key == FactKey::TlsSni)
                && !facts
                    .iter()
                    .any(|f| f.subject == Subject::Server && f.key == FactKey::CertSubject) =>
        {
            Verdict::NeedMore
        }
        Verdict::NeedMore => Verdict::NeedMore,
        _ => Verdict::No,
    }
}

/// UDP probe: no verified signature (see the module documentation).
pub fn probe_datagram(_ctx: &Ctx, _side: Side, _payload: &[u8]) -> Verdict {
    Verdict::No
}
