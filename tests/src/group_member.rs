//! Consumer-group members for the group suites, each reporting into a
//! [`MemberLog`]:
//!
//! * [`LibraryMember`]: the library's `KafkaConsumer` in a thread of the test;
//! * [`ProcessMember::library`]: the same loop in a child process (the
//!   `group_member` binary of this crate), so a test can kill it with SIGKILL;
//! * [`ProcessMember::rdkafka`]: librdkafka (confluent-kafka for Python),
//!   reporting its rebalance callbacks, commits and records;
//!   [`ProcessMember::rdkafka_consumer_protocol`]: the same in a KIP-848 group
//!   (`group.protocol=consumer`, librdkafka 2.16's mock cluster).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use consumer_core::{OffsetAndMetadata, TopicPartition};
use consumer_net::{KafkaConsumer, RebalanceListener};

use crate::error::{HarnessError, Result};
use crate::group_log::{parse_event_line, MemberEvent, MemberLog};
use crate::process::{self, OutputTail};
use crate::python;

/// How a library member commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitPolicy {
    /// `enable.auto.commit=true`; its commits are not logged.
    Auto,
    /// `commit_sync` of the consumed positions after every `every` records,
    /// and of the revoked partitions in `on_partitions_revoked`; every
    /// commit is logged.
    Manual {
        /// Records between two commits.
        every: usize,
    },
}

impl CommitPolicy {
    /// The command-line form used by the `group_member` binary.
    pub fn to_arg(self) -> String {
        match self {
            CommitPolicy::Auto => "auto".into(),
            CommitPolicy::Manual { every } => every.to_string(),
        }
    }

    /// Parses [`CommitPolicy::to_arg`].
    pub fn from_arg(s: &str) -> Option<CommitPolicy> {
        if s == "auto" {
            return Some(CommitPolicy::Auto);
        }
        s.parse()
            .ok()
            .filter(|n| *n > 0)
            .map(|every| CommitPolicy::Manual { every })
    }
}

/// The Java-named properties of a group member: `group.id`, one assignor,
/// a 6 s session with 500 ms heartbeats (the mock coordinator's rebalance
/// waits depend on the session timeout), reading from the earliest offset,
/// and auto-commit as `commits` says.
pub fn group_props(group: &str, assignor: &str, commits: CommitPolicy) -> Vec<(String, String)> {
    let mut props = member_props(group, commits);
    props.extend(owned_pairs(&[
        ("partition.assignment.strategy", assignor),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
    ]));
    props
}

/// The Java-named properties of a library member of a KIP-848 group
/// (`group.protocol=consumer`): the group, reading from the earliest offset,
/// auto-commit as `commits` says, and a static `instance` id if given. The
/// session timeout, heartbeat interval and assignor are the coordinator's in
/// this protocol (the library refuses them, as Java does).
pub fn kip848_props(
    group: &str,
    commits: CommitPolicy,
    instance: Option<&str>,
) -> Vec<(String, String)> {
    let mut props = member_props(group, commits);
    props.extend(owned_pairs(&[("group.protocol", "consumer")]));
    if let Some(id) = instance {
        props.extend(owned_pairs(&[("group.instance.id", id)]));
    }
    props
}

/// What every library member sets, whatever its group protocol: the group,
/// reading from the earliest offset, auto-commit as `commits` says, small
/// batches and quick retries.
fn member_props(group: &str, commits: CommitPolicy) -> Vec<(String, String)> {
    let auto = matches!(commits, CommitPolicy::Auto);
    owned_pairs(&[
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", if auto { "true" } else { "false" }),
        ("auto.commit.interval.ms", "1000"),
        ("max.poll.records", "50"),
        ("reconnect.backoff.max.ms", "500"),
        ("retry.backoff.ms", "100"),
    ])
}

fn owned_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What a library member does.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    /// Its name in logs.
    pub name: String,
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// Java-named properties (see [`group_props`]).
    pub props: Vec<(String, String)>,
    /// How it commits.
    pub commits: CommitPolicy,
    /// A pause after every poll that returned records (slows it down).
    pub poll_delay: Duration,
}

/// Steers a running [`run_member`] loop from another thread.
#[derive(Debug, Default)]
pub struct MemberControl {
    stop: AtomicBool,
    pause: Mutex<Option<Duration>>,
}

impl MemberControl {
    /// Asks the loop to close the consumer and return.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Asks the loop to stay away from `poll` for `d` once, after its
    /// current poll (as a slow application would).
    pub fn pause(&self, d: Duration) {
        *self.pause.lock().unwrap_or_else(|e| e.into_inner()) = Some(d);
    }

    fn take_pause(&self) -> Option<Duration> {
        self.pause.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

type Sink = Arc<dyn Fn(MemberEvent) + Send + Sync>;

/// Logs every listener call; with manual commits, commits the revoked
/// partitions' positions in `on_partitions_revoked` (as the Java docs
/// recommend).
struct LoggingListener {
    sink: Sink,
    manual: bool,
}

fn numbers(tps: &[TopicPartition]) -> Vec<i32> {
    let mut v: Vec<i32> = tps.iter().map(|tp| tp.partition).collect();
    v.sort_unstable();
    v
}

impl RebalanceListener for LoggingListener {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut KafkaConsumer,
        partitions: &[TopicPartition],
    ) {
        if self.manual {
            commit(consumer, Some(partitions), &self.sink);
        }
        (self.sink)(MemberEvent::Revoked(numbers(partitions)));
    }

    fn on_partitions_assigned(
        &mut self,
        _consumer: &mut KafkaConsumer,
        partitions: &[TopicPartition],
    ) {
        (self.sink)(MemberEvent::Assigned(numbers(partitions)));
    }

    fn on_partitions_lost(&mut self, _consumer: &mut KafkaConsumer, partitions: &[TopicPartition]) {
        (self.sink)(MemberEvent::Lost(numbers(partitions)));
    }
}

/// Commits the consumed positions (of `only`, if given) and logs the result.
fn commit(consumer: &mut KafkaConsumer, only: Option<&[TopicPartition]>, sink: &Sink) {
    let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = consumer
        .core()
        .consumed_offsets()
        .into_iter()
        .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
        .collect();
    if offsets.is_empty() {
        return;
    }
    let pairs: Vec<(i32, i64)> = offsets
        .iter()
        .map(|(tp, o)| (tp.partition, o.offset))
        .collect();
    match consumer.commit_offsets_sync(offsets) {
        Ok(()) => sink(MemberEvent::Committed(pairs)),
        Err(e) => sink(MemberEvent::Error(format!("commit {pairs:?}: {e}"))),
    }
}

/// Runs one library group member until `control` stops it: subscribe, poll,
/// report every record and listener call to `sink`, commit as the spec
/// says, and close. Errors of `poll` are reported and polling goes on.
pub fn run_member(
    spec: &MemberSpec,
    sink: Arc<dyn Fn(MemberEvent) + Send + Sync>,
    control: &MemberControl,
) -> std::result::Result<(), String> {
    let mut props = vec![
        ("bootstrap.servers".to_string(), spec.bootstrap.clone()),
        ("client.id".to_string(), spec.name.clone()),
    ];
    props.extend(spec.props.iter().cloned());
    let mut c = KafkaConsumer::from_properties(props.iter().map(|(k, v)| (k, v)))
        .map_err(|e| format!("{}: creating the consumer with {props:?}: {e}", spec.name))?;
    let manual = matches!(spec.commits, CommitPolicy::Manual { .. });
    let listener = LoggingListener {
        sink: sink.clone(),
        manual,
    };
    c.subscribe_with_listener(spec.topics.clone(), Box::new(listener))
        .map_err(|e| format!("{}: subscribe: {e}", spec.name))?;
    let mut since_commit = 0usize;
    while !control.stop.load(Ordering::SeqCst) {
        if let Some(d) = control.take_pause() {
            thread::sleep(d);
        }
        match c.poll(Duration::from_millis(200)) {
            Ok(records) => {
                for r in &records {
                    sink(MemberEvent::Consumed {
                        partition: r.partition,
                        offset: r.offset,
                        key: r.key.as_ref().map(|b| b.to_vec()),
                        value: r.value.as_ref().map(|b| b.to_vec()),
                    });
                }
                since_commit += records.len();
                if let CommitPolicy::Manual { every } = spec.commits {
                    if since_commit >= every {
                        commit(&mut c, None, &sink);
                        since_commit = 0;
                    }
                }
                if !records.is_empty() && !spec.poll_delay.is_zero() {
                    thread::sleep(spec.poll_delay);
                }
            }
            Err(e) => {
                // Display for people, Debug to tell the variants apart.
                sink(MemberEvent::Error(format!("poll: {e} [{e:?}]")));
                // A lasting error must not spin the loop.
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    // A fault may leave the final commit or the LeaveGroup undone (the close error says
    // which); the tests check what was committed and read, not the close's own result.
    if let Err(e) = c.close() {
        log::warn!("close: {e}");
    }
    sink(MemberEvent::Closed);
    Ok(())
}

/// A library member running in a thread of the test.
pub struct LibraryMember {
    log: MemberLog,
    control: Arc<MemberControl>,
    handle: Option<JoinHandle<std::result::Result<(), String>>>,
}

impl LibraryMember {
    /// Starts `spec` in a new thread.
    pub fn start(spec: MemberSpec) -> LibraryMember {
        let log = MemberLog::new(
            &spec.name,
            matches!(spec.commits, CommitPolicy::Manual { .. }),
        );
        let control = Arc::new(MemberControl::default());
        let sink_log = log.clone();
        let sink: Sink = Arc::new(move |e| sink_log.push(e));
        let ctl = control.clone();
        let handle = thread::Builder::new()
            .name(spec.name.clone())
            .spawn(move || run_member(&spec, sink, &ctl))
            .unwrap_or_else(|e| panic!("spawning a member thread: {e}"));
        LibraryMember {
            log,
            control,
            handle: Some(handle),
        }
    }

    /// Its event log.
    pub fn log(&self) -> &MemberLog {
        &self.log
    }

    /// Makes it stay away from `poll` for `d` once.
    pub fn pause(&self, d: Duration) {
        self.control.pause(d);
    }

    /// Closes the consumer and waits (up to `timeout`) for the thread;
    /// panics if it failed or hangs.
    pub fn stop(&mut self, timeout: Duration) {
        self.control.stop();
        let Some(handle) = self.handle.take() else {
            return;
        };
        let deadline = Instant::now() + timeout;
        while !handle.is_finished() {
            if Instant::now() >= deadline {
                panic!(
                    "member {} did not close within {timeout:?}\n{}",
                    self.log.name(),
                    self.log.describe()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("member {} failed: {e}", self.log.name()),
            Err(_) => panic!("member {} panicked", self.log.name()),
        }
    }
}

impl Drop for LibraryMember {
    fn drop(&mut self) {
        // Let the thread close its consumer; do not wait for it (the test
        // is already failing or done).
        self.control.stop();
    }
}

/// librdkafka group member (confluent-kafka). argv: bootstrap topic
/// [name=value ...] (librdkafka properties). Reports events as lines (see
/// `group_log`); closes and exits when stdin reaches EOF.
const RDKAFKA_MEMBER: &str = r#"
import sys, time, threading
try:
    from confluent_kafka import Consumer, KafkaError
except ImportError as e:
    sys.stderr.write("MISSING confluent-kafka: %s\n" % e)
    sys.exit(97)

bootstrap, topic = sys.argv[1], sys.argv[2]
conf = {"bootstrap.servers": bootstrap}
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    conf[k] = v
lock = threading.Lock()
def out(s):
    with lock:
        sys.stdout.write("%d %s\n" % (int(time.time() * 1e6), s))
        sys.stdout.flush()
def parts(ps):
    return ",".join(str(p.partition) for p in sorted(ps, key=lambda p: p.partition)) or "-"
def on_commit(err, ps):
    if err is not None:
        if err.code() != KafkaError._NO_OFFSET:
            out("E commit %s" % err)
        return
    ok = [p for p in ps if p.error is None and p.offset >= 0]
    if ok:
        out("C " + ",".join("%d:%d" % (p.partition, p.offset) for p in ok))
conf["on_commit"] = on_commit
c = Consumer(conf)
c.subscribe([topic],
    on_assign=lambda c, ps: out("A " + parts(ps)),
    on_revoke=lambda c, ps: out("V " + parts(ps)),
    on_lost=lambda c, ps: out("L " + parts(ps)))
stop = threading.Event()
def watch():
    sys.stdin.read()
    stop.set()
threading.Thread(target=watch, daemon=True).start()
def hx(b):
    return "-" if b is None else b.hex()
while not stop.is_set():
    m = c.poll(0.1)
    if m is None:
        continue
    if m.error():
        out("E poll %s" % m.error())
        continue
    out("R %d %d %s %s" % (m.partition(), m.offset(), hx(m.key()), hx(m.value())))
c.close()
out("X")
"#;

/// librdkafka properties matching [`group_props`] (session, heartbeats,
/// earliest, auto-commit every second).
pub fn rdkafka_group_props(group: &str, assignor: &str) -> Vec<(String, String)> {
    owned_pairs(&[
        ("group.id", group),
        ("partition.assignment.strategy", assignor),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "1000"),
    ])
}

/// librdkafka properties of a KIP-848 member (`group.protocol=consumer`):
/// the group, reading from the earliest offset, auto-commit every second.
/// The session timeout, heartbeat interval and assignor belong to the
/// coordinator in this protocol (librdkafka refuses `session.timeout.ms`,
/// `heartbeat.interval.ms` and `partition.assignment.strategy` with it); on
/// the mock, set them with
/// [`crate::MockCluster::set_consumer_group_heartbeat_interval`] and
/// [`crate::MockCluster::set_consumer_group_session_timeout`].
pub fn rdkafka_consumer_protocol_props(group: &str) -> Vec<(String, String)> {
    owned_pairs(&[
        ("group.id", group),
        ("group.protocol", "consumer"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "1000"),
    ])
}

/// A group member in a child process, reporting events on its stdout.
pub struct ProcessMember {
    child: Child,
    stdin: Option<ChildStdin>,
    log: MemberLog,
    stderr: OutputTail,
    reader: Option<JoinHandle<()>>,
    what: String,
}

impl ProcessMember {
    /// librdkafka (confluent-kafka for the harness Python) subscribed to
    /// `topic` with `props` (see [`rdkafka_group_props`]). Its commits are
    /// logged (from its commit callback, when it serves it).
    pub fn rdkafka(
        name: &str,
        bootstrap: &str,
        topic: &str,
        props: &[(String, String)],
    ) -> Result<ProcessMember> {
        let mut cmd = python::python_command(RDKAFKA_MEMBER);
        cmd.arg(bootstrap).arg(topic);
        cmd.args(props.iter().map(|(k, v)| format!("{k}={v}")));
        ProcessMember::spawn(name, cmd, true, "confluent-kafka group member")
    }

    /// librdkafka (confluent-kafka 2.16) in the KIP-848 group `group`
    /// (`group.protocol=consumer`, see [`rdkafka_consumer_protocol_props`]),
    /// subscribed to `topic`: its log shows the partitions it owns over time
    /// (incremental assignments and revocations), its commits and the records
    /// it read, for [`crate::GroupHistory`]. Needs a broker with
    /// ConsumerGroupHeartbeat (librdkafka 2.16's mock, not 2.0.2's).
    pub fn rdkafka_consumer_protocol(
        name: &str,
        bootstrap: &str,
        topic: &str,
        group: &str,
    ) -> Result<ProcessMember> {
        ProcessMember::rdkafka(
            name,
            bootstrap,
            topic,
            &rdkafka_consumer_protocol_props(group),
        )
    }

    /// The library in the `group_member` binary (`exe`, from
    /// `env!("CARGO_BIN_EXE_group_member")`) running `spec`.
    pub fn library(exe: &Path, spec: &MemberSpec) -> Result<ProcessMember> {
        let mut cmd = Command::new(exe);
        cmd.arg(&spec.name)
            .arg(&spec.bootstrap)
            .arg(spec.topics.join(","))
            .arg(spec.commits.to_arg())
            .arg(spec.poll_delay.as_millis().to_string());
        cmd.args(spec.props.iter().map(|(k, v)| format!("{k}={v}")));
        let logs = matches!(spec.commits, CommitPolicy::Manual { .. });
        ProcessMember::spawn(&spec.name, cmd, logs, "group_member")
    }

    fn spawn(
        name: &str,
        mut cmd: Command,
        logs_commits: bool,
        what: &str,
    ) -> Result<ProcessMember> {
        let describe = process::describe(&cmd);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd.spawn().map_err(|e| HarnessError::spawn(&program, e))?;
        log::debug!("started {what}: {describe}");
        let stderr = OutputTail::default();
        if let Some(e) = child.stderr.take() {
            stderr.drain(e, name);
        }
        let log = MemberLog::new(name, logs_commits);
        let stdout = child.stdout.take();
        let sink = log.clone();
        let reader = thread::Builder::new()
            .name(format!("{name}-stdout"))
            .spawn(move || {
                let Some(out) = stdout else {
                    return;
                };
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else {
                        break;
                    };
                    match parse_event_line(&line) {
                        Ok(l) => sink.push_logged(l),
                        Err(e) => sink.push(MemberEvent::Error(e)),
                    }
                }
            })
            .map_err(|e| HarnessError::io("spawning a stdout reader", e))?;
        Ok(ProcessMember {
            stdin: child.stdin.take(),
            child,
            log,
            stderr,
            reader: Some(reader),
            what: format!("{what} {name}"),
        })
    }

    /// Its event log.
    pub fn log(&self) -> &MemberLog {
        &self.log
    }

    /// Its stderr so far (tail).
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks it to close (EOF on stdin) and waits up to `timeout` for it to
    /// exit successfully.
    pub fn stop(&mut self, timeout: Duration) -> Result<()> {
        drop(self.stdin.take());
        let status = process::wait_timeout(&mut self.child, timeout)?;
        self.join_reader();
        match status {
            Some(s) if s.success() => Ok(()),
            Some(s) if s.code() == Some(97) => Err(HarnessError::Missing {
                what: format!("{}: {}", self.what, self.stderr.text().trim()),
                install: "pip install confluent-kafka".into(),
            }),
            Some(s) => Err(HarnessError::Failed {
                what: self.what.clone(),
                status: s.to_string(),
                output: self.stderr.text(),
            }),
            None => {
                process::kill(&mut self.child);
                Err(HarnessError::Timeout {
                    what: format!("{} closing", self.what),
                    timeout,
                    output: self.stderr.text(),
                })
            }
        }
    }

    /// Kills it with SIGKILL (no close, no LeaveGroup, no final commit) and
    /// reaps it. Its log ends with `Closed`: it owns nothing from now on (the
    /// coordinator notices at the session timeout).
    pub fn kill(&mut self) {
        process::kill(&mut self.child);
        self.join_reader();
        self.log.push(MemberEvent::Closed);
    }

    fn join_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for ProcessMember {
    fn drop(&mut self) {
        if self.is_running() {
            process::kill(&mut self.child);
        }
    }
}
