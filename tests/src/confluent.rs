//! Reading with confluent-kafka (librdkafka) under arbitrary client
//! properties (`security.protocol`, `ssl.*`, `sasl.*`), reporting the
//! errors librdkafka raised: a reference client for the secure setups.

use std::time::Duration;

use crate::error::{HarnessError, Result};
use crate::process;
use crate::python;
use crate::record::{opt_unhex, unhex, ConsumedRecord};

/// confluent-kafka consumer. argv: bootstrap topic expected timeout_s
/// min_s stop_on_error(0|1) [name=value ...] (librdkafka properties).
/// Assigns every partition from the beginning (no group).
/// stdout: `R\tpartition\toffset\ttimestamp\tkeyhex|-\tvaluehex|-\theaders`
/// per record, `E\tname\ttext` per error, then `DONE n`.
const CONFLUENT_CONSUMER: &str = r#"
import sys, time
try:
    from confluent_kafka import Consumer, KafkaException, TopicPartition, OFFSET_BEGINNING
except ImportError as e:
    sys.stderr.write("MISSING confluent-kafka: %s\n" % e)
    sys.exit(97)

bootstrap, topic, expected, timeout, min_s, stop_on_error = sys.argv[1:7]
expected = int(expected)
start = time.time()
deadline = start + float(timeout)
min_end = start + float(min_s)
stop_on_error = stop_on_error == "1"
errors = []
def out(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()
def err(name, text):
    errors.append(name)
    out("E\t%s\t%s" % (name, text.replace("\n", " ").replace("\t", " ")))
def on_error(e):
    err(e.name(), e.str())
conf = {
    "bootstrap.servers": bootstrap,
    "group.id": "harness-confluent",
    "enable.auto.commit": False,
    "enable.partition.eof": False,
    "error_cb": on_error,
    "socket.timeout.ms": 10000,
}
for kv in sys.argv[7:]:
    k, v = kv.split("=", 1)
    conf[k] = v
c = Consumer(conf)
def stopping():
    return time.time() >= deadline or (stop_on_error and errors)
parts = None
while not stopping():
    try:
        md = c.list_topics(topic, timeout=1.0)
        t = md.topics.get(topic)
        if t is not None and t.error is None and t.partitions:
            parts = sorted(t.partitions)
            break
    except KafkaException as e:
        # Serve the error callback first: it carries the cause (_SSL,
        # _AUTHENTICATION, ...), the metadata failure only the symptom.
        c.poll(0.5)
        err(e.args[0].name(), e.args[0].str())
    c.poll(0)
n = 0
if parts is not None:
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    def hx(b):
        return "-" if b is None else b.hex()
    while not stopping() and (n < expected or time.time() < min_end):
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            err(m.error().name(), m.error().str())
            continue
        hdrs = ",".join("%s=%s" % (k.encode("utf-8").hex(), hx(v)) for k, v in (m.headers() or [])) or "."
        out("R\t%d\t%d\t%d\t%s\t%s\t%s" % (m.partition(), m.offset(), m.timestamp()[1], hx(m.key()), hx(m.value()), hdrs))
        n += 1
c.close()
out("DONE %d" % n)
"#;

/// An error librdkafka reported (error callback, a failed metadata request
/// or a consumed error event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientError {
    /// librdkafka's error name, e.g. `_SSL`, `_AUTHENTICATION`, `_TRANSPORT`.
    pub name: String,
    /// Its message.
    pub text: String,
}

/// What one [`consume_confluent`] run saw.
#[derive(Clone, Debug, Default)]
pub struct ConfluentRun {
    /// The records consumed, in arrival order.
    pub records: Vec<ConsumedRecord>,
    /// The errors reported, in order.
    pub errors: Vec<ClientError>,
}

impl ConfluentRun {
    /// True if some error's name or text contains `needle` (case-insensitive).
    pub fn has_error(&self, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        self.errors.iter().any(|e| {
            e.name.to_lowercase().contains(&needle) || e.text.to_lowercase().contains(&needle)
        })
    }

    /// The errors as text, one per line.
    pub fn error_text(&self) -> String {
        self.errors
            .iter()
            .map(|e| format!("{}: {}", e.name, e.text))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// How a [`consume_confluent`] run ends.
#[derive(Clone, Copy, Debug)]
pub struct ConfluentUntil {
    /// Stop once this many records arrived (and `min_time` passed).
    pub expected: usize,
    /// Keep reading at least this long.
    pub min_time: Duration,
    /// Give up after this long.
    pub timeout: Duration,
    /// Stop at the first error (for runs expected to fail).
    pub stop_on_error: bool,
}

impl ConfluentUntil {
    /// Until `expected` records arrived, at most `timeout`.
    pub fn records(expected: usize, timeout: Duration) -> ConfluentUntil {
        ConfluentUntil {
            expected,
            min_time: Duration::ZERO,
            timeout,
            stop_on_error: false,
        }
    }

    /// Until the first error, at most `timeout`.
    pub fn first_error(timeout: Duration) -> ConfluentUntil {
        ConfluentUntil {
            expected: usize::MAX,
            min_time: Duration::ZERO,
            timeout,
            stop_on_error: true,
        }
    }
}

/// Reads `topic` (all partitions from the beginning, no group) with
/// confluent-kafka and `config` (librdkafka properties), and reports the
/// records and errors. Failing to connect is not an error of this function:
/// the caller asserts on [`ConfluentRun::errors`].
pub fn consume_confluent(
    bootstrap: &str,
    topic: &str,
    until: ConfluentUntil,
    config: &[(&str, &str)],
) -> Result<ConfluentRun> {
    let mut cmd = python::python_command(CONFLUENT_CONSUMER);
    cmd.args([
        bootstrap,
        topic,
        &until.expected.min(i64::MAX as usize).to_string(),
        &until.timeout.as_secs_f64().to_string(),
        &until.min_time.as_secs_f64().to_string(),
        if until.stop_on_error { "1" } else { "0" },
    ]);
    cmd.args(config.iter().map(|(k, v)| format!("{k}={v}")));
    let out = process::run(&mut cmd, None, until.timeout + Duration::from_secs(30))?;
    if out.status.code() == Some(97) {
        return Err(HarnessError::Missing {
            what: format!(
                "confluent-kafka for `{}` ({})",
                python::python_program(),
                out.stderr_text().trim()
            ),
            install: "python3 -m pip install confluent-kafka==2.16.1".into(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let failed = |detail: String| HarnessError::Failed {
        what: format!("confluent-kafka consumer ({detail})"),
        status: out.status.to_string(),
        output: format!("{}\n--- stdout ---\n{text}", out.stderr_text()),
    };
    if !out.status.success() {
        return Err(failed("exited".into()));
    }
    let mut run = ConfluentRun::default();
    let mut done = false;
    for line in text.lines() {
        if line.starts_with("DONE ") {
            done = true;
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        match f[..] {
            ["E", name, text] => run.errors.push(ClientError {
                name: name.into(),
                text: text.into(),
            }),
            ["R", p, o, ts, k, v, h] => {
                let rec = parse_record(p, o, ts, k, v, h)
                    .ok_or_else(|| failed(format!("bad line {line:?}")))?;
                run.records.push(rec);
            }
            _ => return Err(failed(format!("bad line {line:?}"))),
        }
    }
    if !done {
        return Err(failed("no DONE line".into()));
    }
    Ok(run)
}

fn parse_record(p: &str, o: &str, ts: &str, k: &str, v: &str, h: &str) -> Option<ConsumedRecord> {
    let headers = if h == "." {
        Vec::new()
    } else {
        h.split(',')
            .map(|kv| {
                let (n, v) = kv.split_once('=')?;
                let n = String::from_utf8(unhex(n)?).ok()?;
                Some((n, opt_unhex(v)?.unwrap_or_default()))
            })
            .collect::<Option<Vec<_>>>()?
    };
    Some(ConsumedRecord {
        partition: p.parse().ok()?,
        offset: o.parse().ok()?,
        timestamp_ms: ts.parse().ok()?,
        key: opt_unhex(k)?,
        value: opt_unhex(v)?,
        headers,
    })
}
