//! A counting global allocator, so a check can measure the peak heap use of one decode
//! and compare it with the input's size.
//!
//! libFuzzer's `-malloc_limit_mb` only catches single huge allocations; fuzz inputs are
//! small, so an allocation that is "only" a large multiple of the input (a length field
//! trusted times the element size) would never reach it. Measuring the ratio catches
//! that on a 100-byte input as well as on a 100 MB one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The allocator: `System`, counting live and peak bytes per thread (so parallel unit
/// tests do not see each other's allocations).
pub struct Counting;

thread_local! {
    // Signed: memory freed on this thread may have been allocated on another one.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(by: usize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add_unsigned(by);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(by: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub_unsigned(by)));
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Both blocks may exist at once while the data moves.
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result and the peak number of heap bytes live during it,
/// over what was live before (the result itself counts while it is built).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get).saturating_sub(base);
    (out, usize::try_from(peak).unwrap_or(0))
}

/// Heap bytes a decode may use per input byte. A decoded value is bigger than its
/// encoding by a constant factor (an empty compact string is 1 byte on the wire and 24
/// in a `String`; a growing `Vec` briefly holds old and new buffers), never by more.
pub const HEAP_PER_INPUT_BYTE: usize = 64;

/// Fixed allowance on top (error messages, small buffers).
pub const HEAP_SLACK: usize = 16 << 10;

/// Panics if `peak` heap bytes are more than `input_len` input bytes (plus `allowed`,
/// e.g. a configured decompression limit) justify.
pub fn assert_justified(what: &str, peak: usize, input_len: usize, allowed: usize) {
    let limit = input_len
        .saturating_mul(HEAP_PER_INPUT_BYTE)
        .saturating_add(HEAP_SLACK)
        .saturating_add(allowed);
    assert!(
        peak <= limit,
        "{what}: decoding {input_len} bytes used {peak} heap bytes (limit {limit})"
    );
}
