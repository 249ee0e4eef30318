#!/usr/bin/env python3
"""librdkafka's side of scripts/bench_groups.py: consumer-net/examples/group_timing.rs
on confluent-kafka 2.16 (librdkafka 2.16), with the same arguments and the same lines.

    group_timing.py <bootstrap> <topic> <group> [--protocol classic|consumer] [key=value ...]

Subscribes to <topic> in <group> with auto.offset.reset=earliest, client.id=group-timing,
group.protocol as given (default classic) and the extra properties (which win), then
consumes (100 ms timeout, up to 500 messages a call) until stdin says `stop` or closes, and
closes the consumer. One JSON line per event on stdout, each with `ms` (since start) and
`unix_ms`: start, subscribed, assigned / revoked / lost (partitions, owned), first_record,
gap (a partition silent for >= 50 ms between two records), counts (every 500 ms),
closing, closed.

The rebalance callbacks apply the change themselves: incrementally (incremental_assign /
incremental_unassign) under group.protocol=consumer and under the classic protocol with
cooperative-sticky, eagerly (assign / unassign, the whole set) otherwise -- what
librdkafka's rd_kafka_rebalance_protocol() reports for these configurations.
GROUP_TIMING_DEBUG=cgrp,... sets librdkafka's `debug` (log lines on stderr).
"""

import json
import os
import sys
import time

from stdin_stop import stop_on_stdin
from confluent_kafka import Consumer

GAP_S = 0.050
COUNTS_EVERY_S = 0.5
START = time.monotonic()


def ms(t=None):
    return ((time.monotonic() if t is None else t) - START) * 1000.0


def event(name, **fields):
    line = {"event": name, "ms": round(ms(), 3), "unix_ms": round(time.time() * 1000.0, 3)}
    line.update(fields)
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main():
    usage = ("usage: group_timing.py <bootstrap> <topic> <group> "
             "[--protocol classic|consumer] [key=value ...]")
    argv = sys.argv[1:]
    if len(argv) < 3:
        sys.exit(usage)
    bootstrap, topic, group = argv[:3]
    protocol, props, rest = "classic", {}, argv[3:]
    while rest:
        arg = rest.pop(0)
        if arg == "--protocol" and rest:
            protocol = rest.pop(0)
        elif "=" in arg:
            k, v = arg.split("=", 1)
            props[k] = v
        else:
            sys.exit(f"unexpected argument {arg!r}; {usage}")
    if protocol not in ("classic", "consumer"):
        sys.exit(f"--protocol must be classic or consumer, not {protocol!r}")
    event("start")
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": protocol,
        "client.id": "group-timing",
        "auto.offset.reset": "earliest",
    }
    conf.update(props)
    if os.environ.get("GROUP_TIMING_DEBUG"):
        conf["debug"] = os.environ["GROUP_TIMING_DEBUG"]
    incremental = protocol == "consumer" or conf.get("partition.assignment.strategy") == "cooperative-sticky"

    owned = set()

    def report(name, partitions):
        event(name, partitions=sorted(p.partition for p in partitions), owned=sorted(owned))

    def on_assign(c, partitions):
        if incremental:
            c.incremental_assign(partitions)
        else:
            c.assign(partitions)
        owned.update(p.partition for p in partitions)
        report("assigned", partitions)

    def release(c, partitions, name):
        if incremental:
            c.incremental_unassign(partitions)
        else:
            c.unassign()
        owned.difference_update(p.partition for p in partitions)
        report(name, partitions)

    def on_revoke(c, partitions):
        release(c, partitions, "revoked")

    def on_lost(c, partitions):
        release(c, partitions, "lost")

    stop = stop_on_stdin()

    consumer = Consumer(conf)
    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    event("subscribed")
    counts, last = {}, {}
    first = True
    next_counts = time.monotonic() + COUNTS_EVERY_S
    while not stop.is_set():
        msgs = consumer.consume(num_messages=500, timeout=0.1)
        now = time.monotonic()
        seen = []
        for m in msgs:
            if m.error():
                event("consume_error", error=str(m.error()))
                continue
            p = m.partition()
            if first:
                first = False
                event("first_record", partition=p)
            counts[p] = counts.get(p, 0) + 1
            if p not in seen:
                seen.append(p)
        for p in seen:
            if p in last and now - last[p] >= GAP_S:
                event("gap", partition=p, from_ms=round(ms(last[p]), 3), to_ms=round(ms(now), 3))
            last[p] = now
        if now >= next_counts:
            next_counts = now + COUNTS_EVERY_S
            event("counts", counts={str(p): n for p, n in sorted(counts.items())})
    event("closing")
    t = time.monotonic()
    try:
        consumer.close()
        event("closed", close_ms=round((time.monotonic() - t) * 1000.0, 3))
    except Exception as e:  # noqa: BLE001 - reported
        event("closed", close_ms=round((time.monotonic() - t) * 1000.0, 3), error=str(e))


if __name__ == "__main__":
    main()
