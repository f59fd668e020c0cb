//! TODO(issue 4): lldp parser.

use crate::facts::Verdict;

pub fn probe_frame(_src_mac: [u8; 6], _payload: &[u8]) -> Verdict {
    Verdict::No
}
