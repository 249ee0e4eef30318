//! Driving consumers against the cluster: one round of the application's loop, the
//! simulated clock jumping to the next deadline when nothing can happen now, several
//! members on one clock, and failure summaries. Every call into the [`Consumer`] is here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::config::{AutoOffsetReset, ConsumerConfig, ConsumerConfigBuilder};
use crate::consumer::{Consumer, NodeId};
use crate::coordinator::MemberState;
use crate::event::{ConsumerError, ConsumerRecord, Event};
use crate::topic_partition::TopicPartition;

use super::cluster::TestCluster;
use super::network::NetEvent;
use super::{text, GroupState};

/// What one round drained from a consumer.
#[derive(Debug, Default)]
struct Drained {
    records: Vec<ConsumerRecord>,
    errors: Vec<ConsumerError>,
    events: Vec<Event>,
}

/// One more consumer of a multi-member scenario, with what it handed out. Several members
/// run against one [`TestCluster`] and its clock with [`TestCluster::drive_members`]; a
/// member left out of a call is an application that stopped polling (no heartbeats, no
/// requests, answers wait).
#[derive(Debug)]
pub struct Member {
    /// A name for messages.
    pub name: String,
    /// Its client number in [`SeenRequest::client`](super::SeenRequest::client) (1, 2, ...).
    pub client: usize,
    /// The consumer.
    pub consumer: Consumer,
    /// Records drained, in order.
    pub received: Vec<ConsumerRecord>,
    /// Errors returned by `poll_records`.
    pub errors: Vec<ConsumerError>,
    /// Events drained.
    pub events: Vec<Event>,
    /// Whether a round polls (drains records and events, restarts max.poll.interval).
    pub polling: bool,
}

impl std::ops::Deref for Member {
    type Target = Consumer;
    fn deref(&self) -> &Consumer {
        &self.consumer
    }
}

impl std::ops::DerefMut for Member {
    fn deref_mut(&mut self) -> &mut Consumer {
        &mut self.consumer
    }
}

impl Member {
    /// The member id the coordinator gave it ("" when none).
    pub fn member_id(&self) -> String {
        self.consumer
            .group()
            .map(|g| g.generation().member_id.clone())
            .unwrap_or_default()
    }

    /// True when the member is stable in a generation and wants no rebalance.
    pub fn is_stable(&self) -> bool {
        self.consumer.group().is_some_and(|g| {
            g.state() == MemberState::Stable && !g.needs_rejoin() && g.coordinator().is_some()
        })
    }

    /// Its assigned partitions, sorted.
    pub fn owned(&self) -> Vec<TopicPartition> {
        let mut v = self.consumer.assignment();
        v.sort();
        v
    }

    /// Offsets received of `tp`, in order.
    pub fn offsets_of(&self, tp: &TopicPartition) -> Vec<i64> {
        self.received
            .iter()
            .filter(|r| *r.topic == tp.topic && r.partition == tp.partition)
            .map(|r| r.offset)
            .collect()
    }
}

impl TestCluster {
    // ---- the consumer side ----

    /// A config builder bootstrapping from broker 1.
    pub fn config(&self) -> ConsumerConfigBuilder {
        let first = self.brokers.values().next().expect("a broker");
        ConsumerConfig::builder()
            .bootstrap_servers([first.address()])
            .client_id("sim".to_owned())
    }

    /// A consumer built from `config`.
    pub fn consumer(&self, config: ConsumerConfigBuilder) -> Consumer {
        Consumer::new(config.build().expect("valid config")).expect("consumer")
    }

    /// A member of `group` subscribed to `topic` that reads from the earliest offset and
    /// commits only when asked (auto-commit off).
    pub fn manual_commit_member(&self, group: &str, topic: &str) -> Consumer {
        let mut consumer = self.consumer(
            self.config()
                .group_id(group)
                .enable_auto_commit(false)
                .auto_offset_reset(AutoOffsetReset::Earliest),
        );
        consumer.subscribe([topic.to_owned()]).expect("subscribe");
        consumer
    }

    // ---- what the consumer returned ----

    /// Received records of `tp`, as (offset, key, value) strings.
    pub fn received_of(&self, tp: &TopicPartition) -> Vec<(i64, String, String)> {
        self.received
            .iter()
            .filter(|r| *r.topic == tp.topic && r.partition == tp.partition)
            .map(|r| (r.offset, text(&r.key), text(&r.value)))
            .collect()
    }

    /// Received offsets of `tp`, in order.
    pub fn offsets_of(&self, tp: &TopicPartition) -> Vec<i64> {
        self.received_of(tp).into_iter().map(|r| r.0).collect()
    }

    // ---- driving ----

    /// One round of the driver loop at the current time: hand the consumer the time, take
    /// its requests, deliver due answers, drain records and events. True if anything
    /// happened.
    pub fn step(&mut self, consumer: &mut Consumer) -> bool {
        let last_error = self.errors.last().cloned();
        let (progress, drained) = self.step_client(0, consumer, self.drain, last_error);
        if !drained.records.is_empty() {
            self.poll_sizes.push(drained.records.len());
        }
        self.received.extend(drained.records);
        self.errors.extend(drained.errors);
        self.events.extend(drained.events);
        progress
    }

    /// A new member of a multi-member scenario, with a consumer built from `config` and
    /// `name` as its client id (so the coordinator's member ids read "name-N").
    pub fn member(&mut self, name: &str, config: ConsumerConfigBuilder) -> Member {
        let client = self.next_client;
        self.next_client += 1;
        Member {
            name: name.to_owned(),
            client,
            consumer: self.consumer(config.client_id(name.to_owned())),
            received: Vec::new(),
            errors: Vec::new(),
            events: Vec::new(),
            polling: true,
        }
    }

    /// One round of `member`'s driver loop; see [`step`](Self::step).
    pub fn step_member(&mut self, member: &mut Member) -> bool {
        let last_error = member.errors.last().cloned();
        let (progress, drained) = self.step_client(
            member.client,
            &mut member.consumer,
            member.polling,
            last_error,
        );
        member.received.extend(drained.records);
        member.errors.extend(drained.errors);
        member.events.extend(drained.events);
        progress
    }

    /// One round for `client`. A polling round is what the application's `poll` does: it
    /// restarts max.poll.interval and drains records and events. The same error as the
    /// last one (a fatal error reported at every poll) is not progress.
    fn step_client(
        &mut self,
        client: usize,
        consumer: &mut Consumer,
        polling: bool,
        last_error: Option<ConsumerError>,
    ) -> (bool, Drained) {
        let now = self.now();
        self.groups.tick(now);
        // What the network did meanwhile (a `cut_all`), first.
        let mut progress = self.hand_over(client, consumer);
        // As an application's poll: it enters poll (max.poll.interval is checked first),
        // then the timers due fire.
        if polling {
            consumer.poll_started(now);
        }
        consumer.handle_timeout(now);
        while let Some(t) = consumer.poll_transmit(now) {
            progress = true;
            self.receive(client, t);
            self.hand_over(client, consumer);
        }
        if consumer.is_closed() {
            // As a driver closes its network client once the consumer closed.
            self.close_client(client);
        }
        self.check_requests(client, consumer);
        progress |= self.network_round(client);
        self.hand_over(client, consumer);
        let mut drained = Drained::default();
        if polling {
            match consumer.poll_records(consumer.config().max_poll_records) {
                Ok(records) if records.is_empty() => {}
                Ok(records) => {
                    progress = true;
                    drained.records = records;
                }
                Err(e) => {
                    progress |= last_error.as_ref() != Some(&e);
                    drained.errors.push(e);
                }
            }
            while let Some(e) = consumer.poll_event() {
                progress = true;
                if matches!(
                    e,
                    Event::PartitionsAssigned(_)
                        | Event::PartitionsRevoked(_)
                        | Event::PartitionsLost(_)
                ) {
                    self.timeline.push((self.elapsed, client, e.clone()));
                }
                drained.events.push(e);
            }
        }
        (progress, drained)
    }

    /// The invariant of a request's life, checked at every step of every scenario: each
    /// request the consumer still waits for is one the network holds (nothing was lost
    /// without its owner being told), and every request recorded has ended or is pending.
    fn check_requests(&self, client: usize, consumer: &Consumer) {
        let counts = consumer.request_counts();
        assert_eq!(
            counts.recorded,
            counts.ended + counts.pending,
            "client {client}: {counts:?}"
        );
        // Requests still in the core wait for a SASL session's renewal (after
        // `poll_transmit` drained the rest).
        assert_eq!(
            counts.pending - counts.queued,
            self.outstanding(client) as u64,
            "client {client}: the consumer waits for {} requests ({} still in the core), \
             the network holds {}\n{}",
            counts.pending,
            counts.queued,
            self.outstanding(client),
            self.summary()
        );
    }

    /// The next time something is due: the consumer's timeout, a delayed answer, the end
    /// of a long poll, a request timeout, a group's timer.
    pub fn next_deadline(&self, consumer: &mut Consumer) -> Option<Instant> {
        [
            consumer.poll_timeout(),
            self.net_deadline(0),
            self.groups.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the loop until `until` holds, jumping the clock when idle. Panics after
    /// `max_steps` rounds or when nothing is left to happen. Returns the rounds taken.
    pub fn drive(
        &mut self,
        consumer: &mut Consumer,
        until: impl Fn(&Consumer, &TestCluster) -> bool,
        max_steps: usize,
    ) -> usize {
        for steps in 0..max_steps {
            if until(consumer, self) {
                return steps;
            }
            if !self.step(consumer) {
                match self.next_deadline(consumer) {
                    Some(t) => self.jump(t),
                    None => {
                        if until(consumer, self) {
                            return steps;
                        }
                        panic!("stalled: nothing left to happen\n{}", self.summary());
                    }
                }
            }
        }
        if until(consumer, self) {
            return max_steps;
        }
        panic!("condition not met in {max_steps} steps\n{}", self.summary());
    }

    /// Runs the loop for `d` of simulated time.
    pub fn run_for(&mut self, consumer: &mut Consumer, d: Duration) {
        let end = self.now() + d;
        let mut guard = 0;
        while self.now() < end {
            guard += 1;
            assert!(guard < 100_000, "run_for spins\n{}", self.summary());
            if !self.step(consumer) {
                let t = self.next_deadline(consumer).map_or(end, |t| t.min(end));
                self.jump(t);
            }
        }
        // Whatever is due at the end too.
        while self.step(consumer) {
            guard += 1;
            assert!(guard < 100_000, "run_for spins\n{}", self.summary());
        }
    }

    /// One round of each of `members`, in order; after each, no partition may be assigned
    /// to two of them (a conflict is recorded in `ownership_conflicts`).
    fn step_members(&mut self, members: &mut [&mut Member]) -> bool {
        let mut progress = false;
        for i in 0..members.len() {
            progress |= self.step_member(members[i]);
            self.check_owners(members);
        }
        progress
    }

    fn check_owners(&mut self, members: &[&mut Member]) {
        let mut owner: BTreeMap<TopicPartition, &str> = BTreeMap::new();
        for m in members {
            for tp in m.consumer.assignment() {
                if let Some(other) = owner.insert(tp.clone(), &m.name) {
                    let msg = format!(
                        "t={:?}: {tp} assigned to both {other} and {}",
                        self.elapsed, m.name
                    );
                    if self.ownership_conflicts.last() != Some(&msg) {
                        self.ownership_conflicts.push(msg);
                    }
                }
            }
        }
    }

    fn members_deadline(&self, members: &mut [&mut Member]) -> Option<Instant> {
        members
            .iter_mut()
            .flat_map(|m| [m.consumer.poll_timeout(), self.net_deadline(m.client)])
            .chain([self.groups.next_deadline()])
            .flatten()
            .min()
    }

    /// Runs every member's loop, round-robin, until `until` holds, jumping the shared clock
    /// when all are idle. Panics after `max_steps` rounds or when nothing is left to happen.
    pub fn drive_members(
        &mut self,
        members: &mut [&mut Member],
        until: impl Fn(&[&mut Member], &TestCluster) -> bool,
        max_steps: usize,
    ) -> usize {
        for steps in 0..max_steps {
            if until(members, self) {
                return steps;
            }
            if !self.step_members(members) {
                match self.members_deadline(&mut *members) {
                    Some(t) => self.jump(t),
                    None => {
                        if until(members, self) {
                            return steps;
                        }
                        panic!(
                            "stalled: nothing left to happen\n{}",
                            self.members_summary(members)
                        );
                    }
                }
            }
        }
        if until(members, self) {
            return max_steps;
        }
        panic!(
            "condition not met in {max_steps} steps\n{}",
            self.members_summary(members)
        );
    }

    /// `members[which]` commits the positions it consumed; every member runs until that
    /// commit succeeded. Panics if it failed or did not finish in `max_steps`.
    pub fn commit_consumed(&mut self, members: &mut [&mut Member], which: usize, max_steps: usize) {
        let offsets = members[which].consumed_offsets();
        let id = members[which]
            .commit(offsets)
            .expect("a group member commits");
        self.drive_members(
            members,
            |m, _| {
                m[which]
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::CommitCompleted { id: i, .. } if *i == id))
            },
            max_steps,
        );
        let result = members[which].events.iter().find_map(|e| match e {
            Event::CommitCompleted { id: i, result, .. } if *i == id => Some(result.clone()),
            _ => None,
        });
        assert_eq!(
            result,
            Some(Ok(())),
            "the commit of {}",
            members[which].name
        );
    }

    /// `member` leaves its group (the LeaveGroup or leaving heartbeat goes out) and
    /// closes, as a process shutting down would.
    pub fn leave_and_close(&mut self, member: &mut Member) {
        let now = self.now();
        member.leave_group(now);
        self.run_members_for(&mut [&mut *member], Duration::ZERO);
        member.close();
    }

    /// Runs every member's loop for `d` of simulated time.
    pub fn run_members_for(&mut self, members: &mut [&mut Member], d: Duration) {
        let end = self.now() + d;
        let mut guard = 0;
        while self.now() < end {
            guard += 1;
            assert!(
                guard < 100_000,
                "run_members_for spins\n{}",
                self.members_summary(members)
            );
            if !self.step_members(members) {
                let t = self
                    .members_deadline(&mut *members)
                    .map_or(end, |t| t.min(end));
                self.jump(t);
            }
        }
        while self.step_members(members) {
            guard += 1;
            assert!(
                guard < 100_000,
                "run_members_for spins\n{}",
                self.members_summary(members)
            );
        }
    }

    /// Runs `members` until all of them are stable in the current generation of `group`,
    /// and the group too.
    pub fn settle(&mut self, members: &mut [&mut Member], group: &str, max_steps: usize) {
        let group = group.to_owned();
        self.drive_members(
            members,
            |ms, c| {
                let Some(g) = c.groups.group(&group) else {
                    return false;
                };
                g.state == GroupState::Stable
                    && g.members.len() == ms.len()
                    && ms.iter().all(|m| {
                        m.is_stable()
                            && m.group()
                                .is_some_and(|x| x.generation().generation_id == g.generation)
                    })
            },
            max_steps,
        );
    }

    fn jump(&mut self, t: Instant) {
        // A deadline in the past that produced nothing would loop forever: nudge time.
        let t = t.max(self.now() + Duration::from_millis(1));
        self.advance_to(t);
    }

    /// What the cluster saw, for failure messages.
    pub fn summary(&self) -> String {
        let mut s = format!("t={:?}\n", self.elapsed);
        for r in self.requests.iter().rev().take(30).rev() {
            let _ = writeln!(
                s,
                "  {:>8?} c{} node {} (broker {}) #{} {} v{} {:?} {:?} {} {}",
                r.at,
                r.client,
                r.node,
                r.broker,
                r.correlation_id,
                r.api,
                r.version,
                r.partitions,
                r.topics,
                r.member_id,
                r.generation
            );
        }
        let _ = writeln!(
            s,
            "received {} records, {} errors (first: {:?}), in flight {}",
            self.received.len(),
            self.errors.len(),
            self.errors.first(),
            self.in_flight()
        );
        for l in self.groups.log.iter().rev().take(15).rev() {
            let _ = writeln!(s, "  group: {l}");
        }
        s
    }

    /// [`summary`](Self::summary) with each member's state.
    pub fn members_summary(&self, members: &[&mut Member]) -> String {
        let mut s = self.summary();
        for m in members {
            let g = m.group();
            let _ = writeln!(
                s,
                "member {} (c{}): {:?} gen {:?} owns {:?}, errors {:?}",
                m.name,
                m.client,
                g.map(|g| g.state()),
                g.map(|g| g.generation().clone()),
                m.owned(),
                m.errors
            );
        }
        s
    }
}

// ---- the consumer's inputs from the network, and what the network asks of it ----

impl TestCluster {
    /// The network's work for `client` at the current time, once its requests are in:
    /// connect where a backoff ended, expire requests, deliver due answers (to the
    /// client's outbox). True if anything happened.
    pub(super) fn network_round(&mut self, client: usize) -> bool {
        let mut progress = false;
        let waiting: Vec<NodeId> = self
            .links
            .keys()
            .filter(|(c, _)| *c == client)
            .map(|(_, n)| *n)
            .collect();
        for node in waiting {
            progress |= self.try_connect(client, node);
        }
        progress |= self.expire_requests(client);
        progress |= self.deliver(client);
        progress
    }

    /// Hands `consumer` what the network has for `client`: answers and lost connections,
    /// in order. True if there was anything.
    pub(super) fn hand_over(&mut self, client: usize, consumer: &mut Consumer) -> bool {
        let now = self.now();
        let Some(events) = self.outbox.get_mut(&client) else {
            return false;
        };
        let any = !events.is_empty();
        while let Some(event) = events.pop_front() {
            match event {
                NetEvent::Response {
                    node,
                    correlation_id,
                    frame,
                } => consumer.handle_response(node, correlation_id, frame, now),
                NetEvent::Disconnected { node, .. } => consumer.handle_disconnect(node, now),
            }
        }
        any
    }
}

/// The node of `consumer`'s group coordinator, if it knows one.
pub(super) fn coordinator_node(consumer: &Consumer) -> Option<NodeId> {
    consumer.group().and_then(|g| g.coordinator()).map(|n| n.id)
}
