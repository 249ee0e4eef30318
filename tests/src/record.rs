//! Record descriptions shared by the producers and consumers.

use std::collections::BTreeMap;
use std::fmt;

/// A record to produce: where it goes and exactly what it contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Target partition.
    pub partition: i32,
    /// Key; `None` produces a null key.
    pub key: Option<Vec<u8>>,
    /// Value; `None` produces a null value (tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers, in order. Names may repeat.
    pub headers: Vec<(String, Vec<u8>)>,
    /// CreateTime timestamp in ms since the epoch; `None` lets the client pick.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// A record with a value and nothing else, for `partition`.
    pub fn new(partition: i32, value: impl Into<Vec<u8>>) -> Record {
        Record {
            partition,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    /// A record with a null value (tombstone) for `partition`.
    pub fn tombstone(partition: i32) -> Record {
        Record {
            partition,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Record {
        self.key = Some(key.into());
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Record {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the CreateTime timestamp (ms since the epoch).
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Record {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
}

/// Record compression codec, as named by Kafka clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing as produced by the Java client and librdkafka).
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Every codec, `None` first.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The client-side name (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The codec id in a record batch's attributes (bits 0..2).
    pub fn attribute_id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record as it was handed to a producer, with what the broker reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducedRecord {
    /// The record exactly as produced.
    pub record: Record,
    /// The offset assigned by the broker, when the producer reports it
    /// (the Python producer does; kcat does not).
    pub offset: Option<i64>,
    /// The timestamp the broker acknowledged, when reported.
    pub timestamp_ms: Option<i64>,
}

/// What a produce call did: every record, in the order it was sent.
///
/// Within one partition the order is the input order (and therefore the
/// offset order); across partitions the order is unspecified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Produced {
    /// The topic produced to.
    pub topic: String,
    /// The codec the producer was configured with.
    pub compression: Compression,
    /// The records, in send order.
    pub records: Vec<ProducedRecord>,
}

impl Produced {
    /// Number of records produced.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True if nothing was produced.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records of each partition, in offset order.
    pub fn by_partition(&self) -> BTreeMap<i32, Vec<&ProducedRecord>> {
        let mut m: BTreeMap<i32, Vec<&ProducedRecord>> = BTreeMap::new();
        for r in &self.records {
            m.entry(r.record.partition).or_default().push(r);
        }
        m
    }
}

/// A record read back by one of the harness consumers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms since the epoch) as delivered.
    pub timestamp_ms: i64,
    /// Key (`None` = null).
    pub key: Option<Vec<u8>>,
    /// Value (`None` = null).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ConsumedRecord {
    /// True if key, value and headers equal those of `r`
    /// (partition is compared too; offset and timestamp are not).
    pub fn matches(&self, r: &Record) -> bool {
        self.partition == r.partition
            && self.key == r.key
            && self.value == r.value
            && self.headers == r.headers
    }
}

/// Groups consumed records by partition, each in offset order.
pub fn consumed_by_partition(records: &[ConsumedRecord]) -> BTreeMap<i32, Vec<&ConsumedRecord>> {
    let mut m: BTreeMap<i32, Vec<&ConsumedRecord>> = BTreeMap::new();
    for r in records {
        m.entry(r.partition).or_default().push(r);
    }
    for v in m.values_mut() {
        v.sort_by_key(|r| r.offset);
    }
    m
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `-` for None, hex otherwise.
pub(crate) fn opt_hex(b: &Option<Vec<u8>>) -> String {
    match b {
        None => "-".into(),
        Some(b) => hex(b),
    }
}

pub(crate) fn opt_unhex(s: &str) -> Option<Option<Vec<u8>>> {
    if s == "-" {
        Some(None)
    } else {
        unhex(s).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b = vec![0u8, 1, 0x7f, 0x80, 0xff];
        assert_eq!(hex(&b), "00017f80ff");
        assert_eq!(unhex(&hex(&b)), Some(b));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(opt_unhex("-"), Some(None));
    }
}
