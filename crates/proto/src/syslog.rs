//! TODO(issue 4): syslog parser.

use crate::facts::Verdict;
use crate::identify::{Ctx, Side};

pub fn probe_datagram(_ctx: &Ctx, _side: Side, _payload: &[u8]) -> Verdict {
    Verdict::No
}
