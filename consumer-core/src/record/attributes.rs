//! The attribute bits of a batch: codec, timestamp type and flags.

use super::RecordErrorKind;

/// Mask of the compression codec id (bits 0–2), shared by all record formats.
pub(crate) const CODEC_MASK: i16 = 0x07;
/// Bit 3: the timestamps are the broker's append time (magic 1 and 2).
pub(crate) const LOG_APPEND_TIME_BIT: i16 = 0x08;
/// Bit 4: the batch belongs to a transaction (magic 2).
pub(crate) const TRANSACTIONAL_BIT: i16 = 0x10;
/// Bit 5: the batch holds control records (magic 2).
pub(crate) const CONTROL_BIT: i16 = 0x20;
/// Bit 6: the base timestamp field holds the delete horizon (magic 2, KIP-534).
pub(crate) const DELETE_HORIZON_BIT: i16 = 0x40;

/// A compression codec, as named by the attribute bits 0–2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (id 0).
    #[default]
    None,
    /// gzip (id 1), cargo feature `gzip`.
    Gzip,
    /// Snappy (id 2), raw or xerial-framed, cargo feature `snappy`.
    Snappy,
    /// LZ4 frame format (id 3), cargo feature `lz4`.
    Lz4,
    /// Zstandard (id 4, magic 2 only), cargo feature `zstd`.
    Zstd,
}

impl Compression {
    /// All codecs, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec named by the low three bits of `attributes`.
    pub fn from_attributes(attributes: i16) -> Result<Self, RecordErrorKind> {
        Self::from_id((attributes & CODEC_MASK) as u8)
    }

    /// The codec with wire id `id`.
    pub fn from_id(id: u8) -> Result<Self, RecordErrorKind> {
        match id {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            id => Err(RecordErrorKind::UnknownCompression { id }),
        }
    }

    /// The wire id.
    pub fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// The name used by the Java client's `compression.type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// True when this build can (de)compress the codec (its cargo feature is on).
    pub fn is_enabled(self) -> bool {
        match self {
            Self::None => true,
            Self::Gzip => cfg!(feature = "gzip"),
            Self::Snappy => cfg!(feature = "snappy"),
            Self::Lz4 => cfg!(feature = "lz4"),
            Self::Zstd => cfg!(feature = "zstd"),
        }
    }
}

/// What a record's timestamp means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer (attribute bit 3 clear).
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch (attribute bit 3 set).
    LogAppendTime,
    /// No timestamp at all (magic 0 messages); the timestamp is -1.
    NoTimestamp,
}

impl TimestampType {
    /// The type named by bit 3 of the attributes of a magic 1 or 2 batch.
    pub fn from_attributes(attributes: i16) -> Self {
        if attributes & LOG_APPEND_TIME_BIT != 0 {
            Self::LogAppendTime
        } else {
            Self::CreateTime
        }
    }
}
