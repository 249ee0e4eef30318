//! A group member that reports when things happen, for scripts/bench_groups.py (issue 17:
//! subscribe → first record, and partitions moving when a member joins). Its librdkafka
//! counterpart is bench/group_timing.py; both print the same lines.
//!
//! ```text
//! group_timing <bootstrap> <topic> <group> [--protocol classic|consumer] [key=value ...]
//! ```
//!
//! Subscribes to `topic` in `group` with `auto.offset.reset=earliest`,
//! `client.id=group-timing`, `group.protocol` as given (default classic) and the extra
//! properties (which win), then polls (100 ms) until stdin says `stop` or closes, and
//! closes the consumer. One JSON line per event on stdout, each with `ms` (milliseconds
//! since the program started) and `unix_ms` (to line up several processes):
//!
//! - `start`, `subscribed` (after `subscribe_with_listener` returned);
//! - `assigned` / `revoked` / `lost` with `partitions` (from the rebalance listener) and
//!   `owned` (the partitions owned after it);
//! - `first_record` (the first record returned, with its partition);
//! - `gap`: a partition that had returned records and then returned none for at least
//!   50 ms (`partition`, `from_ms`, `to_ms`: the two records' arrival times);
//! - `counts` every 500 ms: records returned so far per partition;
//! - `closing`, then `closed` (with `close_ms` and `error` if `close` failed).
//!
//! `GROUP_TIMING_LOG=debug` (or info, trace…) prints the library's log on stderr, with
//! milliseconds since start.

#[path = "consume/logger.rs"]
mod logger;
#[path = "support/stop.rs"]
mod stop;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consumer_net::{KafkaConsumer, RebalanceListener, TopicPartition};

/// A gap in one partition's records at least this long is reported.
const GAP: Duration = Duration::from_millis(50);
/// How often the per-partition counts are printed.
const COUNTS_EVERY: Duration = Duration::from_millis(500);

static START: OnceLock<Instant> = OnceLock::new();

fn ms_since_start(t: Instant) -> f64 {
    let start = *START.get_or_init(Instant::now);
    t.saturating_duration_since(start).as_secs_f64() * 1000.0
}

/// Prints one event line (`fields`: more `,"k":v` pairs) and flushes.
fn event(name: &str, fields: &str) {
    let now = Instant::now();
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let line = format!(
        "{{\"event\":\"{name}\",\"ms\":{:.3},\"unix_ms\":{unix:.3}{fields}}}",
        ms_since_start(now)
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn partition_list(partitions: &[TopicPartition]) -> String {
    let mut ps: Vec<i32> = partitions.iter().map(|tp| tp.partition).collect();
    ps.sort_unstable();
    let list: Vec<String> = ps.iter().map(i32::to_string).collect();
    format!("[{}]", list.join(","))
}

/// Reports every move, with the partitions owned after it.
struct Listener {
    owned: Vec<TopicPartition>,
}

impl Listener {
    fn report(&self, name: &str, partitions: &[TopicPartition]) {
        event(
            name,
            &format!(
                ",\"partitions\":{},\"owned\":{}",
                partition_list(partitions),
                partition_list(&self.owned)
            ),
        );
    }

    fn remove(&mut self, partitions: &[TopicPartition]) {
        self.owned.retain(|tp| !partitions.contains(tp));
    }
}

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, _: &mut KafkaConsumer, partitions: &[TopicPartition]) {
        self.remove(partitions);
        self.report("revoked", partitions);
    }

    fn on_partitions_assigned(&mut self, _: &mut KafkaConsumer, partitions: &[TopicPartition]) {
        for tp in partitions {
            if !self.owned.contains(tp) {
                self.owned.push(tp.clone());
            }
        }
        self.report("assigned", partitions);
    }

    fn on_partitions_lost(&mut self, _: &mut KafkaConsumer, partitions: &[TopicPartition]) {
        self.remove(partitions);
        self.report("lost", partitions);
    }
}

struct Args {
    bootstrap: String,
    topic: String,
    group: String,
    protocol: String,
    props: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: group_timing <bootstrap> <topic> <group> [--protocol classic|consumer] \
                 [key=value ...]";
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().ok_or(usage)?;
    let topic = args.next().ok_or(usage)?;
    let group = args.next().ok_or(usage)?;
    let mut protocol = "classic".to_owned();
    let mut props = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--protocol" {
            protocol = args.next().ok_or(usage)?;
        } else if let Some((k, v)) = arg.split_once('=') {
            props.push((k.to_owned(), v.to_owned()));
        } else {
            return Err(format!("unexpected argument {arg:?}; {usage}"));
        }
    }
    if protocol != "classic" && protocol != "consumer" {
        return Err(format!(
            "--protocol must be classic or consumer, not {protocol:?}"
        ));
    }
    Ok(Args {
        bootstrap,
        topic,
        group,
        protocol,
        props,
    })
}

/// Per partition: records returned so far and when the last one arrived.
#[derive(Default)]
struct Stream {
    count: u64,
    last: Option<Instant>,
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut props = vec![
        ("bootstrap.servers".to_owned(), args.bootstrap),
        ("group.id".to_owned(), args.group),
        ("group.protocol".to_owned(), args.protocol),
        ("client.id".to_owned(), "group-timing".to_owned()),
        ("auto.offset.reset".to_owned(), "earliest".to_owned()),
    ];
    for (k, v) in args.props {
        props.retain(|(key, _)| *key != k);
        props.push((k, v));
    }
    // stdin: a `stop` line or its end stops the member.
    let stop = stop::stop_on_stdin("stop");
    let mut consumer = KafkaConsumer::from_properties(props)?;
    consumer.subscribe_with_listener([args.topic], Box::new(Listener { owned: Vec::new() }))?;
    event("subscribed", "");
    let mut streams: BTreeMap<i32, Stream> = BTreeMap::new();
    let mut first = true;
    let mut next_counts = Instant::now() + COUNTS_EVERY;
    while !stop.load(Ordering::SeqCst) {
        let batch = consumer.poll(Duration::from_millis(100))?;
        let now = Instant::now();
        if first {
            if let Some(r) = batch.first() {
                first = false;
                event("first_record", &format!(",\"partition\":{}", r.partition));
            }
        }
        let mut seen: Vec<i32> = Vec::new();
        for r in &batch {
            let s = streams.entry(r.partition).or_default();
            s.count += 1;
            if !seen.contains(&r.partition) {
                seen.push(r.partition);
            }
        }
        for p in seen {
            let s = streams.entry(p).or_default();
            if let Some(last) = s.last {
                if now.duration_since(last) >= GAP {
                    event(
                        "gap",
                        &format!(
                            ",\"partition\":{p},\"from_ms\":{:.3},\"to_ms\":{:.3}",
                            ms_since_start(last),
                            ms_since_start(now)
                        ),
                    );
                }
            }
            s.last = Some(now);
        }
        if now >= next_counts {
            next_counts = now + COUNTS_EVERY;
            let counts: Vec<String> = streams
                .iter()
                .map(|(p, s)| format!("\"{p}\":{}", s.count))
                .collect();
            event("counts", &format!(",\"counts\":{{{}}}", counts.join(",")));
        }
    }
    event("closing", "");
    let t = Instant::now();
    let result = consumer.close();
    let close_ms = t.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(()) => event("closed", &format!(",\"close_ms\":{close_ms:.3}")),
        Err(e) => event(
            "closed",
            &format!(
                ",\"close_ms\":{close_ms:.3},\"error\":\"{}\"",
                e.to_string().replace(['"', '\\'], "'")
            ),
        ),
    }
    Ok(())
}

fn main() -> ExitCode {
    START.get_or_init(Instant::now);
    logger::init_from_env("GROUP_TIMING_LOG");
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("group_timing: {e}");
            return ExitCode::from(2);
        }
    };
    event("start", "");
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("group_timing: {e}");
            event(
                "error",
                &format!(",\"error\":\"{}\"", e.to_string().replace(['"', '\\'], "'")),
            );
            ExitCode::FAILURE
        }
    }
}
