//! Golden tests of the record layer: every record batch in the captured Fetch responses
//! (tests/fixtures) is decoded with `RecordBatches` (CRC verified) and compared with
//! batches.tsv (codec, offsets, counts, sizes) and record by record with records.tsv,
//! for every codec as written by kcat/librdkafka (mock) and kafka-python (Tansu).

mod golden_support;

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use consumer_core::codec::messages::FetchRequest;
use consumer_core::codec::ApiKey;
use consumer_core::record::{
    Compression, DecodeOptions, RecordBatch, RecordBatches, RecordSource, TimestampType,
};
use golden_support::{parse_headers, scenarios, unescape, ProducedRecord, Scenario};

/// One partition's record bytes from a captured Fetch response.
struct Fetched {
    file: String,
    topic: String,
    partition: i32,
    records: Bytes,
}

/// Every non-empty `records` field of the scenario's Fetch responses, in wire order.
fn fetched_records(s: &Scenario) -> Vec<Fetched> {
    let mut out = Vec::new();
    for ex in s.of(ApiKey::Fetch) {
        if ex.response_file.is_none() {
            continue;
        }
        let resp = ex.decode_response::<FetchRequest>();
        for t in resp.responses {
            for p in t.partitions {
                if let Some(records) = p.records.filter(|r| !r.is_empty()) {
                    out.push(Fetched {
                        file: ex.response_name().to_owned(),
                        topic: t.topic.clone(),
                        partition: p.partition_index,
                        records,
                    });
                }
            }
        }
    }
    out
}

/// All batches of one partition's bytes; fails on any error or a truncated tail.
fn batches(f: &Fetched) -> Vec<RecordBatch> {
    let mut it = RecordBatches::new(
        RecordSource::new(f.topic.as_str(), f.partition),
        f.records.clone(),
        &DecodeOptions::default(),
    );
    let out: Vec<RecordBatch> = it
        .by_ref()
        .map(|b| b.unwrap_or_else(|e| panic!("{} {}/{}: {e}", f.file, f.topic, f.partition)))
        .collect();
    assert_eq!(
        it.truncated_tail(),
        None,
        "{}: no partial batch was captured",
        f.file
    );
    assert_eq!(it.position(), f.records.len());
    out
}

/// Compares one decoded batch's records with records.tsv.
fn check_records(s: &Scenario, f: &Fetched, batch: &RecordBatch, produced: &[ProducedRecord]) {
    let h = batch.header();
    let records: Vec<_> = batch
        .records()
        .unwrap_or_else(|e| panic!("{} {}: {e}", s.name, f.file))
        .map(|r| r.unwrap_or_else(|e| panic!("{} {}: {e}", s.name, f.file)))
        .collect();
    assert_eq!(records.len(), batch.record_count(), "{}/{}", s.name, f.file);
    for (i, rec) in records.iter().enumerate() {
        let what = format!(
            "{}/{} {}/{}@{}",
            s.name, f.file, f.topic, f.partition, rec.offset
        );
        assert_eq!(
            rec.offset,
            h.base_offset + i as i64,
            "{what}: offsets are dense"
        );
        let row = produced
            .iter()
            .find(|r| r.topic == f.topic && r.partition == f.partition && r.offset == rec.offset)
            .unwrap_or_else(|| panic!("{what}: not in records.tsv"));
        assert_eq!(rec.key.as_deref(), row.key.as_deref(), "{what}: key");
        assert_eq!(rec.value.as_deref(), row.value.as_deref(), "{what}: value");
        let headers: Vec<(Vec<u8>, Vec<u8>)> = rec
            .headers
            .iter()
            .map(|hd| {
                let value = hd.value.as_deref().expect("no null header values produced");
                (hd.key.as_bytes().to_vec(), value.to_vec())
            })
            .collect();
        assert_eq!(headers, row.headers, "{what}: headers");
        assert_eq!(rec.timestamp_type, TimestampType::CreateTime, "{what}");
        match row.timestamp_ms {
            Some(ts) => assert_eq!(rec.timestamp, ts, "{what}: timestamp"),
            // kcat stamps the wall clock: the record must sit in the batch's range.
            None => assert!(
                (h.base_timestamp..=h.max_timestamp).contains(&rec.timestamp)
                    && rec.timestamp > 1_700_000_000_000,
                "{what}: timestamp {} outside {}..={}",
                rec.timestamp,
                h.base_timestamp,
                h.max_timestamp
            ),
        }
    }
    let max = records
        .iter()
        .map(|r| r.timestamp)
        .max()
        .expect("non-empty batch");
    assert_eq!(h.max_timestamp, max, "{}/{}: max timestamp", s.name, f.file);
}

/// Every batch of every Fetch response, against batches.tsv and records.tsv.
#[test]
fn fetched_batches_and_records_match_what_was_produced() {
    // (codec on the wire, producer) pairs decoded, to prove every codec is covered.
    let mut codecs: BTreeSet<(&str, String)> = BTreeSet::new();
    let mut total_records = 0;
    for s in scenarios() {
        let produced = s.records();
        let rows: Vec<_> = s
            .batches()
            .into_iter()
            .filter(|b| b.file.contains("-Fetch-"))
            .collect();
        let mut rows_seen = 0;
        let mut fetched: BTreeSet<(String, i32, i64)> = BTreeSet::new();
        for f in fetched_records(&s) {
            let expect: Vec<_> = rows
                .iter()
                .filter(|b| b.file == f.file && b.topic == f.topic && b.partition == f.partition)
                .collect();
            let got = batches(&f);
            assert_eq!(
                got.len(),
                expect.len(),
                "{}/{} {}/{}",
                s.name,
                f.file,
                f.topic,
                f.partition
            );
            for (batch, row) in got.iter().zip(expect) {
                let what = format!("{}/{} {}/{}", s.name, f.file, f.topic, f.partition);
                let h = batch.header();
                assert_eq!(h.base_offset, row.base_offset, "{what}");
                assert_eq!(batch.record_count() as i32, row.record_count, "{what}");
                assert_eq!(h.last_offset_delta + 1, row.record_count, "{what}");
                assert_eq!(batch.compression().name(), row.codec, "{what}: codec");
                assert_eq!(batch.magic(), row.magic, "{what}");
                assert_eq!(h.size_in_bytes(), row.batch_bytes, "{what}");
                assert!(!batch.is_transactional() && !batch.is_control(), "{what}");
                check_records(&s, &f, batch, &produced);
                let producer = produced
                    .iter()
                    .find(|r| r.topic == f.topic && r.partition == f.partition)
                    .map(|r| r.producer.clone())
                    .expect("records.tsv has the partition");
                codecs.insert((batch.compression().name(), producer));
                for i in 0..batch.record_count() as i64 {
                    fetched.insert((f.topic.clone(), f.partition, h.base_offset + i));
                }
                total_records += batch.record_count();
                rows_seen += 1;
            }
        }
        assert_eq!(
            rows_seen,
            rows.len(),
            "{}: batches.tsv rows of Fetch responses",
            s.name
        );

        // The records read back are exactly those of the batches batches.tsv lists (the
        // capture keeps a selection of Fetch responses, so not always all of records.tsv).
        let expect: BTreeSet<(String, i32, i64)> = rows
            .iter()
            .flat_map(|b| {
                (0..i64::from(b.record_count))
                    .map(move |i| (b.topic.clone(), b.partition, b.base_offset + i))
            })
            .collect();
        assert_eq!(fetched, expect, "{}: records read back", s.name);
    }
    let mut expect_codecs = BTreeSet::new();
    for c in Compression::ALL {
        for p in ["kcat", "kafka-python"] {
            expect_codecs.insert((c.name(), p.to_owned()));
        }
    }
    assert_eq!(codecs, expect_codecs, "every codec from both producers");
    // The sum of record_count over the Fetch rows of all batches.tsv files.
    assert_eq!(total_records, 135);
}

/// The producers' codec settings reached the wire, except where the README says a
/// producer sent a batch uncompressed because compression did not pay.
#[test]
fn fetched_codecs_follow_the_producer_setting() {
    for s in scenarios().iter().filter(|s| s.name.contains("-codec-")) {
        let setting = s.name.rsplit('-').next().expect("codec suffix");
        let produced = s.records();
        assert!(produced.iter().all(|r| r.codec == setting), "{}", s.name);
        let mut wire: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
        for b in s.batches().iter().filter(|b| b.file.contains("-Fetch-")) {
            wire.entry(b.partition).or_default().insert(b.codec.clone());
        }
        // Partition 0 (kcat: 4 records with a long one; kafka-python: 4 small records)
        // is compressed with the setting in every scenario.
        let p0: BTreeSet<String> = [setting.to_owned()].into();
        assert_eq!(wire.get(&0), Some(&p0), "{}: partition 0", s.name);
        for codecs in wire.values() {
            assert!(
                codecs.iter().all(|c| c == setting || c == "none"),
                "{}: {codecs:?}",
                s.name
            );
        }
    }
}

/// The CRC is really checked: flipping one byte of any fetched batch's payload fails
/// with a CRC mismatch naming the partition and base offset.
#[test]
fn corrupted_fetched_batches_fail_the_crc_check() {
    let mut corrupted = 0;
    for s in scenarios() {
        for f in fetched_records(&s) {
            let good = batches(&f);
            let first = *good[0].header();
            let mut bytes = BytesMut::from(&f.records[..]);
            let last = first.size_in_bytes() - 1;
            bytes[last] ^= 0x01;
            let err = RecordBatches::new(
                RecordSource::new(f.topic.as_str(), f.partition),
                bytes.freeze(),
                &DecodeOptions::default(),
            )
            .next()
            .expect("one batch")
            .expect_err("corrupt batch must not decode");
            assert!(err.is_crc_mismatch(), "{}/{}: {err}", s.name, f.file);
            assert_eq!(err.base_offset, first.base_offset);
            assert_eq!(
                (&*err.topic, err.partition),
                (f.topic.as_str(), f.partition)
            );
            corrupted += 1;
        }
    }
    // One per fetch.tsv row with records.
    assert_eq!(corrupted, 44);
}

/// The records.tsv escaping of the fixture README, as the loader reads it.
#[test]
fn records_tsv_escapes_decode() {
    assert_eq!(unescape("\\N"), None);
    assert_eq!(unescape(""), Some(Vec::new()));
    assert_eq!(unescape("a\\\\b\\x2c\\xff"), Some(b"a\\b,\xff".to_vec()));
    assert_eq!(
        parse_headers("h1=a,bin=\\x00\\xff\\x01"),
        vec![
            (b"h1".to_vec(), b"a".to_vec()),
            (b"bin".to_vec(), vec![0, 0xff, 0x01])
        ]
    );
}
