//! Bounded decoding of lz4 frames (the format Kafka's producers write), block by block
//! straight into one output buffer.
//!
//! lz4_flex's `FrameDecoder` decodes each block into a zeroed buffer of its own and hands
//! it out through `Read`, so every byte was written twice. Here each block is decompressed
//! in place at the end of the output, with the output before it as the dictionary when the
//! frame's blocks are linked. Header, block and content checksums are verified when the
//! frame carries them; concatenated and skippable frames are accepted, as by lz4_flex.

use lz4_flex::block::{decompress_into, decompress_into_with_dict, DecompressError};
use twox_hash::XxHash32;

use super::{Compression, RecordErrorKind};

const CODEC: Compression = Compression::Lz4;
const MAGIC: u32 = 0x184D_2204;
/// Skippable frames have magics 0x184D2A50 to 0x184D2A5F.
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
/// How far back a linked block's matches may reach.
const WINDOW: usize = 64 * 1024;

/// Decompresses every frame of `input`, failing if the result would exceed `limit` bytes.
pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordErrorKind> {
    let guess = size_bound(input).unwrap_or(input.len().saturating_mul(4));
    let mut out = Output {
        buf: super::buffer_pool::take_used(guess.min(limit)),
        written: 0,
        limit,
    };
    let mut rest = Input(input);
    while !rest.0.is_empty() {
        frame(&mut rest, &mut out)?;
    }
    out.buf.truncate(out.written);
    Ok(out.buf)
}

/// The output: `buf[..written]` is decoded data, `buf[written..]` initialised room (safe
/// code decodes into initialised memory only): the old bytes of a reused pooled buffer,
/// which the decoder overwrites and never reads, or zeroes where the buffer had to grow,
/// each byte zeroed at most once. Only `buf[..written]` is ever handed out.
struct Output {
    buf: Vec<u8>,
    written: usize,
    limit: usize,
}

impl Output {
    /// Initialised room for up to `max` more bytes, less if the limit is nearer; the `bool`
    /// says whether the limit cut it.
    fn room(&mut self, max: usize) -> (usize, bool) {
        let left = self.limit.saturating_sub(self.written);
        let room = max.min(left);
        let end = self.written + room;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        (room, room < max)
    }

    fn too_large(&self) -> RecordErrorKind {
        RecordErrorKind::DecompressedTooLarge {
            codec: CODEC,
            limit: self.limit,
        }
    }
}

/// The bytes not decoded yet.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], RecordErrorKind> {
        if self.0.len() < n {
            return Err(invalid(format!("frame ends inside its {what}")));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self, what: &str) -> Result<u8, RecordErrorKind> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    fn le32(&mut self, what: &str) -> Result<u32, RecordErrorKind> {
        let mut b = [0; 4];
        b.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_le_bytes(b))
    }
}

fn invalid(detail: String) -> RecordErrorKind {
    RecordErrorKind::Decompression {
        codec: CODEC,
        detail,
    }
}

/// Decodes the frame at the start of `input` onto `out`.
fn frame(input: &mut Input<'_>, out: &mut Output) -> Result<(), RecordErrorKind> {
    let header_start = input.0;
    let magic = input.le32("magic")?;
    if magic & 0xFFFF_FFF0 == SKIPPABLE_MAGIC {
        let len = input.le32("skippable frame size")? as usize;
        input.take(len, "skippable frame")?;
        return Ok(());
    }
    if magic != MAGIC {
        return Err(invalid(format!("wrong magic {magic:#010x}")));
    }
    let flags = input.byte("header")?;
    let block_descriptor = input.byte("header")?;
    if flags >> 6 != 1 || flags & 0x02 != 0 || block_descriptor & 0x8F != 0 {
        return Err(invalid(format!(
            "unsupported frame header {flags:#04x} {block_descriptor:#04x}"
        )));
    }
    let linked = flags & 0x20 == 0;
    let block_checksums = flags & 0x10 != 0;
    let content_checksum = flags & 0x04 != 0;
    let Some(block_max) = block_max(block_descriptor) else {
        let id = block_descriptor >> 4;
        return Err(invalid(format!("unknown block size id {id}")));
    };
    let content_size = if flags & 0x08 != 0 {
        let mut b = [0; 8];
        b.copy_from_slice(input.take(8, "content size")?);
        Some(u64::from_le_bytes(b))
    } else {
        None
    };
    if flags & 0x01 != 0 {
        return Err(invalid(
            "frames with a dictionary id are not supported".into(),
        ));
    }
    let descriptor_len = header_start.len() - input.0.len();
    let header_checksum = input.byte("header checksum")?;
    let described = header_start.get(4..descriptor_len).unwrap_or_default();
    if (XxHash32::oneshot(0, described) >> 8) as u8 != header_checksum {
        return Err(invalid("header checksum mismatch".into()));
    }
    if content_size.is_some_and(|n| n > out.limit.saturating_sub(out.written) as u64) {
        return Err(out.too_large());
    }

    let start = out.written;
    loop {
        let size = input.le32("block size")?;
        if size == 0 {
            break;
        }
        let len = (size & 0x7FFF_FFFF) as usize;
        if len > block_max {
            return Err(invalid(format!("block of {len} bytes over its maximum")));
        }
        let data = input.take(len, "block")?;
        if block_checksums && XxHash32::oneshot(0, data) != input.le32("block checksum")? {
            return Err(invalid("block checksum mismatch".into()));
        }
        if size & 0x8000_0000 != 0 {
            // Stored uncompressed.
            let (room, cut) = out.room(len);
            let dest = out.buf.get_mut(out.written..out.written + room);
            match dest {
                Some(dest) if !cut => dest.copy_from_slice(data),
                _ => return Err(out.too_large()),
            }
            out.written += len;
            continue;
        }
        let (room, cut) = out.room(block_max);
        let (before, after) = out.buf.split_at_mut(out.written);
        let dest = after.get_mut(..room).unwrap_or_default();
        let result = if linked {
            let from = start.max(out.written.saturating_sub(WINDOW));
            decompress_into_with_dict(data, dest, before.get(from..).unwrap_or_default())
        } else {
            decompress_into(data, dest)
        };
        match result {
            Ok(n) => out.written += n,
            Err(DecompressError::OutputTooSmall { .. }) if cut => return Err(out.too_large()),
            Err(e) => return Err(invalid(e.to_string())),
        }
    }
    let decoded = out.buf.get(start..out.written).unwrap_or_default();
    if content_checksum && XxHash32::oneshot(0, decoded) != input.le32("content checksum")? {
        return Err(invalid("content checksum mismatch".into()));
    }
    if content_size.is_some_and(|n| n != decoded.len() as u64) {
        return Err(invalid(format!(
            "content size {} announced, {} decoded",
            content_size.unwrap_or_default(),
            decoded.len()
        )));
    }
    Ok(())
}

/// The largest decoded block the frame's block descriptor allows (its block size id,
/// bits 4-6); None for ids the format does not define.
fn block_max(block_descriptor: u8) -> Option<usize> {
    match (block_descriptor >> 4) & 0x7 {
        4 => Some(64 << 10),
        5 => Some(256 << 10),
        6 => Some(1 << 20),
        7 => Some(4 << 20),
        _ => None,
    }
}

/// An upper bound of the decoded size of the first frame in `input`, from its header and
/// block sizes alone (Kafka's producers do not write the content size): sizing the output
/// once saves copying it on every doubling. Only a capacity hint; `None` if unsure.
fn size_bound(input: &[u8]) -> Option<usize> {
    let le32 = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            input.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    if le32(0)? != MAGIC {
        return None;
    }
    let flags = *input.get(4)?;
    let block_max = block_max(*input.get(5)?)?;
    if flags & 0x08 != 0 {
        // The content size is in the header: exact.
        let raw = input.get(6..14)?;
        return usize::try_from(u64::from_le_bytes(raw.try_into().ok()?)).ok();
    }
    let block_checksum = if flags & 0x10 != 0 { 4 } else { 0 };
    let dict_id = if flags & 0x01 != 0 { 4 } else { 0 };
    // Magic, flags, block descriptor, optional dictionary id, header checksum.
    let mut pos: usize = 4 + 2 + dict_id + 1;
    let mut bound: usize = 0;
    loop {
        let size = le32(pos)?;
        if size == 0 {
            return Some(bound);
        }
        let len = (size & 0x7FFF_FFFF) as usize;
        let stored = size & 0x8000_0000 != 0;
        bound = bound.saturating_add(if stored { len } else { block_max });
        pos = pos.checked_add(4 + len + block_checksum)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};
    use proptest::prelude::*;
    use std::io::{Read, Write};

    /// Compressible, but not trivially: repeats with a drifting pattern and some noise.
    fn sample(len: usize) -> Vec<u8> {
        let mut x = 0x1234_5678u32;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 7 == 0 {
                    (x >> 24) as u8
                } else {
                    (i % 251) as u8
                }
            })
            .collect()
    }

    fn encode(data: &[u8], info: FrameInfo) -> Vec<u8> {
        let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// lz4_flex's own frame decoder, the reference.
    fn reference(frame: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        FrameDecoder::new(frame).read_to_end(&mut out)?;
        Ok(out)
    }

    fn infos() -> Vec<FrameInfo> {
        let mut all = Vec::new();
        for mode in [BlockMode::Independent, BlockMode::Linked] {
            for size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max4MB] {
                for block_sums in [false, true] {
                    for content_sum in [false, true] {
                        for sized in [false, true] {
                            all.push((mode, size, block_sums, content_sum, sized));
                        }
                    }
                }
            }
        }
        all.into_iter()
            .map(|(mode, size, block_sums, content_sum, sized)| {
                FrameInfo::new()
                    .block_mode(mode)
                    .block_size(size)
                    .block_checksums(block_sums)
                    .content_checksum(content_sum)
                    .content_size(sized.then_some(300_000))
            })
            .collect()
    }

    #[test]
    fn every_frame_layout_decodes_like_lz4_flex() {
        let data = sample(300_000);
        for info in infos() {
            let frame = encode(&data, info.clone());
            let got = decompress(&frame, data.len()).unwrap();
            assert_eq!(got, data, "{info:?}");
            assert_eq!(got, reference(&frame).unwrap(), "{info:?}");
            // One byte under the limit is a typed error, not a longer buffer.
            assert!(
                matches!(
                    decompress(&frame, data.len() - 1),
                    Err(RecordErrorKind::DecompressedTooLarge { limit, .. }) if limit == data.len() - 1
                ),
                "{info:?}"
            );
        }
    }

    #[test]
    fn a_reused_output_decodes_over_the_old_bytes_exactly() {
        // A pooled output comes back still holding the previous batch (not zeroed): decoding
        // over those bytes must give what decoding into fresh memory gives.
        let old = vec![0xEE; 300_000];
        let data = sample(300_000);
        for info in infos() {
            let first = decompress(&encode(&old, info.clone()), old.len()).unwrap();
            let address = first.as_ptr();
            drop(super::super::buffer_pool::share(first));
            let frame = encode(&data, info.clone());
            let got = decompress(&frame, data.len()).unwrap();
            assert_eq!(
                got.as_ptr(),
                address,
                "the pooled output is reused: {info:?}"
            );
            assert_eq!(got, data, "{info:?}");
            assert_eq!(got, reference(&frame).unwrap(), "{info:?}");
            drop(super::super::buffer_pool::share(got));
        }
    }

    #[test]
    fn incompressible_blocks_are_stored_and_copied() {
        let mut x = 7u64;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let frame = encode(&noise, FrameInfo::new());
        let first_block = u32::from_le_bytes(frame[7..11].try_into().unwrap());
        assert_ne!(first_block & 0x8000_0000, 0, "the encoder stored it");
        assert_eq!(decompress(&frame, noise.len()).unwrap(), noise);
        assert!(matches!(
            decompress(&frame, 1000),
            Err(RecordErrorKind::DecompressedTooLarge { .. })
        ));
    }

    #[test]
    fn concatenated_skippable_and_empty_input() {
        let (a, b) = (sample(70_000), sample(1_000));
        let mut input = encode(&a, FrameInfo::new());
        // A skippable frame: magic, size, payload.
        input.extend_from_slice(&0x184D_2A53u32.to_le_bytes());
        input.extend_from_slice(&3u32.to_le_bytes());
        input.extend_from_slice(b"xyz");
        input.extend(encode(&b, FrameInfo::new().block_mode(BlockMode::Linked)));
        let got = decompress(&input, 1 << 20).unwrap();
        assert_eq!(got, [a, b].concat());
        assert_eq!(decompress(&[], 10).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn corrupt_frames_are_typed_errors() {
        let data = sample(100_000);
        let info = FrameInfo::new()
            .block_checksums(true)
            .content_checksum(true)
            .content_size(Some(100_000));
        let frame = encode(&data, info);
        let decompression_error = |input: &[u8]| {
            matches!(
                decompress(input, 1 << 20),
                Err(RecordErrorKind::Decompression { .. })
            )
        };
        // Cut anywhere: an error, never a panic or a short result.
        for cut in (0..frame.len()).step_by(97).chain([1, 5, 6, 14, 15, 18]) {
            assert!(decompression_error(&frame[..cut]) || cut == 0, "cut {cut}");
        }
        // Header checksum, a block's data, the content checksum, the magic.
        for at in [14, 30, frame.len() - 2, 0] {
            let mut bad = frame.clone();
            bad[at] ^= 0x40;
            assert!(decompression_error(&bad), "flip at {at}");
        }
        // A content size that does not match what the blocks hold (header checksum
        // recomputed, so that the size check itself is what fails).
        let mut wrong = frame.clone();
        wrong[6..14].copy_from_slice(&99_999u64.to_le_bytes());
        wrong[14] = (XxHash32::oneshot(0, &wrong[4..14]) >> 8) as u8;
        assert!(decompression_error(&wrong));
        // Reserved bits, an unknown block size, a dictionary id, a wrong version: each
        // with a valid header checksum.
        for (at, bits) in [(4, 0x02), (5, 0x01), (5, 0x70), (4, 0x01), (4, 0x80)] {
            wrong = encode(&data, FrameInfo::new());
            wrong[at] ^= bits;
            wrong[6] = (XxHash32::oneshot(0, &wrong[4..6]) >> 8) as u8;
            assert!(decompression_error(&wrong), "byte {at} ^ {bits:#x}");
        }
    }

    #[test]
    fn size_bound_covers_the_content() {
        let data = sample(300_000);
        for (size, block_max, checksums, content_size) in [
            (BlockSize::Max64KB, 64 << 10, false, false),
            (BlockSize::Max256KB, 256 << 10, true, false),
            (BlockSize::Max64KB, 64 << 10, false, true),
        ] {
            let mut info = FrameInfo::new().block_size(size).block_checksums(checksums);
            if content_size {
                info = info.content_size(Some(data.len() as u64));
            }
            let packed = encode(&data, info);
            let bound = size_bound(&packed).unwrap();
            assert!(bound >= data.len(), "{size:?}: {bound}");
            assert!(bound <= data.len() + block_max, "{size:?}: {bound}");
            if content_size {
                assert_eq!(bound, data.len());
            }
            // Cut anywhere, the hint is absent or some number: never a panic.
            for cut in 0..packed.len().min(40) {
                let _ = size_bound(&packed[..cut]);
            }
        }
        assert_eq!(size_bound(b"not lz4 at all"), None);
    }

    proptest! {
        /// Any bytes: the same data as lz4_flex's decoder when it succeeds, a typed error
        /// otherwise, never a panic.
        #[test]
        fn garbage_after_a_valid_header_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            linked in any::<bool>(),
        ) {
            let mode = if linked { BlockMode::Linked } else { BlockMode::Independent };
            let mut input = encode(b"", FrameInfo::new().block_mode(mode));
            input.truncate(7);
            input.extend(&body);
            if let Ok(out) = decompress(&input, 1 << 16) {
                prop_assert_eq!(Some(out), reference(&input).ok());
            }
        }

        #[test]
        fn round_trips_any_data(data in proptest::collection::vec(0u8..4, 0..70_000)) {
            let frame = encode(&data, FrameInfo::new().block_mode(BlockMode::Linked));
            prop_assert_eq!(decompress(&frame, data.len()).unwrap(), data);
        }
    }
}
