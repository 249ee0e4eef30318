//! TLS of the NetworkClient (and the KafkaConsumer's report of TLS failures) against an
//! in-process rustls server on loopback sockets, with certificates made by rcgen at test
//! time. The server side is rustls too; an independent server (stunnel, OpenSSL) is the
//! integration suite's.
//!
//! Timing-robust like network_client.rs: loops until a condition holds, with a generous
//! overall limit.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use consumer_core::{Secret, SslConfig, TlsVersion};
use consumer_net::network::{
    Completion, NetConfig, NetError, NetworkClient, TlsClientConfig, TlsConfigError, TlsError,
};
use consumer_net::{KafkaConsumer, KafkaError, TopicPartition};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

const LIMIT: Duration = Duration::from_secs(60);
const NODE: i32 = 1;

// ---------------------------------------------------------------- certificates

/// A CA that signs server and client certificates.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf certificate for `names` (DNS names or IP addresses).
    fn issue(&self, names: &[&str]) -> Leaf {
        self.issue_with(names, |_| {})
    }

    fn issue_with(&self, names: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, "leaf");
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf { cert, key }
    }

    fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        Arc::new(roots)
    }
}

struct Leaf {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Leaf {
    fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.der().clone()]
    }

    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

#[allow(deprecated)] // rustls 0.23.48 deprecates its ring provider (no post-quantum kx).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls server configuration: `leaf` as its identity, client certificates signed
/// by `client_ca` required when given, `versions` allowed.
fn server_config(
    leaf: &Leaf,
    client_ca: Option<&Ca>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap();
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(ca.roots(), provider())
                .build()
                .unwrap(),
        ),
        None => builder.with_no_client_auth(),
    };
    Arc::new(
        builder
            .with_single_cert(leaf.chain(), leaf.key_der())
            .unwrap(),
    )
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The client's `ssl.*` settings trusting `ca`.
fn trusting(ca: &Ca) -> SslConfig {
    SslConfig {
        ca_pem: Some(ca.pem()),
        ..SslConfig::default()
    }
}

// ---------------------------------------------------------------- servers

fn read_frame(stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut size = [0u8; 4];
    match stream.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body)?;
    Ok(Some(body))
}

fn write_frame(stream: &mut impl Write, body: &[u8]) -> io::Result<()> {
    stream.write_all(&(body.len() as i32).to_be_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Reads what the client still sends for a moment before the socket is dropped, so
/// the close is a FIN after the last bytes written (an alert), not a reset.
fn linger(tcp: &mut TcpStream) {
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 4096];
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = tcp.shutdown(Shutdown::Write);
}

/// Serves `connections` TLS connections one after the other, answering every frame
/// with itself. Returns "127.0.0.1:port".
fn tls_echo_server(config: Arc<ServerConfig>, connections: usize) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        for _ in 0..connections {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let conn = ServerConnection::new(config.clone()).unwrap();
            let mut stream = StreamOwned::new(conn, tcp);
            loop {
                match read_frame(&mut stream) {
                    Ok(Some(body)) => {
                        if write_frame(&mut stream, &body).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        // rustls wrote its alert already (a "last gasp" write).
                        linger(&mut stream.sock);
                        break;
                    }
                }
            }
        }
    });
    (addr, handle)
}

/// A plain TCP server running `handler` on its first connection.
fn tcp_server(handler: impl FnOnce(TcpStream) + Send + 'static) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        if let Ok((tcp, _)) = listener.accept() {
            handler(tcp);
        }
    });
    (addr, handle)
}

// ---------------------------------------------------------------- client driving

fn client(tls: Option<TlsClientConfig>) -> NetworkClient {
    NetworkClient::new(NetConfig {
        tls,
        request_timeout: LIMIT,
        connection_setup_timeout: Duration::from_secs(20),
        ..NetConfig::default()
    })
    .unwrap()
}

fn tls_client(ssl: &SslConfig) -> NetworkClient {
    client(Some(TlsClientConfig::from_ssl_config(ssl).unwrap()))
}

/// A request frame: correlation id, then `len` bytes of a pattern.
fn frame(correlation_id: i32, len: usize) -> Bytes {
    let mut v = correlation_id.to_be_bytes().to_vec();
    v.extend((0..len).map(|i| (i % 251) as u8));
    Bytes::from(v)
}

/// Polls until `want` completions arrived.
fn completions(client: &mut NetworkClient, want: usize) -> Vec<Completion> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < want {
        assert!(start.elapsed() < LIMIT, "only {} completions", got.len());
        client
            .poll(Some(Duration::from_millis(100)), Instant::now())
            .unwrap();
        while let Some(c) = client.poll_completion() {
            got.push(c);
        }
    }
    got
}

/// Sends one request and returns why the connection failed.
fn failure(client: &mut NetworkClient, addr: &str) -> NetError {
    client.send(NODE, addr, 7, frame(7, 10), Instant::now());
    match completions(client, 1).remove(0) {
        Completion::Disconnected { reason, failed, .. } => {
            assert_eq!(failed, vec![7]);
            reason
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn tls_failure(client: &mut NetworkClient, addr: &str) -> TlsError {
    let err = failure(client, addr);
    assert!(err.is_security_failure(), "{err:?}");
    match err {
        NetError::Tls(err) => err,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

/// Sends frames of these sizes and checks each comes back whole, in order.
fn round_trip(client: &mut NetworkClient, addr: &str, sizes: &[usize]) {
    let frames: Vec<Bytes> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| frame(i as i32, n))
        .collect();
    for (i, f) in frames.iter().enumerate() {
        client.send(NODE, addr, i as i32, f.clone(), Instant::now());
    }
    let got = completions(client, frames.len());
    for (i, c) in got.into_iter().enumerate() {
        match c {
            Completion::Response {
                correlation_id,
                frame: answer,
                ..
            } => {
                assert_eq!(correlation_id, i as i32);
                assert!(answer == frames[i], "frame {i} differs");
            }
            other => panic!("frame {i}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn handshake_then_frames_both_ways() {
    let ca = Ca::new("test CA");
    let leaf = ca.issue(&["localhost", "127.0.0.1"]);
    let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 1);
    let mut client = tls_client(&trusting(&ca));
    round_trip(&mut client, &addr, &[0, 10, 100]);
    assert!(client.is_connected(NODE));
}

#[test]
fn frames_larger_than_a_record_and_a_mebibyte() {
    let ca = Ca::new("test CA");
    let leaf = ca.issue(&["127.0.0.1"]);
    let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 1);
    let mut client = tls_client(&trusting(&ca));
    // Over one 16 KiB record, several records, over 1 MiB, and small ones between.
    round_trip(
        &mut client,
        &addr,
        &[16 * 1024 + 1, 5, 100_000, 3 << 20, 7, (1 << 20) + 3],
    );
}

#[test]
fn tls12_and_tls13_each_alone() {
    let ca = Ca::new("test CA");
    let leaf = ca.issue(&["localhost"]);
    for version in [TlsVersion::Tls12, TlsVersion::Tls13] {
        let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 1);
        let port = addr.rsplit_once(':').unwrap().1;
        let mut ssl = trusting(&ca);
        ssl.enabled_protocols = vec![version];
        let mut client = tls_client(&ssl);
        // By name: SNI and a DNS name check (localhost may resolve to ::1 first, which
        // refuses, then 127.0.0.1).
        round_trip(&mut client, &format!("localhost:{port}"), &[20_000, 1]);
    }
    // A version the server does not allow is refused.
    let tls13_only = server_config(&leaf, None, &[&rustls::version::TLS13]);
    let (addr, _server) = tls_echo_server(tls13_only, 1);
    let mut ssl = trusting(&ca);
    ssl.enabled_protocols = vec![TlsVersion::Tls12];
    let err = tls_failure(&mut tls_client(&ssl), &addr);
    assert!(
        matches!(err, TlsError::HandshakeRefused { .. }),
        "{err:?}: {err}"
    );
}

#[test]
fn sni_is_the_host_name_and_absent_for_an_ip_address() {
    let ca = Ca::new("test CA");
    let leaf = ca.issue(&["localhost", "127.0.0.1"]);
    let config = server_config(&leaf, None, BOTH);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers the first frame of each connection with the server name the client sent.
    let _server = thread::spawn(move || {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().unwrap();
            let conn = ServerConnection::new(config.clone()).unwrap();
            let mut stream = StreamOwned::new(conn, tcp);
            if let Ok(Some(body)) = read_frame(&mut stream) {
                let mut answer = body[..4].to_vec();
                let sni = stream.conn.server_name().unwrap_or("(none)").to_owned();
                answer.extend_from_slice(sni.as_bytes());
                let _ = write_frame(&mut stream, &answer);
            }
            let _ = read_frame(&mut stream);
        }
    });
    for (host, want) in [("localhost", "localhost"), ("127.0.0.1", "(none)")] {
        let mut client = tls_client(&trusting(&ca));
        client.send(
            NODE,
            &format!("{host}:{port}"),
            1,
            frame(1, 0),
            Instant::now(),
        );
        match completions(&mut client, 1).remove(0) {
            Completion::Response { frame, .. } => assert_eq!(&frame[4..], want.as_bytes()),
            other => panic!("{host}: {other:?}"),
        }
    }
}

#[test]
fn unknown_ca_is_untrusted() {
    let ca = Ca::new("server CA");
    let leaf = ca.issue(&["127.0.0.1"]);
    let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 1);
    let other = Ca::new("some other CA");
    let err = tls_failure(&mut tls_client(&trusting(&other)), &addr);
    assert!(
        matches!(err, TlsError::UntrustedCertificate { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&addr) && text.contains("ssl.ca.location"),
        "{text}"
    );
}

#[test]
fn hostname_mismatch_is_named_and_can_be_turned_off() {
    let ca = Ca::new("test CA");
    let leaf = ca.issue(&["kafka-1.example.com"]);
    let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 2);
    let err = tls_failure(&mut tls_client(&trusting(&ca)), &addr);
    match &err {
        TlsError::HostnameMismatch {
            host, presented, ..
        } => {
            assert_eq!(host, "127.0.0.1");
            assert_eq!(presented, &vec!["kafka-1.example.com".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1") && text.contains("ssl.endpoint.identification.algorithm"),
        "{text}"
    );

    // ssl.endpoint.identification.algorithm= : the chain is still checked, the name not.
    let mut ssl = trusting(&ca);
    ssl.endpoint_identification = false;
    round_trip(&mut tls_client(&ssl), &addr, &[10]);
}

#[test]
fn chain_checks_stay_on_without_hostname_verification() {
    let ca = Ca::new("server CA");
    let leaf = ca.issue(&["elsewhere"]);
    let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 1);
    let mut ssl = trusting(&Ca::new("other CA"));
    ssl.endpoint_identification = false;
    let err = tls_failure(&mut tls_client(&ssl), &addr);
    assert!(
        matches!(err, TlsError::UntrustedCertificate { .. }),
        "{err:?}"
    );
}

#[test]
fn expired_certificate() {
    let ca = Ca::new("test CA");
    let leaf = ca.issue_with(&["127.0.0.1"], |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 1);
    let err = tls_failure(&mut tls_client(&trusting(&ca)), &addr);
    match &err {
        TlsError::CertificateExpired { expired_for, .. } => {
            // More than 20 years ago.
            assert!(expired_for.unwrap() > Duration::from_secs(20 * 365 * 86_400));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn verification_off_accepts_any_certificate() {
    let ca = Ca::new("unknown CA");
    let leaf = ca.issue_with(&["wrong.name"], |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 1);
    let ssl = SslConfig {
        certificate_verification: false,
        ..SslConfig::default()
    };
    round_trip(&mut tls_client(&ssl), &addr, &[10, 70_000]);
}

#[test]
fn mutual_tls_without_a_client_certificate_is_refused() {
    let ca = Ca::new("test CA");
    let clients = Ca::new("client CA");
    let leaf = ca.issue(&["127.0.0.1"]);
    for (versions, name) in [
        (&[&rustls::version::TLS13][..], "TLS 1.3"),
        (&[&rustls::version::TLS12][..], "TLS 1.2"),
    ] {
        let (addr, _server) = tls_echo_server(server_config(&leaf, Some(&clients), versions), 1);
        let err = tls_failure(&mut tls_client(&trusting(&ca)), &addr);
        let TlsError::HandshakeRefused { alert, .. } = &err else {
            panic!("{name}: {err:?}");
        };
        // TLS 1.3 names the cause; in TLS 1.2 rustls's server says handshake_failure.
        assert!(
            alert == "CertificateRequired" || alert == "HandshakeFailure",
            "{name}: {alert}"
        );
        assert!(
            err.to_string().contains("ssl.certificate.location"),
            "{name}: {err}"
        );
    }
}

#[test]
fn mutual_tls_with_a_client_certificate() {
    let ca = Ca::new("test CA");
    let clients = Ca::new("client CA");
    let leaf = ca.issue(&["127.0.0.1"]);
    let me = clients.issue(&["consumer"]);
    let (addr, _server) = tls_echo_server(server_config(&leaf, Some(&clients), BOTH), 3);

    // As PEM text.
    let mut ssl = trusting(&ca);
    ssl.certificate_pem = Some(me.cert.pem());
    ssl.key_pem = Some(Secret::new(me.key.serialize_pem()));
    round_trip(&mut tls_client(&ssl), &addr, &[10, 40_000]);

    // As files.
    let dir = TempDir::new("mtls");
    let cert = dir.write("client.pem", &me.cert.pem());
    let key = dir.write("client.key", &me.key.serialize_pem());
    let ca_file = dir.write("ca.pem", &ca.pem());
    let ssl = SslConfig {
        ca_location: Some(ca_file.clone()),
        certificate_location: Some(cert),
        key_location: Some(key),
        ..SslConfig::default()
    };
    round_trip(&mut tls_client(&ssl), &addr, &[10]);

    // Java's PEM keystore: key and chain in one file.
    let store = dir.write(
        "keystore.pem",
        &format!("{}{}", me.key.serialize_pem(), me.cert.pem()),
    );
    let ssl = SslConfig {
        ca_location: Some(ca_file),
        keystore_location: Some(store),
        ..SslConfig::default()
    };
    round_trip(&mut tls_client(&ssl), &addr, &[10]);
}

#[test]
fn tls_to_a_silent_plaintext_listener_times_out() {
    let (addr, _server) = tcp_server(|mut tcp| {
        // Reads the ClientHello and waits for more, as a plaintext broker waits for
        // the rest of a "frame" whose size it read from the record header.
        let mut buf = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    });
    let ca = Ca::new("test CA");
    let mut client = NetworkClient::new(NetConfig {
        tls: Some(TlsClientConfig::from_ssl_config(&trusting(&ca)).unwrap()),
        connection_setup_timeout: Duration::from_millis(500),
        request_timeout: LIMIT,
        ..NetConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let err = tls_failure(&mut client, &addr);
    assert!(matches!(err, TlsError::HandshakeTimeout { .. }), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(err.to_string().contains("PLAINTEXT"), "{err}");
}

/// A plain TCP server reading the first bytes of each of `connections` connections and
/// closing it, after reading the rest for a moment (`linger`: a FIN) or at once, with
/// the ClientHello unread (a reset, as from a Kafka plaintext listener reading the record
/// header as a frame size over its limit).
fn hanging_up_server(connections: usize, linger_first: bool) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        for _ in 0..connections {
            let Ok((mut tcp, _)) = listener.accept() else {
                return;
            };
            let mut size = [0u8; 4];
            let _ = tcp.read_exact(&mut size);
            if linger_first {
                linger(&mut tcp);
            }
        }
    });
    (addr, handle)
}

#[test]
fn tls_to_a_plaintext_listener_that_closes() {
    let ca = Ca::new("test CA");
    for linger in [true, false] {
        let (addr, _server) = hanging_up_server(3, linger);
        let mut client = tls_client(&trusting(&ca));
        // Once or twice could be a broker going down mid-handshake: not conclusive.
        for closes in 1..=2 {
            let err = failure(&mut client, &addr);
            assert!(!err.is_security_failure(), "{err:?}");
            assert!(
                matches!(err, NetError::Tls(TlsError::ClosedDuringHandshake { closes: c, .. }) if c == closes),
                "linger {linger}: {err:?}"
            );
        }
        let err = tls_failure(&mut client, &addr);
        assert!(
            matches!(err, TlsError::ClosedDuringHandshake { closes: 3, .. }),
            "linger {linger}: {err:?}"
        );
        assert!(err.to_string().contains("security.protocol"), "{err}");
    }
}

#[test]
fn tls_to_a_plaintext_listener_that_answers() {
    // A plaintext server answering with a Kafka frame (size prefix 0 0 0 8 ...).
    let (addr, _server) = tcp_server(|mut tcp| {
        let _ = write_frame(&mut tcp, &[0, 0, 0, 1, 0, 0, 0, 0]);
        linger(&mut tcp);
    });
    let ca = Ca::new("test CA");
    let err = tls_failure(&mut tls_client(&trusting(&ca)), &addr);
    assert!(matches!(err, TlsError::NotTls { .. }), "{err:?}");
    assert!(err.to_string().contains("PLAINTEXT"), "{err}");
}

#[test]
fn plaintext_to_a_tls_listener() {
    let ca = Ca::new("test CA");
    let leaf = ca.issue(&["127.0.0.1"]);
    // rustls answers the size prefix of a Kafka request with a TLS alert.
    let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 1);
    let err = tls_failure(&mut client(None), &addr);
    assert!(matches!(err, TlsError::UnexpectedTls { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("security.protocol=SSL") && text.contains("SASL_SSL"),
        "{text}"
    );
}

#[test]
fn plaintext_closed_again_and_again_before_an_answer() {
    // What OpenSSL's TLS servers do with a Kafka request: a reset, no alert.
    let (addr, _server) = hanging_up_server(6, false);
    let mut client = client(None);
    // One or two closes may be a broker going down: retried as usual.
    for attempt in 1..=2 {
        let err = failure(&mut client, &addr);
        assert!(
            matches!(err, NetError::PeerClosed | NetError::Io(_)),
            "attempt {attempt}: {err:?}"
        );
    }
    // The third in a row is reported as what it most likely is.
    let err = tls_failure(&mut client, &addr);
    assert!(
        matches!(err, TlsError::ClosedWithoutAnswer { closes: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("security.protocol=SSL"), "{err}");
    // And counted again from there.
    assert!(!failure(&mut client, &addr).is_security_failure());
}

#[test]
fn tls_closed_again_and_again_after_the_handshake() {
    let ca = Ca::new("test CA");
    let config = server_config(&ca.issue(&["127.0.0.1"]), None, BOTH);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Completes each handshake, reads the request, closes without answering.
    let _server = thread::spawn(move || {
        for _ in 0..3 {
            let (tcp, _) = listener.accept().unwrap();
            let mut stream = StreamOwned::new(ServerConnection::new(config.clone()).unwrap(), tcp);
            let _ = read_frame(&mut stream);
        }
    });
    let mut client = tls_client(&trusting(&ca));
    for attempt in 1..=2 {
        let err = failure(&mut client, &addr);
        assert!(
            matches!(err, NetError::PeerClosed | NetError::Io(_)),
            "attempt {attempt}: {err:?}"
        );
    }
    let err = tls_failure(&mut client, &addr);
    assert!(
        matches!(
            err,
            TlsError::ClosedWithoutAnswer {
                closes: 3,
                tls: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("ssl.certificate.location"),
        "{err}"
    );
}

#[test]
fn kafka_consumer_poll_reports_a_tls_listener_that_resets_plaintext() {
    let (addr, _server) = hanging_up_server(100, false);
    let mut consumer = KafkaConsumer::from_properties([
        ("bootstrap.servers", addr.as_str()),
        ("reconnect.backoff.ms", "10"),
        ("reconnect.backoff.max.ms", "50"),
    ])
    .unwrap();
    consumer.assign([TopicPartition::new("t", 0)]).unwrap();
    let started = Instant::now();
    let err = consumer.poll(Duration::from_secs(30)).unwrap_err();
    assert!(
        matches!(
            err,
            KafkaError::Ssl {
                source: TlsError::ClosedWithoutAnswer { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn configuration_errors_are_typed() {
    let dir = TempDir::new("config");
    let missing = dir.path("missing.pem");
    let err = TlsClientConfig::from_ssl_config(&SslConfig {
        ca_location: Some(missing.clone()),
        ..SslConfig::default()
    })
    .unwrap_err();
    assert!(
        matches!(&err, TlsConfigError::Read { key: "ssl.ca.location", path, .. } if *path == missing),
        "{err:?}"
    );

    let empty = dir.write("empty.pem", "no certificate here\n");
    let err = TlsClientConfig::from_ssl_config(&SslConfig {
        ca_location: Some(empty),
        ..SslConfig::default()
    })
    .unwrap_err();
    assert!(
        matches!(err, TlsConfigError::NoCertificate { .. }),
        "{err:?}"
    );

    let ca = Ca::new("test CA");
    let me = ca.issue(&["consumer"]);
    let key_pem = me.key.serialize_pem();

    // A certificate without its key and the reverse.
    let err = TlsClientConfig::from_ssl_config(&SslConfig {
        certificate_pem: Some(me.cert.pem()),
        ..trusting(&ca)
    })
    .unwrap_err();
    assert!(matches!(err, TlsConfigError::Incomplete { .. }), "{err:?}");
    let err = TlsClientConfig::from_ssl_config(&SslConfig {
        key_pem: Some(Secret::new(key_pem.clone())),
        ..trusting(&ca)
    })
    .unwrap_err();
    assert!(matches!(err, TlsConfigError::Incomplete { .. }), "{err:?}");

    // An encrypted key, and a key password.
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkq\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let err = TlsClientConfig::from_ssl_config(&SslConfig {
        certificate_pem: Some(me.cert.pem()),
        key_pem: Some(Secret::new(encrypted)),
        ..trusting(&ca)
    })
    .unwrap_err();
    assert!(
        matches!(err, TlsConfigError::EncryptedKey { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("openssl"), "{err}");
    let err = TlsClientConfig::from_ssl_config(&SslConfig {
        certificate_pem: Some(me.cert.pem()),
        key_pem: Some(Secret::new(key_pem.clone())),
        key_password: Some(Secret::new("hunter2")),
        ..trusting(&ca)
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            TlsConfigError::EncryptedKey {
                key: "ssl.key.password"
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("hunter2"));

    // A key that is not one, and a key of another certificate.
    let err = TlsClientConfig::from_ssl_config(&SslConfig {
        certificate_pem: Some(me.cert.pem()),
        key_pem: Some(Secret::new(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )),
        ..trusting(&ca)
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            TlsConfigError::BadKey { .. } | TlsConfigError::NoKey { .. }
        ),
        "{err:?}"
    );
    let other = ca.issue(&["other"]);
    let err = TlsClientConfig::from_ssl_config(&SslConfig {
        certificate_pem: Some(me.cert.pem()),
        key_pem: Some(Secret::new(other.key.serialize_pem())),
        ..trusting(&ca)
    })
    .unwrap_err();
    assert!(matches!(err, TlsConfigError::BadKey { .. }), "{err:?}");
    assert!(!err.to_string().contains(&other.key.serialize_pem()));

    let err = TlsClientConfig::from_ssl_config(&SslConfig {
        enabled_protocols: Vec::new(),
        ..trusting(&ca)
    })
    .unwrap_err();
    assert!(matches!(err, TlsConfigError::NoProtocolVersion), "{err:?}");

    // Debug shows no key.
    let config = TlsClientConfig::from_ssl_config(&SslConfig {
        certificate_pem: Some(me.cert.pem()),
        key_pem: Some(Secret::new(key_pem.clone())),
        ..trusting(&ca)
    })
    .unwrap();
    let shown = format!("{config:?}");
    assert!(shown.contains("client_certificate: true"), "{shown}");
    let key_body: String = key_pem.lines().nth(1).unwrap().to_owned();
    assert!(!shown.contains(&key_body), "{shown}");
    let net = NetConfig {
        tls: Some(config),
        ..NetConfig::default()
    };
    assert!(!format!("{net:?}").contains(&key_body));
}

#[test]
fn kafka_consumer_new_returns_tls_configuration_errors() {
    let err = KafkaConsumer::from_properties([
        ("bootstrap.servers", "127.0.0.1:9"),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", "/nonexistent/ca.pem"),
    ])
    .unwrap_err();
    assert!(
        matches!(err, KafkaError::TlsConfig(TlsConfigError::Read { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn kafka_consumer_poll_reports_tls_failures_each_time() {
    let ca = Ca::new("server CA");
    let leaf = ca.issue(&["127.0.0.1"]);
    let (addr, _server) = tls_echo_server(server_config(&leaf, None, BOTH), 100);
    let other = Ca::new("other CA");
    let dir = TempDir::new("consumer");
    let ca_file = dir.write("ca.pem", &other.pem());
    let ca_file = ca_file.to_str().unwrap().to_owned();
    let mut consumer = KafkaConsumer::from_properties([
        ("bootstrap.servers", addr.as_str()),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", ca_file.as_str()),
        ("reconnect.backoff.ms", "10"),
        ("reconnect.backoff.max.ms", "50"),
    ])
    .unwrap();
    consumer.assign([TopicPartition::new("t", 0)]).unwrap();
    for round in 0..3 {
        let started = Instant::now();
        let err = consumer.poll(Duration::from_secs(30)).unwrap_err();
        match &err {
            KafkaError::Ssl { source, .. } => assert!(
                matches!(source, TlsError::UntrustedCertificate { .. }),
                "round {round}: {source:?}"
            ),
            other => panic!("round {round}: {other:?}"),
        }
        // Reported at once, not after the poll timeout.
        assert!(started.elapsed() < Duration::from_secs(20), "round {round}");
    }
    // Closing does not wait for a broker it cannot reach.
    let started = Instant::now();
    drop(consumer);
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ---------------------------------------------------------------- temp files

/// A directory of its own under the system's temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "consumer-net-tls-{name}-{}-{:?}",
            std::process::id(),
            thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }

    fn write(&self, file: &str, text: &str) -> std::path::PathBuf {
        let path = self.path(file);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
