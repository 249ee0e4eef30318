//! Loopback port helpers.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Returns a currently free TCP port on 127.0.0.1.
///
/// The port is found by binding port 0 and releasing it, so another process
/// could in principle grab it before the caller binds it; within this process
/// the same port is never handed out twice, which keeps parallel test threads
/// apart. Callers that start servers should retry on a bind failure.
pub fn free_port() -> Result<u16> {
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| HarnessError::io("binding 127.0.0.1:0 to find a free port", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| HarnessError::io("reading the local address of a probe socket", e))?
            .port();
        drop(listener);
        let mut seen = handed_out().lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert(port) {
            return Ok(port);
        }
    }
    Err(HarnessError::InvalidInput(
        "could not find an unused loopback port in 100 attempts".into(),
    ))
}

/// Returns true if something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Waits until 127.0.0.1:`port` accepts connections, checking `alive`
/// between attempts so a crashed server fails fast.
///
/// Returns `Ok(true)` once the port accepts, `Ok(false)` if `alive` returned
/// false, and a [`HarnessError::Timeout`] after `timeout`.
pub(crate) fn wait_for_port(
    port: u16,
    timeout: Duration,
    what: &str,
    mut alive: impl FnMut() -> bool,
    output: impl Fn() -> String,
) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if port_accepts(port) {
            return Ok(true);
        }
        if !alive() {
            return Ok(false);
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: format!("{what} to accept connections on 127.0.0.1:{port}"),
                timeout,
                output: output(),
            });
        }
        thread::sleep(Duration::from_millis(25));
    }
}
