#!/usr/bin/env bash
# Runs every test: installs what is missing, checks formatting and lints (Rust and Deno), runs the
# core's tests natively, builds the wasm, brings the local stack up (and down again if this script
# started it), then pgTAP (supabase/tests, tests/stack/sql), the stack stand-ins' tests, the fakes'
# tests and the end-to-end tests. scripts/test-future.sh runs the DB and end-to-end part with the
# clock a year ahead (docs/testing.md). Last: actionlint on the workflows, the offline dependency
# audit and the core's line coverage against its threshold.
# Ends with one line "tests: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"
mkdir -p .local/logs
summary=.local/logs/test-summary.txt
: > "$summary"
failed_steps=()

step() { printf '\n== %s\n' "$1"; }
run() { # run <name> <cmd...>: runs a step, remembers a failure, keeps going
  local name=$1; shift
  step "$name"
  if "$@"; then return 0; fi
  failed_steps+=("$name")
  return 1
}
counted() { # counted <cmd...>: runs a command, copying its output into the summary
  "$@" 2>&1 | tee -a "$summary"
  return "${PIPESTATUS[0]}"
}

bash scripts/install.sh || { echo "install failed" >&2; exit 1; }

run "cargo fmt" cargo fmt --all -- --check
run "cargo clippy" cargo clippy --quiet --workspace --all-targets -- -D warnings
pure_core() { # the core's dependency tree holds no JS bindings, randomness or I/O crates
  local bad
  bad=$(cargo tree -p booking-core -e normal --prefix none |
    grep -E '^(wasm-bindgen|js-sys|web-sys|getrandom|rand|tokio|reqwest|hyper|mio|socket2) ' || true)
  [ -z "$bad" ] || { echo "booking-core depends on: $bad"; return 1; }
  echo "booking-core's dependency tree is pure"
}
run "pure core" pure_core
run "cargo doc" env RUSTDOCFLAGS=-Dwarnings cargo doc --quiet --workspace --no-deps
ts_types() { # the TypeScript types of the wasm boundary are the ones the Rust types generate
  local dir=supabase/functions/_shared/types
  rm -rf "$dir"
  cargo test --quiet -p booking-core --features ts --lib export_bindings >/dev/null || return 1
  if [ -n "$(git status --porcelain -- "$dir")" ]; then
    git status --short -- "$dir"
    echo "generated types differ from the committed ones: commit $dir"
    return 1
  fi
  echo "generated TypeScript types are current ($(ls "$dir" | wc -l) files)"
}
run "ts types" ts_types
no_secrets_in_core() { # no provider credential is named in the core, the binding or core.ts
  local hits
  hits=$(grep -rnE 'access_token|secret_key|duffelToken|upstashToken|stripeKey|_ACCESS_TOKEN|_SECRET_KEY|REST_TOKEN' \
    crates/booking-core/src crates/booking-wasm/src supabase/functions/_shared/core.ts |
    grep -v 'is_err()' || true)
  [ -z "$hits" ] || { echo "credentials named in the core: $hits"; return 1; }
  echo "no provider credential reaches the wasm module"
}
run "no secrets in core" no_secrets_in_core
run "cargo test" counted cargo test --quiet --workspace -- --skip money_safety_holds_under
# The deterministic simulation separately, so its summary line shows in the output.
run "simulation" counted cargo test --quiet -p booking-core --test simulation -- --nocapture
run "build wasm" bash scripts/build-wasm.sh || { echo "wasm build failed; stopping" >&2; exit 1; }
run "deno fmt" deno fmt --check
run "deno lint" deno lint
run "deno check" deno check supabase/functions/*/index.ts scripts tests
run "deno check (ops page)" deno check web/ops/app.js

started_stack=0
if ! bash scripts/stack.sh running >/dev/null 2>&1; then started_stack=1; fi
run "stack up" bash scripts/stack.sh up || { echo "stack did not come up" >&2; exit 1; }
if [ "$started_stack" = 1 ]; then trap 'bash scripts/stack.sh down >/dev/null 2>&1' EXIT; fi

# pgTAP: supabase/tests/ is what `supabase test db` runs (same discovery: -r, .pg and .sql files);
# tests/stack/sql/ tests the local stand-ins (bootstrap) and the seed, and runs here only.
pgtap() { pg_prove -h 127.0.0.1 -p 54322 -U postgres -d postgres --ext .pg --ext .sql -r "$@"; }
run "pgTAP" counted pgtap supabase/tests
run "pgTAP (stand-ins, seed)" counted pgtap tests/stack/sql
set -a; . .local/env; set +a
run "deno test" counted deno test --quiet --allow-net=127.0.0.1,localhost --allow-env --allow-read \
  --allow-run --allow-write=.local tests/
# The ops dashboard in headless Chromium (Debian's chromium, playwright-core): its own step
# because playwright needs -A (it reads /proc and the home directory); screenshots go to
# .local/artifacts/ops-dashboard/.
run "browser" counted deno test --quiet -A tests/browser/ops_dashboard.browser.ts

# CI/CD and supply chain: the workflows (actionlint), the dependency audit that works offline
# (scripts/audit.sh; CI adds --online on GitHub) and the core's line coverage against its threshold.
run "actionlint" bash scripts/lint-workflows.sh
run "dependency audit" bash scripts/audit.sh
run "coverage" bash scripts/coverage.sh --lcov .local/coverage/lcov.info

passed=$(grep -oE '([0-9]+) passed' "$summary" | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '([0-9]+) failed' "$summary" | awk '{s+=$1} END {print s+0}')
pgtap=$(grep -oE 'Files=[0-9]+, Tests=[0-9]+' "$summary" | grep -oE 'Tests=[0-9]+' | cut -d= -f2 | awk '{s+=$1} END {print s+0}')
passed=$((passed + pgtap))
if [ ${#failed_steps[@]} -gt 0 ]; then
  printf '\nfailed steps: %s\n' "${failed_steps[*]}"
  [ "$failed" -gt 0 ] || failed=${#failed_steps[@]}
  echo "tests: $passed passed, $failed failed"
  exit 1
fi
echo
echo "tests: $passed passed, $failed failed"
