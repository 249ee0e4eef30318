#!/usr/bin/env bash
# The README's test command: installs what the tests need (librdkafka-dev, kcat, the Tansu
# wheel, the Python clients, stunnel4, openssl and scramp for TLS/SASL), builds, and runs
# every test of the workspace: unit, property, golden, sans-IO scenario, network and
# broker-backed integration tests (TLS and SASL included), and doctests.
# Exits non-zero on any failure; a broker that cannot start fails its tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

export RUST_BACKTRACE=1
cargo test --workspace --all-targets
cargo test --workspace --doc
