//! The console consumer (`consumer-net/examples/consume`) as a group member: runs in
//! the same group continue where the previous one stopped, and `--max-messages N`
//! commits exactly the N records printed, although a poll hands out more.
//!
//! The example binary is built once with the cargo that runs this test (examples have
//! no `CARGO_BIN_EXE_*`), then run as a child process against a mock cluster.
//! `session.timeout.ms=6000`: librdkafka 2.0.2's mock coordinator holds a join for up to
//! (session timeout − 1 s) after the previous member left, and ~3 s for a new group.

use std::collections::BTreeMap;

use integration_tests::{
    init_logging, json_number_field, json_string_field, mock_cluster_on, produce_kcat,
    run_console_consumer, sample_records, test_on_each_mock, Compression, MockCluster, MockVersion,
};

/// One printed record: (partition, offset, key).
type Printed = (i32, i64, String);

/// Runs the console consumer with `args`, waits (bounded) and returns what it printed.
fn run_consume(cluster: &MockCluster, topic: &str, args: &[&str]) -> Vec<Printed> {
    let bootstrap = cluster.bootstrap();
    let mut all = vec!["--bootstrap-server", &bootstrap, "--topic", topic];
    all.extend(["--format", "json", "--timeout-ms", "20000"]);
    all.extend(["--consumer-property", "session.timeout.ms=6000"]);
    all.extend_from_slice(args);
    let run = run_console_consumer(&all)
        .unwrap_or_else(|e| panic!("running the console consumer {args:?}: {e}"));
    assert!(
        run.success,
        "the console consumer {args:?} failed ({}); stderr:\n{}",
        run.status, run.stderr
    );
    let out = run.stdout;
    out.lines()
        .map(|l| {
            let field = |name| {
                json_number_field(l, name)
                    .unwrap_or_else(|| panic!("no {name} in the output line {l}"))
            };
            let partition = i32::try_from(field("partition")).expect("partition fits i32");
            let key = json_string_field(l, "key").unwrap_or_default();
            (partition, field("offset"), key)
        })
        .collect()
}

fn max_messages_commits_exactly_what_was_printed(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 1);
    let topic = "console-group-one";
    cluster.create_topic(topic, 1, 1).expect("create topic");
    let records = sample_records(30, 1, "c");
    produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None).expect("produce");

    // One fetch brings all 30 records, so a commit of the position would skip 20.
    let args = ["--group", "g", "--from-beginning", "--max-messages", "10"];
    for run in 0..3 {
        let got = run_consume(&cluster, topic, &args);
        let offsets: Vec<i64> = got.iter().map(|(_, o, _)| *o).collect();
        let want: Vec<i64> = (run * 10..run * 10 + 10).collect();
        assert_eq!(offsets, want, "run {run} printed the wrong offsets");
        for (p, o, key) in &got {
            assert_eq!(*p, 0);
            assert_eq!(key, &format!("c-key-{o}"), "record at offset {o}");
        }
    }
}

fn runs_in_a_group_share_the_partitions_records_exactly_once(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 2);
    let topic = "console-group-three";
    cluster.create_topic(topic, 3, 1).expect("create topic");
    let records = sample_records(30, 3, "m");
    produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None).expect("produce");

    // Two runs of 10, then one without --max-messages (auto-commit, commit on exit) that
    // reads the rest: together exactly the 30 records, each partition in order and
    // continued where the previous run stopped.
    let exact = ["--group", "g3", "--from-beginning", "--max-messages", "10"];
    let auto = ["--group", "g3", "--from-beginning", "--timeout-ms", "10000"];
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (run, args) in [&exact[..], &exact[..], &auto[..]].into_iter().enumerate() {
        let got = run_consume(&cluster, topic, args);
        assert_eq!(got.len(), 10, "run {run} printed {got:?}");
        for (p, o, _) in got {
            let expected = next.entry(p).or_insert(0);
            assert_eq!(o, *expected, "run {run}, partition {p}");
            *expected += 1;
        }
    }
    assert_eq!(next, BTreeMap::from([(0, 10), (1, 10), (2, 10)]));

    // The auto-committing run committed on exit: nothing is left.
    let rest = run_consume(&cluster, topic, &auto);
    assert!(rest.is_empty(), "a fourth run printed {rest:?}");
}

test_on_each_mock!(
    max_messages_commits_exactly_what_was_printed,
    runs_in_a_group_share_the_partitions_records_exactly_once,
);
