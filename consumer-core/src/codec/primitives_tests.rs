//! Property and edge-case tests of the primitives: every writer has a reader that
//! returns what was written and consumes exactly the bytes written.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::{DecodeError, KafkaWrite, Reader};

fn reader(buf: BytesMut) -> Reader {
    Reader::new(buf.freeze())
}

proptest! {
    #[test]
    fn fixed_width_integers(a in any::<i8>(), b in any::<i16>(), c in any::<i32>(), d in any::<i64>(),
                            e in any::<u16>(), f in any::<u32>(), g in any::<f64>(), h in any::<bool>(),
                            u in any::<[u8; 16]>()) {
        let mut w = BytesMut::new();
        w.put_i8(a); w.put_i16(b); w.put_i32(c); w.put_i64(d);
        w.put_u16(e); w.put_u32(f); w.put_f64(g); w.put_bool(h); w.put_uuid(&u);
        prop_assert_eq!(w.len(), 1 + 2 + 4 + 8 + 2 + 4 + 8 + 1 + 16);
        let mut r = reader(w);
        prop_assert_eq!(r.i8()?, a);
        prop_assert_eq!(r.i16()?, b);
        prop_assert_eq!(r.i32()?, c);
        prop_assert_eq!(r.i64()?, d);
        prop_assert_eq!(r.u16()?, e);
        prop_assert_eq!(r.u32()?, f);
        prop_assert_eq!(r.f64()?.to_bits(), g.to_bits());
        prop_assert_eq!(r.bool()?, h);
        prop_assert_eq!(r.uuid()?, u);
        prop_assert!(r.is_empty());
    }

    #[test]
    fn varints(a in any::<u32>(), b in any::<u64>(), c in any::<i32>(), d in any::<i64>()) {
        let mut w = BytesMut::new();
        w.put_uvarint(a); w.put_uvarlong(b); w.put_varint(c); w.put_varlong(d);
        let mut r = reader(w);
        prop_assert_eq!(r.uvarint()?, a);
        prop_assert_eq!(r.uvarlong()?, b);
        prop_assert_eq!(r.varint()?, c);
        prop_assert_eq!(r.varlong()?, d);
        prop_assert!(r.is_empty());
    }

    #[test]
    fn strings_and_bytes(compact in any::<bool>(), s in "\\PC{0,40}", ns in proptest::option::of("\\PC{0,10}"),
                         b in proptest::collection::vec(any::<u8>(), 0..64),
                         nb in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8))) {
        let mut w = BytesMut::new();
        w.put_string(compact, &s).unwrap();
        w.put_nullable_string(compact, ns.as_deref()).unwrap();
        w.put_bytes_field(compact, &b).unwrap();
        w.put_nullable_bytes_field(compact, nb.as_deref()).unwrap();
        let mut r = reader(w);
        prop_assert_eq!(r.string(compact)?, s);
        prop_assert_eq!(r.nullable_string(compact)?, ns);
        prop_assert_eq!(r.bytes(compact)?, Bytes::from(b));
        prop_assert_eq!(r.nullable_bytes(compact)?, nb.map(Bytes::from));
        prop_assert!(r.is_empty());
    }

    #[test]
    fn arrays(compact in any::<bool>(), items in proptest::option::of(proptest::collection::vec(any::<i32>(), 0..20))) {
        let mut w = BytesMut::new();
        w.put_nullable_array(compact, items.as_deref(), |w, v| { w.put_i32(*v); Ok(()) }).unwrap();
        let mut r = reader(w);
        prop_assert_eq!(r.nullable_array(compact, |r| r.i32())?, items);
        prop_assert!(r.is_empty());
    }

    #[test]
    fn tagged_fields(fields in proptest::collection::btree_map(0u32..1000, proptest::collection::vec(any::<u8>(), 0..8), 0..5)) {
        let list: Vec<(u32, &[u8])> = fields.iter().map(|(t, v)| (*t, v.as_slice())).collect();
        let mut w = BytesMut::new();
        w.put_tagged_fields(true, &list).unwrap();
        w.put_i8(7);
        let mut r = reader(w);
        let mut seen = Vec::new();
        r.tagged_fields(true, |tag, field| {
            seen.push((tag, field.take(field.remaining(), "tag")?.to_vec()));
            Ok(true)
        })?;
        let expected: Vec<(u32, Vec<u8>)> = fields.into_iter().collect();
        prop_assert_eq!(seen, expected);
        prop_assert_eq!(r.i8()?, 7);
    }

    /// Whatever the bytes, the readers return an error or a value, never panic, and
    /// never claim more than the input holds.
    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64), compact in any::<bool>()) {
        let input = Bytes::from(data);
        let mut r = Reader::new(input.clone());
        let _ = r.nullable_string(compact);
        let mut r = Reader::new(input.clone());
        if let Ok(Some(b)) = r.nullable_bytes(compact) {
            prop_assert!(b.len() <= input.len());
        }
        let mut r = Reader::new(input.clone());
        if let Ok(Some(n)) = r.array_len(compact) {
            prop_assert!(n <= input.len());
        }
        let mut r = Reader::new(input);
        let _ = r.skip_tagged_fields(true);
    }
}

#[test]
fn known_encodings() {
    // Zigzag: 0 → 0, -1 → 1, 1 → 2, -64 → 127, 64 → 128 (two bytes).
    let cases: [(i32, &[u8]); 5] = [
        (0, &[0]),
        (-1, &[1]),
        (1, &[2]),
        (-64, &[0x7f]),
        (64, &[0x80, 0x01]),
    ];
    for (v, bytes) in cases {
        let mut w = BytesMut::new();
        w.put_varint(v);
        assert_eq!(&w[..], bytes, "varint {v}");
    }
    // Classic string: i16 length; compact: length + 1 as unsigned varint; null: -1 / 0.
    let mut w = BytesMut::new();
    w.put_string(false, "ab").unwrap();
    w.put_string(true, "ab").unwrap();
    w.put_nullable_string(false, None).unwrap();
    w.put_nullable_string(true, None).unwrap();
    assert_eq!(&w[..], &[0, 2, b'a', b'b', 3, b'a', b'b', 0xff, 0xff, 0]);
}

#[test]
fn lengths_are_checked_against_the_input() {
    // An array claiming 1000 elements in 4 bytes is refused before allocating.
    let mut r = Reader::new(Bytes::from_static(&[0, 0, 3, 0xe8, 1, 2, 3, 4]));
    assert_eq!(
        r.array_len(false),
        Err(DecodeError::InvalidLength {
            what: "array",
            len: 1000
        })
    );
    // A string longer than the rest.
    let mut r = Reader::new(Bytes::from_static(&[0, 5, b'a']));
    assert!(matches!(
        r.string(false),
        Err(DecodeError::InvalidLength { .. })
    ));
    // Negative lengths other than -1.
    let mut r = Reader::new(Bytes::from_static(&[0xff, 0xfe]));
    assert!(matches!(
        r.nullable_string(false),
        Err(DecodeError::InvalidLength { len: -2, .. })
    ));
    // Null where not allowed.
    let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff]));
    assert_eq!(
        r.string(false),
        Err(DecodeError::UnexpectedNull { what: "string" })
    );
    // Invalid UTF-8.
    let mut r = Reader::new(Bytes::from_static(&[0, 1, 0xff]));
    assert_eq!(r.string(false), Err(DecodeError::Utf8 { what: "string" }));
    // Truncated integer.
    let mut r = Reader::new(Bytes::from_static(&[0, 1]));
    assert!(matches!(
        r.i32(),
        Err(DecodeError::Truncated {
            needed: 4,
            remaining: 2,
            ..
        })
    ));
}

#[test]
fn overlong_varints_are_refused() {
    // Six continuation bytes for a 32-bit varint.
    let mut r = Reader::new(Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]));
    assert!(matches!(r.uvarint(), Err(DecodeError::Varint { .. })));
    // A fifth byte carrying bits beyond 32.
    let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x7f]));
    assert!(matches!(r.uvarint(), Err(DecodeError::Varint { .. })));
    // u32::MAX is the largest that fits.
    let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]));
    assert_eq!(r.uvarint(), Ok(u32::MAX));
    // Eleven bytes for a varlong.
    let mut r = Reader::new(Bytes::from_static(&[0x80; 11]));
    assert!(matches!(r.uvarlong(), Err(DecodeError::Varint { .. })));
    // A truncated varint.
    let mut r = Reader::new(Bytes::from_static(&[0x80]));
    assert!(matches!(r.uvarint(), Err(DecodeError::Truncated { .. })));
}

#[test]
fn tagged_fields_out_of_order_are_refused() {
    // Two fields: tag 5 then tag 3.
    let mut r = Reader::new(Bytes::from_static(&[2, 5, 0, 3, 0]));
    assert!(matches!(
        r.skip_tagged_fields(true),
        Err(DecodeError::Invalid { .. })
    ));
}

#[test]
fn header_versions_round_trip() {
    use super::{RequestHeader, ResponseHeader};
    for (key, version, flexible) in [(1i16, 11i16, false), (1, 12, true), (18, 3, true)] {
        let h = RequestHeader {
            api_key: key,
            api_version: version,
            correlation_id: 42,
            client_id: Some("me".into()),
        };
        let mut w = BytesMut::new();
        h.encode(&mut w).unwrap();
        // key, version, correlation id, client id (2 + 2 bytes), tagged fields when flexible.
        assert_eq!(w.len(), 2 + 2 + 4 + 4 + usize::from(flexible));
        let mut r = reader(w);
        assert_eq!(RequestHeader::decode(&mut r).unwrap(), h);
        assert!(r.is_empty());
    }
    let mut w = BytesMut::new();
    ResponseHeader { correlation_id: 9 }.encode(&mut w, 1);
    assert_eq!(&w[..], &[0, 0, 0, 9, 0]);
    let mut r = reader(w);
    assert_eq!(ResponseHeader::decode(&mut r, 1).unwrap().correlation_id, 9);
}
