//! The `response_decoders` check: every API at every version, both directions.
//!
//! Input layout: `[api, version, mode, rest...]`.
//! - `api` picks `ApiKey::ALL[api % len]`, `version` picks `min + version % span` of that
//!   API's range, `mode` picks a [`Mode`].
//! - A decode may fail (that is the common case); it must not panic or allocate more
//!   than the input justifies. When it succeeds, the value is re-encoded at the same
//!   version and decoded again: that must consume every byte and give the same value.

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};

use crate::alloc;
use consumer_core::codec::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, LATEST_VERSION,
};
use consumer_core::codec::messages::*;
use consumer_core::codec::{
    decode_request_frame, decode_response_frame, encode_request_frame, encode_response_frame,
    ApiKey, Decode, Reader, Request, RequestHeader, ResponseHeader,
};

/// What the rest of the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A response frame (header and body) at the chosen version.
    Response,
    /// A request body; the fuzzer gets a valid header for the chosen API and version.
    RequestBody,
    /// A whole request frame, header included (the version comes from the header).
    RequestFrame,
    /// A consumer-protocol subscription (JoinGroup member metadata); API ignored.
    Subscription,
    /// A consumer-protocol assignment (SyncGroup assignment); API ignored.
    Assignment,
}

impl Mode {
    const ALL: [Mode; 5] = [
        Mode::Response,
        Mode::RequestBody,
        Mode::RequestFrame,
        Mode::Subscription,
        Mode::Assignment,
    ];

    fn from_byte(b: u8) -> Mode {
        Self::ALL[usize::from(b) % Self::ALL.len()]
    }

    fn to_byte(self) -> u8 {
        Self::ALL.iter().position(|m| *m == self).unwrap_or(0) as u8
    }
}

/// Builds an input for [`check`]: the inverse of its layout.
pub fn input(api: ApiKey, version: i16, mode: Mode, rest: &[u8]) -> Vec<u8> {
    let index = ApiKey::ALL.iter().position(|a| *a == api).unwrap_or(0) as u8;
    let offset = (version - api.versions().min) as u8;
    let mut out = vec![index, offset, mode.to_byte()];
    out.extend_from_slice(rest);
    out
}

/// Decodes `data` as described in the module docs; panics on any broken invariant.
///
/// Returns whether the decode succeeded (the seeds test wants every seed to).
pub fn check(data: &[u8]) -> bool {
    let [a, v, m, rest @ ..] = data else {
        return false;
    };
    let api = ApiKey::ALL[usize::from(*a) % ApiKey::ALL.len()];
    let range = api.versions();
    let span = (range.max - range.min + 1) as u16;
    let version = range.min + (u16::from(*v) % span) as i16;
    let mode = Mode::from_byte(*m);
    let rest = Bytes::copy_from_slice(rest);
    match mode {
        Mode::Subscription => return subscription(rest),
        Mode::Assignment => return assignment(rest),
        _ => {}
    }
    match api {
        ApiKey::Fetch => one::<FetchRequest>(mode, version, rest, exact),
        ApiKey::ListOffsets => one::<ListOffsetsRequest>(mode, version, rest, exact),
        ApiKey::Metadata => one::<MetadataRequest>(mode, version, rest, exact),
        ApiKey::OffsetCommit => one::<OffsetCommitRequest>(mode, version, rest, exact),
        ApiKey::OffsetFetch => one::<OffsetFetchRequest>(mode, version, rest, exact),
        ApiKey::FindCoordinator => one::<FindCoordinatorRequest>(mode, version, rest, exact),
        ApiKey::JoinGroup => one::<JoinGroupRequest>(mode, version, rest, exact),
        ApiKey::Heartbeat => one::<HeartbeatRequest>(mode, version, rest, exact),
        ApiKey::LeaveGroup => one::<LeaveGroupRequest>(mode, version, rest, exact),
        ApiKey::SyncGroup => one::<SyncGroupRequest>(mode, version, rest, exact),
        ApiKey::SaslHandshake => one::<SaslHandshakeRequest>(mode, version, rest, exact),
        ApiKey::ApiVersions => one::<ApiVersionsRequest>(mode, version, rest, api_versions_exact),
        ApiKey::OffsetForLeaderEpoch => {
            one::<OffsetForLeaderEpochRequest>(mode, version, rest, exact)
        }
        ApiKey::SaslAuthenticate => one::<SaslAuthenticateRequest>(mode, version, rest, exact),
        ApiKey::ConsumerGroupHeartbeat => {
            one::<ConsumerGroupHeartbeatRequest>(mode, version, rest, exact)
        }
    }
}

/// Every response re-encodes exactly...
fn exact<T>(_: &T) -> bool {
    true
}

/// ...except an ApiVersions error UNSUPPORTED_VERSION, which is always written as a v0
/// body whatever the version (KIP-511), dropping the later fields a broker may have sent.
fn api_versions_exact(resp: &ApiVersionsResponse) -> bool {
    resp.error_code != 35
}

fn one<R>(mode: Mode, version: i16, rest: Bytes, exact: fn(&R::Response) -> bool) -> bool
where
    R: Request + PartialEq + Debug,
    R::Response: PartialEq + Debug,
{
    match mode {
        Mode::Response => response::<R>(version, rest, exact),
        Mode::RequestBody => {
            let mut frame = BytesMut::new();
            RequestHeader {
                api_key: R::API_KEY as i16,
                api_version: version,
                correlation_id: 7,
                client_id: Some("fuzz".into()),
            }
            .encode(&mut frame)
            .expect("a header with a short client id encodes");
            frame.extend_from_slice(&rest);
            request::<R>(frame.freeze())
        }
        Mode::RequestFrame => request::<R>(rest),
        Mode::Subscription | Mode::Assignment => unreachable!("handled by check"),
    }
}

fn response<R>(version: i16, frame: Bytes, exact: fn(&R::Response) -> bool) -> bool
where
    R: Request,
    R::Response: PartialEq + Debug,
{
    let name = R::API_KEY.name();
    let len = frame.len();
    let (decoded, peak) = alloc::measure(|| decode_response_frame::<R>(frame, version));
    alloc::assert_justified(name, peak, len, 0);
    let Ok((correlation_id, mut first)) = decoded else {
        return false;
    };
    if !exact(&first) {
        // Compare from the second round on: encode→decode must then be stable.
        first = reencode::<R>(correlation_id, version, &first).1;
    }
    let (header, second, left_over) = reencode::<R>(correlation_id, version, &first);
    assert_eq!(header.correlation_id, correlation_id);
    assert_eq!(
        first, second,
        "{name} response v{version}: decode(encode(x)) != x"
    );
    assert_eq!(
        left_over, 0,
        "{name} response v{version}: bytes of the re-encoding left over"
    );
    true
}

/// Encodes `resp` in a frame and decodes it back: the header, the body and the number
/// of bytes the decoder left unread.
fn reencode<R>(
    correlation_id: i32,
    version: i16,
    resp: &R::Response,
) -> (ResponseHeader, R::Response, usize)
where
    R: Request,
    R::Response: Debug,
{
    let name = R::API_KEY.name();
    let again = encode_response_frame::<R>(correlation_id, version, resp).unwrap_or_else(|e| {
        panic!("{name} response v{version} decoded but does not re-encode: {e}\n{resp:?}")
    });
    let mut r = Reader::new(again.slice(4..));
    let header = ResponseHeader::decode(&mut r, R::API_KEY.response_header_version(version))
        .unwrap_or_else(|e| panic!("{name} response v{version}: re-encoded header: {e}"));
    let body = R::Response::decode(&mut r, version).unwrap_or_else(|e| {
        panic!("{name} response v{version}: re-encoded body does not decode: {e}\n{resp:?}")
    });
    (header, body, r.remaining())
}

fn request<R>(frame: Bytes) -> bool
where
    R: Request + PartialEq + Debug,
{
    let name = R::API_KEY.name();
    let len = frame.len();
    let (decoded, peak) = alloc::measure(|| decode_request_frame::<R>(frame));
    alloc::assert_justified(name, peak, len, 0);
    let Ok((header, first)) = decoded else {
        return false;
    };
    let version = header.api_version;
    let again = encode_request_frame(
        header.correlation_id,
        header.client_id.as_deref(),
        version,
        &first,
    )
    .unwrap_or_else(|e| {
        panic!("{name} request v{version} decoded but does not re-encode: {e}\n{first:?}")
    });
    let mut r = Reader::new(again.slice(4..));
    let header2 = RequestHeader::decode(&mut r)
        .unwrap_or_else(|e| panic!("{name} request v{version}: re-encoded header: {e}"));
    let second = R::decode(&mut r, version).unwrap_or_else(|e| {
        panic!("{name} request v{version}: re-encoded body does not decode: {e}\n{first:?}")
    });
    assert_eq!(header, header2);
    assert_eq!(
        first, second,
        "{name} request v{version}: decode(encode(x)) != x"
    );
    assert!(
        r.is_empty(),
        "{name} request v{version}: {} bytes of the re-encoding left over",
        r.remaining()
    );
    true
}

fn subscription(data: Bytes) -> bool {
    let len = data.len();
    let (decoded, peak) = alloc::measure(|| ConsumerProtocolSubscription::decode_versioned(data));
    alloc::assert_justified("subscription", peak, len, 0);
    let Ok((version, first)) = decoded else {
        return false;
    };
    // Newer versions are read with the newest layout known, so re-encode in that.
    let version = version.min(LATEST_VERSION);
    let again = first
        .encode(version)
        .unwrap_or_else(|e| panic!("subscription v{version} does not re-encode: {e}"));
    let (v2, second) = ConsumerProtocolSubscription::decode_versioned(again)
        .unwrap_or_else(|e| panic!("re-encoded subscription v{version} does not decode: {e}"));
    assert_eq!(v2, version);
    assert_eq!(first, second, "subscription v{version}");
    true
}

fn assignment(data: Bytes) -> bool {
    let len = data.len();
    let (decoded, peak) = alloc::measure(|| ConsumerProtocolAssignment::decode_versioned(data));
    alloc::assert_justified("assignment", peak, len, 0);
    let Ok((version, first)) = decoded else {
        return false;
    };
    let version = version.min(LATEST_VERSION);
    let again = first
        .encode(version)
        .unwrap_or_else(|e| panic!("assignment v{version} does not re-encode: {e}"));
    let (v2, second) = ConsumerProtocolAssignment::decode_versioned(again)
        .unwrap_or_else(|e| panic!("re-encoded assignment v{version} does not decode: {e}"));
    assert_eq!(v2, version);
    assert_eq!(first, second, "assignment v{version}");
    true
}
