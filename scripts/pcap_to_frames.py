#!/usr/bin/env python3
"""Turn a loopback pcap of Kafka traffic into golden request/response frames.

Usage:
    pcap_to_frames.py --pcap capture.pcap --ports 9092,9093 --out DIR
                      [--max-per-key 3] [--scenario NAME]

Reassembles every TCP connection to one of --ports (both directions),
splits each direction into Kafka frames (4-byte big-endian length prefix),
pairs responses with requests by correlation id, keeps a small, deduplicated
set and writes into DIR:

    NNNN-<ApiName>-v<version>-req.bin    request frame, length prefix stripped
    NNNN-<ApiName>-v<version>-resp.bin   response frame, length prefix stripped
    index.tsv     seq api_key api_name api_version correlation_id client_id
                  request_file response_file   ("-" = none / null client id)
    batches.tsv   every record batch found in kept Produce requests and Fetch
                  responses: file topic partition base_offset record_count
                  codec magic batch_bytes   (decoded here with a tiny parser,
                  as a cross-check for the codec tests)
    fetch.tsv     one row per partition of every kept Fetch response: file
                  top_error_code topic partition error_code high_watermark
                  last_stable_offset log_start_offset preferred_read_replica
                  batch_count records_bytes

Deduplication: per (api_key, api_version) the first --max-per-key exchanges
are kept; Produce and Fetch exchanges are additionally keyed by the codecs,
error codes and preferred read replica they carry, ListOffsets by its error
codes, so every codec / error seen survives.
Requests without a response are kept once per (api_key, api_version).

Standard library only.
"""

import argparse
import os
import struct
import sys
from collections import defaultdict

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 4: "LeaderAndIsr",
    5: "StopReplica", 6: "UpdateMetadata", 7: "ControlledShutdown",
    8: "OffsetCommit", 9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup",
    12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups",
    16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
    20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId",
    23: "OffsetForLeaderEpoch", 24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn",
    26: "EndTxn", 27: "WriteTxnMarkers", 28: "TxnOffsetCommit",
    29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs",
    33: "AlterConfigs", 34: "AlterReplicaLogDirs", 35: "DescribeLogDirs",
    36: "SaslAuthenticate", 37: "CreatePartitions", 38: "CreateDelegationToken",
    39: "RenewDelegationToken", 40: "ExpireDelegationToken",
    41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments",
    46: "ListPartitionReassignments", 47: "OffsetDelete",
    48: "DescribeClientQuotas", 49: "AlterClientQuotas",
    50: "DescribeUserScramCredentials", 51: "AlterUserScramCredentials",
    55: "DescribeQuorum", 57: "UpdateFeatures", 60: "DescribeCluster",
    61: "DescribeProducers", 64: "UnregisterBroker", 65: "DescribeTransactions",
    66: "ListTransactions", 68: "ConsumerGroupHeartbeat",
    69: "ConsumerGroupDescribe", 71: "GetTelemetrySubscriptions",
    72: "PushTelemetry", 75: "DescribeTopicPartitions",
}

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

# First flexible version of the APIs whose bodies are parsed below.
FLEX_PRODUCE = 9
FLEX_FETCH = 12


def api_name(key):
    return API_NAMES.get(key, "Api%d" % key)


# --------------------------------------------------------------------- pcap

def read_pcap(path):
    """Yields (timestamp, link_type, packet_bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise SystemExit("%s: not a classic pcap file (pcapng is not supported)" % path)
    nanos = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link_type = struct.unpack(endian + "I", data[20:24])[0]
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        pos += 16
        pkt = data[pos:pos + incl]
        pos += incl
        yield sec + frac / (1e9 if nanos else 1e6), link_type, pkt


def ip_payload(link_type, pkt):
    """Returns the IP packet inside a link-layer frame, or None."""
    if link_type == 1:  # Ethernet
        off, ethertype = 14, struct.unpack(">H", pkt[12:14])[0]
        while ethertype == 0x8100:  # VLAN
            ethertype = struct.unpack(">H", pkt[off + 2:off + 4])[0]
            off += 4
        return pkt[off:] if ethertype in (0x0800, 0x86DD) else None
    if link_type == 113:  # Linux cooked v1
        return pkt[16:]
    if link_type == 276:  # Linux cooked v2
        return pkt[20:]
    if link_type == 0:  # BSD loopback
        return pkt[4:]
    if link_type in (101, 228, 229):  # raw IP
        return pkt
    return None


def tcp_segment(ip):
    """Returns (src, sport, dst, dport, seq, flags, payload) or None."""
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4:
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        if ip[9] != 6:
            return None
        src, dst = ip[12:16], ip[16:20]
        tcp = ip[ihl:total]
    elif version == 6:
        plen = struct.unpack(">H", ip[4:6])[0]
        if ip[6] != 6:  # extension headers are not expected on loopback
            return None
        src, dst = ip[8:24], ip[24:40]
        tcp = ip[40:40 + plen]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    doff = (tcp[12] >> 4) * 4
    flags = tcp[13]
    return src, sport, dst, dport, seq, flags, tcp[doff:]


class Direction:
    """One direction of a TCP connection: reassembles the byte stream."""

    def __init__(self):
        self.isn = None
        self.segments = []  # (relative seq, timestamp, payload)

    def add(self, ts, seq, flags, payload):
        if flags & 0x02:  # SYN
            self.isn = (seq + 1) & 0xFFFFFFFF
        if payload:
            self.segments.append((seq, ts, payload))

    def stream(self):
        """Returns (bytes, [(offset, timestamp)]) or None without a SYN."""
        if self.isn is None:
            return None
        segs = sorted(
            (((s - self.isn) & 0xFFFFFFFF), ts, p) for s, ts, p in self.segments)
        out = bytearray()
        marks = []
        for rel, ts, p in segs:
            end = rel + len(p)
            if end <= len(out):
                continue  # retransmission
            if rel > len(out):
                sys.stderr.write("warning: gap in TCP stream at %d, truncating\n" % len(out))
                break
            marks.append((len(out), ts))
            out += p[len(out) - rel:]
        return bytes(out), marks


def frames(stream_and_marks):
    """Splits a stream into (timestamp, frame bytes without length prefix)."""
    if stream_and_marks is None:
        return []
    data, marks = stream_and_marks
    result, pos, mi = [], 0, 0
    while pos + 4 <= len(data):
        (size,) = struct.unpack(">i", data[pos:pos + 4])
        if size < 0 or pos + 4 + size > len(data):
            break  # truncated at the end of the capture
        while mi + 1 < len(marks) and marks[mi + 1][0] <= pos:
            mi += 1
        result.append((marks[mi][1] if marks else 0.0, data[pos + 4:pos + 4 + size]))
        pos += 4 + size
    return result


# --------------------------------------------------- minimal body decoding

class Reader:
    def __init__(self, buf, pos=0):
        self.buf, self.pos = buf, pos

    def take(self, n):
        if self.pos + n > len(self.buf):
            raise ValueError("truncated")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def string(self, flexible):
        n = self.uvarint() - 1 if flexible else self.i16()
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def bytes_(self, flexible):
        n = self.uvarint() - 1 if flexible else self.i32()
        return None if n < 0 else self.take(n)

    def array_len(self, flexible):
        return self.uvarint() - 1 if flexible else self.i32()

    def tags(self, flexible):
        if flexible:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.take(self.uvarint())


def record_batches(records):
    """[(base_offset, count, codec, magic, size)] for a records blob."""
    out, pos = [], 0
    while records and pos + 17 <= len(records):
        base_offset, length = struct.unpack(">qi", records[pos:pos + 12])
        magic = records[pos + 16]
        size = 12 + length
        if pos + size > len(records):
            out.append((base_offset, -1, "partial", magic, len(records) - pos))
            break
        if magic == 2 and size >= 61:
            attrs = struct.unpack(">h", records[pos + 21:pos + 23])[0]
            count = struct.unpack(">i", records[pos + 57:pos + 61])[0]
            codec = CODECS.get(attrs & 7, "codec%d" % (attrs & 7))
            if attrs & 0x20:
                codec += "+control"
        else:
            count, codec = -1, "legacy"
        out.append((base_offset, count, codec, magic, size))
        pos += size
    return out


def skip_request_header(r, flexible):
    r.take(8)  # api_key, api_version, correlation_id
    r.string(False)  # client_id is never compact
    r.tags(flexible)


def produce_batches(version, frame):
    flexible = version >= FLEX_PRODUCE
    r = Reader(frame)
    skip_request_header(r, flexible)
    if version >= 3:
        r.string(flexible)  # transactional_id
    r.i16()  # acks
    r.i32()  # timeout
    found = []
    for _ in range(r.array_len(flexible)):
        topic = r.string(flexible)
        for _ in range(r.array_len(flexible)):
            part = r.i32()
            recs = r.bytes_(flexible)
            found += [(topic, part, 0) + b for b in record_batches(recs)]
            r.tags(flexible)
        r.tags(flexible)
    return found


def fetch_batches(version, frame, partitions=None):
    """[(topic, partition, error_code, batch...)] from a Fetch response.

    If `partitions` is a list, a summary row per partition is appended:
    (top_error, topic, partition, error, high_watermark, last_stable_offset,
    log_start_offset, preferred_read_replica, batch_count, records_bytes).
    """
    flexible = version >= FLEX_FETCH
    r = Reader(frame)
    r.i32()  # correlation id
    r.tags(flexible)  # response header v1
    if version >= 1:
        r.i32()  # throttle
    top_error = 0
    if version >= 7:
        top_error = r.i16()
        r.i32()  # session id
    found = []
    for _ in range(r.array_len(flexible)):
        if version >= 13:
            topic = r.take(16).hex()
        else:
            topic = r.string(flexible)
        for _ in range(r.array_len(flexible)):
            part, err = r.i32(), r.i16()
            hw = r.i64()
            lso = r.i64() if version >= 4 else -1
            log_start = r.i64() if version >= 5 else -1
            if version >= 4:
                n = r.array_len(flexible)
                for _ in range(max(n, 0)):
                    r.i64()
                    r.i64()
                    r.tags(flexible)
            prr = r.i32() if version >= 11 else -1
            recs = r.bytes_(flexible)
            r.tags(flexible)
            batches = record_batches(recs)
            if partitions is not None:
                partitions.append((top_error, topic, part, err, hw, lso, log_start, prr,
                                   len(batches), len(recs or b"")))
            if batches:
                found += [(topic, part, err) + b for b in batches]
            else:
                found.append((topic, part, err, None, 0, "-", None, 0))
        r.tags(flexible)
    if version >= 7 and top_error and partitions is not None and not found:
        partitions.append((top_error, "-", -1, 0, -1, -1, -1, -1, 0, 0))
    return found


def list_offsets_errors(version, frame):
    """Partition error codes in a ListOffsets response (v1+)."""
    flexible = version >= 6
    r = Reader(frame)
    r.i32()
    r.tags(flexible)
    if version >= 2:
        r.i32()  # throttle
    errors = set()
    for _ in range(r.array_len(flexible)):
        r.string(flexible)
        for _ in range(r.array_len(flexible)):
            r.i32()
            errors.add(r.i16())
            r.i64()  # timestamp
            r.i64()  # offset
            if version >= 4:
                r.i32()  # leader epoch
            r.tags(flexible)
        r.tags(flexible)
    return errors - {0}


# --------------------------------------------------------------- pairing

def exchanges(pcap, ports):
    conns = defaultdict(lambda: (Direction(), Direction()))
    for ts, link, pkt in read_pcap(pcap):
        seg = tcp_segment(ip_payload(link, pkt))
        if not seg:
            continue
        src, sport, dst, dport, seq, flags, payload = seg
        if dport in ports:
            conns[(src, sport, dst, dport)][0].add(ts, seq, flags, payload)
        elif sport in ports:
            conns[(dst, dport, src, sport)][1].add(ts, seq, flags, payload)

    result = []
    for key, (c2s, s2c) in conns.items():
        responses = {}
        for _ts, f in frames(s2c.stream()):
            if len(f) >= 4:
                responses.setdefault(struct.unpack(">i", f[:4])[0], f)
        for ts, f in frames(c2s.stream()):
            if len(f) < 10:
                continue
            api_key, version, corr, cid_len = struct.unpack(">hhih", f[:10])
            client_id = None if cid_len < 0 else f[10:10 + cid_len].decode("utf-8", "replace")
            result.append({
                "ts": ts, "conn": key[1], "server_port": key[3], "api_key": api_key,
                "version": version, "corr": corr, "client_id": client_id,
                "req": f, "resp": responses.get(corr),
            })
    result.sort(key=lambda e: (e["ts"], e["conn"], e["corr"]))
    return result


def annotate(e):
    """Record batches carried by the exchange (for dedupe and batches.tsv)."""
    e["fetch_parts"] = []
    try:
        if e["api_key"] == 0:
            return produce_batches(e["version"], e["req"]), "req"
        if e["api_key"] == 1 and e["resp"] is not None:
            return fetch_batches(e["version"], e["resp"], e["fetch_parts"]), "resp"
    except (ValueError, struct.error, IndexError) as err:
        sys.stderr.write("warning: could not decode %s v%d: %s\n"
                         % (api_name(e["api_key"]), e["version"], err))
    return [], None


def write_fixtures(exs, out_dir, max_per_key):
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        if name.endswith(".bin") or name in ("index.tsv", "batches.tsv", "fetch.tsv"):
            os.remove(os.path.join(out_dir, name))
    kept = defaultdict(int)
    index = ["seq\tapi_key\tapi_name\tapi_version\tcorrelation_id\tclient_id\trequest_file\tresponse_file"]
    batches_tsv = ["file\ttopic\tpartition\tbase_offset\trecord_count\tcodec\tmagic\tbatch_bytes"]
    fetch_tsv = ["file\ttop_error_code\ttopic\tpartition\terror_code\thigh_watermark\t"
                 "last_stable_offset\tlog_start_offset\tpreferred_read_replica\tbatch_count\t"
                 "records_bytes"]
    seq = 0
    summary = defaultdict(int)
    for e in exs:
        batches, where = annotate(e)
        dedupe = (e["api_key"], e["version"])
        if e["api_key"] == 2 and e["resp"] is not None and e["version"] >= 1:
            try:
                dedupe += (tuple(sorted(list_offsets_errors(e["version"], e["resp"]))),)
            except (ValueError, struct.error, IndexError):
                pass
        if e["api_key"] in (0, 1):
            codecs = tuple(sorted({b[5] for b in batches if b[5] not in ("-", "partial")}))
            errors = tuple(sorted({b[2] for b in batches if b[2]}
                                  | {p[0] for p in e["fetch_parts"] if p[0]}
                                  | {"prr%d" % p[7] for p in e["fetch_parts"] if p[7] >= 0}))
            dedupe += (codecs, errors)
        dedupe += (e["resp"] is None,)
        # Requests that never got an answer (e.g. a long-poll Fetch cut off
        # when the client exited) are kept once per api/version at most.
        limit = 1 if e["resp"] is None else max_per_key
        if kept[dedupe] >= limit:
            continue
        kept[dedupe] += 1
        seq += 1
        stem = "%04d-%s-v%d" % (seq, api_name(e["api_key"]), e["version"])
        req_file = stem + "-req.bin"
        with open(os.path.join(out_dir, req_file), "wb") as f:
            f.write(e["req"])
        resp_file = "-"
        if e["resp"] is not None:
            resp_file = stem + "-resp.bin"
            with open(os.path.join(out_dir, resp_file), "wb") as f:
                f.write(e["resp"])
        index.append("\t".join(str(x) for x in (
            seq, e["api_key"], api_name(e["api_key"]), e["version"], e["corr"],
            "-" if e["client_id"] is None else e["client_id"], req_file, resp_file)))
        summary["%s v%d" % (api_name(e["api_key"]), e["version"])] += 1
        fname = req_file if where == "req" else resp_file
        for p in e["fetch_parts"]:
            fetch_tsv.append("\t".join(str(x) for x in (resp_file,) + p))
        for b in batches:
            topic, part, _err, base, count, codec, magic, size = b
            if base is None:
                continue
            batches_tsv.append("\t".join(str(x) for x in (
                fname, topic, part, base, count, codec, magic, size)))
    with open(os.path.join(out_dir, "index.tsv"), "w") as f:
        f.write("\n".join(index) + "\n")
    with open(os.path.join(out_dir, "batches.tsv"), "w") as f:
        f.write("\n".join(batches_tsv) + "\n")
    with open(os.path.join(out_dir, "fetch.tsv"), "w") as f:
        f.write("\n".join(fetch_tsv) + "\n")
    return seq, dict(summary)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--ports", required=True, help="comma separated broker ports")
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-per-key", type=int, default=3)
    args = ap.parse_args()
    ports = {int(p) for p in args.ports.split(",") if p}
    exs = exchanges(args.pcap, ports)
    n, summary = write_fixtures(exs, args.out, args.max_per_key)
    print("%s: %d exchanges captured, %d kept: %s" % (
        args.out, len(exs), n, ", ".join("%s x%d" % kv for kv in sorted(summary.items()))))


if __name__ == "__main__":
    main()
