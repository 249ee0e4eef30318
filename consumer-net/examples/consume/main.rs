//! A console consumer in the manner of Apache Kafka's `kafka-console-consumer`: reads a
//! topic (all partitions, or one) and prints its records, either on its own or as a
//! member of a consumer group (`--group`).
//!
//! ```text
//! cargo run --release -p consumer-net --example consume -- \
//!     --bootstrap-server localhost:9092 --topic demo --from-beginning --max-messages 10
//! cargo run --release -p consumer-net --example consume -- \
//!     --bootstrap-server localhost:9092 --topic demo --group g --from-beginning --max-messages 10
//! ```
//!
//! In a group, each run continues where the group's last commit left off. With
//! `--max-messages` the tool commits exactly the records it printed (auto-commit off);
//! otherwise auto-commit runs and the consumed positions are committed on exit.
//!
//! Records go to stdout, progress and the summary to stderr. `--help` lists the flags.
//!
//! Ctrl-C stops it through the consumer's wakeup handle; everything it does after
//! consuming stops (the final commit, the summary's lookups, leaving the group) is
//! bounded by `--close-timeout-ms` (30 s by default), even with every broker down.

mod args;
mod commits;
mod format;
mod logger;
mod stats;

use std::collections::HashMap;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consumer_net::{ConsumerError, ConsumerMetrics, KafkaConsumer, KafkaError, TopicPartition};

use args::{Args, Command, StartAt, USAGE};
use commits::{commit_printed, CommitOnRevoke, Printed, Shared};
use stats::{Stats, PROGRESS_INTERVAL};

/// The bound on the topic lookup at start-up.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The bound on the end-offset lookup for the summary.
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    logger::init_from_env("CONSUME_LOG");
    match args::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run(args)) => match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("consume: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("consume: {e}\nTry `consume --help`.");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut consumer =
        KafkaConsumer::from_properties(properties(args)).map_err(|e| e.to_string())?;
    let printed: Shared = Arc::new(Mutex::new(Printed::default()));
    let mode = match &args.group {
        None => {
            assign(&mut consumer, args)?;
            Mode::Assigned
        }
        Some(_) if args.max_messages.is_some() => {
            let listener = CommitOnRevoke(Arc::clone(&printed));
            subscribe(&mut consumer, args, Some(Box::new(listener)))?;
            Mode::GroupExact
        }
        Some(_) => {
            subscribe(&mut consumer, args, None)?;
            Mode::GroupAuto
        }
    };

    catch_interrupt(&consumer);
    let mut session = Session {
        consumer,
        mode,
        stats: Stats::new(args.progress || io::stderr().is_terminal()),
        held_back: HashMap::new(),
        printed,
    };
    let outcome = session.consume(args);
    // From here on everything shares one deadline.
    let deadline = Instant::now() + args.close_timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    // Even after an error: what was printed is consumed.
    let committed = session.commit_on_exit(left());
    let lag = session.final_lag(left().min(SUMMARY_TIMEOUT));
    session.stats.finish(lag, &session.consumer.metrics());
    if let Err(e) = session.consumer.close_with_timeout(left()) {
        eprintln!("consume: {e}");
    }
    outcome.and(committed)
}

/// Makes `call` once more if a wake (a Ctrl-C that came while records were printed)
/// ended it: it is reported once, and the call is still wanted.
fn despite_wakeup<T>(mut call: impl FnMut() -> Result<T, KafkaError>) -> Result<T, KafkaError> {
    match call() {
        Err(KafkaError::Wakeup) => call(),
        other => other,
    }
}

/// How partitions are chosen and what is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `assign`: no group, nothing committed.
    Assigned,
    /// Group member with `--max-messages`: commits exactly the printed records.
    GroupExact,
    /// Group member with auto-commit: commits the consumed positions.
    GroupAuto,
}

/// The consumer's properties: the tool's defaults, then the user's, then the flags.
fn properties(args: &Args) -> Vec<(String, String)> {
    let reset = match args.start {
        StartAt::Earliest => "earliest",
        StartAt::Latest | StartAt::Offset(_) => "latest",
    };
    let mut props: Vec<(String, String)> = [
        ("client.id", "console-consumer"),
        ("auto.offset.reset", reset),
        // A reader should not create a topic because its name was mistyped.
        ("allow.auto.create.topics", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    props.extend(args.properties.iter().cloned());
    props.push(("bootstrap.servers".to_owned(), args.bootstrap.clone()));
    if let Some(g) = &args.group {
        props.push(("group.id".to_owned(), g.clone()));
        if args.max_messages.is_some() {
            // The tool commits the printed records itself; an auto-commit could commit
            // records fetched but never printed.
            props.push(("enable.auto.commit".to_owned(), "false".to_owned()));
        }
    }
    props
}

/// The partitions of the topic; an error if it does not exist.
fn partitions_of(consumer: &mut KafkaConsumer, topic: &str) -> Result<Vec<i32>, String> {
    let all = consumer
        .partitions_for(topic, LOOKUP_TIMEOUT)
        .map_err(|e| format!("looking up topic `{topic}`: {e}"))?;
    if all.is_empty() {
        return Err(format!("topic `{topic}` does not exist"));
    }
    Ok(all)
}

/// Joins the group for the topic; the assignment arrives during `poll`.
fn subscribe(
    consumer: &mut KafkaConsumer,
    args: &Args,
    listener: Option<Box<dyn consumer_net::RebalanceListener>>,
) -> Result<(), String> {
    // A mistyped topic would otherwise wait for an assignment forever.
    partitions_of(consumer, &args.topic)?;
    let topics = [args.topic.clone()];
    match listener {
        Some(l) => consumer.subscribe_with_listener(topics, l),
        None => consumer.subscribe(topics),
    }
    .map_err(|e| e.to_string())
}

/// Assigns the partitions asked for and seeks to the start position.
fn assign(consumer: &mut KafkaConsumer, args: &Args) -> Result<(), String> {
    let topic = &args.topic;
    let all = partitions_of(consumer, topic)?;
    let chosen = match args.partition {
        None => all,
        Some(p) if all.contains(&p) => vec![p],
        Some(p) => {
            let n = all.len();
            return Err(format!(
                "topic `{topic}` has no partition {p} ({n} partitions)"
            ));
        }
    };
    let tps: Vec<TopicPartition> = chosen
        .into_iter()
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();
    let err = |e: KafkaError| e.to_string();
    consumer.assign(tps.iter().cloned()).map_err(err)?;
    match args.start {
        StartAt::Earliest => consumer.seek_to_beginning(&tps).map_err(err)?,
        StartAt::Latest => consumer.seek_to_end(&tps).map_err(err)?,
        StartAt::Offset(o) => {
            for tp in &tps {
                consumer.seek(tp, o).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// Ctrl-C ends the consume loop through the consumer's wakeup (the poll under way, or
/// the next one, returns `Wakeup`) so the summary still prints; a second Ctrl-C exits at
/// once.
fn catch_interrupt(consumer: &KafkaConsumer) {
    let wake = consumer.wakeup_handle();
    let pressed = AtomicBool::new(false);
    let installed = ctrlc::set_handler(move || {
        if pressed.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        wake.wake();
    });
    if let Err(e) = installed {
        eprintln!("consume: cannot catch Ctrl-C: {e}");
    }
}

struct Session {
    consumer: KafkaConsumer,
    mode: Mode,
    stats: Stats,
    /// For each partition, the first offset returned by `poll` but not consumed (cut off
    /// by --max-messages or a closed stdout): the consumer's position is past it.
    held_back: HashMap<TopicPartition, i64>,
    /// The printed records, for [`Mode::GroupExact`].
    printed: Shared,
}

impl Session {
    /// Polls and prints until --max-messages, --timeout-ms, Ctrl-C or a closed stdout.
    fn consume(&mut self, args: &Args) -> Result<(), String> {
        let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
        let mut last_record = Instant::now();
        let mut stdout_open = true;
        while stdout_open {
            let room = match args.max_messages {
                Some(max) if self.stats.records >= max => break,
                Some(max) => usize::try_from(max - self.stats.records).unwrap_or(usize::MAX),
                None => usize::MAX,
            };
            // Wake up at least as often as the progress line is redrawn.
            let mut wait = PROGRESS_INTERVAL;
            if let Some(t) = args.timeout {
                let left = t.saturating_sub(last_record.elapsed());
                if left.is_zero() {
                    break;
                }
                wait = wait.min(left);
            }
            let records = match self.consumer.poll(wait) {
                Ok(r) => r,
                Err(KafkaError::Wakeup) => break,
                Err(e) if keeps_going(&e) => {
                    eprintln!("consume: {e}");
                    continue;
                }
                Err(e @ KafkaError::BrokersUnreachable { .. }) => {
                    return Err(format!(
                        "{e}; giving up: no broker ever answered (check --bootstrap-server)"
                    ));
                }
                Err(e) => return Err(e.to_string()),
            };
            if !records.is_empty() {
                last_record = Instant::now();
            }
            for (i, r) in records.iter().enumerate() {
                if stdout_open && i < room {
                    match format::write_record(&mut out, r, args.format) {
                        Ok(()) => {
                            let len = |b: &Option<bytes::Bytes>| b.as_ref().map_or(0, |b| b.len());
                            self.stats.add(len(&r.key) + len(&r.value));
                            if self.mode == Mode::GroupExact {
                                commits::lock(&self.printed).add(r);
                            }
                            continue;
                        }
                        Err(e) => stdout_open = still_open(e)?,
                    }
                }
                self.held_back
                    .entry(r.topic_partition())
                    .or_insert(r.offset);
            }
            if stdout_open {
                if let Err(e) = out.flush() {
                    stdout_open = still_open(e)?;
                }
            }
            let (consumer, held) = (&self.consumer, &self.held_back);
            self.stats.tick(|| lag(&consumer.metrics(), held, None));
        }
        Ok(())
    }

    /// A group member commits what it consumed before leaving, within `timeout`.
    fn commit_on_exit(&mut self, timeout: Duration) -> Result<(), String> {
        let result = match self.mode {
            Mode::Assigned => return Ok(()),
            Mode::GroupExact => {
                commit_printed(&mut self.consumer, &self.printed, None, Some(timeout))
            }
            Mode::GroupAuto => {
                // Records held back by a closed stdout were never printed: move back to
                // them so the positions committed stop at the printed ones.
                let assigned = self.consumer.assignment();
                for (tp, &offset) in &self.held_back {
                    if assigned.contains(tp) {
                        self.consumer.seek(tp, offset).map_err(|e| e.to_string())?;
                    }
                }
                // `close` would commit too, but its error would not say which step
                // failed; and the summary's lag is after the commit.
                let consumer = &mut self.consumer;
                despite_wakeup(|| consumer.commit_sync_with_timeout(timeout))
            }
        };
        result.map_err(|e| format!("committing the consumed offsets: {e}"))
    }

    /// The lag left at the end; partitions never fetched get their end offsets looked up
    /// (within `timeout`).
    fn final_lag(&mut self, timeout: Duration) -> Option<i64> {
        let known = lag(&self.consumer.metrics(), &self.held_back, None);
        if known.is_some() {
            return known;
        }
        if timeout.is_zero() {
            return None;
        }
        let partitions = self.consumer.assignment();
        let consumer = &mut self.consumer;
        let ends = despite_wakeup(|| consumer.end_offsets(&partitions, timeout)).ok()?;
        lag(&self.consumer.metrics(), &self.held_back, Some(&ends))
    }
}

/// Whether the consume loop goes on after `e` (reported on stderr): the consumer retries
/// underneath. Not when no broker ever answered (a wrong address), nor for security,
/// authorization, configuration or data errors, which retrying does not cure.
fn keeps_going(e: &KafkaError) -> bool {
    match e {
        KafkaError::BrokersUnreachable { ever_connected, .. } => *ever_connected,
        KafkaError::Timeout { .. } => true,
        KafkaError::Consumer(c) => matches!(
            c,
            ConsumerError::CommitFailed { .. } | ConsumerError::MaxPollIntervalExceeded { .. }
        ),
        _ => false,
    }
}

/// A failed write to stdout: a closed pipe ends consumption quietly (`Ok(false)`), any
/// other failure is an error.
fn still_open(e: io::Error) -> Result<bool, String> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(false)
    } else {
        Err(format!("writing to stdout: {e}"))
    }
}

/// The sum over the assigned partitions of `metrics` of the end offset (the one last
/// seen in a fetch answer, else `ends`) minus the position (the first record held back,
/// else the consumer's); None while either is unknown for some partition, or while
/// nothing is assigned (a group member before its first assignment).
fn lag(
    metrics: &ConsumerMetrics,
    held_back: &HashMap<TopicPartition, i64>,
    ends: Option<&HashMap<TopicPartition, i64>>,
) -> Option<i64> {
    if metrics.partitions.is_empty() {
        return None;
    }
    let mut total = 0;
    for p in &metrics.partitions {
        let position = held_back.get(&p.tp).copied().or(p.position)?;
        let end = p
            .end_offset
            .or_else(|| ends.and_then(|e| e.get(&p.tp).copied()))?;
        total += (end - position).max(0);
    }
    Some(total)
}
