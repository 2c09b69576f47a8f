#!/usr/bin/env bash
# The first command of the README: runs procgate on this machine with nothing configured.
# Installs what is missing, builds procgate in release mode (cargo's own progress shows: the
# first build takes a few minutes), then runs the built binary's `procgate demo`: a private
# PostgreSQL cluster with the job table and the demo procedures, the gateway on PORT (default
# 3000) with a printed token. The environment passes through (PORT, HOST, API_TOKENS, ...).
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prereqs.sh
ensure_prereqs
echo "building procgate (release mode; the first time takes a few minutes)..." >&2
cargo build --release --bin procgate
# Where cargo put it: honours CARGO_TARGET_DIR and cargo's own configuration.
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import sys,json; print(json.load(sys.stdin)["target_directory"])')
exec "$target_dir/release/procgate" demo
