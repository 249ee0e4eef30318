#!/usr/bin/env bash
# Demo: a throwaway 3-broker librdkafka mock cluster, 100 000 keyed records produced by a
# real producer (kcat, lz4), read back by this library's console consumer.
#
#   bash scripts/demo.sh            # RECORDS=... PARTITIONS=... override the sizes
#
# Installs what it needs (scripts/install-deps.sh), builds in release mode, and always
# stops the cluster on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS="${RECORDS:-100000}"
PARTITIONS="${PARTITIONS:-4}"
TOPIC=demo

step() { printf '\n==> %s\n' "$*"; }

step "Installing dependencies"
bash scripts/install-deps.sh

step "Building the mock cluster launcher and the console consumer (release)"
mkdir -p target/demo
# Same build as the test harness (tests/src/mock_cluster.rs).
# shellcheck disable=SC2046 # pkg-config prints several flags
cc -std=c99 -D_GNU_SOURCE -O1 -Wall -o target/demo/mock-cluster-launcher \
    tests/mock-cluster/launcher.c $(pkg-config --cflags --libs rdkafka)
cargo build --release -q -p consumer-net --example consume
CONSUME=target/release/examples/consume

WORK="$(mktemp -d)"
step "Starting a 3-broker mock cluster"
# A coprocess keeps the launcher's stdin open, so commands can be sent to it as we go.
coproc MOCK { exec target/demo/mock-cluster-launcher 3 2>"$WORK/mock-cluster.log"; }
# Bash forgets MOCK and MOCK_PID once the coprocess ends: keep copies.
MOCK_PROC="$MOCK_PID"
MOCK_IN="${MOCK[1]}"
MOCK_OUT="${MOCK[0]}"

stop_cluster() {
    step "Stopping the mock cluster"
    if kill -0 "$MOCK_PROC" 2>/dev/null; then
        echo quit 2>/dev/null >&"$MOCK_IN" || true
        for _ in $(seq 50); do
            kill -0 "$MOCK_PROC" 2>/dev/null || break
            sleep 0.1
        done
        kill "$MOCK_PROC" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    echo "stopped"
}
trap stop_cluster EXIT

# Sends one command and prints the value of its `OK [value]` answer.
mock() {
    local reply
    echo "$*" >&"$MOCK_IN"
    if ! IFS= read -r -t 30 reply <&"$MOCK_OUT"; then
        echo "demo: the mock cluster did not answer \`$*\`" >&2
        cat "$WORK/mock-cluster.log" >&2
        exit 1
    fi
    case "$reply" in
        OK*) echo "${reply#OK}" | sed 's/^ //' ;;
        *) echo "demo: mock cluster: \`$*\`: $reply" >&2; exit 1 ;;
    esac
}

IFS= read -r -t 30 banner <&"$MOCK_OUT" || { echo "demo: the mock cluster did not start" >&2; exit 1; }
BOOTSTRAP="${banner#BOOTSTRAP }"
mock create_topic "$TOPIC" "$PARTITIONS" 1 >/dev/null
# librdkafka 2.0.2's mock encodes ListOffsets v4+ answers wrongly (an 8-byte leader epoch):
# advertise up to v3, which it gets right.
mock apiversion 2 0 3 >/dev/null
echo "brokers: $BOOTSTRAP; topic $TOPIC with $PARTITIONS partitions"

step "Producing $RECORDS keyed records with kcat (lz4)"
awk -v n="$RECORDS" 'BEGIN {
    for (i = 0; i < n; i++)
        printf "user-%d:{\"id\":%d,\"event\":\"click\",\"page\":\"/products/%d\",\"ms\":%d}\n", i % 1000, i, i % 97, i * 7
}' >"$WORK/records.txt"
start=$(date +%s.%N)
kcat -P -q -b "$BOOTSTRAP" -t "$TOPIC" -K: -z lz4 -X linger.ms=20 <"$WORK/records.txt"
end=$(date +%s.%N)
awk -v n="$RECORDS" -v s="$start" -v e="$end" 'BEGIN { printf "produced %d records in %.2f s\n", n, e - s }'

# The mock cluster keeps only the newest part of each partition's log: count what is
# still readable from the beginning, so --max-messages is always reachable.
AVAILABLE="$(kcat -C -q -b "$BOOTSTRAP" -t "$TOPIC" -o beginning -e -f '.\n' | wc -l)"
echo "kcat reads back $AVAILABLE of $RECORDS records from the beginning"
if [ "$AVAILABLE" -lt "$RECORDS" ]; then
    echo "(the mock cluster evicted the oldest $((RECORDS - AVAILABLE)) records)"
fi

step "A peek: the first 3 records of partition 0 (--format json)"
"$CONSUME" --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" --partition 0 \
    --from-beginning --max-messages 3 --format json

step "Consuming all $AVAILABLE records with the console consumer"
echo "\$ consume --bootstrap-server $BOOTSTRAP --topic $TOPIC --from-beginning --max-messages $AVAILABLE --format none --progress"
# --timeout-ms ends the run even if a record went missing.
"$CONSUME" --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" --from-beginning \
    --max-messages "$AVAILABLE" --timeout-ms 15000 --format none --progress
