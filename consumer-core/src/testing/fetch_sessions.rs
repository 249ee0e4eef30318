//! The broker side of incremental fetch sessions (KIP-227) for the simulated cluster.
//!
//! Off by default (answers session id 0, as Tansu does); [`SessionMode::Kafka`] keeps
//! sessions as a Kafka broker does; [`SessionMode::Echo`] echoes the request's session id
//! and otherwise ignores sessions, as librdkafka's mock cluster does.

use std::collections::{BTreeMap, BTreeSet};

use crate::codec::messages::fetch::{FetchPartition, FetchTopic};
use crate::codec::messages::{FetchRequest, FetchResponse};
use crate::error_code::ErrorCode;
use crate::topic_partition::TopicPartition;

/// How the brokers treat fetch sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMode {
    /// No sessions: every answer has session id 0.
    #[default]
    Off,
    /// Sessions as a Kafka broker keeps them.
    Kafka,
    /// The request's session id is echoed, nothing else (librdkafka's mock cluster).
    Echo,
}

/// A fetch request as the session layer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSeen {
    /// The broker.
    pub broker: i32,
    /// The session id sent.
    pub session_id: i32,
    /// The epoch sent.
    pub epoch: i32,
    /// The partitions sent, with their fetch offsets.
    pub sent: Vec<(TopicPartition, i64)>,
    /// The partitions forgotten.
    pub forgotten: Vec<TopicPartition>,
    /// The session id answered.
    pub answered_id: i32,
    /// The top-level error answered, or 0.
    pub error: i16,
    /// Every partition the request fetched (sent and idle), with its fetch offset.
    pub fetched: Vec<(TopicPartition, i64)>,
}

/// A partition as a broker keys it in a session: (name, id, partition), the name empty
/// when fetching by id (v13+), the id zero when fetching by name.
type Key = (String, [u8; 16], i32);

#[derive(Debug)]
struct Session {
    broker: i32,
    epoch: i32,
    by_id: bool,
    partitions: BTreeMap<Key, FetchPartition>,
}

/// What the answer to one fetch must say about its session.
#[derive(Debug, Clone)]
pub(crate) struct SessionAnswer {
    session_id: i32,
    /// On an incremental fetch: the partitions sent; the others are answered only when
    /// they have records or an error.
    sent: Option<BTreeSet<Key>>,
}

impl SessionAnswer {
    /// `resp` (the answer for every fetched partition) as this session answers it.
    pub(crate) fn finish(&self, mut resp: FetchResponse) -> FetchResponse {
        resp.session_id = self.session_id;
        if let Some(sent) = &self.sent {
            for t in &mut resp.responses {
                t.partitions.retain(|p| {
                    let key = (t.topic.clone(), t.topic_id, p.partition_index);
                    sent.contains(&key)
                        || p.error_code != 0
                        || p.records.as_ref().is_some_and(|r| !r.is_empty())
                });
            }
            resp.responses.retain(|t| !t.partitions.is_empty());
        }
        resp
    }
}

/// The fetch sessions of every broker.
#[derive(Debug, Default)]
pub struct FetchSessions {
    /// How the brokers treat sessions.
    pub mode: SessionMode,
    sessions: BTreeMap<i32, Session>,
    last_id: i32,
    /// Every fetch request received, in order.
    pub log: Vec<SessionSeen>,
}

impl FetchSessions {
    /// Brokers forget every session (as when a broker's session cache evicts them).
    pub fn evict_all(&mut self) {
        self.sessions.clear();
    }

    /// Every session expects another epoch than the client's next one.
    pub fn skew_epochs(&mut self) {
        for s in self.sessions.values_mut() {
            s.epoch += 7;
        }
    }

    /// The number of sessions the brokers hold.
    pub fn open(&self) -> usize {
        self.sessions.len()
    }

    /// Applies `req` to its session: the request to serve (every partition of the
    /// session) and what the answer must say; or the error answer. `topic_name` names a
    /// topic id (for [`SessionSeen`]).
    ///
    /// Panics on what no client may send: a partition twice in one request, or both sent
    /// and forgotten; in [`SessionMode::Kafka`], forgetting a partition in a full fetch or
    /// one its session does not hold.
    pub(crate) fn receive(
        &mut self,
        broker: i32,
        version: i16,
        req: &FetchRequest,
        topic_name: impl Fn(&[u8; 16]) -> String,
    ) -> Result<(FetchRequest, SessionAnswer), FetchResponse> {
        let by_id = version >= 13;
        let key = |t: &FetchTopic, p: i32| -> Key {
            if by_id {
                (String::new(), t.topic_id, p)
            } else {
                (t.topic.clone(), [0; 16], p)
            }
        };
        let name = |k: &Key| -> TopicPartition {
            let topic = if by_id { topic_name(&k.1) } else { k.0.clone() };
            TopicPartition::new(topic, k.2)
        };
        let sent: Vec<(Key, FetchPartition)> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (key(t, p.partition), p.clone()))
            })
            .collect();
        let forgotten: Vec<Key> = req
            .forgotten_topics_data
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    if by_id {
                        (String::new(), t.topic_id, *p)
                    } else {
                        (t.topic.clone(), [0; 16], *p)
                    }
                })
            })
            .collect();
        let distinct: BTreeSet<&Key> = sent.iter().map(|(k, _)| k).collect();
        assert_eq!(distinct.len(), sent.len(), "a partition sent twice");
        if let Some(k) = forgotten.iter().find(|k| distinct.contains(k)) {
            panic!("{} both sent and forgotten", name(k));
        }
        let mut seen = SessionSeen {
            broker,
            session_id: req.session_id,
            epoch: req.session_epoch,
            sent: sent
                .iter()
                .map(|(k, p)| (name(k), p.fetch_offset))
                .collect(),
            forgotten: forgotten.iter().map(&name).collect(),
            answered_id: 0,
            error: 0,
            fetched: sent
                .iter()
                .map(|(k, p)| (name(k), p.fetch_offset))
                .collect(),
        };
        let outcome = match self.mode {
            _ if version < 7 => Ok((
                req.clone(),
                SessionAnswer {
                    session_id: 0,
                    sent: None,
                },
            )),
            SessionMode::Off => Ok((
                req.clone(),
                SessionAnswer {
                    session_id: 0,
                    sent: None,
                },
            )),
            SessionMode::Echo => Ok((
                req.clone(),
                SessionAnswer {
                    session_id: req.session_id,
                    sent: None,
                },
            )),
            SessionMode::Kafka => self.kafka(broker, by_id, req, &sent, &forgotten),
        };
        match &outcome {
            Ok((served, answer)) => {
                seen.answered_id = answer.session_id;
                seen.fetched = served
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(move |p| (key(t, p.partition), p.fetch_offset))
                    })
                    .map(|(k, o)| (name(&k), o))
                    .collect();
            }
            Err(resp) => {
                seen.error = resp.error_code;
                seen.fetched.clear();
            }
        }
        self.log.push(seen);
        outcome
    }

    fn kafka(
        &mut self,
        broker: i32,
        by_id: bool,
        req: &FetchRequest,
        sent: &[(Key, FetchPartition)],
        forgotten: &[Key],
    ) -> Result<(FetchRequest, SessionAnswer), FetchResponse> {
        let fail = |code: ErrorCode| FetchResponse {
            error_code: code.code(),
            ..FetchResponse::default()
        };
        if req.session_epoch <= 0 {
            assert!(forgotten.is_empty(), "a full fetch forgets partitions");
            if req.session_id != 0 {
                // A full request closes the session it names.
                self.sessions.remove(&req.session_id);
            }
            if req.session_epoch < 0 {
                return Ok((
                    req.clone(),
                    SessionAnswer {
                        session_id: 0,
                        sent: None,
                    },
                ));
            }
            self.last_id += 1;
            let session = Session {
                broker,
                epoch: 1,
                by_id,
                partitions: sent.iter().cloned().collect(),
            };
            self.sessions.insert(self.last_id, session);
            return Ok((
                req.clone(),
                SessionAnswer {
                    session_id: self.last_id,
                    sent: None,
                },
            ));
        }
        let Some(session) = self
            .sessions
            .get_mut(&req.session_id)
            .filter(|s| s.broker == broker)
        else {
            return Err(fail(ErrorCode::FetchSessionIdNotFound));
        };
        if session.epoch != req.session_epoch {
            return Err(fail(ErrorCode::InvalidFetchSessionEpoch));
        }
        if session.by_id != by_id {
            return Err(fail(ErrorCode::FetchSessionTopicIdError));
        }
        // As Kafka: the sent partitions are added or updated first, then forgotten ones go.
        for (k, p) in sent {
            session.partitions.insert(k.clone(), p.clone());
        }
        for k in forgotten {
            assert!(
                session.partitions.remove(k).is_some(),
                "{k:?} forgotten but not in session {}",
                req.session_id
            );
        }
        session.epoch = if session.epoch == i32::MAX {
            1
        } else {
            session.epoch + 1
        };
        let mut topics: Vec<FetchTopic> = Vec::new();
        for ((topic, topic_id, _), p) in &session.partitions {
            match topics
                .iter_mut()
                .find(|t| &t.topic == topic && &t.topic_id == topic_id)
            {
                Some(t) => t.partitions.push(p.clone()),
                None => topics.push(FetchTopic {
                    topic: topic.clone(),
                    topic_id: *topic_id,
                    partitions: vec![p.clone()],
                }),
            }
        }
        let served = FetchRequest {
            topics,
            forgotten_topics_data: Vec::new(),
            ..req.clone()
        };
        let answer = SessionAnswer {
            session_id: req.session_id,
            sent: Some(sent.iter().map(|(k, _)| k.clone()).collect()),
        };
        Ok((served, answer))
    }
}
