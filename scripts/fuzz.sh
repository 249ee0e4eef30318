#!/usr/bin/env bash
# Runs the cargo-fuzz targets of consumer-core one after the other (see docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Defaults: 60 seconds each, targets response_decoders, record_batches, consumer_core and
# sasl_messages. Seeds are
# (re)written into fuzz/corpus/<target>/ first; the corpus the fuzzer grows is kept there
# between runs. Findings land in fuzz/artifacts/<target>/, logs in fuzz/logs/.
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use its nightly-only flags.
# SANITIZER=none (default address) builds without AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(response_decoders record_batches consumer_core sasl_messages)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

(cd fuzz && cargo run --quiet --bin seeds -- corpus)
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
    echo "== $t: ${secs}s"
    # rss/malloc limits: an allocation the input does not justify is a crash, not a swap storm.
    set +e
    RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "${SANITIZER:-address}" "$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -print_final_stats=1 2>&1 | tee "fuzz/logs/$t.log" |
        grep -E '^#[0-9]+.*(DONE|pulse)|^stat::|panicked|ERROR|SUMMARY'
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        echo "$t: fuzzer exited with $status; see fuzz/logs/$t.log and fuzz/artifacts/$t/" >&2
        exit "$status"
    fi
done
