//! Output buffers for decompressed batches, reused once no record refers to them.
//!
//! A decompressed batch lives as long as the records sliced from it. Without reuse every
//! large batch takes fresh memory, and glibc gives big blocks back to the kernel when they
//! are freed, so each batch page-faults its whole output in again: about 600 faults per
//! 3 MB of 100-byte lz4 records, a quarter of the CPU of consuming them. The pool keeps
//! the most recent outputs and hands one out again once all its records are gone.
//!
//! The pool is per thread (a cache, like the zstd context): no lock, and nothing to pass
//! through the decoding calls.

use std::cell::RefCell;

use bytes::Bytes;

/// Smaller outputs come cheaply from the allocator's free lists.
const MIN_POOLED: usize = 64 * 1024;
/// Larger outputs are rare and left to the allocator, so the pool holds little memory.
const MAX_POOLED: usize = 4 * 1024 * 1024;
/// Enough for the current batch of each of several partitions being drained at once.
const POOL_SIZE: usize = 8;

thread_local! {
    /// Shared outputs and their capacities.
    static POOL: RefCell<Vec<(Bytes, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Whether buffers of this capacity are kept for reuse.
pub(super) fn pooled(capacity: usize) -> bool {
    (MIN_POOLED..=MAX_POOLED).contains(&capacity)
}

/// An empty buffer with room for at least `capacity` bytes: a pooled one that nothing
/// refers to any more if there is one, else a new one.
pub(super) fn take(capacity: usize) -> Vec<u8> {
    let mut buffer = take_used(capacity);
    buffer.clear();
    buffer
}

/// Like [`take`], but a reused buffer keeps its old contents (the bytes of an earlier
/// batch) as initialised room: a decoder that writes into a `&mut [u8]` then needs no
/// zeroing of what it is about to overwrite. The caller must truncate to what it wrote.
pub(super) fn take_used(capacity: usize) -> Vec<u8> {
    if pooled(capacity) {
        let reused = POOL.with(|pool| {
            let mut pool = pool.try_borrow_mut().ok()?;
            let i = pool
                .iter()
                .position(|(b, cap)| *cap >= capacity && b.is_unique())?;
            let (bytes, _) = pool.swap_remove(i);
            Some(Vec::from(bytes.try_into_mut().ok()?))
        });
        if let Some(buffer) = reused.filter(|b| b.capacity() >= capacity) {
            return buffer;
        }
    }
    Vec::with_capacity(capacity)
}

/// Turns a decompressed output into the `Bytes` its records are sliced from, keeping a
/// handle on it so that its buffer can be taken again once they are dropped.
pub(super) fn share(buffer: Vec<u8>) -> Bytes {
    let capacity = buffer.capacity();
    let bytes = Bytes::from(buffer);
    if pooled(capacity) {
        POOL.with(|pool| {
            let Ok(mut pool) = pool.try_borrow_mut() else {
                return;
            };
            if pool.len() >= POOL_SIZE {
                // Make way by dropping the oldest buffer still in use (its records keep
                // it alive), or else the oldest.
                let busy = pool.iter().position(|(b, _)| !b.is_unique());
                pool.remove(busy.unwrap_or(0));
            }
            pool.push((bytes.clone(), capacity));
        });
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_once_their_records_are_gone() {
        let mut first = take(100_000);
        assert!(first.capacity() >= 100_000);
        first.extend_from_slice(&[7; 100_000]);
        let address = first.as_ptr();
        let shared = share(first);
        let record = shared.slice(10..20);
        drop(shared);
        // A record still refers to it: a new buffer.
        let second = take(100_000);
        assert_ne!(second.as_ptr(), address);
        assert_eq!(&record[..], &[7; 10]);
        drop(record);
        // Now it is free: the same memory, empty.
        let third = take(90_000);
        assert_eq!(third.as_ptr(), address);
        assert!(third.is_empty() && third.capacity() >= 100_000);
        // Too big for it: a new one.
        drop(share(third));
        let bigger = take(300_000);
        assert_ne!(bigger.as_ptr(), address);
    }

    #[test]
    fn a_used_buffer_keeps_its_old_bytes_as_room() {
        let mut first = take_used(100_000);
        assert!(first.is_empty(), "a new buffer has nothing in it");
        first.extend_from_slice(&[9; 80_000]);
        let address = first.as_ptr();
        drop(share(first));
        let again = take_used(100_000);
        assert_eq!(again.as_ptr(), address);
        assert_eq!(again, vec![9; 80_000]);
        drop(share(again));
        // `take` hands the same memory out empty.
        let cleared = take(100_000);
        assert_eq!(cleared.as_ptr(), address);
        assert!(cleared.is_empty());
    }

    #[test]
    fn small_and_huge_outputs_are_not_pooled() {
        for size in [1_000, MAX_POOLED + 1] {
            let mut buffer = take(size);
            buffer.resize(size, 1);
            let address = buffer.as_ptr();
            drop(share(buffer));
            let again = take(size);
            assert!(again.capacity() >= size);
            // Not handed back by the pool (the allocator may still reuse the address,
            // but the pool holds no handle on it).
            POOL.with(|pool| {
                assert!(pool.borrow().iter().all(|(b, _)| b.as_ptr() != address));
            });
        }
    }

    #[test]
    fn the_pool_stays_bounded() {
        let held: Vec<Bytes> = (0..3 * POOL_SIZE)
            .map(|_| {
                let mut b = take(MIN_POOLED);
                b.push(1);
                share(b)
            })
            .collect();
        POOL.with(|pool| assert_eq!(pool.borrow().len(), POOL_SIZE));
        drop(held);
    }
}
