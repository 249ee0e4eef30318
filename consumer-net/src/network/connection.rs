//! One non-blocking TCP connection: connect, (TLS handshake,) write queued frames, read
//! frames.
//!
//! Phases: `Connecting` (the non-blocking TCP connect, address after address), then with
//! TLS `Handshaking` (driven by the same readiness events), then `Connected`: only then
//! are requests written. The setup deadline (`connection_setup_timeout`) covers the TCP
//! connect and the handshake. Without TLS, frames go straight between the socket and the
//! request queue / frame decoder as before (no extra copy); with TLS, through the
//! session's encryption and decryption.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use log::{debug, trace, warn};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;

use super::error::is_closed;
use super::frame::FrameDecoder;
use super::queue::RequestQueue;
use super::tls::{server_name, TlsSession};
use super::{NetError, TlsClientConfig, TlsError};

/// Frames gathered into one vectored write.
const MAX_IOV: usize = 64;

#[derive(Debug)]
enum Phase {
    /// Non-blocking connect to `addr` in progress; give up on it at `deadline`.
    Connecting {
        addr: SocketAddr,
        deadline: Option<Instant>,
    },
    /// TCP is up; the TLS handshake is in progress, to be done by the same `deadline`.
    Handshaking { deadline: Option<Instant> },
    /// Ready for requests.
    Connected,
}

/// What a TLS connection needs to start a session on each (re)connected socket.
#[derive(Debug)]
struct TlsTarget {
    config: TlsClientConfig,
    name: ServerName<'static>,
}

/// What a read pass ended with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadStatus {
    /// Everything available was read; the connection stays up.
    Open,
    /// The peer closed its side.
    Eof,
}

/// A TCP connection to one node, registered with the client's poll under `token`.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    token: Token,
    /// "host:port", for errors and logs.
    address: String,
    phase: Phase,
    /// Resolved addresses not tried yet.
    untried: VecDeque<SocketAddr>,
    setup_timeout: Duration,
    interest: Interest,
    /// The last write hit WouldBlock; wait for a writable event before trying again.
    write_blocked: bool,
    decoder: FrameDecoder,
    /// Set for TLS connections.
    tls: Option<TlsTarget>,
    /// The TLS session of the current socket (from the end of the TCP connect on).
    session: Option<TlsSession>,
    /// A frame came back on this socket: the peer speaks Kafka over what we speak.
    answered: bool,
}

impl Connection {
    /// Starts a non-blocking connect to the first of `addrs` that accepts the attempt;
    /// with `tls`, a TLS session follows the TCP connect.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn connect(
        registry: &Registry,
        token: Token,
        address: &str,
        addrs: Vec<SocketAddr>,
        setup_timeout: Duration,
        max_frame: usize,
        tls: Option<&TlsClientConfig>,
        now: Instant,
    ) -> Result<Self, NetError> {
        let tls = match tls {
            Some(config) => Some(TlsTarget {
                config: config.clone(),
                name: server_name(address)?,
            }),
            None => None,
        };
        let mut untried = VecDeque::from(addrs);
        let (stream, addr) = start_next(registry, token, address, &mut untried, None)?;
        Ok(Connection {
            stream,
            token,
            address: address.to_owned(),
            phase: Phase::Connecting {
                addr,
                deadline: now.checked_add(setup_timeout),
            },
            untried,
            setup_timeout,
            interest: Interest::READABLE | Interest::WRITABLE,
            write_blocked: false,
            decoder: FrameDecoder::new(max_frame),
            tls,
            session: None,
            answered: false,
        })
    }

    /// The poll token of this connection.
    pub(crate) fn token(&self) -> Token {
        self.token
    }

    /// Whether the connection is ready for requests: TCP connected and, with TLS, the
    /// handshake done.
    pub(crate) fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected)
    }

    /// When the current connection attempt times out, while connecting or handshaking.
    pub(crate) fn connect_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connecting { deadline, .. } | Phase::Handshaking { deadline } => deadline,
            Phase::Connected => None,
        }
    }

    /// Moves the connection setup on after an event: the TCP connect, then the TLS
    /// handshake. `Ok(true)` once the connection is ready for requests.
    pub(crate) fn establish(
        &mut self,
        registry: &Registry,
        now: Instant,
    ) -> Result<bool, NetError> {
        if matches!(self.phase, Phase::Connecting { .. }) && !self.finish_connect(registry, now)? {
            return Ok(false);
        }
        if matches!(self.phase, Phase::Handshaking { .. }) {
            self.handshake(registry)?;
        }
        Ok(self.is_connected())
    }

    /// Checks a connecting socket after an event; `Ok(true)` once the TCP connection is
    /// established (with TLS, the handshake is next).
    ///
    /// A failed address makes way for the next one; only when none is left is the
    /// failure returned.
    pub(crate) fn finish_connect(
        &mut self,
        registry: &Registry,
        now: Instant,
    ) -> Result<bool, NetError> {
        let Phase::Connecting { addr, .. } = self.phase else {
            return Ok(true);
        };
        let failure = match self.stream.take_error() {
            Ok(Some(err)) | Err(err) => err,
            Ok(None) => match self.stream.peer_addr() {
                Ok(_) => {
                    if let Err(err) = self.stream.set_nodelay(true) {
                        debug!("setting TCP_NODELAY on {} failed: {err}", self.address);
                    }
                    debug!("connected to {} ({addr})", self.address);
                    self.phase = match &self.tls {
                        Some(tls) => {
                            let name = tls.name.clone();
                            self.session = Some(TlsSession::new(&tls.config, name, &self.address)?);
                            let deadline = match self.phase {
                                Phase::Connecting { deadline, .. } => deadline,
                                _ => None,
                            };
                            Phase::Handshaking { deadline }
                        }
                        None => Phase::Connected,
                    };
                    return Ok(true);
                }
                // Spurious event: the handshake is still in progress.
                Err(err) if err.kind() == io::ErrorKind::NotConnected => return Ok(false),
                Err(err) => err,
            },
        };
        debug!("connecting to {} ({addr}) failed: {failure}", self.address);
        self.try_next_address(registry, failure, now)?;
        Ok(false)
    }

    /// The attempt in progress passed its deadline: move on to the next address, if any.
    pub(crate) fn connect_timed_out(
        &mut self,
        registry: &Registry,
        now: Instant,
    ) -> Result<(), NetError> {
        if matches!(self.phase, Phase::Handshaking { .. }) {
            debug!("the TLS handshake with {} timed out", self.address);
            return Err(TlsError::HandshakeTimeout {
                address: self.address.clone(),
                timeout: self.setup_timeout,
            }
            .into());
        }
        debug!("connecting to {} timed out", self.address);
        if self.untried.is_empty() {
            return Err(NetError::ConnectTimeout);
        }
        let err = io::Error::new(io::ErrorKind::TimedOut, "connection setup timed out");
        self.try_next_address(registry, err, now)
    }

    fn try_next_address(
        &mut self,
        registry: &Registry,
        failure: io::Error,
        now: Instant,
    ) -> Result<(), NetError> {
        self.deregister(registry);
        let (stream, addr) = start_next(
            registry,
            self.token,
            &self.address,
            &mut self.untried,
            Some(failure),
        )?;
        self.stream = stream;
        self.session = None;
        self.interest = Interest::READABLE | Interest::WRITABLE;
        self.phase = Phase::Connecting {
            addr,
            deadline: now.checked_add(self.setup_timeout),
        };
        Ok(())
    }

    /// Whether a write may make progress now.
    pub(crate) fn can_write(&self) -> bool {
        self.is_connected() && !self.write_blocked
    }

    /// The socket reported writable: writes may make progress again.
    pub(crate) fn set_writable(&mut self) {
        self.write_blocked = false;
    }

    /// Whether any frame came back on this connection yet.
    pub(crate) fn answered(&self) -> bool {
        self.answered
    }

    /// Whether this connection speaks TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether TLS records wait to be written (e.g. an answer to something read), with
    /// no request to send.
    pub(crate) fn wants_write(&self) -> bool {
        self.session.as_ref().is_some_and(TlsSession::wants_write)
    }

    /// Drives the TLS handshake: reads and processes what the server sent, writes what
    /// rustls answers; connected once rustls is done.
    fn handshake(&mut self, registry: &Registry) -> Result<(), NetError> {
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        // The broker speaks only when asked: a frame now is out of turn.
        let mut out_of_turn = |frame: Bytes| {
            let correlation_id = match frame.get(..4) {
                Some(&[a, b, c, d]) => i32::from_be_bytes([a, b, c, d]),
                _ => -1,
            };
            Err(NetError::UnsolicitedResponse { correlation_id })
        };
        let closed = || -> NetError {
            TlsError::ClosedDuringHandshake {
                address: self.address.clone(),
                // Counted by the client, which knows the connections before this one.
                closes: 1,
            }
            .into()
        };
        // A peer that closes with our ClientHello unread resets the connection (a Kafka
        // plaintext listener does, reading the record header as a huge frame size).
        let status = match session.read(&mut self.stream, &mut self.decoder, &mut out_of_turn) {
            Err(NetError::Io(e)) if is_closed(&e) => return Err(closed()),
            other => other?,
        };
        if status == ReadStatus::Eof {
            return Err(closed());
        }
        let flushed = match session.flush(&mut self.stream) {
            Err(e) if is_closed(&e) => return Err(closed()),
            other => other?,
        };
        self.write_blocked = !flushed;
        if !session.is_handshaking() {
            debug!(
                "TLS handshake with {} done ({})",
                self.address,
                session.describe()
            );
            self.phase = Phase::Connected;
        }
        self.set_interest(registry, !flushed)
    }

    /// Writes unsent frames until the queue is drained or the socket would block, then
    /// keeps WRITABLE interest only if something is left.
    pub(crate) fn write(
        &mut self,
        registry: &Registry,
        queue: &mut RequestQueue,
    ) -> Result<(), NetError> {
        if !self.is_connected() {
            return Ok(());
        }
        if self.session.is_some() {
            return self.write_tls(registry, queue);
        }
        while queue.has_unsent() && !self.write_blocked {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let count = queue.unsent_slices(&mut slices);
            if count == 0 {
                // Only empty frames are left: they are "written" without a syscall.
                queue.advance(0);
                continue;
            }
            match self.stream.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => {
                    trace!("wrote {n} bytes to {}", self.address);
                    queue.advance(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.write_blocked = true,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
        self.set_interest(registry, queue.has_unsent())
    }

    /// [`write`](Self::write) through TLS: plaintext encrypted by the session into its
    /// bounded ciphertext buffer, records to the socket, until the queue is drained or
    /// the socket would block. WRITABLE interest stays while records wait.
    fn write_tls(&mut self, registry: &Registry, queue: &mut RequestQueue) -> Result<(), NetError> {
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        while !self.write_blocked {
            if !session.flush(&mut self.stream)? {
                self.write_blocked = true;
                break;
            }
            if !queue.has_unsent() {
                break;
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let count = queue.unsent_slices(&mut slices);
            if count == 0 {
                queue.advance(0);
                continue;
            }
            let taken = session.write_plaintext(&slices[..count])?;
            if taken == 0 && !session.wants_write() {
                // Nothing encrypted and nothing to send: no progress is possible.
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            trace!("encrypted {taken} bytes for {}", self.address);
            queue.advance(taken);
        }
        let want_write = queue.has_unsent() || session.wants_write();
        self.set_interest(registry, want_write)
    }

    /// Reads until the socket would block (mio is edge-triggered), handing each complete
    /// frame to `on_frame` as soon as it is decoded.
    pub(crate) fn read(
        &mut self,
        on_frame: &mut dyn FnMut(Bytes) -> Result<(), NetError>,
    ) -> Result<ReadStatus, NetError> {
        if let Some(session) = self.session.as_mut() {
            let answered = &mut self.answered;
            let mut on_frame = |frame: Bytes| {
                *answered = true;
                on_frame(frame)
            };
            let status = session.read(&mut self.stream, &mut self.decoder, &mut on_frame)?;
            if status == ReadStatus::Eof {
                debug!(
                    "{} closed the TLS connection ({} bytes of a partial frame dropped)",
                    self.address,
                    self.decoder.buffered()
                );
            }
            return Ok(status);
        }
        loop {
            match self.decoder.read_from(&mut self.stream) {
                Ok(0) => {
                    self.hint_if_unanswered("closed");
                    debug!(
                        "{} closed the connection ({} bytes of a partial frame dropped)",
                        self.address,
                        self.decoder.buffered()
                    );
                    return Ok(ReadStatus::Eof);
                }
                Ok(n) => {
                    trace!("read {n} bytes from {}", self.address);
                    if !self.answered && looks_like_tls(self.decoder.pending()) {
                        return Err(TlsError::UnexpectedTls {
                            address: self.address.clone(),
                        }
                        .into());
                    }
                    while let Some(frame) = self.decoder.next_frame()? {
                        self.answered = true;
                        on_frame(frame)?;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus::Open),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    if is_closed(&err) {
                        self.hint_if_unanswered("reset");
                    }
                    return Err(err.into());
                }
            }
        }
    }

    /// A plaintext connection the peer `closed` or `reset` before answering anything:
    /// warns that its listener may expect TLS.
    fn hint_if_unanswered(&self, what: &str) {
        if !self.answered {
            warn!(
                "{} {what} the connection before answering anything; if its listener \
                 expects TLS, set security.protocol=SSL (or SASL_SSL)",
                self.address
            );
        }
    }

    /// Reregisters only when the wanted interest changes, to save syscalls.
    fn set_interest(&mut self, registry: &Registry, want_write: bool) -> Result<(), NetError> {
        let wanted = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if wanted != self.interest {
            registry.reregister(&mut self.stream, self.token, wanted)?;
            self.interest = wanted;
        }
        Ok(())
    }

    /// Removes the socket from the poll; dropping the connection then closes it.
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        if let Err(err) = registry.deregister(&mut self.stream) {
            trace!("deregistering {} failed: {err}", self.address);
        }
    }
}

/// Whether the first bytes of a plaintext connection are a TLS record header (alert or
/// handshake, TLS 1.0 to 1.3) rather than a Kafka size prefix: as a size they would be
/// over 350 MB, no first answer of a broker.
fn looks_like_tls(first: &[u8]) -> bool {
    matches!(first, [0x14..=0x17, 0x03, ..])
}

/// Starts connecting to the next address that does not fail immediately.
fn start_next(
    registry: &Registry,
    token: Token,
    address: &str,
    untried: &mut VecDeque<SocketAddr>,
    mut last_error: Option<io::Error>,
) -> Result<(TcpStream, SocketAddr), NetError> {
    while let Some(addr) = untried.pop_front() {
        let attempt = TcpStream::connect(addr).and_then(|mut stream| {
            registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
            Ok(stream)
        });
        match attempt {
            Ok(stream) => {
                debug!("connecting to {address} ({addr})");
                return Ok((stream, addr));
            }
            Err(err) => {
                debug!("connecting to {address} ({addr}) failed: {err}");
                last_error = Some(err);
            }
        }
    }
    let source = last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to connect to"));
    Err(NetError::ConnectFailed {
        address: address.to_owned(),
        source: Arc::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::net::TcpListener;

    #[test]
    fn falls_back_to_the_next_address() {
        let refused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let live = listener.local_addr().unwrap();
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(8);
        let now = Instant::now();
        let timeout = Duration::from_secs(60);
        let mut conn = Connection::connect(
            poll.registry(),
            Token(1),
            "test",
            vec![refused, live],
            timeout,
            1024,
            None,
            now,
        )
        .unwrap();
        while !conn.is_connected() {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            if !events.is_empty() {
                conn.finish_connect(poll.registry(), Instant::now())
                    .unwrap();
            }
            assert!(now.elapsed() < timeout, "never connected");
        }
        assert_eq!(conn.stream.peer_addr().unwrap(), live);
        assert!(conn.stream.nodelay().unwrap());
    }

    #[test]
    fn last_address_failure_is_reported() {
        let refused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(8);
        let now = Instant::now();
        let timeout = Duration::from_secs(60);
        let result = Connection::connect(
            poll.registry(),
            Token(1),
            "test",
            vec![refused],
            timeout,
            1024,
            None,
            now,
        );
        // Refusal is reported either at once or by the first event.
        let err = match result {
            Err(err) => err,
            Ok(mut conn) => loop {
                poll.poll(&mut events, Some(Duration::from_millis(100)))
                    .unwrap();
                if !events.is_empty() {
                    match conn.finish_connect(poll.registry(), Instant::now()) {
                        Err(err) => break err,
                        Ok(connected) => assert!(!connected),
                    }
                }
                assert!(now.elapsed() < timeout, "refusal never reported");
            },
        };
        assert!(matches!(err, NetError::ConnectFailed { .. }), "{err:?}");
    }
}
