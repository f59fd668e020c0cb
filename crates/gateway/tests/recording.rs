//! Session recordings: round trip, cap, crash safety, hostile files, fail
//! closed, and pcap export checked with the real tshark.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use aws_lc_rs::digest;
use bytes::Bytes;
use proptest::prelude::*;
use sekimori_gateway::pcap::export_pcap;
use sekimori_gateway::recording::{
    Chunk, Direction, Ending, MAGIC, Recorder, RecordingConfig, RecordingError, RecordingHeader,
    RecordingReader, SessionRecording, read_recording,
};
use sekimori_types::{AccessRequestId, RecordingInfo, TunnelSessionId};
use time::OffsetDateTime;

const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

fn t(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
        + time::Duration::microseconds(micros)
}

fn header_with(client: &str, target: &str) -> RecordingHeader {
    let target: SocketAddr = target.parse().unwrap();
    RecordingHeader {
        session: TunnelSessionId::new(),
        request: AccessRequestId::new(),
        user: "yamada@vendor".into(),
        asset: "MRI-3 (3F)".into(),
        port: target.port(),
        client: client.parse().unwrap(),
        target,
        started_at: t(0),
    }
}

fn header() -> RecordingHeader {
    header_with("198.51.100.7:50123", "10.20.30.40:104")
}

fn config(dir: &Path) -> RecordingConfig {
    RecordingConfig {
        dir: dir.to_path_buf(),
        max_bytes_per_session: 64 << 20,
        flush_interval: std::time::Duration::from_millis(100),
        channel_capacity: 16,
    }
}

/// Bytes that differ per direction and position, so misplaced bytes show.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed).collect()
}

fn sample_chunks() -> Vec<Chunk> {
    let mk = |direction, at, data| Chunk { direction, at: t(at), data };
    vec![
        mk(Direction::Up, 1_000, b"USER vendor\r\n".to_vec()),
        mk(Direction::Down, 2_500, b"331 password please\r\n".to_vec()),
        mk(Direction::Up, 2_501, pattern(1, 100 * 1024)),
        mk(Direction::Down, 3_000_000, pattern(2, 70 * 1024 + 3)),
        mk(Direction::Up, 3_000_001, vec![0]),
        mk(Direction::Down, 3_000_002, pattern(3, 1)),
        mk(Direction::Down, 4_000_000, pattern(4, 5000)),
    ]
}

async fn record_all(session: &SessionRecording, chunks: &[Chunk]) {
    for c in chunks {
        session.record(c.direction, c.at, Bytes::from(c.data.clone())).await.unwrap();
    }
}

fn read_all(path: &Path) -> (RecordingHeader, Vec<Chunk>, Ending) {
    let mut r = read_recording(path).unwrap();
    let chunks = r.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
    let ending = r.ending().cloned().unwrap();
    (r.header().clone(), chunks, ending)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes).as_ref())
}

async fn finished_recording(
    dir: &Path,
    h: RecordingHeader,
    chunks: &[Chunk],
) -> (PathBuf, RecordingInfo) {
    let rec = Recorder::start(config(dir)).unwrap();
    let session = rec.begin(h).await.unwrap();
    record_all(&session, chunks).await;
    let info = session.finish(t(5_000_000)).await.unwrap();
    (dir.join(&info.file), info)
}

#[test]
fn handles_are_shareable_between_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Recorder>();
    shareable::<SessionRecording>();
    shareable::<RecordingError>();
}

#[tokio::test]
async fn round_trip_keeps_every_chunk_and_time_and_hashes_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("recordings");
    let h = header();
    let chunks = sample_chunks();
    let (path, info) = finished_recording(&dir, h.clone(), &chunks).await;

    assert_eq!(info.file, format!("{}.skrec", h.session));
    let bytes = fs::read(&path).unwrap();
    assert!(bytes.starts_with(MAGIC));
    assert_eq!(info.file_bytes, bytes.len() as u64);
    assert_eq!(info.sha256, sha256_hex(&bytes));
    assert_eq!(info.sha256.len(), 64);
    assert!(info.sha256.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
    let total: usize = chunks.iter().map(|c| c.data.len()).sum();
    assert_eq!(info.recorded_bytes, total as u64);
    assert!(!info.truncated);

    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir), 0o700);

    let (read_header, read_chunks, ending) = read_all(&path);
    assert_eq!(read_header, h);
    assert_eq!(read_chunks, chunks);
    let Ending::Clean { ended_at, totals } = ending else { panic!("not clean: {ending:?}") };
    assert_eq!(ended_at, t(5_000_000));
    assert_eq!(totals.chunks, chunks.len() as u64);
    assert_eq!(totals.up_bytes + totals.down_bytes, total as u64);
    assert!(!totals.truncated);
}

#[tokio::test]
async fn both_directions_record_concurrently_and_big_chunks_are_split() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = Recorder::start(config(tmp.path())).unwrap();
    let h = header();
    let session = Arc::new(rec.begin(h).await.unwrap());
    let big = pattern(9, 17 * 1024 * 1024 + 5); // more than one record's 16 MiB
    let mut tasks = Vec::new();
    for (direction, seed) in [(Direction::Up, 5u8), (Direction::Down, 6u8)] {
        let session = session.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0..200 {
                let data = pattern(seed.wrapping_add(i as u8), 1 + (i * 37) % 3000);
                sent.extend_from_slice(&data);
                session.record(direction, t(i as i64), Bytes::from(data)).await.unwrap();
                if i % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for task in tasks {
        sent.push(task.await.unwrap());
    }
    session.record(Direction::Down, t(999), Bytes::from(big.clone())).await.unwrap();
    sent[1].extend_from_slice(&big);
    let session = Arc::try_unwrap(session).unwrap();
    let info = session.finish(t(1000)).await.unwrap();
    let (_, chunks, ending) = read_all(&tmp.path().join(&info.file));
    assert!(ending.is_clean());
    for (i, direction) in [Direction::Up, Direction::Down].into_iter().enumerate() {
        let got: Vec<u8> = chunks
            .iter()
            .filter(|c| c.direction == direction)
            .flat_map(|c| c.data.iter().copied())
            .collect();
        assert!(got == sent[i], "{direction:?} differs");
    }
    assert!(chunks.iter().all(|c| c.data.len() <= 16 * 1024 * 1024));
    assert_eq!(info.recorded_bytes, (sent[0].len() + sent[1].len()) as u64);
}

#[tokio::test]
async fn the_cap_records_what_fits_and_says_it_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.max_bytes_per_session = 100;
    let rec = Recorder::start(cfg).unwrap();
    let session = rec.begin(header()).await.unwrap();
    let up = vec![b'u'; 60];
    let down: Vec<u8> = (0..60u8).map(|i| 0x80 + i).collect();
    session.record(Direction::Up, t(1), Bytes::from(up.clone())).await.unwrap();
    session.record(Direction::Down, t(2), Bytes::from(down.clone())).await.unwrap();
    // Beyond the cap: accepted (the tunnel keeps flowing), not recorded.
    session.record(Direction::Up, t(3), Bytes::from_static(b"SECRET-AFTER-CAP")).await.unwrap();
    let info = session.finish(t(4)).await.unwrap();
    assert_eq!(info.recorded_bytes, 100);
    assert!(info.truncated);

    let path = tmp.path().join(&info.file);
    let (_, chunks, ending) = read_all(&path);
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].data, up);
    assert_eq!(chunks[1].data, down[..40]);
    let Ending::Clean { totals, .. } = ending else { panic!("not clean") };
    assert!(totals.truncated);
    assert_eq!(totals.up_bytes + totals.down_bytes, 100);
    let bytes = fs::read(&path).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(b"SECRET-AFTER-CAP"));
    assert!(!contains(&down[40..]));
}

#[tokio::test]
async fn data_reaches_the_disk_within_the_flush_interval_without_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = Recorder::start(config(tmp.path())).unwrap();
    let h = header();
    let session = rec.begin(h.clone()).await.unwrap();
    let path = tmp.path().join(format!("{}.skrec", h.session));
    let chunks = sample_chunks();
    record_all(&session, &chunks).await;
    let recorded_at = Instant::now();

    // Poll the file (not the writer): everything must arrive without finish.
    let deadline = recorded_at + WAIT;
    let (read_chunks, ending) = loop {
        let (_, read_chunks, ending) = read_all(&path);
        if read_chunks.len() == chunks.len() {
            break (read_chunks, ending);
        }
        assert!(Instant::now() < deadline, "data not on disk after {WAIT:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(read_chunks, chunks);
    assert!(matches!(ending, Ending::Cut { .. }), "{ending:?}");

    let info = session.finish(t(9)).await.unwrap();
    assert!(read_all(&tmp.path().join(info.file)).2.is_clean());
}

/// Offsets where each record of a valid file ends (the header first).
fn record_ends(bytes: &[u8]) -> Vec<usize> {
    let mut at = MAGIC.len();
    let header_len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    at += 4 + header_len;
    let mut ends = vec![at];
    while at < bytes.len() {
        let len = u32::from_be_bytes(bytes[at + 9..at + 13].try_into().unwrap()) as usize;
        at += 13 + len;
        ends.push(at);
    }
    ends
}

#[tokio::test]
async fn a_file_cut_anywhere_reads_back_its_complete_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let chunks: Vec<Chunk> = sample_chunks()
        .into_iter()
        .map(|mut c| {
            c.data.truncate(40); // small, so every cut is quick to read
            c
        })
        .collect();
    let (path, _) = finished_recording(tmp.path(), header(), &chunks).await;
    let bytes = fs::read(&path).unwrap();
    let ends = record_ends(&bytes);
    assert_eq!(ends.len(), chunks.len() + 2); // header, chunks, end record
    assert_eq!(*ends.last().unwrap(), bytes.len());

    for len in 0..=bytes.len() {
        let cut = &bytes[..len];
        match RecordingReader::new("cut.skrec", cut) {
            Err(e) => {
                assert!(len < ends[0], "header complete at {len} but: {e}");
                assert!(e.to_string().contains("at byte"), "{e}");
            }
            Ok(mut r) => {
                assert!(len >= ends[0]);
                let got = r.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
                let complete = ends[1..].iter().take_while(|&&e| e <= len).count();
                assert_eq!(got, chunks[..complete.min(chunks.len())], "cut at {len}");
                if len == bytes.len() {
                    assert!(r.ending().unwrap().is_clean());
                } else {
                    let complete_end = ends.iter().rev().find(|&&e| e <= len).unwrap();
                    assert_eq!(
                        r.ending(),
                        Some(&Ending::Cut { complete_bytes: *complete_end as u64 }),
                        "cut at {len}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn hostile_lengths_and_fields_are_named_with_their_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, _) = finished_recording(tmp.path(), header(), &sample_chunks()[..2]).await;
    let good = fs::read(&path).unwrap();
    let ends = record_ends(&good);
    let first = ends[0];
    let read = |bytes: &[u8]| -> Result<Vec<Chunk>, RecordingError> {
        RecordingReader::new("bad.skrec", bytes)?.collect()
    };

    let mut bad = good.clone();
    bad[first + 9..first + 13].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        read(&bad).unwrap_err().to_string(),
        format!(
            "recording bad.skrec: at byte {}: chunk length 4294967295 exceeds 16777216",
            first + 9
        )
    );

    let mut bad = good.clone();
    bad[first] = 7;
    let e = read(&bad).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("recording bad.skrec: at byte {first}: record kind 0x07")),
        "{e}"
    );

    let mut bad = good.clone();
    bad[7..11].copy_from_slice(&(1u32 << 20).to_be_bytes());
    let e = read(&bad).unwrap_err().to_string();
    assert_eq!(e, "recording bad.skrec: at byte 7: header length 1048576 exceeds 65536");

    let mut bad = good.clone();
    bad[0] = b'X';
    let e = read(&bad).unwrap_err().to_string();
    assert!(e.contains("at byte 0: magic"), "{e}");

    let mut bad = good.clone();
    bad[first + 1..first + 9].copy_from_slice(&i64::MAX.to_be_bytes());
    let e = read(&bad).unwrap_err().to_string();
    assert!(e.contains(&format!("at byte {}: timestamp", first + 1)), "{e}");

    // An end record that lies about the totals.
    let mut bad = good.clone();
    let end = ends[ends.len() - 2];
    let json_at = end + 13;
    let pos = bad[json_at..].windows(10).position(|w| w == b"\"chunks\":2").unwrap();
    bad[json_at + pos + 9] = b'3';
    let e = read(&bad).unwrap_err().to_string();
    assert!(e.contains(&format!("at byte {json_at}: end record totals")), "{e}");

    // Bytes after the end record.
    let mut bad = good.clone();
    bad.push(0);
    let e = read(&bad).unwrap_err().to_string();
    assert!(
        e.contains(&format!("at byte {}: end record is followed by more data", good.len())),
        "{e}"
    );

    // A failed open names the file too.
    let e = read_recording(&tmp.path().join("missing.skrec")).unwrap_err().to_string();
    assert!(e.contains("missing.skrec"), "{e}");
}

fn valid_file() -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let chunks: Vec<Chunk> = sample_chunks()
        .into_iter()
        .map(|mut c| {
            c.data.truncate(24);
            c
        })
        .collect();
    let (path, _) = rt.block_on(finished_recording(tmp.path(), header(), &chunks));
    fs::read(path).unwrap()
}

/// Reads everything; every error must name the offset within the input.
fn read_without_panic(bytes: &[u8]) {
    let check = |e: RecordingError| {
        let msg = e.to_string();
        match e {
            RecordingError::Format { offset, .. } => {
                assert!(offset <= bytes.len() as u64, "{msg}");
                assert!(msg.contains(&format!("at byte {offset}")), "{msg}");
            }
            other => panic!("unexpected error kind: {other}"),
        }
    };
    match RecordingReader::new("fuzz.skrec", bytes) {
        Err(e) => check(e),
        Ok(mut r) => {
            let mut ok = true;
            for item in r.by_ref() {
                if let Err(e) = item {
                    check(e);
                    ok = false;
                }
            }
            assert_eq!(r.ending().is_some(), ok);
        }
    }
}

fn valid() -> &'static [u8] {
    static VALID: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    VALID.get_or_init(valid_file)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        read_without_panic(&bytes);
        // And with a valid magic in front, so the header parser is reached.
        let mut with_magic = MAGIC.to_vec();
        with_magic.extend_from_slice(&bytes);
        read_without_panic(&with_magic);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut bytes = valid().to_vec();
        for (i, v) in edits {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        read_without_panic(&bytes);
    }

    #[test]
    fn mutated_record_headers_never_panic(
        record in any::<prop::sample::Index>(),
        kind in prop_oneof![Just(0u8), Just(1), Just(0xFF), any::<u8>()],
        at in any::<i64>(),
        len in prop_oneof![any::<u32>(), 0u32..64],
    ) {
        let mut bytes = valid().to_vec();
        let ends = record_ends(&bytes);
        let start = ends[record.index(ends.len() - 1)];
        bytes[start] = kind;
        bytes[start + 1..start + 9].copy_from_slice(&at.to_be_bytes());
        bytes[start + 9..start + 13].copy_from_slice(&len.to_be_bytes());
        read_without_panic(&bytes);
    }
}

/// Real write failure: the child process runs with a 64-block file size
/// limit (SIGXFSZ ignored), so the recording's writes fail with EFBIG.
#[test]
fn a_write_failure_fails_the_session_closed() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 64 && exec "$0" --exact fail_closed_child --nocapture --test-threads=1"#)
        .arg(&exe)
        .env("SEKIMORI_FAIL_CLOSED_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "child did not run:\n{stdout}\n{stderr}");
    assert!(stdout.contains("FAIL-CLOSED-OK"), "{stdout}\n{stderr}");
}

/// Runs only inside `a_write_failure_fails_the_session_closed`'s child.
#[tokio::test]
#[allow(clippy::print_stdout, reason = "tells the parent test the failure was seen")]
async fn fail_closed_child() {
    if std::env::var_os("SEKIMORI_FAIL_CLOSED_CHILD").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rec = Recorder::start(config(tmp.path())).unwrap();
    let session = rec.begin(header()).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let chunk = Bytes::from(vec![0x5a; 4096]);
    let err = loop {
        match session.record(Direction::Up, t(1), chunk.clone()).await {
            Err(e) => break e,
            Ok(()) => {
                assert!(Instant::now() < deadline, "write failure never reported");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    };
    let RecordingError::Write { source, .. } = &err else { panic!("{err}") };
    assert_eq!(source.raw_os_error(), Some(27), "{err}"); // EFBIG
    // It stays failed, and finish does not pretend otherwise.
    assert!(session.record(Direction::Down, t(2), chunk.clone()).await.is_err());
    assert!(session.finish(t(3)).await.is_err());
    println!("FAIL-CLOSED-OK {err}");
}

// ---------------------------------------------------------------------------
// pcap export, checked with tshark

#[allow(clippy::print_stderr, reason = "a skipped tshark test must say so")]
fn tshark() -> bool {
    let found = Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "tshark is required in CI (apt-get install tshark)"
        );
        eprintln!("SKIPPED: tshark not installed; pcap export not checked with tshark");
    }
    found
}

fn tshark_run(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The two directions' bytes as tshark follows the first TCP stream.
fn tshark_follow(pcap: &Path) -> (Vec<u8>, Vec<u8>) {
    let text = tshark_run(&["-r", pcap.to_str().unwrap(), "-q", "-z", "follow,tcp,raw,0"]);
    let (mut node0, mut node1) = (Vec::new(), Vec::new());
    let mut in_data = false;
    for line in text.lines() {
        if line.starts_with("Node 1:") {
            in_data = true;
            continue;
        }
        if !in_data || line.starts_with("=====") || line.trim().is_empty() {
            continue;
        }
        let (dest, hex) = match line.strip_prefix('\t') {
            Some(rest) => (&mut node1, rest),
            None => (&mut node0, line),
        };
        dest.extend(hex::decode(hex.trim()).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    (node0, node1)
}

async fn export_and_check(h: RecordingHeader, family: &str) {
    if !tshark() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let chunks = sample_chunks();
    let (path, _) = finished_recording(tmp.path(), h, &chunks).await;
    let pcap = tmp.path().join("session.pcap");
    let summary =
        export_pcap(read_recording(&path).unwrap(), fs::File::create(&pcap).unwrap()).unwrap();
    let want = |d: Direction| -> Vec<u8> {
        chunks.iter().filter(|c| c.direction == d).flat_map(|c| c.data.clone()).collect()
    };
    let (up, down) = (want(Direction::Up), want(Direction::Down));
    assert_eq!(summary.up_bytes, up.len() as u64);
    assert_eq!(summary.down_bytes, down.len() as u64);
    assert!(summary.ended_cleanly);

    let (node0, node1) = tshark_follow(&pcap);
    assert!(node0 == up, "up stream differs ({} vs {} bytes)", node0.len(), up.len());
    assert!(node1 == down, "down stream differs ({} vs {} bytes)", node1.len(), down.len());

    let file = pcap.to_str().unwrap();
    // One TCP stream, every packet of this family, no analysis flags.
    let fields = tshark_run(&["-r", file, "-T", "fields", "-e", "tcp.stream", "-e", family]);
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len() as u64, summary.packets);
    assert!(lines.iter().all(|l| l.starts_with("0\t") && l.len() > 2), "{fields}");
    let flagged = tshark_run(&[
        "-r",
        file,
        "-Y",
        "tcp.analysis.flags || _ws.malformed || _ws.expert.severity >= warning",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
    ]);
    assert!(flagged.trim().is_empty(), "tshark flags problems:\n{flagged}");
    let bad_checksums = tshark_run(&[
        "-r",
        file,
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "-Y",
        "tcp.checksum.status != 1 || (ip && ip.checksum.status != 1)",
    ]);
    assert!(bad_checksums.trim().is_empty(), "bad checksums:\n{bad_checksums}");
    // Handshake first, FIN exchange last.
    let flags = tshark_run(&["-r", file, "-T", "fields", "-e", "tcp.flags.str"]);
    let flags: Vec<&str> = flags.lines().map(str::trim).collect();
    assert!(flags[0].contains('S') && !flags[0].contains('A'), "{flags:?}");
    assert!(flags[1].contains('S') && flags[1].contains('A'), "{flags:?}");
    assert!(
        flags[flags.len() - 3].contains('F') && flags[flags.len() - 2].contains('F'),
        "{flags:?}"
    );
    // Times: the first packet at the start, data at the chunk times.
    let times = tshark_run(&["-r", file, "-T", "fields", "-e", "frame.time_epoch"]);
    let first: f64 = times.lines().next().unwrap().trim().parse().unwrap();
    assert!((first - 1_800_000_000.0).abs() < 1e-3, "{first}");
}

#[tokio::test]
async fn pcap_export_follows_as_one_tcp_stream_ipv4() {
    export_and_check(header(), "ip.src").await;
}

#[tokio::test]
async fn pcap_export_follows_as_one_tcp_stream_ipv6() {
    export_and_check(header_with("[2001:db8::7]:50123", "[fd00:1::40]:2575"), "ipv6.src").await;
}

#[tokio::test]
async fn pcap_export_maps_mixed_families_to_ipv6() {
    export_and_check(header_with("198.51.100.7:50123", "[fd00:1::40]:2575"), "ipv6.src").await;
}

#[tokio::test]
async fn pcap_export_of_a_cut_recording_ends_at_the_last_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let chunks = sample_chunks();
    let (path, _) = finished_recording(tmp.path(), header(), &chunks).await;
    let bytes = fs::read(&path).unwrap();
    let ends = record_ends(&bytes);
    let cut = &bytes[..ends[3] + 5]; // three chunks and a bit
    let mut out = Vec::new();
    let summary = export_pcap(RecordingReader::new("cut", cut).unwrap(), &mut out).unwrap();
    assert!(!summary.ended_cleanly);
    let up: usize =
        chunks[..3].iter().filter(|c| c.direction == Direction::Up).map(|c| c.data.len()).sum();
    assert_eq!(summary.up_bytes, up as u64);
    if tshark() {
        let pcap = tmp.path().join("cut.pcap");
        fs::write(&pcap, &out).unwrap();
        let (node0, _) = tshark_follow(&pcap);
        assert_eq!(node0.len(), up);
        let times =
            tshark_run(&["-r", pcap.to_str().unwrap(), "-T", "fields", "-e", "frame.time_epoch"]);
        let last: f64 = times.lines().last().unwrap().trim().parse().unwrap();
        assert!((last - (1_800_000_000.0 + 0.002501)).abs() < 1e-4, "{last}");
    }
}
