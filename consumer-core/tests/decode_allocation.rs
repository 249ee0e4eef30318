//! Decoders must not allocate more than their input justifies.
//!
//! A counting allocator (per thread, so parallel tests do not disturb each other)
//! measures the peak heap use of one decode. Inputs here are fuzzer finds (under
//! `fuzz-regressions/`) and forged frames that scale them up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{BufMut, Bytes, BytesMut};
use consumer_core::codec::decode_response_frame;
use consumer_core::codec::messages::FetchRequest;

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(by: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + by;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(by: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(by)));
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        shrank(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak heap bytes live on this thread while `f` runs, over what was live before.
fn peak_heap<T>(f: impl FnOnce() -> T) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    drop(out);
    peak
}

/// The bound the fuzz targets check: 64 heap bytes per input byte plus 16 KiB.
fn assert_justified(what: &str, frame: &Bytes, peak: usize) {
    let limit = frame.len() * 64 + (16 << 10);
    assert!(
        peak <= limit,
        "{what}: {} input bytes used {peak} heap bytes (limit {limit})",
        frame.len()
    );
}

/// Found by `response_decoders`: a Fetch v4 response whose partition count (checked
/// against the bytes left, one per element) made the decoder reserve ~150 bytes per
/// claimed partition before reading any.
#[test]
fn fuzz_fetch_v4_partition_count_preallocation() {
    let frame = Bytes::from_static(include_bytes!(
        "fuzz-regressions/fetch-v4-partition-count-prealloc.bin"
    ));
    let peak = peak_heap(|| decode_response_frame::<FetchRequest>(frame.clone(), 4));
    assert_justified("fetch v4", &frame, peak);
}

/// The same at scale: a 1 MiB Fetch response claiming a partition per byte, whose first
/// partition is already invalid, must not reserve 150 MiB (it did before the fix).
#[test]
fn forged_partition_count_reserves_no_more_than_the_input() {
    const N: usize = 1 << 20;
    let mut buf = BytesMut::new();
    buf.put_i32(7); // correlation id
    buf.put_i32(0); // throttle_time_ms
    buf.put_i32(1); // one topic
    buf.put_i16(1);
    buf.put_u8(b't');
    buf.put_i32(N as i32); // partitions claimed
                           // 0x7f everywhere: the aborted-transactions count 0x7f7f7f7f exceeds the input.
    buf.put_bytes(0x7f, N);
    let frame = buf.freeze();
    let mut result = None;
    let peak = peak_heap(|| {
        result = Some(decode_response_frame::<FetchRequest>(frame.clone(), 4).is_err());
    });
    assert_eq!(result, Some(true), "the forged frame must not decode");
    assert!(
        peak <= frame.len() + (16 << 10),
        "{} input bytes reserved {peak} heap bytes",
        frame.len()
    );
}
