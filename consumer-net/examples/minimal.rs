//! The smallest useful consumer: assign a partition, start at its beginning, poll until
//! nothing arrives for five seconds. (The README shows this code.)
//!
//! ```text
//! cargo run -p consumer-net --example minimal -- localhost:9092 demo
//! ```

use std::time::Duration;

use consumer_net::{KafkaConsumer, KafkaError, TopicPartition};

fn main() -> Result<(), KafkaError> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "localhost:9092".to_owned());
    let topic = args.next().unwrap_or_else(|| "demo".to_owned());

    let mut consumer = KafkaConsumer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "minimal-example"),
    ])?;
    let partition = TopicPartition::new(topic, 0);
    consumer.assign([&partition])?;
    consumer.seek_to_beginning([&partition])?;

    loop {
        let records = consumer.poll(Duration::from_secs(5))?;
        if records.is_empty() {
            break;
        }
        for r in records {
            let value = r.value.as_deref().map(String::from_utf8_lossy);
            println!("{}@{}: {:?}", r.topic_partition(), r.offset, value);
        }
    }
    consumer.close()
}
