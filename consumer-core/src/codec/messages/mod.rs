//! One module per API: the request and response bodies over their whole version range.

pub mod heartbeat;

pub use heartbeat::{HeartbeatRequest, HeartbeatResponse};
