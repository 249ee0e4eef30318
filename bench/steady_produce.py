#!/usr/bin/env python3
"""A steady stream of records for scripts/bench_groups.py (confluent-kafka 2.16).

    steady_produce.py <bootstrap> <topic> <partitions> <up_front_per_partition> <rate_per_partition>

Produces <up_front_per_partition> records to every partition, waits for their delivery and
prints `READY <n>`; then keeps producing <rate_per_partition> records a second to every
partition (100-byte values, linger.ms=1) until stdin closes or says `stop`, and prints
`DONE <n>` (records delivered in all). A rate of 0 exits after the up-front records.
"""

import sys
import time

from stdin_stop import stop_on_stdin
from confluent_kafka import Producer


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    bootstrap, topic = sys.argv[1], sys.argv[2]
    parts, up_front, rate = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    delivered, failed = [0], [0]

    def on_delivery(err, _msg):
        if err:
            failed[0] += 1
        else:
            delivered[0] += 1

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1, "client.id": "steady-produce"})
    value = b"x" * 100
    for i in range(up_front):
        for part in range(parts):
            while True:
                try:
                    p.produce(topic, value=value, key=b"k%d" % i, partition=part, on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.05)
        p.poll(0)
    p.flush(60)
    if failed[0]:
        sys.exit(f"steady_produce: {failed[0]} deliveries failed")
    print(f"READY {delivered[0]}", flush=True)
    if rate <= 0:
        return
    stop = stop_on_stdin()
    period, i = 1.0 / rate, 0
    next_t = time.monotonic()
    while not stop.is_set():
        for part in range(parts):
            try:
                p.produce(topic, value=value, key=b"s%d" % i, partition=part, on_delivery=on_delivery)
            except BufferError:  # the local queue is full (brokers gone?): drop this one
                p.poll(0.01)
        i += 1
        next_t += period
        delay = next_t - time.monotonic()
        p.poll(max(0.0, delay))
        if delay < -1.0:  # fell far behind (a busy machine): do not burst to catch up
            next_t = time.monotonic()
    p.flush(10)
    print(f"DONE {delivered[0]}", flush=True)


if __name__ == "__main__":
    main()
