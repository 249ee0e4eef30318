//! What the benches share: the records they feed the decoder, and a consumer driven
//! through poll cycles against scripted brokers.

pub mod cycle;

use bytes::Bytes;
use consumer_core::codec::messages::api_versions::ApiVersion;
use consumer_core::codec::messages::metadata::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use consumer_core::codec::messages::{ApiVersionsResponse, MetadataResponse};
use consumer_core::codec::{encode_response_frame, ApiKey, Request};
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

/// Encodes an answer and strips the size prefix, as the network layer does.
pub fn encode<R: Request>(corr: i32, version: i16, body: &R::Response) -> Bytes {
    encode_response_frame::<R>(corr, version, body)
        .expect("encode answer")
        .slice(4..)
}

/// A broker's ApiVersions answer offering every version this client speaks.
pub fn api_versions() -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: ApiKey::ALL
            .iter()
            .map(|k| ApiVersion {
                api_key: *k as i16,
                min_version: k.versions().min,
                max_version: k.versions().max,
            })
            .collect(),
        ..ApiVersionsResponse::default()
    }
}

/// Metadata of `brokers` brokers (ids 1..) and one topic of `partitions` partitions,
/// partition `p` led by broker `p % brokers + 1`.
pub fn metadata(topic: &str, id: [u8; 16], partitions: usize, brokers: i32) -> MetadataResponse {
    let leader = |p: i32| p % brokers + 1;
    MetadataResponse {
        brokers: (1..=brokers)
            .map(|id| MetadataResponseBroker {
                node_id: id,
                host: format!("broker{id}"),
                port: 9092,
                rack: None,
            })
            .collect(),
        controller_id: 1,
        topics: vec![MetadataResponseTopic {
            name: Some(topic.to_owned()),
            topic_id: id,
            partitions: (0..partitions as i32)
                .map(|p| MetadataResponsePartition {
                    partition_index: p,
                    leader_id: leader(p),
                    leader_epoch: 0,
                    replica_nodes: vec![leader(p)],
                    isr_nodes: vec![leader(p)],
                    ..MetadataResponsePartition::default()
                })
                .collect(),
            ..MetadataResponseTopic::default()
        }],
        ..MetadataResponse::default()
    }
}
