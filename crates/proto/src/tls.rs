//! TODO(issue 4): tls parser.

use crate::facts::Verdict;
use crate::identify::{Ctx, Side};

pub fn probe_stream(_ctx: &Ctx, _client: &[u8], _server: &[u8]) -> Verdict {
    Verdict::No
}

pub fn probe_datagram(_ctx: &Ctx, _side: Side, _payload: &[u8]) -> Verdict {
    Verdict::No
}
