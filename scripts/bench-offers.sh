#!/usr/bin/env bash
# Benchmark: rows and bytes in flight_offers for one trip after SEARCHES searches (default 500) of
# OFFERS offers (default 200), against the running local stack (scripts/stack.sh up), through
# app.record_search (scripts/bench/offers_storage.sql); results go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SEARCHES="${SEARCHES:-500}"
OFFERS="${OFFERS:-200}"
eval "$(bash scripts/stack.sh env)"
start=$(date +%s)
psql "${SUPABASE_DB_URL:-postgresql://postgres:postgres@127.0.0.1:54322/postgres}" -X -q \
  -v searches="$SEARCHES" -v offers="$OFFERS" -f scripts/bench/offers_storage.sql
echo "took $(($(date +%s) - start)) s"
