//! `inspect` speed: header inspection of a 16 GiB synthetic backup (target: under 50 ms
//! whatever the size: only headers are read) and `--verify-pages` throughput (target:
//! 2 GiB/s on two cores from the page cache).
//!
//! Also the synthetic writer's CPU cost (to a sink), which must stay far above disk speed.
//!
//! The synthetic files are written once under `target/bench-data/` and reused.
//! Run: `cargo bench --bench inspect`.

use std::hint::black_box;
use std::path::PathBuf;

use bak2rds::source::SourceFile;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mssql_backup::synth::{
    SynthDatabase, SynthKind, SynthSpec, write_synthetic, write_synthetic_file,
};
use mssql_backup::{Rules, TargetVersion, Verdict, examine};

const GIB: u64 = 1 << 30;

/// A synthetic full backup of `size` bytes, generated on first use.
fn bench_file(name: &str, size: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("create target/bench-data");
    let path = dir.join(name);
    let wanted = size - size / 100;
    if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) < wanted {
        let version = TargetVersion::parse("2019").expect("known version");
        let spec = SynthSpec::single(
            SynthDatabase::new("BenchDb", version),
            SynthKind::Full,
            size,
        );
        write_synthetic_file(&path, &spec).expect("write synthetic backup");
    }
    path
}

fn inspect_headers(c: &mut Criterion) {
    let path = bench_file("full-16GiB.bak", 16 * GIB);
    let rules = Rules::default();
    // Open + mmap + examine: what `bak2rds inspect FILE` does per file.
    c.bench_function("inspect_headers_16GiB", |b| {
        b.iter(|| {
            let file = SourceFile::open(&path).expect("open");
            let report = examine(black_box(file.bytes()), &rules);
            assert_eq!(report.verdict, Verdict::Accept);
        })
    });
}

fn verify_pages(c: &mut Criterion) {
    let path = bench_file("full-1GiB.bak", GIB);
    let file = SourceFile::open(&path).expect("open");
    let rules = Rules {
        verify_pages: true,
        ..Rules::default()
    };
    let mut group = c.benchmark_group("verify_pages");
    group.throughput(Throughput::Bytes(file.len()));
    group.sample_size(20);
    group.bench_function("full_1GiB", |b| {
        b.iter(|| {
            let report = examine(black_box(file.bytes()), &rules);
            assert_eq!(report.verdict, Verdict::Accept);
        })
    });
    group.finish();
}

fn synth_write(c: &mut Criterion) {
    let version = TargetVersion::parse("2019").expect("known version");
    let spec = SynthSpec::single(SynthDatabase::new("BenchDb", version), SynthKind::Full, GIB);
    let mut group = c.benchmark_group("synth_write");
    group.throughput(Throughput::Bytes(GIB));
    group.sample_size(10);
    group.bench_function("full_1GiB_to_sink", |b| {
        b.iter(|| write_synthetic(&mut std::io::sink(), black_box(&spec)).expect("sink"))
    });
    group.finish();
}

criterion_group!(benches, inspect_headers, verify_pages, synth_write);
criterion_main!(benches);
