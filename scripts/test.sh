#!/usr/bin/env bash
# The second command of the README, and what CI runs: the whole test suite.
# Formatting, lints (Oracle backend included), unit tests, and the behaviour tests, which start
# their own private PostgreSQL cluster (or use PROCGATE_TEST_DATABASE_URL if set).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prereqs.sh
ensure_prereqs
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets --all-features -- -D warnings"
cargo clippy --all-targets --all-features --quiet -- -D warnings
echo "== cargo test --all-features"
cargo test --all-features
