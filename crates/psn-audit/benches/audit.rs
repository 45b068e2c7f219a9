//! Audit log throughput (DESIGN.md "Performance": the durable audit log is on every exchange's
//! path). Measures records appended per second with durable group commit at 1, 16 and 256
//! concurrent appenders (each append waits for its `fdatasync`), and records verified per second
//! (chain, seals, peer statements with their certificates and configuration). Figures go in
//! docs/performance.md.
//!
//! Run: `cargo bench -p psn-audit`. The log is written under the system temporary directory,
//! which should be on the disk the gateway would use (set `TMPDIR` otherwise).

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use psn_audit::{AuditLog, Durability, LogOptions, VerifyOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records appended per measured iteration, at every concurrency.
const PER_ITERATION: usize = 512;
/// Records in the log that is verified.
const VERIFIED: usize = 10_000;

fn appends(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let fx = common::Fixture::new();
    let records = Arc::new(fx.exchanges("bench", PER_ITERATION, 64));
    let peer = fx.peer.der();
    let mut group = c.benchmark_group("append_durable");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(PER_ITERATION as u64));
    for concurrency in [1usize, 16, 256] {
        let (log, _) = fx.open(LogOptions::default());
        group.bench_with_input(
            BenchmarkId::from_parameter(concurrency),
            &concurrency,
            |b, &concurrency| {
                b.iter_custom(|iterations| {
                    runtime.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iterations {
                            append_concurrently(&log, &records, &peer, concurrency).await;
                        }
                        start.elapsed()
                    })
                })
            },
        );
        let status = log.status();
        println!(
            "concurrency {concurrency}: {} records in {} syncs ({:.1} records per sync)",
            status.appended,
            status.syncs,
            status.appended as f64 / status.syncs.max(1) as f64
        );
        runtime.block_on(log.close()).expect("close");
    }
    group.finish();
}

async fn append_concurrently(
    log: &AuditLog,
    records: &Arc<Vec<psn_audit::AuditRecord>>,
    peer: &Arc<Vec<u8>>,
    concurrency: usize,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (log, records, peer) = (log.clone(), records.clone(), peer.clone());
        tasks.spawn(async move {
            for record in records.iter().skip(worker).step_by(concurrency) {
                log.append(record, Some(peer.clone()), Durability::Durable)
                    .await
                    .expect("append");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("appender");
    }
}

fn verification(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let fx = common::Fixture::new();
    runtime.block_on(async {
        let (log, _) = fx.open(LogOptions::default());
        common::append_all(&log, fx.exchanges("v", VERIFIED, 64), fx.peer.der()).await;
        log.close().await.expect("close");
    });
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.throughput(Throughput::Elements(VERIFIED as u64));
    group.bench_function("data_dir", |b| {
        b.iter(|| {
            let report = psn_audit::verify(fx.path(), &VerifyOptions::default(), &mut |_| {})
                .expect("verify");
            assert!(report.is_intact() && report.records == VERIFIED as u64);
        })
    });
    group.finish();
}

criterion_group!(benches, appends, verification);
criterion_main!(benches);
