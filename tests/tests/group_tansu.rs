//! Consumer groups on Tansu (current, flexible protocol versions): our
//! consumers subscribe, consume everything kafka-python produced, commit,
//! and a restarted member resumes from the commits.

use std::time::Duration;

use consumer_net::KafkaConsumer;
use integration_tests::{
    assert_no_violations, group_props, init_logging, library_consumer, partitions, poll_for,
    poll_until, produce_python, wait_for_history, CommitPolicy, Compression, Expected,
    GroupHistory, LibraryMember, MemberLog, MemberSpec, Record, Tansu, WAIT,
};

const PARTITIONS: i32 = 3;

fn start(topic: &str) -> Tansu {
    let tansu = Tansu::start().unwrap_or_else(|e| panic!("starting tansu: {e}"));
    tansu
        .create_topic(topic, PARTITIONS)
        .unwrap_or_else(|e| panic!("creating {topic} on tansu: {e}\n{}", tansu.logs()));
    tansu
}

fn records(n: usize, tag: &str) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new((i % PARTITIONS as usize) as i32, format!("{tag}-v{i}"))
                .with_key(format!("{tag}-k{i}"))
                .with_header("i", i.to_string())
        })
        .collect()
}

fn produce(tansu: &Tansu, topic: &str, expected: &mut Expected, n: usize, tag: &str) {
    let produced = produce_python(
        &tansu.bootstrap(),
        topic,
        &records(n, tag),
        Compression::None,
    )
    .unwrap_or_else(|e| panic!("producing to tansu: {e}\n{}", tansu.logs()));
    expected.add(&produced);
}

fn member(tansu: &Tansu, group: &str) -> KafkaConsumer {
    let props = group_props(group, "range", CommitPolicy::Manual { every: 1 });
    let props: Vec<(&str, &str)> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    library_consumer(&tansu.bootstrap(), &props)
}

#[test]
fn consume_commit_and_resume() {
    init_logging();
    let topic = "tansu-group";
    let group = "tansu-group-g";
    let tansu = start(topic);
    let mut expected = Expected::new(topic);
    produce(&tansu, topic, &mut expected, 300, "a");

    let mut c = member(&tansu, group);
    c.subscribe([topic]).expect("subscribe");
    let mut got = Vec::new();
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "the first 300 records through the group",
        |g| g.len() >= expected.len(),
    );
    expected.assert_delivered(&got);
    let tps = partitions(topic, PARTITIONS);
    let mut assigned = c.assignment();
    assigned.sort();
    assert_eq!(assigned, tps, "a lone member owns every partition");
    c.commit_sync().expect("commit");
    let committed = c.committed(&tps, WAIT).expect("committed offsets");
    for tp in &tps {
        assert_eq!(
            committed.get(tp).cloned().flatten().map(|o| o.offset),
            Some(expected.end_offset(tp.partition)),
            "{tp}: committed on tansu"
        );
    }
    c.close().expect("close");

    // More records; a new member of the group starts at the commits.
    let before: Vec<i64> = (0..PARTITIONS).map(|p| expected.end_offset(p)).collect();
    produce(&tansu, topic, &mut expected, 150, "b");
    let rest = expected.filtered(|p, o| o >= before[p as usize]);
    let mut c = member(&tansu, group);
    c.subscribe([topic]).expect("subscribe");
    let mut got = Vec::new();
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "the 150 records after the commits",
        |g| g.len() >= rest.len(),
    );
    rest.assert_delivered(&got);
    let extra = poll_for(&mut c, Duration::from_millis(500));
    assert!(extra.is_empty(), "records beyond the end: {}", extra.len());
    c.close().expect("close");
}

#[test]
fn two_members_share_and_hand_over() {
    init_logging();
    let topic = "tansu-group-two";
    let group = "tansu-group-two-g";
    let tansu = start(topic);
    let mut expected = Expected::new(topic);
    produce(&tansu, topic, &mut expected, 300, "a");
    let spec = |name: &str| {
        let commits = CommitPolicy::Manual { every: 40 };
        MemberSpec {
            name: name.into(),
            bootstrap: tansu.bootstrap(),
            topics: vec![topic.into()],
            props: group_props(group, "range", commits),
            commits,
            poll_delay: Duration::from_millis(10),
        }
    };
    let mut a = LibraryMember::start(spec("a"));
    let mut b = LibraryMember::start(spec("b"));
    let logs = [a.log().clone(), b.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();
    wait_for_history(
        &lr,
        Duration::from_secs(60),
        "two members sharing the partitions",
        |h| h.settled(PARTITIONS, &["a", "b"]) && h.covers(&expected, PARTITIONS),
    );
    b.stop(Duration::from_secs(30));
    produce(&tansu, topic, &mut expected, 150, "b");
    wait_for_history(
        &lr,
        Duration::from_secs(60),
        "a owning every partition and the rest consumed",
        |h| h.settled(PARTITIONS, &["a"]) && h.covers(&expected, PARTITIONS),
    );
    a.stop(Duration::from_secs(30));
    let h = GroupHistory::of(&lr);
    assert_no_violations("tansu", &h.ownership_violations(false), &h, &lr);
    assert_no_violations(
        "tansu",
        &h.delivery_violations(&expected, PARTITIONS),
        &h,
        &lr,
    );
    for l in &lr {
        let errors: Vec<String> = l
            .errors()
            .into_iter()
            .filter(|e| {
                !(e.starts_with("commit")
                    && (e.contains("group is rebalancing") || e.contains("group rebalanced")))
            })
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {errors:?}\n{}",
            l.name(),
            l.describe()
        );
    }
}
