//! Benchmark consumer (scripts/bench.py runs it side by side with bench/rdkafka_consume.c):
//! assigns every partition of a topic, starts at the beginning, reads until each partition's
//! position reaches its end offset, and prints one JSON line with what it read and how long
//! it took. Default consumer configuration: no property is set beyond `bootstrap.servers`
//! and `client.id`.
//!
//! ```text
//! bench_consume <bootstrap> <topic> <partitions> [<end offset of partition 0>,<of 1>,... [<passes>]]
//! ```
//!
//! Without the end offsets it looks them up with `end_offsets` before starting the clock.
//! With `passes` > 1 it seeks back to the beginning after each complete pass and reads the
//! range again (the mock cluster holds only ~5 MiB per partition): `records`, `bytes`,
//! `checksum` and `total_ms` cover all passes, `wall_ms` and `pass_*` the first one.
//!
//! Environment: `BENCH_COLD` starts the clock on a cold consumer (by default the topic's
//! metadata is fetched first); `BENCH_STALL_S` bounds the wait for a record;
//! `BENCH_IDLE_S=<s>` polls for that long whatever arrives (the idle case of
//! scripts/bench_scale.py: partitions with nothing to read) and reports the CPU spent;
//! `BENCH_TRACE` prints each non-empty poll; `BENCH_LOG=debug` prints the library's log;
//! `BENCH_PROPS=k=v,...` adds consumer properties (experiments only).
//! The checksum is the same function as in bench/rdkafka_consume.c, so both programs can be
//! checked to have read identical data.
//!
//! Group mode (scripts/bench_scale.py's group case), `BENCH_GROUP=<group.id>`:
//!
//! ```text
//! BENCH_GROUP=<group.id> bench_consume <bootstrap> <topic>
//! ```
//!
//! subscribes to the topic with `partition.assignment.strategy=cooperative-sticky`,
//! `enable.auto.commit=false`, `auto.offset.reset=earliest` (and `BENCH_PROPS`), polls until
//! stdin says `quit` or closes, and prints one JSON line per event on stdout: `subscribe`,
//! `assigned` / `revoked` / `lost` (from the rebalance listener, with the count and the
//! partitions owned after it), `first_record`, a `tick` each second, the library's info log
//! lines (`log`, truncated: the group's joins and the leader's assignment) and `summary`
//! at the end. Each carries `t_ms` (Unix time, ms, to line up processes) and `cpu_ms` (all
//! threads); `tick`, `closing` and `summary` the records read so far; `log` lines
//! `thread_cpu_ms` (the polling thread).

#[path = "consume/logger.rs"]
mod logger;
#[path = "support/stop.rs"]
mod stop;

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consumer_net::{KafkaConsumer, RebalanceListener, TopicPartition};

/// Gives up when nothing arrives for this long (a broken run, not a slow one);
/// `BENCH_STALL_S` overrides it.
fn stall_limit() -> Duration {
    let secs = std::env::var("BENCH_STALL_S")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(30.0);
    Duration::from_secs_f64(secs)
}

/// What to read (public, with `run`, for tests/tests/bench_harness.rs, which includes this
/// file as a module).
pub struct Args {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// The topic.
    pub topic: String,
    /// Partitions 0..partitions are read.
    pub partitions: i32,
    /// Each partition's end offset; looked up when None.
    pub ends: Option<Vec<i64>>,
    /// How many times the range is read.
    pub passes: u32,
}

fn parse_args() -> Result<Args, String> {
    let usage =
        "usage: bench_consume <bootstrap> <topic> <partitions> [<end0>,<end1>,... [<passes>]]";
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().ok_or(usage)?;
    let topic = args.next().ok_or(usage)?;
    let partitions = args
        .next()
        .ok_or(usage)?
        .parse::<i32>()
        .map_err(|e| format!("partitions: {e}"))?;
    let ends = match args.next() {
        None => None,
        Some(list) => {
            let ends = list
                .split(',')
                .map(|s| {
                    s.parse::<i64>()
                        .map_err(|e| format!("end offset {s:?}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if ends.len() != partitions as usize {
                return Err(format!(
                    "{} end offsets for {partitions} partitions",
                    ends.len()
                ));
            }
            Some(ends)
        }
    };
    let passes = match args.next() {
        None => 1,
        Some(n) => n.parse::<u32>().map_err(|e| format!("passes: {e}"))?.max(1),
    };
    Ok(Args {
        bootstrap,
        topic,
        partitions,
        ends,
        passes,
    })
}

/// This process's peak RSS (VmHWM) in KiB, or -1. Unlike the rusage a parent collects,
/// it excludes what the process held before exec (a forked Python parent's pages).
fn peak_rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(-1)
}

/// CPU time (ns) of all threads of this process so far, from
/// `/proc/self/task/<tid>/schedstat` (the same source as rdkafka_consume.c): precise to the
/// nanosecond, unlike rusage ticks.
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// One record's contribution to the checksum (must match `record_sum` in rdkafka_consume.c).
fn record_sum(partition: i32, offset: i64, value: &[u8]) -> u64 {
    let middle = value.get(value.len() / 2).copied().unwrap_or(0);
    ((partition as u64).wrapping_mul(1_000_003) ^ offset as u64)
        .wrapping_mul(31)
        .wrapping_add(value.len() as u64)
        .wrapping_add(u64::from(middle))
}

/// Reads as `args` says and returns the JSON result line.
pub fn run(args: Args) -> Result<String, Box<dyn std::error::Error>> {
    let mut props = vec![
        ("bootstrap.servers".to_owned(), args.bootstrap.clone()),
        ("client.id".to_owned(), "bench-consume".to_owned()),
    ];
    // BENCH_PROPS="k=v,k=v": extra properties, for experiments only (the benchmark itself
    // runs with the defaults).
    if let Ok(extra) = std::env::var("BENCH_PROPS") {
        for kv in extra.split(',').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or("BENCH_PROPS: expected k=v")?;
            props.push((k.to_owned(), v.to_owned()));
        }
    }
    let mut consumer = KafkaConsumer::from_properties(props)?;
    let tps: Vec<TopicPartition> = (0..args.partitions)
        .map(|p| TopicPartition::new(args.topic.clone(), p))
        .collect();
    let ends: Vec<i64> = match args.ends {
        Some(ends) => ends,
        None => {
            let found = consumer.end_offsets(&tps, Duration::from_secs(30))?;
            tps.iter()
                .map(|tp| found.get(tp).copied().ok_or("no end offset"))
                .collect::<Result<_, _>>()?
        }
    };
    // BENCH_COLD unset: learn the topic's leaders before the clock starts (as
    // rdkafka_consume.c does), so the clock measures fetching, not the cold start.
    if std::env::var_os("BENCH_COLD").is_none() {
        consumer.partitions_for(&args.topic, Duration::from_secs(30))?;
    }
    // Next offset to read per partition, known once its first record arrives.
    // (A plain vector indexed by partition, like the C side's array: the bench loop should
    // cost next to nothing.)
    let mut next: Vec<i64> = vec![-1; ends.len()];
    let unfinished_at_start = ends.iter().filter(|&&e| e > 0).count();
    let mut remaining = unfinished_at_start;
    let mut pass = 1;
    // (records, bytes, wall time) of the first pass.
    let mut first_pass = None;

    let cpu_start = cpu_ns();
    let start = Instant::now();
    consumer.assign(tps.iter().cloned())?;
    consumer.seek_to_beginning(&tps)?;

    let (mut records, mut bytes, mut checksum) = (0u64, 0u64, 0u64);
    let mut first: Option<Duration> = None;
    let mut last = start;
    let mut idle_since = Instant::now();
    let stall = stall_limit();
    // BENCH_TRACE=1: one stderr line per poll that returned records (when, how many, from
    // which partitions), to see where the wall time goes.
    let trace = std::env::var_os("BENCH_TRACE").is_some();
    // BENCH_IDLE_S: poll that long whatever arrives; the CPU after its first second is
    // reported apart (assign and the offset lookups are over by then).
    let idle = std::env::var("BENCH_IDLE_S")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64);
    let mut cpu_at_1s = None;
    loop {
        match idle {
            Some(idle) => {
                let elapsed = start.elapsed();
                if cpu_at_1s.is_none() && elapsed >= Duration::from_secs(1) {
                    cpu_at_1s = Some(cpu_ns());
                }
                if elapsed >= idle {
                    break;
                }
            }
            None if remaining == 0 => break,
            None => {}
        }
        let batch = consumer.poll(Duration::from_millis(100))?;

        if batch.is_empty() {
            if idle.is_none() && idle_since.elapsed() > stall {
                let unfinished: Vec<String> = (0..args.partitions)
                    .filter_map(|p| {
                        let end = ends.get(p as usize).copied().unwrap_or(0);
                        let at = next.get(p as usize).copied().unwrap_or(-1);
                        (end > 0 && at < end).then(|| format!("{p}: at {at} of {end}"))
                    })
                    .collect();
                return Err(format!("stalled; unfinished: {}", unfinished.join(", ")).into());
            }
            continue;
        }
        let now = Instant::now();
        idle_since = now;
        first.get_or_insert(now - start);
        if trace {
            let mut parts: Vec<i32> = batch.iter().map(|r| r.partition).collect();
            parts.dedup();
            eprintln!(
                "{:10.3} ms: {} records from partitions {parts:?}",
                (now - start).as_secs_f64() * 1e3,
                batch.len()
            );
        }
        for r in &batch {
            let value = r.value.as_deref().unwrap_or(&[]);
            records += 1;
            bytes += (value.len() + r.key.as_ref().map_or(0, |k| k.len())) as u64;
            checksum = checksum.wrapping_add(record_sum(r.partition, r.offset, value));
            let end = ends.get(r.partition as usize).copied().unwrap_or(0);
            let was = match next.get_mut(r.partition as usize) {
                Some(n) => std::mem::replace(n, r.offset + 1),
                None => continue,
            };
            if was < end && r.offset + 1 >= end {
                remaining -= 1;
            }
        }
        last = now;
        if remaining == 0 && pass == 1 {
            first_pass = Some((records, bytes, now - start));
        }
        if remaining == 0 && pass < args.passes {
            // Read the same range again: more data than the mock cluster can hold.
            pass += 1;
            consumer.seek_to_beginning(&tps)?;
            next.fill(-1);
            remaining = unfinished_at_start;
        }
    }
    let cpu_end = cpu_ns();
    let idle_end = start.elapsed();
    let total = last - start;
    let cpu_used = cpu_end.saturating_sub(cpu_start);
    let (pass_records, pass_bytes, wall) = first_pass.unwrap_or((records, bytes, total));
    // Fetch requests sent and answered while reading (one snapshot, after the clock).
    let fetch = consumer.metrics().fetch;
    if let Err(e) = consumer.close() {
        eprintln!("bench_consume: close: {e}");
    }
    let idle_fields = match (idle, cpu_at_1s) {
        (Some(_), Some(at_1s)) => format!(
            ",\"idle_s\":{:.3},\"idle_cpu_ms_after_1s\":{:.3}",
            idle_end.as_secs_f64(),
            cpu_end.saturating_sub(at_1s) as f64 / 1e6
        ),
        _ => String::new(),
    };
    Ok(format!(
        "{{\"consumer\":\"ours\",\"records\":{records},\"bytes\":{bytes},\"checksum\":{checksum},\
         \"pass_records\":{pass_records},\"pass_bytes\":{pass_bytes},\"passes\":{pass},\
         \"t_first_record_ms\":{:.3},\"wall_ms\":{:.3},\"total_ms\":{:.3},\"cpu_ms\":{:.3},\"peak_rss_kib\":{},\
         \"fetches_sent\":{},\"fetches_answered\":{}{idle_fields}}}",
        first.unwrap_or_default().as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        cpu_used as f64 / 1e6,
        peak_rss_kib(),
        fetch.requests_sent,
        fetch.responses,
    ))
}

/// Unix time in milliseconds: the group case lines up events of several processes.
fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// CPU time (ns) of the calling thread, from `/proc/thread-self/schedstat`.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `s` as a JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prints one group-mode event line (`fields`: more `,"k":v` pairs) and flushes.
fn event(name: &str, records: Option<u64>, fields: &str) {
    let records = records.map_or(String::new(), |n| format!(",\"records\":{n}"));
    let line = format!(
        "{{\"event\":\"{name}\",\"t_ms\":{:.3},\"cpu_ms\":{:.3}{records}{fields}}}",
        unix_ms(),
        cpu_ns() as f64 / 1e6
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A `fmt::Write` that keeps the first `limit` bytes and then fails, ending the
/// formatting (the library's "assigned [...]" line names every partition).
struct Bounded {
    text: String,
    limit: usize,
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.limit.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        Err(std::fmt::Error)
    }
}

/// Group mode's logger: the library's info lines (joins, the leader's assignment) as
/// `log` events, truncated, with the polling thread's CPU time; nothing else.
struct EventLog;

impl log::Log for EventLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let thread_cpu = thread_cpu_ns();
        let mut msg = Bounded {
            text: String::new(),
            limit: 160,
        };
        let _ = write!(msg, "{}", record.args());
        event(
            "log",
            None,
            &format!(
                ",\"level\":\"{}\",\"thread_cpu_ms\":{:.3},\"msg\":{}",
                record.level(),
                thread_cpu as f64 / 1e6,
                json_str(&msg.text)
            ),
        );
    }

    fn flush(&self) {}
}

/// Reports the partitions the group moves, and how many this member owns after each move.
struct Listener {
    owned: usize,
}

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, _: &mut KafkaConsumer, partitions: &[TopicPartition]) {
        self.owned = self.owned.saturating_sub(partitions.len());
        event(
            "revoked",
            None,
            &format!(",\"n\":{},\"owned\":{}", partitions.len(), self.owned),
        );
    }

    fn on_partitions_assigned(&mut self, _: &mut KafkaConsumer, partitions: &[TopicPartition]) {
        self.owned += partitions.len();
        event(
            "assigned",
            None,
            &format!(",\"n\":{},\"owned\":{}", partitions.len(), self.owned),
        );
    }

    fn on_partitions_lost(&mut self, _: &mut KafkaConsumer, partitions: &[TopicPartition]) {
        self.owned = self.owned.saturating_sub(partitions.len());
        event(
            "lost",
            None,
            &format!(",\"n\":{},\"owned\":{}", partitions.len(), self.owned),
        );
    }
}

/// Group mode (`BENCH_GROUP`): see the module documentation.
fn run_group(group: &str) -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: BENCH_GROUP=<group.id> bench_consume <bootstrap> <topic>";
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().ok_or(usage)?;
    let topic = args.next().ok_or(usage)?;
    let mut props = vec![
        ("bootstrap.servers".to_owned(), bootstrap),
        ("client.id".to_owned(), "bench-consume".to_owned()),
        ("group.id".to_owned(), group.to_owned()),
        (
            "partition.assignment.strategy".to_owned(),
            "cooperative-sticky".to_owned(),
        ),
        ("enable.auto.commit".to_owned(), "false".to_owned()),
        ("auto.offset.reset".to_owned(), "earliest".to_owned()),
    ];
    if let Ok(extra) = std::env::var("BENCH_PROPS") {
        for kv in extra.split(',').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or("BENCH_PROPS: expected k=v")?;
            props.push((k.to_owned(), v.to_owned()));
        }
    }
    if log::set_logger(&EventLog).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    // stdin: "quit" or its end stops the member.
    let stop = stop::stop_on_stdin("quit");
    let mut consumer = KafkaConsumer::from_properties(props)?;
    event("subscribe", None, "");
    consumer.subscribe_with_listener([topic], Box::new(Listener { owned: 0 }))?;
    let (mut records, mut bytes, mut checksum) = (0u64, 0u64, 0u64);
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    while !stop.load(Ordering::SeqCst) {
        let batch = consumer.poll(Duration::from_millis(100))?;
        if !batch.is_empty() && records == 0 {
            event("first_record", Some(0), "");
        }
        for r in &batch {
            let value = r.value.as_deref().unwrap_or(&[]);
            records += 1;
            bytes += (value.len() + r.key.as_ref().map_or(0, |k| k.len())) as u64;
            checksum = checksum.wrapping_add(record_sum(r.partition, r.offset, value));
        }
        if Instant::now() >= next_tick {
            next_tick += Duration::from_secs(1);
            event("tick", Some(records), "");
        }
    }
    event("closing", Some(records), "");
    let m = consumer.metrics();
    let close = consumer.close();
    event(
        "summary",
        Some(records),
        &format!(
            ",\"consumer\":\"ours\",\"bytes\":{bytes},\"checksum\":{checksum},\
             \"fetches_sent\":{},\"assignments\":{},\"revocations\":{},\"peak_rss_kib\":{},\
             \"close_error\":{}",
            m.fetch.requests_sent,
            m.rebalances.assignments,
            m.rebalances.revocations,
            peak_rss_kib(),
            close
                .err()
                .map_or("null".to_owned(), |e| json_str(&e.to_string()))
        ),
    );
    Ok(())
}

fn main() -> ExitCode {
    if let Ok(group) = std::env::var("BENCH_GROUP") {
        return match run_group(&group) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench_consume: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // BENCH_LOG=debug (or info, trace…): the library's log lines on stderr.
    logger::init_from_env("BENCH_LOG");
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_consume: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench_consume: {e}");
            ExitCode::FAILURE
        }
    }
}
