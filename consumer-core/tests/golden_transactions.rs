//! Golden tests of transactional data as real brokers store it: the Fetch responses in
//! tests/fixtures-transactions (see its README.md) hold three transactions written by
//! confluent-kafka's transactional producer (librdkafka 2.16) to Tansu 0.6.0 and to the
//! librdkafka 2.16 mock cluster: commit [c1 c2 c3], abort [a1 a2], commit [c4 c5], so
//! the log is data 0–2, COMMIT 3, data 4–5, ABORT 6, data 7–8, COMMIT 9.
//!
//! Checked: the transactional bit and one producer id/epoch on every batch, control
//! batches holding COMMIT / ABORT markers at 3, 6 and 9, and that the read_committed
//! filter, given the aborted transaction list a Kafka broker would send for this log
//! (producer id, first offset 4), drops exactly a1 and a2. Neither broker sends that
//! list itself (both answer an empty one at isolation level 1), which is also checked.
//!
//! The 2.16 mock writes its transaction markers with CRC 0: with `check.crcs` on (the
//! default, as in Java) the marker batches are refused as corrupt; with it off (as
//! librdkafka's default) they decode. The consumer keeps Java's default.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use consumer_core::codec::decode_response_frame;
use consumer_core::codec::messages::fetch::AbortedTransaction;
use consumer_core::codec::messages::{FetchRequest, FetchResponse};
use consumer_core::record::{
    AbortedTransactions, ControlRecordType, DecodeOptions, RecordBatch, RecordBatches,
    RecordErrorKind, RecordSource,
};

/// Where each transaction's marker sits, and its kind.
const MARKERS: [(i64, ControlRecordType); 3] = [
    (3, ControlRecordType::Commit),
    (6, ControlRecordType::Abort),
    (9, ControlRecordType::Commit),
];

fn dir(broker: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures-transactions")
        .join(broker)
}

/// The captured Fetch v4 responses at `isolation`, in order.
fn responses(broker: &str, isolation: u8) -> Vec<FetchResponse> {
    let prefix = format!("fetch-v4-iso{isolation}-");
    let mut files: Vec<PathBuf> = fs::read_dir(dir(broker))
        .expect("fixture directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{broker}: no {prefix}* fixture");
    files
        .iter()
        .map(|f| {
            let frame = Bytes::from(fs::read(f).expect("readable"));
            decode_response_frame::<FetchRequest>(frame, 4)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
                .1
        })
        .collect()
}

/// The records bytes of each response (one partition each).
fn records(resps: &[FetchResponse]) -> Vec<Bytes> {
    resps
        .iter()
        .map(|r| {
            let [t] = &r.responses[..] else {
                panic!("one topic per response")
            };
            let [p] = &t.partitions[..] else {
                panic!("one partition per response")
            };
            assert_eq!(p.error_code, 0);
            p.records.clone().expect("records")
        })
        .collect()
}

/// Every batch of the captured read_uncommitted answers, decoded with `options`.
fn batches(broker: &str, options: &DecodeOptions) -> Vec<Result<RecordBatch, RecordErrorKind>> {
    records(&responses(broker, 0))
        .into_iter()
        .flat_map(|bytes| {
            let mut it = RecordBatches::new(RecordSource::new("txn", 0), bytes, options);
            let out: Vec<_> = it.by_ref().map(|b| b.map_err(|e| e.kind)).collect();
            assert_eq!(it.truncated_tail(), None);
            out
        })
        .collect()
}

fn unchecked(broker: &str) -> Vec<RecordBatch> {
    let options = DecodeOptions {
        verify_crc: false,
        ..DecodeOptions::default()
    };
    batches(broker, &options)
        .into_iter()
        .map(|b| b.expect("decodes without CRC checks"))
        .collect()
}

/// (offset, value) of every data record of `batches`.
fn data(batches: &[&RecordBatch]) -> Vec<(i64, String)> {
    batches
        .iter()
        .filter(|b| !b.is_control())
        .flat_map(|b| b.records().expect("records"))
        .map(|r| {
            let r = r.expect("record");
            let v = r.value.expect("value");
            (r.offset, String::from_utf8_lossy(&v).into_owned())
        })
        .collect()
}

fn check_log(broker: &str) {
    let batches = unchecked(broker);
    let producer = batches[0].producer_id();
    let epoch = batches[0].producer_epoch();
    assert!(producer >= 0 && epoch >= 0, "{broker}: {producer}/{epoch}");
    for b in &batches {
        assert!(b.is_transactional(), "{broker}: batch {}", b.base_offset());
        assert_eq!(b.magic(), 2);
        assert_eq!(
            (b.producer_id(), b.producer_epoch()),
            (producer, epoch),
            "{broker}: batch {}",
            b.base_offset()
        );
    }
    let markers: Vec<(i64, ControlRecordType)> = batches
        .iter()
        .filter(|b| b.is_control())
        .map(|b| {
            assert_eq!(b.record_count(), 1);
            let c = b.control_record().expect("marker").expect("a marker");
            assert_eq!(c.version, 0);
            (b.base_offset(), c.kind)
        })
        .collect();
    assert_eq!(markers, MARKERS, "{broker}");
    let all: Vec<&RecordBatch> = batches.iter().collect();
    assert_eq!(
        data(&all),
        [
            (0, "c1"),
            (1, "c2"),
            (2, "c3"),
            (4, "a1"),
            (5, "a2"),
            (7, "c4"),
            (8, "c5")
        ]
        .map(|(o, v)| (o, v.to_owned())),
        "{broker}: read_uncommitted sees every data record"
    );

    // The list Kafka would send for this log: the aborted transaction of `producer`
    // starting at 4 (its first record). The filter drops exactly its records.
    let list = [AbortedTransaction {
        producer_id: producer,
        first_offset: 4,
    }];
    let mut filter = AbortedTransactions::new(&list);
    let kept: Vec<&RecordBatch> = batches
        .iter()
        .filter(|b| !filter.skips(b).expect("markers readable"))
        .collect();
    assert!(!filter.is_aborted(producer), "the ABORT marker ended it");
    assert_eq!(
        data(&kept),
        [(0, "c1"), (1, "c2"), (2, "c3"), (7, "c4"), (8, "c5")].map(|(o, v)| (o, v.to_owned())),
        "{broker}: read_committed"
    );
}

/// What the broker answers at isolation level 1: the same data, the LSO at the high
/// watermark (no open transaction) and an empty aborted transaction list.
fn check_read_committed_answers(broker: &str) {
    let resps = responses(broker, 1);
    for r in &resps {
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.high_watermark, 10, "{broker}");
        assert_eq!(p.last_stable_offset, 10, "{broker}");
        assert_eq!(
            p.aborted_transactions,
            Some(Vec::new()),
            "{broker}: no aborted transaction listed"
        );
    }
    assert_eq!(
        records(&resps).concat(),
        records(&responses(broker, 0)).concat(),
        "{broker}: the same batches at both levels"
    );
}

#[test]
fn tansu_transactional_batches_and_markers() {
    check_log("tansu");
}

#[test]
fn mock_2_16_transactional_batches_and_markers() {
    check_log("mock-2.16");
}

#[test]
fn tansu_read_committed_answers() {
    check_read_committed_answers("tansu");
}

#[test]
fn mock_2_16_read_committed_answers() {
    check_read_committed_answers("mock-2.16");
}

#[test]
fn tansu_batches_pass_the_crc_check() {
    for b in batches("tansu", &DecodeOptions::default()) {
        b.expect("valid CRC");
    }
}

#[test]
fn mock_2_16_markers_have_crc_0_and_fail_the_crc_check() {
    // With check.crcs (the default) every data batch passes and every marker is
    // refused: its stored CRC is 0.
    let checked = batches("mock-2.16", &DecodeOptions::default());
    let unchecked = unchecked("mock-2.16");
    assert_eq!(checked.len(), unchecked.len());
    for (c, u) in checked.iter().zip(&unchecked) {
        if u.is_control() {
            assert_eq!(u.header().crc, 0);
            assert!(
                matches!(c, Err(RecordErrorKind::CrcMismatch { stored: 0, .. })),
                "marker at {}: {c:?}",
                u.base_offset()
            );
        } else {
            assert!(c.is_ok(), "data batch at {}: {c:?}", u.base_offset());
        }
    }
}
