//! One TLS session over a non-blocking socket, through rustls's buffered API
//! (`read_tls` / `process_new_packets` / `reader` / `writer` / `write_tls`).
//!
//! Reads: the socket is read in large chunks into a buffer of the session's own, and the
//! ciphertext is handed to rustls from there (rustls reads at most a few KiB per call:
//! fed straight from the socket, a 1 MiB response would take hundreds of syscalls).
//! rustls decrypts in place and keeps the plaintext (at most ~16 KiB at a time); it is
//! moved into the [`FrameDecoder`] after every record, so frames of any size flow
//! through. Writes: plaintext slices are encrypted by rustls into its own record buffers
//! (bounded at 64 KiB), which are written to the socket with vectored writes.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::{classify, TlsClientConfig, TlsError};
use crate::network::connection::ReadStatus;
use crate::network::frame::FrameDecoder;
use crate::network::NetError;

/// Size of one read from the socket.
const READ_BUFFER: usize = 128 * 1024;

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

/// A rustls client session and the ciphertext read but not yet given to it.
pub(crate) struct TlsSession {
    conn: ClientConnection,
    /// `inbuf[start..end]`: ciphertext read from the socket, not yet taken by rustls.
    inbuf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The broker's `host:port` and host, for errors.
    address: String,
    host: String,
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("handshaking", &self.conn.is_handshaking())
            .field("buffered_ciphertext", &(self.end - self.start))
            .finish()
    }
}

impl TlsSession {
    /// A new session to `address` (its ClientHello is ready to be flushed).
    pub(crate) fn new(
        config: &TlsClientConfig,
        name: ServerName<'static>,
        address: &str,
    ) -> Result<Self, TlsError> {
        let host = host_of(address).to_owned();
        let conn = ClientConnection::new(config.rustls_config().clone(), name)
            .map_err(|e| classify(e, address, &host))?;
        Ok(Self {
            conn,
            inbuf: vec![0; READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            address: address.to_owned(),
            host,
        })
    }

    /// Whether the handshake is still going on.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether rustls holds records to send.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
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

    /// Writes the records rustls holds; `Ok(false)` if the socket would block first.
    pub(crate) fn flush(&mut self, sock: &mut impl Write) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Encrypts as much of `bufs` as rustls's outgoing buffer takes; the count taken
    /// (0 when the buffer is full: flush first).
    pub(crate) fn write_plaintext(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.conn.writer().write_vectored(bufs)
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
        loop {
            if self.drain(decoder, on_frame)? {
                return Ok(ReadStatus::Eof);
            }
            if self.start == self.end {
                match sock.read(&mut self.inbuf) {
                    Ok(0) => {
                        // Tells rustls the stream ended; its reader then reports whether
                        // the peer said close_notify first.
                        self.conn.read_tls(&mut io::empty())?;
                    }
                    Ok(n) => {
                        self.start = 0;
                        self.end = n.min(self.inbuf.len());
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus::Open),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            if let Some(mut pending) = self.inbuf.get(self.start..self.end) {
                if !pending.is_empty() {
                    let taken = self.conn.read_tls(&mut pending)?;
                    // Zero: close_notify came; what follows it is ignored.
                    self.start = if taken == 0 {
                        self.end
                    } else {
                        (self.start + taken).min(self.end)
                    };
                }
            }
            self.conn
                .process_new_packets()
                .map_err(|e| classify(e, &self.address, &self.host))?;
        }
    }

    /// Moves decrypted bytes into the decoder and hands out the frames completed; true
    /// if the TLS stream has ended.
    fn drain(
        &mut self,
        decoder: &mut FrameDecoder,
        on_frame: &mut dyn FnMut(Bytes) -> Result<(), NetError>,
    ) -> Result<bool, NetError> {
        loop {
            match decoder.read_from(&mut self.conn.reader()) {
                // close_notify, everything before it read.
                Ok(0) => return Ok(true),
                Ok(_) => {
                    while let Some(frame) = decoder.next_frame()? {
                        on_frame(frame)?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                // TCP EOF without close_notify, everything before it read.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(true),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
