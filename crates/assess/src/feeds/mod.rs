//! Reading advisory feeds. OWNED BY THE FEEDS HELPER — placeholder with the
//! agreed public API.

use std::path::{Path, PathBuf};

use crate::InputError;
use crate::model::FeedRecord;

/// What reading reports, as it goes.
#[derive(Debug)]
pub enum FeedEvent {
    /// A record read.
    Record(FeedRecord),
    /// A record (or file) skipped.
    Error(InputError),
    /// Progress: `done` of `total` files (total known after the walk).
    Progress {
        /// Files read so far.
        done: u64,
        /// Files found.
        total: u64,
    },
}

/// Read every feed file under `paths` (files, directories walked
/// recursively, `.zip` archives such as cvelistV5), calling `sink` for each
/// record, error and progress step. Returns the number of files read.
pub fn read_paths(paths: &[PathBuf], sink: &mut dyn FnMut(FeedEvent)) -> u64 {
    let _ = (paths, sink);
    0
}

/// Read one file's bytes (`name` is used in errors), whatever its format.
pub fn read_bytes(name: &Path, bytes: &[u8], sink: &mut dyn FnMut(FeedEvent)) {
    let _ = (name, bytes, sink);
}
