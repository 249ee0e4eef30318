//! Dispatch by owner: each ended request goes to the subsystem that sent it, with its
//! answer or the reason it has none. Adding an API means one [`Owner`] variant and one
//! arm here; each subsystem reads its answers and failures behind one method.

use std::time::Instant;

use bytes::Bytes;

use super::requests::{decode, InFlight, Outcome, Owner};
use super::Consumer;
use crate::codec::messages::{
    ApiVersionsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest,
    OffsetForLeaderEpochRequest,
};

impl Consumer {
    /// Hands the outcome of an ended request to its owner.
    pub(super) fn finish(&mut self, request: InFlight, frame: Outcome<Bytes>, now: Instant) {
        self.requests.ended(&request);
        let InFlight {
            node,
            api,
            version,
            owner,
            handed_out,
            ..
        } = request;
        match owner {
            Owner::Negotiation => {
                let resp = decode::<ApiVersionsRequest>(node, version, frame);
                if let Err(e) = self.nodes.handle_api_versions(node, version, resp) {
                    self.errors.push_back(e.into());
                }
                // A SASL connection authenticates at once.
                self.authenticate_if_due(node, now);
            }
            Owner::Authentication => self.finish_authentication(node, api, version, frame, now),
            Owner::Metadata => match decode::<MetadataRequest>(node, version, frame) {
                Ok(resp) => self.apply_metadata(resp, now),
                Err(_) => self.metadata.update_failed(now),
            },
            Owner::Fetcher(ctx) => {
                let resp = decode::<FetchRequest>(node, version, frame);
                match (handed_out, &resp) {
                    (Some(sent), Ok(_)) => self.counters.fetch_completed(sent, now),
                    (Some(_), Err(_)) => self.counters.fetch_failed(),
                    (None, _) => {}
                }
                let errs = self.fetcher.handle_response(
                    now,
                    ctx,
                    resp,
                    &self.config,
                    &mut self.subs,
                    &mut self.metadata,
                );
                self.errors.extend(errs);
            }
            Owner::Offsets(ctx) => {
                let resp = decode::<ListOffsetsRequest>(node, version, frame);
                let errs = self.offsets.handle_response(
                    ctx,
                    resp,
                    now,
                    self.config.retry_backoff,
                    &mut self.subs,
                    &mut self.metadata,
                );
                self.errors.extend(errs);
            }
            Owner::Validation(ctx) => {
                let resp = decode::<OffsetForLeaderEpochRequest>(node, version, frame);
                let errs = self.validator.handle_response(
                    ctx,
                    resp,
                    now,
                    &self.config,
                    &mut self.subs,
                    &mut self.metadata,
                );
                // A truncation is reported again at each retry until the caller seeks:
                // queued once, however long the caller takes to poll.
                for e in errs {
                    if !self.errors.contains(&e) {
                        self.errors.push_back(e);
                    }
                }
            }
            Owner::SessionClose { session_id } => {
                let resp = decode::<FetchRequest>(node, version, frame);
                Self::session_closed(node, session_id, resp);
            }
            Owner::Group(call) => self.finish_group(node, version, call, frame, now),
        }
        // A session being renewed waits for the answers to what was sent on it: this may
        // have been the last.
        if self.nodes.is_renewing(node) {
            self.authenticate_if_due(node, now);
        }
    }
}
