//! The Kafka wire codec: primitives, headers and one module per API.
//!
//! Every message implements [`Encode`] and [`Decode`] for all versions in its
//! [`ApiKey::versions`] range, in both directions, so the same code serves the consumer
//! and the scripted brokers of the tests.

mod api;
pub mod consumer_protocol;
mod error;
mod header;
pub mod messages;
mod reader;
mod writer;

#[cfg(test)]
mod primitives_tests;
#[cfg(test)]
pub(crate) mod testing;

pub use api::{ApiKey, BrokerVersions, VersionError, VersionRange};
pub use error::{DecodeError, EncodeError};
pub use header::{RequestHeader, ResponseHeader};
pub use reader::Reader;
pub(crate) use writer::KafkaWrite;

use bytes::{Bytes, BytesMut};

/// A message body that can be written at a given version.
pub trait Encode {
    /// Writes the body at `version`.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;
}

/// A message body that can be read at a given version.
pub trait Decode: Sized {
    /// Reads the body at `version`.
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError>;
}

/// A request body, tied to its API and its response.
pub trait Request: Encode + Decode {
    /// The API this request belongs to.
    const API_KEY: ApiKey;
    /// The response body type.
    type Response: Encode + Decode;
}

/// Fails unless `version` is in `api`'s range (for encoders).
pub(crate) fn check_encode_version(api: ApiKey, version: i16) -> Result<(), EncodeError> {
    if api.versions().contains(version) {
        Ok(())
    } else {
        Err(EncodeError::UnsupportedVersion {
            api: api.name(),
            version,
        })
    }
}

/// Fails unless `version` is in `api`'s range (for decoders).
pub(crate) fn check_decode_version(api: ApiKey, version: i16) -> Result<(), DecodeError> {
    if api.versions().contains(version) {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion {
            api: api.name(),
            version,
        })
    }
}

/// Encodes a complete request frame: 4-byte size, header, body.
pub fn encode_request_frame<R: Request>(
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    body: &R,
) -> Result<Bytes, EncodeError> {
    check_encode_version(R::API_KEY, version)?;
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[0; 4]);
    RequestHeader {
        api_key: R::API_KEY as i16,
        api_version: version,
        correlation_id,
        client_id: client_id.map(str::to_owned),
    }
    .encode(&mut buf)?;
    body.encode(&mut buf, version)?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| EncodeError::TooLong {
        what: "request frame",
        len: buf.len(),
    })?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// Encodes a complete response frame: 4-byte size, header, body.
pub fn encode_response_frame<R: Request>(
    correlation_id: i32,
    version: i16,
    body: &R::Response,
) -> Result<Bytes, EncodeError> {
    check_encode_version(R::API_KEY, version)?;
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[0; 4]);
    ResponseHeader { correlation_id }.encode(&mut buf, R::API_KEY.response_header_version(version));
    body.encode(&mut buf, version)?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| EncodeError::TooLong {
        what: "response frame",
        len: buf.len(),
    })?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// Decodes a response frame (without its size prefix) whose request was `R` at `version`.
///
/// Returns the correlation id and the body; trailing bytes are ignored, as newer brokers
/// may append fields this version does not know.
pub fn decode_response_frame<R: Request>(
    frame: Bytes,
    version: i16,
) -> Result<(i32, R::Response), DecodeError> {
    check_decode_version(R::API_KEY, version)?;
    let mut r = Reader::new(frame);
    let header = ResponseHeader::decode(&mut r, R::API_KEY.response_header_version(version))?;
    let body = R::Response::decode(&mut r, version)?;
    Ok((header.correlation_id, body))
}

/// Decodes a request frame (without its size prefix): header and body.
pub fn decode_request_frame<R: Request>(frame: Bytes) -> Result<(RequestHeader, R), DecodeError> {
    let mut r = Reader::new(frame);
    let header = RequestHeader::decode(&mut r)?;
    if header.api_key != R::API_KEY as i16 {
        return Err(DecodeError::Invalid {
            what: "request header",
            detail: format!("api key {} is not {}", header.api_key, R::API_KEY.name()),
        });
    }
    check_decode_version(R::API_KEY, header.api_version)?;
    let body = R::decode(&mut r, header.api_version)?;
    Ok((header, body))
}

/// What every message module needs.
#[allow(unused_imports, reason = "each message module uses a different subset")]
pub(crate) mod prelude {
    pub(crate) use super::{
        check_decode_version, check_encode_version, ApiKey, Decode, DecodeError, Encode,
        EncodeError, KafkaWrite, Reader, Request,
    };
    pub(crate) use bytes::{BufMut, Bytes, BytesMut};
}
