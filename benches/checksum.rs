//! What the uploader's hashing costs per byte, on page-cache-resident data: CRC-64/XZ fed in the
//! body-chunk sizes the engine may use (`upload/engine.rs`), and MD5 of one 8 MiB part
//! (`--content-md5`). Targets come from `perf-anchors.md` rows 12–16: CRC ≈ 10–11 GiB/s per core
//! in cache, MD5 ≈ 0.5 GiB/s per core. `crc64_engine` sets our `Crc64` (256-bit folding where
//! the CPU has VPCLMULQDQ, `crates/cloud/src/checksum/folding.rs`) beside plain `crc64fast` (128-bit).
//!
//! Run: `cargo bench --bench checksum`.

use std::hint::black_box;

use bak2rds_cloud::checksum::{Crc64, content_md5};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// One default-sized part: what a worker hashes before moving on.
const PART: usize = 8 << 20;

/// A part's worth of non-constant bytes (a constant buffer could flatter a table-driven CRC).
fn part() -> Vec<u8> {
    (0..PART)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn crc_by_chunk(c: &mut Criterion) {
    let data = part();
    let mut group = c.benchmark_group("crc64_part_by_chunk");
    group.throughput(Throughput::Bytes(PART as u64));
    for chunk_kib in [64usize, 256, 512, 1024] {
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{chunk_kib}KiB")),
            &chunk_kib,
            |b, &kib| {
                b.iter(|| {
                    let mut crc = Crc64::new();
                    for chunk in black_box(&data).chunks(kib << 10) {
                        crc.update(chunk);
                    }
                    crc.value()
                });
            },
        );
    }
    group.finish();
}

fn crc_engines(c: &mut Criterion) {
    let data = part();
    let mut group = c.benchmark_group("crc64_engine");
    group.throughput(Throughput::Bytes(PART as u64));
    group.bench_function("bak2rds_Crc64", |b| {
        b.iter(|| {
            let mut crc = Crc64::new();
            for chunk in black_box(&data).chunks(256 << 10) {
                crc.update(chunk);
            }
            crc.value()
        });
    });
    group.bench_function("crc64fast", |b| {
        b.iter(|| {
            let mut crc = crc64fast::Digest::new();
            for chunk in black_box(&data).chunks(256 << 10) {
                crc.write(chunk);
            }
            crc.sum64()
        });
    });
    group.finish();
}

fn md5_of_a_part(c: &mut Criterion) {
    let data = part();
    let mut group = c.benchmark_group("content_md5");
    group.throughput(Throughput::Bytes(PART as u64));
    group.sample_size(20);
    group.bench_function("8MiB_part", |b| b.iter(|| content_md5(black_box(&data))));
    group.finish();
}

criterion_group!(benches, crc_by_chunk, crc_engines, md5_of_a_part);
criterion_main!(benches);
