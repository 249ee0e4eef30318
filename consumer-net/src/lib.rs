//! Thread-free network client and blocking consumer.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
