//! The topic key of APIs that moved from names to ids (Fetch v13+, OffsetCommit and
//! OffsetFetch v10+): one of the two is on the wire, the other decodes to its default.

use crate::codec::prelude::*;

/// Writes the topic's id when `by_id`, else its name.
pub(super) fn put_topic(
    buf: &mut BytesMut,
    flex: bool,
    by_id: bool,
    name: &str,
    id: &[u8; 16],
) -> Result<(), EncodeError> {
    if by_id {
        buf.put_uuid(id);
        Ok(())
    } else {
        buf.put_string(flex, name)
    }
}

/// Reads the topic's id when `by_id`, else its name; returns (name, id).
pub(super) fn read_topic(
    r: &mut Reader,
    flex: bool,
    by_id: bool,
) -> Result<(String, [u8; 16]), DecodeError> {
    if by_id {
        Ok((String::new(), r.uuid()?))
    } else {
        Ok((r.string(flex)?, [0; 16]))
    }
}
