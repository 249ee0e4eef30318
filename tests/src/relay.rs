//! A raw TCP relay (no Kafka, no TLS termination) that can cut connections
//! in the middle of their TLS handshake, and drop every live connection.
//!
//! It sits on the address clients connect to (the advertised port) in front
//! of a TLS terminator on another port. Every connection is relayed byte for
//! byte by two threads, except the next `n` new connections after
//! [`Relay::cut_handshakes`]`(n)`: for those the relay forwards the client's
//! first TLS record (the ClientHello) upstream, relays the server's first TLS
//! record back (the ServerHello), waits a moment so the client takes it in,
//! and closes both sides. The client is then mid-handshake: it has the
//! ServerHello, and no more.
//!
//! The ClientHello is only *peeked* on the client socket, never read, so the
//! close finds unread data and Linux answers with a reset instead of a FIN
//! (RFC 2525), without `SO_LINGER` (which std cannot set).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::ports::free_port;

/// How long a cut connection waits for the ClientHello and the ServerHello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the client gets to take the ServerHello in before the cut.
const BEFORE_CUT: Duration = Duration::from_millis(100);
/// A TLS record header: type, version (2), length (2).
const RECORD_HEADER: usize = 5;
/// TLS record content type `handshake`.
const HANDSHAKE: u8 = 22;

struct Shared {
    upstream: String,
    stop: AtomicBool,
    /// Cuts still to make (new connections).
    cuts_left: Mutex<usize>,
    cuts_done: AtomicUsize,
    /// Cuts that ended with a reset (unread ClientHello) rather than a FIN.
    resets: AtomicUsize,
    accepted: AtomicUsize,
    dropped: AtomicUsize,
    next_id: AtomicU64,
    /// Live relayed connections: (client, upstream) clones, for dropping.
    live: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
}

/// A relay on 127.0.0.1 (see the module docs); stops when dropped, closing
/// every connection.
pub struct Relay {
    port: u16,
    shared: Arc<Shared>,
}

impl Relay {
    /// Listens on a free port and relays to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Result<Relay> {
        let mut last = None;
        for _ in 0..3 {
            match Relay::start_on(free_port()?, upstream) {
                Ok(r) => return Ok(r),
                Err(e @ HarnessError::Failed { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| HarnessError::InvalidInput("the relay did not start".into())))
    }

    /// Listens on 127.0.0.1:`port` and relays to `upstream`. A port taken
    /// by someone else is [`HarnessError::Failed`].
    pub fn start_on(port: u16, upstream: &str) -> Result<Relay> {
        let listener =
            TcpListener::bind(("127.0.0.1", port)).map_err(|e| HarnessError::Failed {
                what: format!("the relay on 127.0.0.1:{port}"),
                status: "bind failed".into(),
                output: e.to_string(),
            })?;
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            stop: AtomicBool::new(false),
            cuts_left: Mutex::new(0),
            cuts_done: AtomicUsize::new(0),
            resets: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            live: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || accept_loop(&listener, &s))
            .map_err(|e| HarnessError::io("spawning the relay", e))?;
        log::info!("relay listening on 127.0.0.1:{port}, to {upstream}");
        Ok(Relay { port, shared })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `localhost:<port>` (the name the test certificates are issued for).
    pub fn addr(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// Cuts the next `n` new connections mid-handshake (after the
    /// ServerHello); replaces any cuts still pending (0 cancels them).
    pub fn cut_handshakes(&self, n: usize) {
        *self
            .shared
            .cuts_left
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = n;
    }

    /// Cuts asked for and not made yet.
    pub fn cuts_pending(&self) -> usize {
        *self
            .shared
            .cuts_left
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Connections cut mid-handshake so far.
    pub fn cuts_done(&self) -> usize {
        self.shared.cuts_done.load(Ordering::SeqCst)
    }

    /// Of [`cuts_done`](Self::cuts_done), those closed with a reset.
    pub fn resets_done(&self) -> usize {
        self.shared.resets.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections dropped by [`drop_connections`](Self::drop_connections) so far.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Closes every live relayed connection (both sides); returns how many.
    pub fn drop_connections(&self) -> usize {
        let live: Vec<(TcpStream, TcpStream)> = self
            .shared
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, c)| c)
            .collect();
        for (c, u) in &live {
            let _ = c.shutdown(Shutdown::Both);
            let _ = u.shutdown(Shutdown::Both);
        }
        self.shared.dropped.fetch_add(live.len(), Ordering::SeqCst);
        log::info!("relay {}: dropped {} connection(s)", self.port, live.len());
        live.len()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop up.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        self.drop_connections();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nodelay(true);
        let cut = {
            let mut left = shared.cuts_left.lock().unwrap_or_else(|e| e.into_inner());
            let cut = *left > 0;
            if cut {
                *left -= 1;
            }
            cut
        };
        let s = shared.clone();
        let spawned = if cut {
            thread::Builder::new()
                .name("relay-cut".into())
                .spawn(move || cut_handshake(client, &s))
        } else {
            thread::Builder::new()
                .name("relay-conn".into())
                .spawn(move || relay(client, &s))
        };
        if let Err(e) = spawned {
            log::warn!("relay: could not spawn a connection thread: {e}");
        }
    }
}

/// Relays one connection both ways until either side closes.
fn relay(client: TcpStream, shared: &Arc<Shared>) {
    let Ok(upstream) = TcpStream::connect(&shared.upstream) else {
        // Nothing behind the relay (e.g. stunnel down): the client sees a close.
        return;
    };
    let _ = upstream.set_nodelay(true);
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let clones = (|| Some((client.try_clone().ok()?, upstream.try_clone().ok()?)))();
    let Some((c2, u2)) = clones else { return };
    if let Some((c3, u3)) = (|| Some((client.try_clone().ok()?, upstream.try_clone().ok()?)))() {
        shared
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (c3, u3));
    }
    let back = thread::Builder::new()
        .name("relay-back".into())
        .spawn(move || copy(u2, c2));
    copy(client, upstream);
    if let Ok(h) = back {
        let _ = h.join();
    }
    shared
        .live
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
}

/// Copies `from` to `to` until EOF or an error, then closes both.
fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// The length of the first TLS record in `buf` (header included), if `buf`
/// starts with a handshake record header.
fn record_len(buf: &[u8]) -> Option<usize> {
    match buf {
        [HANDSHAKE, 3, _, hi, lo, ..] => {
            Some(RECORD_HEADER + usize::from(*hi) * 256 + usize::from(*lo))
        }
        _ => None,
    }
}

/// Peeks (without reading) the client's first TLS record, or whatever it
/// sent if that is not TLS. Empty if the client sent nothing in time.
fn peek_first_record(client: &TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; RECORD_HEADER + 64 * 1024];
    let deadline = Instant::now() + HELLO_TIMEOUT;
    let _ = client.set_read_timeout(Some(Duration::from_millis(50)));
    let mut have = 0;
    while Instant::now() < deadline {
        match client.peek(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                have = n;
                match record_len(&buf[..n]) {
                    Some(want) if n < want && n >= RECORD_HEADER => {}
                    None if n < RECORD_HEADER => {}
                    _ => break,
                }
            }
            Err(_) => {}
        }
        thread::sleep(Duration::from_millis(5));
    }
    buf.truncate(record_len(&buf[..have]).map_or(have, |want| want.min(have)));
    buf
}

/// Reads the server's first TLS record (or its first chunk, if not TLS).
fn read_first_record(upstream: &mut TcpStream) -> Vec<u8> {
    let _ = upstream.set_read_timeout(Some(HELLO_TIMEOUT));
    let mut head = [0u8; RECORD_HEADER];
    let mut got = 0;
    while got < RECORD_HEADER {
        match upstream.read(&mut head[got..]) {
            Ok(0) | Err(_) => return head[..got].to_vec(),
            Ok(n) => got += n,
        }
    }
    let Some(want) = record_len(&head) else {
        return head.to_vec();
    };
    let mut rec = vec![0u8; want];
    rec[..RECORD_HEADER].copy_from_slice(&head);
    if upstream.read_exact(&mut rec[RECORD_HEADER..]).is_err() {
        return head.to_vec();
    }
    rec
}

/// Relays the ClientHello and the ServerHello, then cuts (see the module docs).
fn cut_handshake(mut client: TcpStream, shared: &Arc<Shared>) {
    let hello = peek_first_record(&client);
    let upstream = TcpStream::connect(&shared.upstream);
    let mut server_hello = Vec::new();
    if let Ok(mut up) = upstream {
        let _ = up.set_nodelay(true);
        if !hello.is_empty() && up.write_all(&hello).is_ok() {
            server_hello = read_first_record(&mut up);
            if !server_hello.is_empty() {
                let _ = client.write_all(&server_hello);
                let _ = client.flush();
                thread::sleep(BEFORE_CUT);
            }
        }
        let _ = up.shutdown(Shutdown::Both);
    }
    // The ClientHello is still unread: closing now resets the connection.
    // (Counted first: the client may look as soon as it sees the reset.)
    let reset = !hello.is_empty();
    if reset {
        shared.resets.fetch_add(1, Ordering::SeqCst);
    }
    shared.cuts_done.fetch_add(1, Ordering::SeqCst);
    drop(client);
    log::info!(
        "relay: cut a connection mid-handshake (client hello {} bytes, server hello {} bytes relayed, {})",
        hello.len(),
        server_hello.len(),
        if reset { "reset" } else { "closed" }
    );
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread;
    use std::time::Duration;

    use super::{record_len, Relay};

    #[test]
    fn record_lengths() {
        assert_eq!(record_len(&[22, 3, 1, 0, 10, 0]), Some(15));
        assert_eq!(record_len(&[22, 3, 3, 1, 0]), Some(261));
        assert_eq!(record_len(&[23, 3, 3, 1, 0]), None);
        assert_eq!(record_len(&[22, 3]), None);
    }

    /// A server that answers every TLS-looking record with a 2-byte
    /// handshake record, and echoes anything else.
    fn server() -> (u16, thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let h = thread::spawn(move || {
            for s in l.incoming().take(2) {
                let Ok(mut s) = s else { continue };
                thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let answer: &[u8] = if buf[0] == 22 {
                            &[22, 3, 3, 0, 2, 1, 2]
                        } else {
                            &buf[..n]
                        };
                        if s.write_all(answer).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (port, h)
    }

    #[test]
    fn cuts_after_the_first_server_record_with_a_reset() {
        let (port, _server) = server();
        let relay = Relay::start(&format!("127.0.0.1:{port}")).expect("relay");
        relay.cut_handshakes(1);
        let mut c = TcpStream::connect(("127.0.0.1", relay.port())).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        c.write_all(&[22, 3, 1, 0, 3, 7, 8, 9]).expect("hello");
        let mut rec = [0u8; 7];
        c.read_exact(&mut rec).expect("the server's first record");
        assert_eq!(rec, [22, 3, 3, 0, 2, 1, 2]);
        let mut more = [0u8; 16];
        let err = c.read(&mut more).expect_err("the connection is reset");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        assert_eq!(
            (relay.cuts_done(), relay.resets_done(), relay.cuts_pending()),
            (1, 1, 0)
        );

        // The next connection is relayed, until dropped.
        let mut c = TcpStream::connect(("127.0.0.1", relay.port())).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        c.write_all(b"ping").expect("write");
        let mut echo = [0u8; 4];
        c.read_exact(&mut echo).expect("echo");
        assert_eq!(&echo, b"ping");
        assert_eq!(relay.drop_connections(), 1);
        assert_eq!(c.read(&mut more).expect("closed"), 0);
        assert_eq!(
            (relay.accepted(), relay.dropped(), relay.cuts_done()),
            (2, 1, 1)
        );
    }
}
