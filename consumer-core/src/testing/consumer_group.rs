//! The simulated coordinator's side of KIP-848 consumer groups (the "consumer" group
//! protocol): ConsumerGroupHeartbeat, server-side assignors, member reconciliation, and
//! the record of who owned which partition when.
//!
//! It follows Kafka 4's `GroupMetadataManager` where a consumer can tell:
//!
//! * A group id is either classic or consumer. A heartbeat to a classic group with members
//!   gets GROUP_ID_NOT_FOUND (Kafka's online upgrade of a classic group is not modelled);
//!   an empty classic group is replaced. A JoinGroup to a consumer group with members gets
//!   INCONSISTENT_GROUP_PROTOCOL (Kafka would let a classic member in); an empty consumer
//!   group is replaced.
//! * Joining (epoch 0) needs a rebalance timeout, an empty TopicPartitions and a
//!   subscription (topic names, or at v1 a regex that must match the whole topic name);
//!   else INVALID_REQUEST. From v1 the member id is the client's and may never be empty;
//!   at v0 the coordinator makes one up for a join with an empty id.
//! * The group epoch goes up when a member joins or leaves, changes its subscription or
//!   server assignor, or when the partitions its subscriptions resolve to change (topics
//!   created or grown are seen at the next heartbeat). A bumped group epoch recomputes the
//!   target assignment with the group's server assignor: "uniform" (the default; balanced
//!   and sticky: members keep what they had as far as balance allows) or "range" (per
//!   topic, members in join order). The assignor most members ask for wins; an unknown
//!   one is UNSUPPORTED_ASSIGNOR.
//! * Reconciliation as Kafka's `CurrentAssignmentBuilder`: a member losing partitions first
//!   gets an assignment without them at its current epoch and keeps owning them until a
//!   heartbeat's TopicPartitions no longer lists them; then it moves to the target epoch
//!   and gets the partitions no other member still owns (the rest follow once released).
//!   A heartbeat answer carries the member's whole assignment on a full request (a join)
//!   or when the assignment changed, else none.
//! * An epoch above the member's, or below it unless it is the previous epoch with owned
//!   partitions within the assignment (a lost answer), is FENCED_MEMBER_EPOCH; an unknown
//!   member id with an epoch above 0 is UNKNOWN_MEMBER_ID. Simplification: a member that
//!   rejoins at epoch 0 under its own (still known) id is taken back as joining afresh,
//!   its partitions released (it must send an empty TopicPartitions); Kafka fences it.
//! * Epoch -1 leaves; -2 (a static member) keeps the member's assignment for its instance
//!   id until its session runs out. A new member id joining at epoch 0 with that instance
//!   id takes the assignment over; while the old member is active it is
//!   UNRELEASED_INSTANCE_ID.
//! * A member silent for the session timeout ([`Groups::consumer_session_timeout`]) is
//!   removed and its partitions freed; one that does not give up revoked partitions within
//!   its rebalance timeout is fenced (removed) as well.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::codec::messages::consumer_group_heartbeat::{
    TopicPartitions, JOIN_EPOCH, LEAVE_EPOCH, STATIC_LEAVE_EPOCH,
};
use crate::codec::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use crate::error_code::ErrorCode;
use crate::topic_partition::TopicPartition;

use super::cluster::Topic;
use super::group::Groups;

/// The server-side assignors the simulated coordinator offers, the default first.
pub const SERVER_ASSIGNORS: [&str; 2] = ["uniform", "range"];

/// Where a member of a consumer group is in reconciling with its target assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileState {
    /// It has its target assignment at the target epoch (or waits for nothing).
    Stable,
    /// It was asked to give up partitions and has not acknowledged it yet.
    UnrevokedPartitions,
    /// It is at the target epoch but some of its target partitions are still owned by
    /// other members.
    UnreleasedPartitions,
}

/// One member of a consumer group as the coordinator knows it.
#[derive(Debug, Clone)]
pub struct ConsumerMember {
    /// Its member id.
    pub member_id: String,
    /// Its instance id (a static member).
    pub instance_id: Option<String>,
    /// Its rack.
    pub rack_id: Option<String>,
    /// The client id of its last heartbeat.
    pub client_id: String,
    /// Its current epoch (-2: a static member that left and may come back).
    pub member_epoch: i32,
    /// The epoch before the current one.
    pub previous_epoch: i32,
    /// Its reconciliation state.
    pub state: ReconcileState,
    /// The topic names it subscribed to.
    pub subscribed_topics: Vec<String>,
    /// The regex it subscribed to.
    pub subscribed_regex: Option<String>,
    /// The server assignor it asked for.
    pub server_assignor: Option<String>,
    /// How long it may take to give up revoked partitions.
    pub rebalance_timeout: Duration,
    /// The partitions it may own now (what its last answers carried).
    pub assigned: BTreeSet<TopicPartition>,
    /// Partitions it was asked to give up and still owns.
    pub pending_revocation: BTreeSet<TopicPartition>,
    /// Its last heartbeat.
    pub last_seen: Instant,
    pub(super) revoke_deadline: Option<Instant>,
}

impl ConsumerMember {
    fn new(member_id: String, now: Instant) -> Self {
        Self {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            member_epoch: 0,
            previous_epoch: 0,
            state: ReconcileState::Stable,
            subscribed_topics: Vec::new(),
            subscribed_regex: None,
            server_assignor: None,
            rebalance_timeout: Duration::ZERO,
            assigned: BTreeSet::new(),
            pending_revocation: BTreeSet::new(),
            last_seen: now,
            revoke_deadline: None,
        }
    }

    /// The topics its subscription resolves to among `topics`.
    fn resolve(&self, topics: &BTreeMap<String, Topic>) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .subscribed_topics
            .iter()
            .filter(|t| topics.contains_key(*t))
            .cloned()
            .collect();
        if let Some(re) = self.subscribed_regex.as_deref().and_then(full_match) {
            out.extend(topics.keys().filter(|t| re.is_match(t)).cloned());
        }
        out
    }

    /// Every partition it owns: assigned or not yet revoked.
    pub fn owned(&self) -> impl Iterator<Item = &TopicPartition> {
        self.assigned.iter().chain(&self.pending_revocation)
    }
}

/// One KIP-848 consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    /// The group epoch: bumped by each change of membership or subscriptions.
    pub group_epoch: i32,
    /// The epoch of the target assignment.
    pub assignment_epoch: i32,
    /// The members, in join order.
    pub members: Vec<ConsumerMember>,
    /// The target assignment by member id.
    pub target: BTreeMap<String, BTreeSet<TopicPartition>>,
    /// The assignor that computed the target assignment.
    pub assignor: String,
    /// The subscribed topics and their partition counts the target was computed for.
    pub subscription: BTreeMap<String, usize>,
}

impl ConsumerGroup {
    fn new() -> Self {
        Self {
            group_epoch: 0,
            assignment_epoch: 0,
            members: Vec::new(),
            target: BTreeMap::new(),
            assignor: SERVER_ASSIGNORS[0].to_owned(),
            subscription: BTreeMap::new(),
        }
    }

    /// The member with `id`.
    pub fn member(&self, id: &str) -> Option<&ConsumerMember> {
        self.members.iter().find(|m| m.member_id == id)
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.member_id == id)
    }

    fn static_position(&self, instance: &str) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.instance_id.as_deref() == Some(instance))
    }

    /// The member ids, in join order.
    pub fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.member_id.clone()).collect()
    }

    /// Each member's epoch.
    pub fn epochs(&self) -> BTreeMap<String, i32> {
        self.members
            .iter()
            .map(|m| (m.member_id.clone(), m.member_epoch))
            .collect()
    }

    /// Each member's current assignment (what it may own now), sorted.
    pub fn assignments(&self) -> BTreeMap<String, Vec<TopicPartition>> {
        self.members
            .iter()
            .map(|m| (m.member_id.clone(), m.assigned.iter().cloned().collect()))
            .collect()
    }

    /// The member owning `tp` (assigned, or revoked and not acknowledged yet).
    pub fn owner_of(&self, tp: &TopicPartition) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.owned().any(|x| x == tp))
            .map(|m| m.member_id.as_str())
    }

    /// Every owned partition and its owner.
    fn owners(&self) -> BTreeMap<TopicPartition, String> {
        let mut out = BTreeMap::new();
        for m in &self.members {
            for tp in m.owned() {
                out.insert(tp.clone(), m.member_id.clone());
            }
        }
        out
    }

    /// True once every member has its target at the target epoch.
    pub fn is_stable(&self) -> bool {
        self.group_epoch == self.assignment_epoch
            && self.members.iter().all(|m| {
                m.member_epoch == STATIC_LEAVE_EPOCH
                    || (m.member_epoch == self.assignment_epoch
                        && m.state == ReconcileState::Stable
                        && self
                            .target
                            .get(&m.member_id)
                            .is_none_or(|t| *t == m.assigned))
            })
    }

    /// The assignor most members ask for (ties: the first in [`SERVER_ASSIGNORS`]).
    fn preferred_assignor(&self) -> String {
        let votes = |name: &str| {
            self.members
                .iter()
                .filter(|m| m.server_assignor.as_deref() == Some(name))
                .count()
        };
        let mut best = SERVER_ASSIGNORS[0];
        for a in SERVER_ASSIGNORS {
            if votes(a) > votes(best) {
                best = a;
            }
        }
        best.to_owned()
    }

    fn remove(&mut self, i: usize) -> ConsumerMember {
        let m = self.members.remove(i);
        self.target.remove(&m.member_id);
        self.group_epoch += 1;
        m
    }

    /// Recomputes the target assignment for the group epoch.
    fn update_target(&mut self, topics: &BTreeMap<String, Topic>) {
        self.assignor = self.preferred_assignor();
        let subs: Vec<(String, BTreeSet<String>)> = self
            .members
            .iter()
            .map(|m| (m.member_id.clone(), m.resolve(topics)))
            .collect();
        let counts: BTreeMap<String, usize> = self
            .subscription
            .iter()
            .map(|(t, n)| (t.clone(), *n))
            .collect();
        self.target = if self.assignor == "range" {
            range(&subs, &counts)
        } else {
            uniform(&subs, &counts, &self.target)
        };
        self.assignment_epoch = self.group_epoch;
    }

    /// Moves member `i` towards its target, as Kafka's `CurrentAssignmentBuilder`.
    /// `owned`: the partitions its heartbeat says it owns (`None`: not sent).
    fn reconcile(&mut self, i: usize, owned: Option<&BTreeSet<TopicPartition>>, now: Instant) {
        let m = &self.members[i];
        let epoch = m.member_epoch;
        match m.state {
            ReconcileState::Stable if epoch == self.assignment_epoch => {}
            ReconcileState::Stable | ReconcileState::UnreleasedPartitions => {
                self.next_assignment(i, epoch, owned, now)
            }
            ReconcileState::UnrevokedPartitions => {
                if !owns_any(owned, &m.pending_revocation) {
                    self.next_assignment(i, epoch + 1, owned, now);
                }
            }
        }
    }

    fn next_assignment(
        &mut self,
        i: usize,
        epoch: i32,
        owned: Option<&BTreeSet<TopicPartition>>,
        now: Instant,
    ) {
        let id = self.members[i].member_id.clone();
        let target = self.target.get(&id).cloned().unwrap_or_default();
        let others: BTreeSet<TopicPartition> = self
            .members
            .iter()
            .filter(|m| m.member_id != id)
            .flat_map(|m| m.owned().cloned())
            .collect();
        let target_epoch = self.assignment_epoch;
        let m = &mut self.members[i];
        let kept: BTreeSet<TopicPartition> = m.assigned.intersection(&target).cloned().collect();
        let revoke: BTreeSet<TopicPartition> = m.assigned.difference(&kept).cloned().collect();
        let wanted: BTreeSet<TopicPartition> = target.difference(&kept).cloned().collect();
        let unreleased = wanted.iter().any(|tp| others.contains(tp));
        let free: BTreeSet<TopicPartition> = wanted.difference(&others).cloned().collect();
        let set_epoch = |m: &mut ConsumerMember, e: i32| {
            if m.member_epoch != e {
                m.previous_epoch = m.member_epoch;
                m.member_epoch = e;
            }
        };
        if !revoke.is_empty() && owns_any(owned, &revoke) {
            set_epoch(m, epoch);
            m.assigned = kept;
            m.pending_revocation = revoke;
            if m.state != ReconcileState::UnrevokedPartitions || m.revoke_deadline.is_none() {
                m.revoke_deadline = Some(now + m.rebalance_timeout);
            }
            m.state = ReconcileState::UnrevokedPartitions;
            return;
        }
        set_epoch(m, target_epoch);
        m.assigned = kept.union(&free).cloned().collect();
        m.pending_revocation.clear();
        m.revoke_deadline = None;
        m.state = if unreleased {
            ReconcileState::UnreleasedPartitions
        } else {
            ReconcileState::Stable
        };
    }
}

/// One change of a partition's owner in a consumer group, as the coordinator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipChange {
    /// When.
    pub at: Instant,
    /// The group.
    pub group: String,
    /// The partition.
    pub tp: TopicPartition,
    /// The owner before (`None`: free).
    pub from: Option<String>,
    /// The owner after (`None`: free).
    pub to: Option<String>,
}

/// `^(?:re)$`: Kafka's regex subscriptions match whole topic names.
fn full_match(re: &str) -> Option<regex::Regex> {
    regex::Regex::new(&format!("^(?:{re})$")).ok()
}

/// True if `owned` lists any of `set` (not sent: it still owns whatever it owned).
fn owns_any(owned: Option<&BTreeSet<TopicPartition>>, set: &BTreeSet<TopicPartition>) -> bool {
    owned.is_none_or(|o| o.iter().any(|tp| set.contains(tp)))
}

/// The partitions of `counts`' topics, sorted.
fn partitions(topics: &BTreeSet<String>, counts: &BTreeMap<String, usize>) -> Vec<TopicPartition> {
    topics
        .iter()
        .flat_map(|t| {
            let n = counts.get(t).copied().unwrap_or(0) as i32;
            (0..n).map(move |p| TopicPartition::new(t.clone(), p))
        })
        .collect()
}

/// The "range" assignor: per topic, its subscribers in join order get consecutive
/// ranges, the first ones one more partition when it does not divide evenly.
fn range(
    subs: &[(String, BTreeSet<String>)],
    counts: &BTreeMap<String, usize>,
) -> BTreeMap<String, BTreeSet<TopicPartition>> {
    let mut out: BTreeMap<String, BTreeSet<TopicPartition>> = subs
        .iter()
        .map(|(m, _)| (m.clone(), BTreeSet::new()))
        .collect();
    for (topic, n) in counts {
        let members: Vec<&String> = subs
            .iter()
            .filter(|(_, t)| t.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if members.is_empty() {
            continue;
        }
        let (per, extra) = (*n / members.len(), *n % members.len());
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let len = per + usize::from(i < extra);
            let set = out.get_mut(*m).expect("member");
            set.extend((next..next + len).map(|p| TopicPartition::new(topic.clone(), p as i32)));
            next += len;
        }
    }
    out
}

/// The "uniform" assignor: balanced (within one partition for members with the same
/// subscription) and sticky: members keep partitions of the previous target while that
/// keeps the balance; the rest go to the least loaded subscriber.
fn uniform(
    subs: &[(String, BTreeSet<String>)],
    counts: &BTreeMap<String, usize>,
    previous: &BTreeMap<String, BTreeSet<TopicPartition>>,
) -> BTreeMap<String, BTreeSet<TopicPartition>> {
    let all_topics: BTreeSet<String> = subs.iter().flat_map(|(_, t)| t.iter().cloned()).collect();
    let all = partitions(&all_topics, counts);
    let eligible = |tp: &TopicPartition| -> Vec<usize> {
        (0..subs.len())
            .filter(|i| subs[*i].1.contains(&tp.topic))
            .collect()
    };
    // Each member's fair share: every partition split among its subscribers.
    let mut share = vec![0f64; subs.len()];
    for tp in &all {
        let e = eligible(tp);
        for i in &e {
            share[*i] += 1.0 / e.len() as f64;
        }
    }
    let floor: Vec<usize> = share.iter().map(|s| (s + 1e-9).floor() as usize).collect();
    let mut extras = all.len().saturating_sub(floor.iter().sum());
    let mut out: Vec<BTreeSet<TopicPartition>> = vec![BTreeSet::new(); subs.len()];
    let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
    // Sticky passes: up to the floor of the share, then one more while extras last.
    for pass in 0..2 {
        for (i, (id, topics)) in subs.iter().enumerate() {
            for tp in previous.get(id).into_iter().flatten() {
                let exists = counts
                    .get(&tp.topic)
                    .is_some_and(|n| (tp.partition as usize) < *n);
                if !exists || !topics.contains(&tp.topic) || taken.contains(tp) {
                    continue;
                }
                let room = if pass == 0 {
                    out[i].len() < floor[i]
                } else {
                    out[i].len() == floor[i] && extras > 0
                };
                if !room {
                    continue;
                }
                if pass == 1 {
                    extras -= 1;
                }
                out[i].insert(tp.clone());
                taken.insert(tp.clone());
            }
        }
    }
    for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
        let best = eligible(tp)
            .into_iter()
            .min_by_key(|i| (out[*i].len() as i64 - floor[*i] as i64, *i));
        if let Some(i) = best {
            out[i].insert(tp.clone());
        }
    }
    subs.iter().map(|(m, _)| m.clone()).zip(out).collect()
}

/// A ConsumerGroupHeartbeat answer with an error.
pub(super) fn heartbeat_error(code: ErrorCode) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse {
        error_code: code.code(),
        ..ConsumerGroupHeartbeatResponse::default()
    }
}

/// Requests Kafka rejects before looking at the group.
fn validate(version: i16, req: &ConsumerGroupHeartbeatRequest) -> Result<(), ErrorCode> {
    let invalid = Err(ErrorCode::InvalidRequest);
    if req.group_id.is_empty()
        || req.instance_id.as_deref() == Some("")
        || req.rack_id.as_deref() == Some("")
    {
        return invalid;
    }
    // KIP-1082: from v1 the member makes up its id, before it joins.
    if version >= 1 && req.member_id.is_empty() {
        return invalid;
    }
    match req.member_epoch {
        e if e > 0 || e == LEAVE_EPOCH => {
            if req.member_id.is_empty() {
                return invalid;
            }
        }
        JOIN_EPOCH => {
            let no_subscription =
                req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none();
            let owns = req.topic_partitions.as_ref().is_none_or(|t| !t.is_empty());
            if req.rebalance_timeout_ms == -1 || owns || no_subscription {
                return invalid;
            }
        }
        STATIC_LEAVE_EPOCH => {
            if req.member_id.is_empty() || req.instance_id.is_none() {
                return invalid;
            }
        }
        _ => return invalid,
    }
    if let Some(a) = &req.server_assignor {
        if !SERVER_ASSIGNORS.contains(&a.as_str()) {
            return Err(ErrorCode::UnsupportedAssignor);
        }
    }
    if let Some(re) = &req.subscribed_topic_regex {
        if full_match(re).is_none() {
            return Err(ErrorCode::InvalidRegularExpression);
        }
    }
    Ok(())
}

/// Topic ids → partitions by name (unknown ids are left out).
fn by_name(tps: &[TopicPartitions], topics: &BTreeMap<String, Topic>) -> BTreeSet<TopicPartition> {
    tps.iter()
        .filter_map(|t| {
            let (name, _) = topics.iter().find(|(_, x)| x.id == t.topic_id)?;
            Some(
                t.partitions
                    .iter()
                    .map(|p| TopicPartition::new(name.clone(), *p)),
            )
        })
        .flatten()
        .collect()
}

/// Partitions by name → by topic id, topics sorted by name.
fn by_id(tps: &BTreeSet<TopicPartition>, topics: &BTreeMap<String, Topic>) -> Vec<TopicPartitions> {
    let mut out: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        out.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    out.into_iter()
        .filter_map(|(name, partitions)| {
            Some(TopicPartitions {
                topic_id: topics.get(name)?.id,
                partitions,
            })
        })
        .collect()
}

impl Groups {
    /// The consumer group `id`, if it exists.
    pub fn consumer_group(&self, id: &str) -> Option<&ConsumerGroup> {
        self.consumer_groups.get(id)
    }

    /// The owner changes of `group`'s partitions, in order.
    pub fn ownership_history(&self, group: &str) -> Vec<&OwnershipChange> {
        self.ownership.iter().filter(|c| c.group == group).collect()
    }

    /// Changes in `group`'s history that do not start from the owner the history had
    /// (empty for a consistent history). The coordinator keeps one owner per partition and
    /// records a hand-over within one step (a static member's new incarnation taking over)
    /// as give-up then take, so every partition's history alternates between free and one
    /// owner; scenario tests can lay it next to what their consumers did.
    pub fn ownership_violations(&self, group: &str) -> Vec<String> {
        let mut owner: BTreeMap<&TopicPartition, Option<&String>> = BTreeMap::new();
        let mut out = Vec::new();
        for c in self.ownership_history(group) {
            let current = owner.get(&c.tp).copied().flatten();
            if current != c.from.as_ref() || (c.from.is_some() && c.to.is_some()) {
                out.push(format!(
                    "{}: history says {:?}, change says {:?} -> {:?}",
                    c.tp, current, c.from, c.to
                ));
            }
            owner.insert(&c.tp, c.to.as_ref());
        }
        out
    }

    fn owners_of(&self, group: &str) -> BTreeMap<TopicPartition, String> {
        self.consumer_groups
            .get(group)
            .map(ConsumerGroup::owners)
            .unwrap_or_default()
    }

    /// Records how the owners of `group`'s partitions differ from `before`.
    fn note_owners(&mut self, group: &str, now: Instant, before: BTreeMap<TopicPartition, String>) {
        let after = self.owners_of(group);
        let tps: BTreeSet<&TopicPartition> = before.keys().chain(after.keys()).collect();
        for tp in tps {
            let (from, to) = (before.get(tp), after.get(tp));
            if from == to {
                continue;
            }
            // Given up first, then taken: a hand-over within one step shows as two changes.
            let changes = match (from, to) {
                (Some(a), Some(b)) => vec![(Some(a), None), (None, Some(b))],
                (a, b) => vec![(a, b)],
            };
            for (from, to) in changes {
                self.ownership.push(OwnershipChange {
                    at: now,
                    group: group.to_owned(),
                    tp: tp.clone(),
                    from: from.cloned(),
                    to: to.cloned(),
                });
            }
        }
    }

    /// A ConsumerGroupHeartbeat received by `broker`.
    pub(super) fn consumer_heartbeat(
        &mut self,
        now: Instant,
        broker: i32,
        version: i16,
        client_id: &str,
        topics: &BTreeMap<String, Topic>,
        req: &ConsumerGroupHeartbeatRequest,
    ) -> ConsumerGroupHeartbeatResponse {
        if self.coordinator_of(&req.group_id) != broker {
            return heartbeat_error(ErrorCode::NotCoordinator);
        }
        let group = req.group_id.clone();
        let before = self.owners_of(&group);
        let result = validate(version, req).and_then(|()| {
            if req.member_epoch < 0 {
                self.consumer_leave(now, &group, req)
            } else {
                self.consumer_beat(now, client_id, topics, req)
            }
        });
        self.note_owners(&group, now, before);
        match result {
            Ok(resp) => resp,
            Err(code) => {
                self.log.push(format!(
                    "{group}: heartbeat of {:?} at epoch {}: {}",
                    req.member_id,
                    req.member_epoch,
                    code.name()
                ));
                heartbeat_error(code)
            }
        }
    }

    fn consumer_leave(
        &mut self,
        now: Instant,
        group: &str,
        req: &ConsumerGroupHeartbeatRequest,
    ) -> Result<ConsumerGroupHeartbeatResponse, ErrorCode> {
        let g = self
            .consumer_groups
            .get_mut(group)
            .ok_or(ErrorCode::GroupIdNotFound)?;
        let i = match &req.instance_id {
            None => g
                .position(&req.member_id)
                .ok_or(ErrorCode::UnknownMemberId)?,
            Some(inst) => {
                let i = g.static_position(inst).ok_or(ErrorCode::UnknownMemberId)?;
                if g.members[i].member_id != req.member_id {
                    return Err(ErrorCode::FencedInstanceId);
                }
                i
            }
        };
        let epoch = if req.member_epoch == STATIC_LEAVE_EPOCH {
            let m = &mut g.members[i];
            m.member_epoch = STATIC_LEAVE_EPOCH;
            // Its place is kept for a session timeout from now.
            m.last_seen = now;
            m.pending_revocation.clear();
            m.revoke_deadline = None;
            m.state = ReconcileState::Stable;
            self.log.push(format!(
                "{group}: static member {} leaves for now, keeping {:?}",
                req.member_id, m.assigned
            ));
            STATIC_LEAVE_EPOCH
        } else {
            g.remove(i);
            self.log.push(format!(
                "{group}: {} leaves; group epoch {}",
                req.member_id, g.group_epoch
            ));
            LEAVE_EPOCH
        };
        Ok(ConsumerGroupHeartbeatResponse {
            member_id: Some(req.member_id.clone()),
            member_epoch: epoch,
            ..ConsumerGroupHeartbeatResponse::default()
        })
    }

    /// The group for a heartbeat: a join creates it (replacing an empty classic group).
    fn consumer_group_for(&mut self, group: &str, join: bool) -> Result<(), ErrorCode> {
        if let Some(classic) = self.groups.get(group) {
            if !classic.members.is_empty() || !join {
                return Err(ErrorCode::GroupIdNotFound);
            }
            self.groups.remove(group);
            self.log.push(format!(
                "{group}: empty classic group becomes a consumer group"
            ));
        }
        if !self.consumer_groups.contains_key(group) {
            if !join {
                return Err(ErrorCode::GroupIdNotFound);
            }
            self.consumer_groups
                .insert(group.to_owned(), ConsumerGroup::new());
        }
        Ok(())
    }

    fn consumer_beat(
        &mut self,
        now: Instant,
        client_id: &str,
        topics: &BTreeMap<String, Topic>,
        req: &ConsumerGroupHeartbeatRequest,
    ) -> Result<ConsumerGroupHeartbeatResponse, ErrorCode> {
        let group = req.group_id.as_str();
        let join = req.member_epoch == JOIN_EPOCH;
        self.consumer_group_for(group, join)?;
        let member_id = if req.member_id.is_empty() {
            self.new_member_id(client_id)
        } else {
            req.member_id.clone()
        };
        let owned = req.topic_partitions.as_deref().map(|t| by_name(t, topics));
        let g = self.consumer_groups.get_mut(group).expect("group");
        let mut log = Vec::new();
        let (i, mut changed) = if join {
            let by_instance = req
                .instance_id
                .as_deref()
                .and_then(|inst| g.static_position(inst));
            match (by_instance, g.position(&member_id)) {
                (Some(i), _) if g.members[i].member_id != member_id => {
                    if g.members[i].member_epoch != STATIC_LEAVE_EPOCH {
                        return Err(ErrorCode::UnreleasedInstanceId);
                    }
                    let m = &mut g.members[i];
                    log.push(format!(
                        "{group}: {member_id} takes the place of static member {} ({:?})",
                        m.member_id, m.instance_id
                    ));
                    let old = std::mem::replace(&mut m.member_id, member_id.clone());
                    m.member_epoch = 0;
                    m.previous_epoch = 0;
                    if let Some(t) = g.target.remove(&old) {
                        g.target.insert(member_id.clone(), t);
                    }
                    (i, false)
                }
                (_, Some(i)) => {
                    // Back at epoch 0 under its own id: it starts over, owning nothing.
                    let m = &mut g.members[i];
                    log.push(format!(
                        "{group}: {member_id} rejoins (was at epoch {})",
                        m.member_epoch
                    ));
                    m.member_epoch = 0;
                    m.previous_epoch = 0;
                    m.assigned.clear();
                    m.pending_revocation.clear();
                    m.revoke_deadline = None;
                    m.state = ReconcileState::Stable;
                    (i, false)
                }
                (_, None) => {
                    log.push(format!("{group}: {member_id} joins"));
                    g.members.push(ConsumerMember::new(member_id.clone(), now));
                    (g.members.len() - 1, true)
                }
            }
        } else {
            let i = match &req.instance_id {
                Some(inst) => {
                    let i = g.static_position(inst).ok_or(ErrorCode::UnknownMemberId)?;
                    if g.members[i].member_id != member_id {
                        return Err(ErrorCode::FencedInstanceId);
                    }
                    i
                }
                None => g.position(&member_id).ok_or(ErrorCode::UnknownMemberId)?,
            };
            let m = &g.members[i];
            let stale = req.member_epoch < m.member_epoch
                && (req.member_epoch != m.previous_epoch
                    || !owned.as_ref().is_some_and(|o| o.is_subset(&m.assigned)));
            if req.member_epoch > m.member_epoch || stale {
                return Err(ErrorCode::FencedMemberEpoch);
            }
            (i, false)
        };

        // The member's own fields; a change of subscription bumps the group epoch.
        let m = &mut g.members[i];
        m.last_seen = now;
        m.client_id = client_id.to_owned();
        if req.instance_id.is_some() {
            m.instance_id = req.instance_id.clone();
        }
        if req.rack_id.is_some() {
            m.rack_id = req.rack_id.clone();
        }
        if req.rebalance_timeout_ms >= 0 {
            m.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms as u64);
        }
        if let Some(names) = &req.subscribed_topic_names {
            changed |= *names != m.subscribed_topics;
            m.subscribed_topics = names.clone();
        }
        if let Some(re) = &req.subscribed_topic_regex {
            let re = (!re.is_empty()).then(|| re.clone());
            changed |= re != m.subscribed_regex;
            m.subscribed_regex = re;
        }
        if req.server_assignor.is_some() && req.server_assignor != m.server_assignor {
            changed = true;
            m.server_assignor = req.server_assignor.clone();
        }
        let subscription: BTreeMap<String, usize> = g
            .members
            .iter()
            .flat_map(|m| m.resolve(topics))
            .map(|t| {
                let n = topics[&t].partitions.len();
                (t, n)
            })
            .collect();
        if subscription != g.subscription {
            g.subscription = subscription;
            changed = true;
        }
        if changed {
            g.group_epoch += 1;
            log.push(format!("{group}: group epoch {}", g.group_epoch));
        }
        if g.group_epoch > g.assignment_epoch {
            g.update_target(topics);
            log.push(format!(
                "{group}: target assignment at epoch {} ({}): {:?}",
                g.assignment_epoch, g.assignor, g.target
            ));
        }
        let before = g.members[i].assigned.clone();
        let epoch_before = g.members[i].member_epoch;
        g.reconcile(i, owned.as_ref(), now);
        let m = &g.members[i];
        if m.member_epoch != epoch_before || m.assigned != before {
            log.push(format!(
                "{group}: {member_id} at epoch {} ({:?}) gets {:?}, revoking {:?}",
                m.member_epoch, m.state, m.assigned, m.pending_revocation
            ));
        }
        let full = join
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.topic_partitions.is_some());
        let resp = ConsumerGroupHeartbeatResponse {
            member_id: Some(member_id),
            member_epoch: m.member_epoch,
            heartbeat_interval_ms: self.consumer_heartbeat_interval.as_millis() as i32,
            assignment: (full || m.assigned != before).then(|| by_id(&m.assigned, topics)),
            ..ConsumerGroupHeartbeatResponse::default()
        };
        self.log.extend(log);
        Ok(resp)
    }

    /// The next session expiry or revocation deadline of a consumer group member.
    pub(super) fn consumer_deadline(&self) -> Option<Instant> {
        self.consumer_groups
            .values()
            .flat_map(|g| &g.members)
            .flat_map(|m| {
                [
                    Some(m.last_seen + self.consumer_session_timeout),
                    m.revoke_deadline,
                ]
            })
            .flatten()
            .min()
    }

    /// Removes consumer group members whose session expired or who did not revoke in time.
    pub(super) fn consumer_tick(&mut self, now: Instant) {
        let ids: Vec<String> = self.consumer_groups.keys().cloned().collect();
        let session = self.consumer_session_timeout;
        for id in ids {
            let before = self.owners_of(&id);
            let g = self.consumer_groups.get_mut(&id).expect("group");
            while let Some(i) = g.members.iter().position(|m| {
                now >= m.last_seen + session || m.revoke_deadline.is_some_and(|t| now >= t)
            }) {
                let m = g.remove(i);
                let why = if now >= m.last_seen + session {
                    "session expired"
                } else {
                    "did not revoke within its rebalance timeout"
                };
                self.log.push(format!(
                    "{id}: {} removed ({why}); group epoch {}",
                    m.member_id, g.group_epoch
                ));
            }
            self.note_owners(&id, now, before);
        }
    }

    /// Removes `member_id` from consumer group `group` as if fenced (true if it was there).
    pub(super) fn kick_consumer(&mut self, group: &str, member_id: &str, now: Instant) -> bool {
        let before = self.owners_of(group);
        let Some(g) = self.consumer_groups.get_mut(group) else {
            return false;
        };
        let Some(i) = g.position(member_id) else {
            return false;
        };
        g.remove(i);
        self.note_owners(group, now, before);
        true
    }

    /// The member epoch check of OffsetCommit (v9+) and OffsetFetch (v9+) for a consumer
    /// group: `None` when `group` is no consumer group.
    pub(super) fn consumer_offsets_check(
        &self,
        group: &str,
        member_id: &str,
        epoch: i32,
        commit_version: Option<i16>,
    ) -> Option<ErrorCode> {
        let g = self.consumer_groups.get(group)?;
        if epoch < 0 && (commit_version.is_none() || g.members.is_empty()) {
            // An admin or a consumer without group management.
            return Some(ErrorCode::None);
        }
        let Some(i) = g.position(member_id) else {
            return Some(ErrorCode::UnknownMemberId);
        };
        if commit_version.is_some_and(|v| v < 9) {
            return Some(ErrorCode::UnsupportedVersion);
        }
        let m = &g.members[i];
        Some(if epoch > m.member_epoch && commit_version.is_some() {
            ErrorCode::FencedMemberEpoch
        } else if epoch != m.member_epoch {
            ErrorCode::StaleMemberEpoch
        } else {
            ErrorCode::None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(members: &[(&str, &[&str])]) -> Vec<(String, BTreeSet<String>)> {
        members
            .iter()
            .map(|(m, t)| (m.to_string(), t.iter().map(|x| x.to_string()).collect()))
            .collect()
    }

    fn nums(set: &BTreeSet<TopicPartition>) -> Vec<(String, i32)> {
        set.iter()
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect()
    }

    #[test]
    fn range_gives_consecutive_ranges_per_topic_the_first_members_one_more() {
        let counts = BTreeMap::from([("a".to_owned(), 5), ("b".to_owned(), 2)]);
        let out = range(&subs(&[("m1", &["a", "b"]), ("m2", &["a"])]), &counts);
        assert_eq!(
            nums(&out["m1"]),
            vec![
                ("a".into(), 0),
                ("a".into(), 1),
                ("a".into(), 2),
                ("b".into(), 0),
                ("b".into(), 1)
            ]
        );
        assert_eq!(nums(&out["m2"]), vec![("a".into(), 3), ("a".into(), 4)]);
    }

    #[test]
    fn uniform_balances_and_keeps_partitions_with_their_owners() {
        let counts = BTreeMap::from([("t".to_owned(), 5)]);
        let two = uniform(
            &subs(&[("a", &["t"]), ("b", &["t"])]),
            &counts,
            &BTreeMap::new(),
        );
        assert_eq!(two["a"].len() + two["b"].len(), 5);
        assert!(two["a"].len().abs_diff(two["b"].len()) <= 1);
        // A third member takes one partition from each; nothing else moves.
        let three = uniform(
            &subs(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]),
            &counts,
            &two,
        );
        let sizes: Vec<usize> = ["a", "b", "c"].iter().map(|m| three[*m].len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 5);
        assert!(sizes.iter().all(|s| (1..=2).contains(s)), "{sizes:?}");
        assert!(three["a"].is_subset(&two["a"]) && three["b"].is_subset(&two["b"]));
        // Only subscribers get a topic's partitions.
        let counts = BTreeMap::from([("t".to_owned(), 2), ("u".to_owned(), 2)]);
        let mixed = uniform(
            &subs(&[("a", &["t"]), ("b", &["t", "u"])]),
            &counts,
            &BTreeMap::new(),
        );
        assert!(mixed["a"].iter().all(|tp| tp.topic == "t"));
        assert_eq!(mixed["a"].len() + mixed["b"].len(), 4);
    }
}
