//! Test harness: starts real brokers and real clients for the integration suite.
#![forbid(unsafe_code)]
