//! The benchmark's two consumers (scripts/bench.py) read the same data: on a small topic of
//! the mock cluster, consumer-net/examples/bench_consume.rs (included here as a module, run
//! in-process) and bench/rdkafka_consume.c (compiled and run as a child) must report the
//! same record count, byte count and checksum, including over several passes. Not timed.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::MockCluster;

#[allow(dead_code, reason = "its main is the example's, not ours")]
#[path = "../../consumer-net/examples/bench_consume.rs"]
mod bench_consume;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Compiles bench/<name>.c next to the test executable and returns the binary's path.
fn compile(name: &str) -> PathBuf {
    let exe_dir = std::env::current_exe()
        .expect("test executable path")
        .parent()
        .expect("test executable directory")
        .to_path_buf();
    let out = exe_dir.join(format!("bench-{name}-{}", std::process::id()));
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "rdkafka"])
        .output()
        .expect("pkg-config runs (scripts/install-deps.sh installs it)");
    assert!(flags.status.success(), "pkg-config cannot find rdkafka");
    let flags = String::from_utf8_lossy(&flags.stdout).into_owned();
    let status = Command::new("cc")
        .args(["-std=c99", "-D_GNU_SOURCE", "-O1", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(repo_root().join("bench").join(format!("{name}.c")))
        .args(flags.split_whitespace())
        .status()
        .expect("cc runs");
    assert!(status.success(), "compiling bench/{name}.c failed");
    out
}

/// The integer value of `"key":` in a one-line JSON object.
fn field(json: &str, key: &str) -> i64 {
    let pat = format!("\"{key}\":");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} missing in {json}"))
        + pat.len();
    let digits: String = json[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|e| panic!("{key} in {json}: {e}"))
}

/// The partition watermarks rdkafka_produce prints: `"low":[..]` or `"high":[..]`.
fn list(json: &str, key: &str) -> Vec<i64> {
    let pat = format!("\"{key}\":[");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} missing in {json}"))
        + pat.len();
    let end = at + json[at..].find(']').expect("closing bracket");
    json[at..end]
        .split(',')
        .map(|s| s.parse().expect("offset"))
        .collect()
}

fn run_case(cluster: &MockCluster, topic: &str, partitions: i32, codec: &str, passes: u32) {
    let produce = compile("rdkafka_produce");
    let consume = compile("rdkafka_consume");
    cluster
        .create_topic(topic, partitions, 1)
        .expect("create topic");
    let out = Command::new(&produce)
        .args([
            &cluster.bootstrap(),
            topic,
            &partitions.to_string(),
            "3000",
            "200",
            codec,
        ])
        .output()
        .expect("rdkafka_produce runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let produced = String::from_utf8_lossy(&out.stdout).into_owned();
    let (low, high) = (list(&produced, "low"), list(&produced, "high"));
    assert_eq!(
        low,
        vec![0; partitions as usize],
        "nothing evicted: {produced}"
    );
    assert_eq!(high.iter().sum::<i64>(), 3000, "{produced}");
    let ends: Vec<String> = high.iter().map(i64::to_string).collect();

    let theirs = Command::new(&consume)
        .args([
            &cluster.bootstrap(),
            topic,
            &partitions.to_string(),
            &ends.join(","),
            &passes.to_string(),
        ])
        .env("BENCH_STALL_S", "20")
        .output()
        .expect("rdkafka_consume runs");
    assert!(
        theirs.status.success(),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
    let ours = bench_consume::run(bench_consume::Args {
        bootstrap: cluster.bootstrap(),
        topic: topic.to_owned(),
        partitions,
        ends: None, // looked up with end_offsets: must agree with the producer's watermarks
        passes,
    })
    .expect("bench_consume runs");

    for key in ["records", "pass_records", "bytes", "checksum", "passes"] {
        assert_eq!(
            field(&ours, key),
            field(&theirs, key),
            "{key}: {ours} vs {theirs}"
        );
    }
    assert_eq!(field(&ours, "records"), 3000 * i64::from(passes), "{ours}");
    // Keys "key-<i>" plus 200-byte values.
    let key_bytes: i64 = (0..3000).map(|i| format!("key-{i}").len() as i64).sum();
    assert_eq!(field(&ours, "pass_bytes"), key_bytes + 3000 * 200, "{ours}");
    let _ = std::fs::remove_file(produce);
    let _ = std::fs::remove_file(consume);
}

#[test]
fn both_bench_consumers_read_the_same_records() {
    let cluster = MockCluster::start(3).expect("mock cluster");
    // As scripts/bench.py does: the mock's ListOffsets v4+ answers are malformed.
    cluster.set_api_version(2, 0, 3).expect("cap ListOffsets");
    run_case(&cluster, "bench-harness-plain", 4, "none", 1);
    run_case(&cluster, "bench-harness-zstd", 3, "zstd", 2);
}
