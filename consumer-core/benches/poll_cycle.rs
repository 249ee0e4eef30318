//! One poll cycle of a consumer with a large assignment, sans-IO: the fetches in flight
//! are answered, `poll_records(500)` drains what came (sending the next fetches after
//! each non-empty poll, as `KafkaConsumer::poll` does), the timers are armed.
//!
//! The brokers are scripted (`support/cycle.rs`: three of them, partition `p` led by
//! broker `p % 3 + 1`), cheap enough that the consumer's own work dominates: each answer
//! is built from one pre-encoded batch whose base offset is patched to the offset asked
//! for. The simulated cluster of `consumer_core::testing` keeps logs and sessions in
//! ordered maps and walks them per fetch, which would dominate here; the behaviour at
//! this scale is tested with it in `tests/large_assignment.rs`. Cases:
//!
//! * `all/<N>`: N partitions, each getting a batch of 50 records (100-byte values) per
//!   cycle; the brokers keep no fetch sessions, so every fetch is a full one (as against
//!   librdkafka's mock cluster or Tansu).
//! * `small/<N>`: the same with batches of 6 records, the shape of the mock cluster at
//!   thousands of partitions (it answers at most one batch per partition per fetch): the
//!   cost of a partition entry in a fetch round (request, answer, batch, bookkeeping) is
//!   shared by few records.
//! * `few/<N>`: N partitions, 8 of them getting 64 records per cycle, the others idle; the
//!   brokers keep incremental fetch sessions (KIP-227) as Kafka does, so a fetch names only
//!   the partitions whose fetch position changed and an answer only those with data.
//! * `few_full/<N>`: the same without fetch sessions: every fetch names every partition of
//!   its broker, every answer carries them all (the wire is O(N) per fetch).
//!
//! Per-record figures of the cases are comparable: work proportional to the assignment
//! rather than to what arrived shows as a per-record cost growing with N.
//!
//! `POLL_CYCLE_PROFILE=<case>[:<cycles>]` (e.g. `few/10000:20`) runs one case in a plain
//! loop instead of criterion, for `valgrind --tool=callgrind` (see docs/performance.md);
//! `--toggle-collect='*poll_cycle::measured*'` counts the cycles alone, without the setup.

mod support;

use criterion::{BenchmarkId, Criterion, Throughput};
use support::cycle::{cases, setup, Driver};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("poll_cycle");
    group.sample_size(10);
    for case in cases() {
        let mut driver = setup(&case);
        group.throughput(Throughput::Elements(case.records_per_cycle() as u64));
        group.bench_function(BenchmarkId::new(case.kind, case.partitions), |b| {
            b.iter(|| driver.cycle())
        });
    }
    group.finish();
}

/// `POLL_CYCLE_PROFILE=case[:cycles]`: one case in a loop, for callgrind or perf.
fn profile(spec: &str) {
    let (name, cycles) = match spec.split_once(':') {
        Some((n, i)) => (n, i.parse().expect("cycles")),
        None => (spec, 10),
    };
    let case = cases()
        .into_iter()
        .find(|c| c.name() == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let mut driver = setup(&case);
    let total = measured(&mut driver, cycles);
    println!("{name}: {total} records in {cycles} cycles (after setup)");
}

/// The cycles profiled, apart from the setup: `valgrind --tool=callgrind
/// --toggle-collect='*poll_cycle::measured*'` counts only these.
#[inline(never)]
fn measured(driver: &mut Driver, cycles: usize) -> usize {
    let mut total = 0;
    for _ in 0..cycles {
        total += driver.cycle();
    }
    total
}

fn main() {
    if let Ok(spec) = std::env::var("POLL_CYCLE_PROFILE") {
        profile(&spec);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
