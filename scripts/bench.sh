#!/usr/bin/env bash
# The consumer benchmark in one command: this library's KafkaConsumer vs librdkafka's
# consumer on a librdkafka mock cluster (project issue 6).
#
#   bash scripts/bench.sh                       # full matrix: {100,1024} B x {1,4,16} partitions x {none,lz4,zstd}
#   bash scripts/bench.sh --sizes 100 --partitions 1,4 --codecs none --runs 1    # a quick run
#   BENCH_RUNS=5 bash scripts/bench.sh          # flags also come from BENCH_* variables
#
#   bash scripts/bench.sh --tls                 # the TLS bench (issue 14): ours and librdkafka
#                                               # 2.16, plaintext and through stunnel, on Tansu
#   bash scripts/bench.sh --tls --runs 1        # quick (under a minute once built)
#   bash scripts/bench.sh --tls --skip-ours-tls # before consumer-net has TLS: the other 3 cells
#   bash scripts/bench.sh --tls --terminator nginx  # nginx (stream module) instead of stunnel;
#                                               # installs nginx-light + libnginx-mod-stream
#
#   bash scripts/bench.sh --scale               # many partitions (issue 16): 16 to 10 000
#                                               # partitions, 3 000 idle ones, a group of 3 000
#                                               # that two members join (~8 min)
#   bash scripts/bench.sh --scale --cases scale --partitions 16,3000 --records 300000 --runs 1   # quick
#
#   bash scripts/bench.sh --groups              # consumer groups (issue 17): ours and librdkafka
#                                               # 2.16, classic (default assignors, cooperative-
#                                               # sticky) and consumer protocol, on the 2.16 mock:
#                                               # subscribe -> first record, a member joining (~10 min)
#   bash scripts/bench.sh --groups --runs 1 --cells consumer     # quick
#
# Installs what it needs (scripts/install-deps.sh, matplotlib), builds the C programs and
# the Rust bench consumer in release mode, then runs scripts/bench.py with the arguments
# given. Results: bench/results/{results.md,results.json,plot.png}. With --tls (first
# argument; install-deps.sh brings stunnel4 and openssl): builds
# bench/rdkafka_{produce,consume}.c against the librdkafka 2.16 bundled in the
# confluent-kafka wheel and bench/connect_redirect.c, then runs scripts/bench_tls.py;
# results: bench/results/{tls.md,tls.json} (tls-nginx.* with --terminator nginx). With
# --scale (first argument): the same build as the default, then scripts/bench_scale.py;
# results: bench/results/scale/{scale.md,scale.json,scale.png}. With --groups (first
# argument): builds tests/mock-cluster/launcher.c against the confluent-kafka wheel's
# librdkafka 2.16 (as the test harness does: a copy under its SONAME beside the launcher,
# rpath $ORIGIN) and the group_timing example, then runs scripts/bench_groups.py (librdkafka's
# member is bench/group_timing.py); results: bench/results/groups/{groups.md,groups.json}.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

TLS=0
SCALE=0
GROUP_BENCH=0
if [ "${1:-}" = "--tls" ]; then
    TLS=1
    shift
elif [ "${1:-}" = "--scale" ]; then
    SCALE=1
    shift
elif [ "${1:-}" = "--groups" ]; then
    GROUP_BENCH=1
    shift
fi

step "Installing dependencies"
bash scripts/install-deps.sh
PY="${PYTHON:-python3}"

# The librdkafka 2.16 the confluent-kafka wheel bundles (under a unique soname).
rdkafka_216_so() {
    "$PY" -c 'import confluent_kafka, glob, os
libs = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(confluent_kafka.__file__))), "confluent_kafka.libs")
print(sorted(glob.glob(os.path.join(libs, "librdkafka-*.so*")))[0])'
}

if [ "$TLS" = 1 ]; then
    # nginx only when the TLS bench is asked to use it (--terminator nginx).
    TERMINATOR="${BENCH_TLS_TERMINATOR:-stunnel}"
    prev=""
    for arg in "$@"; do
        case "$arg" in
            --terminator=*) TERMINATOR="${arg#--terminator=}" ;;
            *) [ "$prev" = "--terminator" ] && TERMINATOR="$arg" ;;
        esac
        prev="$arg"
    done
    if [ "$TERMINATOR" = nginx ] && ! dpkg -s nginx-light libnginx-mod-stream >/dev/null 2>&1 \
        && ! [ -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
        step "Installing nginx (stream module) for --terminator nginx"
        SUDO=""
        [ "$(id -u)" != 0 ] && SUDO="sudo"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light libnginx-mod-stream
    fi
fi

if [ "$TLS" = 1 ]; then
    step "Building (release, against librdkafka 2.16 from confluent-kafka)"
    mkdir -p target/bench-tls
    # Debian's librdkafka 2.0.2 cannot talk to Tansu; the confluent-kafka wheel bundles
    # librdkafka 2.16 (built with OpenSSL) under a unique soname. Compile against
    # Debian's headers, link that file, and find it at run time through an rpath.
    RDKAFKA_SO=$(rdkafka_216_so)
    RDKAFKA_DIR=$(dirname "$RDKAFKA_SO")
    for prog in rdkafka_produce rdkafka_consume; do
        # shellcheck disable=SC2046 # pkg-config prints several flags
        cc -std=c99 -D_GNU_SOURCE -O2 -Wall -Wextra -o "target/bench-tls/$prog" "bench/$prog.c" \
            $(pkg-config --cflags rdkafka) "$RDKAFKA_SO" -Wl,-rpath,"$RDKAFKA_DIR"
    done
    cc -shared -fPIC -O2 -Wall -Wextra -o target/bench-tls/connect_redirect.so bench/connect_redirect.c -ldl
    cargo build --release -q -p consumer-net --example bench_consume

    step "Running the TLS benchmark (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    exec "$PY" scripts/bench_tls.py "$@"
fi

if [ "$GROUP_BENCH" = 1 ]; then
    step "Building (release; the mock cluster against librdkafka 2.16 from confluent-kafka)"
    mkdir -p target/bench-groups
    RDKAFKA_SO=$(rdkafka_216_so)
    # The launcher loads the library by its SONAME: copy it beside the launcher under
    # that name and find it through $ORIGIN (tests/src/mock_cluster.rs does the same).
    SONAME=$(readelf -d "$RDKAFKA_SO" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    SONAME="${SONAME:-$(basename "$RDKAFKA_SO")}"
    cp "$RDKAFKA_SO" "target/bench-groups/$SONAME"
    # shellcheck disable=SC2046,SC2016 # pkg-config prints several flags; $ORIGIN is literal
    cc -std=c99 -D_GNU_SOURCE -O1 -Wall -o target/bench-groups/mock-cluster-launcher \
        tests/mock-cluster/launcher.c $(pkg-config --cflags rdkafka) \
        -Ltarget/bench-groups "-l:$SONAME" -Wl,-rpath,'$ORIGIN'
    cargo build --release -q -p consumer-net --example group_timing

    step "Running the consumer-group benchmark (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    exec "$PY" scripts/bench_groups.py "$@"
fi

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

if [ "$SCALE" = 1 ]; then
    step "Running the many-partitions benchmark (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    exec "$PY" scripts/bench_scale.py "$@"
fi

step "Running the benchmark (load: $(cut -d' ' -f1-3 /proc/loadavg))"
exec "$PY" scripts/bench.py "$@"
