//! Checks over the logs of all members of a group: who owned which
//! partition when, and whether the records they consumed add up to what was
//! produced.
//!
//! An ownership interval of a partition runs from the member's assignment
//! callback to its revocation (or loss, or close). Callbacks are stamped
//! with the wall clock every process shares; a member revokes before it
//! rejoins and the next owner is assigned only after that rejoin, so clean
//! intervals of one partition never overlap in time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::group_log::{short_hex, MemberEvent, MemberLog};
use crate::library::Expected;

/// How an ownership interval ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Still owned.
    Open,
    /// Revoked cleanly.
    Revoked,
    /// Lost (thrown out of the group).
    Lost,
    /// The member closed.
    Closed,
}

/// One member's ownership of one partition.
#[derive(Clone, Debug)]
pub struct Interval {
    /// The member.
    pub member: String,
    /// The partition.
    pub partition: i32,
    /// Assignment time (µs since the epoch).
    pub start_us: i64,
    /// End time (µs), `i64::MAX` while open.
    pub end_us: i64,
    /// How it ended.
    pub end: End,
    /// Offsets consumed in it, in delivery order.
    pub offsets: Vec<i64>,
}

/// Everything the members did, as ownership intervals, commits and
/// consumed records, with the violations found while building it.
#[derive(Clone, Debug, Default)]
pub struct GroupHistory {
    /// Every interval, in member order then start order.
    pub intervals: Vec<Interval>,
    /// Completed commits: (time µs, member, partition, offset).
    pub commits: Vec<(i64, String, i32, i64)>,
    /// Every delivery: (partition, offset) → (member, key, value) per delivery.
    pub deliveries: BTreeMap<(i32, i64), Vec<Delivery>>,
    /// Members whose every commit is logged.
    pub commit_loggers: BTreeSet<String>,
    /// Inconsistencies within one member's log.
    pub problems: Vec<String>,
}

/// One delivery of a record to a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The member.
    pub member: String,
    /// When (µs).
    pub at_us: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
}

impl GroupHistory {
    /// Builds the history from the members' logs as they are now.
    pub fn of(logs: &[&MemberLog]) -> GroupHistory {
        let mut h = GroupHistory::default();
        for log in logs {
            h.add_member(log);
        }
        h
    }

    fn add_member(&mut self, log: &MemberLog) {
        let name = log.name().to_string();
        if log.logs_commits() {
            self.commit_loggers.insert(name.clone());
        }
        // partition -> index of its open interval in self.intervals
        let mut open: BTreeMap<i32, usize> = BTreeMap::new();
        for l in log.snapshot() {
            let t = l.at_us;
            let close = |h: &mut GroupHistory,
                         p: i32,
                         end: End,
                         open: &mut BTreeMap<i32, usize>| {
                match open.remove(&p) {
                    Some(i) => {
                        h.intervals[i].end_us = t;
                        h.intervals[i].end = end;
                    }
                    None if end != End::Closed => h.problems.push(format!(
                        "{name}: {end:?} partition {p} it did not own at {t}"
                    )),
                    None => {}
                }
            };
            match l.event {
                MemberEvent::Assigned(ps) => {
                    for p in ps {
                        if open.contains_key(&p) {
                            self.problems
                                .push(format!("{name}: assigned partition {p} twice at {t}"));
                            continue;
                        }
                        open.insert(p, self.intervals.len());
                        self.intervals.push(Interval {
                            member: name.clone(),
                            partition: p,
                            start_us: t,
                            end_us: i64::MAX,
                            end: End::Open,
                            offsets: Vec::new(),
                        });
                    }
                }
                MemberEvent::Revoked(ps) => {
                    for p in ps {
                        close(self, p, End::Revoked, &mut open);
                    }
                }
                MemberEvent::Lost(ps) => {
                    for p in ps {
                        close(self, p, End::Lost, &mut open);
                    }
                }
                MemberEvent::Closed => {
                    let ps: Vec<i32> = open.keys().copied().collect();
                    for p in ps {
                        close(self, p, End::Closed, &mut open);
                    }
                }
                MemberEvent::Committed(offs) => {
                    for (p, o) in offs {
                        self.commits.push((t, name.clone(), p, o));
                    }
                }
                MemberEvent::Consumed {
                    partition,
                    offset,
                    key,
                    value,
                } => {
                    match open.get(&partition) {
                        Some(&i) => self.intervals[i].offsets.push(offset),
                        None => self.problems.push(format!(
                            "{name}: consumed {partition}@{offset} at {t} without owning the partition"
                        )),
                    }
                    self.deliveries
                        .entry((partition, offset))
                        .or_default()
                        .push(Delivery {
                            member: name.clone(),
                            at_us: t,
                            key,
                            value,
                        });
                }
                MemberEvent::Error(_) => {}
            }
        }
    }

    /// The current owners of each partition (open intervals).
    pub fn owners(&self) -> BTreeMap<i32, Vec<String>> {
        let mut m: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for i in self.intervals.iter().filter(|i| i.end == End::Open) {
            m.entry(i.partition).or_default().push(i.member.clone());
        }
        m
    }

    /// True if partitions `0..n` each have exactly one owner, and the owners
    /// are exactly `members`, each owning at least one.
    pub fn settled(&self, n: i32, members: &[&str]) -> bool {
        let owners = self.owners();
        let all_single = (0..n).all(|p| owners.get(&p).is_some_and(|o| o.len() == 1));
        let who: BTreeSet<&str> = owners.values().flatten().map(String::as_str).collect();
        let want: BTreeSet<&str> = members.iter().copied().collect();
        all_single && owners.len() == n as usize && who == want
    }

    /// The owners of each partition at time `t_us`.
    pub fn owners_at(&self, t_us: i64) -> BTreeMap<i32, Vec<String>> {
        let mut m: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for i in self
            .intervals
            .iter()
            .filter(|i| i.start_us <= t_us && t_us < i.end_us)
        {
            m.entry(i.partition).or_default().push(i.member.clone());
        }
        m
    }

    /// The partitions `member` owns now.
    pub fn owned_by(&self, member: &str) -> Vec<i32> {
        self.intervals
            .iter()
            .filter(|i| i.end == End::Open && i.member == member)
            .map(|i| i.partition)
            .collect()
    }

    /// Distinct records consumed by anyone.
    pub fn distinct(&self) -> usize {
        self.deliveries.len()
    }

    /// True if every record of `expected` was consumed by someone.
    pub fn covers(&self, expected: &Expected, partitions: i32) -> bool {
        (0..partitions).all(|p| {
            expected
                .partition(p)
                .iter()
                .all(|e| self.deliveries.contains_key(&(p, e.offset)))
        })
    }

    /// Records consumed more than once.
    pub fn duplicates(&self) -> usize {
        self.deliveries.values().map(|d| d.len() - 1).sum()
    }

    /// The ownership rules, as a list of violations (empty when all hold):
    /// the members' logs are consistent; clean intervals of one partition do
    /// not overlap; every record was consumed while its partition was owned;
    /// within an interval offsets are contiguous and increasing; an interval
    /// starts at a committed offset (or 0), never before a commit that had
    /// completed when it started (so only uncommitted records are delivered
    /// again). Losses are allowed only if `allow_lost`.
    pub fn ownership_violations(&self, allow_lost: bool) -> Vec<String> {
        let mut v = self.problems.clone();
        let mut by_partition: BTreeMap<i32, Vec<&Interval>> = BTreeMap::new();
        for i in &self.intervals {
            by_partition.entry(i.partition).or_default().push(i);
            if i.end == End::Lost && !allow_lost {
                v.push(format!(
                    "{} lost partition {} at {}",
                    i.member, i.partition, i.end_us
                ));
            }
            for w in i.offsets.windows(2) {
                if w[1] != w[0] + 1 {
                    v.push(format!(
                        "{} consumed partition {} out of order or with a gap: {} then {}",
                        i.member, i.partition, w[0], w[1]
                    ));
                }
            }
        }
        for (p, list) in &mut by_partition {
            list.sort_by_key(|i| i.start_us);
            for w in list.windows(2) {
                let (a, b) = (w[0], w[1]);
                if a.end != End::Lost && a.end_us > b.start_us {
                    v.push(format!(
                        "partition {p}: {} owned it until {} but {} got it at {}",
                        a.member,
                        if a.end_us == i64::MAX {
                            "now".to_string()
                        } else {
                            a.end_us.to_string()
                        },
                        b.member,
                        b.start_us
                    ));
                }
            }
            for i in list.iter() {
                let Some(&first) = i.offsets.first() else {
                    continue;
                };
                let done_before = self
                    .commits
                    .iter()
                    .filter(|c| c.2 == *p && c.0 < i.start_us)
                    .map(|c| c.3)
                    .max()
                    .unwrap_or(0);
                if first < done_before {
                    v.push(format!(
                        "{} started partition {p} at {first} (at {}), before offset {done_before} \
                         committed earlier: committed records delivered again",
                        i.member, i.start_us
                    ));
                }
                // Whether `first` is a committed offset can only be judged
                // when every earlier owner logs its commits.
                let earlier_all_log = list
                    .iter()
                    .filter(|o| o.start_us < i.start_us)
                    .all(|o| self.commit_loggers.contains(&o.member));
                let committed =
                    first == 0 || self.commits.iter().any(|c| c.2 == *p && c.3 == first);
                if earlier_all_log && !committed {
                    v.push(format!(
                        "{} started partition {p} at {first} (at {}), which nobody committed",
                        i.member, i.start_us
                    ));
                }
            }
        }
        v
    }

    /// Checks that the union of all deliveries is exactly `expected`: every
    /// record consumed at least once, with the produced key and value, and
    /// nothing else.
    pub fn delivery_violations(&self, expected: &Expected, partitions: i32) -> Vec<String> {
        let mut v = Vec::new();
        let mut want: BTreeSet<(i32, i64)> = BTreeSet::new();
        for p in 0..partitions {
            for e in expected.partition(p) {
                want.insert((p, e.offset));
                match self.deliveries.get(&(p, e.offset)) {
                    None => v.push(format!("{p}@{} was never consumed", e.offset)),
                    Some(ds) => {
                        for d in ds {
                            if d.key != e.record.key || d.value != e.record.value {
                                v.push(format!(
                                    "{p}@{}: {} got key {} value {}, produced key {} value {}",
                                    e.offset,
                                    d.member,
                                    short_hex(&d.key),
                                    short_hex(&d.value),
                                    short_hex(&e.record.key),
                                    short_hex(&e.record.value)
                                ));
                            }
                        }
                    }
                }
            }
        }
        for (p, o) in self.deliveries.keys() {
            if !want.contains(&(*p, *o)) {
                v.push(format!("{p}@{o} consumed but never produced"));
            }
        }
        v
    }

    /// A readable account: intervals and commits (for failure messages).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let mut list: Vec<&Interval> = self.intervals.iter().collect();
        list.sort_by_key(|i| (i.partition, i.start_us));
        for i in list {
            let _ = writeln!(
                s,
                "  p{} {} [{} .. {}) {:?}: {} records{}",
                i.partition,
                i.member,
                i.start_us,
                if i.end_us == i64::MAX {
                    "open".to_string()
                } else {
                    i.end_us.to_string()
                },
                i.end,
                i.offsets.len(),
                match (i.offsets.first(), i.offsets.last()) {
                    (Some(a), Some(b)) => format!(" {a}..={b}"),
                    _ => String::new(),
                }
            );
        }
        let _ = writeln!(s, "  {} commits", self.commits.len());
        s
    }
}

/// Asserts that `violations` is empty, showing the history and the logs.
pub fn assert_no_violations(
    what: &str,
    violations: &[String],
    h: &GroupHistory,
    logs: &[&MemberLog],
) {
    if violations.is_empty() {
        return;
    }
    let shown = violations.len().min(30);
    let mut msg = format!(
        "{what}: {} violations:\n  {}\nownership:\n{}",
        violations.len(),
        violations[..shown].join("\n  "),
        h.describe()
    );
    for l in logs {
        let _ = write!(msg, "\n{}", l.describe());
    }
    panic!("{msg}");
}

/// Waits until `done(history)` holds, rebuilding the history from `logs`
/// every 100 ms; panics after `timeout` with `what`, the history and the logs.
pub fn wait_for_history(
    logs: &[&MemberLog],
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&GroupHistory) -> bool,
) -> GroupHistory {
    let deadline = Instant::now() + timeout;
    loop {
        let h = GroupHistory::of(logs);
        if done(&h) {
            return h;
        }
        if Instant::now() >= deadline {
            let mut msg = format!(
                "timed out after {timeout:?} waiting for {what}; {} distinct records consumed; \
                 ownership:\n{}",
                h.distinct(),
                h.describe()
            );
            for l in logs {
                let _ = write!(msg, "\n{}", l.describe());
            }
            panic!("{msg}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_log::Logged;

    fn log(name: &str, logs_commits: bool, events: Vec<(i64, MemberEvent)>) -> MemberLog {
        let l = MemberLog::new(name, logs_commits);
        for (at_us, event) in events {
            l.push_logged(Logged { at_us, event });
        }
        l
    }

    fn rec(partition: i32, offset: i64) -> MemberEvent {
        MemberEvent::Consumed {
            partition,
            offset,
            key: None,
            value: Some(vec![offset as u8]),
        }
    }

    #[test]
    fn clean_handover_from_a_commit_passes() {
        let a = log(
            "a",
            true,
            vec![
                (10, MemberEvent::Assigned(vec![0])),
                (11, rec(0, 0)),
                (12, rec(0, 1)),
                (13, MemberEvent::Committed(vec![(0, 1)])),
                (14, rec(0, 2)),
                (20, MemberEvent::Revoked(vec![0])),
            ],
        );
        // b starts at the commit: offset 1 again (it was not committed), then 2.
        let b = log(
            "b",
            true,
            vec![
                (30, MemberEvent::Assigned(vec![0])),
                (31, rec(0, 1)),
                (32, rec(0, 2)),
            ],
        );
        let h = GroupHistory::of(&[&a, &b]);
        assert_eq!(h.ownership_violations(false), Vec::<String>::new());
        assert_eq!(h.duplicates(), 2);
        assert_eq!(h.owners().get(&0), Some(&vec!["b".to_string()]));
        assert!(h.settled(1, &["b"]));
    }

    #[test]
    fn overlap_gap_and_committed_redelivery_are_violations() {
        let a = log(
            "a",
            true,
            vec![
                (10, MemberEvent::Assigned(vec![0])),
                (11, rec(0, 0)),
                (12, rec(0, 2)),
                (13, MemberEvent::Committed(vec![(0, 3)])),
                (40, MemberEvent::Revoked(vec![0])),
            ],
        );
        let b = log(
            "b",
            true,
            vec![
                (30, MemberEvent::Assigned(vec![0])),
                (31, rec(0, 1)),
                (32, rec(1, 0)),
            ],
        );
        let h = GroupHistory::of(&[&a, &b]);
        let v = h.ownership_violations(false).join("\n");
        assert!(v.contains("gap"), "{v}");
        assert!(v.contains("a owned it until 40 but b got it at 30"), "{v}");
        assert!(v.contains("committed records delivered again"), "{v}");
        assert!(v.contains("which nobody committed"), "{v}");
        assert!(v.contains("without owning"), "{v}");
    }
}
