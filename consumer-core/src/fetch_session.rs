//! Incremental fetch sessions (KIP-227): per broker, which partitions a Fetch request
//! must carry and with which session id and epoch.
//!
//! A fetch session lets a broker remember the partitions a client fetches (with their
//! offsets, leader epochs and size limits). After a *full* request opens a session, each
//! *incremental* request only names the partitions that were added or whose fetch data
//! changed, plus the partitions to forget; the broker answers only partitions that have
//! something to say (records, a new watermark, an error) — including partitions of the
//! session that this request did not name. The client side of that contract is
//! [`FetchSessionHandler`], one per broker.
//!
//! ```text
//!   next request  │ session_id │ epoch │ meaning
//!   ──────────────┼────────────┼───────┼───────────────────────────────────────────────
//!   sessionless   │ 0          │ -1    │ full fetch, no session (Fetch < v7)
//!   open          │ 0          │ 0     │ full fetch, please create a session
//!   reopen        │ id         │ 0     │ full fetch, close session `id`, create a new one
//!   incremental   │ id         │ n ≥ 1 │ changes since epoch n - 1 of session `id`
//!   close         │ id         │ -1    │ close session `id` (answered as sessionless)
//! ```
//!
//! The epoch after `i32::MAX` is 1: 0 and -1 are reserved.
//!
//! # What the brokers this project tests against do
//! * The librdkafka 2.x mock cluster (`rd_kafka_mock_handle_Fetch` in
//!   `src/rdkafka_mock_handlers.c`) reads the session id and epoch, then *echoes the
//!   request's session id* in the answer and ignores the epoch and the forgotten topics.
//!   A client that opens with id 0 is therefore always answered id 0: every fetch stays
//!   full, which this handler does on its own (an answer with id 0 means "no session").
//! * Tansu 0.6.0 (`tansu-broker/src/broker/fetch.rs`) ignores the session fields and
//!   always answers session id 0, serving exactly the partitions of each request. Same
//!   outcome: full fetches every time. Neither broker can exercise incremental fetches;
//!   those are covered by the sans-IO tests (and would be by a real Kafka broker).
//!
//! Both were also observed (integration tests with debug logs, librdkafka 2.0.2 at Fetch
//! v11 and Tansu 0.6.0) answering session id 0 to every fetch, which stayed full.
//!
//! # Differences from the Java client's `FetchSessionHandler`
//! The semantics follow it (full requests replace the session view, incremental ones
//! add, alter and forget; `FETCH_SESSION_ID_NOT_FOUND` starts over with id 0; other
//! errors and lost requests close the old session while opening a new one). This handler
//! also starts a new session when the request switches between topic names (< v13) and
//! topic ids (v13+), since a broker rejects that mix, and treats an incremental answer
//! naming a different session id as a broken session.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::{Equivalent, IndexMap};
use log::{debug, info};

use crate::codec::messages::fetch::{
    FetchPartition, FetchTopic, ForgottenTopic, FINAL_SESSION_EPOCH, FIRST_TOPIC_ID_VERSION,
    INITIAL_SESSION_EPOCH, INVALID_SESSION_ID,
};
use crate::error_code::ErrorCode;
use crate::topic_partition::TopicPartition;

/// The first Fetch version with sessions (session id, epoch, forgotten topics).
pub(crate) const FIRST_SESSION_VERSION: i16 = 7;

/// What a fetch request says about one partition; a session remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionFetch {
    /// The topic id (all zero when unknown or when fetching by name).
    pub topic_id: [u8; 16],
    /// The offset to fetch from.
    pub fetch_offset: i64,
    /// The leader epoch the client knows, or -1.
    pub current_leader_epoch: i32,
    /// The most bytes to return for this partition.
    pub max_bytes: i32,
}

impl PartitionFetch {
    /// The wire form of this partition.
    fn to_wire(self, partition: i32) -> FetchPartition {
        FetchPartition {
            partition,
            current_leader_epoch: self.current_leader_epoch,
            fetch_offset: self.fetch_offset,
            partition_max_bytes: self.max_bytes,
            ..FetchPartition::default()
        }
    }
}

/// A partition of a session: a topic-partition whose topic name is shared by the
/// session's partitions of that topic, so a full request copies no name. Hashed and
/// compared as the [`TopicPartition`] it stands for, which looks it up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey {
    /// The topic name.
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
}

impl SessionKey {
    /// The topic-partition it stands for.
    pub(crate) fn to_topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&*self.topic, self.partition)
    }
}

// The derived `Hash` of both hashes the topic as a `str`, then the partition: equal keys
// hash alike.
impl Equivalent<SessionKey> for TopicPartition {
    fn equivalent(&self, key: &SessionKey) -> bool {
        self.partition == key.partition && *key.topic == *self.topic
    }
}

/// One fetch request as the session handler decided it.
///
/// Every partition its answer may carry (the sent ones and, on an incremental request,
/// the idle ones of the session) is in the handler's session until the answer is in:
/// [`FetchSessionHandler::fetched_at`] and [`FetchSessionHandler::topic_of`] read
/// the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionFetch {
    /// The session id to send.
    pub session_id: i32,
    /// The session epoch to send.
    pub session_epoch: i32,
    /// True for a full request (every wanted partition is sent; the session view is
    /// replaced); false for an incremental one.
    pub full: bool,
    /// The partitions to put in the request, in the order wanted: all of them on a full
    /// request, the added or changed ones on an incremental one.
    pub to_send: Vec<(SessionKey, PartitionFetch)>,
    /// Partitions (with the topic id the session knows them by) to remove from the
    /// session. Always empty on a full request.
    pub forgotten: Vec<(TopicPartition, [u8; 16])>,
    /// Every partition the answer may carry, with the fetch data the broker holds for it
    /// (a copy of the session, for the tests).
    #[cfg(test)]
    pub session: HashMap<TopicPartition, PartitionFetch>,
}

impl SessionFetch {
    /// The request's topics, grouped by topic in the order first wanted.
    pub(crate) fn topics(&self) -> Vec<FetchTopic> {
        let mut topics: Vec<FetchTopic> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, (tp, data)) in self.to_send.iter().enumerate() {
            let partition = data.to_wire(tp.partition);
            // Partitions of one topic usually come together: the last topic first.
            let at = match topics.last() {
                Some(t) if *t.topic == *tp.topic => Some(topics.len() - 1),
                _ => index.get(&*tp.topic).copied(),
            };
            match at.and_then(|i| topics.get_mut(i)) {
                Some(t) => t.partitions.push(partition),
                None => {
                    index.insert(&tp.topic, topics.len());
                    // Sized for the run of this topic, rather than grown by doubling.
                    let run = self
                        .to_send
                        .iter()
                        .skip(i)
                        .take_while(|(t, _)| t.topic == tp.topic);
                    let mut partitions = Vec::with_capacity(run.count());
                    partitions.push(partition);
                    topics.push(FetchTopic {
                        topic: tp.topic.to_string(),
                        topic_id: data.topic_id,
                        partitions,
                    });
                }
            }
        }
        topics
    }

    /// The request's forgotten topics. Grouped by name and id together, so a topic that
    /// was re-created (same name, new id) forgets its old id separately.
    pub(crate) fn forgotten_topics(&self) -> Vec<ForgottenTopic> {
        let mut topics: Vec<ForgottenTopic> = Vec::new();
        let mut index: HashMap<(&str, [u8; 16]), usize> = HashMap::new();
        for (tp, topic_id) in &self.forgotten {
            let key = (tp.topic.as_str(), *topic_id);
            match index.get(&key).and_then(|&i| topics.get_mut(i)) {
                Some(t) => t.partitions.push(tp.partition),
                None => {
                    index.insert(key, topics.len());
                    topics.push(ForgottenTopic {
                        topic: tp.topic.clone(),
                        topic_id: *topic_id,
                        partitions: vec![tp.partition],
                    });
                }
            }
        }
        topics
    }

    /// The fetch offset the broker answers `tp` from, if the answer may contain it.
    #[cfg(test)]
    pub(crate) fn offset_of(&self, tp: &TopicPartition) -> Option<i64> {
        self.session.get(tp).map(|p| p.fetch_offset)
    }

    /// Every partition the answer may carry, with the offset the broker fetches it from.
    #[cfg(test)]
    pub(crate) fn offsets(&self) -> HashMap<TopicPartition, i64> {
        self.session
            .iter()
            .map(|(tp, p)| (tp.clone(), p.fetch_offset))
            .collect()
    }

    /// The topic of each topic id in the session, to name the topics of an answer by id.
    #[cfg(test)]
    pub(crate) fn topic_names(&self) -> HashMap<[u8; 16], String> {
        self.session
            .iter()
            .filter(|(_, p)| p.topic_id != [0; 16])
            .map(|(tp, p)| (p.topic_id, tp.topic.clone()))
            .collect()
    }
}

/// The partitions whose wanted fetch data may differ from what a session holds, with
/// that data (None: no longer wanted), for an incremental request.
pub(crate) type Changes = Vec<(TopicPartition, Option<PartitionFetch>)>;

/// The kind of the request awaiting its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outstanding {
    /// Below v7: no session fields at all.
    Sessionless,
    /// A full request (epoch 0).
    Full,
    /// An incremental request of the current session.
    Incremental,
}

/// The client side of one broker's fetch session. At most one request may await its
/// answer: call [`build`](Self::build) for a request, then exactly one of
/// [`handle_response`](Self::handle_response) or [`handle_error`](Self::handle_error).
#[derive(Debug, Clone)]
pub(crate) struct FetchSessionHandler {
    /// The session id for the next request (0: none).
    session_id: i32,
    /// The epoch for the next request (0: full; ≥ 1: incremental).
    epoch: i32,
    /// The partitions the broker holds in the session, as last sent (a full request's in
    /// its order).
    partitions: SessionMap,
    /// The topic of each topic id in `partitions`, with how many partitions have it.
    topic_ids: HashMap<[u8; 16], (Arc<str>, usize)>,
    /// Whether the session's partitions are keyed by topic id (v13+) or by name.
    by_topic_id: bool,
    /// The request built and not yet answered.
    outstanding: Option<Outstanding>,
    /// The next incremental request compares every wanted partition with the session,
    /// not only those said to have changed.
    resync: bool,
}

impl Default for FetchSessionHandler {
    fn default() -> Self {
        Self::new()
    }
}

impl FetchSessionHandler {
    /// A handler with no session: its first request (from v7) opens one.
    pub(crate) fn new() -> Self {
        Self {
            session_id: INVALID_SESSION_ID,
            epoch: INITIAL_SESSION_EPOCH,
            partitions: SessionMap::default(),
            topic_ids: HashMap::new(),
            by_topic_id: false,
            outstanding: None,
            resync: false,
        }
    }

    /// The index in the session of `tp` and the fetch offset the session holds for it:
    /// where the answer to the last request reads it from, if that answer may carry it.
    /// `guess` is tried first, which is right without a lookup when the answer follows
    /// the order of a full request (as brokers answer).
    pub(crate) fn fetched_at(&self, tp: &TopicPartition, guess: usize) -> Option<(usize, i64)> {
        match self.partitions.get_index(guess) {
            Some((key, p)) if tp.equivalent(key) => Some((guess, p.fetch_offset)),
            _ => self
                .partitions
                .get_full(tp)
                .map(|(i, _, p)| (i, p.fetch_offset)),
        }
    }

    /// The topic the session knows by `topic_id`, to name the topics of an answer by id.
    pub(crate) fn topic_of(&self, topic_id: &[u8; 16]) -> Option<&Arc<str>> {
        self.topic_ids.get(topic_id).map(|(name, _)| name)
    }

    /// The changes given to [`build_changes`](Self::build_changes) may miss some (the
    /// caller lost track of its partitions): the next incremental request compares all.
    pub(crate) fn resync(&mut self) {
        self.resync = true;
    }

    /// The session id the next request will carry (0: none).
    #[cfg(test)]
    pub(crate) fn session_id(&self) -> i32 {
        self.session_id
    }

    /// The epoch the next request will carry, from v7 (0: a full request).
    #[cfg(test)]
    pub(crate) fn next_epoch(&self) -> i32 {
        self.epoch
    }

    /// Decides the next request to this broker at Fetch `version`, for the `wanted`
    /// partitions (in priority order) with their fetch data, comparing all of them with
    /// the session.
    ///
    /// A request built while an earlier one is still unanswered counts that one as lost.
    #[cfg(test)]
    pub(crate) fn build(
        &mut self,
        version: i16,
        wanted: impl IntoIterator<Item = (TopicPartition, PartitionFetch)>,
    ) -> SessionFetch {
        let wanted: Vec<_> = wanted.into_iter().collect();
        let all = || wanted.iter().map(|(tp, d)| (tp, *d));
        self.build_changes(version, all, None::<fn() -> Changes>)
    }

    /// Like `build`, for a caller that knows which partitions changed: `wanted` (called
    /// only for a full request, or to compare all) gives every wanted partition in
    /// priority order; `changes`, when given, every partition whose wanted data may differ
    /// from the session's since the last request, so an incremental request costs what
    /// changed, not what the session holds. Without `changes`, or after
    /// [`resync`](Self::resync), all are compared.
    pub(crate) fn build_changes<'a, W>(
        &mut self,
        version: i16,
        wanted: impl FnOnce() -> W,
        changes: Option<impl FnOnce() -> Changes>,
    ) -> SessionFetch
    where
        W: Iterator<Item = (&'a TopicPartition, PartitionFetch)>,
    {
        if self.outstanding.is_some() {
            debug!(
                "fetch session {}: earlier request never answered",
                self.session_id
            );
            self.handle_error();
        }
        if version < FIRST_SESSION_VERSION {
            // No sessions at this version; a session the broker may hold simply expires.
            self.reset();
            self.outstanding = Some(Outstanding::Sessionless);
            return self.full_request(INVALID_SESSION_ID, FINAL_SESSION_EPOCH, wanted());
        }
        let by_topic_id = version >= FIRST_TOPIC_ID_VERSION;
        if self.epoch != INITIAL_SESSION_EPOCH && by_topic_id != self.by_topic_id {
            // A session keyed by names cannot continue with ids, nor the reverse.
            debug!(
                "fetch session {}: topic id use changed; reopening",
                self.session_id
            );
            self.epoch = INITIAL_SESSION_EPOCH;
        }
        self.by_topic_id = by_topic_id;
        if self.epoch == INITIAL_SESSION_EPOCH {
            self.outstanding = Some(Outstanding::Full);
            return self.full_request(self.session_id, INITIAL_SESSION_EPOCH, wanted());
        }
        let (to_send, forgotten) = match changes.filter(|_| !self.resync) {
            Some(changes) => self.apply_changes(by_topic_id, changes()),
            None => self.compare_all(by_topic_id, wanted()),
        };
        self.resync = false;
        self.outstanding = Some(Outstanding::Incremental);
        debug!(
            "fetch session {} epoch {}: {} sent, {} forgotten, {} in session",
            self.session_id,
            self.epoch,
            to_send.len(),
            forgotten.len(),
            self.partitions.len()
        );
        SessionFetch {
            session_id: self.session_id,
            session_epoch: self.epoch,
            full: false,
            to_send,
            forgotten,
            #[cfg(test)]
            session: self.session_map(),
        }
    }

    /// An incremental request's partitions from the changes alone: each one whose data
    /// differs from the session's is sent (added or altered), each one no longer wanted
    /// is forgotten.
    fn apply_changes(&mut self, by_topic_id: bool, changes: Changes) -> (Sent, Forgotten) {
        let mut to_send = Vec::new();
        let mut forgotten = Vec::new();
        for (tp, new) in changes {
            let old = self.partitions.get(&tp).copied();
            match (old, new) {
                (None, None) => {}
                (Some(old), None) => {
                    self.remove(&tp);
                    forgotten.push((tp, old.topic_id));
                }
                (Some(old), Some(new)) if old == new => {}
                (old, Some(new)) => {
                    // A re-created topic (new id) is a different partition to a broker
                    // keyed by ids: forget the old one. By name, the update replaces it.
                    if let Some(old) = old.filter(|o| by_topic_id && o.topic_id != new.topic_id) {
                        forgotten.push((tp.clone(), old.topic_id));
                    }
                    let key = SessionKey {
                        topic: Arc::from(tp.topic.as_str()),
                        partition: tp.partition,
                    };
                    self.insert(key.clone(), new);
                    to_send.push((key, new));
                }
            }
        }
        (to_send, forgotten)
    }

    /// An incremental request's partitions from comparing the whole session with
    /// everything wanted.
    fn compare_all<'a>(
        &mut self,
        by_topic_id: bool,
        wanted: impl Iterator<Item = (&'a TopicPartition, PartitionFetch)>,
    ) -> (Sent, Forgotten) {
        let wanted: SessionMap = keyed(wanted).collect();
        let mut to_send = Vec::new();
        let mut forgotten = Vec::new();
        let mut kept = SessionMap::with_capacity_and_hasher(wanted.len(), Default::default());
        let session = std::mem::take(&mut self.partitions);
        for (tp, old) in &session {
            match wanted.get(tp) {
                None => forgotten.push((tp.to_topic_partition(), old.topic_id)),
                Some(new) if new == old => {
                    kept.insert(tp.clone(), *old);
                }
                Some(new) => {
                    // A re-created topic (new id) is a different partition to a broker
                    // keyed by ids: forget the old one. By name, the update replaces it.
                    if by_topic_id && old.topic_id != new.topic_id {
                        forgotten.push((tp.to_topic_partition(), old.topic_id));
                    }
                    to_send.push((tp.clone(), *new));
                    kept.insert(tp.clone(), *new);
                }
            }
        }
        // What is not in the session is added.
        for (tp, new) in wanted {
            if !session.contains_key(&tp) {
                to_send.push((tp.clone(), new));
                kept.insert(tp, new);
            }
        }
        self.set_partitions(kept);
        (to_send, forgotten)
    }

    /// Adds or replaces `tp` in the session.
    fn insert(&mut self, tp: SessionKey, data: PartitionFetch) {
        count_topic_id(&mut self.topic_ids, data.topic_id, &tp.topic, 1);
        if let Some(old) = self.partitions.insert(tp, data) {
            self.forget_topic_id(&old.topic_id);
        }
    }

    /// Removes `tp` from the session.
    fn remove(&mut self, tp: &TopicPartition) {
        if let Some(old) = self.partitions.swap_remove(tp) {
            self.forget_topic_id(&old.topic_id);
        }
    }

    fn forget_topic_id(&mut self, topic_id: &[u8; 16]) {
        if *topic_id == [0; 16] {
            return;
        }
        if let Some(entry) = self.topic_ids.get_mut(topic_id) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                self.topic_ids.remove(topic_id);
            }
        }
    }

    /// Replaces the whole session view.
    fn set_partitions(&mut self, partitions: SessionMap) {
        self.partitions = partitions;
        self.count_topic_ids();
    }

    /// Replaces the whole session view with `wanted`, in its order, keeping the room of
    /// the old one.
    fn set_wanted<'a>(
        &mut self,
        wanted: impl Iterator<Item = (&'a TopicPartition, PartitionFetch)>,
    ) {
        self.partitions.clear();
        for (key, data) in keyed(wanted) {
            self.partitions.insert(key, data);
        }
        self.count_topic_ids();
    }

    /// Counts the topic ids of the session anew.
    fn count_topic_ids(&mut self) {
        self.topic_ids.clear();
        // Partitions of one topic mostly come together: counted in runs.
        let mut run: Option<([u8; 16], &Arc<str>, usize)> = None;
        for (tp, p) in &self.partitions {
            match &mut run {
                Some((id, _, n)) if *id == p.topic_id => *n += 1,
                _ => {
                    if let Some((id, topic, n)) = run.take() {
                        count_topic_id(&mut self.topic_ids, id, topic, n);
                    }
                    run = Some((p.topic_id, &tp.topic, 1));
                }
            }
        }
        if let Some((id, topic, n)) = run {
            count_topic_id(&mut self.topic_ids, id, topic, n);
        }
    }

    /// Applies the answer to the last request: its top-level `error_code` and the
    /// `session_id` it names. An answer with no request awaiting it is ignored.
    pub(crate) fn handle_response(&mut self, session_id: i32, error_code: i16) {
        let Some(kind) = self.outstanding.take() else {
            return;
        };
        if kind == Outstanding::Sessionless {
            return;
        }
        let error = ErrorCode::from_i16(error_code);
        if error == ErrorCode::FetchSessionIdNotFound {
            info!(
                "fetch session {} not found by the broker; starting over",
                self.session_id
            );
            self.reset();
        } else if error != ErrorCode::None {
            info!(
                "fetch session {} failed: {error}; reopening",
                self.session_id
            );
            self.reopen();
        } else if session_id == INVALID_SESSION_ID {
            // No session (the broker has none to give, or closed ours): full again.
            self.session_id = INVALID_SESSION_ID;
            self.epoch = INITIAL_SESSION_EPOCH;
        } else if kind == Outstanding::Full {
            self.session_id = session_id;
            self.epoch = next_epoch(INITIAL_SESSION_EPOCH);
        } else if session_id != self.session_id {
            info!(
                "fetch session {} answered as session {session_id}; reopening",
                self.session_id
            );
            self.reopen();
        } else {
            self.epoch = next_epoch(self.epoch);
        }
    }

    /// The last request got no answer (disconnect, timeout): the broker may or may not
    /// have applied it, so the next request is full, closing the session if there is one.
    pub(crate) fn handle_error(&mut self) {
        if self.outstanding.take() == Some(Outstanding::Sessionless) {
            return;
        }
        self.reopen();
    }

    /// The last answer named a partition outside the session: client and broker disagree
    /// on it, so the next request is full, replacing the session with a new one.
    pub(crate) fn invalidate(&mut self) {
        if self.session_id != INVALID_SESSION_ID {
            info!(
                "fetch session {}: answer outside the session; reopening",
                self.session_id
            );
        }
        self.reopen();
    }

    /// Forgets the session, returning its id if the broker holds one: the caller may send
    /// a Fetch with that id and epoch -1 ([`FINAL_SESSION_EPOCH`]) to close it.
    pub(crate) fn close(&mut self) -> Option<i32> {
        let id = self.session_id;
        self.reset();
        (id != INVALID_SESSION_ID).then_some(id)
    }

    /// No session: the next request opens one.
    fn reset(&mut self) {
        self.session_id = INVALID_SESSION_ID;
        self.epoch = INITIAL_SESSION_EPOCH;
        self.outstanding = None;
    }

    /// The next request is full; it also closes the current session, if any.
    fn reopen(&mut self) {
        self.epoch = INITIAL_SESSION_EPOCH;
        self.outstanding = None;
    }

    fn full_request<'a>(
        &mut self,
        session_id: i32,
        session_epoch: i32,
        wanted: impl Iterator<Item = (&'a TopicPartition, PartitionFetch)>,
    ) -> SessionFetch {
        self.set_wanted(wanted);
        self.resync = false;
        debug!(
            "full fetch (session {session_id}, epoch {session_epoch}) of {} partitions",
            self.partitions.len()
        );
        SessionFetch {
            session_id,
            session_epoch,
            full: true,
            to_send: self
                .partitions
                .iter()
                .map(|(tp, p)| (tp.clone(), *p))
                .collect(),
            forgotten: Vec::new(),
            #[cfg(test)]
            session: self.session_map(),
        }
    }

    #[cfg(test)]
    fn session_map(&self) -> HashMap<TopicPartition, PartitionFetch> {
        self.partitions
            .iter()
            .map(|(tp, p)| (tp.to_topic_partition(), *p))
            .collect()
    }

    #[cfg(test)]
    fn set_epoch(&mut self, epoch: i32) {
        self.epoch = epoch;
    }
}

/// A session's partitions with their fetch data, in the order they were sent. Hashed
/// with foldhash (seeded per process), not SipHash: a full request of 10 000 partitions
/// rebuilds it.
type SessionMap = IndexMap<SessionKey, PartitionFetch, foldhash::fast::RandomState>;

/// Partitions to send in a request, with their fetch data.
type Sent = Vec<(SessionKey, PartitionFetch)>;

/// `n` more partitions of a session have `topic_id`, the id of `topic`.
fn count_topic_id(
    topic_ids: &mut HashMap<[u8; 16], (Arc<str>, usize)>,
    topic_id: [u8; 16],
    topic: &Arc<str>,
    n: usize,
) {
    if topic_id != [0; 16] {
        let entry = topic_ids
            .entry(topic_id)
            .or_insert_with(|| (topic.clone(), 0));
        entry.1 += n;
    }
}

/// `topic` as a shared name: `last` when it names the same topic (partitions of a topic
/// come together), else a new one that becomes `last`.
fn shared_name(last: &mut Option<Arc<str>>, topic: &str) -> Arc<str> {
    match last {
        Some(name) if **name == *topic => name.clone(),
        _ => {
            let name: Arc<str> = Arc::from(topic);
            *last = Some(name.clone());
            name
        }
    }
}

/// `wanted` keyed as a session's partitions, the partitions of a topic sharing its name.
fn keyed<'a, W>(wanted: W) -> impl Iterator<Item = (SessionKey, PartitionFetch)> + use<'a, W>
where
    W: Iterator<Item = (&'a TopicPartition, PartitionFetch)>,
{
    let mut topic = None;
    wanted.map(move |(tp, data)| {
        let key = SessionKey {
            topic: shared_name(&mut topic, &tp.topic),
            partition: tp.partition,
        };
        (key, data)
    })
}
/// Partitions to forget, with the topic id the session knows them by.
type Forgotten = Vec<(TopicPartition, [u8; 16])>;

/// True for the top-level Fetch errors that concern the session, not the partitions:
/// the handler recovers from them with a full fetch.
pub(crate) fn is_session_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::FetchSessionIdNotFound
            | ErrorCode::InvalidFetchSessionEpoch
            | ErrorCode::FetchSessionTopicIdError
    )
}

/// The epoch after `epoch`: 1 follows `i32::MAX`, since 0 and -1 are reserved.
pub(crate) fn next_epoch(epoch: i32) -> i32 {
    if epoch < INITIAL_SESSION_EPOCH {
        FINAL_SESSION_EPOCH
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

#[cfg(test)]
mod tests;
