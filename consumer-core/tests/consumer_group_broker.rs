//! The simulated coordinator's side of KIP-848 consumer groups, driven with raw
//! ConsumerGroupHeartbeat / OffsetCommit / OffsetFetch requests over a `SimNetwork`
//! (`SimNetwork::call`): joining, reconciliation (a partition moves only after its owner
//! gave it up), fencing, static members, session and rebalance timeouts, commit epoch
//! checks, regex subscriptions, faults and the version profiles.

use std::time::Duration;

use consumer_core::codec::messages::consumer_group_heartbeat::TopicPartitions;
use consumer_core::codec::messages::join_group::JoinGroupRequestProtocol;
use consumer_core::codec::messages::offset_commit::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use consumer_core::codec::messages::offset_fetch::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic,
};
use consumer_core::codec::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, JoinGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest,
};
use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Profile, ReconcileState, SharedCluster, SimNetwork, TestCluster};
use consumer_core::ErrorCode;

const G: &str = "g";

/// A cluster and a raw client of it.
struct Sim {
    cluster: SharedCluster,
    net: SimNetwork,
}

fn sim(topics: &[(&str, usize)]) -> Sim {
    let mut b = TestCluster::builder().brokers(2);
    for (t, n) in topics {
        b = b.topic(t, *n);
    }
    let cluster = b.build().shared();
    let net = SimNetwork::new(&cluster);
    Sim { cluster, net }
}

fn code(resp: &ConsumerGroupHeartbeatResponse) -> ErrorCode {
    ErrorCode::from_i16(resp.error_code)
}

impl Sim {
    fn coordinator(&self) -> i32 {
        self.cluster.borrow().groups.coordinator_of(G)
    }

    fn hb_v(
        &mut self,
        version: i16,
        req: ConsumerGroupHeartbeatRequest,
    ) -> ConsumerGroupHeartbeatResponse {
        let broker = self.coordinator();
        self.net.call(broker, version, &req).expect("answered")
    }

    fn hb(&mut self, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
        self.hb_v(1, req)
    }

    fn join_req(member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest {
            group_id: G.to_owned(),
            member_id: member.to_owned(),
            member_epoch: 0,
            rebalance_timeout_ms: 10_000,
            subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
            topic_partitions: Some(Vec::new()),
            ..ConsumerGroupHeartbeatRequest::default()
        }
    }

    fn join(&mut self, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatResponse {
        self.hb(Self::join_req(member, topics))
    }

    /// A heartbeat at `epoch` listing `owned` ((topic, partition) pairs).
    fn beat(
        &mut self,
        member: &str,
        epoch: i32,
        owned: &[(&str, i32)],
    ) -> ConsumerGroupHeartbeatResponse {
        let owned = Some(self.ids(owned));
        self.hb(ConsumerGroupHeartbeatRequest {
            group_id: G.to_owned(),
            member_id: member.to_owned(),
            member_epoch: epoch,
            topic_partitions: owned,
            ..ConsumerGroupHeartbeatRequest::default()
        })
    }

    fn ids(&self, owned: &[(&str, i32)]) -> Vec<TopicPartitions> {
        let c = self.cluster.borrow();
        let mut out: Vec<TopicPartitions> = Vec::new();
        for (t, p) in owned {
            let id = c.topics[*t].id;
            match out.iter_mut().find(|x| x.topic_id == id) {
                Some(x) => x.partitions.push(*p),
                None => out.push(TopicPartitions {
                    topic_id: id,
                    partitions: vec![*p],
                }),
            }
        }
        out
    }

    /// An answer's assignment as sorted (topic, partition) pairs; `None` when absent.
    fn names(&self, resp: &ConsumerGroupHeartbeatResponse) -> Option<Vec<(String, i32)>> {
        let c = self.cluster.borrow();
        let mut out: Vec<(String, i32)> = resp
            .assignment
            .as_ref()?
            .iter()
            .flat_map(|t| {
                let name = c
                    .topics
                    .iter()
                    .find(|(_, x)| x.id == t.topic_id)
                    .map(|(n, _)| n.clone())
                    .expect("a topic id of the cluster");
                t.partitions.iter().map(move |p| (name.clone(), *p))
            })
            .collect();
        out.sort();
        Some(out)
    }

    /// Lets `d` of simulated time pass, the group timers firing on the way.
    fn wait(&mut self, d: Duration) {
        let end = self.cluster.borrow().elapsed() + d;
        loop {
            let now = self.cluster.borrow().elapsed();
            if now >= end {
                break;
            }
            self.net.poll(Some(end - now));
        }
    }

    fn group_epoch(&self) -> i32 {
        self.cluster
            .borrow()
            .groups
            .consumer_group(G)
            .unwrap()
            .group_epoch
    }

    fn epoch_of(&self, member: &str) -> Option<i32> {
        let c = self.cluster.borrow();
        c.groups
            .consumer_group(G)?
            .member(member)
            .map(|m| m.member_epoch)
    }
}

fn pairs(v: &[(&str, i32)]) -> Vec<(String, i32)> {
    v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
}

#[test]
fn two_members_split_the_partitions_and_one_moves_only_after_its_owner_gave_it_up() {
    let mut s = sim(&[("t", 4)]);
    let a = s.join("a", &["t"]);
    assert_eq!(code(&a), ErrorCode::None);
    assert_eq!(a.member_id.as_deref(), Some("a"));
    assert_eq!(a.member_epoch, 1);
    assert_eq!(a.heartbeat_interval_ms, 5000);
    let all = pairs(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)]);
    assert_eq!(s.names(&a), Some(all.clone()));
    // Nothing changed: no assignment in the answer.
    let a = s.beat("a", 1, &[("t", 0), ("t", 1), ("t", 2), ("t", 3)]);
    assert_eq!((a.member_epoch, a.assignment), (1, None));

    // b joins: group epoch 2; its target is all owned by a still, so it gets nothing yet.
    let b = s.join("b", &["t"]);
    assert_eq!(s.group_epoch(), 2);
    assert_eq!(b.member_epoch, 2);
    assert_eq!(s.names(&b), Some(vec![]));
    let target_b: Vec<(String, i32)> = {
        let c = s.cluster.borrow();
        c.groups.consumer_group(G).unwrap().target["b"]
            .iter()
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect()
    };
    assert_eq!(target_b.len(), 2);
    let kept: Vec<(String, i32)> = all
        .iter()
        .filter(|p| !target_b.contains(p))
        .cloned()
        .collect();

    // a is asked to give up b's partitions, at its current epoch.
    let a = s.beat("a", 1, &[("t", 0), ("t", 1), ("t", 2), ("t", 3)]);
    assert_eq!(a.member_epoch, 1);
    assert_eq!(s.names(&a), Some(kept.clone()));
    assert_eq!(
        s.cluster
            .borrow()
            .groups
            .consumer_group(G)
            .unwrap()
            .member("a")
            .unwrap()
            .state,
        ReconcileState::UnrevokedPartitions
    );
    // Until a acknowledges, b gets nothing more.
    let b = s.beat("b", 2, &[]);
    assert_eq!((b.member_epoch, b.assignment), (2, None));
    assert_eq!(
        s.cluster
            .borrow()
            .groups
            .consumer_group(G)
            .unwrap()
            .owner_of(&tp("t", target_b[0].1)),
        Some("a")
    );

    // a acknowledges (it lists only what it kept) and moves to epoch 2.
    let kept_refs: Vec<(&str, i32)> = kept.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    let a = s.beat("a", 1, &kept_refs);
    assert_eq!((a.member_epoch, a.assignment), (2, None));
    // Now b gets its partitions.
    let b = s.beat("b", 2, &[]);
    assert_eq!(b.member_epoch, 2);
    assert_eq!(s.names(&b), Some(target_b.clone()));

    let c = s.cluster.borrow();
    let g = c.groups.consumer_group(G).unwrap();
    assert!(g.is_stable());
    assert_eq!(
        g.epochs().into_iter().collect::<Vec<_>>(),
        vec![("a".to_owned(), 2), ("b".to_owned(), 2)]
    );
    assert!(
        c.groups.ownership_violations(G).is_empty(),
        "{:?}",
        c.groups.ownership_violations(G)
    );
    // The history of a moved partition: a had it, gave it up, then b took it.
    let moved = tp("t", target_b[0].1);
    let history: Vec<(Option<String>, Option<String>)> = c
        .groups
        .ownership_history(G)
        .iter()
        .filter(|h| h.tp == moved)
        .map(|h| (h.from.clone(), h.to.clone()))
        .collect();
    assert_eq!(
        history,
        vec![
            (None, Some("a".to_owned())),
            (Some("a".to_owned()), None),
            (None, Some("b".to_owned())),
        ]
    );
}

#[test]
fn wrong_epochs_are_fenced_and_unknown_members_rejected() {
    let mut s = sim(&[("t", 2)]);
    assert_eq!(s.join("a", &["t"]).member_epoch, 1);
    assert_eq!(code(&s.beat("a", 5, &[])), ErrorCode::FencedMemberEpoch);
    assert_eq!(code(&s.beat("nobody", 1, &[])), ErrorCode::UnknownMemberId);
    // Another member bumps the target: a gives up one partition and moves to epoch 2.
    s.join("b", &["t"]);
    let a = s.beat("a", 1, &[("t", 0), ("t", 1)]);
    let kept = s.names(&a).unwrap();
    assert_eq!(kept.len(), 1);
    let a = s.beat("a", 1, &[(kept[0].0.as_str(), kept[0].1)]);
    assert_eq!(a.member_epoch, 2);
    // The answer was lost: the previous epoch with owned partitions within the assignment
    // is accepted and told the current epoch; without them it is fenced.
    let again = s.beat("a", 1, &[(kept[0].0.as_str(), kept[0].1)]);
    assert_eq!((code(&again), again.member_epoch), (ErrorCode::None, 2));
    let other = if kept[0].1 == 0 { 1 } else { 0 };
    assert_eq!(
        code(&s.beat("a", 1, &[("t", other)])),
        ErrorCode::FencedMemberEpoch
    );
    // Without its owned partitions, the previous epoch proves nothing: fenced.
    let bare = s.hb(ConsumerGroupHeartbeatRequest {
        group_id: G.to_owned(),
        member_id: "a".to_owned(),
        member_epoch: 1,
        ..ConsumerGroupHeartbeatRequest::default()
    });
    assert_eq!(code(&bare), ErrorCode::FencedMemberEpoch);
    // A fenced member rejoins at epoch 0 under its id, owning nothing: it starts over.
    let back = s.join("a", &["t"]);
    assert_eq!(code(&back), ErrorCode::None);
    assert_eq!(back.member_epoch, s.group_epoch());
}

#[test]
fn a_static_member_that_leaves_for_now_keeps_its_partitions_for_its_instance() {
    let mut s = sim(&[("t", 2)]);
    let mut req = Sim::join_req("a1", &["t"]);
    req.instance_id = Some("i".to_owned());
    let a = s.hb(req.clone());
    assert_eq!(s.names(&a), Some(pairs(&[("t", 0), ("t", 1)])));
    // Another member with the same instance id while a1 is active: refused.
    let mut dup = req.clone();
    dup.member_id = "a2".to_owned();
    assert_eq!(code(&s.hb(dup.clone())), ErrorCode::UnreleasedInstanceId);
    // a1 leaves with epoch -2: its place and partitions stay reserved, no new group epoch.
    let leave = s.hb(ConsumerGroupHeartbeatRequest {
        group_id: G.to_owned(),
        member_id: "a1".to_owned(),
        member_epoch: -2,
        instance_id: Some("i".to_owned()),
        ..ConsumerGroupHeartbeatRequest::default()
    });
    assert_eq!((code(&leave), leave.member_epoch), (ErrorCode::None, -2));
    assert_eq!(s.group_epoch(), 1);
    assert_eq!(s.epoch_of("a1"), Some(-2));
    // b joins meanwhile: the target splits, but a1's partitions are not free.
    let b = s.join("b", &["t"]);
    assert_eq!(s.names(&b), Some(vec![]));
    // a2 comes back under the instance id: it takes a1's place and gets its target at
    // once (the partitions it kept reserved).
    let a2 = s.hb(dup);
    assert_eq!(code(&a2), ErrorCode::None);
    assert_eq!(a2.member_epoch, s.group_epoch());
    let got = s.names(&a2).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(s.epoch_of("a1"), None);
    // a1's old id is fenced by its instance.
    let mut old = Sim::join_req("a1", &["t"]);
    old.member_epoch = 1;
    old.instance_id = Some("i".to_owned());
    old.topic_partitions = None;
    assert_eq!(code(&s.hb(old)), ErrorCode::FencedInstanceId);
    // a2 rejoined owning nothing, so the partition that is b's now was free at once.
    let a2b = s.beat("a2", a2.member_epoch, &[(got[0].0.as_str(), got[0].1)]);
    assert_eq!(code(&a2b), ErrorCode::None);
    let b = s.beat("b", b.member_epoch, &[]);
    assert_eq!(s.names(&b).map(|v| v.len()), Some(1));
    assert!(s
        .cluster
        .borrow()
        .groups
        .consumer_group(G)
        .unwrap()
        .is_stable());
}

#[test]
fn a_static_member_that_does_not_come_back_within_the_session_timeout_is_removed() {
    let mut s = sim(&[("t", 2)]);
    let mut req = Sim::join_req("a1", &["t"]);
    req.instance_id = Some("i".to_owned());
    s.hb(req);
    s.hb(ConsumerGroupHeartbeatRequest {
        group_id: G.to_owned(),
        member_id: "a1".to_owned(),
        member_epoch: -2,
        instance_id: Some("i".to_owned()),
        ..ConsumerGroupHeartbeatRequest::default()
    });
    s.wait(Duration::from_secs(44));
    assert_eq!(s.epoch_of("a1"), Some(-2));
    s.wait(Duration::from_secs(2));
    assert_eq!(s.epoch_of("a1"), None);
    // A new member gets everything: nothing is reserved any more.
    let b = s.join("b", &["t"]);
    assert_eq!(s.names(&b), Some(pairs(&[("t", 0), ("t", 1)])));
}

#[test]
fn a_silent_member_is_removed_after_the_session_timeout_and_its_partitions_freed() {
    let mut s = sim(&[("t", 2)]);
    s.cluster.borrow_mut().groups.consumer_session_timeout = Duration::from_secs(20);
    s.join("a", &["t"]);
    let b = s.join("b", &["t"]);
    // a never heartbeats again (it would have to give one partition up first); b gets
    // the partitions once a's session is over, not before.
    let mut epoch = b.member_epoch;
    let mut got = Vec::new();
    for _ in 0..6 {
        s.wait(Duration::from_secs(5));
        let r = s.beat("b", epoch, &[]);
        assert_eq!(code(&r), ErrorCode::None);
        epoch = r.member_epoch;
        if let Some(a) = s.names(&r) {
            got.push((s.cluster.borrow().elapsed().as_secs(), a));
        }
    }
    assert_eq!(s.epoch_of("a"), None);
    assert_eq!(got, vec![(20, pairs(&[("t", 0), ("t", 1)]))]);
    assert_eq!(code(&s.beat("a", 2, &[])), ErrorCode::UnknownMemberId);
    assert!(s
        .cluster
        .borrow()
        .groups
        .log
        .iter()
        .any(|l| l.contains("a removed (session expired)")));
}

#[test]
fn a_member_that_does_not_revoke_within_its_rebalance_timeout_is_fenced() {
    let mut s = sim(&[("t", 2)]);
    s.join("a", &["t"]); // rebalance timeout 10 s
    s.join("b", &["t"]);
    let all = [("t", 0), ("t", 1)];
    let a = s.beat("a", 1, &all);
    assert_eq!(s.names(&a).map(|v| v.len()), Some(1));
    // a keeps heartbeating but keeps both partitions.
    for _ in 0..3 {
        s.wait(Duration::from_secs(3));
        assert_eq!(code(&s.beat("a", 1, &all)), ErrorCode::None);
    }
    s.wait(Duration::from_secs(2));
    assert_eq!(code(&s.beat("a", 1, &all)), ErrorCode::UnknownMemberId);
    let b = s.beat("b", s.epoch_of("b").unwrap(), &[]);
    assert_eq!(s.names(&b), Some(pairs(&[("t", 0), ("t", 1)])));
}

fn commit(member: &str, epoch: i32) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: G.to_owned(),
        generation_id_or_member_epoch: epoch,
        member_id: member.to_owned(),
        topics: vec![OffsetCommitRequestTopic {
            name: "t".to_owned(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 42,
                ..OffsetCommitRequestPartition::default()
            }],
            ..OffsetCommitRequestTopic::default()
        }],
        ..OffsetCommitRequest::default()
    }
}

fn fetch(member: Option<&str>, epoch: i32) -> OffsetFetchRequest {
    OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup {
            group_id: G.to_owned(),
            member_id: member.map(str::to_owned),
            member_epoch: epoch,
            topics: Some(vec![OffsetFetchRequestTopic {
                name: "t".to_owned(),
                partition_indexes: vec![0],
                ..OffsetFetchRequestTopic::default()
            }]),
        }],
        ..OffsetFetchRequest::default()
    }
}

#[test]
fn commits_and_offset_fetches_are_checked_against_the_member_epoch() {
    let mut s = sim(&[("t", 1)]);
    s.join("a", &["t"]);
    let broker = s.coordinator();
    let commit_code = |s: &mut Sim, v: i16, req: OffsetCommitRequest| {
        let r = s.net.call(broker, v, &req).expect("answered");
        ErrorCode::from_i16(r.topics[0].partitions[0].error_code)
    };
    assert_eq!(
        commit_code(&mut s, 9, commit("a", 2)),
        ErrorCode::FencedMemberEpoch
    );
    assert_eq!(
        commit_code(&mut s, 9, commit("a", 0)),
        ErrorCode::StaleMemberEpoch
    );
    assert_eq!(
        commit_code(&mut s, 9, commit("x", 1)),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        commit_code(&mut s, 8, commit("a", 1)),
        ErrorCode::UnsupportedVersion
    );
    // An admin's commit while the group has members.
    assert_eq!(
        commit_code(&mut s, 9, commit("", -1)),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(s.cluster.borrow().groups.committed(G, &tp("t", 0)), None);
    assert_eq!(commit_code(&mut s, 9, commit("a", 1)), ErrorCode::None);
    assert_eq!(
        s.cluster.borrow().groups.committed(G, &tp("t", 0)),
        Some(42)
    );

    let fetch_answer = |s: &mut Sim, req: OffsetFetchRequest| {
        let r = s.net.call(broker, 9, &req).expect("answered");
        let g = r.groups[0].clone();
        let offset = g.topics.first().map(|t| t.partitions[0].committed_offset);
        (ErrorCode::from_i16(g.error_code), offset)
    };
    assert_eq!(
        fetch_answer(&mut s, fetch(Some("a"), 0)),
        (ErrorCode::StaleMemberEpoch, None)
    );
    assert_eq!(
        fetch_answer(&mut s, fetch(Some("x"), 1)),
        (ErrorCode::UnknownMemberId, None)
    );
    assert_eq!(
        fetch_answer(&mut s, fetch(Some("a"), 1)),
        (ErrorCode::None, Some(42))
    );
    assert_eq!(
        fetch_answer(&mut s, fetch(None, -1)),
        (ErrorCode::None, Some(42))
    );

    // Once the group is empty, an admin may commit.
    let left = s.hb(ConsumerGroupHeartbeatRequest {
        group_id: G.to_owned(),
        member_id: "a".to_owned(),
        member_epoch: -1,
        ..ConsumerGroupHeartbeatRequest::default()
    });
    assert_eq!((code(&left), left.member_epoch), (ErrorCode::None, -1));
    let mut admin = commit("", -1);
    admin.topics[0].partitions[0].committed_offset = 7;
    assert_eq!(commit_code(&mut s, 9, admin), ErrorCode::None);
    assert_eq!(s.cluster.borrow().groups.committed(G, &tp("t", 0)), Some(7));
}

#[test]
fn a_regex_subscription_matches_whole_topic_names_and_follows_new_topics() {
    let mut s = sim(&[
        ("orders-eu", 1),
        ("orders-us", 1),
        ("payments", 1),
        ("old-orders-eu", 1),
    ]);
    let mut req = Sim::join_req("a", &[]);
    req.subscribed_topic_names = None;
    req.subscribed_topic_regex = Some("orders-.*".to_owned());
    let a = s.hb(req.clone());
    assert_eq!(
        s.names(&a),
        Some(pairs(&[("orders-eu", 0), ("orders-us", 0)]))
    );
    let epoch = s.group_epoch();
    // A new matching topic: the next heartbeat bumps the group epoch and assigns it.
    s.cluster.borrow_mut().create_topic("orders-asia", 2);
    let a = s.beat("a", a.member_epoch, &[("orders-eu", 0), ("orders-us", 0)]);
    assert_eq!(s.group_epoch(), epoch + 1);
    assert_eq!(a.member_epoch, epoch + 1);
    assert_eq!(
        s.names(&a),
        Some(pairs(&[
            ("orders-asia", 0),
            ("orders-asia", 1),
            ("orders-eu", 0),
            ("orders-us", 0)
        ]))
    );
    // A regex that does not compile.
    let mut bad = req;
    bad.member_id = "b".to_owned();
    bad.subscribed_topic_regex = Some("orders-(".to_owned());
    assert_eq!(code(&s.hb(bad)), ErrorCode::InvalidRegularExpression);
}

#[test]
fn joins_are_validated_and_v0_members_get_their_id_from_the_coordinator() {
    let mut s = sim(&[("t", 2)]);
    let mut no_timeout = Sim::join_req("a", &["t"]);
    no_timeout.rebalance_timeout_ms = -1;
    assert_eq!(code(&s.hb(no_timeout)), ErrorCode::InvalidRequest);
    let mut no_subscription = Sim::join_req("a", &["t"]);
    no_subscription.subscribed_topic_names = None;
    assert_eq!(code(&s.hb(no_subscription)), ErrorCode::InvalidRequest);
    let mut owning = Sim::join_req("a", &["t"]);
    owning.topic_partitions = None;
    assert_eq!(code(&s.hb(owning)), ErrorCode::InvalidRequest);
    assert_eq!(code(&s.join("", &["t"])), ErrorCode::InvalidRequest);
    let mut assignor = Sim::join_req("a", &["t"]);
    assignor.server_assignor = Some("sticky".to_owned());
    assert_eq!(code(&s.hb(assignor)), ErrorCode::UnsupportedAssignor);
    assert!(s.cluster.borrow().groups.consumer_group(G).is_none());

    // v0: an empty member id joins and the coordinator names it.
    let v0 = s.hb_v(0, Sim::join_req("", &["t"]));
    assert_eq!(code(&v0), ErrorCode::None);
    let id = v0.member_id.clone().unwrap();
    assert!(id.starts_with("raw-"), "{id}");
    assert_eq!(s.epoch_of(&id), Some(1));

    // The range assignor, when asked for: a second member takes the upper range.
    let mut b = Sim::join_req("b", &["t"]);
    b.server_assignor = Some("range".to_owned());
    s.hb(b);
    let c = s.cluster.borrow();
    let g = c.groups.consumer_group(G).unwrap();
    assert_eq!(g.assignor, "range");
    assert_eq!(
        g.target["b"].iter().cloned().collect::<Vec<_>>(),
        vec![tp("t", 1)]
    );
}

#[test]
fn a_group_id_is_either_classic_or_consumer() {
    let mut s = sim(&[("t", 1)]);
    let broker = s.coordinator();
    let join = JoinGroupRequest {
        group_id: G.to_owned(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".to_owned(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".to_owned(),
            metadata: Default::default(),
        }],
        ..JoinGroupRequest::default()
    };
    let joined = s.net.call(broker, 3, &join).expect("answered");
    assert_eq!(joined.error_code, 0);
    assert_eq!(code(&s.join("a", &["t"])), ErrorCode::GroupIdNotFound);

    // The other way round: a consumer group with members takes no classic member.
    let mut s = sim(&[("t", 1)]);
    s.join("a", &["t"]);
    let refused = s.net.call(broker, 3, &join).expect("answered");
    assert_eq!(
        ErrorCode::from_i16(refused.error_code),
        ErrorCode::InconsistentGroupProtocol
    );
}

#[test]
fn injected_errors_and_a_moved_coordinator_apply_to_consumer_group_heartbeats() {
    let mut s = sim(&[("t", 1)]);
    s.join("a", &["t"]);
    s.cluster
        .borrow_mut()
        .inject_error(ApiKey::ConsumerGroupHeartbeat, ErrorCode::FencedMemberEpoch);
    assert_eq!(
        code(&s.beat("a", 1, &[("t", 0)])),
        ErrorCode::FencedMemberEpoch
    );
    // The injected answer changed nothing: the member is still at epoch 1.
    assert_eq!(s.epoch_of("a"), Some(1));
    assert_eq!(code(&s.beat("a", 1, &[("t", 0)])), ErrorCode::None);

    let old = s.coordinator();
    let new = if old == 1 { 2 } else { 1 };
    s.cluster.borrow_mut().groups.move_coordinator(G, new);
    let stale = s
        .net
        .call(old, 1, &Sim::join_req("b", &["t"]))
        .expect("answered");
    assert_eq!(code(&stale), ErrorCode::NotCoordinator);
    // The group moved with its state.
    let a = s.beat("a", 1, &[("t", 0)]);
    assert_eq!((code(&a), a.member_epoch), (ErrorCode::None, 1));
    let seen = s
        .cluster
        .borrow()
        .requests_of(ApiKey::ConsumerGroupHeartbeat);
    let last = seen.last().unwrap();
    assert_eq!(
        (last.broker, last.member_id.as_str(), last.generation),
        (new, "a", 1)
    );
}

#[test]
fn the_modern_profile_offers_consumer_group_heartbeat_and_the_mock_cluster_does_not() {
    assert_eq!(
        Profile::modern().range(ApiKey::ConsumerGroupHeartbeat),
        Some((0, 1))
    );
    assert_eq!(
        Profile::mock_cluster().range(ApiKey::ConsumerGroupHeartbeat),
        None
    );
}
