//! Control records: the transaction markers (and other broker markers) in control batches.

use super::{RecordBatch, RecordError, RecordErrorKind};
use crate::codec::DecodeError;

/// What a control record marks, from the type field of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// The producer's transaction was aborted (type 0).
    Abort,
    /// The producer's transaction was committed (type 1).
    Commit,
    /// Any other marker (leader change, KRaft snapshot markers, ...): skipped by consumers.
    Other(i16),
}

/// The key of a control record: `version i16, type i16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecord {
    /// Key schema version (0 today; newer versions are read as 0, like the Java client).
    pub version: i16,
    /// The marker type.
    pub kind: ControlRecordType,
}

impl ControlRecord {
    /// Parses a control record key.
    pub fn parse(key: &[u8]) -> Result<Self, DecodeError> {
        let (Some(v), Some(t)) = (key.get(0..2), key.get(2..4)) else {
            return Err(DecodeError::Truncated {
                what: "control record key",
                needed: 4,
                remaining: key.len(),
            });
        };
        let version = i16::from_be_bytes([v[0], v[1]]);
        if version < 0 {
            return Err(DecodeError::Invalid {
                what: "control record key",
                detail: format!("negative version {version}"),
            });
        }
        let kind = match i16::from_be_bytes([t[0], t[1]]) {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Other(other),
        };
        Ok(Self { version, kind })
    }

    /// The 4-byte key of a version-0 control record of `kind`.
    pub fn key(kind: ControlRecordType) -> [u8; 4] {
        let t: i16 = match kind {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Other(t) => t,
        };
        let t = t.to_be_bytes();
        [0, 0, t[0], t[1]]
    }
}

impl RecordBatch {
    /// For a control batch, the marker in its first record; `None` for a data batch
    /// (or a control batch emptied by compaction).
    pub fn control_record(&self) -> Result<Option<ControlRecord>, RecordError> {
        if !self.is_control() {
            return Ok(None);
        }
        let Some(first) = self.records()?.next().transpose()? else {
            return Ok(None);
        };
        let key = first.key.ok_or_else(|| {
            self.error(RecordErrorKind::Malformed(DecodeError::UnexpectedNull {
                what: "control record key",
            }))
        })?;
        ControlRecord::parse(&key)
            .map(Some)
            .map_err(|e| self.error(e.into()))
    }
}
