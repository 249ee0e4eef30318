//! A group member with the parts of the consumer it touches, for the coordinator's unit
//! tests: the classic member's (`tests.rs`) and the KIP-848 member's (`kip848/tests.rs`),
//! which add their own steps in `impl Harness` blocks of their own.

use std::collections::VecDeque;
use std::time::Instant;

use super::{ConsumerCoordinator, GroupCtx, GroupRequest};
use crate::codec::messages::FindCoordinatorResponse;
use crate::config::ConsumerConfig;
use crate::event::{ConsumerError, Event};
use crate::metadata::Metadata;
use crate::subscription::{SubscriptionKind, SubscriptionState};

/// A member and what of the consumer it touches.
pub(in crate::coordinator) struct Harness {
    pub(in crate::coordinator) group: ConsumerCoordinator,
    pub(in crate::coordinator) subs: SubscriptionState,
    pub(in crate::coordinator) metadata: Metadata,
    pub(in crate::coordinator) events: VecDeque<Event>,
    pub(in crate::coordinator) errors: VecDeque<ConsumerError>,
}

impl Harness {
    /// A member of `config`'s group, subscribed to "orders", metadata knowing nothing.
    pub(in crate::coordinator) fn with_config(config: &ConsumerConfig) -> Self {
        let group = ConsumerCoordinator::new(config)
            .expect("valid group settings")
            .expect("a group id");
        let metadata = Metadata::new(
            &config.bootstrap_servers,
            config.metadata_max_age,
            config.retry_backoff,
            config.retry_backoff_max,
        );
        let mut subs = SubscriptionState::new();
        assert!(subs.set_kind(SubscriptionKind::Topics));
        subs.set_subscribed_topics(vec!["orders".to_owned()]);
        Self {
            group,
            subs,
            metadata,
            events: VecDeque::new(),
            errors: VecDeque::new(),
        }
    }

    /// Runs `f` on the member with its context.
    pub(in crate::coordinator) fn with_ctx<R>(
        &mut self,
        f: impl FnOnce(&mut ConsumerCoordinator, &mut GroupCtx<'_>) -> R,
    ) -> R {
        let mut ctx = GroupCtx {
            subs: &mut self.subs,
            metadata: &mut self.metadata,
            events: &mut self.events,
            errors: &mut self.errors,
        };
        f(&mut self.group, &mut ctx)
    }

    /// The requests the member wants sent now.
    pub(in crate::coordinator) fn prepare(&mut self, now: Instant) -> Vec<GroupRequest> {
        self.with_ctx(|g, ctx| g.prepare(now, ctx))
    }

    /// Looks the coordinator up and finds broker 1.
    pub(in crate::coordinator) fn find_coordinator(&mut self, now: Instant) {
        assert!(self.group.wants_lookup(now));
        self.group.lookup_request();
        assert!(!self.group.wants_lookup(now), "one lookup at a time");
        self.group.handle_lookup(
            FindCoordinatorResponse {
                node_id: 1,
                host: "b1".to_owned(),
                port: 9092,
                ..Default::default()
            },
            now,
        );
        assert!(self.group.coordinator().is_some());
    }
}
