//! `WakeupHandle::wake` from another thread interrupts a blocked `KafkaConsumer::poll`.

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use consumer_net::{KafkaConsumer, KafkaError, TopicPartition};

#[test]
fn wake_interrupts_a_blocked_poll() {
    // A "broker" that accepts connections and never answers: poll can only block.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let _acceptor = thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(8) {
            match s {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
        thread::sleep(Duration::from_secs(30));
        drop(held);
    });

    let mut consumer =
        KafkaConsumer::from_properties([("bootstrap.servers", addr.as_str())]).expect("consumer");
    consumer
        .assign([TopicPartition::new("t", 0)])
        .expect("assign");
    let waker = consumer.wakeup_handle();
    let waking = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        waker.wake();
    });

    let started = Instant::now();
    let result = consumer.poll(Duration::from_secs(20));
    let took = started.elapsed();
    waking.join().expect("waker thread");
    assert!(
        matches!(result, Err(KafkaError::Wakeup)),
        "expected Wakeup, got {result:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "poll returned after {took:?}"
    );

    // The wake is consumed: the next poll times out normally with nothing.
    let again = consumer.poll(Duration::from_millis(200)).expect("poll");
    assert!(again.is_empty());
}

#[test]
fn calls_after_close_are_refused() {
    let mut consumer =
        KafkaConsumer::from_properties([("bootstrap.servers", "127.0.0.1:9")]).expect("consumer");
    consumer.close().expect("close");
    let err = consumer.poll(Duration::from_millis(10)).unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert!(consumer.assign([TopicPartition::new("t", 0)]).is_err());
}

#[test]
fn the_consumer_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<KafkaConsumer>();
}
