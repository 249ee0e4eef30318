//! One TLS session over a non-blocking socket, through rustls's unbuffered API
//! ([`UnbufferedClientConnection`]: the caller owns the ciphertext buffers and drives
//! rustls through its [`ConnectionState`]s).
//!
//! Reads: the socket is read in large chunks into the session's own ciphertext buffer,
//! and rustls decrypts the records in place there. Each application-data record's
//! plaintext is then copied into the [`FrameDecoder`] as soon as it is handed out, so
//! frames of any size flow through and complete frames are delivered at once. A record
//! (or a handshake message spread over records) cut by the end of a read stays in the
//! buffer, which is compacted, and grown up to a bound for a handshake message that does
//! not fit. Compared with the buffered API this saves a copy of every byte (into
//! rustls's deframer buffer); rustls 0.23 still copies each record's plaintext into a
//! `Vec` of its own before handing it out (`received_plaintext`), so the plaintext is
//! copied twice: into that `Vec`, then into the decoder.
//!
//! Writes: plaintext slices are encrypted, a record (16 KiB) at a time, straight into the
//! session's ciphertext buffer (bounded at 64 KiB of application data), which is written
//! to the socket; a partial write leaves the rest for the next flush. Small slices (a
//! request's 4-byte size prefix) are gathered with what follows into one record.
//!
//! Handshake messages, alerts and post-handshake messages (TLS 1.3 session tickets, key
//! updates) are all processed by rustls through the same states; what it has to send
//! goes into the same ciphertext buffer.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};

use bytes::Bytes;
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::pki_types::ServerName;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError,
    UnbufferedStatus, WriteTraffic,
};

use super::{classify, TlsClientConfig, TlsError};
use crate::network::connection::ReadStatus;
use crate::network::frame::FrameDecoder;
use crate::network::NetError;

/// Initial size of the ciphertext read buffer, and so of one read from the socket.
const READ_BUFFER: usize = 128 * 1024;

/// Largest size the read buffer grows to, for a handshake message (up to 64 KiB in
/// rustls) spread over records that does not fit; a message larger than this is refused.
const MAX_READ_BUFFER: usize = 256 * 1024;

/// Reads go into at least this much room: with less, the unprocessed tail (the start of
/// a record, at most ~18 KiB) is first moved to the front of the buffer.
const MIN_READ_ROOM: usize = 32 * 1024;

/// Size of the ciphertext write buffer: application data is encrypted while a record
/// fits in it.
const WRITE_BUFFER: usize = 64 * 1024;

/// Largest size the write buffer grows to, for handshake records rustls must hand out
/// whatever room is left (a client certificate chain spread over records).
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// Plaintext encrypted in one call: TLS's largest record payload.
const MAX_FRAGMENT: usize = 16 * 1024;

/// More than what a record adds to its plaintext (header, explicit nonce, tag, content
/// type); rustls reports the exact size needed when this is not enough.
const RECORD_OVERHEAD: usize = 64;

/// The host part of a `host:port` address: what the certificate must name, and the
/// server name (SNI) sent, except for IP addresses, which are verified against the
/// certificate's IP addresses and not sent.
pub(crate) fn server_name(address: &str) -> Result<ServerName<'static>, TlsError> {
    let host = host_of(address);
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidServerName {
        address: address.to_owned(),
        host: host.to_owned(),
    })
}

/// `host` of `host:port`, `[v6]:port` or a bare host.
fn host_of(address: &str) -> &str {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => address,
    };
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A rustls client session, the ciphertext read but not processed yet and the
/// ciphertext not written yet.
pub(crate) struct TlsSession {
    conn: UnbufferedClientConnection,
    incoming: Incoming,
    outgoing: Outgoing,
    /// Small plaintext slices gathered into one record.
    stage: Vec<u8>,
    /// The broker's `host:port` and host, for errors.
    address: String,
    host: String,
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("handshaking", &self.conn.is_handshaking())
            .field("buffered_ciphertext", &self.incoming.len())
            .field("unsent_ciphertext", &self.outgoing.pending().len())
            .finish()
    }
}

/// Where rustls stopped once everything buffered was processed.
#[derive(Debug, PartialEq, Eq)]
enum Processed {
    /// It needs more from the peer.
    NeedMore,
    /// The peer said close_notify; what came before it was handed out.
    PeerClosed,
}

impl TlsSession {
    /// A new session to `address` (its ClientHello is ready to be flushed).
    pub(crate) fn new(
        config: &TlsClientConfig,
        name: ServerName<'static>,
        address: &str,
    ) -> Result<Self, TlsError> {
        let host = host_of(address).to_owned();
        let conn = UnbufferedClientConnection::new(config.rustls_config().clone(), name)
            .map_err(|e| classify(e, address, &host))?;
        let mut session = Self {
            conn,
            incoming: Incoming::new(),
            outgoing: Outgoing::new(),
            stage: Vec::new(),
            address: address.to_owned(),
            host,
        };
        // Nothing has been read: rustls only hands out the ClientHello to encode.
        match session.process(&mut |_| Ok(())) {
            Ok(_) => Ok(session),
            Err(NetError::Tls(e)) => Err(e),
            Err(other) => Err(TlsError::Protocol {
                address: address.to_owned(),
                reason: other.to_string(),
            }),
        }
    }

    /// Whether the handshake is still going on.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether records wait to be written.
    pub(crate) fn wants_write(&self) -> bool {
        !self.outgoing.pending().is_empty()
    }

    /// The negotiated version and cipher suite, for logs.
    pub(crate) fn describe(&self) -> String {
        let version = self
            .conn
            .protocol_version()
            .map_or_else(|| "?".to_owned(), |v| format!("{v:?}"));
        let suite = self
            .conn
            .negotiated_cipher_suite()
            .map_or_else(|| "?".to_owned(), |s| format!("{:?}", s.suite()));
        format!("{version}, {suite}")
    }

    /// Writes the records waiting; `Ok(false)` if the socket would block first.
    pub(crate) fn flush(&mut self, sock: &mut impl Write) -> io::Result<bool> {
        loop {
            let pending = self.outgoing.pending();
            if pending.is_empty() {
                return Ok(true);
            }
            match sock.write(pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.outgoing.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Encrypts as much of `bufs` as the ciphertext buffer takes; the count taken (0 when
    /// the buffer is full: flush first).
    pub(crate) fn write_plaintext(&mut self, bufs: &[IoSlice<'_>]) -> Result<usize, NetError> {
        let address = self.address.as_str();
        loop {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(self.incoming.unprocessed());
            let state = state.map_err(|e| classify(e, address, &self.host))?;
            let taken = match state {
                ConnectionState::EncodeTlsData(mut data) => {
                    self.outgoing
                        .encode(&mut data)
                        .map_err(|reason| protocol(address, reason))?;
                    None
                }
                ConnectionState::TransmitTlsData(mut data) => {
                    // What was encoded is in the buffer, to be written before these records.
                    let taken = match data.may_encrypt_app_data() {
                        Some(mut traffic) => Some(
                            encrypt(&mut traffic, bufs, &mut self.outgoing, &mut self.stage)
                                .map_err(|reason| protocol(address, reason))?,
                        ),
                        None => None,
                    };
                    data.done();
                    taken
                }
                ConnectionState::WriteTraffic(mut traffic) => Some(
                    encrypt(&mut traffic, bufs, &mut self.outgoing, &mut self.stage)
                        .map_err(|reason| protocol(address, reason))?,
                ),
                // Not connected yet: nothing can be encrypted.
                ConnectionState::BlockedHandshake => Some(0),
                // Reads process every complete record, so none can be waiting here.
                ConnectionState::ReadTraffic(_) => {
                    return Err(protocol(address, "application data left unread".to_owned()))
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    return Err(io::Error::from(io::ErrorKind::BrokenPipe).into())
                }
                other => return Err(unexpected(address, &other)),
            };
            self.incoming.discard(discard);
            if let Some(taken) = taken {
                return Ok(taken);
            }
        }
    }

    /// Reads and decrypts until the socket would block, handing each complete frame to
    /// `on_frame`. `Eof` when the peer closed (with or without close_notify) and all it
    /// sent before was delivered.
    pub(crate) fn read(
        &mut self,
        sock: &mut impl Read,
        decoder: &mut FrameDecoder,
        on_frame: &mut dyn FnMut(Bytes) -> Result<(), NetError>,
    ) -> Result<ReadStatus, NetError> {
        let mut deliver = |mut plaintext: &[u8]| -> Result<(), NetError> {
            while !plaintext.is_empty() {
                // One call takes a record, or the rest of the frame it completes.
                let n = decoder.extend_from_slice(plaintext);
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero).into());
                }
                plaintext = plaintext.get(n..).unwrap_or_default();
                while let Some(frame) = decoder.next_frame()? {
                    on_frame(frame)?;
                }
            }
            Ok(())
        };
        loop {
            if self.process(&mut deliver)? == Processed::PeerClosed {
                // close_notify, everything before it delivered; what follows is ignored.
                return Ok(ReadStatus::Eof);
            }
            let Some(room) = self.incoming.room() else {
                return Err(protocol(
                    &self.address,
                    format!(
                        "a TLS message does not fit in {} KiB",
                        MAX_READ_BUFFER / 1024
                    ),
                ));
            };
            match sock.read(room) {
                // TCP end without close_notify, every complete record before it delivered.
                Ok(0) => return Ok(ReadStatus::Eof),
                Ok(n) => self.incoming.fill(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus::Open),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Lets rustls process the ciphertext buffered until it needs more: handshake and
    /// post-handshake messages, alerts, and application data, whose plaintext goes to
    /// `on_plaintext` record by record. What rustls has to send goes into the write
    /// buffer.
    fn process(
        &mut self,
        on_plaintext: &mut dyn FnMut(&[u8]) -> Result<(), NetError>,
    ) -> Result<Processed, NetError> {
        let (address, host) = (self.address.as_str(), self.host.as_str());
        loop {
            let UnbufferedStatus { mut discard, state } =
                self.conn.process_tls_records(self.incoming.unprocessed());
            let state = state.map_err(|e| classify(e, address, host))?;
            let outcome = match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(|e| classify(e, address, host))?;
                        discard = discard.saturating_add(record.discard);
                        on_plaintext(record.payload)?;
                    }
                    None
                }
                ConnectionState::EncodeTlsData(mut data) => {
                    self.outgoing
                        .encode(&mut data)
                        .map_err(|reason| protocol(address, reason))?;
                    None
                }
                // The records are in the write buffer, which is written before anything
                // encrypted later.
                ConnectionState::TransmitTlsData(data) => {
                    data.done();
                    None
                }
                ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_) => {
                    Some(Processed::NeedMore)
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    Some(Processed::PeerClosed)
                }
                other => return Err(unexpected(address, &other)),
            };
            self.incoming.discard(discard);
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
    }
}

/// A TLS failure of rustls's unbuffered API itself, for `address`.
fn protocol(address: &str, reason: String) -> NetError {
    TlsError::Protocol {
        address: address.to_owned(),
        reason,
    }
    .into()
}

/// A state a client never gets (early data is the server's).
fn unexpected(address: &str, state: &ConnectionState<'_, '_, ClientConnectionData>) -> NetError {
    protocol(address, format!("unexpected TLS state {state:?}"))
}

/// Encrypts the plaintext of `bufs`, a record at a time, into `out` while a record fits;
/// the count of bytes taken.
fn encrypt(
    traffic: &mut WriteTraffic<'_, ClientConnectionData>,
    bufs: &[IoSlice<'_>],
    out: &mut Outgoing,
    stage: &mut Vec<u8>,
) -> Result<usize, String> {
    let mut taken = 0;
    loop {
        let piece = next_piece(bufs, taken, stage);
        if piece.is_empty() {
            return Ok(taken);
        }
        let len = piece.len();
        if !out.fits(len + RECORD_OVERHEAD) {
            if !out.pending().is_empty() {
                return Ok(taken);
            }
            out.reserve(len + RECORD_OVERHEAD)?;
        }
        match traffic.encrypt(piece, out.room()) {
            Ok(n) => {
                out.fill(n);
                taken += len;
            }
            // Nothing was written. rustls may have a record of its own to put first
            // (a key update); flush, or make room when nothing waits.
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size })) => {
                if !out.pending().is_empty() {
                    return Ok(taken);
                }
                out.reserve(required_size)?;
            }
            Err(EncryptError::EncryptExhausted) => {
                return Err("the encryption keys are used up".to_owned())
            }
        }
    }
}

/// The next plaintext to encrypt, `skip` bytes into `bufs`: up to a record's worth,
/// straight from a slice that holds that much (or is the last), else gathered into
/// `stage` (so a request's 4-byte size prefix and its frame make one record, not two).
fn next_piece<'a>(bufs: &'a [IoSlice<'_>], mut skip: usize, stage: &'a mut Vec<u8>) -> &'a [u8] {
    let mut rest = bufs.iter();
    let first: &'a [u8] = loop {
        let Some(buf) = rest.next() else {
            return &[];
        };
        let buf: &'a [u8] = buf;
        match buf.get(skip..) {
            Some(tail) if !tail.is_empty() => break tail,
            _ => skip = skip.saturating_sub(buf.len()),
        }
    };
    if first.len() >= MAX_FRAGMENT || rest.as_slice().iter().all(|b| b.is_empty()) {
        return first.get(..MAX_FRAGMENT).unwrap_or(first);
    }
    stage.clear();
    stage.extend_from_slice(first);
    for buf in rest {
        let want = MAX_FRAGMENT.saturating_sub(stage.len());
        if want == 0 {
            break;
        }
        stage.extend_from_slice(buf.get(..want).unwrap_or(buf));
    }
    stage
}

/// Ciphertext read from the socket: `buf[start..end]` is not processed yet (the start
/// of a record, or of a handshake message spread over records); `buf[end..]` is zeroed
/// room for reads (safe code cannot read into uninitialised memory).
struct Incoming {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Incoming {
    fn new() -> Self {
        Incoming {
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
        }
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    /// What rustls has not processed yet.
    fn unprocessed(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.start..self.end).unwrap_or_default()
    }

    /// rustls is done with the first `n` unprocessed bytes.
    fn discard(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room for the next read: the unprocessed tail moves to the front when less than
    /// [`MIN_READ_ROOM`] is left behind it, and a buffer full of one unfinished message
    /// grows, up to [`MAX_READ_BUFFER`]; `None` once it cannot.
    fn room(&mut self) -> Option<&mut [u8]> {
        if self.buf.len() - self.end < MIN_READ_ROOM && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_READ_BUFFER {
                return None;
            }
            let size = (self.buf.len() * 2).min(MAX_READ_BUFFER);
            self.buf.resize(size, 0);
        }
        self.buf.get_mut(self.end..)
    }

    /// `n` bytes were read into the room.
    fn fill(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.buf.len());
    }
}

/// Ciphertext to write: `buf[start..end]` is not written yet; `buf[end..]` is zeroed
/// room rustls encodes and encrypts into.
struct Outgoing {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Outgoing {
    fn new() -> Self {
        Outgoing {
            buf: vec![0; WRITE_BUFFER],
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// `n` bytes were written.
    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn room(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// `n` bytes were put into the room.
    fn fill(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.buf.len());
    }

    /// Whether `want` bytes fit in the room, once the pending bytes are moved to the
    /// front if that makes them fit; the buffer does not grow.
    fn fits(&mut self, want: usize) -> bool {
        if self.buf.len() - self.end >= want {
            return true;
        }
        if self.start > 0 && self.buf.len() - (self.end - self.start) >= want {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            return true;
        }
        false
    }

    /// Makes room for `want` bytes, growing the buffer up to [`MAX_WRITE_BUFFER`].
    fn reserve(&mut self, want: usize) -> Result<(), String> {
        if self.fits(want) {
            return Ok(());
        }
        let size = self.end - self.start + want;
        if size > MAX_WRITE_BUFFER {
            return Err(format!(
                "{want} bytes of TLS records to send do not fit in {} KiB",
                MAX_WRITE_BUFFER / 1024
            ));
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        self.buf.resize(size.max(self.buf.len()), 0);
        Ok(())
    }

    /// Encodes a record rustls hands out (handshake, alert, key update): it cannot be put
    /// back, so the buffer grows if needed.
    fn encode(&mut self, data: &mut EncodeTlsData<'_, ClientConnectionData>) -> Result<(), String> {
        loop {
            match data.encode(self.room()) {
                Ok(n) => {
                    self.fill(n);
                    return Ok(());
                }
                Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
                    self.reserve(required_size)?
                }
                Err(EncodeError::AlreadyEncoded) => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::version::{TLS12, TLS13};
    use rustls::{
        ClientConfig, RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion,
    };

    #[test]
    fn hosts_are_taken_from_addresses() {
        assert_eq!(host_of("kafka-1.example.com:9093"), "kafka-1.example.com");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
        assert!(matches!(
            server_name("127.0.0.1:1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[::1]:1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("b-1:1"), Ok(ServerName::DnsName(_))));
        assert!(matches!(
            server_name("bad host!:1"),
            Err(TlsError::InvalidServerName { .. })
        ));
    }

    // ------------------------------------------------------------ an in-memory peer

    const ADDRESS: &str = "localhost:9093";
    const BOTH: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];

    #[allow(deprecated)] // rustls 0.23.48 deprecates its ring provider (no post-quantum kx).
    fn provider() -> rustls::crypto::CryptoProvider {
        rustls::crypto::ring::default_provider()
    }

    /// A rustls server (a CA-signed certificate for localhost) and a client trusting
    /// the CA, both limited to `versions`; the server to `suites` when given.
    fn configs(
        versions: &[&'static SupportedProtocolVersion],
        client_versions: &[&'static SupportedProtocolVersion],
        suites: Option<Vec<rustls::SupportedCipherSuite>>,
    ) -> (Arc<ServerConfig>, TlsClientConfig) {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let mut server_provider = provider();
        if let Some(suites) = suites {
            server_provider.cipher_suites = suites;
        }
        let server = ServerConfig::builder_with_provider(Arc::new(server_provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let client = ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(client_versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (
            Arc::new(server),
            TlsClientConfig::from_rustls(Arc::new(client)),
        )
    }

    /// What the peer sent, handed out at most `step` bytes a read; WouldBlock when all
    /// was read, unless the peer `closed` (then end of stream).
    struct Wire {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        closed: bool,
    }

    impl Wire {
        fn new(data: Vec<u8>, step: usize, closed: bool) -> Self {
            Wire {
                data,
                pos: 0,
                step,
                closed,
            }
        }
    }

    impl Read for Wire {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let rest = &self.data[self.pos..];
            if rest.is_empty() {
                return if self.closed {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let n = rest.len().min(buf.len()).min(self.step);
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// A socket that takes at most `step` bytes a write and would block every other time.
    struct Sink {
        data: Vec<u8>,
        step: usize,
        calls: usize,
    }

    impl Sink {
        fn new(step: usize) -> Self {
            Sink {
                data: Vec::new(),
                step,
                calls: 0,
            }
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.step);
            self.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Everything the client has to send, through a socket that writes `step` bytes at a
    /// time and would block every other write.
    fn client_output(client: &mut TlsSession, step: usize) -> Vec<u8> {
        let mut sink = Sink::new(step);
        while !client.flush(&mut sink).unwrap() {}
        assert!(!client.wants_write());
        sink.data
    }

    /// Hands `bytes` to the server; returns the plaintext it decrypted.
    fn feed(server: &mut ServerConnection, mut bytes: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let mut plain = Vec::new();
        while !bytes.is_empty() {
            server.read_tls(&mut bytes).unwrap();
            server.process_new_packets()?;
            match server.reader().read_to_end(&mut plain) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => {
                    other.unwrap();
                }
            }
        }
        Ok(plain)
    }

    fn server_output(server: &mut ServerConnection) -> Vec<u8> {
        let mut out = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut out).unwrap();
        }
        out
    }

    /// A finished handshake: the client session and the rustls server. Both sides' flights
    /// go over byte-at-a-time-ish wires of `step` bytes.
    fn connected(
        server_config: Arc<ServerConfig>,
        client_config: &TlsClientConfig,
        step: usize,
    ) -> (TlsSession, ServerConnection) {
        let name = server_name(ADDRESS).unwrap();
        let mut client = TlsSession::new(client_config, name, ADDRESS).unwrap();
        let mut server = ServerConnection::new(server_config).unwrap();
        server.set_buffer_limit(None);
        let mut decoder = FrameDecoder::new(1 << 20);
        assert!(client.wants_write(), "the ClientHello is ready at once");
        for _ in 0..10 {
            let sent = client_output(&mut client, step);
            feed(&mut server, &sent).unwrap();
            let mut wire = Wire::new(server_output(&mut server), step, false);
            let status = client
                .read(&mut wire, &mut decoder, &mut |_| panic!("a frame"))
                .unwrap();
            assert_eq!(status, ReadStatus::Open);
            if !client.is_handshaking() && !server.is_handshaking() && !client.wants_write() {
                assert!(
                    client.describe().contains("TLSv1_"),
                    "{}",
                    client.describe()
                );
                return (client, server);
            }
        }
        panic!("the handshake did not finish");
    }

    fn frame(i: usize, len: usize) -> Vec<u8> {
        let mut v = (len as i32).to_be_bytes().to_vec();
        v.extend((0..len).map(|j| (i * 7 + j % 251) as u8));
        v
    }

    /// Reads `wire` to its end through `client`; the frames and how the read ended.
    fn read_all(
        client: &mut TlsSession,
        wire: &mut Wire,
    ) -> Result<(Vec<Bytes>, ReadStatus), NetError> {
        let mut decoder = FrameDecoder::new(1 << 22);
        let mut frames = Vec::new();
        let status = client.read(wire, &mut decoder, &mut |f| {
            frames.push(f);
            Ok(())
        })?;
        Ok((frames, status))
    }

    fn check_frames(got: &[Bytes], want: &[Vec<u8>]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(g[..] == w[4..], "frame {i} differs");
        }
    }

    #[test]
    fn frames_arrive_whatever_the_reads() {
        let sizes = [0, 1, 100, 16_379, 16_380, 16_384, 40_000, 300_000, 5];
        for versions in [&[&TLS13][..], &[&TLS12][..]] {
            for step in [1, 7, 1000, 16_390, 100_000, 1 << 22] {
                let (server_config, client_config) = configs(versions, BOTH, None);
                let (mut client, mut server) = connected(server_config, &client_config, step);
                // A byte at a time only for small frames, to keep the test fast.
                let sizes = if step < 1000 { &sizes[..5] } else { &sizes[..] };
                let frames: Vec<Vec<u8>> = sizes
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| frame(i, n))
                    .collect();
                for f in &frames {
                    server.writer().write_all(f).unwrap();
                }
                server.send_close_notify();
                let mut wire = Wire::new(server_output(&mut server), step, true);
                let (got, status) = read_all(&mut client, &mut wire).unwrap();
                assert_eq!(status, ReadStatus::Eof, "step {step}");
                check_frames(&got, &frames);
            }
        }
    }

    #[test]
    fn frames_come_as_soon_as_their_records_do() {
        let (server_config, client_config) = configs(&[&TLS13], BOTH, None);
        let (mut client, mut server) = connected(server_config, &client_config, 1 << 20);
        let mut decoder = FrameDecoder::new(1 << 22);
        let mut frames = Vec::new();
        let big = frame(1, 100_000);
        server.writer().write_all(&big).unwrap();
        let wire = server_output(&mut server);
        // All but the last byte: every frame but the big one's last record.
        let (head, tail) = wire.split_at(wire.len() - 1);
        let mut collect = |f: Bytes| {
            frames.push(f);
            Ok(())
        };
        let mut first = Wire::new(head.to_vec(), 1 << 20, false);
        let status = client.read(&mut first, &mut decoder, &mut collect).unwrap();
        assert_eq!(status, ReadStatus::Open);
        let mut second = Wire::new(tail.to_vec(), 1 << 20, false);
        let status = client
            .read(&mut second, &mut decoder, &mut collect)
            .unwrap();
        assert_eq!(status, ReadStatus::Open);
        assert_eq!(frames.len(), 1);
        assert!(frames[0][..] == big[4..]);
    }

    #[test]
    fn tcp_end_without_close_notify_delivers_everything_before() {
        for versions in [&[&TLS13][..], &[&TLS12][..]] {
            let (server_config, client_config) = configs(versions, BOTH, None);
            let (mut client, mut server) = connected(server_config, &client_config, 1 << 20);
            let frames = vec![frame(0, 10), frame(1, 20_000)];
            for f in &frames {
                server.writer().write_all(f).unwrap();
            }
            // Half a frame, and half of the record holding it.
            server.writer().write_all(&frame(2, 50)[..30]).unwrap();
            let mut wire = server_output(&mut server);
            wire.truncate(wire.len() - 10);
            let mut wire = Wire::new(wire, 4096, true);
            let (got, status) = read_all(&mut client, &mut wire).unwrap();
            assert_eq!(status, ReadStatus::Eof);
            check_frames(&got, &frames);
        }
    }

    #[test]
    fn what_follows_close_notify_is_ignored() {
        let (server_config, client_config) = configs(&[&TLS13], BOTH, None);
        let (mut client, mut server) = connected(server_config, &client_config, 1 << 20);
        let frames = vec![frame(0, 10)];
        server.writer().write_all(&frames[0]).unwrap();
        server.send_close_notify();
        let mut wire = server_output(&mut server);
        wire.extend_from_slice(b"not TLS at all");
        let mut wire = Wire::new(wire, 1 << 20, false);
        let (got, status) = read_all(&mut client, &mut wire).unwrap();
        assert_eq!(status, ReadStatus::Eof);
        check_frames(&got, &frames);
    }

    #[test]
    fn writes_survive_partial_writes() {
        for versions in [&[&TLS13][..], &[&TLS12][..]] {
            let (server_config, client_config) = configs(versions, BOTH, None);
            let (mut client, mut server) = connected(server_config, &client_config, 1 << 20);
            // A size prefix and a frame per request, as the request queue hands them out.
            let bodies: Vec<Vec<u8>> = [3, 0, 1000, 16_384, 70_000, 200_000, 1]
                .iter()
                .enumerate()
                .map(|(i, &n)| frame(i, n)[4..].to_vec())
                .collect();
            let prefixes: Vec<[u8; 4]> = bodies
                .iter()
                .map(|b| (b.len() as i32).to_be_bytes())
                .collect();
            let mut slices = Vec::new();
            let mut want = Vec::new();
            for (p, b) in prefixes.iter().zip(&bodies) {
                slices.push(&p[..]);
                slices.push(&b[..]);
                want.extend_from_slice(p);
                want.extend_from_slice(b);
            }
            let mut sink = Sink::new(5000);
            let mut taken = 0;
            let mut plain = Vec::new();
            let mut rounds = 0;
            while taken < want.len() || client.wants_write() {
                rounds += 1;
                assert!(rounds < 10_000, "no progress");
                if !client.flush(&mut sink).unwrap() {
                    continue;
                }
                plain.extend(feed(&mut server, &std::mem::take(&mut sink.data)).unwrap());
                // What is left, as IoSlices starting `taken` bytes in.
                let mut skip = taken;
                let mut rest = Vec::new();
                for s in &slices {
                    if skip >= s.len() {
                        skip -= s.len();
                        continue;
                    }
                    rest.push(IoSlice::new(&s[skip..]));
                    skip = 0;
                }
                if rest.is_empty() {
                    continue;
                }
                taken += client.write_plaintext(&rest).unwrap();
            }
            plain.extend(feed(&mut server, &sink.data).unwrap());
            assert!(plain == want, "the server read something else");
        }
    }

    #[test]
    fn key_updates_both_ways() {
        let (server_config, client_config) = configs(&[&TLS13], BOTH, None);
        let (mut client, mut server) = connected(server_config, &client_config, 1 << 20);
        for round in 0..3 {
            // The server updates its keys and asks the client to update its own.
            server.refresh_traffic_keys().unwrap();
            let frames = vec![frame(round, 30_000), frame(round + 1, 3)];
            for f in &frames {
                server.writer().write_all(f).unwrap();
            }
            let mut wire = Wire::new(server_output(&mut server), 10_000, false);
            let (got, status) = read_all(&mut client, &mut wire).unwrap();
            assert_eq!(status, ReadStatus::Open);
            check_frames(&got, &frames);
            let request = frame(round, 100);
            let taken = client.write_plaintext(&[IoSlice::new(&request)]).unwrap();
            assert_eq!(taken, request.len());
            let sent = client_output(&mut client, 1 << 20);
            assert_eq!(feed(&mut server, &sent).unwrap(), request);
        }
    }

    #[test]
    fn plaintext_answers_are_not_tls() {
        let (_, client_config) = configs(BOTH, BOTH, None);
        let name = server_name(ADDRESS).unwrap();
        let mut client = TlsSession::new(&client_config, name, ADDRESS).unwrap();
        client_output(&mut client, 1 << 20);
        // A Kafka frame: size 8, then a correlation id and an error code.
        let mut wire = Wire::new(vec![0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0], 1 << 20, false);
        match read_all(&mut client, &mut wire) {
            Err(NetError::Tls(TlsError::NotTls { address })) => assert_eq!(address, ADDRESS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn alerts_are_classified() {
        // The server speaks only TLS 1.2, the client only TLS 1.3.
        let (server_config, client_config) = configs(&[&TLS12], &[&TLS13], None);
        let name = server_name(ADDRESS).unwrap();
        let mut client = TlsSession::new(&client_config, name, ADDRESS).unwrap();
        let mut server = ServerConnection::new(server_config).unwrap();
        let hello = client_output(&mut client, 1 << 20);
        assert!(feed(&mut server, &hello).is_err());
        let mut wire = Wire::new(server_output(&mut server), 1 << 20, false);
        match read_all(&mut client, &mut wire) {
            Err(NetError::Tls(TlsError::HandshakeRefused { alert, .. })) => {
                assert_eq!(alert, "ProtocolVersion")
            }
            other => panic!("{other:?}"),
        }
    }

    // ------------------------------------------------------------ cost of a read

    #[inline(never)]
    fn consume_tls(client: &mut TlsSession, wire: &mut Wire) -> (usize, usize) {
        let mut decoder = FrameDecoder::new(1 << 22);
        let (mut count, mut bytes) = (0, 0);
        let status = client
            .read(wire, &mut decoder, &mut |f| {
                count += 1;
                bytes += f.len();
                Ok(())
            })
            .unwrap();
        assert_eq!(status, ReadStatus::Eof);
        (count, bytes)
    }

    #[inline(never)]
    fn consume_plain(wire: &mut Wire) -> (usize, usize) {
        let mut decoder = FrameDecoder::new(1 << 22);
        let (mut count, mut bytes) = (0, 0);
        while decoder.read_from(wire).unwrap() > 0 {
            while let Some(f) = decoder.next_frame().unwrap() {
                count += 1;
                bytes += f.len();
            }
        }
        (count, bytes)
    }

    /// Fetch-response-sized frames read over TLS 1.3 (TLS_AES_256_GCM_SHA384, as the TLS
    /// bench pins) arrive whole and in order, as over plaintext; and what each costs, in
    /// memory: `TLS_READ_MB` MiB (4 by default; 64 to measure) in frames of
    /// `TLS_READ_FRAME` bytes (1,000,000), socket reads of `TLS_READ_STEP` bytes (65536).
    /// To measure, run in release; under callgrind, `--toggle-collect='*consume_tls*'` (or
    /// `*consume_plain*`) counts the instructions of one side:
    /// `TLS_READ_MB=64 cargo test --release -p consumer-net --lib read_cost -- --nocapture`
    #[test]
    fn read_cost() {
        let env = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let (mib, size, step) = (
            env("TLS_READ_MB", 4),
            env("TLS_READ_FRAME", 1_000_000),
            env("TLS_READ_STEP", 65_536),
        );
        let suites = vec![rustls::crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384];
        let (server_config, client_config) = configs(&[&TLS13], BOTH, Some(suites));
        let (mut client, mut server) = connected(server_config, &client_config, 1 << 20);
        let count = (mib << 20) / size;
        let mut ciphertext = Vec::new();
        let mut plaintext = Vec::new();
        for i in 0..count {
            let f = frame(i, size - 4);
            server.writer().write_all(&f).unwrap();
            ciphertext.extend(server_output(&mut server));
            plaintext.extend_from_slice(&f);
        }
        let mut wire = Wire::new(ciphertext, step, true);
        let start = Instant::now();
        let got = consume_tls(&mut client, &mut wire);
        let tls = start.elapsed();
        assert_eq!(got, (count, count * (size - 4)));
        let mut wire = Wire::new(plaintext, step, true);
        let start = Instant::now();
        let got = consume_plain(&mut wire);
        let plain = start.elapsed();
        assert_eq!(got, (count, count * (size - 4)));
        let per_mib = |d: std::time::Duration| d.as_secs_f64() * 1e6 / mib as f64;
        println!(
            "read_cost: {count} frames of {size} B in reads of {step} B: TLS {:.0} µs/MiB, \
             plaintext {:.0} µs/MiB",
            per_mib(tls),
            per_mib(plain)
        );
    }
}
