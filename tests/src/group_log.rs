//! What one consumer-group member did, with wall-clock times: assignments,
//! revocations, commits and consumed records. Members in other processes
//! (librdkafka via confluent-kafka, the `group_member` binary) report the
//! same events as text lines, parsed by [`parse_event_line`].
//!
//! Line format, one event per line: `<unix µs> <kind> <args>` with kinds
//! `A p,p,..` (assigned; `-` for none), `V p,..` (revoked), `L p,..` (lost),
//! `C p:o,..` (committed, completed), `R p o keyhex|- valuehex|-` (record),
//! `E text` (error), `X` (closed).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::{hex, opt_hex, opt_unhex};

/// Microseconds since the Unix epoch (the clock every member process shares).
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// One thing a member did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    /// Partitions given to the member (incremental in cooperative rebalances).
    Assigned(Vec<i32>),
    /// Partitions taken away after a clean revocation.
    Revoked(Vec<i32>),
    /// Partitions lost (the member was thrown out of the group).
    Lost(Vec<i32>),
    /// A commit of these (partition, next offset) pairs completed.
    Committed(Vec<(i32, i64)>),
    /// A record was handed to the application.
    Consumed {
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// Key.
        key: Option<Vec<u8>>,
        /// Value.
        value: Option<Vec<u8>>,
    },
    /// An error the member saw (poll or commit).
    Error(String),
    /// The member closed (its partitions are released).
    Closed,
}

/// An event with the time it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// Microseconds since the Unix epoch.
    pub at_us: i64,
    /// What happened.
    pub event: MemberEvent,
}

impl Logged {
    /// The event as a line (without newline), see the module docs.
    pub fn to_line(&self) -> String {
        let list = |ps: &[i32]| {
            if ps.is_empty() {
                "-".to_string()
            } else {
                ps.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
            }
        };
        let body = match &self.event {
            MemberEvent::Assigned(ps) => format!("A {}", list(ps)),
            MemberEvent::Revoked(ps) => format!("V {}", list(ps)),
            MemberEvent::Lost(ps) => format!("L {}", list(ps)),
            MemberEvent::Committed(offs) => {
                let mut s = String::from("C ");
                if offs.is_empty() {
                    s.push('-');
                }
                for (i, (p, o)) in offs.iter().enumerate() {
                    let _ = write!(s, "{}{p}:{o}", if i > 0 { "," } else { "" });
                }
                s
            }
            MemberEvent::Consumed {
                partition,
                offset,
                key,
                value,
            } => format!("R {partition} {offset} {} {}", opt_hex(key), opt_hex(value)),
            MemberEvent::Error(e) => format!("E {}", e.replace(['\n', '\r'], " ")),
            MemberEvent::Closed => "X".to_string(),
        };
        format!("{} {body}", self.at_us)
    }
}

/// Parses one event line (see the module docs).
pub fn parse_event_line(line: &str) -> Result<Logged, String> {
    let bad = || format!("bad member event line {line:?}");
    let mut it = line.splitn(3, ' ');
    let at_us = it
        .next()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(bad)?;
    let kind = it.next().ok_or_else(bad)?;
    let rest = it.next().unwrap_or("");
    let list = |s: &str| -> Result<Vec<i32>, String> {
        if s == "-" || s.is_empty() {
            return Ok(Vec::new());
        }
        s.split(',')
            .map(|p| p.parse::<i32>().map_err(|_| bad()))
            .collect()
    };
    let event = match kind {
        "A" => MemberEvent::Assigned(list(rest)?),
        "V" => MemberEvent::Revoked(list(rest)?),
        "L" => MemberEvent::Lost(list(rest)?),
        "C" => {
            let mut offs = Vec::new();
            if rest != "-" && !rest.is_empty() {
                for po in rest.split(',') {
                    let (p, o) = po.split_once(':').ok_or_else(bad)?;
                    offs.push((
                        p.parse::<i32>().map_err(|_| bad())?,
                        o.parse::<i64>().map_err(|_| bad())?,
                    ));
                }
            }
            MemberEvent::Committed(offs)
        }
        "R" => {
            let f: Vec<&str> = rest.split(' ').collect();
            let [p, o, k, v] = f[..] else {
                return Err(bad());
            };
            MemberEvent::Consumed {
                partition: p.parse().map_err(|_| bad())?,
                offset: o.parse().map_err(|_| bad())?,
                key: opt_unhex(k).ok_or_else(bad)?,
                value: opt_unhex(v).ok_or_else(bad)?,
            }
        }
        "E" => MemberEvent::Error(rest.to_string()),
        "X" => MemberEvent::Closed,
        _ => return Err(bad()),
    };
    Ok(Logged { at_us, event })
}

/// The shared, growing event log of one member.
#[derive(Clone, Debug)]
pub struct MemberLog {
    name: String,
    logs_commits: bool,
    events: Arc<Mutex<Vec<Logged>>>,
}

impl MemberLog {
    /// An empty log. `logs_commits`: every commit this member makes is
    /// logged (false for auto-commit members whose commits are invisible).
    pub fn new(name: &str, logs_commits: bool) -> MemberLog {
        MemberLog {
            name: name.to_string(),
            logs_commits,
            events: Arc::default(),
        }
    }

    /// The member's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True if every commit of this member is in the log.
    pub fn logs_commits(&self) -> bool {
        self.logs_commits
    }

    /// Appends `event`, stamped now.
    pub fn push(&self, event: MemberEvent) {
        self.push_logged(Logged {
            at_us: now_us(),
            event,
        });
    }

    /// Appends an event stamped elsewhere.
    pub fn push_logged(&self, logged: Logged) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(logged);
    }

    /// A copy of the events so far.
    pub fn snapshot(&self) -> Vec<Logged> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The errors logged so far.
    pub fn errors(&self) -> Vec<String> {
        self.snapshot()
            .into_iter()
            .filter_map(|l| match l.event {
                MemberEvent::Error(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// The log as text, without record events (for failure messages).
    pub fn describe(&self) -> String {
        let events = self.snapshot();
        let mut s = format!("{}:", self.name);
        let mut records = 0usize;
        for l in &events {
            if matches!(l.event, MemberEvent::Consumed { .. }) {
                records += 1;
                continue;
            }
            if records > 0 {
                let _ = write!(s, "\n    ({records} records)");
                records = 0;
            }
            let _ = write!(s, "\n    {}", l.to_line());
        }
        if records > 0 {
            let _ = write!(s, "\n    ({records} records)");
        }
        s
    }
}

/// Hex of a key or value, for messages.
pub fn short_hex(b: &Option<Vec<u8>>) -> String {
    match b {
        None => "null".into(),
        Some(b) if b.len() > 16 => format!("{}..", hex(&b[..16])),
        Some(b) => hex(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let events = [
            MemberEvent::Assigned(vec![0, 3]),
            MemberEvent::Assigned(vec![]),
            MemberEvent::Revoked(vec![5]),
            MemberEvent::Lost(vec![1, 2]),
            MemberEvent::Committed(vec![(0, 17), (3, 0)]),
            MemberEvent::Committed(vec![]),
            MemberEvent::Consumed {
                partition: 2,
                offset: 9,
                key: None,
                value: Some(vec![0, 255]),
            },
            MemberEvent::Error("poll failed: x".into()),
            MemberEvent::Closed,
        ];
        for (i, event) in events.into_iter().enumerate() {
            let l = Logged {
                at_us: 1_700_000_000_000_000 + i as i64,
                event,
            };
            assert_eq!(parse_event_line(&l.to_line()), Ok(l));
        }
        assert!(parse_event_line("12 Q x").is_err());
        assert!(parse_event_line("x A 1").is_err());
    }
}
