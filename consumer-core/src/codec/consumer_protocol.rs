//! The consumer's embedded protocol: what goes inside the opaque metadata bytes of
//! JoinGroup (a [`ConsumerProtocolSubscription`]) and the assignment bytes of SyncGroup
//! (a [`ConsumerProtocolAssignment`]) when the group's protocol type is "consumer".
//!
//! Both start with an INT16 version and are never flexible. The Java client reads a
//! newer version than it knows with the newest layout it knows and ignores what follows,
//! which only works because new versions only append fields; this module does the same,
//! so members on newer clients can share a group with us.

use bytes::{BufMut, Bytes, BytesMut};

use super::{DecodeError, EncodeError, KafkaWrite, Reader};

/// The group protocol type of consumer groups.
pub const PROTOCOL_TYPE: &str = "consumer";

/// The newest version of both embedded formats this crate knows.
pub const LATEST_VERSION: i16 = 3;

/// One topic and some of its partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicPartitions {
    /// The topic name.
    pub topic: String,
    /// The partition indexes.
    pub partitions: Vec<i32>,
}

/// A member's subscription, sent as protocol metadata in JoinGroup, versions 0–3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerProtocolSubscription {
    /// The subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
    /// The partitions the member owns now, for cooperative rebalancing (v1+).
    pub owned_partitions: Vec<TopicPartitions>,
    /// The generation in which `owned_partitions` were assigned (v2+; -1 when absent).
    pub generation_id: i32,
    /// The member's rack, for rack-aware assignment (v3+).
    pub rack_id: Option<String>,
}

impl Default for ConsumerProtocolSubscription {
    fn default() -> Self {
        Self {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        }
    }
}

/// A member's assignment, sent as the assignment bytes of SyncGroup, versions 0–3.
///
/// All versions share one layout; the version follows the subscription's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerProtocolAssignment {
    /// The partitions assigned to the member.
    pub assigned_partitions: Vec<TopicPartitions>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
}

fn check_encode(what: &'static str, version: i16) -> Result<(), EncodeError> {
    if (0..=LATEST_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(EncodeError::UnsupportedVersion { api: what, version })
    }
}

/// Reads the version header; a negative version has no meaning and is refused.
fn read_version(r: &mut Reader, what: &'static str) -> Result<i16, DecodeError> {
    let version = r.i16()?;
    if version < 0 {
        return Err(DecodeError::UnsupportedVersion { api: what, version });
    }
    Ok(version)
}

fn put_topic_partitions(buf: &mut BytesMut, tps: &[TopicPartitions]) -> Result<(), EncodeError> {
    buf.put_array(false, tps, |b, tp| {
        b.put_string(false, &tp.topic)?;
        b.put_array(false, &tp.partitions, |b, p| {
            b.put_i32(*p);
            Ok(())
        })
    })
}

/// A null array is read as empty: both mean "none" here, and refusing a null would fail
/// a whole rebalance over one odd member.
fn read_topic_partitions(r: &mut Reader) -> Result<Vec<TopicPartitions>, DecodeError> {
    r.array_or_empty(false, |r| {
        let topic = r.string(false)?;
        let partitions = r.array_or_empty(false, |r| r.i32())?;
        Ok(TopicPartitions { topic, partitions })
    })
}

impl ConsumerProtocolSubscription {
    /// Encodes the subscription, version header first.
    pub fn encode(&self, version: i16) -> Result<Bytes, EncodeError> {
        check_encode("ConsumerProtocolSubscription", version)?;
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(version);
        buf.put_array(false, &self.topics, |b, t| b.put_string(false, t))?;
        buf.put_nullable_bytes_field(false, self.user_data.as_deref())?;
        if version >= 1 {
            put_topic_partitions(&mut buf, &self.owned_partitions)?;
        }
        if version >= 2 {
            buf.put_i32(self.generation_id);
        }
        if version >= 3 {
            buf.put_nullable_string(false, self.rack_id.as_deref())?;
        }
        Ok(buf.freeze())
    }

    /// Decodes a subscription of any version; see [`Self::decode_versioned`].
    pub fn decode(data: Bytes) -> Result<Self, DecodeError> {
        Self::decode_versioned(data).map(|(_, s)| s)
    }

    /// Decodes a subscription and returns the version it was written in.
    ///
    /// A version above [`LATEST_VERSION`] is read with the newest layout known and the
    /// rest ignored.
    pub fn decode_versioned(data: Bytes) -> Result<(i16, Self), DecodeError> {
        let mut r = Reader::new(data);
        let version = read_version(&mut r, "ConsumerProtocolSubscription")?;
        let mut out = Self {
            topics: r.array_or_empty(false, |r| r.string(false))?,
            user_data: r.nullable_bytes(false)?,
            ..Self::default()
        };
        if version >= 1 {
            out.owned_partitions = read_topic_partitions(&mut r)?;
        }
        if version >= 2 {
            out.generation_id = r.i32()?;
        }
        if version >= 3 {
            out.rack_id = r.nullable_string(false)?;
        }
        Ok((version, out))
    }
}

impl ConsumerProtocolAssignment {
    /// Encodes the assignment, version header first.
    pub fn encode(&self, version: i16) -> Result<Bytes, EncodeError> {
        check_encode("ConsumerProtocolAssignment", version)?;
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(version);
        put_topic_partitions(&mut buf, &self.assigned_partitions)?;
        buf.put_nullable_bytes_field(false, self.user_data.as_deref())?;
        Ok(buf.freeze())
    }

    /// Decodes an assignment of any version; see [`Self::decode_versioned`].
    pub fn decode(data: Bytes) -> Result<Self, DecodeError> {
        Self::decode_versioned(data).map(|(_, a)| a)
    }

    /// Decodes an assignment and returns the version it was written in.
    ///
    /// Zero bytes decode as an empty assignment (version 0): the coordinator sends that to
    /// a member the leader assigned nothing. Bytes after the known fields are ignored.
    pub fn decode_versioned(data: Bytes) -> Result<(i16, Self), DecodeError> {
        if data.is_empty() {
            return Ok((0, Self::default()));
        }
        let mut r = Reader::new(data);
        let version = read_version(&mut r, "ConsumerProtocolAssignment")?;
        let assigned_partitions = read_topic_partitions(&mut r)?;
        let user_data = r.nullable_bytes(false)?;
        Ok((
            version,
            Self {
                assigned_partitions,
                user_data,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{opt_bytes, opt_string, small_vec, string};
    use proptest::prelude::*;

    fn topic_partitions() -> impl Strategy<Value = TopicPartitions> {
        (string(), small_vec(any::<i32>()))
            .prop_map(|(topic, partitions)| TopicPartitions { topic, partitions })
    }

    fn subscription(v: i16) -> impl Strategy<Value = ConsumerProtocolSubscription> {
        (
            small_vec(string()),
            opt_bytes(),
            small_vec(topic_partitions()),
            any::<i32>(),
            opt_string(),
        )
            .prop_map(move |(topics, user_data, owned, gen, rack)| {
                ConsumerProtocolSubscription {
                    topics,
                    user_data,
                    owned_partitions: if v >= 1 { owned } else { Vec::new() },
                    generation_id: if v >= 2 { gen } else { -1 },
                    rack_id: if v >= 3 { rack } else { None },
                }
            })
    }

    fn assignment() -> impl Strategy<Value = ConsumerProtocolAssignment> {
        (small_vec(topic_partitions()), opt_bytes()).prop_map(|(assigned_partitions, user_data)| {
            ConsumerProtocolAssignment {
                assigned_partitions,
                user_data,
            }
        })
    }

    /// Rewrites the version header and appends bytes, as a newer client would.
    fn as_newer(data: &Bytes, version: i16, extra: &[u8]) -> Bytes {
        let mut b = BytesMut::from(&data[..]);
        b[..2].copy_from_slice(&version.to_be_bytes());
        b.extend_from_slice(extra);
        b.freeze()
    }

    proptest! {
        #[test]
        fn subscription_round_trips((v, s) in (0i16..=LATEST_VERSION).prop_flat_map(|v| (Just(v), subscription(v)))) {
            let data = s.encode(v).unwrap();
            prop_assert_eq!(i16::from_be_bytes([data[0], data[1]]), v);
            prop_assert_eq!(ConsumerProtocolSubscription::decode_versioned(data).unwrap(), (v, s));
        }

        #[test]
        fn assignment_round_trips(v in 0i16..=LATEST_VERSION, a in assignment()) {
            let data = a.encode(v).unwrap();
            prop_assert_eq!(ConsumerProtocolAssignment::decode_versioned(data).unwrap(), (v, a));
        }

        #[test]
        fn newer_versions_are_read_with_the_known_layout(
            s in subscription(LATEST_VERSION),
            a in assignment(),
            newer in (LATEST_VERSION + 1)..=i16::MAX,
            extra in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let data = as_newer(&s.encode(LATEST_VERSION).unwrap(), newer, &extra);
            prop_assert_eq!(ConsumerProtocolSubscription::decode_versioned(data).unwrap(), (newer, s));
            let data = as_newer(&a.encode(LATEST_VERSION).unwrap(), newer, &extra);
            prop_assert_eq!(ConsumerProtocolAssignment::decode_versioned(data).unwrap(), (newer, a));
        }

        #[test]
        fn truncated_input_is_an_error_not_a_panic(s in subscription(LATEST_VERSION), cut in 1usize..64) {
            let data = s.encode(LATEST_VERSION).unwrap();
            if cut < data.len() {
                prop_assert!(ConsumerProtocolSubscription::decode(data.slice(..cut)).is_err());
            }
        }
    }

    #[test]
    fn empty_assignment_bytes_are_an_empty_assignment() {
        assert_eq!(
            ConsumerProtocolAssignment::decode(Bytes::new()).unwrap(),
            ConsumerProtocolAssignment::default()
        );
    }

    #[test]
    fn v0_subscription_layout() {
        let s = ConsumerProtocolSubscription {
            topics: vec!["t".into()],
            user_data: None,
            ..Default::default()
        };
        let data = s.encode(0).unwrap();
        assert_eq!(
            &data[..],
            &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn v3_assignment_layout() {
        let a = ConsumerProtocolAssignment {
            assigned_partitions: vec![TopicPartitions {
                topic: "t".into(),
                partitions: vec![2],
            }],
            user_data: Some(Bytes::new()),
        };
        let data = a.encode(3).unwrap();
        assert_eq!(
            &data[..],
            &[0, 3, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0]
        );
    }

    #[test]
    fn invalid_versions_are_refused() {
        assert!(ConsumerProtocolSubscription::default().encode(4).is_err());
        assert!(ConsumerProtocolAssignment::default().encode(-1).is_err());
        assert!(ConsumerProtocolAssignment::decode(Bytes::from_static(&[0xff, 0xff])).is_err());
        // A lone version header with nothing after it is truncated.
        assert!(ConsumerProtocolSubscription::decode(Bytes::from_static(&[0, 1])).is_err());
    }
}
