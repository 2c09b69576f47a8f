#!/usr/bin/env bash
# The first command of the README: runs procgate on this machine with nothing configured.
# Installs what is missing, then `procgate demo`: a private PostgreSQL cluster with the job
# table and the demo procedures, the gateway on PORT (default 3000) with a printed token.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prereqs.sh
ensure_prereqs
exec cargo run --release --quiet -- demo
