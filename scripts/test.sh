#!/usr/bin/env bash
# The second command of the README, and what CI runs: the whole test suite.
# Formatting, lints (Oracle backend included), every Oracle statement parsed by a PL/SQL grammar
# (scripts/check-oracle-sql; needs node and npm), unit tests, and the behaviour tests, which start
# their own private PostgreSQL cluster (or use PROCGATE_TEST_DATABASE_URL if set); among them the
# dashboard's, in Debian's chromium driven by playwright-core (tools/ui-test, installed here);
# then scripts/api-fuzz: schemathesis checks the live gateway against its OpenAPI document.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prereqs.sh
ensure_prereqs
ensure_test_prereqs
npm_ci_when_changed tools/ui-test "the dashboard test's playwright-core"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets --all-features -- -D warnings"
cargo clippy --all-targets --all-features --quiet -- -D warnings
echo "== scripts/module-graph (layers import one way)"
scripts/module-graph
echo "== scripts/check-oracle-sql"
scripts/check-oracle-sql
echo "== cargo test --all-features"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-features 2>&1 | tee "$log"
echo "== scripts/api-fuzz (schemathesis against GET /openapi.json on a live gateway)"
scripts/api-fuzz
# One closing line over every test binary; tests that reported SKIPPED (the Oracle live suite
# without PROCGATE_TEST_ORACLE_URL) are counted as skipped, not passed.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     { s += gsub(/SKIPPED: /, "") }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s }' "$log"
