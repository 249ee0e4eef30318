//! Producing test data with real clients: kcat (librdkafka) and kafka-python.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Command;
use std::time::Duration;

use crate::error::{HarnessError, Result};
use crate::process;
use crate::python;
use crate::record::{hex, opt_hex, Compression, Produced, ProducedRecord, Record};

/// How long one producer process may run.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(90);

/// How kcat must be invoked for a record (see [`produce_kcat`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NullMode {
    /// Plain: empty value = empty (non-null) value, missing key delimiter = null key.
    Plain,
    /// `-Z`: empty value / key become NULL.
    Null,
}

fn null_mode(r: &Record) -> Result<NullMode> {
    let unsupported = |why: &str| {
        Err(HarnessError::InvalidInput(format!(
            "kcat cannot produce a record with {why} (partition {}); use produce_python",
            r.partition
        )))
    };
    if r.timestamp_ms.is_some() {
        return unsupported("an explicit timestamp");
    }
    match (&r.key, &r.value) {
        (None, Some(v)) if v.is_empty() => unsupported("a null key and an empty value"),
        (_, Some(_)) => Ok(NullMode::Plain),
        (Some(k), None) if k.is_empty() => unsupported("an empty key and a null value"),
        (None, None) => unsupported("a null key and a null value"),
        (Some(_), None) => Ok(NullMode::Null),
    }
}

fn check_headers(r: &Record) -> Result<()> {
    for (name, value) in &r.headers {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains(&0) {
            return Err(HarnessError::InvalidInput(format!(
                "kcat cannot produce header {name:?}={value:?}: names must be non-empty without '=' \
                 and neither may contain NUL; use produce_python"
            )));
        }
    }
    Ok(())
}

/// Picks a delimiter byte that occurs in none of the runs' keys or values.
fn pick_delim(records: &[&Record], avoid: Option<u8>) -> Result<u8> {
    let mut used = [false; 256];
    for r in records {
        for b in r.key.iter().chain(r.value.iter()).flatten() {
            used[*b as usize] = true;
        }
    }
    // Prefer the ASCII separator controls; 0 cannot be passed through argv.
    let preferred = [0x1e, 0x1f, 0x1d, 0x1c];
    preferred
        .into_iter()
        .chain(1..=0xffu8)
        .find(|&b| !used[b as usize] && Some(b) != avoid)
        .ok_or_else(|| {
            HarnessError::InvalidInput(
                "kcat needs a delimiter byte that occurs in no key or value; these records use \
                 every byte value (use produce_python)"
                    .into(),
            )
        })
}

/// Produces `records` to `topic` with kcat (librdkafka), using `compression`.
///
/// kcat sets partition and headers per invocation, so the records are
/// split into runs: per partition, consecutive records with identical
/// headers (and null-ness) go to one `kcat -P` invocation. Order within a
/// partition is therefore exactly the input order. kcat cannot set
/// timestamps, produce a record whose key is null and value empty, or send
/// header values containing NUL; such records are rejected with
/// [`HarnessError::InvalidInput`] (use [`produce_python`]).
/// Offsets are not reported (`ProducedRecord::offset` is `None`).
pub fn produce_kcat(
    bootstrap: &str,
    topic: &str,
    records: &[Record],
    compression: Compression,
) -> Result<Produced> {
    produce_kcat_with(bootstrap, topic, records, compression, &[])
}

/// Like [`produce_kcat`], with extra librdkafka properties passed as
/// `-X name=value` (e.g. `("linger.ms", "100")`, `("batch.num.messages", "10")`).
pub fn produce_kcat_with(
    bootstrap: &str,
    topic: &str,
    records: &[Record],
    compression: Compression,
    config: &[(&str, &str)],
) -> Result<Produced> {
    let mut modes = Vec::with_capacity(records.len());
    for r in records {
        check_headers(r)?;
        modes.push(null_mode(r)?);
    }

    // Per partition (in order of first appearance), maximal runs of
    // consecutive records with equal headers and null mode.
    let mut partitions: Vec<i32> = Vec::new();
    for r in records {
        if !partitions.contains(&r.partition) {
            partitions.push(r.partition);
        }
    }
    let mut sent = Vec::with_capacity(records.len());
    for p in partitions {
        let mut run: Vec<&Record> = Vec::new();
        let mut run_mode = NullMode::Plain;
        for (r, mode) in records.iter().zip(&modes).filter(|(r, _)| r.partition == p) {
            if let Some(first) = run.first() {
                if first.headers != r.headers || run_mode != *mode {
                    kcat_run(bootstrap, topic, p, &run, run_mode, compression, config)?;
                    sent.append(&mut run);
                }
            }
            run_mode = *mode;
            run.push(r);
        }
        if !run.is_empty() {
            kcat_run(bootstrap, topic, p, &run, run_mode, compression, config)?;
            sent.append(&mut run);
        }
    }
    Ok(Produced {
        topic: topic.to_string(),
        compression,
        records: sent
            .into_iter()
            .map(|r| ProducedRecord {
                record: r.clone(),
                offset: None,
                timestamp_ms: None,
            })
            .collect(),
    })
}

fn kcat_run(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    run: &[&Record],
    mode: NullMode,
    compression: Compression,
    config: &[(&str, &str)],
) -> Result<()> {
    let delim = pick_delim(run, None)?;
    let has_keys = run.iter().any(|r| r.key.is_some());
    let key_delim = if has_keys {
        Some(pick_delim(run, Some(delim))?)
    } else {
        None
    };

    let mut input = Vec::new();
    for r in run {
        if let (Some(k), Some(kd)) = (&r.key, key_delim) {
            input.extend_from_slice(k);
            input.push(kd);
        }
        if let Some(v) = &r.value {
            input.extend_from_slice(v);
        }
        input.push(delim);
    }

    let mut cmd = Command::new("kcat");
    cmd.args(["-P", "-q", "-b", bootstrap, "-t", topic])
        .args(["-p", &partition.to_string()])
        .args(["-z", compression.as_str()])
        .args(["-D", &format!("\\x{delim:02x}")])
        .args(["-X", "message.timeout.ms=30000"]);
    if let Some(kd) = key_delim {
        cmd.args(["-K", &format!("\\x{kd:02x}")]);
    }
    if mode == NullMode::Null {
        cmd.arg("-Z");
    }
    if let Some(first) = run.first() {
        for (name, value) in &first.headers {
            let mut h = format!("{name}=").into_bytes();
            h.extend_from_slice(value);
            cmd.arg("-H").arg(OsString::from_vec(h));
        }
    }
    for (k, v) in config {
        cmd.arg("-X").arg(format!("{k}={v}"));
    }
    let out = process::run_ok(&mut cmd, Some(input), PRODUCE_TIMEOUT)?;
    let stderr = out.stderr_text();
    if stderr.contains("Delivery failed") {
        return Err(HarnessError::Failed {
            what: process::describe(&cmd),
            status: "delivery failed".into(),
            output: stderr,
        });
    }
    log::debug!("kcat produced {} records to {topic}/{partition}", run.len());
    Ok(())
}

/// Produces `records` to `topic` with kafka-python (the `python3` on PATH,
/// or `$PYTHON`), using `compression`.
///
/// Supports everything [`Record`] can describe: null keys/values,
/// arbitrary bytes, explicit timestamps. Records are sent in input order
/// with one request in flight per connection, and the broker-assigned
/// offsets and timestamps are returned (the mock cluster does not report
/// timestamps faithfully: compare consumed timestamps instead). For the
/// librdkafka mock cluster use [`produce_python_with`] with
/// [`MockCluster::KAFKA_PYTHON_CONFIG`].
///
/// [`MockCluster::KAFKA_PYTHON_CONFIG`]: crate::MockCluster::KAFKA_PYTHON_CONFIG
pub fn produce_python(
    bootstrap: &str,
    topic: &str,
    records: &[Record],
    compression: Compression,
) -> Result<Produced> {
    produce_python_with(bootstrap, topic, records, compression, &[])
}

/// Like [`produce_python`], with extra `KafkaProducer` keyword arguments:
/// each `(name, value)` is passed as `name=<Python literal>`, e.g.
/// `("linger_ms", "100")` or [`MockCluster::KAFKA_PYTHON_CONFIG`]
/// (required against the librdkafka mock cluster).
///
/// [`MockCluster::KAFKA_PYTHON_CONFIG`]: crate::MockCluster::KAFKA_PYTHON_CONFIG
pub fn produce_python_with(
    bootstrap: &str,
    topic: &str,
    records: &[Record],
    compression: Compression,
    config: &[(&str, &str)],
) -> Result<Produced> {
    let mut input = String::new();
    for r in records {
        let ts = r.timestamp_ms.map_or("-".to_string(), |t| t.to_string());
        let headers = if r.headers.is_empty() {
            ".".to_string()
        } else {
            r.headers
                .iter()
                .map(|(n, v)| format!("{}={}", hex(n.as_bytes()), hex(v)))
                .collect::<Vec<_>>()
                .join(",")
        };
        input.push_str(&format!(
            "{}\t{ts}\t{}\t{}\t{headers}\n",
            r.partition,
            opt_hex(&r.key),
            opt_hex(&r.value)
        ));
    }
    let mut cmd = python::python_command(python::PRODUCER);
    cmd.args([bootstrap, topic, compression.as_str()]);
    cmd.args(config.iter().map(|(k, v)| format!("{k}={v}")));
    let out = run_python(&mut cmd, input.into_bytes(), PRODUCE_TIMEOUT)?;

    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != records.len() {
        return Err(HarnessError::Protocol {
            what: "kafka-python producer".into(),
            detail: format!(
                "expected {} delivery reports, got {}: {text}",
                records.len(),
                lines.len()
            ),
        });
    }
    let mut produced = Vec::with_capacity(records.len());
    let mut partitions_seen = BTreeSet::new();
    for (r, line) in records.iter().zip(lines) {
        let f: Vec<i64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
        let [p, offset, ts] = f[..] else {
            return Err(HarnessError::Protocol {
                what: "kafka-python producer".into(),
                detail: format!("bad delivery report line {line:?}"),
            });
        };
        if p != i64::from(r.partition) {
            return Err(HarnessError::Protocol {
                what: "kafka-python producer".into(),
                detail: format!("record for partition {} was delivered to {p}", r.partition),
            });
        }
        partitions_seen.insert(p);
        produced.push(ProducedRecord {
            record: r.clone(),
            offset: Some(offset),
            timestamp_ms: Some(ts),
        });
    }
    log::debug!(
        "kafka-python produced {} records to {topic} partitions {partitions_seen:?}",
        produced.len()
    );
    Ok(Produced {
        topic: topic.to_string(),
        compression,
        records: produced,
    })
}

/// Runs a kafka-python helper and returns its stdout; maps the helper's
/// "module missing" exit code to [`HarnessError::Missing`].
pub(crate) fn run_python(cmd: &mut Command, stdin: Vec<u8>, timeout: Duration) -> Result<Vec<u8>> {
    let out = process::run(cmd, Some(stdin), timeout)?;
    if out.status.code() == Some(97) {
        return Err(HarnessError::Missing {
            what: format!(
                "kafka-python for `{}` ({})",
                python::python_program(),
                out.stderr_text().trim()
            ),
            install: "python3 -m pip install kafka-python==3.0.12".into(),
        });
    }
    if !out.status.success() {
        return Err(HarnessError::Failed {
            what: format!("kafka-python helper ({})", python::python_program()),
            status: out.status.to_string(),
            output: format!(
                "{}\n--- stdout ---\n{}",
                out.stderr_text(),
                String::from_utf8_lossy(&out.stdout)
            ),
        });
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_modes() {
        assert_eq!(null_mode(&Record::new(0, "v")).unwrap(), NullMode::Plain);
        assert_eq!(
            null_mode(&Record::new(0, "").with_key("k")).unwrap(),
            NullMode::Plain
        );
        assert_eq!(
            null_mode(&Record::tombstone(0).with_key("k")).unwrap(),
            NullMode::Null
        );
        assert!(null_mode(&Record::new(0, "")).is_err());
        assert!(null_mode(&Record::tombstone(0)).is_err());
        assert!(null_mode(&Record::tombstone(0).with_key("")).is_err());
        assert!(null_mode(&Record::new(0, "v").with_timestamp(1)).is_err());
    }

    #[test]
    fn delimiter_avoids_data() {
        let r = Record::new(0, vec![0x1e, 0x1f]).with_key(vec![0x1d]);
        let d = pick_delim(&[&r], None).unwrap();
        assert_eq!(d, 0x1c);
        let k = pick_delim(&[&r], Some(d)).unwrap();
        assert_eq!(k, 0x01);
    }
}
