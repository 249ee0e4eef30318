//! A malicious broker: a tiny scripted Kafka server that speaks just enough real protocol
//! (ApiVersions, Metadata, ListOffsets, Fetch, encoded with consumer-core's codec) to serve
//! records, and misbehaves on request in ways real brokers and networks sometimes do.
//!
//! A [`FakeCluster`] runs one listener per broker on 127.0.0.1 (one thread each, plus one
//! per connection). Every broker advertises the old, non-flexible versions librdkafka's mock
//! cluster speaks (Fetch up to v11, Metadata up to v2), so byte offsets inside frames are
//! predictable. Node ids are unique per process, so log lines naming a node can be told
//! apart between tests running in parallel.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use consumer_core::codec::messages::api_versions::ApiVersion;
use consumer_core::codec::messages::fetch::{FetchableTopicResponse, PartitionData};
use consumer_core::codec::messages::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use consumer_core::codec::messages::metadata::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use consumer_core::codec::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse,
};
use consumer_core::codec::{decode_request_frame, encode_response_frame, ApiKey, Request};
use consumer_core::record::{BatchBuilder, Record, TimestampType};

/// Versions every fake broker advertises: (api, min, max).
const ADVERTISED: [(ApiKey, i16, i16); 4] = [
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::Metadata, 0, 2),
    (ApiKey::ListOffsets, 0, 5),
    (ApiKey::Fetch, 0, 11),
];

/// Largest request the fake broker reads; the consumer never sends more.
const MAX_REQUEST: usize = 1 << 20;

/// How a broker misbehaves. Unless said otherwise, the fault replaces the broker's answer
/// to a Fetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The size prefix promises the whole frame, only half of it is sent; then the
    /// connection is closed.
    TruncateThenClose,
    /// As [`Fault::TruncateThenClose`], but the connection stays open and silent.
    TruncateThenStall,
    /// The frame starts with this size prefix (e.g. 2 GiB), followed by the real frame;
    /// the connection stays open.
    HugeLength(u32),
    /// The answer carries another correlation id than the request's.
    WrongCorrelationId,
    /// The record batch of this partition has a flipped byte, so its CRC does not match.
    CorruptCrc {
        /// The partition whose batch is damaged.
        partition: i32,
    },
    /// ApiVersions advertises Fetch 0–3 only, which this client does not speak.
    NoCommonFetchVersion,
    /// The answer is encoded at this version instead of the one requested.
    AnswerAtVersion(i16),
    /// These bytes follow the (valid) answer on the wire.
    GarbageAfterFrame(Vec<u8>),
    /// The topic array count of the answer is huge while the bytes are few.
    HugeArrayCount,
}

/// One partition of the fake cluster's only topic.
#[derive(Debug, Clone)]
struct FakePartition {
    /// Index into [`FakeCluster::brokers`] of the leader.
    leader: usize,
    /// The records, offsets 0..len.
    records: Vec<Record>,
}

#[derive(Debug)]
struct Shared {
    topic: String,
    partitions: Vec<FakePartition>,
    /// Per broker: the API whose answers misbehave, the fault, and how many more times
    /// to apply it (`usize::MAX`: always).
    faults: Vec<Option<(ApiKey, Fault, usize)>>,
    /// Per broker: (node id, port).
    nodes: Vec<(i32, u16)>,
}

/// One fake broker's listener.
#[derive(Debug)]
struct FakeBroker {
    id: i32,
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    faults_applied: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// A cluster of fake brokers serving one topic; stopped when dropped.
#[derive(Debug)]
pub struct FakeCluster {
    brokers: Vec<FakeBroker>,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
}

static NEXT_NODE_ID: AtomicI32 = AtomicI32::new(1000);

/// `n` records with offsets 0..n, values "`tag`-`offset`".
pub fn fake_records(n: i64, tag: &str) -> Vec<Record> {
    (0..n)
        .map(|offset| Record {
            offset,
            timestamp: 1_700_000_000_000 + offset,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from(format!("k{offset}"))),
            value: Some(Bytes::from(format!("{tag}-{offset}"))),
            headers: Vec::new(),
        })
        .collect()
}

impl FakeCluster {
    /// `brokers` brokers and topic `topic` whose partition `p` is led by broker
    /// `leaders[p]` (an index) and holds `records_per_partition` records.
    pub fn start(
        brokers: usize,
        topic: &str,
        leaders: &[usize],
        records_per_partition: i64,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut listeners = Vec::new();
        let mut nodes = Vec::new();
        for _ in 0..brokers {
            let l = TcpListener::bind("127.0.0.1:0")?;
            l.set_nonblocking(true)?;
            let id = NEXT_NODE_ID.fetch_add(1, Ordering::Relaxed);
            nodes.push((id, l.local_addr()?.port()));
            listeners.push((id, l));
        }
        let partitions = leaders
            .iter()
            .enumerate()
            .map(|(p, &leader)| FakePartition {
                leader,
                records: fake_records(records_per_partition, &format!("{topic}-{p}")),
            })
            .collect();
        let shared = Arc::new(Mutex::new(Shared {
            topic: topic.to_owned(),
            partitions,
            faults: vec![None; brokers],
            nodes,
        }));
        let mut fakes = Vec::new();
        for (index, (id, listener)) in listeners.into_iter().enumerate() {
            let connections = Arc::new(AtomicUsize::new(0));
            let faults_applied = Arc::new(AtomicUsize::new(0));
            let addr = listener.local_addr()?;
            let ctx = ConnCtx {
                index,
                shared: shared.clone(),
                stop: stop.clone(),
                faults_applied: faults_applied.clone(),
            };
            let conns = connections.clone();
            let thread = thread::Builder::new()
                .name(format!("fake-broker-{id}"))
                .spawn(move || accept_loop(listener, conns, ctx))?;
            fakes.push(FakeBroker {
                id,
                addr,
                connections,
                faults_applied,
                thread: Some(thread),
            });
        }
        Ok(Self {
            brokers: fakes,
            shared,
            stop,
        })
    }

    /// `bootstrap.servers` pointing at broker `index`.
    pub fn bootstrap(&self, index: usize) -> String {
        self.brokers[index].addr.to_string()
    }

    /// The node id of broker `index` (as the consumer and its logs name it).
    pub fn node_id(&self, index: usize) -> i32 {
        self.brokers[index].id
    }

    /// Connections accepted so far by broker `index`.
    pub fn connections(&self, index: usize) -> usize {
        self.brokers[index].connections.load(Ordering::SeqCst)
    }

    /// How often broker `index` has misbehaved so far.
    pub fn faults_applied(&self, index: usize) -> usize {
        self.brokers[index].faults_applied.load(Ordering::SeqCst)
    }

    /// Broker `index` misbehaves `times` times (`usize::MAX`: for good) when answering
    /// Fetch (ApiVersions for [`Fault::NoCommonFetchVersion`]).
    pub fn set_fault(&self, index: usize, fault: Fault, times: usize) {
        let api = match fault {
            Fault::NoCommonFetchVersion => ApiKey::ApiVersions,
            _ => ApiKey::Fetch,
        };
        self.set_fault_on(index, api, fault, times);
    }

    /// Broker `index` misbehaves `times` times when answering `api` (Metadata,
    /// ListOffsets or Fetch for the wire and body faults).
    pub fn set_fault_on(&self, index: usize, api: ApiKey, fault: Fault, times: usize) {
        self.lock().faults[index] = Some((api, fault, times));
    }

    /// Broker `index` behaves again.
    pub fn clear_fault(&self, index: usize) {
        self.lock().faults[index] = None;
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for b in &mut self.brokers {
            if let Some(t) = b.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[derive(Debug, Clone)]
struct ConnCtx {
    index: usize,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    faults_applied: Arc<AtomicUsize>,
}

impl ConnCtx {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The fault to apply to this request, counting it down.
    fn take_fault(&self, api: ApiKey) -> Option<Fault> {
        let mut s = self.lock();
        let slot = s.faults.get_mut(self.index)?;
        let (target, fault, left) = slot.as_mut()?;
        if *target != api || *left == 0 {
            return None;
        }
        if *left != usize::MAX {
            *left -= 1;
        }
        self.faults_applied.fetch_add(1, Ordering::SeqCst);
        Some(fault.clone())
    }
}

fn accept_loop(listener: TcpListener, connections: Arc<AtomicUsize>, ctx: ConnCtx) {
    let mut workers = Vec::new();
    while !ctx.stopped() {
        match listener.accept() {
            Ok((stream, _)) => {
                connections.fetch_add(1, Ordering::SeqCst);
                let ctx = ctx.clone();
                workers.push(thread::spawn(move || {
                    let _ = serve(stream, &ctx);
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// What a connection does after answering.
enum After {
    Continue,
    Close,
    Stall,
}

fn serve(mut stream: TcpStream, ctx: &ConnCtx) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = Vec::new();
    loop {
        let Some(frame) = read_frame(&mut stream, &mut buf, ctx)? else {
            return Ok(());
        };
        match answer(frame, ctx)? {
            (bytes, After::Continue) => stream.write_all(&bytes)?,
            (bytes, After::Close) => {
                stream.write_all(&bytes)?;
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
            (bytes, After::Stall) => {
                stream.write_all(&bytes)?;
                // Read and ignore whatever comes until the client gives up.
                let mut sink = [0u8; 4096];
                while !ctx.stopped() {
                    match stream.read(&mut sink) {
                        Ok(0) => return Ok(()),
                        Ok(_) => {}
                        Err(e) if is_timeout(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                return Ok(());
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The next request frame (without its size prefix); `None` when the peer closed or the
/// cluster stopped.
fn read_frame(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    ctx: &ConnCtx,
) -> io::Result<Option<Bytes>> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(&[a, b, c, d]) = buf.get(..4) {
            let size = usize::try_from(i32::from_be_bytes([a, b, c, d]))
                .ok()
                .filter(|s| *s <= MAX_REQUEST)
                .ok_or_else(|| io::Error::other("bad request size"))?;
            if buf.len() >= 4 + size {
                let frame = Bytes::copy_from_slice(&buf[4..4 + size]);
                buf.drain(..4 + size);
                return Ok(Some(frame));
            }
        }
        if ctx.stopped() {
            return Ok(None);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

fn answer(frame: Bytes, ctx: &ConnCtx) -> io::Result<(Bytes, After)> {
    let (key, version, corr) = match frame.get(..8) {
        Some(&[k0, k1, v0, v1, c0, c1, c2, c3]) => (
            i16::from_be_bytes([k0, k1]),
            i16::from_be_bytes([v0, v1]),
            i32::from_be_bytes([c0, c1, c2, c3]),
        ),
        _ => return Err(io::Error::other("short request")),
    };
    let api = ApiKey::from_i16(key).ok_or_else(|| io::Error::other("unknown api key"))?;
    let fault = ctx.take_fault(api);
    let out = match api {
        ApiKey::ApiVersions => {
            decode::<ApiVersionsRequest>(frame)?;
            let fetch_range = match fault {
                Some(Fault::NoCommonFetchVersion) => (0, 3),
                _ => (0, 11),
            };
            let api_keys = ADVERTISED
                .iter()
                .map(|&(k, min, max)| {
                    let (min, max) = if k == ApiKey::Fetch {
                        fetch_range
                    } else {
                        (min, max)
                    };
                    ApiVersion {
                        api_key: k as i16,
                        min_version: min,
                        max_version: max,
                    }
                })
                .collect();
            let resp = ApiVersionsResponse {
                api_keys,
                ..ApiVersionsResponse::default()
            };
            encode::<ApiVersionsRequest>(corr, version, &resp)?
        }
        ApiKey::Metadata => {
            decode::<MetadataRequest>(frame)?;
            let resp = metadata(&ctx.lock(), version);
            encode::<MetadataRequest>(corr, version, &resp)?
        }
        ApiKey::ListOffsets => {
            let req = decode::<ListOffsetsRequest>(frame)?;
            let resp = list_offsets(&ctx.lock(), &req);
            encode::<ListOffsetsRequest>(corr, version, &resp)?
        }
        ApiKey::Fetch => {
            let req = decode::<FetchRequest>(frame)?;
            let corrupt = match fault {
                Some(Fault::CorruptCrc { partition }) => Some(partition),
                _ => None,
            };
            let resp = fetch(&ctx.lock(), ctx.index, &req, corrupt)?;
            if resp.responses.iter().all(|t| {
                t.partitions
                    .iter()
                    .all(|p| p.records.as_ref().is_none_or(|r| r.is_empty()))
            }) && fault.is_none()
            {
                // Long polling, shortened: nothing to send yet.
                thread::sleep(Duration::from_millis(
                    u64::try_from(req.max_wait_ms).unwrap_or(0).min(100),
                ));
            }
            match fault {
                Some(Fault::WrongCorrelationId) => {
                    encode::<FetchRequest>(corr.wrapping_add(1000), version, &resp)?
                }
                Some(Fault::AnswerAtVersion(v)) => encode::<FetchRequest>(corr, v, &resp)?,
                _ => encode::<FetchRequest>(corr, version, &resp)?,
            }
        }
        _ => return Err(io::Error::other(format!("unexpected {api} request"))),
    };
    Ok(misbehave(out, api, fault))
}

/// Applies a wire-level fault to an encoded answer (size prefix included).
fn misbehave(frame: Bytes, api: ApiKey, fault: Option<Fault>) -> (Bytes, After) {
    match fault {
        Some(Fault::TruncateThenClose) => (frame.slice(..frame.len() / 2), After::Close),
        Some(Fault::TruncateThenStall) => (frame.slice(..frame.len() / 2), After::Stall),
        Some(Fault::HugeLength(size)) => {
            let mut out = BytesMut::new();
            out.put_u32(size);
            out.extend_from_slice(&frame[4..]);
            (out.freeze(), After::Stall)
        }
        Some(Fault::GarbageAfterFrame(garbage)) => {
            let mut out = BytesMut::from(&frame[..]);
            out.extend_from_slice(&garbage);
            (out.freeze(), After::Continue)
        }
        Some(Fault::HugeArrayCount) => {
            // After the prefix and correlation id: Fetch v7–11 has throttle (4), error
            // code (2) and session id (4) before its topic array; ListOffsets v2–5 has
            // throttle (4); Metadata v0–2 starts with its broker array.
            let at = 4
                + 4
                + match api {
                    ApiKey::Fetch => 10,
                    ApiKey::ListOffsets => 4,
                    _ => 0,
                };
            let mut out = BytesMut::from(&frame[..]);
            if let Some(count) = out.get_mut(at..at + 4) {
                count.copy_from_slice(&0x7fff_fff0_i32.to_be_bytes());
            }
            (out.freeze(), After::Continue)
        }
        _ => (frame, After::Continue),
    }
}

fn decode<R: Request>(frame: Bytes) -> io::Result<R> {
    decode_request_frame::<R>(frame)
        .map(|(_, r)| r)
        .map_err(|e| io::Error::other(format!("{} request: {e}", R::API_KEY)))
}

fn encode<R: Request>(corr: i32, version: i16, body: &R::Response) -> io::Result<Bytes> {
    encode_response_frame::<R>(corr, version, body)
        .map_err(|e| io::Error::other(format!("{} v{version} response: {e}", R::API_KEY)))
}

fn metadata(s: &Shared, version: i16) -> MetadataResponse {
    let partitions = s
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let leader = s.nodes[p.leader].0;
            MetadataResponsePartition {
                partition_index: i as i32,
                leader_id: leader,
                leader_epoch: -1,
                replica_nodes: vec![leader],
                isr_nodes: vec![leader],
                ..MetadataResponsePartition::default()
            }
        })
        .collect();
    MetadataResponse {
        brokers: s
            .nodes
            .iter()
            .map(|&(id, port)| MetadataResponseBroker {
                node_id: id,
                host: "127.0.0.1".to_owned(),
                port: i32::from(port),
                rack: None,
            })
            .collect(),
        cluster_id: (version >= 2).then(|| "fake-cluster".to_owned()),
        controller_id: s.nodes[0].0,
        topics: vec![MetadataResponseTopic {
            name: Some(s.topic.clone()),
            partitions,
            ..MetadataResponseTopic::default()
        }],
        ..MetadataResponse::default()
    }
}

fn list_offsets(s: &Shared, req: &ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| ListOffsetsTopicResponse {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|rp| {
                    let end = usize::try_from(rp.partition_index)
                        .ok()
                        .and_then(|i| s.partitions.get(i))
                        .map_or(0, |p| p.records.len() as i64);
                    ListOffsetsPartitionResponse {
                        partition_index: rp.partition_index,
                        offset: if rp.timestamp == -1 { end } else { 0 },
                        timestamp: -1,
                        leader_epoch: -1,
                        ..ListOffsetsPartitionResponse::default()
                    }
                })
                .collect(),
        })
        .collect();
    ListOffsetsResponse {
        topics,
        ..ListOffsetsResponse::default()
    }
}

fn fetch(
    s: &Shared,
    broker: usize,
    req: &FetchRequest,
    corrupt: Option<i32>,
) -> io::Result<FetchResponse> {
    let mut responses = Vec::new();
    for t in &req.topics {
        let mut partitions = Vec::new();
        for rp in &t.partitions {
            let mut out = PartitionData {
                partition_index: rp.partition,
                high_watermark: -1,
                last_stable_offset: -1,
                aborted_transactions: (req.isolation_level == 1).then(Vec::new),
                preferred_read_replica: -1,
                records: Some(Bytes::new()),
                ..PartitionData::default()
            };
            let p = usize::try_from(rp.partition)
                .ok()
                .and_then(|i| s.partitions.get(i))
                .filter(|p| t.topic == s.topic && p.leader == broker);
            let Some(p) = p else {
                out.error_code = 6; // NOT_LEADER_OR_FOLLOWER
                partitions.push(out);
                continue;
            };
            let end = p.records.len() as i64;
            out.high_watermark = end;
            out.last_stable_offset = end;
            out.log_start_offset = 0;
            if rp.fetch_offset < 0 || rp.fetch_offset > end {
                out.error_code = 1; // OFFSET_OUT_OF_RANGE
                partitions.push(out);
                continue;
            }
            let from = rp.fetch_offset as usize;
            let records = &p.records[from..];
            if !records.is_empty() {
                let mut batch = BatchBuilder::new(rp.fetch_offset)
                    .build(records)
                    .map_err(|e| io::Error::other(format!("batch: {e}")))?
                    .to_vec();
                if corrupt == Some(rp.partition) {
                    // The last byte belongs to the last record, covered by the CRC.
                    if let Some(b) = batch.last_mut() {
                        *b ^= 0xff;
                    }
                }
                out.records = Some(Bytes::from(batch));
            }
            partitions.push(out);
        }
        responses.push(FetchableTopicResponse {
            topic: t.topic.clone(),
            partitions,
            ..FetchableTopicResponse::default()
        });
    }
    Ok(FetchResponse {
        responses,
        ..FetchResponse::default()
    })
}
