//! The fault matrix: every scenario produces a known keyed sequence with
//! kcat, consumes it with the library (manual assignment and/or a group,
//! committing with `commit_sync`) while one fault is injected, and checks
//! with [`NoLoss`] that nothing is lost, that offsets arrive in contiguous
//! runs, and that commits never pass what was handed out. The results go to
//! stderr and `target/fault-matrix.md`.
//!
//! Topology (4 brokers): partition 0 led by broker 1, partition 1 by broker
//! 2, the group coordinator on broker 3, and broker 4 the only bootstrap
//! server. Scenarios run in parallel threads, each with its own cluster.
//! The whole matrix runs once per mock version (`fault_matrix::v2_0_2`,
//! `fault_matrix::v2_16`), reporting to `target/fault-matrix.md` and
//! `target/fault-matrix-2.16.md`.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use consumer_core::{ConsumerError, ErrorCode, OffsetAndMetadata, TopicPartition};
use consumer_net::{KafkaConsumer, KafkaError, RebalanceListener};
use integration_tests::api_key::{
    CONSUMER_GROUP_HEARTBEAT, FETCH, FIND_COORDINATOR, HEARTBEAT, JOIN_GROUP, LIST_OFFSETS,
    METADATA, OFFSET_COMMIT, OFFSET_FETCH, SYNC_GROUP,
};
use integration_tests::error_code::{
    COORDINATOR_LOAD_IN_PROGRESS as LOAD, COORDINATOR_NOT_AVAILABLE as CNA,
    LEADER_NOT_AVAILABLE as LNA, NOT_COORDINATOR as NC, NOT_LEADER_OR_FOLLOWER as NL,
    REBALANCE_IN_PROGRESS as RIP, REQUEST_TIMED_OUT as RTO, UNKNOWN_TOPIC_OR_PARTITION as UTP,
};
use integration_tests::{
    bad_rows, group_props, init_logging, library_consumer, mock_cluster_on, noloss_table, now_us,
    partitions, produce_kcat_with, sample_records, test_on_each_mock, write_report, CommitPolicy,
    Compression, CoordinatorType, CutProxy, Expected, Logged, MemberEvent, MemberSpec, MockCluster,
    MockVersion, NoLoss, NoLossRow, ProcessMember,
};

/// FENCED_MEMBER_EPOCH.
const FENCED_MEMBER_EPOCH: i32 = 110;
/// UNKNOWN_MEMBER_ID.
const UNKNOWN_MEMBER_ID: i32 = 25;
/// KAFKA_STORAGE_ERROR.
const STORAGE: i32 = 56;
/// The mock drops the connection instead of answering.
const CUT: i32 = MockCluster::ERR_TRANSPORT;

const PARTITIONS: i32 = 2;
const RECORDS: usize = 400;
/// Records handed out before a mid-stream fault is injected.
const BEFORE_FAULT: usize = 100;
/// The longest pause allowed between two deliveries after a fault (faults
/// last at most 4 s; a new group's joins wait for the mock's timers). A
/// minute-long stall is a consumer waiting for `default.api.timeout.ms`.
const MAX_STALL_MS: i64 = 40_000;
/// How long a scenario may take to deliver everything.
const SCENARIO_WAIT: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Assign,
    /// A classic group member.
    Group,
    /// A KIP-848 group member (`group.protocol=consumer`); on brokers that
    /// offer ConsumerGroupHeartbeat (the 2.16 mock) only. Scenarios for
    /// `Group` run in this mode too unless they are `classic_only`.
    Kip848,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Assign => "assign",
            Mode::Group => "group",
            Mode::Kip848 => "group848",
        }
    }

    fn index(self) -> usize {
        match self {
            Mode::Assign => 0,
            Mode::Group => 1,
            Mode::Kip848 => 2,
        }
    }
}

/// One scenario's cluster and names.
struct Ctx {
    cluster: MockCluster,
    /// The proxy every connection goes through (1-broker scenarios).
    proxy: Option<CutProxy>,
    topic: String,
    group: String,
}

impl Ctx {
    fn ok(&self, what: &str, r: integration_tests::Result<()>) {
        r.unwrap_or_else(|e| panic!("{}: {what}: {e}", self.topic));
    }
    fn cut(&self, api: i16, after: usize, times: usize) {
        if let Some(p) = &self.proxy {
            p.cut_responses(api, after, times);
        }
    }
    fn down(&self, b: i32) {
        self.ok("broker down", self.cluster.broker_down(b));
    }
    fn up(&self, b: i32) {
        self.ok("broker up", self.cluster.broker_up(b));
    }
    fn errors(&self, api: i16, errs: &[i32]) {
        self.ok("push errors", self.cluster.push_errors(api, errs));
    }
    fn leader(&self, p: i32, b: i32) {
        self.ok("set leader", self.cluster.set_leader(&self.topic, p, b));
    }
    fn coordinator(&self, b: i32) {
        self.ok(
            "set coordinator",
            self.cluster
                .set_coordinator(CoordinatorType::Group, &self.group, b),
        );
    }
    fn rtt(&self, b: i32, ms: u64) {
        self.ok(
            "set rtt",
            self.cluster.set_rtt(b, Duration::from_millis(ms)),
        );
    }
}

type Action = fn(&Ctx);

/// A fault: injected before the consumer starts (`at_start`) or after
/// [`BEFORE_FAULT`] records, and healed `heal.0` ms later if needed.
struct Scenario {
    name: &'static str,
    modes: &'static [Mode],
    at_start: bool,
    inject: Action,
    heal: Option<(u64, Action)>,
    props: &'static [(&'static str, &'static str)],
    /// One broker, reached only through a [`CutProxy`].
    proxy: bool,
    /// Injects faults into classic group requests: not run as a KIP-848 member.
    classic_only: bool,
    /// A scenario with its own driver (gets the topic index).
    custom: Option<fn(MockVersion, usize) -> NoLossRow>,
    /// Leaves a partition without a leader (see
    /// [`MockCluster::allow_leaderless_partitions`]).
    leaderless: bool,
}

const BOTH: &[Mode] = &[Mode::Assign, Mode::Group];
const GROUP: &[Mode] = &[Mode::Group];
const KIP848: &[Mode] = &[Mode::Kip848];

fn scenarios() -> Vec<Scenario> {
    let s = |name, modes, inject: Action| Scenario {
        name,
        modes,
        at_start: false,
        inject,
        heal: None,
        props: &[],
        proxy: false,
        custom: None,
        leaderless: false,
        classic_only: false,
    };
    let classic = |name, inject: Action| Scenario {
        classic_only: true,
        ..s(name, GROUP, inject)
    };
    let proxied = |name, modes, at_start, inject: Action| Scenario {
        proxy: true,
        at_start,
        ..s(name, modes, inject)
    };
    let healed = |name, modes, inject: Action, ms, heal: Action| Scenario {
        heal: Some((ms, heal)),
        ..s(name, modes, inject)
    };
    let start = |name, modes, inject: Action| Scenario {
        at_start: true,
        ..s(name, modes, inject)
    };
    vec![
        healed(
            "leader broker down 3 s",
            BOTH,
            |c| c.down(1),
            3000,
            |c| c.up(1),
        ),
        healed(
            "coordinator broker down 3 s",
            BOTH,
            |c| c.down(3),
            3000,
            |c| c.up(3),
        ),
        healed(
            "bootstrap broker down 3 s",
            BOTH,
            |c| c.down(4),
            3000,
            |c| c.up(4),
        ),
        Scenario {
            at_start: true,
            ..healed(
                "bootstrap broker down at start",
                BOTH,
                |c| c.down(4),
                3000,
                |c| c.up(4),
            )
        },
        healed(
            "all brokers down 3 s",
            BOTH,
            |c| c.down(-1),
            3000,
            |c| c.up(-1),
        ),
        s("leaders swap", BOTH, |c| {
            c.leader(0, 2);
            c.leader(1, 1);
        }),
        Scenario {
            leaderless: true,
            ..healed(
                "leaderless 2 s, then a new leader",
                BOTH,
                |c| c.leader(0, -1),
                2000,
                |c| c.leader(0, 3),
            )
        },
        s("coordinator moves", BOTH, |c| c.coordinator(1)),
        healed(
            "coordinator moves to a down broker",
            BOTH,
            |c| {
                c.down(2);
                c.coordinator(2);
            },
            3000,
            |c| c.up(2),
        ),
        Scenario {
            props: &[("request.timeout.ms", "1500")],
            ..healed(
                "leader rtt 2.5 s > request.timeout 1.5 s",
                BOTH,
                |c| c.rtt(1, 2500),
                4000,
                |c| c.rtt(1, 0),
            )
        },
        Scenario {
            props: &[("request.timeout.ms", "1500")],
            ..healed(
                "coordinator rtt 2.5 s > request.timeout 1.5 s",
                BOTH,
                |c| c.rtt(3, 2500),
                4000,
                |c| c.rtt(3, 0),
            )
        },
        s("Fetch NOT_LEADER_OR_FOLLOWER x4", BOTH, |c| {
            c.errors(FETCH, &[NL; 4]);
        }),
        s("Fetch LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT", BOTH, |c| {
            c.errors(FETCH, &[LNA, RTO, LNA, RTO]);
        }),
        s(
            "Fetch UNKNOWN_TOPIC_OR_PARTITION, KAFKA_STORAGE_ERROR",
            BOTH,
            |c| {
                c.errors(FETCH, &[UTP, STORAGE, UTP, STORAGE]);
            },
        ),
        s("Fetch connection drops x4", BOTH, |c| {
            c.errors(FETCH, &[CUT; 4])
        }),
        start("ListOffsets retriable errors (reset)", BOTH, |c| {
            c.errors(LIST_OFFSETS, &[NL, LNA, RTO, UTP, CUT]);
        }),
        s("Metadata errors after NOT_LEADER", BOTH, |c| {
            c.errors(METADATA, &[LNA, UTP, RTO, CUT]);
            c.errors(FETCH, &[NL, NL]);
        }),
        start("FindCoordinator retriable errors", BOTH, |c| {
            c.errors(FIND_COORDINATOR, &[CNA, LOAD, NC, CUT]);
        }),
        Scenario {
            at_start: true,
            ..classic("JoinGroup retriable errors", |c| {
                c.errors(JOIN_GROUP, &[CNA, LOAD, NC, CUT]);
            })
        },
        Scenario {
            at_start: true,
            ..classic("SyncGroup retriable errors", |c| {
                c.errors(SYNC_GROUP, &[RIP, CNA, NC, CUT]);
            })
        },
        classic("Heartbeat REBALANCE_IN_PROGRESS", |c| {
            c.errors(HEARTBEAT, &[RIP]);
        }),
        classic("Heartbeat coordinator errors", |c| {
            c.errors(HEARTBEAT, &[CNA, NC, LOAD, CUT]);
        }),
        start(
            "ConsumerGroupHeartbeat retriable errors at join",
            KIP848,
            |c| {
                c.errors(CONSUMER_GROUP_HEARTBEAT, &[CNA, LOAD, NC, CUT]);
            },
        ),
        s("ConsumerGroupHeartbeat coordinator errors", KIP848, |c| {
            c.errors(CONSUMER_GROUP_HEARTBEAT, &[CNA, NC, LOAD, CUT]);
        }),
        s("ConsumerGroupHeartbeat FENCED_MEMBER_EPOCH", KIP848, |c| {
            c.errors(CONSUMER_GROUP_HEARTBEAT, &[FENCED_MEMBER_EPOCH]);
        }),
        s("ConsumerGroupHeartbeat UNKNOWN_MEMBER_ID", KIP848, |c| {
            c.errors(CONSUMER_GROUP_HEARTBEAT, &[UNKNOWN_MEMBER_ID]);
        }),
        s("OffsetCommit retriable errors", BOTH, |c| {
            c.errors(OFFSET_COMMIT, &[CNA, NC, LOAD, RTO, CUT]);
        }),
        s("OffsetCommit REBALANCE_IN_PROGRESS", GROUP, |c| {
            c.errors(OFFSET_COMMIT, &[RIP]);
        }),
        start("OffsetFetch retriable errors", BOTH, |c| {
            c.errors(OFFSET_FETCH, &[CNA, NC, LOAD, CUT]);
        }),
        proxied(
            "proxy cuts 3 Fetch responses after 60 bytes",
            BOTH,
            false,
            |c| {
                c.cut(FETCH, 60, 3);
            },
        ),
        proxied(
            "proxy cuts 2 Fetch responses in the size prefix",
            BOTH,
            false,
            |c| {
                c.cut(FETCH, 2, 2);
            },
        ),
        proxied(
            "proxy cuts 2 OffsetCommit responses after 12 bytes",
            BOTH,
            false,
            |c| {
                c.cut(OFFSET_COMMIT, 12, 2);
            },
        ),
        proxied(
            "proxy cuts 2 Metadata responses at start",
            BOTH,
            true,
            |c| {
                c.cut(METADATA, 30, 2);
            },
        ),
        Scenario {
            classic_only: true,
            ..proxied("proxy cuts the JoinGroup response", GROUP, true, |c| {
                c.cut(JOIN_GROUP, 20, 1);
            })
        },
        proxied(
            "proxy cuts the ConsumerGroupHeartbeat response",
            KIP848,
            true,
            |c| {
                c.cut(CONSUMER_GROUP_HEARTBEAT, 20, 1);
            },
        ),
        Scenario {
            custom: Some(killed_member),
            classic_only: true,
            ..s("member process killed, a new one takes over", GROUP, |_| {})
        },
    ]
}

/// Queues (re)assigned partitions for the loop to start new runs.
struct Runs(Arc<Mutex<Vec<i32>>>);

impl RebalanceListener for Runs {
    fn on_partitions_assigned(&mut self, _: &mut KafkaConsumer, tps: &[TopicPartition]) {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        q.extend(tps.iter().map(|tp| tp.partition));
    }
}

fn run(version: MockVersion, index: usize, sc: &Scenario, mode: Mode) -> NoLossRow {
    let cluster = mock_cluster_on(version, if sc.proxy { 1 } else { 4 });
    if sc.leaderless {
        cluster
            .allow_leaderless_partitions()
            .expect("keeping the mock's Fetch below v12");
    }
    let topic = format!("fm{index}-{}", mode.name());
    let group = format!("{topic}-group");
    let addrs = cluster.broker_addrs();
    cluster.create_topic(&topic, PARTITIONS, 3).expect("topic");
    let proxy = sc
        .proxy
        .then(|| CutProxy::start(&addrs[0]).expect("start the proxy"));
    let bootstrap = proxy
        .as_ref()
        .map_or_else(|| addrs[3].clone(), CutProxy::addr);
    let ctx = Arc::new(Ctx {
        cluster,
        proxy,
        topic,
        group,
    });
    if !sc.proxy {
        ctx.leader(0, 1);
        ctx.leader(1, 2);
        ctx.coordinator(3);
    }
    let produced = produce_kcat_with(
        &ctx.cluster.bootstrap(),
        &ctx.topic,
        &sample_records(RECORDS, PARTITIONS, "m"),
        Compression::None,
        &[("batch.num.messages", "10"), ("linger.ms", "1")],
    )
    .expect("produce");
    let expected = Expected::of(&produced);
    let mut check = NoLoss::new(&expected, &ctx.topic, PARTITIONS);

    let mut props = vec![
        ("group.id", ctx.group.as_str()),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("max.poll.records", "20"),
        ("max.partition.fetch.bytes", "1024"),
        ("reconnect.backoff.max.ms", "500"),
        ("retry.backoff.ms", "100"),
    ];
    if mode == Mode::Kip848 {
        // The coordinator sets these under KIP-848: the same values, broker side.
        props.push(("group.protocol", "consumer"));
        ctx.ok(
            "KIP-848 heartbeat interval",
            ctx.cluster
                .set_consumer_group_heartbeat_interval(Duration::from_millis(1000)),
        );
        ctx.ok(
            "KIP-848 session timeout",
            ctx.cluster
                .set_consumer_group_session_timeout(Duration::from_secs(6)),
        );
    } else {
        props.push(("session.timeout.ms", "6000"));
        props.push(("heartbeat.interval.ms", "1000"));
    }
    props.extend_from_slice(sc.props);

    // Healing runs on its own thread: the consumer may be blocked in a
    // call (commit_sync) when the fault should end.
    let healed = Arc::new(AtomicBool::new(sc.heal.is_none()));
    let inject = |check: &mut NoLoss| {
        (sc.inject)(&ctx);
        check.fault();
        sc.heal.map(|(ms, heal)| {
            let (ctx, healed) = (ctx.clone(), healed.clone());
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(ms));
                heal(&ctx);
                healed.store(true, Ordering::SeqCst);
            })
        })
    };
    let mut heal_thread = None;
    if sc.at_start {
        heal_thread = inject(&mut check);
    }
    let mut c = library_consumer(&bootstrap, &props);
    let assigned = Arc::new(Mutex::new(Vec::new()));
    match mode {
        Mode::Assign => c
            .assign(partitions(&ctx.topic, PARTITIONS))
            .expect("assign"),
        Mode::Group | Mode::Kip848 => c
            .subscribe_with_listener([ctx.topic.clone()], Box::new(Runs(assigned.clone())))
            .expect("subscribe"),
    }
    check.new_session();
    let deadline = Instant::now() + SCENARIO_WAIT;
    let mut injected = sc.at_start;
    let mut commits = 0usize;
    let mut timed_out = false;
    while !check.all_covered() || !healed.load(Ordering::SeqCst) {
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        let batch = match c.poll(Duration::from_millis(100)) {
            Ok(b) => b,
            Err(e) => {
                log::info!("{}: poll: {e}", ctx.topic);
                continue;
            }
        };
        let runs: Vec<i32> =
            std::mem::take(&mut *assigned.lock().unwrap_or_else(|e| e.into_inner()));
        check.new_runs(&runs);
        check.records(&batch);
        if batch.is_empty() {
            continue;
        }
        if c.commit_sync().is_ok() {
            commits += 1;
            if commits.is_multiple_of(5) {
                read_back(&mut c, &ctx.topic, &mut check, Duration::from_millis(1000));
            }
        }
        if !injected && check.delivered() >= BEFORE_FAULT {
            injected = true;
            heal_thread = inject(&mut check);
        }
        // A slow application, so that the fault hits a live stream.
        thread::sleep(Duration::from_millis(15));
    }
    // Trailing duplicates, then the final commits must cover everything.
    let tail_end = Instant::now() + Duration::from_millis(500);
    while Instant::now() < tail_end && !timed_out {
        if let Ok(b) = c.poll(Duration::from_millis(100)) {
            check.records(&b);
        }
    }
    let mut row_extra = Vec::new();
    if timed_out {
        row_extra.push(format!("timed out after {SCENARIO_WAIT:?}"));
    } else {
        let mut committed = false;
        for _ in 0..10 {
            match c.commit_sync() {
                Ok(()) => {
                    committed = true;
                    break;
                }
                Err(e)
                    if refused_leader_epoch(&e) && ctx.cluster.version() == MockVersion::V2_16 =>
                {
                    // librdkafka 2.16's mock refuses a committed leader epoch other than
                    // the partition's current one (a real broker stores it; confluent-kafka
                    // gets the same refusal): after a leader move, records written before
                    // it cannot be committed with their epoch. The library reports it at
                    // once (as Java does); commit the same positions without epochs.
                    log::info!("{}: {e}; committing without leader epochs", ctx.topic);
                    let mut offsets = Vec::new();
                    for tp in c.assignment() {
                        if let Ok(p) = c.position(&tp) {
                            offsets.push((tp, OffsetAndMetadata::new(p)));
                        }
                    }
                    if c.commit_offsets_sync(offsets).is_ok() {
                        committed = true;
                        break;
                    }
                }
                Err(_) => {}
            }
            let _ = c.poll(Duration::from_millis(200));
        }
        if !committed {
            row_extra.push("the final commit never succeeded".into());
        }
        let ends: Vec<i64> = (0..PARTITIONS).map(|p| expected.end_offset(p)).collect();
        match c.committed(partitions(&ctx.topic, PARTITIONS), Duration::from_secs(10)) {
            Ok(m) => {
                for (tp, o) in m {
                    let o = o.map_or(-1, |o| o.offset);
                    check.committed(tp.partition, o, "read back at the end");
                    let end = usize::try_from(tp.partition).map_or(-2, |i| ends[i]);
                    if o != end && mode == Mode::Assign {
                        row_extra.push(format!("{tp}: committed {o} at the end, end offset {end}"));
                    }
                }
            }
            Err(e) => row_extra.push(format!("reading the committed offsets: {e}")),
        }
    }
    if let Err(e) = c.close() {
        log::warn!("close: {e}");
    }
    if ctx.proxy.as_ref().is_some_and(|p| p.cuts_done() == 0) {
        row_extra.push("the proxy never cut a response".into());
    }
    if let Some(h) = heal_thread {
        if h.join().is_err() {
            row_extra.push("healing the fault failed".into());
        }
    }
    let mut row = check.row(sc.name, mode.name());
    row.violations.extend(row_extra);
    row
}

/// A commit refused for its leader epoch (FENCED_LEADER_EPOCH).
fn refused_leader_epoch(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::Consumer(ConsumerError::Group {
            code: ErrorCode::FencedLeaderEpoch,
            ..
        })
    )
}

fn member_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_group_member"))
}

/// A group member process (the `group_member` binary, committing every 25
/// records) is killed with SIGKILL mid-stream; a new one takes over from
/// the commits. Each process is a session of the checker.
fn killed_member(version: MockVersion, index: usize) -> NoLossRow {
    let name = "member process killed, a new one takes over";
    let cluster = mock_cluster_on(version, 2);
    let topic = format!("fm{index}-kill");
    let group = format!("{topic}-group");
    cluster.create_topic(&topic, PARTITIONS, 2).expect("topic");
    cluster
        .set_coordinator(CoordinatorType::Group, &group, 1)
        .expect("coordinator");
    let produced = produce_kcat_with(
        &cluster.bootstrap(),
        &topic,
        &sample_records(RECORDS, PARTITIONS, "k"),
        Compression::None,
        &[("batch.num.messages", "10"), ("linger.ms", "1")],
    )
    .expect("produce");
    let expected = Expected::of(&produced);
    let spec = |n: &str| {
        let mut props = group_props(&group, "range", CommitPolicy::Manual { every: 25 });
        props.push(("max.poll.records".into(), "10".into()));
        props.push(("max.partition.fetch.bytes".into(), "1024".into()));
        MemberSpec {
            name: n.into(),
            bootstrap: cluster.bootstrap(),
            topics: vec![topic.clone()],
            props,
            commits: CommitPolicy::Manual { every: 25 },
            poll_delay: Duration::from_millis(20),
        }
    };
    let consumed = |log: &[Logged]| {
        log.iter()
            .filter(|l| matches!(l.event, MemberEvent::Consumed { .. }))
            .count()
    };
    let mut first = ProcessMember::library(member_exe(), &spec("first")).expect("start");
    let deadline = Instant::now() + SCENARIO_WAIT;
    while consumed(&first.log().snapshot()) < BEFORE_FAULT && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    first.kill();
    let killed_at = now_us();
    let first_log = first.log().snapshot();
    let mut second = ProcessMember::library(member_exe(), &spec("second")).expect("start");
    let check = |second_log: &[Logged]| {
        let mut c = NoLoss::new(&expected, &topic, PARTITIONS);
        c.replay(&first_log);
        c.fault_at(killed_at);
        c.replay(second_log);
        c
    };
    while !check(&second.log().snapshot()).all_covered() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let stopped = second.stop(Duration::from_secs(20));
    let mut row = check(&second.log().snapshot()).row(name, "group (process)");
    if let Err(e) = stopped {
        row.violations.push(format!("the second member: {e}"));
    }
    for l in [&first_log, &second.log().snapshot()] {
        if let Some(e) = l.iter().find_map(|l| match &l.event {
            MemberEvent::Error(e) => Some(e.clone()),
            _ => None,
        }) {
            row.violations.push(format!("a member reported: {e}"));
        }
    }
    row
}

/// Reads the committed offsets back: none may pass what was handed out.
fn read_back(c: &mut KafkaConsumer, topic: &str, check: &mut NoLoss, timeout: Duration) {
    if let Ok(m) = c.committed(partitions(topic, PARTITIONS), timeout) {
        for (tp, o) in m {
            if let Some(o) = o {
                check.committed(tp.partition, o.offset, "read back");
            }
        }
    }
}

fn fault_matrix(version: MockVersion) {
    init_logging();
    // One matrix at a time: each already runs 8 scenarios in parallel, and
    // its stall bounds assume the machine is not running another one.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // FAULT_MATRIX_ONLY=<substring> runs the matching scenarios only.
    let only = std::env::var("FAULT_MATRIX_ONLY").unwrap_or_default();
    let all: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| s.name.contains(only.as_str()))
        .collect();
    // KIP-848 members need ConsumerGroupHeartbeat (the 2.16 mock): there,
    // every group scenario not tied to the classic requests runs as one too.
    let kip848 = version == MockVersion::V2_16;
    let jobs: VecDeque<(usize, usize, Mode)> = all
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let mut modes: Vec<Mode> = s
                .modes
                .iter()
                .copied()
                .filter(|m| *m != Mode::Kip848 || kip848)
                .collect();
            if kip848 && s.modes.contains(&Mode::Group) && !s.classic_only {
                modes.push(Mode::Kip848);
            }
            modes.into_iter().map(move |m| (i, i * 3 + m.index(), m))
        })
        .collect();
    let total = jobs.len();
    let jobs = Mutex::new(jobs);
    let rows: Mutex<Vec<(usize, NoLossRow)>> = Mutex::new(Vec::new());
    let threads: usize = std::env::var("FAULT_MATRIX_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let started = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some((i, key, mode)) =
                    jobs.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                else {
                    return;
                };
                let sc = &all[i];
                let row =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match sc.custom {
                        Some(f) => f(version, key),
                        None => run(version, key, sc, mode),
                    }))
                    .unwrap_or_else(|p| {
                        let msg = p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        NoLossRow {
                            scenario: sc.name.into(),
                            mode: mode.name().into(),
                            violations: vec![format!("panicked: {msg}")],
                            ..NoLossRow::default()
                        }
                    });
                eprintln!(
                    "{} [{}]: {} delivered, {} duplicates, {} lost, {} violations",
                    row.scenario,
                    row.mode,
                    row.delivered,
                    row.duplicates,
                    row.lost,
                    row.violations.len()
                );
                rows.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((key, row));
            });
        }
    });
    let mut rows = rows.into_inner().unwrap_or_else(|e| e.into_inner());
    rows.sort_by_key(|(k, _)| *k);
    let rows: Vec<NoLossRow> = rows.into_iter().map(|(_, r)| r).collect();
    let table = noloss_table(&rows);
    let report = format!(
        "{version}\n\n{table}\n{total} runs of {} scenarios in {:.0} s wall ({threads} threads).\n",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    let file = match version {
        MockVersion::V2_0_2 => "fault-matrix.md".to_string(),
        other => format!("fault-matrix-{}.md", other.name()),
    };
    write_report(&file, &report);
    let bad = bad_rows(&rows, MAX_STALL_MS, false);
    assert!(
        bad.is_empty(),
        "{version}: scenarios with loss or violations:\n{}",
        bad.join("\n")
    );
}

test_on_each_mock!(fault_matrix);
