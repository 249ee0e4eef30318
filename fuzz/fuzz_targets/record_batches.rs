//! The record-batch decoder with decompression; see `records.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    consumer_core_fuzz::records::check(data);
});
