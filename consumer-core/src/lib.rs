//! Sans-IO Kafka consumer core.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
pub mod codec;
pub mod config;
pub mod consumer;
pub mod error_code;
pub mod event;
pub mod fetcher;
pub mod metadata;
pub mod offsets;
pub mod record;
pub mod subscription;
pub mod timer;
pub mod topic_partition;
