//! Variable-length integers read straight from a slice, with a one-byte fast path.
//!
//! Records are decoded from `&[u8]` plus an index rather than through `Reader`, as this is
//! the hot loop of a consumer: most varints in a record are a single byte.

use crate::codec::DecodeError;

#[cold]
fn truncated(what: &'static str) -> DecodeError {
    DecodeError::Truncated {
        what,
        needed: 1,
        remaining: 0,
    }
}

#[cold]
fn malformed(what: &'static str) -> DecodeError {
    DecodeError::Varint { what }
}

/// An unsigned varint of at most `max_bytes` bytes whose value fits in `bits` bits.
#[inline(always)]
fn uvar(
    buf: &[u8],
    pos: &mut usize,
    max_bytes: u32,
    bits: u32,
    what: &'static str,
) -> Result<u64, DecodeError> {
    // One and two bytes cover lengths below 8 KiB and deltas within a batch of 8k records.
    let p = *pos;
    if let Some(&b0) = buf.get(p) {
        if b0 < 0x80 {
            *pos = p + 1;
            return Ok(u64::from(b0));
        }
        if let Some(&b1) = buf.get(p + 1) {
            if b1 < 0x80 {
                *pos = p + 2;
                return Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7);
            }
        }
    }
    uvar_slow(buf, pos, max_bytes, bits, what)
}

#[inline(never)]
fn uvar_slow(
    buf: &[u8],
    pos: &mut usize,
    max_bytes: u32,
    bits: u32,
    what: &'static str,
) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    let mut p = *pos;
    for i in 0..max_bytes {
        let Some(&byte) = buf.get(p) else {
            return Err(truncated(what));
        };
        p += 1;
        let shift = 7 * i;
        let part = u64::from(byte & 0x7f);
        // The last byte may only carry the bits that still fit in the type.
        if shift + 7 > bits && part >> (bits - shift) != 0 {
            return Err(malformed(what));
        }
        value |= part << shift;
        if byte & 0x80 == 0 {
            *pos = p;
            return Ok(value);
        }
    }
    Err(malformed(what))
}

/// A zigzag VARINT (32 bits).
#[inline(always)]
pub(crate) fn varint(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<i32, DecodeError> {
    let v = uvar(buf, pos, 5, 32, what)? as u32;
    Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
}

/// A zigzag VARLONG (64 bits).
#[inline(always)]
pub(crate) fn varlong(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<i64, DecodeError> {
    let v = uvar(buf, pos, 10, 64, what)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::KafkaWrite;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_matches_writer(v: i32) {
            let mut buf = Vec::new();
            buf.put_varint(v);
            let mut pos = 0;
            prop_assert_eq!(varint(&buf, &mut pos, "t")?, v);
            prop_assert_eq!(pos, buf.len());
        }

        #[test]
        fn varlong_matches_writer(v: i64) {
            let mut buf = Vec::new();
            buf.put_varlong(v);
            let mut pos = 0;
            prop_assert_eq!(varlong(&buf, &mut pos, "t")?, v);
            prop_assert_eq!(pos, buf.len());
        }
    }

    #[test]
    fn rejects_overlong_and_truncated() {
        let mut pos = 0;
        // Six continuation bytes: too long for a 32-bit varint.
        assert!(varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], &mut pos, "t").is_err());
        // Fifth byte carries bits beyond 32.
        let mut pos = 0;
        assert!(varint(&[0xff, 0xff, 0xff, 0xff, 0x1f], &mut pos, "t").is_err());
        let mut pos = 0;
        assert_eq!(
            varint(&[0xff, 0xff, 0xff, 0xff, 0x0f], &mut pos, "t"),
            Ok(i32::MIN)
        );
        let mut pos = 0;
        assert!(varint(&[0x80], &mut pos, "t").is_err());
        let mut pos = 0;
        assert!(varlong(&[], &mut pos, "t").is_err());
        // Ten-byte varlong: the last byte may only hold one bit.
        let mut pos = 0;
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(varlong(&max, &mut pos, "t"), Ok(i64::MIN));
        let mut pos = 0;
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03];
        assert!(varlong(&over, &mut pos, "t").is_err());
    }
}
