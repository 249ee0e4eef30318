//! What the consumer core reports to its driver: events and errors.

use std::sync::Arc;

use bytes::Bytes;
use thiserror::Error;

use crate::codec::{DecodeError, VersionError};
use crate::error_code::ErrorCode;
use crate::record::{Header, RecordError, TimestampType};
use crate::topic_partition::{OffsetAndTimestamp, TopicPartition};

/// One record handed to the caller. Key, value and header values are zero-copy slices of
/// the fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// An identifier for an offset lookup started with `Consumer::list_offsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryId(pub u64);

/// Something the driver should know of; drained with `Consumer::poll_event`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
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
}
