//! The fault matrix over TLS (`SSL`) and `SASL_SSL` (SCRAM-SHA-512): Tansu
//! behind stunnel ([`TlsTansu`]), or behind the SASL gateway behind stunnel
//! ([`SaslTansu`]), and for the cuts a raw TCP [`Relay`] on the advertised
//! port in front of stunnel.
//!
//! Each row produces a known keyed sequence over the plaintext path, reads
//! it with the library (manual assignment of both partitions with a
//! `group.id`, `commit_sync` after every non-empty poll, small fetches so
//! the fault hits a live stream), injects one fault after [`BEFORE_FAULT`]
//! records, heals it [`HEAL_MS`] later on a thread, reads to the end and
//! checks with [`NoLoss`]: nothing lost, no gaps, no commit past what was
//! handed out, and the final committed offsets are the end offsets.
//!
//! Faults:
//! * front down/up: stunnel (the outermost TLS terminator) stops, killing
//!   every connection through it, and starts again on the same port;
//! * cut mid-TLS-handshake: the relay drops every connection, then cuts the
//!   next 2 new connections after relaying the ServerHello (a reset);
//! * cut mid-SASL: the relay drops every connection, then the gateway
//!   closes the connection of the next 2 SaslAuthenticate requests instead
//!   of answering.
//!
//! At most 2 cuts in a row: the library reports a TLS error from the third
//! consecutive connection closed without an answer, by design, and must
//! report nothing for one or two. Every error `poll` returns is listed with
//! the row; any is a violation, except a non-security error while the front
//! is down (none is expected: connection refused is not a security error and
//! is retried in silence). Each row also checks that its fault happened.
//! The results go to stderr and `target/fault-matrix-secure.md`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use consumer_core::ConsumerError;
use consumer_net::{KafkaConsumer, KafkaError};
use integration_tests::{
    bad_rows, init_logging, library_consumer, noloss_table, now_us, partitions, port_accepts,
    produce_python_with, sample_records, write_report, Compression, Expected, GatewayOptions,
    NoLoss, NoLossRow, Relay, SaslTansu, TlsOptions, TlsTansu,
};

const PARTITIONS: i32 = 2;
const RECORDS: usize = 400;
/// Records handed out before the fault is injected.
const BEFORE_FAULT: usize = 100;
/// The fault is healed this long after it was injected.
const HEAL_MS: u64 = 3000;
/// Cuts in a row (the library reports the third, by design).
const CUTS: usize = 2;
/// How long a row may take to deliver everything.
const ROW_WAIT: Duration = Duration::from_secs(40);
/// The longest pause allowed between two deliveries after the fault: the
/// 3 s outage, plus reconnecting (backoff at most 500 ms) and a few requests.
const MAX_STALL_MS: i64 = 6_000;
/// `default.api.timeout.ms` of the consumer: a blocking call (`commit_sync`)
/// stuck through a fault returns after this, so that a row reports the
/// stall (and the error) rather than run into [`ROW_WAIT`].
const API_TIMEOUT_MS: &str = "10000";
const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";
const MECHANISM: &str = "SCRAM-SHA-512";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Ssl,
    SaslSsl,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Ssl => "SSL",
            Protocol::SaslSsl => "SASL_SSL SCRAM-SHA-512",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// stunnel stops, and starts again after [`HEAL_MS`].
    FrontDownUp,
    /// The relay drops every connection and cuts the next [`CUTS`] handshakes.
    CutHandshake,
    /// The relay drops every connection and the gateway cuts the next
    /// [`CUTS`] authentications.
    CutSasl,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::FrontDownUp => "TLS front (stunnel) down 3 s, up on the same port",
            Fault::CutHandshake => "connections dropped, next 2 cut mid-TLS-handshake",
            Fault::CutSasl => "connections dropped, next 2 cut mid-SASL (SaslAuthenticate)",
        }
    }

    fn relay(self) -> bool {
        self != Fault::FrontDownUp
    }
}

const ROWS: &[(Protocol, Fault)] = &[
    (Protocol::Ssl, Fault::FrontDownUp),
    (Protocol::Ssl, Fault::CutHandshake),
    (Protocol::SaslSsl, Fault::FrontDownUp),
    (Protocol::SaslSsl, Fault::CutHandshake),
    (Protocol::SaslSsl, Fault::CutSasl),
];

enum Cluster {
    Tls(TlsTansu),
    Sasl(SaslTansu),
}

impl Cluster {
    fn start(protocol: Protocol, fault: Fault) -> Cluster {
        let tls = TlsOptions {
            relay: fault.relay(),
            ..TlsOptions::default()
        };
        match protocol {
            Protocol::Ssl => Cluster::Tls(
                TlsTansu::start(&tls).unwrap_or_else(|e| panic!("starting TLS Tansu: {e}")),
            ),
            Protocol::SaslSsl => {
                let gw = GatewayOptions::default()
                    .mechanisms(&[MECHANISM])
                    .user(USER, PASSWORD);
                Cluster::Sasl(
                    SaslTansu::start_ssl(&gw, &tls)
                        .unwrap_or_else(|e| panic!("starting SASL_SSL Tansu: {e}")),
                )
            }
        }
    }

    fn bootstrap(&self) -> String {
        match self {
            Cluster::Tls(c) => c.bootstrap(),
            Cluster::Sasl(c) => c.bootstrap(),
        }
    }

    fn plaintext_bootstrap(&self) -> String {
        match self {
            Cluster::Tls(c) => c.plaintext_bootstrap(),
            Cluster::Sasl(c) => c.plaintext_bootstrap(),
        }
    }

    fn create_topic(&self, topic: &str) {
        match self {
            Cluster::Tls(c) => c.create_topic(topic, PARTITIONS),
            Cluster::Sasl(c) => c.create_topic(topic, PARTITIONS),
        }
        .unwrap_or_else(|e| panic!("creating {topic}: {e}"));
    }

    fn ca(&self) -> PathBuf {
        match self {
            Cluster::Tls(c) => c.certs().ca_cert.clone(),
            Cluster::Sasl(c) => c
                .certs()
                .expect("SASL_SSL has certificates")
                .ca_cert
                .clone(),
        }
    }

    fn relay(&self) -> &Relay {
        match self {
            Cluster::Tls(c) => c.relay(),
            Cluster::Sasl(c) => c.relay(),
        }
        .expect("started with a relay")
    }

    fn stunnel(&self) -> &integration_tests::Stunnel {
        match self {
            Cluster::Tls(c) => c.stunnel(),
            Cluster::Sasl(c) => c.stunnel().expect("SASL_SSL has stunnel"),
        }
    }

    fn gateway(&self) -> &integration_tests::SaslGateway {
        match self {
            Cluster::Sasl(c) => c.gateway(),
            Cluster::Tls(_) => panic!("SSL has no SASL gateway"),
        }
    }

    /// The fault starts; returns what it did, for the notes.
    fn inject(&self, fault: Fault) -> String {
        match fault {
            Fault::FrontDownUp => {
                let port = self.stunnel().port();
                self.stunnel().stop();
                let refused = !port_accepts(port);
                format!("stunnel stopped (port {port} refusing: {refused})")
            }
            Fault::CutHandshake => {
                self.relay().cut_handshakes(CUTS);
                let n = self.relay().drop_connections();
                format!("{n} connection(s) dropped")
            }
            Fault::CutSasl => {
                self.gateway()
                    .cut_next_authentications(CUTS as u32)
                    .unwrap_or_else(|e| panic!("arming the gateway: {e}"));
                let n = self.relay().drop_connections();
                format!("{n} connection(s) dropped")
            }
        }
    }

    /// The fault ends (cuts not made by now are cancelled).
    fn heal(&self, fault: Fault) -> Result<(), String> {
        match fault {
            Fault::FrontDownUp => self
                .stunnel()
                .restart()
                .map_err(|e| format!("restarting stunnel: {e}")),
            Fault::CutHandshake => {
                self.relay().cut_handshakes(0);
                Ok(())
            }
            Fault::CutSasl => self
                .gateway()
                .cut_next_authentications(0)
                .map_err(|e| format!("disarming the gateway: {e}")),
        }
    }

    /// Checks that the fault happened as planned; a description, or what is wrong.
    fn evidence(&self, fault: Fault) -> Result<String, String> {
        match fault {
            Fault::FrontDownUp => {
                let s = self.stunnel();
                let starts = s.starts();
                if starts != 2 || !s.is_running() {
                    return Err(format!(
                        "stunnel started {starts} time(s), running: {}",
                        s.is_running()
                    ));
                }
                Ok("stunnel stopped and started again".into())
            }
            Fault::CutHandshake => {
                let r = self.relay();
                let (cuts, resets, dropped) = (r.cuts_done(), r.resets_done(), r.dropped());
                if cuts != CUTS || dropped == 0 {
                    return Err(format!(
                        "the relay cut {cuts} handshake(s) (wanted {CUTS}), dropped {dropped}"
                    ));
                }
                Ok(format!(
                    "relay: {dropped} dropped, {cuts} handshakes cut ({resets} reset)"
                ))
            }
            Fault::CutSasl => {
                let cut = self
                    .gateway()
                    .authentications_cut()
                    .map_err(|e| format!("reading the gateway's events: {e}"))?;
                let dropped = self.relay().dropped();
                if cut != CUTS || dropped == 0 {
                    return Err(format!(
                        "the gateway cut {cut} authentication(s) (wanted {CUTS}), \
                         the relay dropped {dropped}"
                    ));
                }
                Ok(format!("relay: {dropped} dropped; gateway: {cut} cut_auth"))
            }
        }
    }
}

/// A security failure (the kind the Java consumer throws as an
/// `AuthenticationException` / `SslAuthenticationException`).
fn is_security(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::Ssl { .. }
            | KafkaError::TlsConfig(_)
            | KafkaError::Consumer(ConsumerError::Authentication(_))
    )
}

/// An error a call returned, relative to the fault.
struct CallError {
    call: &'static str,
    /// ms after the fault (negative: before).
    at_ms: i64,
    /// During the outage (between injecting and healing a front down).
    in_outage: bool,
    security: bool,
    text: String,
}

/// One row's result: the checker's row and the notes for the second table.
struct Outcome {
    row: NoLossRow,
    protocol: Protocol,
    fault: Fault,
    evidence: String,
    /// Front down/up: the front back to the first record handed out after, in ms.
    first_after_heal_ms: Option<i64>,
    errors: Vec<CallError>,
}

/// When the fault was injected and healed (µs, [`now_us`]).
#[derive(Default)]
struct Times {
    injected: Option<i64>,
    healed: Option<i64>,
}

fn run(index: usize, protocol: Protocol, fault: Fault) -> Outcome {
    let cluster = Arc::new(Cluster::start(protocol, fault));
    let topic = format!("fms{index}");
    let group = format!("{topic}-group");
    cluster.create_topic(&topic);
    let produced = produce_python_with(
        &cluster.plaintext_bootstrap(),
        &topic,
        &sample_records(RECORDS, PARTITIONS, "s"),
        Compression::None,
        &[("batch_size", "1024")],
    )
    .unwrap_or_else(|e| panic!("producing over the plaintext path: {e}"));
    let expected = Expected::of(&produced);
    let mut check = NoLoss::new(&expected, &topic, PARTITIONS);

    let ca = cluster.ca().to_string_lossy().into_owned();
    let mut props = vec![
        ("group.id", group.as_str()),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("max.poll.records", "20"),
        ("max.partition.fetch.bytes", "1024"),
        ("reconnect.backoff.max.ms", "500"),
        ("retry.backoff.ms", "100"),
        ("default.api.timeout.ms", API_TIMEOUT_MS),
        ("ssl.ca.location", ca.as_str()),
    ];
    match protocol {
        Protocol::Ssl => props.push(("security.protocol", "SSL")),
        Protocol::SaslSsl => props.extend_from_slice(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", MECHANISM),
            ("sasl.username", USER),
            ("sasl.password", PASSWORD),
        ]),
    }
    let mut c = library_consumer(&cluster.bootstrap(), &props);
    c.assign(partitions(&topic, PARTITIONS)).expect("assign");
    check.new_session();

    let times = Arc::new(Mutex::new(Times::default()));
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let mut heal_thread = None;
    let mut first_after_heal_us = None;
    let deadline = Instant::now() + ROW_WAIT;
    let mut timed_out = false;
    let record_error = |errors: &mut Vec<CallError>, call, e: &KafkaError| {
        let now = now_us();
        let t = times.lock().unwrap_or_else(|e| e.into_inner());
        let at_ms = t.injected.map_or(i64::MIN, |f| (now - f) / 1000);
        let in_outage = fault == Fault::FrontDownUp
            && t.injected.is_some_and(|f| now >= f)
            && t.healed.is_none_or(|h| now <= h);
        log::info!("{protocol:?}/{fault:?}: {call}: {e}");
        errors.push(CallError {
            call,
            at_ms,
            in_outage,
            security: is_security(e),
            text: e.to_string(),
        });
    };
    let healed = |times: &Mutex<Times>| {
        times
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .healed
            .is_some()
    };
    while !check.all_covered() || !healed(&times) {
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        let batch = match c.poll(Duration::from_millis(100)) {
            Ok(b) => b,
            Err(e) => {
                record_error(&mut errors, "poll", &e);
                continue;
            }
        };
        check.records(&batch);
        if batch.is_empty() {
            continue;
        }
        if first_after_heal_us.is_none() && fault == Fault::FrontDownUp {
            if let Some(h) = times.lock().unwrap_or_else(|e| e.into_inner()).healed {
                first_after_heal_us = Some(now_us() - h);
            }
        }
        match c.commit_sync() {
            Ok(()) => read_back(&mut c, &topic, &mut check),
            Err(e) => record_error(&mut errors, "commit_sync", &e),
        }
        if heal_thread.is_none() && check.delivered() >= BEFORE_FAULT {
            check.fault();
            times.lock().unwrap_or_else(|e| e.into_inner()).injected = Some(now_us());
            notes.push(cluster.inject(fault));
            let (cluster, times) = (cluster.clone(), times.clone());
            heal_thread = Some(thread::spawn(move || {
                thread::sleep(Duration::from_millis(HEAL_MS));
                let r = cluster.heal(fault);
                times.lock().unwrap_or_else(|e| e.into_inner()).healed = Some(now_us());
                r
            }));
        }
        // A slow application, so that the fault hits a live stream.
        thread::sleep(Duration::from_millis(15));
    }
    let mut violations = Vec::new();
    if timed_out {
        violations.push(format!("timed out after {ROW_WAIT:?}"));
    } else {
        finish(&mut c, &topic, &expected, &mut check, &mut violations);
    }
    if let Err(e) = c.close() {
        log::warn!("close: {e}");
    }
    match heal_thread.map(thread::JoinHandle::join) {
        None => violations.push("the fault was never injected".into()),
        Some(Err(_)) => violations.push("healing the fault panicked".into()),
        Some(Ok(Err(e))) => violations.push(e),
        Some(Ok(Ok(()))) => {}
    }
    let evidence = match cluster.evidence(fault) {
        Ok(e) => e,
        Err(e) => {
            violations.push(format!("the fault did not happen as planned: {e}"));
            e
        }
    };
    for e in &errors {
        if e.security || !e.in_outage {
            violations.push(format!("{} returned at {} ms: {}", e.call, e.at_ms, e.text));
        }
    }
    let mut row = check.row(fault.name(), protocol.name());
    row.violations.extend(violations);
    Outcome {
        row,
        protocol,
        fault,
        evidence: format!("{}; {evidence}", notes.join("; ")),
        first_after_heal_ms: first_after_heal_us.map(|u| u / 1000),
        errors,
    }
}

/// Reads what is left (trailing duplicates), commits, and checks that the
/// committed offsets are the end offsets.
fn finish(
    c: &mut KafkaConsumer,
    topic: &str,
    expected: &Expected,
    check: &mut NoLoss,
    violations: &mut Vec<String>,
) {
    let tail_end = Instant::now() + Duration::from_millis(500);
    while Instant::now() < tail_end {
        if let Ok(b) = c.poll(Duration::from_millis(100)) {
            check.records(&b);
        }
    }
    let mut committed = false;
    for _ in 0..10 {
        if c.commit_sync().is_ok() {
            committed = true;
            break;
        }
        let _ = c.poll(Duration::from_millis(200));
    }
    if !committed {
        violations.push("the final commit never succeeded".into());
    }
    match c.committed(partitions(topic, PARTITIONS), Duration::from_secs(10)) {
        Ok(m) => {
            for (tp, o) in m {
                let o = o.map_or(-1, |o| o.offset);
                check.committed(tp.partition, o, "read back at the end");
                let end = expected.end_offset(tp.partition);
                if o != end {
                    violations.push(format!("{tp}: committed {o} at the end, end offset {end}"));
                }
            }
        }
        Err(e) => violations.push(format!("reading the committed offsets: {e}")),
    }
}

/// Reads the committed offsets back: none may pass what was handed out.
fn read_back(c: &mut KafkaConsumer, topic: &str, check: &mut NoLoss) {
    if let Ok(m) = c.committed(partitions(topic, PARTITIONS), Duration::from_secs(1)) {
        for (tp, o) in m {
            if let Some(o) = o {
                check.committed(tp.partition, o.offset, "read back");
            }
        }
    }
}

fn details(outcomes: &[Outcome]) -> String {
    let ms = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut s = String::from(
        "| scenario | protocol | fault (evidence) | front up to the next record (ms) | \
         errors returned | violations |\n|---|---|---|---:|---|---|\n",
    );
    for o in outcomes {
        let errors = if o.errors.is_empty() {
            "none".to_string()
        } else {
            o.errors
                .iter()
                .map(|e| {
                    format!(
                        "{} at {} ms{}: {}",
                        e.call,
                        e.at_ms,
                        if e.in_outage { " (front down)" } else { "" },
                        e.text
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let violations = if o.row.violations.is_empty() {
            "none".to_string()
        } else {
            o.row.violations.join("<br>")
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            o.fault.name(),
            o.protocol.name(),
            o.evidence.replace('|', "/"),
            ms(o.first_after_heal_ms),
            errors.replace('|', "/"),
            violations.replace('|', "/")
        );
    }
    s
}

#[test]
fn fault_matrix_secure() {
    init_logging();
    // FAULT_MATRIX_ONLY=<substring> runs the rows whose "<protocol>: <fault>"
    // contains it (e.g. "SSL:" for the SSL rows only).
    let only = std::env::var("FAULT_MATRIX_ONLY").unwrap_or_default();
    let rows: Vec<(usize, Protocol, Fault)> = ROWS
        .iter()
        .enumerate()
        .filter(|(_, (p, f))| format!("{}: {}", p.name(), f.name()).contains(&only))
        .map(|(i, (p, f))| (i, *p, *f))
        .collect();
    let started = Instant::now();
    let mut outcomes: Vec<Outcome> = thread::scope(|s| {
        let handles: Vec<_> = rows
            .iter()
            .map(|&(i, p, f)| (p, f, s.spawn(move || run(i, p, f))))
            .collect();
        handles
            .into_iter()
            .map(|(protocol, fault, h)| {
                h.join().unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
                        .unwrap_or_default();
                    Outcome {
                        row: NoLossRow {
                            scenario: fault.name().into(),
                            mode: protocol.name().into(),
                            violations: vec![format!("panicked: {msg}")],
                            ..NoLossRow::default()
                        },
                        protocol,
                        fault,
                        evidence: "-".into(),
                        first_after_heal_ms: None,
                        errors: Vec::new(),
                    }
                })
            })
            .collect()
    });
    outcomes.sort_by_key(|o| {
        ROWS.iter()
            .position(|r| *r == (o.protocol, o.fault))
            .unwrap_or(usize::MAX)
    });
    for o in &outcomes {
        let r = &o.row;
        eprintln!(
            "{} [{}]: {} delivered, {} duplicates, {} lost, {} violations",
            r.scenario,
            r.mode,
            r.delivered,
            r.duplicates,
            r.lost,
            r.violations.len()
        );
    }
    let rows: Vec<NoLossRow> = outcomes.iter().map(|o| o.row.clone()).collect();
    let report = format!(
        "{}\n{}\n{} rows in {:.0} s wall (in parallel threads).\n",
        noloss_table(&rows),
        details(&outcomes),
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    write_report("fault-matrix-secure.md", &report);
    let bad = bad_rows(&rows, MAX_STALL_MS, true);
    assert!(
        bad.is_empty(),
        "rows with loss or violations:\n{}",
        bad.join("\n")
    );
}
