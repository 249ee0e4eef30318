//! The group side of [`KafkaConsumer`]: subscriptions, the rebalance listener, commits.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::time::Duration;

use consumer_core::{ConsumerError, Event, OffsetAndMetadata, RequestId, TopicPartition};
use log::{debug, warn};

use super::{KafkaConsumer, KafkaError};
use crate::network::NetworkClient;
use crate::transport::Transport;

/// Called from within `poll` (and `unsubscribe` / `close`) when the group moves
/// partitions, at the points the Java consumer calls its `ConsumerRebalanceListener`.
///
/// The consumer is passed in so a listener can commit or seek; a commit made in
/// `on_partitions_revoked` is made before the partitions go to another member. `T` is the
/// consumer's [`Transport`]: a listener of the usual consumer implements
/// `RebalanceListener`, one of a consumer over another transport `RebalanceListener<T>`.
pub trait RebalanceListener<T: Transport = NetworkClient>: Send {
    /// These partitions are taken away (eager: all, before rejoining; cooperative: only
    /// the ones moving). Commit what was processed of them here.
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut KafkaConsumer<T>,
        partitions: &[TopicPartition],
    ) {
        let _ = (consumer, partitions);
    }

    /// These partitions were given (cooperative: only the new ones; may be empty).
    fn on_partitions_assigned(
        &mut self,
        consumer: &mut KafkaConsumer<T>,
        partitions: &[TopicPartition],
    ) {
        let _ = (consumer, partitions);
    }

    /// These partitions were lost: another member may own them already, so do not commit.
    /// By default this calls `on_partitions_revoked`, as in Java.
    fn on_partitions_lost(
        &mut self,
        consumer: &mut KafkaConsumer<T>,
        partitions: &[TopicPartition],
    ) {
        self.on_partitions_revoked(consumer, partitions);
    }
}

/// A callback for [`KafkaConsumer::commit_async`].
pub type CommitCallback =
    Box<dyn FnOnce(&[(TopicPartition, OffsetAndMetadata)], Result<(), ConsumerError>) + Send>;

/// Committed offsets as looked up, per partition.
type CommittedOffsets = Vec<(TopicPartition, Option<OffsetAndMetadata>)>;

/// Group state kept by the facade: the listener, waiting callbacks and answers.
pub(super) struct GroupFacade<T: Transport> {
    pub(super) listener: Option<Box<dyn RebalanceListener<T>>>,
    pub(super) listener_events: std::collections::VecDeque<Event>,
    pub(super) callbacks: HashMap<RequestId, CommitCallback>,
    pub(super) commit_results: HashMap<RequestId, Result<(), ConsumerError>>,
    pub(super) committed: HashMap<RequestId, Result<CommittedOffsets, ConsumerError>>,
    /// The listener already heard of the revocation the core is about to report.
    pub(super) revocation_told: bool,
    /// The listener is running (taken out of `listener`).
    pub(super) listener_running: bool,
    /// A call the listener made was ended by a wake: the call that ran the listener
    /// reports it as well.
    pub(super) wakeup_in_listener: bool,
}

impl<T: Transport> Default for GroupFacade<T> {
    fn default() -> Self {
        Self {
            listener: None,
            listener_events: Default::default(),
            callbacks: HashMap::new(),
            commit_results: HashMap::new(),
            committed: HashMap::new(),
            revocation_told: false,
            listener_running: false,
            wakeup_in_listener: false,
        }
    }
}

impl<T: Transport> std::fmt::Debug for GroupFacade<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupFacade")
            .field("listener", &self.listener.is_some())
            .field("callbacks", &self.callbacks.len())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> KafkaConsumer<T> {
    /// Subscribes to `topics` through the consumer group (`group.id` must be set). The
    /// assignment arrives during `poll`; each partition starts at the group's committed
    /// offset, or by `auto.offset.reset`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use consumer_net::KafkaConsumer;
    /// let mut consumer = KafkaConsumer::from_properties([
    ///     ("bootstrap.servers", "localhost:9092"),
    ///     ("group.id", "billing"),
    /// ])?;
    /// consumer.subscribe(["orders", "refunds"])?;
    /// let records = consumer.poll(Duration::from_secs(1))?; // joins the group
    /// # Ok::<(), consumer_net::KafkaError>(())
    /// ```
    pub fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<(), KafkaError> {
        self.check_open()?;
        Ok(self.core.subscribe(topics.into_iter().map(Into::into))?)
    }

    /// Like [`subscribe`](Self::subscribe), with a listener called as partitions move.
    pub fn subscribe_with_listener<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
        listener: Box<dyn RebalanceListener<T>>,
    ) -> Result<(), KafkaError> {
        self.subscribe(topics)?;
        self.group.listener = Some(listener);
        Ok(())
    }

    /// Subscribes to every topic matching `pattern` (a regular expression over the whole
    /// name), re-evaluated whenever metadata is refreshed.
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<(), KafkaError> {
        self.check_open()?;
        Ok(self.core.subscribe_pattern(pattern)?)
    }

    /// Sets or replaces the rebalance listener.
    pub fn set_rebalance_listener(&mut self, listener: Box<dyn RebalanceListener<T>>) {
        self.group.listener = Some(listener);
    }

    /// Drops the subscription (a group member leaves the group) or the manual assignment.
    /// As in Java, the listener's `on_partitions_revoked` runs before the member leaves,
    /// so it can still commit.
    pub fn unsubscribe(&mut self) -> Result<(), KafkaError> {
        self.check_open()?;
        self.commit_before_leaving();
        self.revoke_before_leaving();
        self.core.unsubscribe();
        self.dispatch_events();
        let deadline = self.net.now()
            + self
                .core
                .config()
                .request_timeout
                .min(Duration::from_secs(5));
        while self.core.has_pending_group_requests() && self.net.now() < deadline {
            self.run_once(deadline)?;
        }
        Ok(())
    }

    /// Commits the positions of all assigned partitions (what `poll` has handed out) and
    /// waits for the answer, at most `default.api.timeout.ms` (Java's `commitSync()`).
    ///
    /// A [`ConsumerError::CommitFailed`] ([`KafkaError::is_commit_failed`]) is normal
    /// during a rebalance: the partitions may have moved, and their next owner resumes
    /// from the last successful commit. Keep polling; the member rejoins.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use consumer_net::KafkaConsumer;
    /// # fn process(_: &consumer_net::ConsumerRecord) {}
    /// # let mut consumer: KafkaConsumer = todo!();
    /// let records = consumer.poll(Duration::from_millis(500))?;
    /// records.iter().for_each(process);
    /// match consumer.commit_sync() {
    ///     Ok(()) => {}
    ///     // Some of these records may be processed again by the partition's next owner.
    ///     Err(e) if e.is_commit_failed() => log::info!("commit refused by a rebalance: {e}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), consumer_net::KafkaError>(())
    /// ```
    pub fn commit_sync(&mut self) -> Result<(), KafkaError> {
        self.commit_sync_with_timeout(self.core.config().default_api_timeout)
    }

    /// [`commit_sync`](Self::commit_sync), waiting at most `timeout`.
    pub fn commit_sync_with_timeout(&mut self, timeout: Duration) -> Result<(), KafkaError> {
        let offsets = self.core.consumed_offsets();
        self.commit_offsets_sync_with_timeout(offsets, timeout)
    }

    /// Commits `offsets` (for each partition, the offset of the next record to consume:
    /// the last processed offset + 1) and waits, at most `default.api.timeout.ms`.
    pub fn commit_offsets_sync(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
    ) -> Result<(), KafkaError> {
        self.commit_offsets_sync_with_timeout(offsets, self.core.config().default_api_timeout)
    }

    /// [`commit_offsets_sync`](Self::commit_offsets_sync), waiting at most `timeout`.
    pub fn commit_offsets_sync_with_timeout(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
        timeout: Duration,
    ) -> Result<(), KafkaError> {
        self.start_call()?;
        // Checked before the shortcut below: without a group nothing could ever commit.
        if self.core.group().is_none() {
            return Err(consumer_core::StateError::NoGroupId("commit").into());
        }
        let offsets: Vec<_> = offsets.into_iter().collect();
        if offsets.is_empty() {
            return Ok(());
        }
        let started = self.net.now();
        let deadline = self.deadline_after(started, timeout);
        let id = self.core.commit(offsets)?;
        loop {
            if let Some(r) = self.group.commit_results.remove(&id) {
                return Ok(r?);
            }
            if self.net.now() >= deadline {
                self.core.cancel_commit(id);
                return Err(self.timeout(
                    "commit",
                    deadline.saturating_duration_since(started),
                    self.group_wait_reason(),
                ));
            }
            if let Err(e) = self.run_once(deadline) {
                self.core.cancel_commit(id);
                return Err(e);
            }
        }
    }

    /// Commits the consumed positions without waiting; `callback` runs from a later
    /// `poll` (or any blocking call) once the answer is in.
    pub fn commit_async(&mut self, callback: Option<CommitCallback>) -> Result<(), KafkaError> {
        let offsets = self.core.consumed_offsets();
        self.commit_offsets_async(offsets, callback)
    }

    /// Commits `offsets` without waiting.
    pub fn commit_offsets_async(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
        callback: Option<CommitCallback>,
    ) -> Result<(), KafkaError> {
        self.check_open()?;
        let id = self.core.commit_async(offsets.into_iter().collect())?;
        match callback {
            Some(cb) => {
                self.group.callbacks.insert(id, cb);
            }
            None => {
                // Nobody waits for it; its result is logged.
                self.group.callbacks.insert(
                    id,
                    Box::new(|_, r| {
                        if let Err(e) = r {
                            warn!("async commit failed: {e}");
                        }
                    }),
                );
            }
        }
        // Send it now rather than at the next poll.
        let now = self.net.now();
        self.flush(now);
        self.net_poll(Duration::ZERO, now)?;
        self.complete(self.net.now());
        Ok(())
    }

    /// The committed offsets of `partitions` (None where nothing is committed), waiting
    /// at most `timeout` (Java's `committed(Set, Duration)`).
    pub fn committed<P>(
        &mut self,
        partitions: P,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndMetadata>>, KafkaError>
    where
        P: IntoIterator,
        P::Item: Borrow<TopicPartition>,
    {
        self.start_call()?;
        let started = self.net.now();
        let deadline = self.deadline_after(started, timeout);
        let partitions: Vec<TopicPartition> = partitions
            .into_iter()
            .map(|tp| tp.borrow().clone())
            .collect();
        let id = self.core.committed(partitions)?;
        loop {
            if let Some(r) = self.group.committed.remove(&id) {
                return Ok(r?.into_iter().collect());
            }
            if self.net.now() >= deadline {
                let cause = self.group_wait_reason();
                return Err(self.timeout(
                    "committed offsets lookup",
                    deadline.saturating_duration_since(started),
                    cause,
                ));
            }
            self.run_once(deadline)?;
        }
    }

    /// Where the group stands, for the message of a call that timed out waiting on it.
    fn group_wait_reason(&self) -> Option<String> {
        self.core.group().map(|g| g.wait_reason())
    }

    /// With auto-commit, commits what was consumed before leaving (best effort).
    pub(super) fn commit_before_leaving(&mut self) {
        let auto = self.core.config().enable_auto_commit;
        let member = self
            .core
            .group()
            .is_some_and(|g| g.generation().is_valid() || !self.core.assignment().is_empty());
        if auto && member {
            if let Err(e) = self.commit_sync() {
                warn!("commit before leaving failed: {e}");
            }
        }
    }

    /// Before leaving (close, unsubscribe): tells the listener of the revocation of every
    /// owned partition while they are still assigned, so that it can commit them. The
    /// revocation the core reports when leaving is then not told again.
    pub(super) fn revoke_before_leaving(&mut self) {
        // Events still held (see `poll`) come first.
        self.dispatch_events();
        let owned: Vec<TopicPartition> = self
            .core
            .group()
            .map(|g| g.owned().to_vec())
            .unwrap_or_default();
        if owned.is_empty() {
            return;
        }
        self.run_listener(|l, me| l.on_partitions_revoked(me, &owned));
        self.group.revocation_told = true;
    }

    /// Takes the core's events into the facade, calling the listener and callbacks.
    pub(super) fn dispatch_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            match event {
                Event::PartitionsRevoked(_) if self.group.revocation_told => {
                    self.group.revocation_told = false;
                }
                e @ (Event::PartitionsRevoked(_)
                | Event::PartitionsAssigned(_)
                | Event::PartitionsLost(_)) => self.group.listener_events.push_back(e),
                Event::CommitCompleted {
                    id,
                    offsets,
                    result,
                } => {
                    if let Some(cb) = self.group.callbacks.remove(&id) {
                        cb(&offsets, result);
                    } else {
                        self.group.commit_results.insert(id, result);
                    }
                }
                Event::CommittedFetched { id, offsets } => {
                    self.group.committed.insert(id, offsets);
                }
                Event::OffsetsListed { query, offsets } => {
                    self.listed.insert(query, offsets);
                }
                other => debug!("event not handled here: {other:?}"),
            }
        }
        // The listener is taken out while it runs, so a call it makes does not re-enter
        // it; events arriving meanwhile wait for it to return.
        if self.group.listener_running {
            return;
        }
        let ran = self.run_listener(|l, me| {
            while let Some(e) = me.group.listener_events.pop_front() {
                match e {
                    Event::PartitionsRevoked(p) => l.on_partitions_revoked(me, &p),
                    Event::PartitionsAssigned(p) => l.on_partitions_assigned(me, &p),
                    Event::PartitionsLost(p) => l.on_partitions_lost(me, &p),
                    other => debug!("unexpected listener event {other:?}"),
                }
            }
        });
        if !ran {
            self.group.listener_events.clear();
        }
    }

    /// Runs `f` with the listener taken out, so that a call it makes does not re-enter
    /// it (events arriving meanwhile wait); a listener it sets replaces this one. A wake
    /// that ended one of its calls is kept for the call that ran it. False without a
    /// listener.
    fn run_listener(&mut self, f: impl FnOnce(&mut dyn RebalanceListener<T>, &mut Self)) -> bool {
        let Some(mut listener) = self.group.listener.take() else {
            return false;
        };
        self.group.listener_running = true;
        // The core holds the rebalance (no acknowledgement, no JoinGroup) until the
        // listener returns: calls it makes (a commit of the revoked partitions) drive the
        // network meanwhile.
        self.core.set_listener_running(true);
        f(listener.as_mut(), self);
        self.core.set_listener_running(false);
        self.group.listener_running = false;
        if self.group.listener.is_none() {
            self.group.listener = Some(listener);
        }
        if std::mem::take(&mut self.group.wakeup_in_listener) {
            self.wakeup_pending = true;
        }
        true
    }
}
