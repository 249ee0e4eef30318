//! Sans-IO Kafka consumer core.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
pub mod codec;
pub mod record;
