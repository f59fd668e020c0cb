//! Time of one Argon2id hash at the default parameters (OWASP's minimum:
//! 19456 KiB, 2 passes, 1 lane), through [`PasswordHasher`] as logins use it
//! (blocking pool, concurrency permit), and the throughput of
//! `max_concurrent_hashes` verifications at once. The peer figure (the
//! reference C implementation's `argon2` CLI) and the comparison are in
//! `bench/login.sh` and `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p sekimori-authn --bench argon2`

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;
use secrecy::SecretString;

use sekimori_authn::{PasswordConfig, PasswordHasher};

fn argon2_default(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cfg = PasswordConfig::default();
    let hasher = PasswordHasher::new(&cfg).expect("default parameters are valid");
    let pw = SecretString::from("correct horse battery staple");
    let wrong = SecretString::from("wrong horse battery staple");
    let phc = rt.block_on(hasher.hash(&pw)).expect("hash");

    let mut group = c.benchmark_group("argon2id_default");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(1));
    group.bench_function("hash", |b| {
        b.iter(|| rt.block_on(hasher.hash(&pw)).expect("hash"));
    });
    group.bench_function("verify_wrong", |b| {
        b.iter(|| assert!(!rt.block_on(hasher.verify(&wrong, Some(&phc)))));
    });
    // As many verifications at once as the server allows: on 2 cores this is
    // the ceiling for logins/s, before HTTP, TLS and the audit write.
    let n = cfg.max_concurrent_hashes;
    group.throughput(Throughput::Elements(u64::from(n)));
    group.bench_function(format!("verify_wrong_x{n}_concurrent"), |b| {
        b.iter(|| rt.block_on(join_all((0..n).map(|_| hasher.verify(&wrong, Some(&phc))))));
    });
    group.finish();
}

criterion_group!(benches, argon2_default);
criterion_main!(benches);
