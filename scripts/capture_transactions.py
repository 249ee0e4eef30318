#!/usr/bin/env python3
"""Captures transactional batches and transaction markers written by a real
transactional producer, for consumer-core/tests/golden_transactions.rs.

Usage: capture_transactions.py BOOTSTRAP OUT_DIR [--create-topic]

1. (with --create-topic) creates topic `txn` (1 partition) with the admin client;
2. confluent-kafka's transactional producer (transactional.id `golden-txn`)
   writes three transactions to txn/0, one after the other:
   commit [c1, c2, c3], abort [a1, a2], commit [c4, c5];
3. sends raw Fetch v4 requests (hand-encoded, so nothing but the broker
   decides what comes back) from offset 0, then from the end of the batches
   returned, until the high watermark, at isolation level 0
   (read_uncommitted) and again at level 1 (read_committed); writes each
   response frame (without its 4-byte length prefix) to
   OUT_DIR/fetch-v4-iso{0,1}-NN-resp.bin, and the producer's delivery
   reports to OUT_DIR/produced.tsv (`transaction end offset value`).
"""
import os
import socket
import struct
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "txn"
PLAN = [("commit", ["c1", "c2", "c3"]), ("abort", ["a1", "a2"]), ("commit", ["c4", "c5"])]


def produce(bootstrap):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": "golden-txn",
        "linger.ms": 5,
    })
    p.init_transactions(30)
    rows = []

    def report(err, msg, i, end):
        if err is not None:
            raise SystemExit("delivery failed: %s" % err)
        rows.append((i, end, msg.offset(), msg.value().decode()))

    for i, (end, values) in enumerate(PLAN):
        p.begin_transaction()
        for v in values:
            p.produce(TOPIC, key=b"k", value=v.encode(), partition=0,
                      on_delivery=lambda e, m, i=i, end=end: report(e, m, i, end))
        p.flush(30)
        if end == "commit":
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    return rows


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def fetch(bootstrap, isolation, corr, offset):
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    body = struct.pack(">iiiib", -1, 500, 1, 1 << 20, isolation)
    body += struct.pack(">i", 1) + string(TOPIC)
    body += struct.pack(">i", 1) + struct.pack(">iqi", 0, offset, 1 << 20)
    frame = struct.pack(">hhi", 1, 4, corr) + string("capture") + body
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        head = recv(s, 4)
        (n,) = struct.unpack(">i", head)
        return recv(s, n)


def parse(frame):
    """The high watermark and the offset after the last complete batch of a Fetch
    v4 response for one partition."""
    pos = 4 + 4 + 4  # correlation id, throttle time, topic count
    (n,) = struct.unpack_from(">h", frame, pos)
    pos += 2 + n + 4 + 4 + 2  # name, partition count, partition, error
    hw, _lso, aborted = struct.unpack_from(">qqi", frame, pos)
    pos += 20 + max(aborted, 0) * 16
    (size,) = struct.unpack_from(">i", frame, pos)
    pos += 4
    end, nxt = pos + size, None
    while pos + 12 <= end:
        base, length = struct.unpack_from(">qi", frame, pos)
        if pos + 12 + length > end:
            break
        (delta,) = struct.unpack_from(">i", frame, pos + 23)
        nxt = base + delta + 1
        pos += 12 + length
    return hw, nxt


def recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def main():
    bootstrap, out = sys.argv[1], sys.argv[2]
    if "--create-topic" in sys.argv:
        a = AdminClient({"bootstrap.servers": bootstrap})
        for f in a.create_topics([NewTopic(TOPIC, 1, 1)]).values():
            f.result(10)
        time.sleep(1)
    rows = produce(bootstrap)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "produced.tsv"), "w") as f:
        f.write("transaction\tend\toffset\tvalue\n")
        for i, end, offset, value in sorted(rows, key=lambda r: r[2]):
            f.write("%d\t%s\t%d\t%s\n" % (i, end, offset, value))
    for iso in (0, 1):
        offset, seq = 0, 0
        while True:
            frame = fetch(bootstrap, iso, 100 * (iso + 1) + seq, offset)
            hw, next_offset = parse(frame)
            if next_offset is None:
                raise SystemExit("no batch from offset %d (high watermark %d)" % (offset, hw))
            name = "fetch-v4-iso%d-%02d-resp.bin" % (iso, seq)
            with open(os.path.join(out, name), "wb") as f:
                f.write(frame)
            offset, seq = next_offset, seq + 1
            if offset >= hw:
                break
    print("captured %d records into %s" % (len(rows), out))


if __name__ == "__main__":
    main()
