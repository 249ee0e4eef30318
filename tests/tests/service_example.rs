//! The user-style service (`consumer-net/examples/service.rs`) against a mock cluster:
//! stopped part-way with SIGINT, then run again until its timer stops it, it has
//! processed every record, and none twice.
//!
//! Why no duplicate at all: the service commits, at every stop, exactly the offsets of
//! the records it printed (its own map, not the consumer's position, which may be past
//! records fetched but not printed), and the commit is made while it still owns its
//! partitions (a single member, no rebalance). The next run starts right after the last
//! printed record. A record fetched but not printed is not committed, so not lost.
//!
//! `session.timeout.ms=3000`: librdkafka 2.0.2's mock coordinator holds a join for up to
//! (session timeout − 1 s) after the previous member left, and ~3 s for a new group.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use integration_tests::{
    example_binary, init_logging, mock_cluster, produce_kcat, Compression, LiveChild, Record,
};

const RECORDS: usize = 10_000;
const PARTITIONS: i32 = 3;
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The second run stops by itself after this (its join takes ~2 s, reading the rest
/// well under a second).
const RUN_FOR: Duration = Duration::from_secs(6);

/// The service's flags for the test's topic and group, and `extra`.
fn args(bootstrap: &str, topic: &str, extra: &[&str]) -> Vec<String> {
    let close = CLOSE_TIMEOUT.as_millis().to_string();
    let mut all = vec![
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--group",
        "service-group",
        // Not a divisor of the polls' sizes (500 at most): a stop leaves records
        // processed since the last periodic commit, for the commit on exit.
        "--commit-every",
        "777",
        "--close-timeout-ms",
        &close,
        "--consumer-property",
        "session.timeout.ms=3000",
        "--consumer-property",
        "heartbeat.interval.ms=1000",
    ];
    all.extend_from_slice(extra);
    all.into_iter().map(str::to_owned).collect()
}

/// The records a run printed, as (partition, offset); checks each line's key against
/// what was produced there.
fn printed(run: &str, lines: &[String]) -> Vec<(i32, i64)> {
    lines
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let [p, o, key] = fields[..] else {
                panic!("{run}: a line that is not `partition offset key`: {line:?}");
            };
            let (p, o): (i32, i64) = match (p.parse(), o.parse()) {
                (Ok(p), Ok(o)) => (p, o),
                _ => panic!("{run}: bad partition or offset in {line:?}"),
            };
            let i = o * i64::from(PARTITIONS) + i64::from(p);
            assert_eq!(key, format!("svc-key-{i}"), "{run}: wrong key at {p}@{o}");
            (p, o)
        })
        .collect()
}

#[test]
fn sigint_then_restart_processes_every_record_exactly_once() {
    init_logging();
    let cluster = mock_cluster(1);
    let topic = "service-orders";
    cluster
        .create_topic(topic, PARTITIONS, 1)
        .expect("create topic");
    // Record i goes to partition i % 3 (at offset i / 3), with key `svc-key-{i}`.
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            let p = i32::try_from(i).expect("fits") % PARTITIONS;
            Record::new(p, format!("order {i}")).with_key(format!("svc-key-{i}"))
        })
        .collect();
    produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None).expect("produce");
    let service = example_binary("service").expect("building the service example");
    let bootstrap = cluster.bootstrap();

    // Run 1: SIGINT once it processed some. Its stdout is read slowly (LiveChild's
    // bounded queue), so it cannot have raced through all 10 000 by then.
    let mut first = LiveChild::spawn(&service, &args(&bootstrap, topic, &[]), "service run 1")
        .expect("starting the service");
    first
        .wait_for_lines(1000, Duration::from_secs(30))
        .expect("the first run processes records");
    let interrupted = Instant::now();
    first.interrupt().expect("SIGINT");
    let status = first
        .wait_exit(CLOSE_TIMEOUT + Duration::from_secs(10))
        .expect("the first run exits after SIGINT");
    let stop_time = interrupted.elapsed();
    let stderr = first.stderr();
    assert!(status.success(), "run 1 exited with {status}:\n{stderr}");
    assert!(
        stop_time < CLOSE_TIMEOUT + Duration::from_secs(1),
        "run 1 took {stop_time:?} to exit after SIGINT (close timeout {CLOSE_TIMEOUT:?}):\n{stderr}"
    );
    assert!(
        !stderr.contains("failed"),
        "run 1 reported a failure:\n{stderr}"
    );
    let run1 = printed("run 1", first.stdout());
    assert!(
        run1.len() < RECORDS,
        "run 1 processed all {RECORDS} records before SIGINT: the restart is not tested"
    );

    // Run 2: stops by itself (its timer, through the same wakeup).
    let started = Instant::now();
    let run_for = RUN_FOR.as_millis().to_string();
    let extra = ["--run-for-ms", run_for.as_str()];
    let mut second = LiveChild::spawn(&service, &args(&bootstrap, topic, &extra), "service run 2")
        .expect("starting the service again");
    let status = second
        .wait_exit(RUN_FOR + CLOSE_TIMEOUT + Duration::from_secs(10))
        .expect("the second run exits by its timer");
    let run_time = started.elapsed();
    let stderr = second.stderr();
    assert!(status.success(), "run 2 exited with {status}:\n{stderr}");
    assert!(
        run_time < RUN_FOR + CLOSE_TIMEOUT + Duration::from_secs(1),
        "run 2 took {run_time:?} with --run-for-ms {RUN_FOR:?} and close timeout \
         {CLOSE_TIMEOUT:?}:\n{stderr}"
    );
    let run2 = printed("run 2", second.stdout());

    // Every record processed, none twice.
    let mut times: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for r in run1.iter().chain(&run2) {
        *times.entry(*r).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    let per_partition = (RECORDS as i64).div_euclid(i64::from(PARTITIONS));
    let missing: Vec<(i32, i64)> = (0..PARTITIONS)
        .flat_map(|p| {
            let extra = i64::from(p < (RECORDS as i64 % i64::from(PARTITIONS)) as i32);
            (0..per_partition + extra).map(move |o| (p, o))
        })
        .filter(|k| !times.contains_key(k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} records never processed (run 1: {}, run 2: {}; run 2 may have been stopped by \
         its timer too early), first: {:?}\nrun 2 stderr:\n{stderr}",
        missing.len(),
        run1.len(),
        run2.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        twice.is_empty(),
        "{} records processed twice (run 1: {}, run 2: {}), first: {:?}",
        twice.len(),
        run1.len(),
        run2.len(),
        &twice[..twice.len().min(10)]
    );
    assert_eq!(run1.len() + run2.len(), RECORDS);
    eprintln!(
        "run 1: {} records, exit {stop_time:?} after SIGINT; run 2: {} records, {run_time:?}",
        run1.len(),
        run2.len()
    );
}
