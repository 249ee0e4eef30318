//! A TCP proxy in front of one broker that can cut a connection in the
//! middle of a response frame.
//!
//! Brokers advertise their own addresses in Metadata and FindCoordinator
//! answers, so the proxy rewrites every broker address in those answers to
//! its own: with a 1-broker cluster, every connection of the client goes
//! through the proxy.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use bytes::Bytes;
use consumer_core::codec::messages::{FindCoordinatorRequest, MetadataRequest};
use consumer_core::codec::{decode_response_frame, encode_response_frame};

use crate::error::{HarnessError, Result};

/// Which responses to cut, and where.
#[derive(Default)]
struct Cut {
    api_key: i16,
    after: usize,
    left: usize,
}

struct Shared {
    upstream: String,
    port: u16,
    stop: AtomicBool,
    cut: Mutex<Cut>,
    cuts_done: AtomicUsize,
}

/// A proxy to one broker (see the module docs); stops when dropped.
pub struct CutProxy {
    addr: String,
    shared: Arc<Shared>,
}

impl CutProxy {
    /// Listens on a free local port and forwards to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Result<CutProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| HarnessError::io("binding the proxy", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| HarnessError::io("the proxy's address", e))?
            .port();
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            port,
            stop: AtomicBool::new(false),
            cut: Mutex::new(Cut::default()),
            cuts_done: AtomicUsize::new(0),
        });
        let s = shared.clone();
        thread::Builder::new()
            .name("cut-proxy".into())
            .spawn(move || accept_loop(&listener, &s))
            .map_err(|e| HarnessError::io("spawning the proxy", e))?;
        Ok(CutProxy {
            addr: format!("127.0.0.1:{port}"),
            shared,
        })
    }

    /// The proxy's address, for `bootstrap.servers`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// Forwards only the first `after` bytes (size prefix included) of each
    /// of the next `times` responses to `api_key`, then closes both sides.
    pub fn cut_responses(&self, api_key: i16, after: usize, times: usize) {
        let mut c = self.shared.cut.lock().unwrap_or_else(|e| e.into_inner());
        *c = Cut {
            api_key,
            after,
            left: times,
        };
    }

    /// How many responses were cut so far.
    pub fn cuts_done(&self) -> usize {
        self.shared.cuts_done.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop up.
        let _ = TcpStream::connect(&self.addr);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(upstream) = TcpStream::connect(&shared.upstream) else {
            continue;
        };
        let pending: Arc<Mutex<VecDeque<(i16, i16)>>> = Arc::default();
        let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
            continue;
        };
        let p2 = pending.clone();
        let _ = thread::Builder::new()
            .name("cut-proxy-requests".into())
            .spawn(move || requests(client, upstream, &p2));
        let s = shared.clone();
        let _ = thread::Builder::new()
            .name("cut-proxy-responses".into())
            .spawn(move || responses(u2, c2, &pending, &s));
    }
}

/// Reads one size-prefixed frame (the body, without the prefix).
fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let n = usize::try_from(i32::from_be_bytes(size)).ok()?;
    let mut body = vec![0u8; n];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

/// Client to broker: remembers each request's API key and version (answers
/// come back in order on a connection).
fn requests(mut client: TcpStream, mut upstream: TcpStream, pending: &Mutex<VecDeque<(i16, i16)>>) {
    while let Some(body) = read_frame(&mut client) {
        let (Some(k), Some(v)) = (body.get(0..2), body.get(2..4)) else {
            break;
        };
        let key = i16::from_be_bytes([k[0], k[1]]);
        let version = i16::from_be_bytes([v[0], v[1]]);
        pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((key, version));
        let len = (body.len() as u32).to_be_bytes();
        if upstream.write_all(&len).is_err() || upstream.write_all(&body).is_err() {
            break;
        }
    }
    close(&client, &upstream);
}

/// Broker to client: rewrites addresses, and cuts when told to.
fn responses(
    mut upstream: TcpStream,
    mut client: TcpStream,
    pending: &Mutex<VecDeque<(i16, i16)>>,
    shared: &Shared,
) {
    while let Some(body) = read_frame(&mut upstream) {
        let Some((key, version)) = pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
        else {
            break;
        };
        let frame = rewrite(key, version, body, shared.port);
        let cut_at = {
            let mut c = shared.cut.lock().unwrap_or_else(|e| e.into_inner());
            if c.left > 0 && c.api_key == key {
                c.left -= 1;
                Some(c.after.min(frame.len().saturating_sub(1)))
            } else {
                None
            }
        };
        if let Some(n) = cut_at {
            let _ = client.write_all(&frame[..n]);
            let _ = client.flush();
            shared.cuts_done.fetch_add(1, Ordering::SeqCst);
            log::info!(
                "proxy: cut a response to API {key} after {n} of {} bytes",
                frame.len()
            );
            break;
        }
        if client.write_all(&frame).is_err() {
            break;
        }
    }
    close(&client, &upstream);
}

/// The whole frame (size prefix included), with broker addresses in
/// Metadata and FindCoordinator answers pointing at the proxy.
fn rewrite(key: i16, version: i16, body: Vec<u8>, port: u16) -> Vec<u8> {
    let port = i32::from(port);
    let host = "127.0.0.1".to_string();
    let rewritten = match key {
        3 => decode_response_frame::<MetadataRequest>(Bytes::from(body.clone()), version)
            .ok()
            .and_then(|(corr, mut r)| {
                for b in &mut r.brokers {
                    b.host.clone_from(&host);
                    b.port = port;
                }
                encode_response_frame::<MetadataRequest>(corr, version, &r).ok()
            }),
        10 => decode_response_frame::<FindCoordinatorRequest>(Bytes::from(body.clone()), version)
            .ok()
            .and_then(|(corr, mut r)| {
                if r.error_code == 0 && !r.host.is_empty() {
                    r.host.clone_from(&host);
                    r.port = port;
                }
                for c in &mut r.coordinators {
                    c.host.clone_from(&host);
                    c.port = port;
                }
                encode_response_frame::<FindCoordinatorRequest>(corr, version, &r).ok()
            }),
        _ => None,
    };
    rewritten.map_or_else(
        || {
            let mut f = (body.len() as u32).to_be_bytes().to_vec();
            f.extend_from_slice(&body);
            f
        },
        |b| b.to_vec(),
    )
}
