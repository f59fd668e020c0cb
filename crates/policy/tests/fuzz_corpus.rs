//! The policy's fuzz corpora (`fuzz/corpus/{policy_file,indicator_file}/`)
//! replayed through the fuzz entry points (`fuzz/src/policy_entry.rs`,
//! included here), so the seeds and everything a fuzzing run kept are
//! exercised by the normal test suite, without a fuzzer. Small inputs are
//! also replayed at every prefix.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic, dead_code)]

#[path = "../../../fuzz/src/policy_entry.rs"]
mod entry;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_replays_through_its_entry_point() {
    for (name, run) in entry::TARGETS {
        let files = corpus(name);
        assert!(!files.is_empty(), "{name} has no corpus");
        for f in files {
            let data = std::fs::read(&f).unwrap();
            run(&data);
            if data.len() <= 4096 {
                for end in 0..data.len() {
                    run(&data[..end]);
                }
            }
        }
    }
}
