//! Memory per assigned partition: the live heap of a consumer with 1 000 and 10 000
//! assigned partitions (one topic, three brokers keeping fetch sessions, 8 partitions
//! receiving data), after a few poll cycles with every record drained, measured by a
//! counting global allocator. The scripted brokers and the requests in flight are dropped
//! before measuring, so the figure is the consumer's own: subscription state, metadata,
//! the fetcher's indexes and the fetch sessions (which hold every partition).
//!
//! `cargo bench -p consumer-core --bench partition_memory` prints the bytes per partition
//! (the growth from 1 000 to 10 000 partitions, divided by 9 000) and fails above
//! `MAX_BYTES_PER_PARTITION`.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use support::cycle::{setup, Case};

/// The most heap a partition may cost, in bytes.
const MAX_BYTES_PER_PARTITION: usize = 2048;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is
// updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The live heap of a consumer with `partitions` assigned, in steady state.
fn consumer_bytes(partitions: usize) -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    let case = Case::few(partitions, true);
    let mut driver = setup(&case);
    for _ in 0..3 {
        driver.cycle();
    }
    let consumer = driver.into_consumer();
    let bytes = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    drop(consumer);
    bytes
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let small = consumer_bytes(1_000);
    let large = consumer_bytes(10_000);
    let per_partition = large.saturating_sub(small) / 9_000;
    println!("consumer with 1 000 partitions: {small} bytes live");
    println!("consumer with 10 000 partitions: {large} bytes live");
    println!("per partition (growth from 1 000 to 10 000): {per_partition} bytes");
    println!(
        "size_of: PartitionState {} B, TopicPartition {} B",
        std::mem::size_of::<consumer_core::PartitionState>(),
        std::mem::size_of::<consumer_core::TopicPartition>()
    );
    assert!(
        per_partition <= MAX_BYTES_PER_PARTITION,
        "{per_partition} bytes per partition, more than {MAX_BYTES_PER_PARTITION}"
    );
}
