//! A console consumer in the manner of Apache Kafka's `kafka-console-consumer`: reads a
//! topic (all partitions, or one) without a group and prints its records.
//!
//! ```text
//! cargo run --release -p consumer-net --example consume -- \
//!     --bootstrap-server localhost:9092 --topic demo --from-beginning --max-messages 10
//! ```
//!
//! Records go to stdout, progress and the summary to stderr. `--help` lists the flags.

mod args;
mod format;
mod stats;

use std::collections::HashMap;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consumer_net::{KafkaConsumer, KafkaError, TopicPartition};

use args::{Args, Command, StartAt, USAGE};
use stats::{Stats, PROGRESS_INTERVAL};

/// The bound on the topic lookup at start-up.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The bound on the end-offset lookup for the summary.
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
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
    let group = args.group.clone().or_else(|| {
        let mut p = args.properties.iter();
        p.find(|(k, _)| k == "group.id").map(|(_, v)| v.clone())
    });
    if let Some(g) = group {
        return Err(format!(
            "group `{g}`: consumer groups are not implemented yet; \
             read without a group (all partitions, or one with --partition)"
        ));
    }
    let mut consumer =
        KafkaConsumer::from_properties(properties(args)).map_err(|e| e.to_string())?;
    let partitions = assign(&mut consumer, args)?;

    let stop = Arc::new(AtomicBool::new(false));
    catch_interrupt(&consumer, Arc::clone(&stop));
    let mut session = Session {
        consumer,
        stats: Stats::new(args.progress || io::stderr().is_terminal()),
        partitions,
        held_back: HashMap::new(),
    };
    let outcome = session.consume(args, &stop);
    let lag = session.final_lag();
    session.stats.finish(lag, session.partitions.len());
    session.consumer.close();
    outcome
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
    props
}

/// Assigns the partitions asked for and seeks to the start position.
fn assign(consumer: &mut KafkaConsumer, args: &Args) -> Result<Vec<TopicPartition>, String> {
    let topic = &args.topic;
    let all = consumer
        .partitions_for(topic, LOOKUP_TIMEOUT)
        .map_err(|e| format!("looking up topic `{topic}`: {e}"))?;
    if all.is_empty() {
        return Err(format!("topic `{topic}` does not exist"));
    }
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
    Ok(tps)
}

/// Ctrl-C ends the consume loop (through the consumer's wakeup) so the summary still
/// prints; a second Ctrl-C exits at once.
fn catch_interrupt(consumer: &KafkaConsumer, stop: Arc<AtomicBool>) {
    let wake = consumer.wakeup_handle();
    let installed = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
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
    stats: Stats,
    partitions: Vec<TopicPartition>,
    /// For each partition, the first offset returned by `poll` but not consumed (cut off
    /// by --max-messages or a closed stdout): the consumer's position is past it.
    held_back: HashMap<TopicPartition, i64>,
}

impl Session {
    /// Polls and prints until --max-messages, --timeout-ms, Ctrl-C or a closed stdout.
    fn consume(&mut self, args: &Args, stop: &AtomicBool) -> Result<(), String> {
        let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
        let mut last_record = Instant::now();
        let mut stdout_open = true;
        while stdout_open && !stop.load(Ordering::SeqCst) {
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
                            continue;
                        }
                        Err(e) => stdout_open = still_open(e)?,
                    }
                }
                let tp = TopicPartition::new(&*r.topic, r.partition);
                self.held_back.entry(tp).or_insert(r.offset);
            }
            if stdout_open {
                if let Err(e) = out.flush() {
                    stdout_open = still_open(e)?;
                }
            }
            let (consumer, partitions, held) = (&self.consumer, &self.partitions, &self.held_back);
            self.stats.tick(|| lag(consumer, partitions, held, None));
        }
        Ok(())
    }

    /// The lag left at the end; partitions never fetched get their end offsets looked up.
    fn final_lag(&mut self) -> Option<i64> {
        let known = lag(&self.consumer, &self.partitions, &self.held_back, None);
        if known.is_some() {
            return known;
        }
        // Twice: a Ctrl-C wake still pending ends the first attempt.
        let ends = self
            .consumer
            .end_offsets(&self.partitions, SUMMARY_TIMEOUT)
            .or_else(|_| self.consumer.end_offsets(&self.partitions, SUMMARY_TIMEOUT))
            .ok()?;
        lag(
            &self.consumer,
            &self.partitions,
            &self.held_back,
            Some(&ends),
        )
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

/// The sum over `partitions` of the end offset (the high watermark last seen, else
/// `ends`) minus the position; None while either is unknown for some partition.
fn lag(
    consumer: &KafkaConsumer,
    partitions: &[TopicPartition],
    held_back: &HashMap<TopicPartition, i64>,
    ends: Option<&HashMap<TopicPartition, i64>>,
) -> Option<i64> {
    let mut total = 0;
    for tp in partitions {
        let position = match held_back.get(tp) {
            Some(&o) => o,
            None => consumer.core().position(tp).ok()??.offset,
        };
        let end = consumer
            .high_watermark(tp)
            .or_else(|| ends.and_then(|e| e.get(tp).copied()))?;
        total += (end - position).max(0);
    }
    Some(total)
}
