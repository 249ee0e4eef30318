//! Decompression (bounded) and compression of record data, one codec per cargo feature.
//!
//! Every decompressor writes through `Read::take(limit + 1)`, or checks the size a format
//! announces before allocating, so a small batch that inflates to gigabytes is an error,
//! never an out-of-memory abort.

#[cfg(any(feature = "gzip", feature = "zstd"))]
use std::io::Read;

use super::{Compression, RecordErrorKind};

/// The 8-byte magic that starts a xerial-framed snappy stream (Java's `SnappyOutputStream`).
#[cfg(feature = "snappy")]
pub(super) const XERIAL_SNAPPY_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// Decompresses `input`, failing if the result would exceed `limit` bytes.
pub(super) fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, RecordErrorKind> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(RecordErrorKind::DecompressedTooLarge { codec, limit });
            }
            Ok(input.to_vec())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => read_bounded(
            codec,
            flate2::read::MultiGzDecoder::new(input),
            input.len(),
            limit,
        ),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::decompress(input, limit),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => super::lz4_frame::decompress(input, limit),
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            if let Some(out) = zstd_single_shot(input, limit) {
                return out;
            }
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(input).map_err(|e| failed(codec, e))?;
            decoder
                .window_log_max(zstd_window_log_max(limit))
                .map_err(|e| failed(codec, e))?;
            read_bounded(codec, decoder, input.len(), limit)
        }
        #[allow(
            unreachable_patterns,
            reason = "reached only when a codec feature is off"
        )]
        codec => Err(RecordErrorKind::CompressionDisabled { codec }),
    }
}

/// Compresses `input` the way the Java producer does (snappy: xerial framing).
pub(super) fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, RecordErrorKind> {
    match codec {
        Compression::None => Ok(input.to_vec()),
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(input).map_err(|e| failed(codec, e))?;
            enc.finish().map_err(|e| failed(codec, e))
        }
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::compress_xerial(input),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => {
            use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
            use std::io::Write;
            // Java's KafkaLZ4BlockOutputStream: independent 64 KiB blocks.
            let info = FrameInfo::new()
                .block_size(BlockSize::Max64KB)
                .block_mode(BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(input).map_err(|e| failed(codec, e))?;
            enc.finish().map_err(|e| failed(codec, e))
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::bulk::compress(input, 3).map_err(|e| failed(codec, e)),
        #[allow(
            unreachable_patterns,
            reason = "reached only when a codec feature is off"
        )]
        codec => Err(RecordErrorKind::CompressionDisabled { codec }),
    }
}

#[cfg(any(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]
fn failed(codec: Compression, e: impl std::fmt::Display) -> RecordErrorKind {
    RecordErrorKind::Decompression {
        codec,
        detail: e.to_string(),
    }
}

/// Reads all of `reader`, but never more than `limit + 1` bytes.
#[cfg(any(feature = "gzip", feature = "zstd"))]
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    input_len: usize,
    limit: usize,
) -> Result<Vec<u8>, RecordErrorKind> {
    // A guess at the ratio saves a few reallocations; the limit caps what a bad guess costs.
    let mut out = Vec::with_capacity(input_len.saturating_mul(4).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| failed(codec, e))?;
    if out.len() > limit {
        return Err(RecordErrorKind::DecompressedTooLarge { codec, limit });
    }
    Ok(out)
}

/// zstd frames are decompressed in one call into a buffer sized once from their headers
/// (`ZSTD_decompressBound`): the exact size when every frame announces it, else at most
/// 128 KiB per block (librdkafka streams without announcing a size). No window copy, no
/// zeroing, no regrowth. Single-shot decoding needs no window buffer, so a frame declaring
/// a huge window allocates nothing beyond the bound, which is at most `limit`.
/// `None` when the bound is unknown or over `limit`: the streaming decoder, which enforces
/// the limit while reading, then takes over (and reports any error). A one-shot failure
/// (the headers parsed, so the data is corrupt) is returned as is, not decoded twice.
#[cfg(feature = "zstd")]
fn zstd_single_shot(input: &[u8], limit: usize) -> Option<Result<Vec<u8>, RecordErrorKind>> {
    const CODEC: Compression = Compression::Zstd;
    if input.is_empty() {
        // No frame at all: zstd calls that empty content, the streaming decoder (as before)
        // an incomplete frame.
        return None;
    }
    let bound = zstd::zstd_safe::decompress_bound(input).ok()?;
    let bound = usize::try_from(bound).ok().filter(|&n| n <= limit)?;
    let mut out = super::buffer_pool::take(bound);
    let written = with_zstd_context(|d| d.decompress_to_buffer(input, &mut out))
        .map_err(|e| failed(CODEC, e));
    Some(written.map(|_| {
        // Records keep the whole buffer alive: give back a bound that overshot (small
        // blocks each count as 128 KiB). glibc shrinks in place, copying nothing. An
        // output big enough to be pooled keeps its size, to be reused for the next batches.
        if !super::buffer_pool::pooled(out.len()) && out.capacity() - out.len() > out.len() / 4 {
            out.shrink_to_fit();
        }
        out
    }))
}

/// Runs `f` with this thread's zstd decompression context, made on first use: creating
/// one per batch cost about 2% of the CPU of consuming small zstd batches. A context keeps
/// no data between frames, only its tables and buffers.
#[cfg(feature = "zstd")]
fn with_zstd_context<T>(
    f: impl FnOnce(&mut zstd::bulk::Decompressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    use std::cell::RefCell;
    thread_local! {
        static CONTEXT: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { RefCell::new(None) };
    }
    CONTEXT.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            // Not reached (nothing here calls back in), but never a panic.
            return f(&mut zstd::bulk::Decompressor::new()?);
        };
        let context = match slot.as_mut() {
            Some(context) => context,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        f(context)
    })
}

/// The largest zstd window accepted: enough for the limit, never below 8 MiB (what the
/// standard levels use when the producer streams without announcing a size), never above
/// zstd's own default of 128 MiB, so a tiny frame cannot make us reserve a huge window.
#[cfg(feature = "zstd")]
fn zstd_window_log_max(limit: usize) -> u32 {
    let needed = usize::BITS - limit.saturating_sub(1).leading_zeros();
    needed.clamp(23, 27)
}

#[cfg(feature = "snappy")]
mod snappy {
    //! Raw snappy blocks and the xerial framing of the Java client.

    use super::{failed, Compression, RecordErrorKind, XERIAL_SNAPPY_MAGIC};

    const CODEC: Compression = Compression::Snappy;
    /// Magic, version and compatible-version fields.
    const XERIAL_HEADER_LEN: usize = 16;
    /// Block size of the Java client's `SnappyOutputStream`.
    const XERIAL_BLOCK: usize = 32 * 1024;

    pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordErrorKind> {
        match input.strip_prefix(&XERIAL_SNAPPY_MAGIC) {
            Some(_) if input.len() >= XERIAL_HEADER_LEN => {
                xerial(&input[XERIAL_HEADER_LEN..], limit)
            }
            _ => {
                let mut out = Vec::new();
                raw_into(input, limit, &mut out)?;
                Ok(out)
            }
        }
    }

    /// Appends one raw snappy block to `out`, checking its announced size first.
    fn raw_into(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), RecordErrorKind> {
        let n = snap::raw::decompress_len(block).map_err(|e| failed(CODEC, e))?;
        if n > limit.saturating_sub(out.len()) {
            return Err(RecordErrorKind::DecompressedTooLarge {
                codec: CODEC,
                limit,
            });
        }
        let start = out.len();
        out.resize(start + n, 0);
        let written = snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(|e| failed(CODEC, e))?;
        out.truncate(start + written);
        Ok(())
    }

    /// Blocks of `i32` length + raw snappy data, after the 16-byte header.
    fn xerial(mut rest: &[u8], limit: usize) -> Result<Vec<u8>, RecordErrorKind> {
        let mut out = Vec::new();
        while !rest.is_empty() {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(failed(CODEC, "xerial block length cut short"));
            };
            let len = i32::from_be_bytes(*len);
            let block = usize::try_from(len)
                .ok()
                .and_then(|n| tail.get(..n))
                .ok_or_else(|| {
                    failed(
                        CODEC,
                        format!("xerial block length {len} exceeds the input"),
                    )
                })?;
            if !block.is_empty() {
                raw_into(block, limit, &mut out)?;
            }
            rest = &tail[block.len()..];
        }
        Ok(out)
    }

    /// The xerial framing the Java producer writes: header, then length-prefixed blocks.
    pub(super) fn compress_xerial(input: &[u8]) -> Result<Vec<u8>, RecordErrorKind> {
        let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + input.len() / 2);
        out.extend_from_slice(&XERIAL_SNAPPY_MAGIC);
        out.extend_from_slice(&1i32.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
        let mut enc = snap::raw::Encoder::new();
        for chunk in input.chunks(XERIAL_BLOCK) {
            let block = enc.compress_vec(chunk).map_err(|e| failed(CODEC, e))?;
            let len = i32::try_from(block.len()).map_err(|e| failed(CODEC, e))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&block);
        }
        Ok(out)
    }

    /// One raw snappy block (what librdkafka writes).
    #[cfg(test)]
    pub(super) fn compress_raw(input: &[u8]) -> Result<Vec<u8>, RecordErrorKind> {
        snap::raw::Encoder::new()
            .compress_vec(input)
            .map_err(|e| failed(CODEC, e))
    }
}

/// Compresses `input` as one raw snappy block (no xerial framing), as librdkafka does.
#[cfg(all(test, feature = "snappy"))]
pub(super) fn compress_snappy_raw(input: &[u8]) -> Result<Vec<u8>, RecordErrorKind> {
    snappy::compress_raw(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_enabled_codec_round_trips() {
        let data = sample();
        for codec in Compression::ALL {
            if !codec.is_enabled() {
                continue;
            }
            let packed = compress(codec, &data).unwrap();
            assert_eq!(
                decompress(codec, &packed, data.len()).unwrap(),
                data,
                "{codec:?}"
            );
        }
    }

    #[test]
    fn every_codec_refuses_to_exceed_the_limit() {
        // A megabyte of zeros compresses to very little: a small bomb.
        let data = vec![0u8; 1 << 20];
        for codec in Compression::ALL {
            if !codec.is_enabled() {
                continue;
            }
            let packed = compress(codec, &data).unwrap();
            assert!(packed.len() < data.len() / 10 || codec == Compression::None);
            let err = decompress(codec, &packed, data.len() - 1).unwrap_err();
            assert_eq!(
                err,
                RecordErrorKind::DecompressedTooLarge {
                    codec,
                    limit: data.len() - 1
                }
            );
        }
    }

    /// zstd frames as the streaming encoder writes them (librdkafka, Java's zstd-jni):
    /// no content size in the header.
    #[cfg(feature = "zstd")]
    fn zstd_unsized(data: &[u8], checksum: bool) -> Vec<u8> {
        use std::io::Write;
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.include_checksum(checksum).unwrap();
        enc.write_all(data).unwrap();
        let packed = enc.finish().unwrap();
        assert!(matches!(
            zstd::zstd_safe::get_frame_content_size(&packed),
            Ok(None)
        ));
        packed
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_frames_with_or_without_a_size_decode_in_one_shot() {
        let data = sample();
        let (a, b) = data.split_at(data.len() / 3);
        let sized = |part: &[u8]| zstd::bulk::compress(part, 3).unwrap();
        let one_shot = |input: &[u8], limit| zstd_single_shot(input, limit).map(Result::unwrap);
        // One frame announcing its size: an exact bound.
        let one = sized(&data);
        assert_eq!(one_shot(&one, data.len()), Some(data.clone()));
        assert_eq!(one_shot(&one, data.len() - 1), None);
        // Streamed frames: the bound counts 128 KiB per block.
        let streamed = zstd_unsized(&data, false);
        assert_eq!(one_shot(&streamed, 1 << 20), Some(data.clone()));
        assert_eq!(
            decompress(Compression::Zstd, &streamed, 1 << 20).unwrap(),
            data
        );
        // Several frames, sized or not: the bound is their sum.
        let mut two = sized(a);
        two.extend(sized(b));
        assert_eq!(one_shot(&two, 1 << 20), Some(data.clone()));
        let mut mixed = zstd_unsized(a, true);
        mixed.extend(sized(b));
        mixed.extend(zstd_unsized(b"", false));
        assert_eq!(one_shot(&mixed, 1 << 20), Some(data.clone()));
        assert_eq!(
            decompress(Compression::Zstd, &mixed, 1 << 20).unwrap(),
            data
        );
        // A small unsized batch keeps no 128 KiB buffer alive.
        let small = one_shot(&zstd_unsized(&data[..1000], false), 1 << 20).unwrap();
        assert_eq!(small, &data[..1000]);
        assert!(small.capacity() < 2000, "{}", small.capacity());
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_bound_over_the_limit_takes_the_streaming_path() {
        // One block of 100 000 bytes: the bound is 128 KiB, the content fits the limit.
        let data = &sample()[..100_000];
        let packed = zstd_unsized(data, false);
        assert!(zstd_single_shot(&packed, data.len()).is_none());
        assert_eq!(
            decompress(Compression::Zstd, &packed, data.len()).unwrap(),
            data
        );
        // A bomb without a size: refused while streaming, never fully inflated.
        let bomb = zstd_unsized(&vec![0u8; 4 << 20], false);
        assert!(bomb.len() < 1000, "{}", bomb.len());
        let limit = (1 << 20) + 7;
        assert!(zstd_single_shot(&bomb, limit).is_none());
        assert_eq!(
            decompress(Compression::Zstd, &bomb, limit),
            Err(RecordErrorKind::DecompressedTooLarge {
                codec: Compression::Zstd,
                limit
            })
        );
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_one_shot_ignores_a_huge_declared_window() {
        let data = &sample()[..50_000];
        let mut packed = zstd_unsized(data, true);
        // Not a single-segment frame, so a window descriptor follows the frame header
        // descriptor: claim a 1 GiB window (exponent 20).
        assert_eq!(packed[4] & 0x20, 0, "single segment");
        packed[5] = 20 << 3;
        // With a bound over the limit, the streaming decoder refuses such a window...
        let refused = decompress(Compression::Zstd, &packed, 100_000).unwrap_err();
        assert!(refused.to_string().contains("too much memory"), "{refused}");
        // ...while one shot needs none: the output buffer is all it allocates.
        let out = decompress(Compression::Zstd, &packed, 1 << 20).unwrap();
        assert_eq!(out, data);
        assert!(out.capacity() <= 128 << 10);
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_corrupt_frames_are_typed_errors() {
        let data = sample();
        let good = zstd_unsized(&data, true);
        // Headers intact (a bound exists), checksum wrong: the one-shot path reports it.
        let mut bad_sum = good.clone();
        *bad_sum.last_mut().unwrap() ^= 0xff;
        assert!(matches!(
            zstd_single_shot(&bad_sum, 1 << 20),
            Some(Err(RecordErrorKind::Decompression { .. }))
        ));
        // Empty, cut short, or garbage after the frame: no bound, the streaming path reports it.
        for bad in [
            &[][..],
            &good[..good.len() - 10],
            &[&good[..], b"trailing"].concat(),
        ] {
            assert!(zstd_single_shot(bad, 1 << 20).is_none());
            assert!(matches!(
                decompress(Compression::Zstd, bad, 1 << 20),
                Err(RecordErrorKind::Decompression { .. })
            ));
        }
        assert!(matches!(
            decompress(Compression::Zstd, &bad_sum, 1 << 20),
            Err(RecordErrorKind::Decompression { .. })
        ));
    }

    #[cfg(feature = "snappy")]
    #[test]
    fn snappy_accepts_raw_and_xerial() {
        let data = sample();
        let raw = compress_snappy_raw(&data).unwrap();
        assert!(!raw.starts_with(&XERIAL_SNAPPY_MAGIC));
        assert_eq!(
            decompress(Compression::Snappy, &raw, 1 << 20).unwrap(),
            data
        );
        let framed = compress(Compression::Snappy, &data).unwrap();
        assert!(framed.starts_with(&XERIAL_SNAPPY_MAGIC));
        assert_eq!(
            decompress(Compression::Snappy, &framed, 1 << 20).unwrap(),
            data
        );
        // A block length pointing past the end is corrupt, not a panic.
        let mut bad = framed[..16].to_vec();
        bad.extend_from_slice(&1000i32.to_be_bytes());
        bad.extend_from_slice(&[0; 10]);
        assert!(matches!(
            decompress(Compression::Snappy, &bad, 1 << 20),
            Err(RecordErrorKind::Decompression { .. })
        ));
        // So is a negative one.
        let mut neg = framed[..16].to_vec();
        neg.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(decompress(Compression::Snappy, &neg, 1 << 20).is_err());
    }

    #[test]
    fn corrupt_input_is_an_error() {
        // Starts with a small snappy length, so every codec sees corrupt data, not a bomb.
        let garbage = [0x05, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8];
        for codec in Compression::ALL {
            if codec == Compression::None || !codec.is_enabled() {
                continue;
            }
            assert!(
                matches!(
                    decompress(codec, &garbage, 1 << 20),
                    Err(RecordErrorKind::Decompression { .. })
                ),
                "{codec:?}"
            );
        }
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_window_is_clamped() {
        assert_eq!(zstd_window_log_max(1), 23);
        assert_eq!(zstd_window_log_max(64 << 20), 26);
        assert_eq!(zstd_window_log_max((64 << 20) + 1), 27);
        assert_eq!(zstd_window_log_max(usize::MAX), 27);
    }
}
