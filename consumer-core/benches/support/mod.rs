//! What the benches share: the records they feed the decoder, and a consumer driven
//! through poll cycles against scripted brokers.

pub mod cycle;

use bytes::Bytes;
use consumer_core::record::{Record, TimestampType};

/// Record `offset` with a `key-NNNNNN` key and a `value_len`-byte semi-random value (so
/// compressed variants do real work).
pub fn bench_record(offset: i64, value_len: usize) -> Record {
    let value: Vec<u8> = (0..value_len)
        .map(|j| (offset as u8).wrapping_mul(31).wrapping_add(j as u8 / 4))
        .collect();
    Record {
        offset,
        timestamp: 1_700_000_000_000 + offset,
        timestamp_type: TimestampType::CreateTime,
        key: Some(Bytes::from(format!("key-{offset:06}"))),
        value: Some(Bytes::from(value)),
        headers: Vec::new(),
    }
}
