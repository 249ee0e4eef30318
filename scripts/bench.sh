#!/usr/bin/env bash
# The consumer benchmark in one command: this library's KafkaConsumer vs librdkafka's
# consumer on a librdkafka mock cluster (project issue 6).
#
#   bash scripts/bench.sh                       # full matrix: {100,1024} B x {1,4,16} partitions x {none,lz4,zstd}
#   bash scripts/bench.sh --sizes 100 --partitions 1,4 --codecs none --runs 1    # a quick run
#   BENCH_RUNS=5 bash scripts/bench.sh          # flags also come from BENCH_* variables
#
# Installs what it needs (scripts/install-deps.sh, matplotlib), builds the C programs and
# the Rust bench consumer in release mode, then runs scripts/bench.py with the arguments
# given. Results: bench/results/{results.md,results.json,plot.png}.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Installing dependencies"
bash scripts/install-deps.sh
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import matplotlib' 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check matplotlib
fi

step "Building (release)"
mkdir -p target/bench
# shellcheck disable=SC2046 # pkg-config prints several flags
RDKAFKA_FLAGS=$(pkg-config --cflags --libs rdkafka)
# The launcher is built as the test harness builds it (tests/src/mock_cluster.rs).
# shellcheck disable=SC2086
cc -std=c99 -D_GNU_SOURCE -O1 -Wall -o target/bench/mock-cluster-launcher \
    tests/mock-cluster/launcher.c $RDKAFKA_FLAGS
for prog in rdkafka_produce rdkafka_consume; do
    # shellcheck disable=SC2086
    cc -std=c99 -D_GNU_SOURCE -O2 -Wall -Wextra -o "target/bench/$prog" "bench/$prog.c" $RDKAFKA_FLAGS
done
cargo build --release -q -p consumer-net --example bench_consume

step "Running the benchmark (load: $(cut -d' ' -f1-3 /proc/loadavg))"
exec "$PY" scripts/bench.py "$@"
