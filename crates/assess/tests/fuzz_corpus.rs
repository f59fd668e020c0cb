//! The assessment's fuzz corpora (`fuzz/corpus/{advisory_feed,
//! inventory_file,cpe_name,version_order}/`) replayed through the fuzz entry
//! points (`fuzz/src/assess_entry.rs`, included here), so the seeds and
//! everything a fuzzing run kept are exercised by the normal test suite,
//! without a fuzzer. Small inputs are also replayed at every prefix.

#[path = "../../../fuzz/src/assess_entry.rs"]
mod entry;

#[path = "../../../fuzz/src/replay.rs"]
mod replay;

#[test]
fn every_corpus_file_replays_through_its_entry_point() {
    replay::replay_all(env!("CARGO_MANIFEST_DIR"), entry::TARGETS, 1, 4096);
}
