//! A no-loss checker: follows what a consumer hands out and commits while a
//! fault is in effect, and checks the at-least-once guarantees.
//!
//! Model: delivery of a partition is a sequence of *runs*. A run starts when
//! a consumer session starts or the partition is (re)assigned; within a run
//! offsets go up by exactly 1, and a run never starts past the highest
//! offset handed out so far + 1 (it may start earlier: those are the
//! duplicates at-least-once allows). Together the runs must cover every
//! produced offset, and no commit may pass the highest offset handed out + 1.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use consumer_core::ConsumerRecord;

use crate::group_log::{now_us, Logged, MemberEvent};
use crate::library::Expected;

#[derive(Default)]
struct Partition {
    /// Produced offsets, in order.
    produced: Vec<i64>,
    /// Times each offset was handed out.
    seen: BTreeMap<i64, usize>,
    /// The last offset of the current run (None: a new run starts).
    run_last: Option<i64>,
    /// The highest offset handed out so far.
    max_handed: Option<i64>,
}

/// What a scenario delivered, for the results table.
#[derive(Clone, Debug, Default)]
pub struct NoLossRow {
    /// Scenario name.
    pub scenario: String,
    /// `assign` or `group`.
    pub mode: String,
    /// Records produced.
    pub produced: usize,
    /// Records handed out (duplicates included).
    pub delivered: usize,
    /// Deliveries beyond the first of an offset.
    pub duplicates: usize,
    /// Produced records never handed out.
    pub lost: usize,
    /// Model violations (gaps, skips, commits past what was handed out).
    pub violations: Vec<String>,
    /// Fault to the first record handed out after it, in ms.
    pub first_after_ms: Option<i64>,
    /// Longest pause between two deliveries after the fault, in ms.
    pub max_stall_ms: Option<i64>,
    /// Fault to the last produced record being covered, in ms.
    pub complete_ms: Option<i64>,
}

/// Tracks one topic's deliveries and commits against what was produced.
pub struct NoLoss {
    topic: String,
    parts: BTreeMap<i32, Partition>,
    delivered: usize,
    violations: Vec<String>,
    fault_us: Option<i64>,
    last_us: Option<i64>,
    first_after_us: Option<i64>,
    max_stall_us: i64,
    complete_us: Option<i64>,
}

impl NoLoss {
    /// Expects the records of `expected` in partitions `0..partitions`.
    pub fn new(expected: &Expected, topic: &str, partitions: i32) -> NoLoss {
        let parts = (0..partitions)
            .map(|p| {
                let produced = expected.partition(p).iter().map(|e| e.offset).collect();
                (
                    p,
                    Partition {
                        produced,
                        ..Partition::default()
                    },
                )
            })
            .collect();
        NoLoss {
            topic: topic.to_string(),
            parts,
            delivered: 0,
            violations: Vec::new(),
            fault_us: None,
            last_us: None,
            first_after_us: None,
            max_stall_us: 0,
            complete_us: None,
        }
    }

    /// The fault is injected now (recovery times count from here).
    pub fn fault(&mut self) {
        self.fault_at(now_us());
    }

    /// The fault was injected at `at_us` (see [`now_us`]).
    pub fn fault_at(&mut self, at_us: i64) {
        self.fault_us = Some(at_us);
        self.last_us = Some(at_us);
    }

    /// A new consumer session starts: every partition starts a new run.
    pub fn new_session(&mut self) {
        for p in self.parts.values_mut() {
            p.run_last = None;
        }
    }

    /// These partitions were (re)assigned: each starts a new run.
    pub fn new_runs(&mut self, partitions: &[i32]) {
        for p in partitions {
            if let Some(p) = self.parts.get_mut(p) {
                p.run_last = None;
            }
        }
    }

    /// Records handed out by `poll`, now.
    pub fn records(&mut self, records: &[ConsumerRecord]) {
        let now = now_us();
        for r in records {
            if *r.topic != *self.topic {
                self.violations
                    .push(format!("record of topic {} handed out", r.topic));
                continue;
            }
            self.deliver_at(r.partition, r.offset, now);
        }
    }

    /// Offset `offset` of `partition` handed out at `at_us`.
    pub fn deliver_at(&mut self, partition: i32, offset: i64, at_us: i64) {
        self.delivered += 1;
        if let Some(f) = self.fault_us {
            if at_us >= f {
                self.first_after_us.get_or_insert(at_us - f);
                if let Some(last) = self.last_us {
                    self.max_stall_us = self.max_stall_us.max(at_us - last);
                }
                self.last_us = Some(at_us);
            }
        }
        let Some(p) = self.parts.get_mut(&partition) else {
            self.violations
                .push(format!("p{partition}@{offset}: unknown partition"));
            return;
        };
        if p.produced.binary_search(&offset).is_err() {
            self.violations
                .push(format!("p{partition}@{offset}: never produced"));
        }
        match p.run_last {
            Some(last) if offset != last + 1 => self.violations.push(format!(
                "p{partition}: {offset} handed out after {last} in the same run"
            )),
            None => {
                // A run may restart earlier (duplicates) but never skip.
                let limit = p
                    .max_handed
                    .map_or_else(|| p.produced.first().copied().unwrap_or(0), |m| m + 1);
                if offset > limit {
                    self.violations.push(format!(
                        "p{partition}: a run starts at {offset}, past {limit} (skipped records)"
                    ));
                }
            }
            Some(_) => {}
        }
        p.run_last = Some(offset);
        p.max_handed = Some(p.max_handed.map_or(offset, |m| m.max(offset)));
        *p.seen.entry(offset).or_default() += 1;
        if self.complete_us.is_none() && self.fault_us.is_some() && self.all_covered() {
            self.complete_us = self.fault_us.map(|f| at_us - f);
        }
    }

    /// A commit of `next` (the next offset to consume) for `partition` was
    /// accepted or read back (`when` says which, for messages): it must not
    /// pass the highest offset handed out + 1.
    pub fn committed(&mut self, partition: i32, next: i64, when: &str) {
        let Some(p) = self.parts.get(&partition) else {
            return;
        };
        let limit = p
            .max_handed
            .map_or_else(|| p.produced.first().copied().unwrap_or(0), |m| m + 1);
        if next > limit {
            self.violations.push(format!(
                "p{partition}: committed {next} ({when}) but only handed out up to {}",
                limit - 1
            ));
        }
    }

    /// Replays a member's event log: its start is a new session, every
    /// assignment starts runs, consumed records and completed commits count.
    pub fn replay(&mut self, log: &[Logged]) {
        self.new_session();
        for l in log {
            match &l.event {
                MemberEvent::Assigned(ps) => self.new_runs(ps),
                MemberEvent::Consumed {
                    partition, offset, ..
                } => self.deliver_at(*partition, *offset, l.at_us),
                MemberEvent::Committed(cs) => {
                    for (p, o) in cs {
                        self.committed(*p, *o, "member commit");
                    }
                }
                _ => {}
            }
        }
    }

    /// True once every produced offset was handed out at least once.
    pub fn all_covered(&self) -> bool {
        self.parts
            .values()
            .all(|p| p.produced.iter().all(|o| p.seen.contains_key(o)))
    }

    /// Records handed out so far (duplicates included).
    pub fn delivered(&self) -> usize {
        self.delivered
    }

    /// The highest offset handed out of `partition`.
    pub fn max_handed(&self, partition: i32) -> Option<i64> {
        self.parts.get(&partition).and_then(|p| p.max_handed)
    }

    /// The results so far.
    pub fn row(&self, scenario: &str, mode: &str) -> NoLossRow {
        let produced = self.parts.values().map(|p| p.produced.len()).sum();
        let duplicates = self
            .parts
            .values()
            .flat_map(|p| p.seen.values())
            .map(|n| n - 1)
            .sum();
        let mut violations = self.violations.clone();
        let mut lost = 0;
        for (n, p) in &self.parts {
            let missing: Vec<i64> = p
                .produced
                .iter()
                .copied()
                .filter(|o| !p.seen.contains_key(o))
                .collect();
            lost += missing.len();
            if let (Some(a), Some(b)) = (missing.first(), missing.last()) {
                violations.push(format!("p{n}: {} lost in {a}..={b}", missing.len()));
            }
        }
        NoLossRow {
            scenario: scenario.to_string(),
            mode: mode.to_string(),
            produced,
            delivered: self.delivered,
            duplicates,
            lost,
            violations,
            first_after_ms: self.first_after_us.map(|u| u / 1000),
            max_stall_ms: self.fault_us.map(|_| self.max_stall_us / 1000),
            complete_ms: self.complete_us.map(|u| u / 1000),
        }
    }
}

/// The results as a Markdown table.
pub fn noloss_table(rows: &[NoLossRow]) -> String {
    let ms = |v: Option<i64>| v.map_or("-".to_string(), |v| format!("{v}"));
    let mut s = String::from(
        "| scenario | mode | produced | delivered | duplicates | lost | violations | \
         first record after fault (ms) | longest stall (ms) | all delivered after (ms) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.mode,
            r.produced,
            r.delivered,
            r.duplicates,
            r.lost,
            r.violations.len(),
            ms(r.first_after_ms),
            ms(r.max_stall_ms),
            ms(r.complete_ms)
        );
    }
    s
}

/// Writes a matrix's `report` to `target/<file>` and stderr (a failed write is only
/// printed: the report is on stderr anyway).
pub fn write_report(file: &str, report: &str) {
    eprintln!("{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(file);
    if let Err(e) = std::fs::write(&out, report) {
        eprintln!("could not write {}: {e}", out.display());
    }
}

/// The rows that lost records, broke the model, or stalled longer than `max_stall_ms`
/// (a row that measured no stall counts as stalled when `stall_required`), one line each.
pub fn bad_rows(rows: &[NoLossRow], max_stall_ms: i64, stall_required: bool) -> Vec<String> {
    rows.iter()
        .filter(|r| {
            let stalled = match r.max_stall_ms {
                Some(s) => s > max_stall_ms,
                None => stall_required,
            };
            r.lost > 0 || !r.violations.is_empty() || stalled
        })
        .map(|r| {
            format!(
                "{} [{}]: {} (longest stall {:?} ms)",
                r.scenario,
                r.mode,
                r.violations.join("; "),
                r.max_stall_ms
            )
        })
        .collect()
}
