//! Replaying fuzz corpora in the normal test suite: each crate's
//! `tests/fuzz_corpus.rs` includes this file (`#[path]`) beside its entry
//! points, so the listing and the replay are written once. Std only: it is
//! compiled into crates that do not depend on each other.

use std::path::{Path, PathBuf};

/// A fuzz target's name and its entry point (the entry files' `TARGETS`).
pub type Target<'a> = (&'a str, fn(&[u8]));

/// `fuzz/corpus/<target>/` from a crate under `crates/`.
pub fn corpus_dir(manifest_dir: &str, target: &str) -> PathBuf {
    Path::new(manifest_dir).join("../../fuzz/corpus").join(target)
}

/// The files of a corpus, sorted (a missing directory fails the test).
pub fn corpus(manifest_dir: &str, target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(manifest_dir, target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every file of every target's corpus through its entry point, and
/// inputs up to `prefixes_up_to` bytes at every prefix too (where a real
/// input ends early). Each target needs at least `min_files`; returns how
/// many files were replayed in all.
pub fn replay_all(
    manifest_dir: &str,
    targets: &[Target<'_>],
    min_files: usize,
    prefixes_up_to: usize,
) -> usize {
    let mut total = 0;
    for (name, run) in targets {
        let files = corpus(manifest_dir, name);
        assert!(files.len() >= min_files, "{name} has {} corpus files", files.len());
        for f in &files {
            let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            run(&data);
            if data.len() <= prefixes_up_to {
                for end in 0..data.len() {
                    run(data.get(..end).unwrap_or_default());
                }
            }
        }
        total += files.len();
    }
    total
}
