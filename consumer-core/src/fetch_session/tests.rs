use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::codec::messages::{FetchRequest, FetchResponse};
use crate::error_code::ErrorCode;
use crate::testing::{FetchSessions, SessionMode};

const NOT_FOUND: i16 = ErrorCode::FetchSessionIdNotFound.code();
const BAD_EPOCH: i16 = ErrorCode::InvalidFetchSessionEpoch.code();
const TOPIC_ID_ERROR: i16 = ErrorCode::FetchSessionTopicIdError.code();

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn data(offset: i64) -> PartitionFetch {
    PartitionFetch {
        topic_id: [1; 16],
        fetch_offset: offset,
        current_leader_epoch: 3,
        max_bytes: 1024,
    }
}

fn sent(req: &SessionFetch) -> Vec<TopicPartition> {
    req.to_send
        .iter()
        .map(|(tp, _)| tp.to_topic_partition())
        .collect()
}

fn forgotten(req: &SessionFetch) -> Vec<TopicPartition> {
    req.forgotten.iter().map(|(tp, _)| tp.clone()).collect()
}

/// A handler whose session `id` holds a0@0 and a1@0, at epoch 1.
fn open(id: i32) -> FetchSessionHandler {
    let mut h = FetchSessionHandler::new();
    h.build(12, [(tp("a", 0), data(0)), (tp("a", 1), data(0))]);
    h.handle_response(id, 0);
    h
}

#[test]
fn below_v7_every_fetch_is_sessionless() {
    let mut h = FetchSessionHandler::new();
    for _ in 0..2 {
        let req = h.build(6, [(tp("a", 0), data(5)), (tp("b", 1), data(7))]);
        assert_eq!((req.session_id, req.session_epoch, req.full), (0, -1, true));
        assert_eq!(sent(&req), vec![tp("a", 0), tp("b", 1)]);
        assert_eq!(req.offset_of(&tp("b", 1)), Some(7));
        // A broker answering an id anyway does not start a session below v7.
        h.handle_response(99, 0);
    }
    assert_eq!(h.session_id(), 0);
}

#[test]
fn a_session_turns_fetches_incremental() {
    let mut h = FetchSessionHandler::new();
    let first = h.build(12, [(tp("a", 0), data(0)), (tp("a", 1), data(0))]);
    assert_eq!(
        (first.session_id, first.session_epoch, first.full),
        (0, 0, true)
    );
    assert_eq!(first.to_send.len(), 2);
    h.handle_response(42, 0);
    assert_eq!((h.session_id(), h.next_epoch()), (42, 1));

    // a-0 got records and moved on; a-1 is idle: only a-0 is sent, both may be answered.
    let second = h.build(12, [(tp("a", 0), data(10)), (tp("a", 1), data(0))]);
    assert_eq!(
        (second.session_id, second.session_epoch, second.full),
        (42, 1, false)
    );
    assert_eq!(sent(&second), vec![tp("a", 0)]);
    assert!(second.forgotten.is_empty());
    assert_eq!(second.offset_of(&tp("a", 0)), Some(10));
    assert_eq!(second.offset_of(&tp("a", 1)), Some(0));
    h.handle_response(42, 0);

    // Nothing changed: an empty incremental fetch that still covers both partitions.
    let third = h.build(12, [(tp("a", 0), data(10)), (tp("a", 1), data(0))]);
    assert_eq!(third.session_epoch, 2);
    assert!(third.to_send.is_empty() && third.forgotten.is_empty());
    assert_eq!(third.session.len(), 2);
}

#[test]
fn leader_epoch_or_size_changes_are_sent() {
    let mut h = open(42);
    let mut moved = data(0);
    moved.current_leader_epoch = 4;
    let mut smaller = data(0);
    smaller.max_bytes = 1;
    let req = h.build(12, [(tp("a", 0), moved), (tp("a", 1), smaller)]);
    assert_eq!(sent(&req), vec![tp("a", 0), tp("a", 1)]);
}

#[test]
fn unwanted_partitions_are_forgotten_and_sent_again_when_wanted_again() {
    let mut h = open(42);
    let req = h.build(12, [(tp("a", 1), data(0))]);
    assert_eq!(forgotten(&req), vec![tp("a", 0)]);
    assert!(req.to_send.is_empty());
    assert_eq!(
        req.offset_of(&tp("a", 0)),
        None,
        "a forgotten partition is not answered"
    );
    assert_eq!(
        req.forgotten_topics(),
        vec![ForgottenTopic {
            topic: "a".into(),
            topic_id: [1; 16],
            partitions: vec![0],
        }]
    );
    h.handle_response(42, 0);

    let req = h.build(12, [(tp("a", 0), data(0)), (tp("a", 1), data(0))]);
    assert_eq!(sent(&req), vec![tp("a", 0)], "re-added with unchanged data");
    assert!(!req.full);
}

#[test]
fn the_epoch_wraps_past_i32_max_to_one() {
    let mut h = open(42);
    h.set_epoch(i32::MAX);
    let req = h.build(12, [(tp("a", 0), data(0))]);
    assert_eq!(req.session_epoch, i32::MAX);
    h.handle_response(42, 0);
    assert_eq!(h.next_epoch(), 1);
    assert_eq!(next_epoch(0), 1);
    assert_eq!(next_epoch(-1), -1);
}

#[test]
fn session_not_found_starts_over_without_an_id() {
    let mut h = open(42);
    h.build(12, [(tp("a", 0), data(1))]);
    h.handle_response(0, NOT_FOUND);
    let req = h.build(12, [(tp("a", 0), data(1)), (tp("a", 1), data(0))]);
    assert_eq!((req.session_id, req.session_epoch, req.full), (0, 0, true));
    assert_eq!(req.to_send.len(), 2);
}

#[test]
fn other_errors_close_the_session_and_open_a_new_one() {
    for code in [BAD_EPOCH, TOPIC_ID_ERROR, 7] {
        let mut h = open(42);
        h.build(12, [(tp("a", 0), data(1))]);
        h.handle_response(42, code);
        let req = h.build(12, [(tp("a", 0), data(1)), (tp("a", 1), data(0))]);
        assert_eq!(
            (req.session_id, req.session_epoch, req.full),
            (42, 0, true),
            "{code}"
        );
        assert_eq!(req.to_send.len(), 2);
        h.handle_response(43, 0);
        assert_eq!((h.session_id(), h.next_epoch()), (43, 1));
    }
}

#[test]
fn a_lost_request_reopens_the_session() {
    let mut h = open(42);
    h.build(12, [(tp("a", 0), data(1))]);
    h.handle_error();
    let req = h.build(12, [(tp("a", 0), data(1))]);
    assert_eq!((req.session_id, req.session_epoch, req.full), (42, 0, true));
}

#[test]
fn building_again_without_an_answer_counts_the_first_as_lost() {
    let mut h = open(42);
    h.build(12, [(tp("a", 0), data(1))]);
    let req = h.build(12, [(tp("a", 0), data(1))]);
    assert_eq!((req.session_id, req.session_epoch, req.full), (42, 0, true));
    // The stale answer of the first request must not be taken for this one: only one
    // answer is expected, and it is this request's.
    h.handle_response(50, 0);
    assert_eq!((h.session_id(), h.next_epoch()), (50, 1));
    h.handle_response(42, 0);
    assert_eq!(
        (h.session_id(), h.next_epoch()),
        (50, 1),
        "no request awaits it"
    );
}

#[test]
fn a_broker_without_sessions_gets_full_fetches() {
    let mut h = FetchSessionHandler::new();
    for offset in 0..3 {
        let req = h.build(11, [(tp("a", 0), data(offset)), (tp("a", 1), data(0))]);
        assert_eq!((req.session_id, req.session_epoch, req.full), (0, 0, true));
        assert_eq!(req.to_send.len(), 2);
        h.handle_response(0, 0);
    }
}

#[test]
fn an_incremental_answer_without_a_session_means_it_was_closed() {
    let mut h = open(42);
    h.build(12, [(tp("a", 0), data(1))]);
    h.handle_response(0, 0);
    let req = h.build(12, [(tp("a", 0), data(1))]);
    assert_eq!((req.session_id, req.session_epoch), (0, 0));
}

#[test]
fn an_incremental_answer_for_another_session_reopens() {
    let mut h = open(42);
    h.build(12, [(tp("a", 0), data(1))]);
    h.handle_response(7, 0);
    let req = h.build(12, [(tp("a", 0), data(1))]);
    assert_eq!((req.session_id, req.session_epoch, req.full), (42, 0, true));
}

#[test]
fn a_recreated_topic_forgets_its_old_id_only_when_fetching_by_id() {
    let mut renamed = data(0);
    renamed.topic_id = [2; 16];

    let mut h = FetchSessionHandler::new();
    h.build(13, [(tp("a", 0), data(0))]);
    h.handle_response(42, 0);
    let req = h.build(13, [(tp("a", 0), renamed)]);
    assert_eq!(sent(&req), vec![tp("a", 0)]);
    assert_eq!(req.forgotten, vec![(tp("a", 0), [1; 16])]);

    // By name the update replaces the partition; forgetting it would drop it.
    let mut h = open(42);
    let req = h.build(12, [(tp("a", 0), renamed), (tp("a", 1), data(0))]);
    assert_eq!(sent(&req), vec![tp("a", 0)]);
    assert!(req.forgotten.is_empty());
}

#[test]
fn switching_between_names_and_ids_reopens() {
    let mut h = open(42);
    let req = h.build(13, [(tp("a", 0), data(0)), (tp("a", 1), data(0))]);
    assert_eq!((req.session_id, req.session_epoch, req.full), (42, 0, true));
}

#[test]
fn dropping_below_v7_abandons_the_session() {
    let mut h = open(42);
    let req = h.build(6, [(tp("a", 0), data(0))]);
    assert_eq!((req.session_id, req.session_epoch), (0, -1));
    h.handle_response(0, 0);
    let req = h.build(12, [(tp("a", 0), data(0))]);
    assert_eq!((req.session_id, req.session_epoch), (0, 0));
}

#[test]
fn an_answer_outside_the_session_reopens_it() {
    let mut h = open(42);
    h.build(12, [(tp("a", 0), data(1))]);
    h.handle_response(42, 0);
    h.invalidate();
    let req = h.build(12, [(tp("a", 0), data(1))]);
    assert_eq!((req.session_id, req.session_epoch, req.full), (42, 0, true));
}

#[test]
fn the_context_maps_every_session_partition_and_topic_id() {
    let mut h = open(42);
    let mut other = data(9);
    other.topic_id = [5; 16];
    let req = h.build(12, [(tp("a", 1), data(0)), (tp("b", 0), other)]);
    assert_eq!(sent(&req), vec![tp("b", 0)]);
    let offsets = req.offsets();
    assert_eq!(offsets.len(), 2);
    assert_eq!(offsets.get(&tp("a", 1)), Some(&0), "idle, not sent");
    assert_eq!(offsets.get(&tp("b", 0)), Some(&9));
    let names = req.topic_names();
    assert_eq!(names.get(&[1; 16]).map(String::as_str), Some("a"));
    assert_eq!(names.get(&[5; 16]).map(String::as_str), Some("b"));
}

#[test]
fn close_hands_back_the_id_once() {
    let mut h = open(42);
    assert_eq!(h.close(), Some(42));
    assert_eq!(h.close(), None);
    assert_eq!(h.build(12, [(tp("a", 0), data(0))]).session_epoch, 0);
}

#[test]
fn topics_group_partitions_in_wanted_order() {
    let mut h = FetchSessionHandler::new();
    let req = h.build(
        12,
        [
            (tp("b", 1), data(4)),
            (tp("a", 0), data(5)),
            (tp("b", 0), data(6)),
        ],
    );
    let topics = req.topics();
    let shape: Vec<(&str, Vec<(i32, i64)>)> = topics
        .iter()
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| (p.partition, p.fetch_offset))
                .collect();
            (t.topic.as_str(), parts)
        })
        .collect();
    assert_eq!(
        shape,
        vec![("b", vec![(1, 4), (0, 6)]), ("a", vec![(0, 5)])]
    );
    let first = topics.first().and_then(|t| t.partitions.first());
    assert_eq!(
        first.map(|p| (p.current_leader_epoch, p.partition_max_bytes)),
        Some((3, 1024))
    );
}

// ---- Model check: a broker following KIP-227 ends up with exactly what was wanted. ----
//
// The broker is the test kit's model of KIP-227 (`crate::testing::FetchSessions`), the one
// the scenario tests run against. It panics on what no client may send: a partition twice
// in one request, or both sent and forgotten; forgetting in a full fetch, or forgetting a
// partition the session does not hold.

/// The broker the model check talks to.
const BROKER: i32 = 1;

/// The Fetch request for `req`. The sent partitions are grouped by topic name and id, not
/// by name alone as [`SessionFetch::topics`] does: the rounds give partitions of one topic
/// different ids, which a consistent metadata view never does.
fn wire(req: &SessionFetch) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (tp, p) in &req.to_send {
        let partition = p.to_wire(tp.partition);
        match topics
            .iter_mut()
            .find(|t| *t.topic == *tp.topic && t.topic_id == p.topic_id)
        {
            Some(t) => t.partitions.push(partition),
            None => topics.push(FetchTopic {
                topic: tp.topic.to_string(),
                topic_id: p.topic_id,
                partitions: vec![partition],
            }),
        }
    }
    FetchRequest {
        session_id: req.session_id,
        session_epoch: req.session_epoch,
        topics,
        forgotten_topics_data: req.forgotten_topics(),
        ..FetchRequest::default()
    }
}

/// The topic of a topic id in [`UNIVERSE`] ("a" is re-created now and then).
fn topic_of(id: &[u8; 16]) -> String {
    match id[0] {
        1 | 2 => "a",
        9 => "b",
        _ => "<unknown id>",
    }
    .to_owned()
}

/// A partition as the broker can tell it apart: with its topic id from v13, by name only
/// below (no topic id on the wire).
fn as_keyed(version: i16, p: &PartitionFetch) -> PartitionFetch {
    PartitionFetch {
        topic_id: if version >= 13 { p.topic_id } else { [0; 16] },
        ..*p
    }
}

/// What the broker serves: each partition of `served`, named from its topic id from v13.
fn served_of(version: i16, served: &FetchRequest) -> Vec<(TopicPartition, PartitionFetch)> {
    served
        .topics
        .iter()
        .flat_map(|t| {
            let name = if version >= 13 {
                topic_of(&t.topic_id)
            } else {
                t.topic.clone()
            };
            t.partitions.iter().map(move |p| {
                let fetch = PartitionFetch {
                    topic_id: t.topic_id,
                    fetch_offset: p.fetch_offset,
                    current_leader_epoch: p.current_leader_epoch,
                    max_bytes: p.partition_max_bytes,
                };
                (tp(&name, p.partition), as_keyed(version, &fetch))
            })
        })
        .collect()
}

/// One fetch round.
#[derive(Debug, Clone)]
struct Round {
    version: i16,
    /// Per partition of the universe: not wanted, or wanted with (offset, topic id, epoch).
    wanted: Vec<Option<(i64, u8, i32)>>,
    fate: Fate,
}

#[derive(Debug, Clone, Copy)]
enum Fate {
    /// The broker answers.
    Answered,
    /// The broker answers with an error it makes up (not a session error).
    Failed(i16),
    /// The broker processes the request, then the connection drops.
    LostAfter,
    /// The connection drops before the broker sees the request.
    LostBefore,
    /// The broker evicts the session before the request arrives.
    Evicted,
}

const UNIVERSE: [(&str, i32); 5] = [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)];

fn round() -> impl Strategy<Value = Round> {
    let wanted = proptest::collection::vec(
        proptest::option::of((0i64..3, 1u8..3, 0i32..2)),
        UNIVERSE.len(),
    );
    let version = prop_oneof![Just(6i16), Just(12), Just(13), Just(13), Just(12)];
    let fate = prop_oneof![
        6 => Just(Fate::Answered),
        1 => Just(Fate::Failed(7)),
        1 => Just(Fate::LostAfter),
        1 => Just(Fate::LostBefore),
        1 => Just(Fate::Evicted),
    ];
    (version, wanted, fate).prop_map(|(version, wanted, fate)| Round {
        version,
        wanted,
        fate,
    })
}

fn wanted_of(round: &Round) -> Vec<(TopicPartition, PartitionFetch)> {
    UNIVERSE
        .iter()
        .zip(&round.wanted)
        .filter_map(|((topic, partition), w)| {
            w.map(|(offset, id, epoch)| {
                // Topic "a" is re-created now and then (its id changes); "b" never is.
                let id_byte = if *topic == "a" { id } else { 9 };
                let p = PartitionFetch {
                    topic_id: [id_byte; 16],
                    fetch_offset: offset,
                    current_leader_epoch: epoch,
                    max_bytes: 100,
                };
                (tp(topic, *partition), p)
            })
        })
        .collect()
}

proptest! {
    #[test]
    fn the_broker_always_serves_what_was_wanted(
        gives_sessions in any::<bool>(),
        rounds in proptest::collection::vec(round(), 1..40),
    ) {
        let mut broker = FetchSessions::default();
        broker.mode = if gives_sessions { SessionMode::Kafka } else { SessionMode::Off };
        let mut h = FetchSessionHandler::new();
        for round in rounds {
            let v = round.version;
            let wanted = wanted_of(&round);
            let req = h.build(v, wanted.clone());
            let want: BTreeMap<_, _> = wanted.iter().cloned().collect();
            let session: BTreeMap<_, _> = req.session.clone().into_iter().collect();
            prop_assert_eq!(&session, &want, "the answer may carry exactly the wanted partitions");
            if req.full {
                prop_assert_eq!(req.to_send.len(), want.len());
                prop_assert!(req.forgotten.is_empty(), "forgotten partitions in a full fetch");
            }
            if v < 7 {
                prop_assert_eq!((req.session_id, req.session_epoch), (0, -1));
            } else {
                prop_assert!(req.session_epoch >= 0);
                prop_assert_eq!(req.full, req.session_epoch == 0);
                prop_assert!(req.full || req.session_id != 0, "an incremental fetch without a session");
            }
            if let Fate::Evicted = round.fate {
                broker.evict_all();
            }
            match round.fate {
                Fate::LostBefore => h.handle_error(),
                Fate::LostAfter => {
                    let _ = broker.receive(BROKER, v, &wire(&req), topic_of);
                    h.handle_error();
                }
                Fate::Failed(code) => h.handle_response(req.session_id, code),
                Fate::Answered | Fate::Evicted => match broker.receive(BROKER, v, &wire(&req), topic_of) {
                    Ok((served, answer)) => {
                        let served = served_of(v, &served);
                        let count = served.len();
                        let served: BTreeMap<_, _> = served.into_iter().collect();
                        prop_assert_eq!(served.len(), count, "a partition held twice");
                        let want: BTreeMap<_, _> =
                            want.iter().map(|(tp, p)| (tp.clone(), as_keyed(v, p))).collect();
                        prop_assert_eq!(&served, &want, "broker view differs from the wanted set");
                        let id = answer.finish(FetchResponse::default()).session_id;
                        h.handle_response(id, 0);
                    }
                    Err(resp) => {
                        // Only eviction or a lost answer can break a session.
                        let code = resp.error_code;
                        prop_assert!(code == NOT_FOUND, "unexpected error {}", code);
                        h.handle_response(0, code);
                    }
                },
            }
        }
    }
}
