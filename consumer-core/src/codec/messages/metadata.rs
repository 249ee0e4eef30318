//! Metadata (key 3): brokers, topics, partitions and their leaders.

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::Metadata;

/// A topic to describe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataRequestTopic {
    /// The topic id (v10+; all zero when asking by name).
    pub topic_id: [u8; 16],
    /// The topic name (null allowed v10+, when asking by id).
    pub name: Option<String>,
}

/// Metadata request, versions 0–13.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// The topics to describe; `None` asks for all topics.
    ///
    /// Version 0 has no null array and reads an empty one as "all topics", so it cannot
    /// ask for no topic at all: encoding `Some(vec![])` at v0 fails.
    pub topics: Option<Vec<MetadataRequestTopic>>,
    /// Whether the broker may auto-create the topics asked for (v4+; default true).
    pub allow_auto_topic_creation: bool,
    /// Whether to return the cluster's authorized operations (v8–10).
    pub include_cluster_authorized_operations: bool,
    /// Whether to return each topic's authorized operations (v8+).
    pub include_topic_authorized_operations: bool,
}

impl Default for MetadataRequest {
    fn default() -> Self {
        Self {
            topics: None,
            allow_auto_topic_creation: true,
            include_cluster_authorized_operations: false,
            include_topic_authorized_operations: false,
        }
    }
}

/// A broker of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataResponseBroker {
    /// The broker id.
    pub node_id: i32,
    /// The broker's host name.
    pub host: String,
    /// The broker's port.
    pub port: i32,
    /// The broker's rack, if any (v1+).
    pub rack: Option<String>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponsePartition {
    /// The partition's error code, or 0.
    pub error_code: i16,
    /// The partition index.
    pub partition_index: i32,
    /// The leader's broker id, or -1.
    pub leader_id: i32,
    /// The leader epoch (v7+; default -1).
    pub leader_epoch: i32,
    /// All replicas' broker ids.
    pub replica_nodes: Vec<i32>,
    /// The in-sync replicas' broker ids.
    pub isr_nodes: Vec<i32>,
    /// The offline replicas' broker ids (v5+).
    pub offline_replicas: Vec<i32>,
}

impl Default for MetadataResponsePartition {
    fn default() -> Self {
        Self {
            error_code: 0,
            partition_index: 0,
            leader_id: 0,
            leader_epoch: -1,
            replica_nodes: Vec::new(),
            isr_nodes: Vec::new(),
            offline_replicas: Vec::new(),
        }
    }
}

/// One topic of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponseTopic {
    /// The topic's error code, or 0.
    pub error_code: i16,
    /// The topic name (null allowed v12+, for an unknown topic asked for by id).
    pub name: Option<String>,
    /// The topic id (v10+).
    pub topic_id: [u8; 16],
    /// Whether the topic is internal (v1+).
    pub is_internal: bool,
    /// The topic's partitions.
    pub partitions: Vec<MetadataResponsePartition>,
    /// Bit field of authorized operations (v8+; default i32::MIN, "not asked").
    pub topic_authorized_operations: i32,
}

impl Default for MetadataResponseTopic {
    fn default() -> Self {
        Self {
            error_code: 0,
            name: None,
            topic_id: [0; 16],
            is_internal: false,
            partitions: Vec::new(),
            topic_authorized_operations: i32::MIN,
        }
    }
}

/// Metadata response, versions 0–13.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// Throttle time in ms (v3+).
    pub throttle_time_ms: i32,
    /// The brokers of the cluster.
    pub brokers: Vec<MetadataResponseBroker>,
    /// The cluster id (v2+).
    pub cluster_id: Option<String>,
    /// The controller's broker id (v1+; default -1).
    pub controller_id: i32,
    /// The topics.
    pub topics: Vec<MetadataResponseTopic>,
    /// Bit field of the cluster's authorized operations (v8–10; default i32::MIN).
    pub cluster_authorized_operations: i32,
    /// The top-level error code, e.g. REBOOTSTRAP_REQUIRED (v13+).
    pub error_code: i16,
}

impl Default for MetadataResponse {
    fn default() -> Self {
        Self {
            throttle_time_ms: 0,
            brokers: Vec::new(),
            cluster_id: None,
            controller_id: -1,
            topics: Vec::new(),
            cluster_authorized_operations: i32::MIN,
            error_code: 0,
        }
    }
}

impl Request for MetadataRequest {
    const API_KEY: ApiKey = API;
    type Response = MetadataResponse;
}

/// Writes a topic name, nullable only from `nullable_from`.
fn put_topic_name(
    buf: &mut BytesMut,
    flex: bool,
    name: Option<&str>,
    version: i16,
    nullable_from: i16,
) -> Result<(), EncodeError> {
    match name {
        None if version < nullable_from => Err(EncodeError::NullNotAllowed { what: "topic name" }),
        name => buf.put_nullable_string(flex, name),
    }
}

impl Encode for MetadataRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        let write_topic = |b: &mut BytesMut, t: &MetadataRequestTopic| -> Result<(), EncodeError> {
            if version >= 10 {
                b.put_uuid(&t.topic_id);
            }
            put_topic_name(b, flex, t.name.as_deref(), version, 10)?;
            b.put_empty_tagged_fields(flex);
            Ok(())
        };
        match (&self.topics, version) {
            // v0 reads an empty array as "all topics".
            (None, 0) => buf.put_i32(0),
            (Some(t), 0) if t.is_empty() => {
                return Err(EncodeError::NotRepresentable {
                    what: "a metadata request for no topics",
                    version,
                })
            }
            (topics, _) => buf.put_nullable_array(flex, topics.as_deref(), write_topic)?,
        }
        if version >= 4 {
            buf.put_bool(self.allow_auto_topic_creation);
        }
        if (8..=10).contains(&version) {
            buf.put_bool(self.include_cluster_authorized_operations);
        }
        if version >= 8 {
            buf.put_bool(self.include_topic_authorized_operations);
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for MetadataRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut req = Self {
            topics: r.nullable_array(flex, |r| {
                let topic_id = if version >= 10 { r.uuid()? } else { [0; 16] };
                let name = if version >= 10 {
                    r.nullable_string(flex)?
                } else {
                    Some(r.string(flex)?)
                };
                r.skip_tagged_fields(flex)?;
                Ok(MetadataRequestTopic { topic_id, name })
            })?,
            ..Default::default()
        };
        if version == 0 && req.topics.as_ref().is_some_and(Vec::is_empty) {
            req.topics = None;
        }
        if version >= 4 {
            req.allow_auto_topic_creation = r.bool()?;
        }
        if (8..=10).contains(&version) {
            req.include_cluster_authorized_operations = r.bool()?;
        }
        if version >= 8 {
            req.include_topic_authorized_operations = r.bool()?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(req)
    }
}

fn put_i32_array(buf: &mut BytesMut, flex: bool, items: &[i32]) -> Result<(), EncodeError> {
    buf.put_array(flex, items, |b, v| {
        b.put_i32(*v);
        Ok(())
    })
}

impl MetadataResponsePartition {
    fn write(&self, buf: &mut BytesMut, version: i16, flex: bool) -> Result<(), EncodeError> {
        buf.put_i16(self.error_code);
        buf.put_i32(self.partition_index);
        buf.put_i32(self.leader_id);
        if version >= 7 {
            buf.put_i32(self.leader_epoch);
        }
        put_i32_array(buf, flex, &self.replica_nodes)?;
        put_i32_array(buf, flex, &self.isr_nodes)?;
        if version >= 5 {
            put_i32_array(buf, flex, &self.offline_replicas)?;
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }

    fn read(r: &mut Reader, version: i16, flex: bool) -> Result<Self, DecodeError> {
        let mut p = Self {
            error_code: r.i16()?,
            partition_index: r.i32()?,
            leader_id: r.i32()?,
            ..Default::default()
        };
        if version >= 7 {
            p.leader_epoch = r.i32()?;
        }
        p.replica_nodes = r.array(flex, Reader::i32)?;
        p.isr_nodes = r.array(flex, Reader::i32)?;
        if version >= 5 {
            p.offline_replicas = r.array(flex, Reader::i32)?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(p)
    }
}

impl MetadataResponseTopic {
    fn write(&self, buf: &mut BytesMut, version: i16, flex: bool) -> Result<(), EncodeError> {
        buf.put_i16(self.error_code);
        put_topic_name(buf, flex, self.name.as_deref(), version, 12)?;
        if version >= 10 {
            buf.put_uuid(&self.topic_id);
        }
        if version >= 1 {
            buf.put_bool(self.is_internal);
        }
        buf.put_array(flex, &self.partitions, |b, p| p.write(b, version, flex))?;
        if version >= 8 {
            buf.put_i32(self.topic_authorized_operations);
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }

    fn read(r: &mut Reader, version: i16, flex: bool) -> Result<Self, DecodeError> {
        let mut t = Self {
            error_code: r.i16()?,
            name: if version >= 12 {
                r.nullable_string(flex)?
            } else {
                Some(r.string(flex)?)
            },
            ..Default::default()
        };
        if version >= 10 {
            t.topic_id = r.uuid()?;
        }
        if version >= 1 {
            t.is_internal = r.bool()?;
        }
        t.partitions = r.array(flex, |r| MetadataResponsePartition::read(r, version, flex))?;
        if version >= 8 {
            t.topic_authorized_operations = r.i32()?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(t)
    }
}

impl Encode for MetadataResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 3 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_array(flex, &self.brokers, |b, br| {
            b.put_i32(br.node_id);
            b.put_string(flex, &br.host)?;
            b.put_i32(br.port);
            if version >= 1 {
                b.put_nullable_string(flex, br.rack.as_deref())?;
            }
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        if version >= 2 {
            buf.put_nullable_string(flex, self.cluster_id.as_deref())?;
        }
        if version >= 1 {
            buf.put_i32(self.controller_id);
        }
        buf.put_array(flex, &self.topics, |b, t| t.write(b, version, flex))?;
        if (8..=10).contains(&version) {
            buf.put_i32(self.cluster_authorized_operations);
        }
        if version >= 13 {
            buf.put_i16(self.error_code);
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for MetadataResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut resp = Self::default();
        if version >= 3 {
            resp.throttle_time_ms = r.i32()?;
        }
        resp.brokers = r.array(flex, |r| {
            let mut br = MetadataResponseBroker {
                node_id: r.i32()?,
                host: r.string(flex)?,
                port: r.i32()?,
                rack: None,
            };
            if version >= 1 {
                br.rack = r.nullable_string(flex)?;
            }
            r.skip_tagged_fields(flex)?;
            Ok(br)
        })?;
        if version >= 2 {
            resp.cluster_id = r.nullable_string(flex)?;
        }
        if version >= 1 {
            resp.controller_id = r.i32()?;
        }
        resp.topics = r.array(flex, |r| MetadataResponseTopic::read(r, version, flex))?;
        if (8..=10).contains(&version) {
            resp.cluster_authorized_operations = r.i32()?;
        }
        if version >= 13 {
            resp.error_code = r.i16()?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{normalize_roundtrip, opt_string, small_vec, string};
    use crate::codec::{
        decode_request_frame, decode_response_frame, encode_request_frame, encode_response_frame,
    };
    use proptest::prelude::*;

    const MAX: i16 = 13;

    fn request_topic(version: i16) -> impl Strategy<Value = MetadataRequestTopic> {
        (any::<[u8; 16]>(), opt_string()).prop_map(move |(id, name)| {
            if version >= 10 {
                MetadataRequestTopic { topic_id: id, name }
            } else {
                MetadataRequestTopic {
                    topic_id: [0; 16],
                    name: Some(name.unwrap_or_default()),
                }
            }
        })
    }

    fn request(version: i16) -> impl Strategy<Value = MetadataRequest> {
        (
            proptest::option::of(small_vec(request_topic(version))),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(move |(topics, auto, cluster_ops, topic_ops)| {
                let mut req = MetadataRequest {
                    topics,
                    ..Default::default()
                };
                if version == 0 && req.topics.as_ref().is_some_and(Vec::is_empty) {
                    req.topics = None;
                }
                if version >= 4 {
                    req.allow_auto_topic_creation = auto;
                }
                if (8..=10).contains(&version) {
                    req.include_cluster_authorized_operations = cluster_ops;
                }
                if version >= 8 {
                    req.include_topic_authorized_operations = topic_ops;
                }
                req
            })
    }

    fn partition(version: i16) -> impl Strategy<Value = MetadataResponsePartition> {
        (
            any::<i16>(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            small_vec(any::<i32>()),
            small_vec(any::<i32>()),
            small_vec(any::<i32>()),
        )
            .prop_map(move |(err, idx, leader, epoch, replicas, isr, offline)| {
                MetadataResponsePartition {
                    error_code: err,
                    partition_index: idx,
                    leader_id: leader,
                    leader_epoch: if version >= 7 { epoch } else { -1 },
                    replica_nodes: replicas,
                    isr_nodes: isr,
                    offline_replicas: if version >= 5 { offline } else { Vec::new() },
                }
            })
    }

    fn topic(version: i16) -> impl Strategy<Value = MetadataResponseTopic> {
        (
            any::<i16>(),
            opt_string(),
            any::<[u8; 16]>(),
            any::<bool>(),
            small_vec(partition(version)),
            any::<i32>(),
        )
            .prop_map(move |(err, name, id, internal, partitions, ops)| {
                MetadataResponseTopic {
                    error_code: err,
                    name: if version >= 12 {
                        name
                    } else {
                        Some(name.unwrap_or_default())
                    },
                    topic_id: if version >= 10 { id } else { [0; 16] },
                    is_internal: version >= 1 && internal,
                    partitions,
                    topic_authorized_operations: if version >= 8 { ops } else { i32::MIN },
                }
            })
    }

    fn response(version: i16) -> impl Strategy<Value = MetadataResponse> {
        let broker = (any::<i32>(), string(), any::<i32>(), opt_string()).prop_map(
            move |(id, host, port, rack)| MetadataResponseBroker {
                node_id: id,
                host,
                port,
                rack: if version >= 1 { rack } else { None },
            },
        );
        (
            any::<i32>(),
            small_vec(broker),
            opt_string(),
            any::<i32>(),
            small_vec(topic(version)),
            any::<i32>(),
            any::<i16>(),
        )
            .prop_map(
                move |(throttle, brokers, cluster, controller, topics, ops, err)| {
                    MetadataResponse {
                        throttle_time_ms: if version >= 3 { throttle } else { 0 },
                        brokers,
                        cluster_id: if version >= 2 { cluster } else { None },
                        controller_id: if version >= 1 { controller } else { -1 },
                        topics,
                        cluster_authorized_operations: if (8..=10).contains(&version) {
                            ops
                        } else {
                            i32::MIN
                        },
                        error_code: if version >= 13 { err } else { 0 },
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn request_round_trips((v, req) in (0i16..=MAX).prop_flat_map(|v| (Just(v), request(v)))) {
            normalize_roundtrip(&req, v)?;
        }

        #[test]
        fn response_round_trips((v, resp) in (0i16..=MAX).prop_flat_map(|v| (Just(v), response(v)))) {
            normalize_roundtrip(&resp, v)?;
        }
    }

    #[test]
    fn v0_empty_array_means_all_topics() {
        let mut buf = BytesMut::new();
        MetadataRequest::default().encode(&mut buf, 0).unwrap();
        assert_eq!(&buf[..], &[0, 0, 0, 0]);
        let no_topics = MetadataRequest {
            topics: Some(Vec::new()),
            ..Default::default()
        };
        assert!(matches!(
            no_topics.encode(&mut BytesMut::new(), 0),
            Err(EncodeError::NotRepresentable { .. })
        ));
        // From v1 null is "all topics" and an empty array "none".
        let mut buf = BytesMut::new();
        MetadataRequest::default().encode(&mut buf, 1).unwrap();
        assert_eq!(&buf[..], &[0xff, 0xff, 0xff, 0xff]);
        let mut buf = BytesMut::new();
        no_topics.encode(&mut buf, 1).unwrap();
        assert_eq!(&buf[..], &[0, 0, 0, 0]);
    }

    #[test]
    fn null_topic_names_only_where_allowed() {
        let by_id = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                topic_id: [7; 16],
                name: None,
            }]),
            ..Default::default()
        };
        assert!(by_id.encode(&mut BytesMut::new(), 9).is_err());
        assert!(by_id.encode(&mut BytesMut::new(), 10).is_ok());
        let resp = MetadataResponse {
            topics: vec![MetadataResponseTopic::default()],
            ..Default::default()
        };
        assert!(resp.encode(&mut BytesMut::new(), 11).is_err());
        assert!(resp.encode(&mut BytesMut::new(), 12).is_ok());
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_version() {
        for v in [0, MAX] {
            let req = MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    topic_id: [0; 16],
                    name: Some("orders".into()),
                }]),
                allow_auto_topic_creation: v < 4,
                ..Default::default()
            };
            let frame = encode_request_frame(11, Some("c"), v, &req).unwrap();
            let (header, back) = decode_request_frame::<MetadataRequest>(frame.slice(4..)).unwrap();
            assert_eq!((header.api_version, header.correlation_id), (v, 11));
            assert_eq!(back, req);

            let resp = MetadataResponse {
                brokers: vec![MetadataResponseBroker {
                    node_id: 1,
                    host: "localhost".into(),
                    port: 9092,
                    rack: None,
                }],
                topics: vec![MetadataResponseTopic {
                    name: Some("orders".into()),
                    partitions: vec![MetadataResponsePartition {
                        leader_id: 1,
                        replica_nodes: vec![1],
                        isr_nodes: vec![1],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let frame = encode_response_frame::<MetadataRequest>(12, v, &resp).unwrap();
            let (corr, back) =
                decode_response_frame::<MetadataRequest>(frame.slice(4..), v).unwrap();
            assert_eq!(corr, 12);
            assert_eq!(back, resp);
        }
    }
}
