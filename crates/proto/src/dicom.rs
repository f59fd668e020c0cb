//! TODO(issue 4): dicom parser.

use crate::facts::Verdict;
use crate::identify::Ctx;

pub fn probe_stream(_ctx: &Ctx, _client: &[u8], _server: &[u8]) -> Verdict {
    Verdict::No
}
