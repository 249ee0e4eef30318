//! Loading of the golden fixtures (tests/fixtures, see its README.md) and the checks
//! every golden test shares: decode a captured frame, compare its header with index.tsv,
//! re-encode it and compare bytes.
#![allow(
    dead_code,
    reason = "each golden test crate includes this module and uses a subset of it"
)]

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use consumer_core::codec::{
    decode_request_frame, decode_response_frame, ApiKey, Decode, Encode, Reader, Request,
    RequestHeader, ResponseHeader,
};

/// API keys captured in the fixtures that a consumer never sends: the producer's and
/// the admin client's. They are skipped, and only these.
pub const NOT_OURS: &[(i16, &str)] =
    &[(0, "Produce"), (19, "CreateTopics"), (22, "InitProducerId")];

/// The fixture root directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every scenario directory name, sorted.
pub fn scenario_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root())
        .expect("tests/fixtures exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every scenario, loaded.
pub fn scenarios() -> Vec<Scenario> {
    scenario_names().iter().map(|n| Scenario::load(n)).collect()
}

/// One captured request and its response, as listed in index.tsv.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The scenario directory.
    pub dir: PathBuf,
    /// Position in wire order.
    pub seq: u32,
    /// The API key.
    pub api_key: i16,
    /// The API name.
    pub api_name: String,
    /// The API version of request and response.
    pub api_version: i16,
    /// The correlation id.
    pub correlation_id: i32,
    /// The client id of the request header.
    pub client_id: String,
    /// The request frame file.
    pub request_file: String,
    /// The response frame file, if a response was seen.
    pub response_file: Option<String>,
}

impl Exchange {
    /// The request frame (no size prefix).
    pub fn request(&self) -> Bytes {
        read(&self.dir.join(&self.request_file))
    }

    /// The response frame (no size prefix), if any.
    pub fn response(&self) -> Option<Bytes> {
        self.response_file.as_ref().map(|f| read(&self.dir.join(f)))
    }

    /// The scenario directory name.
    pub fn scenario(&self) -> String {
        scenario_of(&self.dir)
    }

    /// `scenario/file`, for assertion messages.
    pub fn name(&self) -> String {
        format!("{}/{}", scenario_of(&self.dir), self.request_file)
    }

    /// The response file name as used in batches.tsv / fetch.tsv.
    pub fn response_name(&self) -> &str {
        self.response_file.as_deref().unwrap_or("-")
    }

    /// True for APIs this crate speaks; panics for a key neither spoken nor in [`NOT_OURS`],
    /// so a new fixture API cannot be skipped silently.
    pub fn is_ours(&self) -> bool {
        if NOT_OURS.iter().any(|(k, _)| *k == self.api_key) {
            return false;
        }
        assert!(
            ApiKey::from_i16(self.api_key).is_some(),
            "{}: api key {} ({}) is neither spoken by consumer-core nor listed in NOT_OURS",
            self.name(),
            self.api_key,
            self.api_name
        );
        true
    }

    /// Decodes the request with `decode_request_frame`, checks its header against the
    /// index and that every byte was read, and returns the body.
    pub fn decode_request<R: Request + std::fmt::Debug>(&self) -> R {
        let frame = self.request();
        let (header, body) = decode_request_frame::<R>(frame.clone())
            .unwrap_or_else(|e| panic!("{}: decode request: {e}", self.name()));
        assert_eq!(
            header,
            RequestHeader {
                api_key: self.api_key,
                api_version: self.api_version,
                correlation_id: self.correlation_id,
                client_id: Some(self.client_id.clone()),
            },
            "{}",
            self.name()
        );
        assert_eq!(header.api_key, R::API_KEY as i16, "{}", self.name());
        // decode_request_frame does not say whether bytes were left over: read again.
        let mut r = Reader::new(frame);
        RequestHeader::decode(&mut r).expect("header decoded once already");
        R::decode(&mut r, self.api_version).expect("body decoded once already");
        assert!(
            r.is_empty(),
            "{}: {} request bytes not read",
            self.name(),
            r.remaining()
        );
        body
    }

    /// Decodes the response with `decode_response_frame`, checks the correlation id and
    /// that every byte was read, and returns the body.
    pub fn decode_response<R: Request>(&self) -> R::Response {
        let frame = self
            .response()
            .unwrap_or_else(|| panic!("{}: no response captured", self.name()));
        let (corr, body) = decode_response_frame::<R>(frame.clone(), self.api_version)
            .unwrap_or_else(|e| panic!("{}: decode response: {e}", self.name()));
        assert_eq!(corr, self.correlation_id, "{}: correlation id", self.name());
        // decode_response_frame ignores trailing bytes (newer brokers may append fields);
        // a captured frame of a version we know must be read to the end.
        let mut r = Reader::new(frame);
        ResponseHeader::decode(&mut r, R::API_KEY.response_header_version(self.api_version))
            .expect("header decoded once already");
        R::Response::decode(&mut r, self.api_version).expect("body decoded once already");
        assert!(
            r.is_empty(),
            "{}: {} response bytes not read",
            self.name(),
            r.remaining()
        );
        body
    }

    /// Re-encodes a decoded request (header and body) at the captured version.
    pub fn reencode_request<R: Request>(&self, body: &R) -> Bytes {
        let mut buf = BytesMut::new();
        RequestHeader {
            api_key: self.api_key,
            api_version: self.api_version,
            correlation_id: self.correlation_id,
            client_id: Some(self.client_id.clone()),
        }
        .encode(&mut buf)
        .unwrap_or_else(|e| panic!("{}: encode request header: {e}", self.name()));
        body.encode(&mut buf, self.api_version)
            .unwrap_or_else(|e| panic!("{}: encode request: {e}", self.name()));
        buf.freeze()
    }

    /// Re-encodes a decoded response (header and body) at the captured version.
    pub fn reencode_response<R: Request>(&self, body: &R::Response) -> Bytes {
        let mut buf = BytesMut::new();
        ResponseHeader {
            correlation_id: self.correlation_id,
        }
        .encode(
            &mut buf,
            R::API_KEY.response_header_version(self.api_version),
        );
        body.encode(&mut buf, self.api_version)
            .unwrap_or_else(|e| panic!("{}: encode response: {e}", self.name()));
        buf.freeze()
    }

    /// Asserts that the request re-encodes to exactly the captured bytes.
    pub fn assert_request_canonical<R: Request>(&self, body: &R) {
        assert_same_bytes(
            &self.reencode_request(body),
            &self.request(),
            &format!("{} re-encoded", self.name()),
        );
    }

    /// Asserts that the response re-encodes to exactly the captured bytes.
    pub fn assert_response_canonical<R: Request>(&self, body: &R::Response) {
        let frame = self.response().expect("response captured");
        assert_same_bytes(
            &self.reencode_response::<R>(body),
            &frame,
            &format!(
                "{}/{} re-encoded",
                scenario_of(&self.dir),
                self.response_name()
            ),
        );
    }
}

/// Compares two frames, naming the first differing byte.
pub fn assert_same_bytes(ours: &[u8], captured: &[u8], what: &str) {
    if ours == captured {
        return;
    }
    let at = ours
        .iter()
        .zip(captured)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(captured.len()));
    panic!(
        "{what}: differs from the capture at byte {at} (ours {} bytes, captured {}):\n ours     {:02x?}\n captured {:02x?}",
        ours.len(),
        captured.len(),
        &ours[at.saturating_sub(8)..(at + 24).min(ours.len())],
        &captured[at.saturating_sub(8)..(at + 24).min(captured.len())],
    );
}

/// One scenario directory.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Directory name, e.g. `mock-codec-gzip`.
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// index.tsv, in wire order.
    pub exchanges: Vec<Exchange>,
}

impl Scenario {
    /// Loads `tests/fixtures/<name>/index.tsv`.
    pub fn load(name: &str) -> Self {
        let dir = root().join(name);
        let exchanges = tsv(&dir.join("index.tsv"), 8)
            .into_iter()
            .map(|f| Exchange {
                dir: dir.clone(),
                seq: parse(&f[0]),
                api_key: parse(&f[1]),
                api_name: f[2].clone(),
                api_version: parse(&f[3]),
                correlation_id: parse(&f[4]),
                client_id: f[5].clone(),
                request_file: f[6].clone(),
                response_file: (f[7] != "-").then(|| f[7].clone()),
            })
            .collect();
        Self {
            name: name.to_owned(),
            dir,
            exchanges,
        }
    }

    /// The exchanges of one API (by key), in wire order.
    pub fn of(&self, api: ApiKey) -> Vec<&Exchange> {
        self.exchanges
            .iter()
            .filter(|e| e.api_key == api as i16)
            .collect()
    }

    /// The exchange with sequence number `seq`.
    pub fn seq(&self, seq: u32) -> &Exchange {
        self.exchanges
            .iter()
            .find(|e| e.seq == seq)
            .unwrap_or_else(|| panic!("{}: no exchange {seq}", self.name))
    }

    /// True for scenarios against the librdkafka mock cluster.
    pub fn is_mock(&self) -> bool {
        self.name.starts_with("mock-")
    }

    /// records.tsv (empty when the scenario produced nothing).
    pub fn records(&self) -> Vec<ProducedRecord> {
        let path = self.dir.join("records.tsv");
        if !path.exists() {
            return Vec::new();
        }
        tsv(&path, 9)
            .into_iter()
            .map(|f| ProducedRecord {
                topic: f[0].clone(),
                partition: parse(&f[1]),
                offset: parse(&f[2]),
                timestamp_ms: (f[3] != "-").then(|| parse(&f[3])),
                key: unescape(&f[4]),
                value: unescape(&f[5]),
                headers: parse_headers(&f[6]),
                codec: f[7].clone(),
                producer: f[8].clone(),
            })
            .collect()
    }

    /// batches.tsv.
    pub fn batches(&self) -> Vec<BatchRow> {
        tsv(&self.dir.join("batches.tsv"), 8)
            .into_iter()
            .map(|f| BatchRow {
                file: f[0].clone(),
                topic: f[1].clone(),
                partition: parse(&f[2]),
                base_offset: parse(&f[3]),
                record_count: parse(&f[4]),
                codec: f[5].clone(),
                magic: parse(&f[6]),
                batch_bytes: parse(&f[7]),
            })
            .collect()
    }

    /// fetch.tsv.
    pub fn fetch_rows(&self) -> Vec<FetchRow> {
        tsv(&self.dir.join("fetch.tsv"), 11)
            .into_iter()
            .map(|f| FetchRow {
                file: f[0].clone(),
                top_error_code: parse(&f[1]),
                topic: f[2].clone(),
                partition: parse(&f[3]),
                error_code: parse(&f[4]),
                high_watermark: parse(&f[5]),
                last_stable_offset: parse(&f[6]),
                log_start_offset: parse(&f[7]),
                preferred_read_replica: parse(&f[8]),
                batch_count: parse(&f[9]),
                records_bytes: parse(&f[10]),
            })
            .collect()
    }
}

/// One row of records.tsv: a record as the producer was told to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition (the topics started empty).
    pub offset: i64,
    /// The explicit CreateTime, or `None` when the producer stamped the wall clock.
    pub timestamp_ms: Option<i64>,
    /// Key bytes, `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Value bytes, `None` for a null value.
    pub value: Option<Vec<u8>>,
    /// Headers in record order (the fixtures have no null header values).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The producer's `compression.type`.
    pub codec: String,
    /// `kcat` or `kafka-python`.
    pub producer: String,
}

/// One row of batches.tsv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    /// The frame file holding the batch.
    pub file: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Base offset of the batch.
    pub base_offset: i64,
    /// Records in the batch.
    pub record_count: i32,
    /// The codec actually used on the wire (`none`, `gzip`, ...).
    pub codec: String,
    /// The magic byte.
    pub magic: i8,
    /// Batch size including the offset and length fields.
    pub batch_bytes: usize,
}

/// One row of fetch.tsv: one partition of a Fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRow {
    /// The response frame file.
    pub file: String,
    /// The response's top-level error code.
    pub top_error_code: i16,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The partition's error code.
    pub error_code: i16,
    /// High watermark.
    pub high_watermark: i64,
    /// Last stable offset.
    pub last_stable_offset: i64,
    /// Log start offset.
    pub log_start_offset: i64,
    /// Preferred read replica (-1 for none).
    pub preferred_read_replica: i32,
    /// Complete batches in the records field.
    pub batch_count: usize,
    /// Size of the records field.
    pub records_bytes: usize,
}

/// Decodes one escaped records.tsv field (README: `\N` null, `\\`, `\xNN`).
pub fn unescape(field: &str) -> Option<Vec<u8>> {
    if field == "\\N" {
        return None;
    }
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (b'\\', Some(b'x')) => {
                let hex = field.get(i + 2..i + 4).expect("two hex digits after \\x");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 4;
            }
            (b'\\', _) => panic!("bad escape in records.tsv field {field:?}"),
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Decodes the headers field: `name=value` pairs joined by `,`, each side escaped.
pub fn parse_headers(field: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    if field.is_empty() {
        return Vec::new();
    }
    field
        .split(',')
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("header without '=': {pair:?}"));
            (
                unescape(k).expect("header name is not null"),
                unescape(v).expect("header value is not null"),
            )
        })
        .collect()
}

fn scenario_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> Bytes {
    Bytes::from(fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| panic!("cannot parse {s:?} as {}", std::any::type_name::<T>()))
}

/// The rows of a TSV file after its header line; each must have `columns` fields.
fn tsv(path: &Path, columns: usize) -> Vec<Vec<String>> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<String> = l.split('\t').map(str::to_owned).collect();
            assert_eq!(f.len(), columns, "{}: {l}", path.display());
            f
        })
        .collect()
}
