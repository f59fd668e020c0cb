//! The durable queue on a real directory: restart, torn tails, deletion of
//! delivered segments, the cap.

use std::fs::OpenOptions;
use std::path::Path;

use sekimori_forward::ForwardError;
use sekimori_forward::queue::{Queue, QueueOptions, RECORD_HEADER};

const OPTS: QueueOptions = QueueOptions { segment_bytes: 1 << 20, max_bytes: 1 << 24 };

fn open(dir: &Path, opts: QueueOptions) -> (Queue, Vec<ForwardError>) {
    Queue::open(dir, "siem", opts).expect("queue opens")
}

fn payloads(q: &Queue) -> Vec<String> {
    let b = q.peek(usize::MAX, usize::MAX).unwrap();
    assert!(b.skipped.is_empty(), "{:?}", b.skipped);
    b.records.into_iter().map(|r| String::from_utf8(r.payload).unwrap()).collect()
}

#[test]
fn records_come_back_in_order_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (q, damage) = open(dir.path(), OPTS);
        assert!(damage.is_empty());
        for i in 1..=5 {
            assert_eq!(q.append(format!("alert {i}").as_bytes()).unwrap(), i);
        }
        assert_eq!(q.len(), 5);
    }
    let (q, damage) = open(dir.path(), OPTS);
    assert!(damage.is_empty());
    assert_eq!(payloads(&q), ["alert 1", "alert 2", "alert 3", "alert 4", "alert 5"]);
    // The sequence goes on where it was.
    assert_eq!(q.append(b"alert 6").unwrap(), 6);
}

#[test]
fn the_cursor_survives_a_restart_and_delivery_resumes_right_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (q, _) = open(dir.path(), OPTS);
        for i in 1..=6 {
            q.append(format!("alert {i}").as_bytes()).unwrap();
        }
        let b = q.peek(2, usize::MAX).unwrap();
        assert_eq!(b.records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        q.ack(2).unwrap();
        q.ack(4).unwrap();
        assert_eq!(q.len(), 2);
    }
    let (q, damage) = open(dir.path(), OPTS);
    assert!(damage.is_empty());
    assert_eq!(q.delivered_through(), 4);
    assert_eq!(payloads(&q), ["alert 5", "alert 6"]);
    assert!(!dir.path().join("cursor.tmp").exists());
}

#[test]
fn a_torn_tail_record_is_skipped_named_by_file_and_offset_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let record_len = (RECORD_HEADER + "alert N".len()) as u64;
    let segment = {
        let (q, _) = open(dir.path(), OPTS);
        for i in 1..=4 {
            q.append(format!("alert {i}").as_bytes()).unwrap();
        }
        q.segment_files().pop().unwrap()
    };
    // A crash in the middle of writing record 4.
    let f = OpenOptions::new().write(true).open(&segment).unwrap();
    f.set_len(3 * record_len + 20).unwrap();
    drop(f);

    let (q, damage) = open(dir.path(), OPTS);
    assert_eq!(damage.len(), 1, "{damage:?}");
    match &damage[0] {
        ForwardError::CorruptRecord { file, offset, reason } => {
            assert_eq!(file, &segment);
            assert_eq!(*offset, 3 * record_len);
            assert_eq!(*reason, "truncated_record");
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = damage[0].to_string();
    assert!(text.contains(&segment.display().to_string()), "{text}");
    assert!(text.contains(&format!("offset {}", 3 * record_len)), "{text}");
    assert_eq!(payloads(&q), ["alert 1", "alert 2", "alert 3"]);
    // The torn bytes are cut: a new record follows the good ones and reads
    // back after another restart.
    assert_eq!(q.append(b"alert 5").unwrap(), 4);
    drop(q);
    let (q, damage) = open(dir.path(), OPTS);
    assert!(damage.is_empty(), "{damage:?}");
    assert_eq!(payloads(&q), ["alert 1", "alert 2", "alert 3", "alert 5"]);
}

#[test]
fn a_flipped_bit_fails_the_checksum_and_later_segments_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let small = QueueOptions { segment_bytes: 64, max_bytes: 1 << 20 };
    let first = {
        let (q, _) = open(dir.path(), small);
        for i in 1..=6 {
            q.append(format!("alert {i} with some padding text").as_bytes()).unwrap();
        }
        let files = q.segment_files();
        assert!(files.len() >= 3, "{files:?}");
        files[0].clone()
    };
    let mut bytes = std::fs::read(&first).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&first, bytes).unwrap();

    let (q, damage) = open(dir.path(), small);
    assert!(
        matches!(&damage[..], [ForwardError::CorruptRecord { file, reason: "checksum_mismatch", .. }] if *file == first),
        "{damage:?}"
    );
    let got = payloads(&q);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(got[0].starts_with("alert 1 "), "the good record before the damage is kept");
    assert!(!got.iter().any(|p| p.starts_with("alert 2 ")), "the damaged one is skipped");
    assert!(got.last().unwrap().starts_with("alert 6"));
}

#[test]
fn delivered_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let small = QueueOptions { segment_bytes: 100, max_bytes: 1 << 20 };
    let (q, _) = open(dir.path(), small);
    for i in 1..=10 {
        q.append(format!("alert number {i:03} ......").as_bytes()).unwrap();
    }
    let before = q.segment_files();
    assert!(before.len() >= 4, "{before:?}");
    q.ack(5).unwrap();
    let mid = q.segment_files();
    assert!(mid.len() < before.len());
    for gone in before.iter().filter(|p| !mid.contains(p)) {
        assert!(!gone.exists(), "{gone:?} still on disk");
    }
    q.ack(10).unwrap();
    // Only the segment being written to may stay, and it is replaced (and
    // deleted) when the next record starts a new one.
    assert!(q.segment_files().len() <= 1);
    q.append(b"next").unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(payloads(&q), ["next"]);
}

#[test]
fn at_the_cap_records_are_refused_and_counted_and_the_queue_takes_more_after_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let rec = (RECORD_HEADER + 100) as u64;
    let (q, _) = open(dir.path(), QueueOptions { segment_bytes: 1 << 20, max_bytes: 3 * rec });
    for _ in 0..3 {
        q.append(&[b'x'; 100]).unwrap();
    }
    for _ in 0..2 {
        match q.append(&[b'y'; 100]) {
            Err(ForwardError::QueueFull { destination, queued_bytes, cap_bytes }) => {
                assert_eq!(destination, "siem");
                assert_eq!((queued_bytes, cap_bytes), (3 * rec, 3 * rec));
            }
            other => panic!("expected QueueFull, got {other:?}"),
        }
    }
    assert_eq!(q.refused(), 2);
    assert_eq!(q.len(), 3, "what was queued is kept");
    q.ack(1).unwrap();
    assert_eq!(q.append(&[b'z'; 100]).unwrap(), 4);
}

#[test]
fn a_damaged_cursor_means_sending_again_not_losing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (q, _) = open(dir.path(), OPTS);
        for i in 1..=3 {
            q.append(format!("alert {i}").as_bytes()).unwrap();
        }
        q.ack(2).unwrap();
    }
    std::fs::write(dir.path().join("cursor"), b"garbage").unwrap();
    let (q, damage) = open(dir.path(), OPTS);
    assert!(
        matches!(
            &damage[..],
            [ForwardError::CorruptRecord { reason: "cursor_checksum_mismatch", .. }]
        ),
        "{damage:?}"
    );
    assert_eq!(payloads(&q), ["alert 1", "alert 2", "alert 3"]);
}

#[test]
fn peek_respects_its_limits_but_always_hands_out_one() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), OPTS);
    for _ in 0..5 {
        q.append(&[b'a'; 50]).unwrap();
    }
    assert_eq!(q.peek(3, usize::MAX).unwrap().records.len(), 3);
    assert_eq!(q.peek(10, 120).unwrap().records.len(), 2);
    assert_eq!(q.peek(10, 1).unwrap().records.len(), 1);
}

#[test]
fn a_queue_is_open_in_one_place_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), OPTS);
    match Queue::open(dir.path(), "siem", OPTS) {
        Err(ForwardError::QueueLocked { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected QueueLocked, got {other:?}"),
    }
    drop(q);
    open(dir.path(), OPTS);
}
