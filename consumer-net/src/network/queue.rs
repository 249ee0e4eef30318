//! Per-node request queue: unsent frames and in-flight correlation ids, in send order.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Instant;

use bytes::Bytes;

use super::NetError;

#[derive(Debug)]
struct Request {
    correlation_id: i32,
    /// `None`: never times out.
    deadline: Option<Instant>,
    /// The size prefix written before the frame (Kafka's 4-byte big-endian length).
    size: [u8; 4],
    /// Header and body. Emptied once fully written: only the correlation id is needed
    /// after that.
    frame: Bytes,
}

impl Request {
    /// Bytes on the wire: the size prefix and the frame.
    fn wire_len(&self) -> usize {
        self.size.len() + self.frame.len()
    }
}

/// Requests of one node in send order.
///
/// The first `sent` requests are fully written and await their responses (in flight);
/// the rest are unsent, the first of them possibly written up to `write_pos`. One queue
/// serves the whole life of a node, so requests queued while (re)connecting are simply
/// the unsent tail.
#[derive(Debug, Default)]
pub(crate) struct RequestQueue {
    requests: VecDeque<Request>,
    sent: usize,
    write_pos: usize,
}

impl RequestQueue {
    /// Appends a request frame (header and body); its size prefix is written before it.
    /// A frame cannot be larger than `i32::MAX` bytes (the caller checks).
    pub(crate) fn push(&mut self, correlation_id: i32, deadline: Option<Instant>, frame: Bytes) {
        let size = i32::try_from(frame.len()).unwrap_or(i32::MAX).to_be_bytes();
        self.requests.push_back(Request {
            correlation_id,
            deadline,
            size,
            frame,
        });
    }

    /// Whether no request is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Requests fully written and awaiting a response.
    pub(crate) fn in_flight(&self) -> usize {
        self.sent
    }

    /// Whether some request is not yet fully written.
    pub(crate) fn has_unsent(&self) -> bool {
        self.requests.len() > self.sent
    }

    /// The earliest deadline among pending requests, with its correlation id.
    ///
    /// A linear scan: per-request timeouts differ, and queues are short.
    pub(crate) fn earliest_deadline(&self) -> Option<(Instant, i32)> {
        self.requests
            .iter()
            .filter_map(|r| r.deadline.map(|d| (d, r.correlation_id)))
            .min_by_key(|(d, _)| *d)
    }

    /// Fills `out` with the unsent bytes (each request's size prefix, then its frame), in
    /// order; returns how many slices were used.
    pub(crate) fn unsent_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut used = 0;
        for (i, req) in self.requests.iter().skip(self.sent).enumerate() {
            let skip = if i == 0 { self.write_pos } else { 0 };
            let prefix = req.size.get(skip..).unwrap_or_default();
            let frame = req
                .frame
                .get(skip.saturating_sub(req.size.len())..)
                .unwrap_or_default();
            for bytes in [prefix, frame] {
                if bytes.is_empty() {
                    continue;
                }
                let Some(slot) = out.get_mut(used) else {
                    return used;
                };
                *slot = IoSlice::new(bytes);
                used += 1;
            }
        }
        used
    }

    /// Records that `written` more bytes of the unsent frames went out.
    pub(crate) fn advance(&mut self, mut written: usize) {
        while let Some(req) = self.requests.get_mut(self.sent) {
            let left = req.wire_len().saturating_sub(self.write_pos);
            if written < left {
                self.write_pos += written;
                return;
            }
            written -= left;
            req.frame = Bytes::new();
            self.sent += 1;
            self.write_pos = 0;
        }
    }

    /// Matches a response to the oldest in-flight request: Kafka answers in order on a
    /// connection, so anything else is a protocol error.
    pub(crate) fn complete(&mut self, correlation_id: i32) -> Result<(), NetError> {
        let expected = match self.requests.front() {
            Some(req) if self.sent > 0 => req.correlation_id,
            _ => return Err(NetError::UnsolicitedResponse { correlation_id }),
        };
        if expected != correlation_id {
            return Err(NetError::UnexpectedCorrelationId {
                expected,
                got: correlation_id,
            });
        }
        self.requests.pop_front();
        self.sent -= 1;
        Ok(())
    }

    /// Removes every request, returning the correlation ids in send order.
    pub(crate) fn drain_ids(&mut self) -> Vec<i32> {
        self.sent = 0;
        self.write_pos = 0;
        self.requests.drain(..).map(|r| r.correlation_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue_of(frames: &[&'static [u8]]) -> RequestQueue {
        let mut q = RequestQueue::default();
        for (i, f) in frames.iter().enumerate() {
            q.push(i as i32, None, Bytes::from_static(f));
        }
        q
    }

    fn unsent(q: &RequestQueue) -> Vec<u8> {
        let mut slots = [IoSlice::new(&[]); 8];
        let n = q.unsent_slices(&mut slots);
        slots[..n].iter().flat_map(|s| s.to_vec()).collect()
    }

    /// `frame` on the wire: its 4-byte size, then the frame.
    fn wire(frame: &[u8]) -> Vec<u8> {
        let mut v = (frame.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(frame);
        v
    }

    #[test]
    fn partial_writes_advance_across_frames() {
        let mut q = queue_of(&[b"abc", b"", b"defg", b"h"]);
        let all: Vec<u8> = [&b"abc"[..], b"", b"defg", b"h"]
            .iter()
            .flat_map(|f| wire(f))
            .collect();
        assert_eq!(unsent(&q), all);
        // Into the first size prefix.
        q.advance(2);
        assert_eq!((q.in_flight(), unsent(&q)), (0, all[2..].to_vec()));
        // The rest of the prefix and of the first frame.
        q.advance(5);
        assert_eq!((q.in_flight(), unsent(&q)), (1, all[7..].to_vec()));
        // The empty frame's prefix and two bytes of the next prefix.
        q.advance(6);
        assert_eq!((q.in_flight(), unsent(&q)), (2, all[13..].to_vec()));
        q.advance(all.len() - 13);
        assert_eq!(q.in_flight(), 4);
        assert!(!q.has_unsent());
    }

    #[test]
    fn responses_must_come_in_order() {
        let mut q = queue_of(&[b"a", b"b", b"c"]);
        assert!(matches!(
            q.complete(0),
            Err(NetError::UnsolicitedResponse { correlation_id: 0 })
        ));
        q.advance(10);
        assert!(matches!(
            q.complete(1),
            Err(NetError::UnexpectedCorrelationId {
                expected: 0,
                got: 1
            })
        ));
        q.complete(0).unwrap();
        q.complete(1).unwrap();
        assert!(q.complete(2).is_err(), "request 2 is not fully written");
        assert_eq!(q.drain_ids(), vec![2]);
        assert!(q.is_empty());
    }

    #[test]
    fn earliest_deadline_ignores_send_order() {
        let now = Instant::now();
        let mut q = RequestQueue::default();
        q.push(
            1,
            Some(now + std::time::Duration::from_secs(5)),
            Bytes::new(),
        );
        q.push(2, None, Bytes::new());
        q.push(
            3,
            Some(now + std::time::Duration::from_secs(1)),
            Bytes::new(),
        );
        assert_eq!(
            q.earliest_deadline(),
            Some((now + std::time::Duration::from_secs(1), 3))
        );
    }

    #[test]
    fn slices_are_bounded_by_the_output() {
        let q = queue_of(&[b"a", b"b", b"c"]);
        let mut slots = [IoSlice::new(&[]); 3];
        assert_eq!(q.unsent_slices(&mut slots), 3);
        let written: Vec<u8> = slots.iter().flat_map(|s| s.to_vec()).collect();
        let mut expected = wire(b"a");
        expected.extend(&wire(b"b")[..4]);
        assert_eq!(written, expected);
    }
}
