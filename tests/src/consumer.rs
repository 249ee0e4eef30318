//! Reading data back with reference clients (kcat, kafka-python), to check
//! what the brokers hold independently of the library under test.

use std::process::Command;
use std::time::Duration;

use crate::error::{HarnessError, Result};
use crate::process;
use crate::producer::run_python;
use crate::python;
use crate::record::{opt_unhex, unhex, ConsumedRecord};

/// kcat output format: a text header line, then the raw key and value
/// (lengths from the header), then the headers CSV and a newline.
const KCAT_FORMAT: &str = "%p %o %T %K %S\\n%k%s%h\\n";

/// Reads every record of every partition of `topic` from the beginning to
/// the current end with `kcat -C -e -o beginning`.
///
/// Keys and values are binary-safe. Headers come from kcat's `n=v,n=v`
/// rendering, so header names and values containing `,`, `=` or a newline
/// are not reconstructed faithfully.
pub fn consume_kcat(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<ConsumedRecord>> {
    let mut cmd = Command::new("kcat");
    cmd.args([
        "-C",
        "-q",
        "-e",
        "-o",
        "beginning",
        "-b",
        bootstrap,
        "-t",
        topic,
    ])
    .args(["-f", KCAT_FORMAT]);
    let out = process::run_ok(&mut cmd, None, timeout)?;
    parse_kcat_output(&out.stdout).map_err(|detail| HarnessError::Protocol {
        what: process::describe(&cmd),
        detail,
    })
}

fn parse_kcat_output(mut buf: &[u8]) -> std::result::Result<Vec<ConsumedRecord>, String> {
    let mut records = Vec::new();
    let take_line = |buf: &mut &[u8]| -> Option<Vec<u8>> {
        let nl = buf.iter().position(|&b| b == b'\n')?;
        let line = buf[..nl].to_vec();
        *buf = &buf[nl + 1..];
        Some(line)
    };
    while !buf.is_empty() {
        let head = take_line(&mut buf).ok_or("truncated record header")?;
        let head = String::from_utf8_lossy(&head).into_owned();
        let f: Vec<i64> = head
            .split(' ')
            .map(|x| x.parse::<i64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| format!("bad record header line {head:?}"))?;
        let [partition, offset, timestamp_ms, klen, vlen] = f[..] else {
            return Err(format!("bad record header line {head:?}"));
        };
        let mut take = |len: i64| -> std::result::Result<Option<Vec<u8>>, String> {
            if len < 0 {
                return Ok(None);
            }
            let len = usize::try_from(len).map_err(|_| "length overflow".to_string())?;
            if buf.len() < len {
                return Err(format!(
                    "truncated payload in record at {partition}/{offset}"
                ));
            }
            let v = buf[..len].to_vec();
            buf = &buf[len..];
            Ok(Some(v))
        };
        let key = take(klen)?;
        let value = take(vlen)?;
        let hdr = take_line(&mut buf).ok_or("truncated headers")?;
        let headers = if hdr.is_empty() {
            Vec::new()
        } else {
            String::from_utf8_lossy(&hdr)
                .split(',')
                .map(|h| match h.split_once('=') {
                    Some((n, v)) => (n.to_string(), v.as_bytes().to_vec()),
                    None => (h.to_string(), Vec::new()),
                })
                .collect()
        };
        records.push(ConsumedRecord {
            partition: i32::try_from(partition).map_err(|_| "bad partition")?,
            offset,
            timestamp_ms,
            key,
            value,
            headers,
        });
    }
    Ok(records)
}

/// Reads `expected` records of `topic` with kafka-python.
///
/// With `group: None` it assigns all partitions and reads from the
/// beginning; with `Some(group)` it subscribes as a member of that consumer
/// group (offsets reset to earliest, committed at the end). Returns once
/// `expected` records arrived; fewer within `timeout` is an error that
/// says how many came.
pub fn consume_python(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    group: Option<&str>,
    timeout: Duration,
) -> Result<Vec<ConsumedRecord>> {
    consume_python_with(bootstrap, topic, expected, group, timeout, &[])
}

/// Like [`consume_python`], with extra `KafkaConsumer` keyword arguments
/// (`(name, python_literal)`, see [`crate::produce_python_with`]).
pub fn consume_python_with(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    group: Option<&str>,
    timeout: Duration,
    config: &[(&str, &str)],
) -> Result<Vec<ConsumedRecord>> {
    let mut cmd = python::python_command(python::CONSUMER);
    cmd.args([
        bootstrap,
        topic,
        &expected.to_string(),
        &timeout.as_secs_f64().to_string(),
        group.unwrap_or("-"),
    ]);
    cmd.args(config.iter().map(|(k, v)| format!("{k}={v}")));
    // The script stops itself at `timeout`; allow for interpreter start-up.
    let stdout = run_python(&mut cmd, Vec::new(), timeout + Duration::from_secs(30))?;
    let text = String::from_utf8_lossy(&stdout);
    let bad = |detail: String| HarnessError::Protocol {
        what: "kafka-python consumer".into(),
        detail,
    };
    let mut records = Vec::new();
    let mut done = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("DONE ") {
            done = n.trim().parse::<usize>().ok();
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [p, o, ts, k, v, h] = f[..] else {
            return Err(bad(format!("bad line {line:?}")));
        };
        let num = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| bad(format!("bad number in {line:?}")))
        };
        let headers = if h == "." {
            Vec::new()
        } else {
            h.split(',')
                .map(|kv| {
                    let (n, v) = kv
                        .split_once('=')
                        .ok_or_else(|| bad(format!("bad header {kv:?}")))?;
                    let n = unhex(n)
                        .and_then(|n| String::from_utf8(n).ok())
                        .ok_or_else(|| bad(format!("bad header name {n:?}")))?;
                    // A null header value is reported as empty.
                    let v = opt_unhex(v).ok_or_else(|| bad(format!("bad header value {v:?}")))?;
                    Ok((n, v.unwrap_or_default()))
                })
                .collect::<Result<Vec<_>>>()?
        };
        records.push(ConsumedRecord {
            partition: i32::try_from(num(p)?)
                .map_err(|_| bad(format!("bad partition in {line:?}")))?,
            offset: num(o)?,
            timestamp_ms: num(ts)?,
            key: opt_unhex(k).ok_or_else(|| bad(format!("bad key in {line:?}")))?,
            value: opt_unhex(v).ok_or_else(|| bad(format!("bad value in {line:?}")))?,
            headers,
        });
    }
    if done.is_none() {
        return Err(bad(format!("no DONE line in output: {text}")));
    }
    if records.len() < expected {
        return Err(HarnessError::Timeout {
            what: format!(
                "kafka-python consuming {expected} records from {topic} (got {})",
                records.len()
            ),
            timeout,
            output: String::new(),
        });
    }
    Ok(records)
}

/// `kcat -L` metadata listing (optionally for one topic), as text.
pub fn kcat_metadata(bootstrap: &str, topic: Option<&str>) -> Result<String> {
    let mut cmd = Command::new("kcat");
    cmd.args(["-L", "-b", bootstrap, "-m", "10"]);
    if let Some(t) = topic {
        cmd.args(["-t", t]);
    }
    let out = process::run_ok(&mut cmd, None, Duration::from_secs(30))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_safe_kcat_output() {
        let out = b"0 5 1000 2 3\nk\nv\n\x00a=b,c=d\n1 0 7 -1 -1\n\n";
        let r = parse_kcat_output(out).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].key.as_deref(), Some(&b"k\n"[..]));
        assert_eq!(r[0].value.as_deref(), Some(&b"v\n\x00"[..]));
        assert_eq!(
            r[0].headers,
            vec![("a".into(), b"b".to_vec()), ("c".into(), b"d".to_vec())]
        );
        assert_eq!((r[1].partition, r[1].offset, r[1].timestamp_ms), (1, 0, 7));
        assert_eq!((r[1].key.clone(), r[1].value.clone()), (None, None));
    }
}
