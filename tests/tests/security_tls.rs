//! The library over TLS, against an independent TLS server: stunnel (OpenSSL) in front
//! of Tansu, whose metadata advertises the stunnel port ([`TlsTansu`]). Certificates are
//! made at test time with the openssl CLI.
//!
//! Each case the issue names: a trusted CA reads everything; an unknown CA, an expired
//! certificate, a hostname mismatch, mutual TLS without a client certificate, TLS spoken
//! to a plaintext port and plaintext spoken to the TLS port each end `poll` with a typed
//! error that says what is wrong, within a bounded time, never a silent retry loop.

use std::time::{Duration, Instant};

use consumer_net::network::TlsError;
use consumer_net::{KafkaConsumer, KafkaError};
use integration_tests::{
    init_logging, library_consumer, partitions, poll_until, produce_python, sample_records,
    Compression, Expected, ServerCert, TlsOptions, TlsTansu, TlsVersion,
};

const TOPIC: &str = "tls";
const RECORDS: usize = 40;
const READ: Duration = Duration::from_secs(30);
/// How long a misconfigured consumer may take to report its error.
const FAIL: Duration = Duration::from_secs(25);

fn start(options: TlsOptions) -> (TlsTansu, Expected) {
    init_logging();
    let cluster = TlsTansu::start(&options).unwrap_or_else(|e| panic!("starting TLS Tansu: {e}"));
    cluster
        .create_topic(TOPIC, 2)
        .unwrap_or_else(|e| panic!("creating {TOPIC}: {e}"));
    let produced = produce_python(
        &cluster.plaintext_bootstrap(),
        TOPIC,
        &sample_records(RECORDS, 2, "tls"),
        Compression::None,
    )
    .unwrap_or_else(|e| panic!("producing: {e}"));
    (cluster, Expected::of(&produced))
}

fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Reads the whole topic from the start and checks it record by record.
fn read_all(consumer: &mut KafkaConsumer, expected: &Expected, what: &str) {
    consumer.assign(partitions(TOPIC, 2)).expect("assign");
    let mut got = Vec::new();
    poll_until(consumer, &mut got, READ, what, |g| g.len() >= RECORDS);
    expected.assert_delivered(&got);
}

/// Polls until `poll` fails; returns the TLS error. Fails the test if the error is of
/// another kind, if a record arrives, or if nothing is reported within [`FAIL`].
fn first_tls_error(consumer: &mut KafkaConsumer, what: &str) -> TlsError {
    consumer.assign(partitions(TOPIC, 2)).expect("assign");
    let deadline = Instant::now() + FAIL;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Ok(records) => assert!(records.is_empty(), "{what}: records arrived"),
            Err(KafkaError::Ssl { source, .. }) => return source,
            Err(other) => panic!("{what}: expected an SSL error, got {other:?}"),
        }
    }
    panic!("{what}: poll reported nothing within {FAIL:?}");
}

fn tls_props(ca: &str) -> Vec<(&str, &str)> {
    vec![
        ("security.protocol", "SSL"),
        ("ssl.ca.location", ca),
        ("auto.offset.reset", "earliest"),
    ]
}

#[test]
fn trusted_ca_reads_everything_over_tls() {
    let (cluster, expected) = start(TlsOptions::default());
    let ca = path(&cluster.certs().ca_cert);
    // Java's names for a PEM trust store work the same.
    for props in [
        tls_props(&ca),
        vec![
            ("security.protocol", "ssl"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &ca),
            ("auto.offset.reset", "earliest"),
        ],
    ] {
        let mut consumer = library_consumer(&cluster.bootstrap(), &props);
        read_all(&mut consumer, &expected, "records over TLS");
    }
    let logs = cluster.stunnel().logs();
    assert!(logs.contains("TLS accepted"), "stunnel saw no TLS:\n{logs}");
}

#[test]
fn certificate_failures_are_typed() {
    for (server_cert, what) in [
        (ServerCert::UnknownCa, "unknown CA"),
        (ServerCert::Expired, "expired certificate"),
        (ServerCert::WrongHost, "hostname mismatch"),
    ] {
        let (cluster, expected) = start(TlsOptions {
            server_cert,
            ..TlsOptions::default()
        });
        let ca = path(&cluster.certs().ca_cert);
        let mut consumer = library_consumer(&cluster.bootstrap(), &tls_props(&ca));
        let err = first_tls_error(&mut consumer, what);
        let text = err.to_string();
        match server_cert {
            ServerCert::UnknownCa => {
                assert!(
                    matches!(err, TlsError::UntrustedCertificate { .. }),
                    "{err:?}"
                );
                assert!(text.contains("ssl.ca.location"), "{text}");
            }
            ServerCert::Expired => {
                assert!(
                    matches!(err, TlsError::CertificateExpired { .. }),
                    "{err:?}"
                )
            }
            ServerCert::WrongHost => {
                assert!(matches!(err, TlsError::HostnameMismatch { .. }), "{err:?}");
                assert!(text.contains("wrong.example"), "{text}");
                // With the name check off, the chain is still checked and the read works.
                let mut props = tls_props(&ca);
                props.push(("ssl.endpoint.identification.algorithm", ""));
                let mut consumer = library_consumer(&cluster.bootstrap(), &props);
                read_all(&mut consumer, &expected, "records without the name check");
            }
            ServerCert::Trusted => unreachable!(),
        }
        assert!(text.contains(&cluster.bootstrap()), "{what}: {text}");
        // Reported again on the next attempt, not retried in silence.
        let again = first_tls_error(&mut consumer, what);
        assert_eq!(
            std::mem::discriminant(&again),
            std::mem::discriminant(&err),
            "{what}: {again:?}"
        );
    }
}

#[test]
fn mutual_tls_with_and_without_a_client_certificate() {
    for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
        let (cluster, expected) = start(TlsOptions {
            require_client_cert: true,
            version: Some(version),
            ..TlsOptions::default()
        });
        let certs = cluster.certs();
        let (ca, cert, key) = (
            path(&certs.ca_cert),
            path(&certs.client.cert),
            path(&certs.client.key),
        );
        let mut props = tls_props(&ca);
        props.push(("ssl.certificate.location", &cert));
        props.push(("ssl.key.location", &key));
        let mut consumer = library_consumer(&cluster.bootstrap(), &props);
        read_all(&mut consumer, &expected, "records over mutual TLS");

        let mut consumer = library_consumer(&cluster.bootstrap(), &tls_props(&ca));
        let err = first_tls_error(&mut consumer, "mutual TLS without a certificate");
        let text = err.to_string();
        assert!(
            text.contains("ssl.certificate.location"),
            "{version:?}: the error should say how to give a certificate: {text}"
        );
    }
}

#[test]
fn tls_to_a_plaintext_port_is_a_clear_error() {
    let (cluster, _) = start(TlsOptions::default());
    let ca = path(&cluster.certs().ca_cert);
    // Tansu's own port is plaintext and says nothing to a ClientHello.
    let mut props = tls_props(&ca);
    props.push(("socket.connection.setup.timeout.ms", "2000"));
    let bootstrap = format!("localhost:{}", cluster.tansu().port());
    let mut consumer = library_consumer(&bootstrap, &props);
    let started = Instant::now();
    let err = first_tls_error(&mut consumer, "TLS to a plaintext port");
    assert!(matches!(err, TlsError::HandshakeTimeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("security.protocol"), "{err}");
}

#[test]
fn plaintext_to_the_tls_port_is_a_clear_error() {
    let (cluster, _) = start(TlsOptions::default());
    let mut consumer = library_consumer(&cluster.bootstrap(), &[("auto.offset.reset", "earliest")]);
    let err = first_tls_error(&mut consumer, "plaintext to the TLS port");
    assert!(
        matches!(
            err,
            TlsError::UnexpectedTls { .. } | TlsError::ClosedWithoutAnswer { tls: false, .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("security.protocol"), "{err}");
}

#[test]
fn the_console_consumer_reads_over_tls_from_a_properties_file() {
    let (cluster, expected) = start(TlsOptions::default());
    let dir = cluster.certs().dir().to_path_buf();
    let file = dir.join("client.properties");
    std::fs::write(
        &file,
        format!(
            "# kafka-console-consumer style\nsecurity.protocol=SSL\nssl.truststore.type=PEM\n\
             ssl.truststore.location={}\n",
            cluster.certs().ca_cert.display()
        ),
    )
    .expect("write the properties file");
    let out = integration_tests::run_console_consumer(&[
        "--bootstrap-server",
        &cluster.bootstrap(),
        "--topic",
        TOPIC,
        "--from-beginning",
        "--max-messages",
        &RECORDS.to_string(),
        "--timeout-ms",
        "20000",
        "--format",
        "json",
        "--consumer.config",
        &file.to_string_lossy(),
    ])
    .unwrap_or_else(|e| panic!("running the console consumer: {e}"));
    assert!(out.success, "console consumer failed:\n{}", out.stderr);
    let lines = out.stdout.lines().filter(|l| l.starts_with('{')).count();
    assert_eq!(lines, expected.len(), "stderr:\n{}", out.stderr);
}
