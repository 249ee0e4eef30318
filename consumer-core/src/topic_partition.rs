//! Topic-partition names and positions.

use std::fmt;

/// A topic and one of its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`-`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// The offset of the next record to fetch, with the leader epoch of the record before it
/// when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    /// The next offset to fetch.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
}

impl FetchPosition {
    /// A position with no known epoch.
    pub fn at(offset: i64) -> Self {
        Self {
            offset,
            leader_epoch: None,
        }
    }
}

/// An offset with its optional leader epoch and metadata, as committed or looked up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetAndMetadata {
    /// The offset.
    pub offset: i64,
    /// The leader epoch of the record before `offset`, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata stored with a commit.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// `offset` (the next offset to consume), with no leader epoch and no metadata.
    pub fn new(offset: i64) -> Self {
        Self {
            offset,
            ..Self::default()
        }
    }

    /// The same offset with `metadata` stored beside it.
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = metadata.into();
        self
    }
}

/// An offset found by timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    /// The earliest offset whose timestamp is at least the one asked for.
    pub offset: i64,
    /// That record's timestamp.
    pub timestamp: i64,
    /// Its leader epoch, if known.
    pub leader_epoch: Option<i32>,
}
