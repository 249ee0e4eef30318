//! What the consumer core reports to its driver: events and errors.

use std::sync::Arc;

use bytes::Bytes;
use thiserror::Error;

use crate::codec::{DecodeError, VersionError};
use crate::error_code::ErrorCode;
use crate::record::{Header, RecordError, TimestampType};
use crate::sasl::SaslError;
use crate::topic_partition::{OffsetAndTimestamp, TopicPartition};

/// One record handed to the caller. Key, value and header values are zero-copy slices of
/// the fetch response.
///
/// Fields may be added in later versions; build one (in tests of your own code) with
/// [`ConsumerRecord::new`] and set the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerRecord {
    /// The topic, shared by all records of one fetched partition.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp (ms since the epoch).
    pub timestamp: i64,
    /// What the timestamp means.
    pub timestamp_type: TimestampType,
    /// The leader epoch of the batch, when the broker set one.
    pub leader_epoch: Option<i32>,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value, if any (None for a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<Header>,
}

impl ConsumerRecord {
    /// A record of `topic`/`partition` at `offset`, with no key, value or headers, and no
    /// timestamp (-1, create time): for tests of code that processes records.
    pub fn new(topic: &str, partition: i32, offset: i64) -> Self {
        Self {
            topic: Arc::from(topic),
            partition,
            offset,
            timestamp: -1,
            timestamp_type: TimestampType::CreateTime,
            leader_epoch: None,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    /// The record's topic and partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&*self.topic, self.partition)
    }
}

/// An identifier for an offset lookup started with `Consumer::list_offsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryId(pub u64);

/// An identifier for a commit or committed-offset lookup started by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// Something the driver should know of; drained with `Consumer::poll_event`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The group took these partitions away; commit what was processed of them now.
    /// (Eager protocol: every partition, before rejoining; cooperative: only those moving.)
    PartitionsRevoked(Vec<TopicPartition>),
    /// The group gave these partitions (cooperative: only the new ones).
    PartitionsAssigned(Vec<TopicPartition>),
    /// These partitions were lost without a clean revocation (the member was fenced or
    /// timed out): others may already own them, so do not commit for them.
    PartitionsLost(Vec<TopicPartition>),
    /// A commit finished.
    CommitCompleted {
        /// The commit.
        id: RequestId,
        /// The offsets committed.
        offsets: Vec<(TopicPartition, crate::topic_partition::OffsetAndMetadata)>,
        /// Success, or why not.
        result: Result<(), ConsumerError>,
    },
    /// A lookup of committed offsets finished.
    CommittedFetched {
        /// The lookup.
        id: RequestId,
        /// The committed offset of each partition asked (None when nothing is committed).
        offsets: Result<
            Vec<(
                TopicPartition,
                Option<crate::topic_partition::OffsetAndMetadata>,
            )>,
            ConsumerError,
        >,
    },
    /// An offset lookup finished: for each partition, the offset found (None when no
    /// record matches a timestamp), or the error that ended it.
    OffsetsListed {
        /// The lookup.
        query: QueryId,
        /// Per-partition results, in the order asked.
        offsets: Vec<(
            TopicPartition,
            Result<Option<OffsetAndTimestamp>, ConsumerError>,
        )>,
    },
}

/// An error reported to the caller of `poll` (peer faults never panic; they end up here or
/// in a retry).
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The fetch position is out of range and `auto.offset.reset` is `none`.
    #[error("offset {offset} is out of range for {tp} and auto.offset.reset is none")]
    OffsetOutOfRange {
        /// The partition.
        tp: TopicPartition,
        /// The position that was out of range.
        offset: i64,
    },
    /// A partition has no position and `auto.offset.reset` is `none`.
    #[error("no offset for {tp} and auto.offset.reset is none: seek first")]
    NoOffsetForPartition {
        /// The partition.
        tp: TopicPartition,
    },
    /// Not authorized to read a topic.
    #[error("not authorized to read topic {topic}")]
    TopicAuthorization {
        /// The topic.
        topic: String,
    },
    /// A record batch is corrupt; the position stays before it, so the caller can seek past.
    #[error("corrupt record batch in {tp} at offset {offset}: {source}")]
    CorruptRecord {
        /// The partition.
        tp: TopicPartition,
        /// The position where consumption stopped.
        offset: i64,
        /// What is wrong.
        source: RecordError,
    },
    /// A broker and this client share no version of an API.
    #[error(transparent)]
    UnsupportedVersion(#[from] VersionError),
    /// A broker sent a frame that does not decode.
    #[error("malformed response from node {node}: {source}")]
    Malformed {
        /// The broker.
        node: i32,
        /// The decoding error.
        source: DecodeError,
    },
    /// A broker answered with an error that cannot be retried.
    #[error("{api} failed for {what}: {code}")]
    Broker {
        /// The API.
        api: &'static str,
        /// The partition or resource.
        what: String,
        /// The error code.
        code: ErrorCode,
    },
    /// An offset lookup did not finish in time.
    #[error("offset lookup timed out")]
    Timeout,
    /// A commit was refused because the group rebalanced (the generation moved on, or the
    /// member was removed). Normal while partitions move: the records handed out since
    /// the last successful commit of the partitions concerned may be read again by their
    /// next owner. Keep polling (the member rejoins); commit again after the next records.
    #[error("commit failed: {reason}; the partitions may now belong to another member, which will resume from the last successful commit (keep polling: this member rejoins the group)")]
    CommitFailed {
        /// Why.
        reason: String,
    },
    /// A commit was never sent: the consumer left the group (closed or unsubscribed)
    /// while the commit waited for the group coordinator or for the member to rejoin.
    #[error("commit not sent: {reason}")]
    CommitNotSent {
        /// Why.
        reason: String,
    },
    /// The consumer left its group because the caller did not poll within
    /// max.poll.interval.ms; it rejoins on the next poll.
    #[error("left the group: poll was not called within max.poll.interval.ms ({elapsed_ms} ms since the last poll)")]
    MaxPollIntervalExceeded {
        /// Time since the previous poll.
        elapsed_ms: u128,
    },
    /// A connection could not authenticate (SASL): bad credentials, a mechanism the broker
    /// does not enable, a broker or listener without SASL. Reported once per failed
    /// attempt; the broker is tried again after a backoff.
    #[error(transparent)]
    Authentication(#[from] SaslError),
    /// The partition's log was truncated below the position (an unclean leader election,
    /// KIP-320) and `auto.offset.reset` is `none`: the caller must seek. Returned again
    /// after each retry of the validation until it does.
    #[error("log truncation detected for {tp} at offset {offset} (divergent offset: {divergent_offset:?}) and auto.offset.reset is none: seek first")]
    LogTruncation {
        /// The partition.
        tp: TopicPartition,
        /// The position that was validated.
        offset: i64,
        /// The first offset known to diverge (the end offset of the position's leader
        /// epoch on the new leader), when the broker knows it.
        divergent_offset: Option<i64>,
    },
    /// The group coordinator refused the member for good (e.g. FENCED_INSTANCE_ID,
    /// GROUP_AUTHORIZATION_FAILED, INCONSISTENT_GROUP_PROTOCOL).
    #[error("{api} failed for group {group}: {code}")]
    Group {
        /// The API.
        api: &'static str,
        /// The group.
        group: String,
        /// The error code.
        code: ErrorCode,
    },
}

/// A caller mistake: the call is refused and nothing changes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// The partition is not assigned to this consumer.
    #[error("partition {0} is not assigned to this consumer")]
    NotAssigned(TopicPartition),
    /// Offsets are never negative.
    #[error("invalid offset {offset} for {tp}: offsets are not negative")]
    NegativeOffset {
        /// The partition.
        tp: TopicPartition,
        /// The offset given.
        offset: i64,
    },
    /// The consumer was closed.
    #[error("the consumer is closed")]
    Closed,
    /// `subscribe` and `assign` do not mix; call `unsubscribe` first.
    #[error("subscribe and assign are mutually exclusive: call unsubscribe first")]
    SubscriptionMix,
    /// Group operations need `group.id`.
    #[error("{0} needs a group.id in the configuration")]
    NoGroupId(&'static str),
    /// `poll` was called with nothing subscribed or assigned (Java's
    /// `IllegalStateException`).
    #[error("the consumer is not subscribed to any topic or assigned any partition: call subscribe or assign first")]
    NotSubscribed,
    /// The subscription pattern does not compile.
    #[error("invalid subscription pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The pattern given.
        pattern: String,
        /// Why it does not compile.
        reason: String,
    },
}
