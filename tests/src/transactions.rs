//! Transactional producing with confluent-kafka (`transactional.id`,
//! `init_transactions` / `begin_transaction` / `commit_transaction` /
//! `abort_transaction`), for the read_committed tests.

use std::time::Duration;

use crate::error::{HarnessError, Result};
use crate::producer::run_python;
use crate::python;

/// How long the producer script gets.
const TIMEOUT: Duration = Duration::from_secs(120);

/// How a transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnEnd {
    /// `commit_transaction`.
    Commit,
    /// `abort_transaction`.
    Abort,
}

/// One transaction: its values (key `k`), all to partition 0, and its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// How it ends.
    pub end: TxnEnd,
    /// The record values, in order.
    pub values: Vec<String>,
}

impl Transaction {
    /// A transaction of `values` ending with `end`.
    pub fn new(end: TxnEnd, values: &[&str]) -> Self {
        Self {
            end,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }
}

/// One delivered record of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The index of its transaction.
    pub txn: usize,
    /// Its offset in partition 0.
    pub offset: i64,
    /// Its value.
    pub value: String,
}

/// Writes `txns` to `topic` partition 0 with one transactional producer
/// (`transactional.id` = `txn-<topic>`), one transaction after the other,
/// each flushed before it ends; returns the delivery reports in offset order.
pub fn produce_transactions(
    bootstrap: &str,
    topic: &str,
    txns: &[Transaction],
) -> Result<Vec<TxnRecord>> {
    let mut input = String::new();
    for t in txns {
        let end = match t.end {
            TxnEnd::Commit => "commit",
            TxnEnd::Abort => "abort",
        };
        input.push_str(end);
        for v in &t.values {
            input.push('\t');
            input.push_str(v);
        }
        input.push('\n');
    }
    let mut cmd = python::python_command(TXN_PRODUCER);
    cmd.args([bootstrap, topic]);
    let out = run_python(&mut cmd, input.into_bytes(), TIMEOUT)?;
    let text = String::from_utf8_lossy(&out);
    let mut records = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ' ');
        let (Some(txn), Some(offset), Some(value)) = (f.next(), f.next(), f.next()) else {
            return Err(bad(line));
        };
        let (Ok(txn), Ok(offset)) = (txn.parse(), offset.parse()) else {
            return Err(bad(line));
        };
        records.push(TxnRecord {
            txn,
            offset,
            value: value.to_owned(),
        });
    }
    let expected: usize = txns.iter().map(|t| t.values.len()).sum();
    if records.len() != expected {
        return Err(HarnessError::Protocol {
            what: "confluent-kafka transactional producer".into(),
            detail: format!("expected {expected} delivery reports, got: {text}"),
        });
    }
    records.sort_by_key(|r| r.offset);
    Ok(records)
}

fn bad(line: &str) -> HarnessError {
    HarnessError::Protocol {
        what: "confluent-kafka transactional producer".into(),
        detail: format!("bad delivery report line {line:?}"),
    }
}

/// argv: bootstrap topic; stdin: one transaction per line, `commit|abort`
/// then tab-separated values. stdout: `txn offset value` per record.
const TXN_PRODUCER: &str = r#"
import sys
try:
    from confluent_kafka import Producer
except ImportError as e:
    sys.stderr.write("MISSING confluent-kafka: %s\n" % e)
    sys.exit(97)
bootstrap, topic = sys.argv[1], sys.argv[2]
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "txn-" + topic,
              "linger.ms": 5})
p.init_transactions(30)
out, failed = [], []
def report(err, msg, i):
    if err is not None:
        failed.append(str(err))
    else:
        out.append("%d %d %s" % (i, msg.offset(), msg.value().decode()))
for i, line in enumerate(l for l in sys.stdin.read().split("\n") if l):
    end, *values = line.split("\t")
    p.begin_transaction()
    for v in values:
        p.produce(topic, key=b"k", value=v.encode(), partition=0,
                  on_delivery=lambda e, m, i=i: report(e, m, i))
    p.flush(30)
    if end == "commit":
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)
if failed:
    sys.stderr.write("delivery failed: %s\n" % failed)
    sys.exit(1)
sys.stdout.write("\n".join(out) + ("\n" if out else ""))
"#;
