//! One module per API: the request and response bodies over their whole version range.

pub mod api_versions;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
mod tag_writer;

pub use api_versions::{ApiVersionsRequest, ApiVersionsResponse};
pub use fetch::{FetchRequest, FetchResponse};
pub use find_coordinator::{FindCoordinatorRequest, FindCoordinatorResponse};
pub use heartbeat::{HeartbeatRequest, HeartbeatResponse};
pub use list_offsets::{ListOffsetsRequest, ListOffsetsResponse};
pub use metadata::{MetadataRequest, MetadataResponse};
pub use offset_for_leader_epoch::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
