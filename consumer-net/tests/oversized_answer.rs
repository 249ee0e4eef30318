//! An answer larger than the consumer accepts is reported, not retried in silence: a
//! "broker" answers every request with a frame announcing 1 GiB. A first one may be a
//! glitch (the connection is made again); the second in a row is reported.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use consumer_net::{KafkaConsumer, KafkaError, NetError, TopicPartition};

#[test]
fn an_answer_larger_than_the_limits_is_reported_by_poll() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    // Left running: it ends with the test process.
    thread::spawn(move || {
        // Each connection: read a request's size and body, answer with a huge size.
        for stream in listener.incoming().take(3) {
            let Ok(mut s) = stream else { break };
            let mut size = [0u8; 4];
            if s.read_exact(&mut size).is_err() {
                continue;
            }
            let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
            if s.read_exact(&mut body).is_err() {
                continue;
            }
            let correlation = &body[4..8];
            let mut answer = (1u32 << 30).to_be_bytes().to_vec();
            answer.extend_from_slice(correlation);
            let _ = s.write_all(&answer);
            thread::sleep(Duration::from_millis(200));
        }
    });

    let mut consumer = KafkaConsumer::from_properties([
        ("bootstrap.servers", addr.as_str()),
        ("fetch.max.bytes", "1048576"),
    ])
    .expect("consumer");
    consumer
        .assign([TopicPartition::new("t", 0)])
        .expect("assign");
    let started = Instant::now();
    let err = loop {
        match consumer.poll(Duration::from_millis(500)) {
            Ok(records) => assert!(records.is_empty()),
            Err(e) => break e,
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no error after {:?}",
            started.elapsed()
        );
    };
    match &err {
        KafkaError::ResponseTooLarge {
            source: NetError::FrameTooLarge { size, max },
            ..
        } => {
            assert_eq!(*size, 1 << 30);
            // fetch.max.bytes + max.partition.fetch.bytes, at least 16 MiB, + 1 MiB.
            assert_eq!(*max, (16 << 20) + (1 << 20));
        }
        other => panic!("expected ResponseTooLarge, got {other:?}"),
    }
    assert!(err.to_string().contains("fetch.max.bytes"), "{err}");
}
