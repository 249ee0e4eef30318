#!/usr/bin/env python3
"""Capture golden Kafka protocol fixtures (driven by scripts/capture-fixtures.sh).

For every scenario: start a fresh broker (librdkafka mock cluster via the
launcher, or Tansu), start tcpdump on loopback filtered to the broker ports,
run reference clients (kcat / kafka-python) that produce known records and
consume them back, stop tcpdump, then turn the pcap into request/response
frame files with pcap_to_frames.py. Each scenario directory also gets
records.tsv (exactly what was produced) and README.md (what was run).

Usage: capture_fixtures.py --launcher PATH --tansu PATH --out DIR
                           [--only SCENARIO ...] [--keep-pcaps DIR]
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcap_to_frames  # noqa: E402

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
TS_BASE = 1700000000000  # explicit CreateTime for kafka-python records


# ------------------------------------------------------------ records.tsv

def esc(b):
    """records.tsv byte-string escaping (see fixtures README)."""
    if b is None:
        return "\\N"
    out = []
    for c in b:
        if 0x20 <= c < 0x7F and chr(c) not in "\\,=":
            out.append(chr(c))
        elif c == 0x5C:
            out.append("\\\\")
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


class Rec:
    def __init__(self, partition, key, value, headers=(), ts=None):
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = list(headers)
        self.ts = ts


def write_records(path, topic, codec, records, producer):
    """records in produce order; offsets follow the per-partition order (fresh topic)."""
    next_off = {}
    lines = ["topic\tpartition\toffset\ttimestamp_ms\tkey\tvalue\theaders\tcodec\tproducer"]
    for r in records:
        off = next_off.get(r.partition, 0)
        next_off[r.partition] = off + 1
        hdrs = ",".join("%s=%s" % (esc(n.encode()), esc(v)) for n, v in r.headers)
        lines.append("\t".join([
            topic, str(r.partition), str(off), "-" if r.ts is None else str(r.ts),
            esc(r.key), esc(r.value), hdrs, codec, producer]))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- brokers

class MockCluster:
    def __init__(self, launcher, brokers=3):
        self.p = subprocess.Popen([launcher, str(brokers)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, bufsize=1)
        line = self.p.stdout.readline().strip()
        if not line.startswith("BOOTSTRAP "):
            raise SystemExit("launcher: unexpected first line %r" % line)
        self.bootstrap = line.split(" ", 1)[1]
        self.ports = [int(a.rsplit(":", 1)[1]) for a in self.bootstrap.split(",")]

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        if not answer.startswith("OK"):
            raise SystemExit("launcher: `%s` -> %r" % (line, answer))
        return answer

    def close(self):
        try:
            self.cmd("quit")
        except (BrokenPipeError, SystemExit):
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Tansu:
    def __init__(self, binary):
        self.port = free_port()
        url = "tcp://127.0.0.1:%d" % self.port
        self.p = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.ports = [self.port]
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.p.poll() is not None:
                    break
                time.sleep(0.05)
        self.p.kill()
        raise SystemExit("tansu did not come up on port %d" % self.port)

    def close(self):
        self.p.kill()
        self.p.wait()


class Capture:
    """tcpdump on lo for the given ports, into `pcap`."""

    def __init__(self, pcap, ports):
        flt = "tcp and (%s)" % " or ".join("port %d" % p for p in ports)
        self.p = subprocess.Popen(["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-s", "0", "-n",
                                   "-B", "16384", "-w", pcap, flt],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()
        self.err = []

        def drain():
            for line in self.p.stderr:
                self.err.append(line)
                if "listening on" in line:
                    ready.set()
            ready.set()
        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(15) or self.p.poll() is not None:
            raise SystemExit("tcpdump did not start: %s" % "".join(self.err))

    def stop(self):
        time.sleep(1.0)  # let the last packets through
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


# ---------------------------------------------------------------- clients

def run(cmd, input_bytes=None, timeout=60, check=True):
    r = subprocess.run(cmd, input=input_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise SystemExit("command failed (%d): %s\n%s" % (r.returncode, " ".join(cmd),
                                                          r.stderr.decode(errors="replace")))
    return r


def kcat_produce(bootstrap, topic, codec, partition, records, headers=(), null_mode=False):
    """One kcat -P invocation (one partition, one header set)."""
    delim, kdelim = b"\x1e", b"\x1f"
    data = b""
    for key, value in records:
        if key is not None:
            data += key + kdelim
        data += (value or b"") + delim
    cmd = ["kcat", "-P", "-q", "-b", bootstrap, "-t", topic, "-p", str(partition),
           "-z", codec, "-D", "\\x1e", "-K", "\\x1f"]
    if null_mode:
        cmd.append("-Z")
    for n, v in headers:
        cmd += ["-H", "%s=%s" % (n, v.decode())]
    run(cmd, data)


def kcat_count(bootstrap, topic, extra=()):
    r = run(["kcat", "-C", "-q", "-e", "-b", bootstrap, "-t", topic, "-f", "%p %o\\n"] + list(extra))
    return len(r.stdout.splitlines())


def kcat_group(bootstrap, group, topic, seconds):
    p = subprocess.Popen(
        ["kcat", "-b", bootstrap, "-G", group, "-q", "-f", "%p %o\\n",
         "-X", "auto.offset.reset=earliest", "-X", "heartbeat.interval.ms=500",
         "-X", "session.timeout.ms=6000", "-X", "auto.commit.interval.ms=500", topic],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)  # graceful: final commit + LeaveGroup
    out, _ = p.communicate(timeout=30)
    return len(out.splitlines())


def mock_records(codec):
    """The kcat record runs for a codec scenario: (partition, headers, null_mode, [(key, value)])."""
    lorem = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20).strip()
    return [
        (0, [("h1", b"a"), ("h2", b"b")], False,
         [(b"key-0-%d" % i, b"value-%s-0-%d" % (codec.encode(), i)) for i in range(3)]
         + [(b"key-0-3", lorem)]),
        (1, [("trace", b"t-1")], False,
         [(None, b"no-key-value"), (b"key-1-1", b""), (b"", b"empty-key")]),
        (1, [], True, [(b"tombstone-key", None)]),
        (2, [], False,
         [(b"key-2-%d" % i, b"value-2-%d" % i) for i in range(4)]
         + [(b"key-2-4", "h\u00e9llo w\u00f6rld \u2713".encode())]),
    ]


def produce_mock_runs(mock, topic, codec, runs):
    recs = []
    for partition, headers, null_mode, rs in runs:
        kcat_produce(mock.bootstrap, topic, codec, partition, rs, headers, null_mode)
        recs += [Rec(partition, k, v, headers) for k, v in rs]
    return recs


# -------------------------------------------------------------- scenarios

def scenario_mock_codec(ctx, codec):
    mock = ctx.mock()
    topic = "fx-%s" % codec
    mock.cmd("create_topic %s 3 3" % topic)
    with ctx.capture(mock.ports):
        recs = produce_mock_runs(mock, topic, codec, mock_records(codec))
        n = kcat_count(mock.bootstrap, topic, ["-o", "beginning"])
    assert n == len(recs), (n, len(recs))
    ctx.records(topic, codec, recs, "kcat")
    ctx.readme(
        "librdkafka mock cluster (3 brokers, librdkafka 2.0.2), client kcat 1.7.1.",
        "Topic `%s` (3 partitions) created through the mock API (not on the wire)." % topic,
        "Produced with one `kcat -P -z %s` per partition/header run (records.tsv, in order)." % codec,
        "Consumed back with `kcat -C -e -o beginning` (all partitions): Fetch responses "
        "carry %s-compressed batches." % codec)
    mock.close()


def scenario_mock_group(ctx):
    mock = ctx.mock()
    topic = "fx-group"
    mock.cmd("create_topic %s 3 3" % topic)
    with ctx.capture(mock.ports):
        recs = produce_mock_runs(mock, topic, "none", [
            (p, [], False, [(b"g-%d-%d" % (p, i), b"group-value-%d-%d" % (p, i)) for i in range(2)])
            for p in range(3)])
        first = kcat_group(mock.bootstrap, "fx-cg", topic, 5)
        second = kcat_group(mock.bootstrap, "fx-cg", topic, 6)
    assert first == len(recs) and second == 0, (first, second)
    ctx.records(topic, "none", recs, "kcat")
    ctx.readme(
        "librdkafka mock cluster (3 brokers), client kcat 1.7.1 / librdkafka 2.0.2.",
        "Produced 2 records per partition to `fx-group` (kcat -P, no compression).",
        "Then `kcat -G fx-cg fx-group` (heartbeat.interval.ms=500, session.timeout.ms=6000, "
        "auto.commit.interval.ms=500, auto.offset.reset=earliest) ran 5 s and was stopped "
        "with SIGINT (final OffsetCommit + LeaveGroup); a second member of fx-cg ran 6 s "
        "(OffsetFetch returns the committed offsets, nothing left to consume).",
        "Exchanges: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetFetch, "
        "OffsetCommit, LeaveGroup, Metadata, ListOffsets/Fetch.")
    mock.close()


def scenario_mock_offsets(ctx):
    mock = ctx.mock()
    topic = "fx-offsets"
    mock.cmd("create_topic %s 2 3" % topic)
    before = int(time.time() * 1000) - 60000
    with ctx.capture(mock.ports):
        recs = produce_mock_runs(mock, topic, "none", [
            (p, [], False, [(b"o-%d-%d" % (p, i), b"offset-value-%d-%d" % (p, i)) for i in range(5)])
            for p in range(2)])
        run(["kcat", "-L", "-b", mock.bootstrap])
        run(["kcat", "-L", "-b", mock.bootstrap, "-t", topic])
        run(["kcat", "-Q", "-b", mock.bootstrap, "-t", "%s:0:%d" % (topic, before),
             "-t", "%s:1:-1" % topic])
        n1 = kcat_count(mock.bootstrap, topic, ["-p", "0", "-o", "-2"])
        n2 = kcat_count(mock.bootstrap, topic, ["-p", "1", "-o", "s@%d" % before])
    # librdkafka 2.0.2's mock does not implement timestamp lookups: it answers
    # offset -1 for any real timestamp, so the s@ consumer starts at the end.
    assert (n1, n2) == (2, 0), (n1, n2)
    ctx.records(topic, "none", recs, "kcat")
    ctx.readme(
        "librdkafka mock cluster (3 brokers), client kcat 1.7.1 / librdkafka 2.0.2.",
        "Produced 5 records to each of 2 partitions of `fx-offsets` (no compression).",
        "Then: `kcat -L` (all topics), `kcat -L -t fx-offsets`, "
        "`kcat -Q -t fx-offsets:0:%d -t fx-offsets:1:-1` (ListOffsets by timestamp, "
        "60 s before producing; -1 = latest), "
        "`kcat -C -p 0 -o -2 -e` (last 2 records: ListOffsets latest + Fetch from 3) and "
        "`kcat -C -p 1 -o s@%d -e` (offset for timestamp, then Fetch)." % (before, before),
        "Caveat: librdkafka 2.0.2's mock does not implement timestamp lookups; it answers "
        "offset -1 for any timestamp other than -1 (latest) / -2 (earliest), so the "
        "s@ consumer starts at the end and reads nothing. (Tansu 0.6.0 is no better "
        "here, see tansu-offsets.)")
    mock.close()


def scenario_mock_errors(ctx):
    mock = ctx.mock()
    topic = "fx-errors"
    mock.cmd("create_topic %s 2 3" % topic)
    mock.cmd("partition_leader %s 0 1" % topic)
    mock.cmd("partition_leader %s 1 1" % topic)
    with ctx.capture(mock.ports):
        recs = produce_mock_runs(mock, topic, "none", [
            (p, [], False, [(b"e-%d-%d" % (p, i), b"error-value-%d-%d" % (p, i)) for i in range(3)])
            for p in range(2)])
        # 1. A Fetch answered with NOT_LEADER_OR_FOLLOWER (6): metadata refresh, retry.
        mock.cmd("push_errors 1 1 6")
        n1 = kcat_count(mock.bootstrap, topic, ["-p", "0", "-o", "beginning"])
        # 2. Fetch at an offset past the end: OFFSET_OUT_OF_RANGE (1), reset to latest.
        n2 = kcat_count(mock.bootstrap, topic, ["-p", "0", "-o", "100"])
        # 3. ListOffsets answered with LEADER_NOT_AVAILABLE (5), then retried.
        mock.cmd("push_errors 2 1 5")
        n3 = kcat_count(mock.bootstrap, topic, ["-p", "1", "-o", "-1"])
        # 4. Follower fetching (KIP-392): broker 3 is the preferred read replica.
        mock.cmd("partition_follower %s 1 3" % topic)
        n4 = kcat_count(mock.bootstrap, topic,
                        ["-p", "1", "-o", "beginning", "-X", "client.rack=rack-a"])
    assert (n1, n2, n3, n4) == (3, 0, 1, 3), (n1, n2, n3, n4)
    ctx.records(topic, "none", recs, "kcat")
    ctx.readme(
        "librdkafka mock cluster (3 brokers, broker 1 leads both partitions), client kcat.",
        "Produced 3 records to each of 2 partitions of `fx-errors` (no compression).",
        "1. `push_errors 1 1 6`: the next Fetch fails with NOT_LEADER_OR_FOLLOWER (6); "
        "`kcat -C -p 0 -o beginning -e` refreshes metadata and retries.",
        "2. `kcat -C -p 0 -o 100 -e`: Fetch at offset 100 gets OFFSET_OUT_OF_RANGE (1); "
        "the client resets via ListOffsets.",
        "3. `push_errors 2 1 5`: the next ListOffsets fails with LEADER_NOT_AVAILABLE (5); "
        "`kcat -C -p 1 -o -1 -e` retries.",
        "4. `partition_follower fx-errors 1 3` then `kcat -C -p 1 -o beginning -e -X "
        "client.rack=rack-a`: Fetch responses from the leader may name broker 3 as "
        "preferred_read_replica (Fetch v11), the client then fetches from broker 3.")
    mock.close()


def python_records(codec):
    recs = []
    for i in range(4):
        recs.append(Rec(0, b"key-0-%d" % i, b"value-%s-0-%d" % (codec.encode(), i),
                        [("h1", b"a"), ("idx", str(i).encode())], TS_BASE + i * 1000))
    recs.append(Rec(1, None, b"no-key-value", [], TS_BASE + 10000))
    recs.append(Rec(1, b"key-1-1", b"", [("bin", b"\x00\xff\x01")], TS_BASE + 11000))
    recs.append(Rec(1, b"tombstone-key", None, [], TS_BASE + 12000))
    lorem = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20).strip()
    recs.append(Rec(2, b"key-2-0", lorem, [], TS_BASE + 20000))
    recs.append(Rec(2, b"key-2-1", "h\u00e9llo w\u00f6rld \u2713".encode(), [], TS_BASE + 21000))
    return recs


def py_produce(bootstrap, topic, codec, recs):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, acks="all",
                      compression_type=None if codec == "none" else codec,
                      max_in_flight_requests_per_connection=1)
    futs = [p.send(topic, key=r.key, value=r.value, headers=r.headers, partition=r.partition,
                   timestamp_ms=r.ts) for r in recs]
    p.flush(30)
    for f in futs:
        f.get(30)
    p.close(10)


def py_create_topic(bootstrap, topic, partitions):
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    a = KafkaAdminClient(bootstrap_servers=bootstrap)
    a.create_topics([NewTopic(topic, partitions, 1)])
    a.close()


def py_consume_all(bootstrap, topic, expected, group=None, linger=0.0, commit=False):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, session_timeout_ms=6000,
                      heartbeat_interval_ms=1000)
    if group:
        c.subscribe([topic])
    else:
        parts = None
        deadline = time.time() + 15
        while not parts and time.time() < deadline:
            parts = c.partitions_for_topic(topic)
            time.sleep(0.05)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
    got = []
    deadline = time.time() + 45
    while len(got) < expected and time.time() < deadline:
        for msgs in c.poll(timeout_ms=200).values():
            got += msgs
    end = time.time() + linger
    while time.time() < end:
        c.poll(timeout_ms=200)
    if commit:
        c.commit()
    c.close()
    return got


def check_consumed(recs, got):
    want = sorted(repr((r.partition, r.key, r.value, r.ts, r.headers)) for r in recs)
    have = sorted(repr((m.partition, m.key, m.value, m.timestamp, list(m.headers))) for m in got)
    if want != have:
        raise SystemExit("consumed records differ from produced:\n%r\n%r" % (want, have))


def scenario_tansu_codec(ctx, codec):
    tansu = ctx.tansu()
    topic = "fx-%s" % codec
    recs = python_records(codec)
    with ctx.capture(tansu.ports):
        py_create_topic(tansu.bootstrap, topic, 3)
        py_produce(tansu.bootstrap, topic, codec, recs)
        got = py_consume_all(tansu.bootstrap, topic, len(recs))
    check_consumed(recs, got)
    ctx.records(topic, codec, recs, "kafka-python")
    ctx.readme(
        "Tansu 0.6.0 (memory storage, single broker, node id 111), client kafka-python 3.0.12.",
        "Topic `%s` created with KafkaAdminClient (CreateTopics, 3 partitions)." % topic,
        "Produced with KafkaProducer(compression_type=%s, linger_ms=50) with explicit "
        "CreateTime timestamps (records.tsv)." % codec,
        "Consumed back by a KafkaConsumer without group (assign + seek_to_beginning): "
        "ListOffsets and flexible-version Fetch responses carrying %s batches." % codec)
    tansu.close()


def scenario_tansu_group(ctx):
    tansu = ctx.tansu()
    topic = "fx-group"
    recs = [Rec(p, b"g-%d-%d" % (p, i), b"group-value-%d-%d" % (p, i), [], TS_BASE + p * 100 + i)
            for p in range(3) for i in range(2)]
    with ctx.capture(tansu.ports):
        py_create_topic(tansu.bootstrap, topic, 3)
        py_produce(tansu.bootstrap, topic, "none", recs)
        got = py_consume_all(tansu.bootstrap, topic, len(recs), group="fx-cg", linger=2.5,
                             commit=True)
        again = py_consume_all(tansu.bootstrap, topic, 0, group="fx-cg", linger=1.0)
    check_consumed(recs, got)
    assert not again, again
    ctx.records(topic, "none", recs, "kafka-python")
    ctx.readme(
        "Tansu 0.6.0 (memory storage), client kafka-python 3.0.12.",
        "Produced 2 records per partition to `fx-group` (3 partitions, no compression).",
        "A KafkaConsumer in group `fx-cg` (session_timeout_ms=6000, heartbeat_interval_ms="
        "1000, manual commit) subscribed, consumed all 6 records, polled 2.5 s more "
        "(Heartbeats), committed (OffsetCommit) and closed (LeaveGroup). A second member "
        "then joined the same group (OffsetFetch returns the committed offsets) and left.",
        "Note the first JoinGroup is answered with MEMBER_ID_REQUIRED (79) and retried "
        "with the assigned member id (KIP-394).")
    tansu.close()


def scenario_tansu_offsets(ctx):
    from kafka import KafkaConsumer, TopicPartition
    tansu = ctx.tansu()
    topic = "fx-offsets"
    recs = python_records("none")
    with ctx.capture(tansu.ports):
        py_create_topic(tansu.bootstrap, topic, 3)
        py_produce(tansu.bootstrap, topic, "none", recs)
        c = KafkaConsumer(bootstrap_servers=tansu.bootstrap)
        tps = [TopicPartition(topic, p) for p in range(3)]
        begin = c.beginning_offsets(tps)
        end = c.end_offsets(tps)
        times = c.offsets_for_times({tps[0]: TS_BASE + 1500, tps[1]: TS_BASE + 11000,
                                     tps[2]: TS_BASE + 99000})
        c.close()
    got = {tp.partition: (begin[tp], end[tp], times[tp] and times[tp].offset) for tp in tps}
    print("  tansu offsets (begin, end, for-time):", got)
    ctx.records(topic, "none", recs, "kafka-python")
    ctx.readme(
        "Tansu 0.6.0 (memory storage), client kafka-python 3.0.12.",
        "Produced the records in records.tsv (explicit timestamps) to `fx-offsets`.",
        "Then a KafkaConsumer asked beginning_offsets / end_offsets (ListOffsets with "
        "timestamp -2 / -1) and offsets_for_times for p0 @ %d, p1 @ %d, p2 @ %d "
        "(ListOffsets by timestamp)." % (TS_BASE + 1500, TS_BASE + 11000, TS_BASE + 99000),
        "Answers seen by the client, partition: (beginning, end, offset for time): %r"
        % (got,),
        "A conforming broker answers end = 4, 3, 2 and offset-for-time = 2, 1, none "
        "(-1); Tansu 0.6.0 gets ListOffsets wrong (see ../README.md), so use these "
        "frames for decoding only, not as semantic references.")
    tansu.close()


def scenario_tansu_librdkafka(ctx):
    tansu = ctx.tansu()
    with ctx.capture(tansu.ports):
        r = run(["kcat", "-L", "-b", tansu.bootstrap, "-m", "2"], check=False, timeout=30)
    ctx.readme(
        "Tansu 0.6.0, client kcat 1.7.1 / librdkafka 2.0.2 (`kcat -L`).",
        "librdkafka cannot use Tansu: kcat exited %d with: %s" % (
            r.returncode, r.stderr.decode(errors="replace").strip().splitlines()[0:1]),
        "Kept as a reference of librdkafka's ApiVersions request and Tansu's answer.")
    tansu.close()


# ------------------------------------------------------------------ main

class Ctx:
    def __init__(self, args, name):
        self.args, self.name = args, name
        self.dir = os.path.join(args.out, name)
        os.makedirs(self.dir, exist_ok=True)
        for f in ("records.tsv", "README.md"):
            if os.path.exists(os.path.join(self.dir, f)):
                os.remove(os.path.join(self.dir, f))
        self.pcap = os.path.join(args.pcaps, name + ".pcap")
        self.ports = None
        self.readme_lines = []
        self.brokers = []

    def mock(self):
        self.brokers.append(MockCluster(self.args.launcher))
        return self.brokers[-1]

    def tansu(self):
        self.brokers.append(Tansu(self.args.tansu))
        return self.brokers[-1]

    def close_brokers(self):
        """Stops every broker of the scenario (idempotent; also on failure)."""
        for b in self.brokers:
            if b.p.poll() is None:
                b.close()

    def capture(self, ports):
        ctx = self

        class _C:
            def __enter__(self):
                ctx.ports = ports
                self.c = Capture(ctx.pcap, ports)

            def __exit__(self, *exc):
                self.c.stop()
        return _C()

    def records(self, topic, codec, recs, producer):
        write_records(os.path.join(self.dir, "records.tsv"), topic, codec, recs, producer)

    def readme(self, *lines):
        self.readme_lines = list(lines)

    def finish(self):
        n, summary = pcap_to_frames.write_fixtures(
            pcap_to_frames.exchanges(self.pcap, set(self.ports)), self.dir, self.args.max_per_key)
        with open(os.path.join(self.dir, "README.md"), "w") as f:
            f.write("# %s\n\n" % self.name)
            f.write("\n".join("- " + l for l in self.readme_lines) + "\n\n")
            f.write("Kept exchanges (api version x count): %s\n" % ", ".join(
                "%s x%d" % kv for kv in sorted(summary.items())))
            if os.path.exists(os.path.join(self.dir, "records.tsv")):
                f.write("\nProduced records: records.tsv (format in ../README.md).\n")
        print("%-24s %3d exchanges: %s" % (self.name, n, ", ".join(sorted(summary))), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--launcher", required=True)
    ap.add_argument("--tansu", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pcaps", default=None, help="keep pcaps here (default: temp dir)")
    ap.add_argument("--max-per-key", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    tmp = None
    if args.pcaps is None:
        tmp = tempfile.TemporaryDirectory(prefix="kafka-fixtures-")
        args.pcaps = tmp.name
    os.makedirs(args.pcaps, exist_ok=True)

    scenarios = []
    for c in CODECS:
        scenarios.append(("mock-codec-%s" % c, lambda ctx, c=c: scenario_mock_codec(ctx, c)))
    scenarios += [("mock-group", scenario_mock_group), ("mock-offsets", scenario_mock_offsets),
                  ("mock-errors", scenario_mock_errors)]
    for c in CODECS:
        scenarios.append(("tansu-codec-%s" % c, lambda ctx, c=c: scenario_tansu_codec(ctx, c)))
    scenarios += [("tansu-group", scenario_tansu_group),
                  ("tansu-offsets", scenario_tansu_offsets),
                  ("tansu-librdkafka", scenario_tansu_librdkafka)]

    for name, fn in scenarios:
        if args.only and name not in args.only:
            continue
        ctx = Ctx(args, name)
        try:
            fn(ctx)
        finally:
            ctx.close_brokers()
        ctx.finish()


if __name__ == "__main__":
    main()
