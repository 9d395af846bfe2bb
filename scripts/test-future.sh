#!/usr/bin/env bash
# The database and end-to-end tests with the clock a year ahead: shows that no test depends on
# today's date (docs/testing.md). One command, about eight minutes (three of them the browser test,
# slow under libfaketime), not part of scripts/test.sh:
#
#   bash scripts/test-future.sh          FUTURE_DAYS=365 by default (FUTURE_DAYS=730, =-30, ...)
#
# 1. Installs what is missing (scripts/install.sh --faketime: Debian's libfaketime) and builds the
#    wasm when it is not there yet.
# 2. Copies the working tree (tracked and untracked files; not .local/, target/ or the git
#    metadata; node_modules/ is linked) to .local/future/repo, so the faked stack has its own
#    .local/ (database, Redis, env, logs) and never touches the normal stack's state.
# 3. As root, runs the rest in a new network namespace holding only a loopback (unshare --net):
#    the stack's fixed ports are free there even while the normal stack runs. Not as root, those
#    ports must be free.
# 4. Exports LD_PRELOAD=libfaketime and FAKETIME=+<FUTURE_DAYS>d, so everything started from here
#    runs on the shifted clock: PostgreSQL (initdb, postgres, pg_cron), Deno (functions router
#    and workers, fake Duffel / Stripe, Upstash gateway, pg_net worker, the tests), psql and
#    pg_prove. Redis alone runs on the real clock: libfaketime cannot start inside a program built
#    with jemalloc (libfaketime issue #130); Redis only keeps relative TTLs, set by the (faked)
#    Upstash gateway. Before testing it checks that date, PostgreSQL's now() and Deno's Date.now()
#    are all FUTURE_DAYS ahead.
# 5. Brings the stack up, runs pgTAP, `deno test tests/` and the browser test as scripts/test.sh
#    does, brings the stack down and ends with "future tests: N passed, M failed" (exit status 1 on any failure).
#    Logs stay in .local/future/repo/.local/logs/.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUTURE_DAYS="${FUTURE_DAYS:-365}"
LIBFAKETIME=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
# The pgTAP folders, relative to the repository root (scripts/test.sh runs the same).
PGTAP_DIRS=(supabase/tests tests/stack/sql)

die() {
  echo "test-future: $*" >&2
  exit 1
}
say() { echo "test-future: $*"; }

[[ "$FUTURE_DAYS" =~ ^-?[0-9]+$ ]] || die "FUTURE_DAYS must be a whole number of days"

# ------------------------------------------------------------------------------------------------
# Inside: in the copy, on the faked clock (and in the private network namespace when root).
# ------------------------------------------------------------------------------------------------
inside() {
  cd "$REPO" || exit 1
  export PATH="$HOME/.cargo/bin:$REPO/node_modules/.bin:$PATH"
  if [ "${FUTURE_NETNS:-}" = 1 ]; then ip link set lo up || die "could not bring up the loopback"; fi

  # Redis (and redis-cli) are built with jemalloc, which libfaketime cannot start in: wrappers
  # run them without it.
  local wrappers="$REPO/.local/future-bin" b
  mkdir -p "$wrappers"
  for b in redis-server redis-cli; do
    printf '#!/bin/sh\nexec env -u LD_PRELOAD %s "$@"\n' "$(command -v "$b")" >"$wrappers/$b"
    chmod +x "$wrappers/$b"
  done
  export PATH="$wrappers:$PATH"

  local real faked
  real=$(date +%s)
  export LD_PRELOAD="$LIBFAKETIME" FAKETIME="${FUTURE_DAYS#+}d" FAKETIME_DONT_FAKE_MONOTONIC=1
  [[ "$FAKETIME" == -* ]] || FAKETIME="+$FAKETIME"
  faked=$(date +%s)
  ahead() { # ahead WHAT SECONDS: SECONDS is FUTURE_DAYS days (give or take 2 minutes) after real
    local shift=$(($2 - real - FUTURE_DAYS * 86400))
    [ "${shift#-}" -le 120 ] || die "$1 is not $FUTURE_DAYS days ahead (off by $shift s)"
    say "$1: $(date -u -d "@$2" +%FT%TZ)"
  }
  ahead "date" "$faked"
  ahead "deno Date.now()" "$(deno eval 'console.log(Math.floor(Date.now() / 1000))')"

  mkdir -p .local/logs
  local summary=.local/logs/test-summary.txt failed_steps=()
  : >"$summary"
  bash scripts/stack.sh up || die "the stack did not come up (logs: $REPO/.local/logs)"
  trap 'bash scripts/stack.sh down >/dev/null 2>&1' EXIT
  ahead "postgres now()" "$(psql -X -At -h 127.0.0.1 -p 54322 -U postgres -d postgres \
    -c 'select extract(epoch from now())::bigint')"

  printf '\n== pgTAP\n'
  pg_prove -h 127.0.0.1 -p 54322 -U postgres -d postgres --ext .pg --ext .sql -r "${PGTAP_DIRS[@]}" 2>&1 |
    tee -a "$summary"
  [ "${PIPESTATUS[0]}" = 0 ] || failed_steps+=(pgTAP)
  set -a
  # shellcheck disable=SC1091
  . .local/env
  set +a
  printf '\n== deno test\n'
  deno test --quiet --allow-net=127.0.0.1,localhost --allow-env --allow-read --allow-run \
    --allow-write=.local tests/ 2>&1 | tee -a "$summary"
  [ "${PIPESTATUS[0]}" = 0 ] || failed_steps+=("deno test")
  # The ops dashboard in Chromium, as scripts/test.sh's "browser" step (the browser and its page
  # on the shifted clock too: libfaketime is preloaded into every process started from here).
  printf '\n== browser\n'
  deno test --quiet -A tests/browser/ops_dashboard.browser.ts 2>&1 | tee -a "$summary"
  [ "${PIPESTATUS[0]}" = 0 ] || failed_steps+=(browser)

  local passed failed pgtap
  passed=$(grep -oE '([0-9]+) passed' "$summary" | awk '{s+=$1} END {print s+0}')
  failed=$(grep -oE '([0-9]+) failed' "$summary" | awk '{s+=$1} END {print s+0}')
  pgtap=$(grep -oE 'Files=[0-9]+, Tests=[0-9]+' "$summary" | grep -oE 'Tests=[0-9]+' | cut -d= -f2 |
    awk '{s+=$1} END {print s+0}')
  passed=$((passed + pgtap))
  echo
  say "clock $FAKETIME: $(date -u +%FT%TZ); logs: $REPO/.local/logs"
  if [ ${#failed_steps[@]} -gt 0 ]; then
    echo "failed steps: ${failed_steps[*]}"
    [ "$failed" -gt 0 ] || failed=${#failed_steps[@]}
    echo "future tests: $passed passed, $failed failed"
    exit 1
  fi
  echo "future tests: $passed passed, $failed failed"
}

if [ "${1:-}" = --inside ]; then
  inside
  exit
fi

# ------------------------------------------------------------------------------------------------
# Outside: install, build, copy, then run `inside` in the copy.
# ------------------------------------------------------------------------------------------------
cd "$REPO" || exit 1
export PATH="$HOME/.cargo/bin:$REPO/node_modules/.bin:$PATH"
bash scripts/install.sh --faketime || die "install failed"
[ -r "$LIBFAKETIME" ] || die "$LIBFAKETIME not found after install"
if [ ! -f supabase/functions/_shared/wasm/search/booking_wasm_bg.wasm ]; then
  bash scripts/build-wasm.sh || die "wasm build failed"
fi

copy="$REPO/.local/future/repo"
if [ -d "$copy" ]; then # a previous run: stop what it may have left running, then start afresh
  bash "$copy/scripts/stack.sh" down >/dev/null 2>&1 || true
  pgdata="$(readlink -f "$copy/.local/pg" 2>/dev/null || true)"
  case "$pgdata" in /var/lib/parker-flight/*) rm -rf "$(dirname "$pgdata")" ;; esac
  rm -rf "$copy"
fi
mkdir -p "$copy"
say "copying the working tree to $copy"
{
  git ls-files -z --cached --others --exclude-standard
  find supabase/functions/_shared/wasm -type f -print0
  if [ -f supabase/functions/.env ]; then printf '%s\0' supabase/functions/.env; fi
} | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$copy" || die "copying the working tree failed"
ln -s "$REPO/node_modules" "$copy/node_modules"

if [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then
  say "running in a private network namespace, clock ${FUTURE_DAYS} days ahead"
  exec env FUTURE_NETNS=1 FUTURE_DAYS="$FUTURE_DAYS" unshare --net bash "$copy/scripts/test-future.sh" --inside
fi
say "no private network namespace (needs root): the stack's ports must be free"
exec env FUTURE_DAYS="$FUTURE_DAYS" bash "$copy/scripts/test-future.sh" --inside
