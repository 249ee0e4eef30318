#!/usr/bin/env bash
# Install test prerequisites, then build and run every test in the workspace.
# Exits non-zero on any failure. (Skeleton: the lead extends it.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

export RUST_BACKTRACE=1
cargo test --workspace --all-targets
