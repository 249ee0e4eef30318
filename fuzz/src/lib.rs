//! Fuzz checks for consumer-core, shared by the cargo-fuzz targets and the seed writer.
//!
//! Each target is a thin `fuzz_target!` around a `check` function here, so the input
//! layout and its inverse (used to write seeds) live side by side.

pub mod alloc;
pub mod consumer;
pub mod records;
pub mod responses;
pub mod sasl;
pub mod seeds;
