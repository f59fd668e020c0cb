//! Reading and decoding speed: every packet of a shared capture, read from
//! memory and decoded (`cargo bench -p sekimori-capture`; run briefly).

use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sekimori_capture::file::CaptureFile;
use sekimori_proto::packet::decode;

fn bench(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps/zeek_smb2.pcap");
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut frames = Vec::new();
    if let Ok(mut f) = CaptureFile::from_reader("smb2", Cursor::new(bytes.clone())) {
        while let Ok(Some(p)) = f.next_packet() {
            frames.push((p.link, p.data.to_vec()));
        }
    }
    let mut g = c.benchmark_group("zeek_smb2");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for (link, f) in &frames {
                let _ = black_box(decode(*link, f));
            }
        })
    });
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("read", |b| {
        b.iter(|| {
            let Ok(mut f) = CaptureFile::from_reader("smb2", Cursor::new(&bytes[..])) else {
                return;
            };
            while let Ok(Some(p)) = f.next_packet() {
                black_box(p.data.len());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
