//! The SASL mechanisms' readers of server messages (SCRAM server-first and server-final,
//! the OAUTHBEARER server error) and the clients around them; see `sasl.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _parsed = consumer_core_fuzz::sasl::check(data);
});
