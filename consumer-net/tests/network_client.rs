//! NetworkClient against tiny std TcpListener servers running in test threads.
//!
//! Timing-robust: tests loop until a condition holds (with a generous overall limit)
//! and only assert lower bounds that load cannot break.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use consumer_net::network::{Completion, NetConfig, NetError, NetworkClient};

const LIMIT: Duration = Duration::from_secs(60);
const NODE: i32 = 1;

/// A request or response frame as it crosses the client's API (without the size prefix,
/// which the client writes and reads): correlation id, payload.
fn frame(correlation_id: i32, payload: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(4 + payload.len());
    v.extend_from_slice(&correlation_id.to_be_bytes());
    v.extend_from_slice(payload);
    Bytes::from(v)
}

/// `frame` as a broker writes it: size prefix, then the frame.
fn wire(frame: &[u8]) -> Vec<u8> {
    let mut v = (frame.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(frame);
    v
}

/// Reads one frame body; `None` at a clean end of stream.
fn read_frame(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
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

fn write_frame(stream: &mut TcpStream, body: &[u8]) -> io::Result<()> {
    stream.write_all(&(body.len() as i32).to_be_bytes())?;
    stream.write_all(body)
}

/// Runs `handler` on a listener in a thread; returns its "host:port".
fn serve(handler: impl FnOnce(TcpListener) + Send + 'static) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (addr, thread::spawn(move || handler(listener)))
}

/// Answers every frame with itself until the client goes away.
fn echo(stream: &mut TcpStream) {
    while let Ok(Some(body)) = read_frame(stream) {
        if write_frame(stream, &body).is_err() {
            return;
        }
    }
}

fn echo_server() -> (String, JoinHandle<()>) {
    serve(|listener| {
        let (mut stream, _) = listener.accept().unwrap();
        echo(&mut stream);
    })
}

/// Reads requests and never answers, until the client closes.
fn silent(stream: &mut TcpStream) {
    while let Ok(Some(_)) = read_frame(stream) {}
}

/// A port nobody listens on.
fn refused_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn client_with(config: NetConfig) -> NetworkClient {
    NetworkClient::new(config).unwrap()
}

fn client() -> NetworkClient {
    client_with(NetConfig::default())
}

/// Polls, collecting completions, until `done` holds for what was collected so far.
fn poll_until(
    client: &mut NetworkClient,
    mut done: impl FnMut(&[Completion]) -> bool,
) -> Vec<Completion> {
    let start = Instant::now();
    let mut got = Vec::new();
    loop {
        client
            .poll(Some(Duration::from_millis(50)), Instant::now())
            .unwrap();
        while let Some(c) = client.poll_completion() {
            got.push(c);
        }
        if done(&got) {
            return got;
        }
        assert!(
            start.elapsed() < LIMIT,
            "condition not reached; completions so far: {got:?}"
        );
    }
}

fn until_count(n: usize) -> impl FnMut(&[Completion]) -> bool {
    move |got| got.len() >= n
}

/// The only completion, which must be a disconnect.
fn single_disconnect(got: Vec<Completion>) -> (Vec<i32>, NetError) {
    assert_eq!(got.len(), 1, "{got:?}");
    match got.into_iter().next() {
        Some(Completion::Disconnected {
            node,
            failed,
            reason,
        }) => {
            assert_eq!(node, NODE);
            (failed, reason)
        }
        other => panic!("expected a disconnect, got {other:?}"),
    }
}

fn response(c: &Completion) -> (i32, &Bytes) {
    match c {
        Completion::Response {
            node,
            correlation_id,
            frame,
        } => {
            assert_eq!(*node, NODE);
            (*correlation_id, frame)
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn request_response_round_trip() {
    let (addr, server) = echo_server();
    let mut client = client();
    client.send(NODE, &addr, 7, frame(7, b"hello"), Instant::now());
    assert!(client.has_unsent(NODE));
    assert_eq!(client.in_flight(NODE), 0);

    let got = poll_until(&mut client, until_count(1));
    let (correlation_id, body) = response(&got[0]);
    assert_eq!(correlation_id, 7);
    assert_eq!(&body[..], &frame(7, b"hello")[..]);
    assert!(client.is_connected(NODE));
    assert_eq!(client.in_flight(NODE), 0);
    assert!(!client.has_unsent(NODE));

    client.close();
    server.join().unwrap();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (addr, server) = echo_server();
    let mut client = client();
    let n = 2000;
    for id in 0..n {
        let payload = vec![id as u8; (id % 300) as usize];
        client.send(NODE, &addr, id, frame(id, &payload), Instant::now());
    }
    let got = poll_until(&mut client, until_count(n as usize));
    assert_eq!(got.len(), n as usize);
    for (id, c) in (0..n).zip(&got) {
        let (correlation_id, body) = response(c);
        assert_eq!(correlation_id, id);
        assert_eq!(&body[4..], &vec![id as u8; (id % 300) as usize][..]);
    }
    client.close();
    server.join().unwrap();
}

#[test]
fn responses_trickling_in_byte_by_byte_are_reassembled() {
    let (addr, server) = serve(|listener| {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        while let Ok(Some(body)) = read_frame(&mut stream) {
            let mut response = (body.len() as i32).to_be_bytes().to_vec();
            response.extend_from_slice(&body);
            for byte in response {
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let mut client = client();
    let payload: Vec<u8> = (0..60).collect();
    client.send(NODE, &addr, 1, frame(1, &payload), Instant::now());
    client.send(NODE, &addr, 2, frame(2, b"second"), Instant::now());
    let got = poll_until(&mut client, until_count(2));
    assert_eq!(response(&got[0]), (1, &frame(1, &payload)));
    assert_eq!(response(&got[1]), (2, &frame(2, b"second")));
    client.close();
    server.join().unwrap();
}

#[test]
fn multi_megabyte_frames_in_both_directions() {
    let (addr, server) = echo_server();
    let mut client = client();
    let big: Vec<u8> = (0..6 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    client.send(NODE, &addr, 1, frame(1, &big), Instant::now());
    client.send(NODE, &addr, 2, frame(2, b"small"), Instant::now());
    client.send(
        NODE,
        &addr,
        3,
        frame(3, &big[..3 * 1024 * 1024 + 17]),
        Instant::now(),
    );
    let got = poll_until(&mut client, until_count(3));
    let (id, body) = response(&got[0]);
    assert_eq!(id, 1);
    assert!(body[4..] == big[..], "large frame corrupted");
    assert_eq!(response(&got[1]).0, 2);
    let (id, body) = response(&got[2]);
    assert_eq!(id, 3);
    assert!(body[4..] == big[..3 * 1024 * 1024 + 17]);
    client.close();
    server.join().unwrap();
}

#[test]
fn peer_close_fails_pending_requests_and_next_send_reconnects() {
    let (addr, server) = serve(|listener| {
        let (mut first, _) = listener.accept().unwrap();
        // Take one request, then hang up without answering.
        read_frame(&mut first).unwrap();
        drop(first);
        let (mut second, _) = listener.accept().unwrap();
        echo(&mut second);
    });
    let mut client = client();
    for id in 1..=3 {
        client.send(NODE, &addr, id, frame(id, b"x"), Instant::now());
    }
    let (failed, reason) = single_disconnect(poll_until(&mut client, until_count(1)));
    assert_eq!(failed, vec![1, 2, 3]);
    // Unread requests in the server's buffer turn its close into a reset.
    assert!(
        matches!(reason, NetError::PeerClosed | NetError::Io(_)),
        "{reason:?}"
    );
    assert!(!client.is_connected(NODE));
    assert_eq!(client.in_flight(NODE), 0);

    client.send(NODE, &addr, 4, frame(4, b"again"), Instant::now());
    let got = poll_until(&mut client, until_count(1));
    assert_eq!(response(&got[0]).0, 4);
    client.close();
    server.join().unwrap();
}

#[test]
fn refused_connection_fails_requests_and_backs_off() {
    let addr = refused_address();
    let mut client = client_with(NetConfig {
        reconnect_backoff: Duration::from_secs(20),
        reconnect_backoff_max: Duration::from_secs(20),
        ..NetConfig::default()
    });
    client.send(NODE, &addr, 1, frame(1, b"x"), Instant::now());
    let (failed, reason) = single_disconnect(poll_until(&mut client, until_count(1)));
    assert_eq!(failed, vec![1]);
    assert!(
        matches!(reason, NetError::ConnectFailed { .. }),
        "{reason:?}"
    );
    let delay = client.connection_delay(NODE, Instant::now());
    assert!(
        delay > Duration::from_secs(10) && delay <= Duration::from_secs(24),
        "{delay:?}"
    );

    // During the backoff a send only queues; poll wakes for the end of the backoff.
    let now = Instant::now();
    client.send(NODE, &addr, 2, frame(2, b"y"), now);
    assert!(client.has_unsent(NODE));
    assert!(!client.is_connecting(NODE));
    let next = client.next_timeout().unwrap();
    assert!(next > now + Duration::from_secs(10) && next <= now + Duration::from_secs(24));
    for _ in 0..3 {
        client
            .poll(Some(Duration::from_millis(20)), Instant::now())
            .unwrap();
        assert!(client.poll_completion().is_none());
    }
    assert!(client.has_unsent(NODE) && !client.is_connecting(NODE));
}

#[test]
fn connection_is_retried_when_the_backoff_expires_and_backoff_grows() {
    let addr = refused_address();
    let mut client = client_with(NetConfig {
        reconnect_backoff: Duration::from_millis(200),
        reconnect_backoff_max: Duration::from_secs(10),
        ..NetConfig::default()
    });
    client.send(NODE, &addr, 1, frame(1, b"x"), Instant::now());
    single_disconnect(poll_until(&mut client, until_count(1)));

    client.send(NODE, &addr, 2, frame(2, b"y"), Instant::now());
    let first_ready = client.next_timeout().unwrap();
    let (failed, _) = single_disconnect(poll_until(&mut client, until_count(1)));
    assert_eq!(failed, vec![2]);
    assert!(
        Instant::now() >= first_ready,
        "reconnected before the backoff ended"
    );

    client.send(NODE, &addr, 3, frame(3, b"z"), Instant::now());
    let second_ready = client.next_timeout().unwrap();
    // Second backoff is 400 ms ± 20 %, counted from a failure after first_ready.
    assert!(second_ready >= first_ready + Duration::from_millis(320));
}

#[test]
fn request_timeout_closes_the_connection() {
    let (addr, server) = serve(|listener| {
        let (mut stream, _) = listener.accept().unwrap();
        silent(&mut stream);
    });
    let mut client = client();
    let now = Instant::now();
    client.send_with_timeout(
        NODE,
        &addr,
        1,
        frame(1, b"slow"),
        Duration::from_secs(600),
        now,
    );
    client.send_with_timeout(
        NODE,
        &addr,
        2,
        frame(2, b"x"),
        Duration::from_millis(300),
        now,
    );
    assert_eq!(
        client.next_timeout(),
        Some(now + Duration::from_millis(300))
    );
    let (failed, reason) = single_disconnect(poll_until(&mut client, until_count(1)));
    assert!(Instant::now() >= now + Duration::from_millis(300));
    assert_eq!(failed, vec![1, 2]);
    assert!(
        matches!(reason, NetError::RequestTimeout { correlation_id: 2 }),
        "{reason:?}"
    );
    assert!(!client.is_connected(NODE));
    server.join().unwrap();
}

/// Answers the first request with raw `bytes`, then waits for the client to hang up.
fn answer_with(bytes: Vec<u8>) -> (String, JoinHandle<()>) {
    serve(move |listener| {
        let (mut stream, _) = listener.accept().unwrap();
        if read_frame(&mut stream).is_ok() {
            let _ = stream.write_all(&bytes);
        }
        silent(&mut stream);
    })
}

fn protocol_error_for(bytes: Vec<u8>, config: NetConfig) -> NetError {
    let (addr, server) = answer_with(bytes);
    let mut client = client_with(config);
    client.send(NODE, &addr, 5, frame(5, b"x"), Instant::now());
    let (failed, reason) = single_disconnect(poll_until(&mut client, until_count(1)));
    assert_eq!(failed, vec![5]);
    assert!(!client.is_connected(NODE));
    server.join().unwrap();
    reason
}

#[test]
fn oversized_response_is_rejected() {
    let mut bytes = 1_000_000i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&5i32.to_be_bytes());
    let config = NetConfig {
        max_response_size: 1024,
        ..NetConfig::default()
    };
    let reason = protocol_error_for(bytes, config);
    assert!(
        matches!(
            reason,
            NetError::FrameTooLarge {
                size: 1_000_000,
                max: 1024
            }
        ),
        "{reason:?}"
    );
}

#[test]
fn negative_frame_size_is_rejected() {
    let reason = protocol_error_for((-5i32).to_be_bytes().to_vec(), NetConfig::default());
    assert!(matches!(reason, NetError::NegativeFrameSize), "{reason:?}");
}

#[test]
fn response_without_correlation_id_is_rejected() {
    let reason = protocol_error_for(vec![0, 0, 0, 2, 0, 5], NetConfig::default());
    assert!(
        matches!(reason, NetError::FrameTooShort { size: 2 }),
        "{reason:?}"
    );
}

#[test]
fn wrong_correlation_id_is_a_protocol_error() {
    let reason = protocol_error_for(wire(&frame(6, b"")), NetConfig::default());
    assert!(
        matches!(
            reason,
            NetError::UnexpectedCorrelationId {
                expected: 5,
                got: 6
            }
        ),
        "{reason:?}"
    );
}

#[test]
fn caller_disconnect_fails_pending_requests() {
    let (addr, server) = serve(|listener| {
        let (mut stream, _) = listener.accept().unwrap();
        silent(&mut stream);
    });
    let mut client = client();
    let node = -1; // bootstrap ids are negative
    client.send(node, &addr, 1, frame(1, b"a"), Instant::now());
    client.send(node, &addr, 2, frame(2, b"b"), Instant::now());
    let start = Instant::now();
    while client.in_flight(node) < 2 {
        client
            .poll(Some(Duration::from_millis(50)), Instant::now())
            .unwrap();
        assert!(start.elapsed() < LIMIT);
    }
    client.disconnect(node, Instant::now());
    match client.poll_completion() {
        Some(Completion::Disconnected {
            node: n,
            failed,
            reason,
        }) => {
            assert_eq!((n, failed), (node, vec![1, 2]));
            assert!(matches!(reason, NetError::Closed));
        }
        other => panic!("{other:?}"),
    }
    assert!(!client.is_connected(node) && !client.has_pending(node));
    assert!(client.connection_delay(node, Instant::now()) > Duration::ZERO);
    server.join().unwrap();
}

#[test]
fn close_fails_everything() {
    let addr = refused_address();
    let (live, server) = echo_server();
    let mut client = client_with(NetConfig {
        reconnect_backoff: Duration::from_secs(20),
        ..NetConfig::default()
    });
    client.send(NODE, &addr, 1, frame(1, b"x"), Instant::now());
    single_disconnect(poll_until(&mut client, until_count(1)));
    client.send(
        NODE,
        &addr,
        2,
        frame(2, b"queued in backoff"),
        Instant::now(),
    );
    client.send(2, &live, 3, frame(3, b"y"), Instant::now());
    client.close();
    let mut got: Vec<_> = std::iter::from_fn(|| client.poll_completion())
        .map(|c| match c {
            Completion::Disconnected {
                node,
                failed,
                reason: NetError::Closed,
            } => (node, failed),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![(NODE, vec![2]), (2, vec![3])]);
    assert_eq!(client.next_timeout(), None);
    server.join().unwrap();
}

#[test]
fn unresolvable_address_fails_requests() {
    let mut client = client();
    client.send(NODE, "no-port-here", 1, frame(1, b"x"), Instant::now());
    let (failed, reason) = single_disconnect(poll_until(&mut client, until_count(1)));
    assert_eq!(failed, vec![1]);
    assert!(matches!(reason, NetError::Resolve { .. }), "{reason:?}");
}

/// Fails the test run if it hangs in a blocking poll.
fn watchdog(done: Arc<AtomicBool>) {
    thread::spawn(move || {
        let start = Instant::now();
        while !done.load(Ordering::SeqCst) {
            if start.elapsed() > LIMIT {
                eprintln!("poll(None) was not woken");
                std::process::exit(1);
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
}

#[test]
fn wake_interrupts_a_blocking_poll_from_another_thread() {
    let mut client = client();
    let done = Arc::new(AtomicBool::new(false));
    watchdog(done.clone());
    let waker = client.waker();
    let wake_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        waker.wake();
    });
    // Spurious returns are allowed; loop until the wake is seen.
    while !client.was_woken() {
        client.poll(None, Instant::now()).unwrap();
    }
    done.store(true, Ordering::SeqCst);
    wake_thread.join().unwrap();
}

#[test]
fn a_wake_is_reported_once_even_if_it_precedes_poll() {
    let mut client = client();
    let done = Arc::new(AtomicBool::new(false));
    watchdog(done.clone());
    client.waker().wake();
    client.poll(None, Instant::now()).unwrap();
    done.store(true, Ordering::SeqCst);
    assert!(client.was_woken());
    client
        .poll(Some(Duration::from_millis(10)), Instant::now())
        .unwrap();
    assert!(!client.was_woken());
}

#[test]
fn connection_setup_timeout_fails_requests() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // A zero setup timeout expires in the first poll, before any connect event is seen.
    let mut client = client_with(NetConfig {
        connection_setup_timeout: Duration::ZERO,
        ..NetConfig::default()
    });
    client.send(NODE, &addr, 1, frame(1, b"x"), Instant::now());
    assert!(client.is_connecting(NODE));
    let (failed, reason) = single_disconnect(poll_until(&mut client, until_count(1)));
    assert_eq!(failed, vec![1]);
    assert!(matches!(reason, NetError::ConnectTimeout), "{reason:?}");
    assert!(client.connection_delay(NODE, Instant::now()) > Duration::ZERO);
}

#[test]
fn host_names_are_resolved() {
    let (addr, server) = echo_server();
    let port = addr.rsplit(':').next().unwrap();
    let mut client = client();
    client.send(
        NODE,
        &format!("localhost:{port}"),
        1,
        frame(1, b"hi"),
        Instant::now(),
    );
    let got = poll_until(&mut client, until_count(1));
    assert_eq!(response(&got[0]).0, 1);
    client.close();
    server.join().unwrap();
}

#[test]
fn handles_can_cross_threads() {
    fn assert_send<T: Send>() {}
    fn assert_shared<T: Send + Sync + Clone>() {}
    assert_send::<NetworkClient>();
    assert_shared::<consumer_net::network::WakeupHandle>();
    assert_send::<Completion>();
}
