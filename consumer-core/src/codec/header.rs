//! Request and response headers.

use bytes::BufMut;

use super::{ApiKey, DecodeError, EncodeError, KafkaWrite, Reader};

/// A request header (v1 classic, v2 flexible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// The API's key on the wire (kept raw so unknown keys can be decoded and reported).
    pub api_key: i16,
    /// The API version of the body.
    pub api_version: i16,
    /// Matches the response to the request.
    pub correlation_id: i32,
    /// The client's id, for broker logs and quotas.
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// The header version this request uses; v1 for an API this crate does not know.
    pub fn header_version(&self) -> i16 {
        ApiKey::from_i16(self.api_key)
            .map(|k| k.request_header_version(self.api_version))
            .unwrap_or(1)
    }

    /// Writes the header.
    pub fn encode<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
        buf.put_i16(self.api_key);
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        // The client id stays a classic nullable string even in header v2.
        buf.put_nullable_string(false, self.client_id.as_deref())?;
        buf.put_empty_tagged_fields(self.header_version() >= 2);
        Ok(())
    }

    /// Reads a header; the header version follows from the API key and version read.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let api_key = r.i16()?;
        let api_version = r.i16()?;
        let correlation_id = r.i32()?;
        let client_id = r.nullable_string(false)?;
        let header = Self {
            api_key,
            api_version,
            correlation_id,
            client_id,
        };
        r.skip_tagged_fields(header.header_version() >= 2)?;
        Ok(header)
    }
}

/// A response header (v0 classic, v1 flexible).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The correlation id of the request answered.
    pub correlation_id: i32,
}

impl ResponseHeader {
    /// Writes the header in `header_version` (0 or 1).
    pub fn encode<B: BufMut>(&self, buf: &mut B, header_version: i16) {
        buf.put_i32(self.correlation_id);
        buf.put_empty_tagged_fields(header_version >= 1);
    }

    /// Reads the header in `header_version` (0 or 1).
    pub fn decode(r: &mut Reader, header_version: i16) -> Result<Self, DecodeError> {
        let correlation_id = r.i32()?;
        r.skip_tagged_fields(header_version >= 1)?;
        Ok(Self { correlation_id })
    }

    /// Reads only the correlation id, without consuming anything.
    pub fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
        let b: [u8; 4] = frame.get(..4)?.try_into().ok()?;
        Some(i32::from_be_bytes(b))
    }
}
