//! Incremental decoding of size-prefixed frames from a byte stream.

use std::fmt;
use std::io::{self, Read};

use bytes::{Buf, Bytes, BytesMut};

use super::NetError;

/// Length of the big-endian size prefix of every frame.
pub(crate) const SIZE_PREFIX: usize = 4;

/// Minimum read size; large reads keep the number of syscalls low.
const READ_CHUNK: usize = 64 * 1024;

/// Buffers up to this size are kept for reuse once the frames split off them are dropped;
/// larger ones are left to the allocator, so an idle connection holds little memory.
const MAX_PARKED: usize = 16 * 1024 * 1024;

/// How many buffers are parked: with pipelined fetches, up to three large frames of one
/// connection can be alive at once (one being drained, one buffered, one arriving).
const PARKED_BUFFERS: usize = 2;

/// Reassembles frames from partial reads.
///
/// `buf[..filled]` holds received bytes; `buf[filled..]` is zeroed spare room that reads
/// fill in place (safe code cannot read into uninitialised capacity). Room is zeroed once
/// and reused until filled, so zeroing costs about one pass over the bytes received.
/// Complete frames are split off the front, so they share the allocation (zero copy).
///
/// A frame lives as long as the records sliced from it, so a large new frame usually
/// cannot grow into the buffer of the one before. Rather than allocating (and page
/// faulting) fresh memory for every large frame, previous buffers are parked and taken
/// back once everything split off them has been dropped: a few buffers take turns while
/// the caller consumes one frame and the next ones arrive.
pub(crate) struct FrameDecoder {
    buf: BytesMut,
    filled: usize,
    max_frame: usize,
    /// The size of `buf`'s allocation (its `capacity` counts only from where it starts).
    buf_size: usize,
    /// Previous buffers and their allocation sizes, reused once no frame refers to them.
    parked: Vec<(BytesMut, usize)>,
    /// Buffers allocated for large frames (over a read chunk) because none could be reused.
    #[cfg(test)]
    fresh_buffers: usize,
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("filled", &self.filled)
            .field("room", &(self.buf.len() - self.filled))
            .field("max_frame", &self.max_frame)
            .finish()
    }
}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame` bytes (excluding the prefix).
    pub(crate) fn new(max_frame: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            filled: 0,
            max_frame,
            buf_size: 0,
            parked: Vec::new(),
            #[cfg(test)]
            fresh_buffers: 0,
        }
    }

    /// Performs one `read` into the spare room; `Ok(0)` means end of stream.
    pub(crate) fn read_from<R: Read>(&mut self, src: &mut R) -> io::Result<usize> {
        self.make_room();
        let n = src.read(&mut self.buf[self.filled..])?;
        // A conforming reader never reports more than it was given; do not trust it blindly.
        self.filled = (self.filled + n).min(self.buf.len());
        Ok(n)
    }

    /// Copies as much of `bytes` (a decrypted TLS record, at most 16 KiB) as the spare
    /// room takes; the count copied (more than 0 for non-empty `bytes`).
    ///
    /// Room is made as for [`read_from`](Self::read_from), except that the rest of a
    /// frame that fits in the room left is copied there: a large frame's last record
    /// completes it in place rather than moving the frame so far (up to a fetch
    /// response) to a larger buffer for the half read chunk `read_from` wants.
    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) -> usize {
        let room = self.buf.len() - self.filled;
        let rest_fits = matches!(
            self.announced_size(),
            Ok(Some(size)) if SIZE_PREFIX + size > self.filled
                && SIZE_PREFIX + size - self.filled <= room
        );
        if !rest_fits {
            self.make_room();
        }
        let Some(room) = self.buf.get_mut(self.filled..) else {
            return 0;
        };
        let n = room.len().min(bytes.len());
        if let (Some(to), Some(from)) = (room.get_mut(..n), bytes.get(..n)) {
            to.copy_from_slice(from);
            self.filled += n;
        }
        n
    }

    /// Bytes received but not yet returned as frames.
    pub(crate) fn buffered(&self) -> usize {
        self.filled
    }

    /// The bytes received but not yet returned as frames.
    pub(crate) fn pending(&self) -> &[u8] {
        self.buf.get(..self.filled).unwrap_or_default()
    }

    /// Splits off the next complete frame, without its size prefix.
    ///
    /// The announced size is validated as soon as the prefix is present, before any room
    /// is reserved for the frame.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Bytes>, NetError> {
        let Some(size) = self.announced_size()? else {
            return Ok(None);
        };
        let total = SIZE_PREFIX + size;
        if self.filled < total {
            return Ok(None);
        }
        let mut frame = self.buf.split_to(total);
        self.filled -= total;
        frame.advance(SIZE_PREFIX);
        Ok(Some(frame.freeze()))
    }

    /// The validated size of the frame at the front, once its prefix has arrived.
    fn announced_size(&self) -> Result<Option<usize>, NetError> {
        let prefix = match self.buf.get(..SIZE_PREFIX) {
            Some(&[a, b, c, d]) if self.filled >= SIZE_PREFIX => [a, b, c, d],
            _ => return Ok(None),
        };
        let size =
            usize::try_from(i32::from_be_bytes(prefix)).map_err(|_| NetError::NegativeFrameSize)?;
        if size > self.max_frame {
            return Err(NetError::FrameTooLarge {
                size,
                max: self.max_frame,
            });
        }
        Ok(Some(size))
    }

    /// Ensures spare room for the next read: at least half a chunk, and enough for the
    /// rest of the frame being received so a large frame is read with few syscalls.
    fn make_room(&mut self) {
        let missing = match self.announced_size() {
            Ok(Some(size)) => (SIZE_PREFIX + size).saturating_sub(self.filled),
            // An invalid prefix is reported by next_frame before the next read.
            _ => 0,
        };
        let room = self.buf.len() - self.filled;
        if room >= READ_CHUNK / 2 && room >= missing {
            return;
        }
        let want = self.filled + missing.max(READ_CHUNK);
        if want > self.buf.capacity() {
            self.switch_buffer(want);
        }
        // resize zeroes only the bytes it adds; the old spare room is kept.
        self.buf.resize(want, 0);
    }

    /// Moves the partial frame into a buffer with room for `want` bytes: this one if every
    /// frame split off it is gone, else a parked one that is free, else a new one.
    fn switch_buffer(&mut self, want: usize) {
        self.buf.truncate(self.filled);
        if self.buf.try_reclaim(want - self.filled) {
            return;
        }
        let free = self
            .parked
            .iter_mut()
            .position(|(p, _)| p.is_empty() && p.try_reclaim(want));
        let (next, size) = match free {
            Some(i) => self.parked.swap_remove(i),
            None => {
                // Sizes rounded up to a power of two, so that a parked buffer fits the
                // next frames of about the same size.
                let size = if want > READ_CHUNK {
                    want.checked_next_power_of_two().unwrap_or(want)
                } else {
                    want
                };
                #[cfg(test)]
                if size > READ_CHUNK {
                    self.fresh_buffers += 1;
                }
                (BytesMut::with_capacity(size), size)
            }
        };
        let mut old = std::mem::replace(&mut self.buf, next);
        let old_size = std::mem::replace(&mut self.buf_size, size);
        self.buf.extend_from_slice(&old);
        old.clear();
        self.park(old, old_size);
    }

    /// Keeps `old` for reuse if it is worth it: parked buffers are the largest seen, up to
    /// [`MAX_PARKED`] bytes and [`PARKED_BUFFERS`] of them.
    fn park(&mut self, old: BytesMut, size: usize) {
        if size <= READ_CHUNK || size > MAX_PARKED {
            return;
        }
        if self.parked.len() < PARKED_BUFFERS {
            self.parked.push((old, size));
            return;
        }
        if let Some(smallest) = self.parked.iter_mut().min_by_key(|(_, s)| *s) {
            if smallest.1 < size {
                *smallest = (old, size);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    /// Hands out its data `step` bytes per read.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn decode_all(data: Vec<u8>, step: usize, max: usize) -> Result<Vec<Bytes>, NetError> {
        let mut dec = FrameDecoder::new(max);
        let mut src = Trickle { data, pos: 0, step };
        let mut frames = Vec::new();
        while dec.read_from(&mut src).map_err(NetError::from)? > 0 {
            while let Some(f) = dec.next_frame()? {
                frames.push(f);
            }
        }
        assert_eq!(dec.buffered(), 0, "trailing bytes left");
        Ok(frames)
    }

    #[test]
    fn frames_survive_any_read_split() {
        let bodies: Vec<Vec<u8>> = vec![
            vec![],
            vec![1, 2, 3, 4],
            (0..=255).collect(),
            vec![7; 200_000],
            vec![9],
        ];
        let stream: Vec<u8> = bodies.iter().flat_map(|b| framed(b)).collect();
        for step in [1, 3, 4, 5, 1000, 65_536, 1 << 20] {
            let frames = decode_all(stream.clone(), step, 1 << 20).unwrap();
            let got: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
            let want: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
            assert_eq!(got, want, "step {step}");
        }
    }

    #[test]
    fn size_limits_are_checked_before_the_body_arrives() {
        let mut dec = FrameDecoder::new(100);
        let mut src = Trickle {
            data: framed(&[0; 101])[..4].to_vec(),
            pos: 0,
            step: 4,
        };
        dec.read_from(&mut src).unwrap();
        assert!(matches!(
            dec.next_frame(),
            Err(NetError::FrameTooLarge {
                size: 101,
                max: 100
            })
        ));

        let mut dec = FrameDecoder::new(100);
        let mut src = Trickle {
            data: (-1i32).to_be_bytes().to_vec(),
            pos: 0,
            step: 4,
        };
        dec.read_from(&mut src).unwrap();
        assert!(matches!(dec.next_frame(), Err(NetError::NegativeFrameSize)));

        assert_eq!(decode_all(framed(&[5; 100]), 7, 100).unwrap().len(), 1);
    }

    /// Large frames, each read in one go, handed out one at a time.
    fn large_frames(count: u8, size: usize) -> (FrameDecoder, Trickle) {
        let stream: Vec<u8> = (0..count).flat_map(|i| framed(&vec![i; size])).collect();
        let src = Trickle {
            data: stream,
            pos: 0,
            step: size + SIZE_PREFIX,
        };
        (FrameDecoder::new(1 << 20), src)
    }

    fn next(dec: &mut FrameDecoder, src: &mut Trickle) -> Bytes {
        loop {
            if let Some(frame) = dec.next_frame().unwrap() {
                return frame;
            }
            assert!(dec.read_from(src).unwrap() > 0, "stream ended early");
        }
    }

    #[test]
    fn buffers_are_reused_once_their_frames_are_dropped() {
        let (mut dec, mut src) = large_frames(20, 200_000);
        // The caller holds one frame while the next arrives (a pipelined fetch).
        let mut held = next(&mut dec, &mut src);
        for i in 1..20u8 {
            let frame = next(&mut dec, &mut src);
            assert!(
                held.iter().all(|&b| b == i - 1),
                "frame {} overwritten",
                i - 1
            );
            assert!(frame.iter().all(|&b| b == i) && frame.len() == 200_000);
            held = frame;
        }
        assert!(
            dec.fresh_buffers <= 3,
            "{} buffers allocated",
            dec.fresh_buffers
        );
    }

    #[test]
    fn buffers_are_reused_for_frames_of_varying_sizes() {
        let sizes: Vec<usize> = (0..30).map(|i| 400_000 + (i * 77_777) % 300_000).collect();
        let stream: Vec<u8> = sizes
            .iter()
            .enumerate()
            .flat_map(|(i, &n)| framed(&vec![i as u8; n]))
            .collect();
        let mut src = Trickle {
            data: stream,
            pos: 0,
            step: 64 * 1024,
        };
        let mut dec = FrameDecoder::new(1 << 20);
        // Two frames alive at a time: one drained, one buffered behind it.
        let mut alive = std::collections::VecDeque::new();
        for (i, &n) in sizes.iter().enumerate() {
            let frame = next(&mut dec, &mut src);
            assert_eq!(frame.len(), n);
            assert!(frame.iter().all(|&b| b == i as u8));
            alive.push_back(frame);
            if alive.len() > 2 {
                alive.pop_front();
            }
        }
        // Without reuse every frame would take a new buffer (30).
        assert!(
            dec.fresh_buffers <= 6,
            "{} buffers allocated",
            dec.fresh_buffers
        );
    }

    #[test]
    fn frames_still_held_are_never_overwritten() {
        let (mut dec, mut src) = large_frames(8, 150_000);
        let frames: Vec<Bytes> = (0..8).map(|_| next(&mut dec, &mut src)).collect();
        for (i, frame) in frames.iter().enumerate() {
            assert_eq!(frame.len(), 150_000);
            assert!(
                frame.iter().all(|&b| usize::from(b) == i),
                "frame {i} overwritten"
            );
        }
        assert!(
            dec.fresh_buffers >= 7,
            "{} buffers allocated",
            dec.fresh_buffers
        );
    }

    #[test]
    fn records_complete_a_frame_in_place() {
        // Frames of 1 MiB in 16 KiB records, each dropped once decoded: the last record
        // of a frame fits the room left and is not a reason to move the frame.
        let body = vec![3u8; (1 << 20) - SIZE_PREFIX];
        let stream: Vec<u8> = (0..8).flat_map(|_| framed(&body)).collect();
        let mut dec = FrameDecoder::new(1 << 20);
        let mut frames = 0;
        for mut record in stream.chunks(16 * 1024) {
            while !record.is_empty() {
                let n = dec.extend_from_slice(record);
                assert!(n > 0);
                record = &record[n..];
                while let Some(frame) = dec.next_frame().unwrap() {
                    assert!(frame[..] == body[..]);
                    frames += 1;
                }
            }
        }
        assert_eq!((frames, dec.buffered()), (8, 0));
        assert!(dec.fresh_buffers <= 1, "{} buffers", dec.fresh_buffers);
        // Records of any size, frames of any size.
        let bodies: Vec<Vec<u8>> = vec![vec![], vec![1; 5], vec![2; 70_000], vec![4; 16_380]];
        let stream: Vec<u8> = bodies.iter().flat_map(|b| framed(b)).collect();
        for step in [1, 3, 1000, 16 * 1024, 20_000] {
            let mut dec = FrameDecoder::new(1 << 20);
            let mut got = Vec::new();
            for mut record in stream.chunks(step) {
                while !record.is_empty() {
                    let n = dec.extend_from_slice(record);
                    record = &record[n..];
                    while let Some(frame) = dec.next_frame().unwrap() {
                        got.push(frame.to_vec());
                    }
                }
            }
            assert_eq!(got, bodies, "step {step}");
        }
    }

    #[test]
    fn oversized_frame_is_refused_before_reserving() {
        let mut dec = FrameDecoder::new(1024);
        let mut src = Trickle {
            data: i32::MAX.to_be_bytes().to_vec(),
            pos: 0,
            step: 4,
        };
        dec.read_from(&mut src).unwrap();
        assert!(dec.next_frame().is_err());
        assert!(dec.buf.len() <= READ_CHUNK);
    }
}
