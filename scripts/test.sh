#!/usr/bin/env bash
# The README's test command: installs what the tests need (librdkafka-dev, kcat, the Tansu
# wheel, the Python clients, confluent-kafka's wheel with librdkafka 2.16 for the second
# mock cluster, stunnel4, openssl and scramp for TLS/SASL), builds, and runs
# every test of the workspace: unit, property, golden, sans-IO scenario, network and
# broker-backed integration tests (TLS and SASL included), and doctests. Both mock
# cluster launchers (librdkafka 2.0.2 and 2.16) are compiled by the tests on first use.
# Exits non-zero on any failure; a broker that cannot start fails its tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

export RUST_BACKTRACE=1
cargo test --workspace --all-targets
cargo test --workspace --doc
