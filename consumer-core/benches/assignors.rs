//! The group leader's assignors at scale: 10 000 partitions over 10 members.
//!
//! Cases, for `range`, `roundrobin` and `cooperative-sticky` each:
//! * `1x10000`: one topic of 10 000 partitions;
//! * `1000x10`: 1 000 topics of 10 partitions (work per topic must not grow with topics);
//! * `sticky_rejoin`: cooperative-sticky only, a group of 10 members owning an even
//!   assignment of 10 000 partitions when an 11th joins (ownership, quotas, moves);
//! * `sticky_unequal`: cooperative-sticky only, members subscribing to different halves
//!   of 100 topics × 100 partitions (its general path: placement and balancing).
//!
//! `ASSIGNORS_PROFILE=<assignor>/<case>[:<runs>]` runs one in a plain loop (callgrind).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use consumer_core::testing::{prepare_members, run_assignor, AssignorMember, PreparedMembers};
use consumer_core::TopicPartition;
use criterion::{BenchmarkId, Criterion};

const MEMBERS: usize = 10;

struct Case {
    assignor: &'static str,
    name: &'static str,
    topics: BTreeMap<String, i32>,
    members: PreparedMembers,
}

fn topics(count: usize, partitions: i32) -> BTreeMap<String, i32> {
    (0..count)
        .map(|t| (format!("topic-{t:04}"), partitions))
        .collect()
}

fn fresh(topics: &BTreeMap<String, i32>, members: usize) -> Vec<AssignorMember> {
    (0..members)
        .map(|m| AssignorMember {
            member_id: format!("member-{m:02}"),
            topics: topics.keys().cloned().collect(),
            owned: Vec::new(),
            generation: -1,
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for assignor in ["range", "roundrobin", "cooperative-sticky"] {
        for (name, t) in [
            ("1x10000", topics(1, 10_000)),
            ("1000x10", topics(1_000, 10)),
        ] {
            let members = prepare_members(&fresh(&t, MEMBERS));
            cases.push(Case {
                assignor,
                name,
                topics: t,
                members,
            });
        }
    }
    // An 11th member joins a group whose 10 members own an even assignment.
    let t = topics(100, 100);
    let mut members = fresh(&t, MEMBERS);
    let first = run_assignor("cooperative-sticky", &t, &prepare_members(&members))
        .expect("cooperative-sticky");
    for m in &mut members {
        m.owned = first.get(&m.member_id).cloned().unwrap_or_default();
        m.generation = 1;
    }
    members.extend(fresh(&t, 1).into_iter().map(|mut m| {
        m.member_id = "member-new".to_owned();
        m
    }));
    cases.push(Case {
        assignor: "cooperative-sticky",
        name: "sticky_rejoin",
        topics: t.clone(),
        members: prepare_members(&members),
    });
    // Half the members subscribe to the first half of the topics, the rest to all.
    let mut members = fresh(&t, MEMBERS);
    let half: Vec<String> = t.keys().take(t.len() / 2).cloned().collect();
    for m in members.iter_mut().take(MEMBERS / 2) {
        m.topics = half.clone();
    }
    cases.push(Case {
        assignor: "cooperative-sticky",
        name: "sticky_unequal",
        topics: t,
        members: prepare_members(&members),
    });
    cases
}

/// Runs one case, checking that every partition is assigned exactly once.
fn run(case: &Case) -> usize {
    let assignment = run_assignor(case.assignor, &case.topics, &case.members).expect("assignor");
    assignment.values().map(Vec::len).sum()
}

fn check(case: &Case) {
    let assignment = run_assignor(case.assignor, &case.topics, &case.members).expect("assignor");
    let mut all: Vec<&TopicPartition> = assignment.values().flatten().collect();
    let total = all.len();
    all.sort();
    all.dedup();
    let expected: i32 = case.topics.values().sum();
    assert_eq!(
        all.len(),
        total,
        "{}/{}: a partition twice",
        case.assignor,
        case.name
    );
    // A cooperative rejoin holds back the partitions that change owner.
    if case.name != "sticky_rejoin" {
        assert_eq!(total, expected as usize, "{}/{}", case.assignor, case.name);
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("assignors");
    group.sample_size(10);
    for case in cases() {
        check(&case);
        group.bench_function(BenchmarkId::new(case.assignor, case.name), |b| {
            b.iter(|| black_box(run(&case)))
        });
    }
    group.finish();
}

fn profile(spec: &str) {
    let (name, runs) = match spec.split_once(':') {
        Some((n, r)) => (n, r.parse().expect("runs")),
        None => (spec, 1),
    };
    let case = cases()
        .into_iter()
        .find(|c| format!("{}/{}", c.assignor, c.name) == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let start = Instant::now();
    let mut total = 0;
    for _ in 0..runs {
        total += run(&case);
    }
    println!(
        "{name}: {total} partitions assigned in {runs} runs, {:?}",
        start.elapsed()
    );
}

fn main() {
    if let Ok(spec) = std::env::var("ASSIGNORS_PROFILE") {
        profile(&spec);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
