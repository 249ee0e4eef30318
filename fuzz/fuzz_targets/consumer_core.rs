//! The consumer state machine fed fuzzer-chosen answers, time and commands; see `consumer.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _depth = consumer_core_fuzz::consumer::check(data);
});
