//! Subscribing by pattern, and the subscription rules.
//!
//! * A pattern subscription matches whole topic names from the cluster metadata (all
//!   topics are asked for); the group assigns the matching topics' partitions.
//! * A matching topic created later is found at the next metadata refresh and triggers a
//!   rejoin that assigns it; a non-matching one changes nothing.
//! * `assign` and `subscribe` do not mix (`StateError::SubscriptionMix`); group calls need
//!   `group.id` (`StateError::NoGroupId`); a bad pattern is refused.

use std::time::Duration;

use consumer_core::codec::consumer_protocol::ConsumerProtocolSubscription;
use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, TestCluster};
use consumer_core::{
    AutoOffsetReset, Consumer, MemberState, OffsetAndMetadata, StateError, TopicPartition,
};

const GROUP: &str = "billing";

fn cluster() -> TestCluster {
    let mut cluster = TestCluster::builder()
        .topic("orders-eu", 2)
        .topic("orders-us", 2)
        .topic("old-orders-eu", 1)
        .topic("payments", 1)
        .build();
    for name in ["orders-eu", "orders-us", "old-orders-eu", "payments"] {
        let n = cluster.topics[name].partitions.len() as i32;
        for p in 0..n {
            cluster.fill(&tp(name, p), 3, 3);
        }
    }
    cluster
}

fn stable(c: &Consumer) -> bool {
    c.group()
        .is_some_and(|g| g.state() == MemberState::Stable && !g.needs_rejoin())
}

fn sorted(mut v: Vec<TopicPartition>) -> Vec<TopicPartition> {
    v.sort();
    v
}

/// The topics the member subscribed to in its last JoinGroup, as the coordinator got them.
fn joined_topics(cluster: &TestCluster) -> Vec<String> {
    let group = cluster.groups.group(GROUP).unwrap();
    let metadata = group.members[0].protocols[0].1.clone();
    ConsumerProtocolSubscription::decode(metadata)
        .unwrap()
        .topics
}

#[test]
fn pattern_matches_whole_topic_names_from_metadata() {
    let mut cluster = cluster();
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.subscribe_pattern("orders-.*").unwrap();
    cluster.drive(
        &mut consumer,
        |c, cl| stable(c) && cl.received.len() == 12,
        300,
    );
    assert_eq!(
        sorted(consumer.assignment()),
        [
            tp("orders-eu", 0),
            tp("orders-eu", 1),
            tp("orders-us", 0),
            tp("orders-us", 1)
        ]
    );
    assert_eq!(joined_topics(&cluster), ["orders-eu", "orders-us"]);
    // The metadata requests asked for every topic, so new ones can match.
    assert!(cluster
        .requests_of(ApiKey::Metadata)
        .iter()
        .all(|r| r.topics.is_none()));
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert!(cluster.offsets_of(&tp("old-orders-eu", 0)).is_empty());
    assert!(cluster.offsets_of(&tp("payments", 0)).is_empty());
}

#[test]
fn a_new_matching_topic_triggers_a_rejoin_a_non_matching_one_does_not() {
    let mut cluster = cluster();
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .metadata_max_age(Duration::from_secs(5)),
    );
    consumer.subscribe_pattern("orders-.*").unwrap();
    cluster.drive(&mut consumer, |c, _| stable(c), 300);
    let joins = cluster.count(ApiKey::JoinGroup);

    cluster.create_topic("audit", 1);
    cluster.run_for(&mut consumer, Duration::from_secs(12));
    assert_eq!(
        cluster.count(ApiKey::JoinGroup),
        joins,
        "audit does not match"
    );
    assert_eq!(consumer.group().unwrap().generation().generation_id, 1);

    cluster.create_topic("orders-apac", 2);
    cluster.fill(&tp("orders-apac", 1), 2, 2);
    let created_at = cluster.elapsed();
    cluster.drive(
        &mut consumer,
        |c, cl| stable(c) && cl.offsets_of(&tp("orders-apac", 1)) == [0, 1],
        500,
    );
    assert_eq!(consumer.group().unwrap().generation().generation_id, 2);
    assert_eq!(consumer.assignment().len(), 6);
    assert_eq!(
        joined_topics(&cluster),
        ["orders-apac", "orders-eu", "orders-us"]
    );
    assert!(
        cluster.elapsed() - created_at <= Duration::from_secs(6),
        "found at the next refresh"
    );
}

#[test]
fn assign_and_subscribe_do_not_mix() {
    let cluster = cluster();
    let mut consumer = cluster.consumer(cluster.config().group_id(GROUP));

    consumer.assign([tp("orders-eu", 0)]).unwrap();
    assert_eq!(
        consumer.subscribe(["orders-eu".to_owned()]),
        Err(StateError::SubscriptionMix)
    );
    assert_eq!(
        consumer.subscribe_pattern("orders-.*"),
        Err(StateError::SubscriptionMix)
    );
    assert_eq!(consumer.assignment(), [tp("orders-eu", 0)], "unchanged");

    consumer.unsubscribe();
    consumer.subscribe(["orders-eu".to_owned()]).unwrap();
    assert_eq!(
        consumer.assign([tp("orders-eu", 0)]),
        Err(StateError::SubscriptionMix)
    );
    assert_eq!(
        consumer.subscribe_pattern("orders-.*"),
        Err(StateError::SubscriptionMix)
    );
    // Subscribing again to topics replaces the list.
    consumer.subscribe(["orders-us".to_owned()]).unwrap();
    assert_eq!(consumer.subscription().subscribed_topics(), ["orders-us"]);

    consumer.unsubscribe();
    consumer.subscribe_pattern("orders-.*").unwrap();
    assert_eq!(
        consumer.subscribe(["orders-eu".to_owned()]),
        Err(StateError::SubscriptionMix)
    );
}

#[test]
fn group_calls_need_a_group_id() {
    let cluster = cluster();
    let mut consumer = cluster.consumer(cluster.config());
    assert_eq!(
        consumer.subscribe(["orders-eu".to_owned()]),
        Err(StateError::NoGroupId("subscribe"))
    );
    assert_eq!(
        consumer.subscribe_pattern("orders-.*"),
        Err(StateError::NoGroupId("subscribe_pattern"))
    );
    let offset = OffsetAndMetadata {
        offset: 1,
        leader_epoch: None,
        metadata: String::new(),
    };
    assert_eq!(
        consumer.commit(vec![(tp("orders-eu", 0), offset)]),
        Err(StateError::NoGroupId("commit"))
    );
    assert_eq!(
        consumer.committed(vec![tp("orders-eu", 0)]),
        Err(StateError::NoGroupId("committed"))
    );
    // Manual assignment works without a group.
    consumer.assign([tp("orders-eu", 0)]).unwrap();
}

#[test]
fn an_invalid_pattern_is_refused() {
    let cluster = cluster();
    let mut consumer = cluster.consumer(cluster.config().group_id(GROUP));
    match consumer.subscribe_pattern("orders-(") {
        Err(StateError::InvalidPattern { pattern, .. }) => assert_eq!(pattern, "orders-("),
        other => panic!("expected InvalidPattern, got {other:?}"),
    }
    // Nothing was subscribed: a topic subscription is still allowed.
    consumer.subscribe(["orders-eu".to_owned()]).unwrap();
}

/// As Java with `exclude.internal.topics=true` (its default, the only value here): a
/// pattern leaves out internal topics (`__consumer_offsets`, …), even one matching it.
#[test]
fn a_pattern_leaves_internal_topics_out() {
    let mut cluster = cluster();
    cluster.create_topic("__consumer_offsets", 2);
    cluster.fill(&tp("__consumer_offsets", 0), 3, 3);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.subscribe_pattern(".*").unwrap();
    cluster.drive(&mut consumer, |c, _| stable(c), 300);
    let topics = joined_topics(&cluster);
    assert_eq!(
        topics,
        ["old-orders-eu", "orders-eu", "orders-us", "payments"],
        "{topics:?}"
    );
    assert!(consumer
        .assignment()
        .iter()
        .all(|tp| !tp.topic.starts_with("__")));
}
