//! API keys, the version ranges this crate speaks, and version negotiation.

use std::fmt;

use thiserror::Error;

/// An inclusive range of API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// Lowest version.
    pub min: i16,
    /// Highest version.
    pub max: i16,
}

impl VersionRange {
    /// The range `min..=max`.
    pub const fn new(min: i16, max: i16) -> Self {
        Self { min, max }
    }

    /// True if `v` lies in the range.
    pub const fn contains(&self, v: i16) -> bool {
        v >= self.min && v <= self.max
    }

    /// The overlap of two ranges, if any.
    pub fn intersect(&self, other: &VersionRange) -> Option<VersionRange> {
        let min = self.min.max(other.min);
        let max = self.max.min(other.max);
        (min <= max).then_some(VersionRange { min, max })
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

macro_rules! api_keys {
    ($( $(#[$doc:meta])* $name:ident = $key:literal, $wire:literal, ($min:literal, $max:literal), flexible $flex:expr; )*) => {
        /// The Kafka APIs this consumer speaks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ApiKey {
            $( $(#[$doc])* $name = $key, )*
        }

        impl ApiKey {
            /// Every API this crate speaks.
            pub const ALL: &'static [ApiKey] = &[$(ApiKey::$name),*];

            /// The API key from its wire value, if this crate speaks it.
            pub fn from_i16(key: i16) -> Option<ApiKey> {
                match key {
                    $( $key => Some(ApiKey::$name), )*
                    _ => None,
                }
            }

            /// The API's name as the protocol guide spells it.
            pub const fn name(self) -> &'static str {
                match self { $( ApiKey::$name => $wire, )* }
            }

            /// The versions this crate can encode and decode.
            pub const fn versions(self) -> VersionRange {
                match self { $( ApiKey::$name => VersionRange::new($min, $max), )* }
            }

            /// The first flexible version (compact types and tagged fields), if any.
            pub const fn flexible_from(self) -> Option<i16> {
                match self { $( ApiKey::$name => $flex, )* }
            }
        }
    };
}

api_keys! {
    /// Fetch.
    Fetch = 1, "Fetch", (4, 18), flexible Some(12);
    /// ListOffsets.
    ListOffsets = 2, "ListOffsets", (1, 11), flexible Some(6);
    /// Metadata.
    Metadata = 3, "Metadata", (0, 13), flexible Some(9);
    /// OffsetCommit.
    OffsetCommit = 8, "OffsetCommit", (0, 10), flexible Some(8);
    /// OffsetFetch.
    OffsetFetch = 9, "OffsetFetch", (0, 10), flexible Some(6);
    /// FindCoordinator.
    FindCoordinator = 10, "FindCoordinator", (0, 6), flexible Some(3);
    /// JoinGroup.
    JoinGroup = 11, "JoinGroup", (0, 9), flexible Some(6);
    /// Heartbeat.
    Heartbeat = 12, "Heartbeat", (0, 4), flexible Some(4);
    /// LeaveGroup.
    LeaveGroup = 13, "LeaveGroup", (0, 5), flexible Some(4);
    /// SyncGroup.
    SyncGroup = 14, "SyncGroup", (0, 5), flexible Some(4);
    /// SaslHandshake.
    SaslHandshake = 17, "SaslHandshake", (0, 1), flexible None;
    /// ApiVersions.
    ApiVersions = 18, "ApiVersions", (0, 4), flexible Some(3);
    /// OffsetForLeaderEpoch.
    OffsetForLeaderEpoch = 23, "OffsetForLeaderEpoch", (2, 4), flexible Some(4);
    /// SaslAuthenticate.
    SaslAuthenticate = 36, "SaslAuthenticate", (0, 2), flexible Some(2);
    /// ConsumerGroupHeartbeat (KIP-848).
    ConsumerGroupHeartbeat = 68, "ConsumerGroupHeartbeat", (0, 1), flexible Some(0);
}

impl ApiKey {
    /// True if `version` of this API uses the flexible encoding.
    pub fn is_flexible(self, version: i16) -> bool {
        self.flexible_from().is_some_and(|f| version >= f)
    }

    /// The request header version used at `version` (1 classic, 2 flexible).
    pub fn request_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// The response header version used at `version` (0 classic, 1 flexible).
    ///
    /// ApiVersions always answers with header v0, so that a client that sent a version
    /// the broker does not know can still read the error (KIP-511).
    pub fn response_header_version(self, version: i16) -> i16 {
        if self != ApiKey::ApiVersions && self.is_flexible(version) {
            1
        } else {
            0
        }
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// No version of an API is spoken by both this crate and the broker.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionError {
    /// The ranges do not overlap.
    #[error("no common version of {api}: this client speaks {ours}, the broker {theirs}")]
    NoCommonVersion {
        /// The API.
        api: ApiKey,
        /// The range this crate speaks.
        ours: VersionRange,
        /// The range the broker advertised.
        theirs: VersionRange,
    },
    /// The broker did not advertise the API at all.
    #[error("the broker does not support {api} (this client speaks {ours})")]
    NotSupported {
        /// The API.
        api: ApiKey,
        /// The range this crate speaks.
        ours: VersionRange,
    },
}

/// The versions one broker advertised in its ApiVersions answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerVersions {
    ranges: Vec<(i16, VersionRange)>,
}

impl BrokerVersions {
    /// From (api key, min, max) triples as advertised.
    pub fn new(advertised: impl IntoIterator<Item = (i16, i16, i16)>) -> Self {
        Self {
            ranges: advertised
                .into_iter()
                .map(|(k, min, max)| (k, VersionRange::new(min, max)))
                .collect(),
        }
    }

    /// The range advertised for `api`, if any.
    pub fn advertised(&self, api: ApiKey) -> Option<VersionRange> {
        self.ranges
            .iter()
            .find(|(k, _)| *k == api as i16)
            .map(|(_, r)| *r)
    }

    /// The version to use for `api`: the highest one both sides speak.
    pub fn pick(&self, api: ApiKey) -> Result<i16, VersionError> {
        let ours = api.versions();
        let theirs = self
            .advertised(api)
            .ok_or(VersionError::NotSupported { api, ours })?;
        ours.intersect(&theirs)
            .map(|r| r.max)
            .ok_or(VersionError::NoCommonVersion { api, ours, theirs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_highest_common_version() {
        let b = BrokerVersions::new([(1, 0, 11), (3, 0, 2), (18, 0, 2)]);
        assert_eq!(b.pick(ApiKey::Fetch), Ok(11));
        assert_eq!(b.pick(ApiKey::Metadata), Ok(2));
        assert_eq!(b.pick(ApiKey::ApiVersions), Ok(2));
    }

    #[test]
    fn no_common_version_names_api_and_both_ranges() {
        let b = BrokerVersions::new([(1, 0, 3)]);
        let err = b.pick(ApiKey::Fetch).unwrap_err();
        assert_eq!(
            err,
            VersionError::NoCommonVersion {
                api: ApiKey::Fetch,
                ours: VersionRange::new(4, 18),
                theirs: VersionRange::new(0, 3),
            }
        );
        assert_eq!(
            err.to_string(),
            "no common version of Fetch: this client speaks 4..=18, the broker 0..=3"
        );
        assert!(matches!(
            b.pick(ApiKey::JoinGroup),
            Err(VersionError::NotSupported { .. })
        ));
    }

    #[test]
    fn header_versions_follow_flexibility() {
        assert_eq!(ApiKey::Fetch.request_header_version(11), 1);
        assert_eq!(ApiKey::Fetch.request_header_version(12), 2);
        assert_eq!(ApiKey::Fetch.response_header_version(12), 1);
        assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
        assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
        assert_eq!(ApiKey::SaslHandshake.request_header_version(1), 1);
    }

    #[test]
    fn keys_round_trip() {
        for k in ApiKey::ALL {
            assert_eq!(ApiKey::from_i16(*k as i16), Some(*k));
        }
        assert_eq!(ApiKey::from_i16(0), None);
    }
}
