//! The console consumer's `--consumer-property` refusals: a setting that has no meaning
//! here stops it before any connection, with the sentence that says why. No broker: the
//! bootstrap address is never dialled.

use integration_tests::run_console_consumer;

/// Runs the console consumer with `properties` as `--consumer-property` flags; the run
/// must fail; returns its stderr.
fn refused(properties: &[&str]) -> String {
    let mut args = vec!["--bootstrap-server", "127.0.0.1:1", "--topic", "t"];
    for p in properties {
        args.extend(["--consumer-property", p]);
    }
    let run = run_console_consumer(&args).expect("running the console consumer");
    assert!(
        !run.success,
        "{properties:?} were accepted; stderr:\n{}",
        run.stderr
    );
    run.stderr
}

#[test]
fn a_deserializer_class_is_refused_with_the_reason() {
    // librdkafka's fetch.wait.max.ms, given first, is accepted: the refusal is the next one.
    let stderr = refused(&[
        "fetch.wait.max.ms=100",
        "key.deserializer=org.apache.kafka.common.serialization.StringDeserializer",
    ]);
    assert!(
        stderr.contains(
            "`key.deserializer` is not used here: records are bytes (keys and values are \
             `Bytes`); deserialize them in your code"
        ),
        "{stderr}"
    );
}

#[test]
fn a_typo_gets_the_closest_name() {
    let stderr = refused(&["fetch.wait.max.m=100"]);
    assert!(
        stderr.contains(
            "unknown consumer property `fetch.wait.max.m`; did you mean `fetch.wait.max.ms`?"
        ),
        "{stderr}"
    );
}
