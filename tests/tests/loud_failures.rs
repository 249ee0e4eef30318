//! Failures a user must hear of, quickly: a wrong or unresolvable bootstrap address, a
//! topic that does not exist, a topic not authorized, polling with nothing to poll,
//! stopping and closing while every broker is down, and a commit that cannot reach the
//! group coordinator. Each is checked through the library's API and, where it applies,
//! through the console consumer (`consumer-net/examples/consume`).
//!
//! This binary installs the capturing logger ([`capture_logs`]), not `init_logging`:
//! `INTEG_LOG=debug` still echoes the logs to stderr.

use std::time::{Duration, Instant};

use consumer_net::{
    ConsumerError, KafkaConsumer, KafkaError, OffsetAndMetadata, StateError, TopicPartition,
};
use integration_tests::{
    capture_logs, captured_warnings, console_consumer_binary, error_code, library_consumer,
    mock_cluster, poll_count, produce_kcat, run_console_consumer, sample_records, Compression,
    LiveChild, MockCluster, Tansu,
};

/// `socket.connection.setup.timeout.ms` in these tests: no broker answering for this
/// long is reported.
const SETUP_TIMEOUT_MS: u64 = 2000;
/// What is allowed beyond it: the report comes with the first reconnect attempt after
/// it (backoff up to `reconnect.backoff.max.ms`, 1 s), then the process exits.
const MARGIN: Duration = Duration::from_secs(3);
/// Nothing listens there: connections are refused at once.
const REFUSED: &str = "127.0.0.1:1";
/// `.invalid` never resolves (RFC 2606).
const UNRESOLVABLE: &str = "no-such-host.invalid:9092";

fn setup_timeout_property() -> String {
    format!("socket.connection.setup.timeout.ms={SETUP_TIMEOUT_MS}")
}

/// Group settings that keep the mock coordinator's joins short (it holds a join up to
/// session timeout − 1 s after a member left, ~3 s for a new group).
const FAST_GROUP: [(&str, &str); 2] = [
    ("session.timeout.ms", "3000"),
    ("heartbeat.interval.ms", "1000"),
];

/// The console consumer against a bootstrap address no broker answers at: it exits
/// non-zero, soon after `socket.connection.setup.timeout.ms`, naming the address.
fn console_fails_fast_on(bootstrap: &str) {
    capture_logs();
    console_consumer_binary().expect("building the console consumer");
    let property = setup_timeout_property();
    let started = Instant::now();
    let run = run_console_consumer(&[
        "--bootstrap-server",
        bootstrap,
        "--topic",
        "anything",
        "--consumer-property",
        &property,
    ])
    .expect("running the console consumer");
    let took = started.elapsed();
    let bound = Duration::from_millis(SETUP_TIMEOUT_MS) + MARGIN;
    assert!(
        !run.success,
        "the console consumer succeeded with bootstrap {bootstrap}; stderr:\n{}",
        run.stderr
    );
    assert!(
        took < bound,
        "the console consumer took {took:?} to give up on {bootstrap} (bound {bound:?}); \
         stderr:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(bootstrap),
        "the console consumer's error does not name {bootstrap}; stderr:\n{}",
        run.stderr
    );
}

#[test]
fn console_consumer_exits_when_the_bootstrap_refuses_connections() {
    console_fails_fast_on(REFUSED);
}

#[test]
fn console_consumer_exits_when_the_bootstrap_does_not_resolve() {
    console_fails_fast_on(UNRESOLVABLE);
}

#[test]
fn poll_reports_unreachable_brokers_naming_the_address() {
    capture_logs();
    let property = setup_timeout_property();
    let (key, value) = property.split_once('=').expect("key=value");
    let mut consumer = library_consumer(REFUSED, &[(key, value)]);
    consumer
        .assign([TopicPartition::new("anything", 0)])
        .expect("assign");
    let started = Instant::now();
    let bound = Duration::from_millis(SETUP_TIMEOUT_MS) + MARGIN;
    let error = loop {
        assert!(
            started.elapsed() < bound,
            "poll did not report the unreachable broker within {bound:?}"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Ok(records) => assert!(records.is_empty(), "records from nowhere: {records:?}"),
            Err(e) => break e,
        }
    };
    let text = error.to_string();
    match &error {
        KafkaError::BrokersUnreachable {
            causes,
            ever_connected,
            ..
        } => {
            assert!(!ever_connected, "no broker ever answered: {text}");
            assert!(
                causes.iter().any(|c| c.contains(REFUSED)),
                "the causes do not name {REFUSED}: {causes:?}"
            );
        }
        other => panic!("poll returned {other:?} ({other}), not BrokersUnreachable"),
    }
    assert!(error.is_retriable(), "unreachable brokers are retriable");
    eprintln!("reported after {:?}: {text}", started.elapsed());
}

#[test]
fn poll_with_nothing_assigned_or_subscribed_is_a_state_error() {
    capture_logs();
    let not_subscribed = |consumer: &mut KafkaConsumer, what: &str| {
        let result = consumer.poll(Duration::from_millis(100));
        assert!(
            matches!(result, Err(KafkaError::State(StateError::NotSubscribed))),
            "poll {what}: {result:?}"
        );
    };
    let mut consumer = library_consumer(REFUSED, &[]);
    not_subscribed(&mut consumer, "on a new consumer");
    consumer
        .assign(Vec::<TopicPartition>::new())
        .expect("assign");
    not_subscribed(&mut consumer, "after assigning no partition");
    let mut member = library_consumer(REFUSED, &[("group.id", "g")]);
    not_subscribed(&mut member, "on a new group member");
    member.subscribe(["t"]).expect("subscribe");
    member.unsubscribe().expect("unsubscribe");
    not_subscribed(&mut member, "after unsubscribing");
}

/// A consumer assigned a partition of `topic`, which the broker at `bootstrap` says does
/// not exist, logs a WARN naming it while it polls; the console consumer in a group
/// exits non-zero naming it.
fn unknown_topic_is_loud(bootstrap: &str, topic: &str) {
    let mut consumer = library_consumer(bootstrap, &[("allow.auto.create.topics", "false")]);
    consumer
        .assign([TopicPartition::new(topic, 0)])
        .expect("assign");
    let started = Instant::now();
    while captured_warnings(topic).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "nothing logged at WARN about the missing topic `{topic}` in 5 s of polling"
        );
        let records = consumer
            .poll(Duration::from_millis(200))
            .unwrap_or_else(|e| panic!("poll on a missing topic: {e}"));
        assert!(
            records.is_empty(),
            "records of a missing topic: {records:?}"
        );
    }
    let warning = &captured_warnings(topic)[0];
    assert!(
        warning.message.contains("does not exist"),
        "the warning does not say the topic is missing: {warning:?}"
    );
    eprintln!("warned after {:?}: {warning:?}", started.elapsed());

    // The console consumer in a group: a mistyped topic is an error, not a wait.
    let run = run_console_consumer(&[
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--group",
        "loud-group",
        "--timeout-ms",
        "10000",
    ])
    .expect("running the console consumer");
    assert!(
        !run.success && run.stderr.contains(topic),
        "the console consumer on a missing topic: {} (must fail naming `{topic}`); \
         stderr:\n{}",
        run.status,
        run.stderr
    );
}

#[test]
fn unknown_topic_is_logged_at_warn_and_the_console_consumer_exits() {
    capture_logs();
    let cluster = mock_cluster(1);
    let topic = "loud-no-such-topic";
    // librdkafka 2.0.2's mock speaks Metadata v0-2 only, which cannot carry
    // allow.auto.create.topics=false (v4+), and then creates any topic asked for. So
    // the "does not exist" answer of a real broker is injected.
    cluster
        .set_topic_error(topic, error_code::UNKNOWN_TOPIC_OR_PARTITION)
        .expect("topic error");
    unknown_topic_is_loud(&cluster.bootstrap(), topic);
}

/// The same against a broker that honours allow.auto.create.topics=false (Metadata v4+).
#[test]
fn unknown_topic_on_tansu_is_logged_at_warn_and_the_console_consumer_exits() {
    capture_logs();
    let tansu = Tansu::start().unwrap_or_else(|e| panic!("starting tansu: {e}"));
    unknown_topic_is_loud(&tansu.bootstrap(), "loud-tansu-no-such-topic");
}

/// Polls until an error comes (at most `bound`), which is returned.
fn first_error(consumer: &mut KafkaConsumer, bound: Duration, what: &str) -> KafkaError {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < bound,
            "{what}: poll returned no error within {bound:?}"
        );
        if let Err(e) = consumer.poll(Duration::from_millis(200)) {
            return e;
        }
    }
}

#[test]
fn unauthorized_topic_is_returned_by_poll() {
    capture_logs();
    let cluster = mock_cluster(1);
    let topic = "loud-unauthorized";
    cluster.create_topic(topic, 1, 1).expect("create topic");
    // TOPIC_AUTHORIZATION_FAILED in every Metadata answer for it.
    cluster.set_topic_error(topic, 29).expect("topic error");
    let bootstrap = cluster.bootstrap();
    let bound = Duration::from_secs(5);
    let is_denied = |e: &KafkaError| matches!(e, KafkaError::Consumer(ConsumerError::TopicAuthorization { topic: t }) if t == topic);

    let mut assigned = library_consumer(&bootstrap, &[]);
    assigned
        .assign([TopicPartition::new(topic, 0)])
        .expect("assign");
    let error = first_error(&mut assigned, bound, "assigned");
    assert!(is_denied(&error), "assigned: poll returned {error:?}");

    let mut member = library_consumer(&bootstrap, &[("group.id", "loud-denied")]);
    member.subscribe([topic]).expect("subscribe");
    let error = first_error(&mut member, bound, "subscribed");
    assert!(is_denied(&error), "subscribed: poll returned {error:?}");
}

/// Drops the mock cluster (the launcher quits: connections are refused from then on)
/// and says how long that took.
fn kill_cluster(cluster: MockCluster) {
    let started = Instant::now();
    drop(cluster);
    eprintln!("mock cluster gone in {:?}", started.elapsed());
}

#[test]
fn sigint_with_every_broker_down_exits_within_the_close_timeout() {
    capture_logs();
    let cluster = mock_cluster(1);
    let topic = "loud-sigint";
    cluster.create_topic(topic, 1, 1).expect("create topic");
    let records = sample_records(50, 1, "sigint");
    produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None).expect("produce");
    let close_timeout = Duration::from_secs(3);
    let close_ms = close_timeout.as_millis().to_string();
    let mut args = vec![
        "--bootstrap-server".to_owned(),
        cluster.bootstrap(),
        "--topic".to_owned(),
        topic.to_owned(),
    ];
    for a in ["--group", "g", "--from-beginning", "--format", "json"] {
        args.push(a.to_owned());
    }
    args.extend(["--close-timeout-ms".to_owned(), close_ms]);
    for (k, v) in FAST_GROUP {
        args.extend(["--consumer-property".to_owned(), format!("{k}={v}")]);
    }
    let binary = console_consumer_binary().expect("building the console consumer");
    let mut console = LiveChild::spawn(&binary, &args, "console consumer").expect("spawn");
    console
        .wait_for_lines(records.len(), Duration::from_secs(30))
        .expect("the console consumer prints the records");

    kill_cluster(cluster);
    std::thread::sleep(Duration::from_secs(1));
    let interrupted = Instant::now();
    console.interrupt().expect("SIGINT");
    let status = console
        .wait_exit(close_timeout + Duration::from_secs(10))
        .expect("the console consumer exits after SIGINT");
    let took = interrupted.elapsed();
    let stderr = console.stderr();
    assert!(
        took < close_timeout + Duration::from_secs(1),
        "the console consumer took {took:?} to exit after SIGINT with every broker down \
         (--close-timeout-ms {close_timeout:?}); stderr:\n{stderr}"
    );
    // The positions could not be committed: it says so, and fails.
    assert!(
        !status.success() && stderr.contains("commit"),
        "exit {status} after SIGINT with the brokers down: the failed final commit must be \
         reported; stderr:\n{stderr}"
    );
    eprintln!("exited {took:?} after SIGINT ({status}); stderr:\n{stderr}");
}

#[test]
fn close_with_every_broker_down_is_bounded_and_says_what_failed() {
    capture_logs();
    let cluster = mock_cluster(1);
    let topic = "loud-close";
    cluster.create_topic(topic, 1, 1).expect("create topic");
    let records = sample_records(20, 1, "close");
    produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None).expect("produce");
    let mut props = vec![
        ("group.id", "loud-close"),
        ("auto.offset.reset", "earliest"),
    ];
    props.extend(FAST_GROUP);
    let mut consumer = library_consumer(&cluster.bootstrap(), &props);
    consumer.subscribe([topic]).expect("subscribe");
    let got = poll_count(&mut consumer, records.len(), "the records");
    assert_eq!(got.len(), records.len());

    kill_cluster(cluster);
    let started = Instant::now();
    let result = consumer.close_with_timeout(Duration::from_secs(3));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "close_with_timeout(3 s) took {took:?} with every broker down ({result:?})"
    );
    let Err(KafkaError::Close(error)) = &result else {
        panic!("close with every broker down returned {result:?}, not a CloseError");
    };
    let text = error.to_string();
    assert!(
        !error.failures.is_empty() && text.contains("commit"),
        "the close error does not say the commit failed: {text} ({error:?})"
    );
    eprintln!("close returned after {took:?}: {text}");
}

#[test]
fn commit_without_a_reachable_coordinator_times_out_saying_why() {
    capture_logs();
    // No auto-commit: closing it would wait for the coordinator to commit too.
    let mut consumer = library_consumer(
        REFUSED,
        &[("group.id", "loud-commit"), ("enable.auto.commit", "false")],
    );
    let tp = TopicPartition::new("anything", 0);
    consumer.assign([tp.clone()]).expect("assign");
    // A position to commit: commit_sync commits the consumed positions.
    consumer.seek(&tp, 5).expect("seek");
    let timeout = Duration::from_secs(1);
    let started = Instant::now();
    let result = consumer.commit_sync_with_timeout(timeout);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "commit_sync_with_timeout(1 s) took {took:?} ({result:?})"
    );
    let Err(KafkaError::Timeout {
        operation,
        after,
        cause: Some(cause),
    }) = &result
    else {
        panic!("commit_sync_with_timeout returned {result:?}, not a Timeout with a cause");
    };
    assert_eq!(*operation, "commit");
    assert_eq!(*after, timeout);
    assert!(
        cause.contains("coordinator") || cause.contains(REFUSED),
        "the cause names neither the coordinator nor the connection failure: {cause}"
    );

    // The same with explicit offsets.
    let offsets = [(tp, OffsetAndMetadata::new(7))];
    let result = consumer.commit_offsets_sync_with_timeout(offsets, timeout);
    assert!(
        matches!(
            &result,
            Err(KafkaError::Timeout {
                operation: "commit",
                cause: Some(_),
                ..
            })
        ),
        "{result:?}"
    );
    eprintln!(
        "{}",
        result.err().map(|e| e.to_string()).unwrap_or_default()
    );
}
