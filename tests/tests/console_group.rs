//! The console consumer (`consumer-net/examples/consume`) as a group member: runs in
//! the same group continue where the previous one stopped, and `--max-messages N`
//! commits exactly the N records printed, although a poll hands out more.
//!
//! The example binary is built once with the cargo that runs this test (examples have
//! no `CARGO_BIN_EXE_*`), then run as a child process against a mock cluster.
//! `session.timeout.ms=6000`: librdkafka 2.0.2's mock coordinator holds a join for up to
//! (session timeout − 1 s) after the previous member left, and ~3 s for a new group.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use integration_tests::{
    init_logging, mock_cluster, produce_kcat, sample_records, Compression, MockCluster,
};

/// The bound on one run of the console consumer.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Builds the example once per test process and returns its path.
fn consume_binary() -> PathBuf {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(build_consume)
        .clone()
        .unwrap_or_else(|e| panic!("building the console consumer: {e}"))
}

fn build_consume() -> Result<PathBuf, String> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--manifest-path", manifest])
        .args(["-p", "consumer-net", "--example", "consume"])
        .args(["--quiet", "--message-format=json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build failed ({})", out.status));
    }
    // The artifact message of the example names the executable.
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\"") && l.contains("\"consume\""))
        .find_map(|l| json_string_field(l, "executable"))
        .map(PathBuf::from)
        .ok_or_else(|| format!("no executable in cargo's output:\n{stdout}"))
}

/// The string value of `"name":"…"` in one line of JSON (no escapes expected).
fn json_string_field(line: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":\"");
    let start = line.find(&key)? + key.len();
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_owned())
}

/// The number value of `"name":N` in one line of JSON.
fn json_number_field(line: &str, name: &str) -> Option<i64> {
    let key = format!("\"{name}\":");
    let start = line.find(&key)? + key.len();
    let digits: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

/// One printed record: (partition, offset, key).
type Printed = (i32, i64, String);

/// Runs the console consumer with `args`, waits (bounded) and returns what it printed.
fn run_consume(cluster: &MockCluster, topic: &str, args: &[&str]) -> Vec<Printed> {
    let bootstrap = cluster.bootstrap();
    let mut child = Command::new(consume_binary())
        .args(["--bootstrap-server", &bootstrap, "--topic", topic])
        .args(["--format", "json", "--timeout-ms", "20000"])
        .args(["--consumer-property", "session.timeout.ms=6000"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the console consumer: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = stderr.join().unwrap_or_default();
                panic!("the console consumer {args:?} ran over {RUN_TIMEOUT:?}; stderr:\n{err}");
            }
            Err(e) => panic!("waiting for the console consumer: {e}"),
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    assert!(
        status.success(),
        "the console consumer {args:?} failed ({status}); stderr:\n{err}"
    );
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

#[test]
fn max_messages_commits_exactly_what_was_printed() {
    init_logging();
    let cluster = mock_cluster(1);
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

#[test]
fn runs_in_a_group_share_the_partitions_records_exactly_once() {
    init_logging();
    let cluster = mock_cluster(2);
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
