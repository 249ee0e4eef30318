//! A synchronous service as you would write it: a member of a consumer group that
//! processes records, commits what it processed, and stops cleanly on Ctrl-C.
//!
//! ```text
//! cargo run -p consumer-net --example service -- --bootstrap-server localhost:9092 \
//!     --topic orders --group billing [--commit-every 100] [--run-for-ms MS] \
//!     [--close-timeout-ms 30000] [--consumer-property KEY=VALUE ...]
//! ```
//!
//! "Processing" a record is printing `partition offset key` on stdout. Offsets are
//! committed by hand (auto-commit off), so the group resumes only after records really
//! processed: every `--commit-every` records, before partitions move to another member
//! (the rebalance listener), and on exit. Each record is processed at least once, and
//! after a clean stop, not again by the next run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consumer_net::{
    ConsumerRecord, KafkaConsumer, KafkaError, OffsetAndMetadata, RebalanceListener, TopicPartition,
};

/// Per partition, the offset after the last record processed and not committed yet.
/// Shared by the loop and the listener (which the consumer calls from `poll`, `close`).
type Progress = Arc<Mutex<HashMap<TopicPartition, OffsetAndMetadata>>>;

/// Commits what was processed of `partitions` (all when None), waiting at most `timeout`.
/// A wake (Ctrl-C) that interrupts it is passed on, once the commit is made again, to
/// the next call: the loop's `poll`, which stops on it.
fn commit(
    consumer: &mut KafkaConsumer,
    progress: &Progress,
    partitions: Option<&[TopicPartition]>,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let mut offsets: Vec<_> = progress.lock().unwrap().clone().into_iter().collect();
    offsets.retain(|(tp, _)| partitions.is_none_or(|ps| ps.contains(tp)));
    let mut result = consumer.commit_offsets_sync_with_timeout(offsets.clone(), timeout);
    if let Err(KafkaError::Wakeup) = result {
        result = consumer.commit_offsets_sync_with_timeout(offsets.clone(), timeout);
        consumer.wakeup_handle().wake();
    }
    result?;
    // Committed: forgotten (unless processing went on meanwhile).
    let mut pending = progress.lock().unwrap();
    pending.retain(|tp, o| !offsets.contains(&(tp.clone(), o.clone())));
    Ok(())
}

/// Called by the consumer, from within `poll` or `close`, when the group moves partitions.
struct CommitOnRevoke(Progress);

impl RebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(&mut self, consumer: &mut KafkaConsumer, revoked: &[TopicPartition]) {
        eprintln!("service: revoked {revoked:?}");
        // The last chance to commit them: their next owner starts at the last commit.
        // (Within `close`, the close deadline bounds it.)
        if let Err(e) = commit(consumer, &self.0, Some(revoked), Duration::from_secs(10)) {
            eprintln!("service: committing revoked partitions failed: {e}");
        }
        self.0.lock().unwrap().retain(|tp, _| !revoked.contains(tp));
    }

    fn on_partitions_assigned(&mut self, _: &mut KafkaConsumer, assigned: &[TopicPartition]) {
        eprintln!("service: assigned {assigned:?}");
    }

    fn on_partitions_lost(&mut self, _: &mut KafkaConsumer, lost: &[TopicPartition]) {
        // Another member may own them already: committing now could undo its commits.
        eprintln!("service: lost {lost:?}");
        self.0.lock().unwrap().retain(|tp, _| !lost.contains(tp));
    }
}

/// The processing: one line per record.
fn process(record: &ConsumerRecord) {
    let key = String::from_utf8_lossy(record.key.as_deref().unwrap_or(b"-"));
    println!("{} {} {key}", record.partition, record.offset);
}

fn main() {
    if let Err(e) = run() {
        eprintln!("service: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let flags = flags()?;
    let flag = |name: &str| flags.get(name).and_then(|v| v.last()).cloned();
    let required = |name: &str| flag(name).ok_or(format!("{name} is required"));
    let number = |name: &str| flag(name).map(|v| v.parse().map_err(|e| format!("{name}: {e}")));
    let ms = |name: &str| Ok::<_, String>(number(name).transpose()?.map(Duration::from_millis));
    let commit_every = number("--commit-every").unwrap_or(Ok(100))?.max(1);
    let run_for = ms("--run-for-ms")?;
    let close_timeout = ms("--close-timeout-ms")?.unwrap_or(Duration::from_secs(30));

    let mut properties = vec![
        ("bootstrap.servers", required("--bootstrap-server")?),
        ("group.id", required("--group")?),
        // Offsets are committed by hand, only for processed records.
        ("enable.auto.commit", "false".to_owned()),
        // A group without commits starts at the beginning.
        ("auto.offset.reset", "earliest".to_owned()),
    ];
    for p in flags.get("--consumer-property").into_iter().flatten() {
        let (k, v) = p.split_once('=').ok_or(format!("not KEY=VALUE: `{p}`"))?;
        properties.push((k, v.to_owned()));
    }
    let mut consumer = KafkaConsumer::from_properties(properties).map_err(|e| e.to_string())?;
    let progress = Progress::default();
    let listener = Box::new(CommitOnRevoke(Arc::clone(&progress)));
    consumer
        .subscribe_with_listener([required("--topic")?], listener)
        .map_err(|e| e.to_string())?;

    // Ctrl-C and the timer stop the service the way Java's `wakeup()` does: the
    // consumer call under way (or the next one) returns `KafkaError::Wakeup`, once.
    let wake = consumer.wakeup_handle();
    let pressed = AtomicBool::new(false);
    ctrlc::set_handler(move || match pressed.swap(true, Ordering::SeqCst) {
        true => std::process::exit(130), // a second Ctrl-C: give up at once
        false => wake.wake(),
    })
    .map_err(|e| format!("installing the Ctrl-C handler: {e}"))?;
    if let Some(after) = run_for {
        let wake = consumer.wakeup_handle();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            wake.wake();
        });
    }

    let mut processed = 0u64;
    let outcome = loop {
        let records = match consumer.poll(Duration::from_secs(1)) {
            Ok(records) => records,
            Err(KafkaError::Wakeup) => break Ok(()),
            // Brokers down, a timeout...: the consumer keeps retrying underneath.
            Err(e) if e.is_retriable() => {
                eprintln!("service: {e}");
                continue;
            }
            Err(e) => break Err(e.to_string()),
        };
        for record in &records {
            process(record);
            // Processed: the group may resume after it.
            let (tp, next) = (record.topic_partition(), record.offset + 1);
            let next = OffsetAndMetadata::new(next);
            progress.lock().unwrap().insert(tp, next);
            processed += 1;
            if !processed.is_multiple_of(commit_every) {
                continue;
            }
            match commit(&mut consumer, &progress, None, Duration::from_secs(10)) {
                Ok(()) => {}
                // Refused by a rebalance (normal): their next owner resumes at the last commit.
                Err(e) if e.is_commit_failed() => eprintln!("service: {e}"),
                Err(e) => eprintln!("service: commit failed, retried later: {e}"),
            }
        }
    };

    // Stopping: one deadline bounds the final commit and the close.
    let deadline = Instant::now() + close_timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    eprintln!("service: stopping after {processed} records");
    let committed = commit(&mut consumer, &progress, None, left());
    if let Err(e) = &committed {
        eprintln!("service: final commit failed: {e}");
    }
    // Leaves the group (the listener is told of the revocation first).
    if let Err(e) = consumer.close_with_timeout(left()) {
        eprintln!("service: close: {e}");
    }
    outcome.and(committed.map_err(|e| format!("final commit: {e}")))
}

/// The command line's `--flag value` pairs, by flag (`--consumer-property` repeats).
fn flags() -> Result<HashMap<String, Vec<String>>, String> {
    const KNOWN: &str = "--bootstrap-server --topic --group --commit-every --run-for-ms \
                         --close-timeout-ms --consumer-property";
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut flags: HashMap<String, Vec<String>> = HashMap::new();
    for pair in argv.chunks(2) {
        match pair {
            [flag, value] if KNOWN.split_whitespace().any(|k| k == flag) => {
                flags.entry(flag.clone()).or_default().push(value.clone());
            }
            _ => return Err(format!("unknown flag or missing value: {pair:?}")),
        }
    }
    Ok(flags)
}
