//! librdkafka mock cluster, driven through `tests/mock-cluster/launcher.c`.
//!
//! Two librdkafka versions, one launcher source ([`MockVersion`]):
//!
//! * 2.0.2 (Debian's `librdkafka-dev`): the launcher is compiled with `cc` and
//!   `pkg-config --cflags --libs rdkafka`;
//! * 2.16 (bundled in the `confluent-kafka==2.16.1` wheel as
//!   `confluent_kafka.libs/librdkafka-<hash>.so.1`): compiled against the same
//!   Debian headers, but linked to a copy of the wheel's library, placed
//!   beside the launcher under its SONAME and found through an `$ORIGIN`
//!   rpath.
//!
//! Each launcher is compiled once per process into the cargo target
//! directory, then spawned once per [`MockCluster`]. Every command is
//! answered synchronously with `OK` or `ERR <message>`, so fault injection is
//! in effect when the method returns.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crate::error::{install_hint, HarnessError, Result};
use crate::process::{self, OutputTail};
use crate::python;

/// The launcher's C source, embedded so the harness does not depend on the
/// checkout layout at run time.
const LAUNCHER_SRC: &str = include_str!("../mock-cluster/launcher.c");

/// How long to wait for the launcher to print its bootstrap line, and for
/// the answer to each command.
const LAUNCHER_TIMEOUT: Duration = Duration::from_secs(15);

/// How long compiling the launcher may take.
const COMPILE_TIMEOUT: Duration = Duration::from_secs(120);

/// Which librdkafka's mock cluster a [`MockCluster`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MockVersion {
    /// Debian's librdkafka 2.0.2 (`librdkafka-dev`): old, non-flexible
    /// versions only (Metadata 0–2, Fetch 0–11, JoinGroup 0–5, …).
    V2_0_2,
    /// librdkafka 2.16 from the `confluent-kafka==2.16.1` wheel: flexible
    /// versions (Metadata 0–13, Fetch 0–16, …) and KIP-848's
    /// ConsumerGroupHeartbeat v1. Right after start the harness caps the
    /// classic group APIs whose flexible versions this mock misparses
    /// ([`MockCluster::V2_16_CAPS`]: JoinGroup v5, SyncGroup v3, LeaveGroup
    /// v2). Known quirks: transaction markers are written with CRC 0, aborted
    /// transactions are not filtered, and a leaderless partition crashes it
    /// on Fetch v12+ ([`MockCluster::allow_leaderless_partitions`]); see
    /// docs/testing.md.
    V2_16,
}

impl MockVersion {
    /// Every version, oldest first.
    pub const ALL: [MockVersion; 2] = [MockVersion::V2_0_2, MockVersion::V2_16];

    /// The librdkafka version, `2.0.2` or `2.16`.
    pub fn name(self) -> &'static str {
        match self {
            MockVersion::V2_0_2 => "2.0.2",
            MockVersion::V2_16 => "2.16",
        }
    }

    /// True if `librdkafka` (as `rd_kafka_version_str()` gives it, e.g.
    /// `2.16.0`) is this version.
    pub fn matches(self, librdkafka: &str) -> bool {
        match self {
            MockVersion::V2_0_2 => librdkafka == "2.0.2",
            MockVersion::V2_16 => librdkafka.starts_with("2.16."),
        }
    }
}

impl std::fmt::Display for MockVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "librdkafka {} mock cluster", self.name())
    }
}

/// Which coordinator [`MockCluster::set_coordinator`] moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordinatorType {
    /// A consumer-group coordinator (key = group id).
    Group,
    /// A transaction coordinator (key = transactional id).
    Transaction,
}

/// A running librdkafka mock cluster (one launcher process).
///
/// Broker ids are `1..=brokers`. The process is told to quit (and killed if
/// it does not) when this value is dropped; the launcher also exits by
/// itself when the test process dies.
pub struct MockCluster {
    bootstrap: String,
    brokers: usize,
    version: MockVersion,
    librdkafka: String,
    inner: Mutex<Inner>,
    stderr: OutputTail,
}

struct Inner {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Set once the line protocol is out of sync (timeout, crash).
    broken: Option<String>,
}

impl MockCluster {
    /// librdkafka's `RD_KAFKA_RESP_ERR__TRANSPORT`: an injected error that
    /// makes the mock broker close the client's connection.
    pub const ERR_TRANSPORT: i32 = -195;

    /// kafka-python settings needed against this mock: librdkafka 2.0.2's
    /// mock only implements ApiVersions v0..2 and answers newer versions in
    /// a form kafka-python cannot decode, so pin the protocol level.
    /// Pass to [`crate::produce_python_with`] / [`crate::consume_python_with`].
    pub const KAFKA_PYTHON_CONFIG: &'static [(&'static str, &'static str)] =
        &[("api_version", "(2, 3)")];

    /// The version caps applied to every librdkafka 2.16 cluster right after
    /// start: `(api_key, max_version, why)`. librdkafka's own client never
    /// sends these versions, and its mock decodes them as if they were not
    /// flexible:
    pub const V2_16_CAPS: &'static [(i16, i16, &'static str)] = &[
        (
            crate::api_key::JOIN_GROUP,
            5,
            "JoinGroup v6+: reads the protocols' compact array count as an INT32",
        ),
        (
            crate::api_key::SYNC_GROUP,
            3,
            "SyncGroup v4+: reads the assignments' compact array count as an INT32 \
             (\"Protocol read buffer underflow for SyncGroup v4\", the member never syncs)",
        ),
        (
            crate::api_key::LEAVE_GROUP,
            2,
            "LeaveGroup v3+: reads a single member id where the Members array is, and \
             answers without Members (the member is not removed)",
        ),
    ];

    /// Compiles the launcher if needed and starts a librdkafka 2.0.2 cluster
    /// with `brokers` brokers (1..=64).
    pub fn start(brokers: usize) -> Result<MockCluster> {
        MockCluster::start_version(MockVersion::V2_0_2, brokers)
    }

    /// Like [`Self::start`], with librdkafka 2.16's mock cluster (with
    /// [`Self::V2_16_CAPS`]).
    pub fn start_v2_16(brokers: usize) -> Result<MockCluster> {
        MockCluster::start_version(MockVersion::V2_16, brokers)
    }

    /// Compiles the launcher for `version` if needed and starts a cluster
    /// with `brokers` brokers (1..=64). Fails unless the launcher's
    /// librdkafka is `version`. On 2.16, [`Self::V2_16_CAPS`] are applied.
    pub fn start_version(version: MockVersion, brokers: usize) -> Result<MockCluster> {
        if !(1..=64).contains(&brokers) {
            return Err(HarnessError::InvalidInput(format!(
                "mock cluster broker count must be 1..=64, got {brokers}"
            )));
        }
        let exe = launcher_binary_for(version)?;
        let cluster = MockCluster::spawn(&exe, version, brokers)?;
        if !version.matches(&cluster.librdkafka) {
            return Err(HarnessError::Missing {
                what: format!(
                    "{version}: the launcher {} runs librdkafka {}",
                    exe.display(),
                    cluster.librdkafka
                ),
                install: version.install_hint().into(),
            });
        }
        if version == MockVersion::V2_16 {
            for &(api_key, max, _) in MockCluster::V2_16_CAPS {
                cluster.set_api_version(api_key, 0, max)?;
            }
        }
        Ok(cluster)
    }

    fn spawn(exe: &Path, version: MockVersion, brokers: usize) -> Result<MockCluster> {
        log::debug!("starting mock cluster: {} {brokers}", exe.display());
        let mut child = Command::new(exe)
            .arg(brokers.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HarnessError::Spawn {
                program: exe.display().to_string(),
                source: e,
            })?;

        let stderr = OutputTail::default();
        if let Some(err) = child.stderr.take() {
            stderr.drain(err, "mock-cluster-stderr");
        }
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            let spawned = thread::Builder::new()
                .name("mock-cluster-stdout".into())
                .spawn(move || {
                    for line in BufReader::new(out).lines() {
                        let Ok(l) = line else { break };
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                });
            if let Err(e) = spawned {
                process::kill(&mut child);
                return Err(HarnessError::io("spawning the launcher reader thread", e));
            }
        }

        let stdin = child.stdin.take();
        let mut inner = Inner {
            child,
            stdin,
            lines: rx,
            broken: None,
        };
        let first = match inner.read_line(&stderr, "the mock cluster's BOOTSTRAP line") {
            Ok(l) => l,
            Err(e) => {
                process::kill(&mut inner.child);
                return Err(e);
            }
        };
        let bootstrap = match first.strip_prefix("BOOTSTRAP ") {
            Some(b) if !b.trim().is_empty() => b.trim().to_string(),
            _ => {
                process::kill(&mut inner.child);
                return Err(HarnessError::Protocol {
                    what: "mock cluster launcher".into(),
                    detail: format!("expected `BOOTSTRAP <servers>`, got {first:?}"),
                });
            }
        };
        let mut cluster = MockCluster {
            bootstrap,
            brokers,
            version,
            librdkafka: String::new(),
            inner: Mutex::new(inner),
            stderr,
        };
        cluster.librdkafka = cluster.command("version")?.trim().to_string();
        log::info!(
            "mock cluster (librdkafka {}) with {brokers} brokers at {}",
            cluster.librdkafka,
            cluster.bootstrap
        );
        Ok(cluster)
    }

    /// Which librdkafka's mock this is.
    pub fn version(&self) -> MockVersion {
        self.version
    }

    /// The running librdkafka's own version string (`rd_kafka_version_str()`,
    /// e.g. `2.0.2` or `2.16.0`).
    pub fn librdkafka_version(&self) -> &str {
        &self.librdkafka
    }

    /// The API version ranges broker `broker` (1-based id) advertises: an
    /// ApiVersions v0 request sent over a fresh connection, decoded with
    /// consumer-core's codec. Maps API key to `(min, max)`.
    pub fn advertised_versions(&self, broker: usize) -> Result<BTreeMap<i16, (i16, i16)>> {
        let addr = broker
            .checked_sub(1)
            .and_then(|i| self.broker_addrs().get(i).cloned())
            .ok_or_else(|| {
                HarnessError::InvalidInput(format!(
                    "no broker {broker} in a {}-broker cluster",
                    self.brokers
                ))
            })?;
        api_versions(&addr)
    }

    /// The `bootstrap.servers` list, e.g. `127.0.0.1:40001,127.0.0.1:40002`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// The individual broker addresses, in broker-id order (id 1 first).
    pub fn broker_addrs(&self) -> Vec<String> {
        self.bootstrap.split(',').map(str::to_string).collect()
    }

    /// Number of brokers (ids `1..=brokers()`).
    pub fn brokers(&self) -> usize {
        self.brokers
    }

    /// librdkafka's log output from the launcher so far (tail).
    pub fn logs(&self) -> String {
        self.stderr.text()
    }

    /// Sends one raw command line (see launcher.c for the protocol) and
    /// returns the text after `OK` (empty for a bare `OK`).
    pub fn command(&self, line: &str) -> Result<String> {
        if line.contains(['\n', '\r']) {
            return Err(HarnessError::InvalidInput(format!(
                "mock cluster command must be a single line: {line:?}"
            )));
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = &inner.broken {
            return Err(HarnessError::Protocol {
                what: "mock cluster launcher".into(),
                detail: format!("not usable any more ({why}); command `{line}` not sent"),
            });
        }
        let sent = match inner.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(format!("{line}\n").as_bytes())
                .and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("stdin already closed")),
        };
        if let Err(e) = sent {
            inner.broken = Some(format!("write failed: {e}"));
            return Err(HarnessError::Failed {
                what: format!("sending `{line}` to the mock cluster launcher ({e})"),
                status: exit_status_text(&mut inner.child),
                output: self.stderr.text(),
            });
        }
        let answer = inner.read_line(&self.stderr, &format!("the answer to `{line}`"))?;
        if answer == "OK" {
            Ok(String::new())
        } else if let Some(v) = answer.strip_prefix("OK ") {
            Ok(v.to_string())
        } else if let Some(msg) = answer.strip_prefix("ERR") {
            Err(HarnessError::Command {
                command: line.to_string(),
                message: msg.trim().to_string(),
            })
        } else {
            inner.broken = Some(format!("unexpected answer {answer:?}"));
            Err(HarnessError::Protocol {
                what: "mock cluster launcher".into(),
                detail: format!("unexpected answer to `{line}`: {answer:?}"),
            })
        }
    }

    /// Creates `topic` with `partitions` partitions and the given replication
    /// factor (capped by librdkafka at the broker count).
    ///
    /// Note: the mock cluster also auto-creates unknown topics with 4
    /// partitions when a client's Metadata request allows auto-creation.
    pub fn create_topic(&self, topic: &str, partitions: i32, replication: i32) -> Result<()> {
        self.cmd(&[
            "create_topic",
            arg(topic)?,
            &partitions.to_string(),
            &replication.to_string(),
        ])
    }

    /// Makes `broker` the leader of `topic`/`partition` (`-1`: leaderless; on
    /// librdkafka 2.16 see [`Self::allow_leaderless_partitions`] first).
    pub fn set_leader(&self, topic: &str, partition: i32, broker: i32) -> Result<()> {
        self.cmd(&[
            "partition_leader",
            arg(topic)?,
            &partition.to_string(),
            &broker.to_string(),
        ])
    }

    /// Makes the cluster safe for partitions without a leader
    /// ([`Self::set_leader`] with `-1`); call it before clients connect.
    ///
    /// librdkafka 2.16's mock crashes (SIGSEGV) when it answers a Fetch v12+
    /// for a leaderless partition: it fills the NOT_LEADER_OR_FOLLOWER
    /// answer's KIP-951 `CurrentLeader` tag from the partition's leader
    /// without checking it exists (`rd_kafka_mock_handle_Fetch`,
    /// `mpart->leader->id`). On 2.16 this caps Fetch at v11 (no tagged
    /// fields); on 2.0.2, whose Fetch stops at v11, it does nothing.
    pub fn allow_leaderless_partitions(&self) -> Result<()> {
        match self.version {
            MockVersion::V2_0_2 => Ok(()),
            MockVersion::V2_16 => self.set_api_version(crate::api_key::FETCH, 0, 11),
        }
    }

    /// Sets the preferred (follower) replica that Fetch responses redirect
    /// consumers to (KIP-392).
    pub fn set_follower(&self, topic: &str, partition: i32, broker: i32) -> Result<()> {
        self.cmd(&[
            "partition_follower",
            arg(topic)?,
            &partition.to_string(),
            &broker.to_string(),
        ])
    }

    /// Overrides the follower's low/high watermarks (`-1` reverts to the leader's).
    pub fn set_follower_watermarks(
        &self,
        topic: &str,
        partition: i32,
        lo: i64,
        hi: i64,
    ) -> Result<()> {
        self.cmd(&[
            "follower_wmarks",
            arg(topic)?,
            &partition.to_string(),
            &lo.to_string(),
            &hi.to_string(),
        ])
    }

    /// Makes Metadata responses report `err` for `topic` (0 clears it).
    pub fn set_topic_error(&self, topic: &str, err: i32) -> Result<()> {
        self.cmd(&["topic_error", arg(topic)?, &err.to_string()])
    }

    /// Disconnects broker `id` and refuses new connections (`-1`: all).
    /// Leadership does not move.
    pub fn broker_down(&self, id: i32) -> Result<()> {
        self.cmd(&["broker_down", &id.to_string()])
    }

    /// Lets broker `id` accept connections again (`-1`: all).
    pub fn broker_up(&self, id: i32) -> Result<()> {
        self.cmd(&["broker_up", &id.to_string()])
    }

    /// Delays every response of broker `id` by `rtt` (`-1`: all brokers).
    pub fn set_rtt(&self, id: i32, rtt: Duration) -> Result<()> {
        self.cmd(&["broker_rtt", &id.to_string(), &millis(rtt)?])
    }

    /// Sets the rack that Metadata reports for broker `id` (`-1`: all).
    pub fn set_rack(&self, id: i32, rack: &str) -> Result<()> {
        self.cmd(&["broker_rack", &id.to_string(), arg(rack)?])
    }

    /// Pins the coordinator for `key` (group id or transactional id) to `broker`.
    pub fn set_coordinator(&self, kind: CoordinatorType, key: &str, broker: i32) -> Result<()> {
        let kind = match kind {
            CoordinatorType::Group => "group",
            CoordinatorType::Transaction => "txn",
        };
        self.cmd(&["coordinator", kind, arg(key)?, &broker.to_string()])
    }

    /// Makes the next `errors.len()` requests with `api_key` (to any broker)
    /// fail with these error codes, in order. Use [`Self::ERR_TRANSPORT`]
    /// to make the broker drop the connection instead.
    pub fn push_errors(&self, api_key: i16, errors: &[i32]) -> Result<()> {
        if errors.is_empty() {
            return Err(HarnessError::InvalidInput(
                "push_errors needs at least one error".into(),
            ));
        }
        let mut parts = vec![
            "push_errors".to_string(),
            api_key.to_string(),
            errors.len().to_string(),
        ];
        parts.extend(errors.iter().map(i32::to_string));
        self.command(&parts.join(" ")).map(drop)
    }

    /// Like [`Self::push_errors`] but only for requests to `broker`, with a
    /// per-response delay: each entry is `(error_code, rtt)`.
    /// Broker errors take precedence over cluster-wide ones.
    pub fn push_broker_errors(
        &self,
        broker: i32,
        api_key: i16,
        errors: &[(i32, Duration)],
    ) -> Result<()> {
        if errors.is_empty() {
            return Err(HarnessError::InvalidInput(
                "push_broker_errors needs at least one error".into(),
            ));
        }
        let mut parts = vec![
            "push_broker_errors".to_string(),
            broker.to_string(),
            api_key.to_string(),
            errors.len().to_string(),
        ];
        for (err, rtt) in errors {
            parts.push(format!("{err}:{}", rtt.as_millis()));
        }
        self.command(&parts.join(" ")).map(drop)
    }

    /// How many injected errors are still queued on `broker` for `api_key`.
    pub fn broker_error_count(&self, broker: i32, api_key: i16) -> Result<usize> {
        let line = format!("broker_error_count {broker} {api_key}");
        let v = self.command(&line)?;
        v.trim().parse().map_err(|_| HarnessError::Protocol {
            what: "mock cluster launcher".into(),
            detail: format!("`{line}` answered a non-number: {v:?}"),
        })
    }

    /// Drops all queued cluster-wide errors for `api_key`.
    pub fn clear_errors(&self, api_key: i16) -> Result<()> {
        self.cmd(&["clear_errors", &api_key.to_string()])
    }

    /// Restricts the versions the brokers advertise for `api_key`
    /// (`-1, -1` disables the API). `max` must not exceed what librdkafka's
    /// mock implements.
    pub fn set_api_version(&self, api_key: i16, min: i16, max: i16) -> Result<()> {
        self.cmd(&[
            "apiversion",
            &api_key.to_string(),
            &min.to_string(),
            &max.to_string(),
        ])
    }

    /// The heartbeat interval the coordinator gives KIP-848
    /// (`group.protocol=consumer`) members (librdkafka's default: 3 s).
    /// librdkafka 2.16 only: the 2.0.2 mock has no such groups.
    pub fn set_consumer_group_heartbeat_interval(&self, interval: Duration) -> Result<()> {
        self.cmd(&["consumer_group_heartbeat_interval", &millis(interval)?])
    }

    /// The session timeout of KIP-848 members (librdkafka's default: 30 s);
    /// librdkafka 2.16 only.
    pub fn set_consumer_group_session_timeout(&self, timeout: Duration) -> Result<()> {
        self.cmd(&["consumer_group_session_timeout", &millis(timeout)?])
    }

    /// How long a classic group's first rebalance waits for more members
    /// (3 s in both versions; settable on 2.16 only).
    pub fn set_group_initial_rebalance_delay(&self, delay: Duration) -> Result<()> {
        self.cmd(&["group_initial_rebalance_delay", &millis(delay)?])
    }

    fn cmd(&self, parts: &[&str]) -> Result<()> {
        self.command(&parts.join(" ")).map(drop)
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(mut stdin) = inner.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
            let _ = stdin.flush();
            // Dropping stdin closes it: the launcher also exits on EOF.
        }
        match process::wait_timeout(&mut inner.child, Duration::from_secs(5)) {
            Ok(Some(_)) => {}
            _ => {
                log::warn!("mock cluster launcher did not exit on quit; killing it");
                process::kill(&mut inner.child);
            }
        }
    }
}

impl Inner {
    fn read_line(&mut self, stderr: &OutputTail, what: &str) -> Result<String> {
        match self.lines.recv_timeout(LAUNCHER_TIMEOUT) {
            Ok(l) => Ok(l),
            Err(RecvTimeoutError::Timeout) => {
                self.broken = Some(format!("timed out waiting for {what}"));
                Err(HarnessError::Timeout {
                    what: format!("waiting for {what}"),
                    timeout: LAUNCHER_TIMEOUT,
                    output: stderr.text(),
                })
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.broken = Some("launcher exited".into());
                // Give the stderr drain a moment to collect the last words.
                let status = match process::wait_timeout(&mut self.child, Duration::from_secs(2)) {
                    Ok(Some(s)) => s.to_string(),
                    _ => "closed stdout but still running".into(),
                };
                thread::sleep(Duration::from_millis(50));
                Err(HarnessError::Failed {
                    what: format!("mock cluster launcher (while waiting for {what})"),
                    status,
                    output: stderr.text(),
                })
            }
        }
    }
}

fn exit_status_text(child: &mut Child) -> String {
    match child.try_wait() {
        Ok(Some(s)) => s.to_string(),
        Ok(None) => "still running".into(),
        Err(e) => format!("unknown: {e}"),
    }
}

/// `d` in whole milliseconds, as a launcher argument (at most `i32::MAX`).
fn millis(d: Duration) -> Result<String> {
    i32::try_from(d.as_millis())
        .map(|ms| ms.to_string())
        .map_err(|_| HarnessError::InvalidInput(format!("duration too large: {d:?}")))
}

/// Sends ApiVersions v0 to `addr` and returns the advertised ranges.
fn api_versions(addr: &str) -> Result<BTreeMap<i16, (i16, i16)>> {
    use consumer_core::codec::messages::api_versions::ApiVersionsRequest;
    use consumer_core::codec::{decode_response_frame, encode_request_frame};

    let what = format!("ApiVersions to {addr}");
    let io = |e: std::io::Error| HarnessError::io(what.clone(), e);
    let sock: SocketAddr = addr
        .parse()
        .map_err(|e| HarnessError::InvalidInput(format!("broker address {addr:?}: {e}")))?;
    let mut stream = TcpStream::connect_timeout(&sock, LAUNCHER_TIMEOUT).map_err(io)?;
    stream
        .set_read_timeout(Some(LAUNCHER_TIMEOUT))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(LAUNCHER_TIMEOUT))
        .map_err(io)?;
    let request = encode_request_frame(1, Some("harness"), 0, &ApiVersionsRequest::default())
        .map_err(|e| HarnessError::InvalidInput(format!("encoding ApiVersions: {e}")))?;
    stream.write_all(&request).map_err(io)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).map_err(io)?;
    let size = usize::try_from(i32::from_be_bytes(size)).map_err(|_| HarnessError::Protocol {
        what: what.clone(),
        detail: "negative frame size".into(),
    })?;
    let mut frame = vec![0u8; size];
    stream.read_exact(&mut frame).map_err(io)?;
    let (correlation, response) =
        decode_response_frame::<ApiVersionsRequest>(bytes::Bytes::from(frame), 0).map_err(|e| {
            HarnessError::Protocol {
                what: what.clone(),
                detail: format!("undecodable response: {e}"),
            }
        })?;
    if correlation != 1 || response.error_code != 0 {
        return Err(HarnessError::Protocol {
            what,
            detail: format!(
                "correlation id {correlation}, error code {}",
                response.error_code
            ),
        });
    }
    Ok(response
        .api_keys
        .iter()
        .map(|k| (k.api_key, (k.min_version, k.max_version)))
        .collect())
}

/// Validates a single protocol token (no whitespace, non-empty).
fn arg(s: &str) -> Result<&str> {
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return Err(HarnessError::InvalidInput(format!(
            "mock cluster arguments must be non-empty and contain no whitespace: {s:?}"
        )));
    }
    Ok(s)
}

/// Counts the requests of one API that each of some brokers receives, from the broker
/// side: each broker gets a stack of "no error" entries for the API (the mock's
/// injected-error stack; error code 0 changes nothing in the answer), one of which every
/// such request takes, so the entries left say how many arrived.
#[derive(Debug)]
pub struct RequestCounter {
    api_key: i16,
    brokers: Vec<i32>,
    pushed: usize,
}

impl RequestCounter {
    /// Starts counting `api_key` requests to `brokers`, for up to `capacity` each.
    pub fn start(
        cluster: &MockCluster,
        api_key: i16,
        brokers: &[i32],
        capacity: usize,
    ) -> Result<RequestCounter> {
        for &b in brokers {
            let mut left = capacity;
            while left > 0 {
                // In pieces: one launcher command line holds a few hundred entries.
                let n = left.min(400);
                cluster.push_broker_errors(b, api_key, &vec![(0, Duration::ZERO); n])?;
                left -= n;
            }
        }
        Ok(RequestCounter {
            api_key,
            brokers: brokers.to_vec(),
            pushed: capacity,
        })
    }

    /// The requests `broker` received since the start. Panics if `broker` is not counted
    /// or its entries ran out (the count would be wrong): a test tool.
    pub fn received(&self, cluster: &MockCluster, broker: i32) -> usize {
        assert!(
            self.brokers.contains(&broker),
            "broker {broker} is not counted"
        );
        let left = cluster
            .broker_error_count(broker, self.api_key)
            .expect("reading the broker's error stack");
        assert!(left > 0, "broker {broker}: the counter ran out");
        self.pushed - left
    }
}

/// Returns the path of the compiled librdkafka 2.0.2 launcher, compiling it
/// on first use (see [`launcher_binary_for`]).
pub fn launcher_binary() -> Result<PathBuf> {
    launcher_binary_for(MockVersion::V2_0_2)
}

/// Returns the path of the launcher linked to `version`'s librdkafka,
/// compiling it on first use.
///
/// The binary's path holds a hash of its source (and for 2.16, of the
/// wheel's library), so edits to launcher.c are picked up, and it is built
/// under a temporary name and renamed into place, so concurrent test
/// processes never run a half-written file.
pub fn launcher_binary_for(version: MockVersion) -> Result<PathBuf> {
    static BUILT: OnceLock<Mutex<BTreeMap<MockVersion, PathBuf>>> = OnceLock::new();
    let cell = BUILT.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut built = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(&version) {
        return Ok(p.clone());
    }
    let path = match version {
        MockVersion::V2_0_2 => compile_launcher()?,
        MockVersion::V2_16 => compile_launcher_v2_16()?,
    };
    built.insert(version, path.clone());
    Ok(path)
}

fn build_dir() -> PathBuf {
    // Test executables live in <target>/<profile>/deps/; build next to them.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            let dir = if dir.file_name().is_some_and(|n| n == "deps") {
                dir.parent().unwrap_or(dir)
            } else {
                dir
            };
            return dir.join("mock-cluster-launcher");
        }
    }
    std::env::temp_dir().join("mock-cluster-launcher")
}

fn compile_launcher() -> Result<PathBuf> {
    let mut h = DefaultHasher::new();
    LAUNCHER_SRC.hash(&mut h);
    let hash = format!("{:016x}", h.finish());
    let dir = build_dir();
    let exe = dir.join(format!("launcher-{hash}"));
    if exe.is_file() {
        return Ok(exe);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::io(format!("creating {}", dir.display()), e))?;
    let pid = std::process::id();
    let src = dir.join(format!("launcher-{hash}-{pid}.c"));
    let tmp = dir.join(format!("launcher-{hash}-{pid}.tmp"));
    std::fs::write(&src, LAUNCHER_SRC)
        .map_err(|e| HarnessError::io(format!("writing {}", src.display()), e))?;

    let result = run_cc(&src, &tmp, &rdkafka_flags(&["--cflags", "--libs"]));
    let _ = std::fs::remove_file(&src);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &exe)
        .map_err(|e| HarnessError::io(format!("renaming {} into place", tmp.display()), e))?;
    log::info!("compiled mock cluster launcher: {}", exe.display());
    Ok(exe)
}

/// `pkg-config <what> rdkafka` (Debian's librdkafka 2.0.2): `--cflags` for
/// the headers, `--libs` for the library.
fn rdkafka_flags(what: &[&str]) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(what)
        .arg("rdkafka")
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        other => {
            let fallback = if what.contains(&"--libs") {
                vec!["-lrdkafka".to_string()]
            } else {
                Vec::new()
            };
            log::warn!(
                "pkg-config {what:?} rdkafka failed ({other:?}); falling back to {fallback:?}"
            );
            fallback
        }
    }
}

/// Prints the confluent-kafka wheel's librdkafka version, its own version,
/// its package folder and the libraries in `confluent_kafka.libs` (one a line).
const FIND_WHEEL_LIBRDKAFKA: &str = r#"
import sys, os, glob
try:
    import confluent_kafka
except ImportError as e:
    sys.stderr.write("MISSING confluent-kafka: %s\n" % e)
    sys.exit(97)
pkg = os.path.dirname(os.path.abspath(confluent_kafka.__file__))
print(confluent_kafka.libversion()[0])
print(confluent_kafka.version()[0])
print(pkg)
for lib in sorted(glob.glob(os.path.join(os.path.dirname(pkg), "confluent_kafka.libs", "librdkafka*.so*"))):
    print(lib)
"#;

/// The librdkafka the confluent-kafka wheel bundles.
struct WheelLibrdkafka {
    /// Its `rd_kafka_version_str()`.
    version: String,
    /// The file in `confluent_kafka.libs`.
    path: PathBuf,
    /// Its SONAME (the name the launcher is linked to and loads).
    soname: String,
}

const WHEEL_INSTALL: &str = "python3 -m pip install confluent-kafka==2.16.1";

impl MockVersion {
    fn install_hint(self) -> &'static str {
        match self {
            MockVersion::V2_0_2 => "apt-get install -y librdkafka-dev pkg-config",
            MockVersion::V2_16 => WHEEL_INSTALL,
        }
    }
}

/// Finds the wheel's librdkafka through the harness Python (the python3
/// first on PATH, which pip installed confluent-kafka into).
fn wheel_librdkafka() -> Result<WheelLibrdkafka> {
    let py = python::python_program();
    let mut cmd = python::python_command(FIND_WHEEL_LIBRDKAFKA);
    let out = process::run(&mut cmd, None, Duration::from_secs(60))?;
    if out.status.code() == Some(97) {
        return Err(HarnessError::Missing {
            what: format!(
                "confluent-kafka for `{py}`, whose wheel bundles librdkafka 2.16 ({})",
                out.stderr_text().trim()
            ),
            install: WHEEL_INSTALL.into(),
        });
    }
    if !out.status.success() {
        return Err(HarnessError::Failed {
            what: format!("`{py}` looking for confluent-kafka's librdkafka"),
            status: out.status.to_string(),
            output: out.stderr_text(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default().trim().to_string();
    let wheel = lines.next().unwrap_or_default().trim().to_string();
    let pkg = lines.next().unwrap_or_default().trim().to_string();
    if !MockVersion::V2_16.matches(&version) {
        return Err(HarnessError::Missing {
            what: format!(
                "librdkafka 2.16 from the confluent-kafka wheel: `{py}` has confluent-kafka \
                 {wheel:?} ({pkg}) with librdkafka {version:?}"
            ),
            install: WHEEL_INSTALL.into(),
        });
    }
    let Some(path) = lines.next().map(|l| PathBuf::from(l.trim())) else {
        return Err(HarnessError::Missing {
            what: format!(
                "librdkafka in the confluent-kafka wheel: no confluent_kafka.libs/librdkafka*.so* \
                 beside {pkg} (a confluent-kafka built from source links the system's \
                 librdkafka instead; the manylinux wheel bundles 2.16)"
            ),
            install: "python3 -m pip install --force-reinstall --only-binary :all: \
                      confluent-kafka==2.16.1"
                .into(),
        });
    };
    let soname = soname(&path)?;
    Ok(WheelLibrdkafka {
        version,
        path,
        soname,
    })
}

/// The SONAME of the shared library `lib` (`readelf -d`), or its file name
/// when readelf is not there (auditwheel names the copies after their SONAME).
fn soname(lib: &Path) -> Result<String> {
    let file_name = lib
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| HarnessError::InvalidInput(format!("no file name: {}", lib.display())))?;
    let out = match process::run(
        Command::new("readelf").arg("-d").arg(lib),
        None,
        Duration::from_secs(30),
    ) {
        Ok(o) if o.status.success() => o,
        other => {
            let why = match other {
                Ok(o) => format!("{}: {}", o.status, o.stderr_text().trim()),
                Err(e) => e.to_string(),
            };
            log::warn!(
                "readelf -d {} failed ({why}); taking the file name as the SONAME",
                lib.display()
            );
            return Ok(file_name);
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let soname = text
        .lines()
        .filter(|l| l.contains("(SONAME)"))
        .find_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_string()));
    Ok(soname.unwrap_or(file_name))
}

/// Builds the launcher against Debian's headers, linked to a copy of the
/// wheel's librdkafka 2.16 placed beside it (rpath `$ORIGIN`).
fn compile_launcher_v2_16() -> Result<PathBuf> {
    let wheel = wheel_librdkafka()?;
    let len = std::fs::metadata(&wheel.path)
        .map_err(|e| HarnessError::io(format!("reading {}", wheel.path.display()), e))?
        .len();
    let mut h = DefaultHasher::new();
    (LAUNCHER_SRC, &wheel.version, &wheel.soname, len).hash(&mut h);
    let dir = build_dir().join(format!("librdkafka-{}-{:016x}", wheel.version, h.finish()));
    let exe = dir.join("launcher");
    let lib = dir.join(&wheel.soname);
    if exe.is_file() && lib.is_file() {
        return Ok(exe);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::io(format!("creating {}", dir.display()), e))?;
    let pid = std::process::id();
    if !lib.is_file() {
        let tmp = dir.join(format!("{}-{pid}.tmp", wheel.soname));
        std::fs::copy(&wheel.path, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &lib))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                HarnessError::io(
                    format!("copying {} to {}", wheel.path.display(), lib.display()),
                    e,
                )
            })?;
    }
    let src = dir.join(format!("launcher-{pid}.c"));
    let tmp = dir.join(format!("launcher-{pid}.tmp"));
    std::fs::write(&src, LAUNCHER_SRC)
        .map_err(|e| HarnessError::io(format!("writing {}", src.display()), e))?;
    let mut flags = rdkafka_flags(&["--cflags"]);
    flags.push(format!("-L{}", dir.display()));
    flags.push(format!("-l:{}", wheel.soname));
    // Literally `$ORIGIN` (no shell here): the loader looks beside the binary.
    flags.push("-Wl,-rpath,$ORIGIN".to_string());
    let result = run_cc(&src, &tmp, &flags);
    let _ = std::fs::remove_file(&src);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &exe)
        .map_err(|e| HarnessError::io(format!("renaming {} into place", tmp.display()), e))?;
    log::info!(
        "compiled the librdkafka {} mock cluster launcher: {}",
        wheel.version,
        exe.display()
    );
    Ok(exe)
}

fn run_cc(src: &Path, out: &Path, flags: &[String]) -> Result<()> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=c99", "-D_GNU_SOURCE", "-O1", "-Wall", "-o"])
        .arg(out)
        .arg(src)
        .args(flags);
    let output = match process::run(&mut cmd, None, COMPILE_TIMEOUT) {
        Ok(o) => o,
        Err(HarnessError::Missing { .. }) => {
            return Err(HarnessError::Missing {
                what: format!(
                    "C compiler `{cc}` (needed to build the librdkafka mock cluster launcher)"
                ),
                install: install_hint("cc").into(),
            })
        }
        Err(e) => return Err(e),
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = output.stderr_text();
    if stderr.contains("rdkafka_mock.h")
        || stderr.contains("rdkafka.h")
        || stderr.contains("-lrdkafka")
    {
        return Err(HarnessError::Missing {
            what: format!(
                "librdkafka development files (rdkafka_mock.h / librdkafka.so), compiler said:\n{}",
                stderr.trim()
            ),
            install: "apt-get install -y librdkafka-dev pkg-config".into(),
        });
    }
    Err(HarnessError::Failed {
        what: format!(
            "compiling the mock cluster launcher ({})",
            process::describe(&cmd)
        ),
        status: output.status.to_string(),
        output: stderr,
    })
}
