//! Response (and request) decoders of every API at every version; see `responses.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _decoded = consumer_core_fuzz::responses::check(data);
});
