//! Sans-IO Kafka consumer core.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
pub mod codec;
pub mod config;
pub mod metadata;
pub mod subscription;
pub mod topic_partition;
pub mod timer;
