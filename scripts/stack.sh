#!/usr/bin/env bash
# The local Supabase-like stack (no Docker): real PostgreSQL 15 (pg_cron, pgTAP), Redis 7 and Deno,
# plus stand-ins for what cannot run here (functions router, Upstash REST gateway, pg_net worker,
# fake providers). Ports and env names: docs/contracts.md. State: .local/ (git-ignored).
#
#   bash scripts/stack.sh up       start whatever is not running (idempotent), in dependency order
#   bash scripts/stack.sh down     stop what this script started (by pid file; idempotent)
#   bash scripts/stack.sh status   URLs, keys and a fresh JWT for the local test user
#   bash scripts/stack.sh env      the environment, for `eval "$(bash scripts/stack.sh env)"`
#   bash scripts/stack.sh psql     psql on the stack database (extra arguments are passed on)
#   bash scripts/stack.sh running  exit status 0 when every part is up (quiet)
#
# Parts, in start order: postgres (:54322; then bootstrap.sql and `supabase db push`), redis
# (:54379), upstash (gateway :54380), pg-net-worker, fake-duffel/-stripe/-resend (:54391-54393,
# when tests/fakes/<name>.ts exists), router (:54321). Logs: .local/logs/<part>.log.
# Environment knobs: STACK_BOOTSTRAP_SQL (path of the bootstrap SQL), STACK_WAIT_SECONDS (default 60).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$REPO/.local"
RUN="$LOCAL/run"
LOGS="$LOCAL/logs"
ENV_FILE="$LOCAL/env"
FUNCTIONS_ENV="$REPO/supabase/functions/.env"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
DENO="$REPO/node_modules/.bin/deno"
SUPABASE_CLI="$REPO/node_modules/.bin/supabase"
BOOTSTRAP_SQL="${STACK_BOOTSTRAP_SQL:-$REPO/scripts/stack/sql/bootstrap.sql}"
WAIT_SECONDS="${STACK_WAIT_SECONDS:-60}"

PG_PORT=54322
REDIS_PORT=54379
UPSTASH_PORT=54380
ROUTER_PORT=54321
DB_URL="postgresql://postgres:postgres@127.0.0.1:$PG_PORT/postgres"
FAKES=("duffel:54391" "stripe:54392" "resend:54393")

die() {
  echo "stack: $*" >&2
  exit 1
}
line() { printf '%-14s %s\n' "$1" "$2"; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as the cluster owner: `postgres` when we are root (initdb refuses root), else us.
as_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# alive PID: the process exists and is not a zombie (killed daemons whose parent does not reap
# them stay <defunct>, and kill -0 would still succeed on those).
alive() {
  local pid="$1" stat
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != "Z" ]
}

# cmdline_has PID TEXT: the process's command line contains TEXT (guards against pid reuse).
cmdline_has() {
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for DESCRIPTION COMMAND...: retry COMMAND every 0.1 s for up to WAIT_SECONDS.
wait_for() {
  local what="$1" i
  shift
  for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

pidfile_pid() { [ -f "$RUN/$1.pid" ] && tr -dc '0-9' <"$RUN/$1.pid" || true; }

# part_running NAME MATCH [PORT]: pid file names a live process whose command line contains MATCH
# and (when PORT is given) the port accepts connections.
part_running() {
  local pid
  pid="$(pidfile_pid "$1")"
  alive "$pid" && cmdline_has "$pid" "$2" || return 1
  [ -z "${3:-}" ] || port_open "$3"
}

load_env() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE is missing: run \`bash scripts/stack.sh up\` first"
  set -a
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  set +a
}

# Export KEY=value lines of a dotenv file (supabase/functions/.env) on top of the environment.
# Prints them as shell lines too when $1 is "print".
load_dotenv() {
  local mode="${1:-}" raw k v
  [ -f "$FUNCTIONS_ENV" ] || return 0
  while IFS= read -r raw || [ -n "$raw" ]; do
    raw="${raw#"${raw%%[![:space:]]*}"}"
    [[ -z "$raw" || "$raw" == \#* || "$raw" != *=* ]] && continue
    raw="${raw#export }"
    k="${raw%%=*}"
    v="${raw#*=}"
    [[ "$k" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    if [[ ${#v} -ge 2 && ( ("$v" == \"*\") || ("$v" == \'*\') ) ]]; then
      v="${v:1:${#v}-2}"
    fi
    export "$k=$v"
    if [ "$mode" = print ]; then
      printf "export %s='%s'\n" "$k" "${v//\'/\'\\\'\'}"
    fi
  done <"$FUNCTIONS_ENV"
}

# ------------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------------

# Resolve the data directory (sets PGDATA to the real path). With "create", choose it on first
# use: .local/pg, or /var/lib/parker-flight/<hash>/pg (symlinked from .local/pg) when root and
# the postgres user cannot reach the checkout.
pg_datadir() {
  local link="$LOCAL/pg" hash
  if [ -L "$link" ] || [ -d "$link" ]; then
    PGDATA="$(readlink -f "$link")"
    return
  fi
  if [ "${1:-}" != create ]; then
    PGDATA="$link"
    return
  fi
  if is_root && ! runuser -u postgres -- test -x "$LOCAL" 2>/dev/null; then
    # The checkout is not reachable by the postgres user (e.g. under a 0700 mktemp dir).
    hash="$(printf '%s' "$REPO" | sha256sum | cut -c1-16)"
    PGDATA="/var/lib/parker-flight/$hash/pg"
    install -d -m 755 "/var/lib/parker-flight" "/var/lib/parker-flight/$hash"
    ln -s "$PGDATA" "$link"
  else
    PGDATA="$link"
  fi
}

pg_running() {
  [ -f "$PGDATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 &&
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
}

pg_init() {
  local pwfile
  if is_root; then
    install -d -o postgres -g postgres -m 700 "$PGDATA"
  else
    install -d -m 700 "$PGDATA"
  fi
  pwfile="$(mktemp)"
  printf 'postgres\n' >"$pwfile"
  if is_root; then chown postgres "$pwfile"; fi
  if ! as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --pwfile="$pwfile" \
    --encoding=UTF8 --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1; then
    rm -f "$pwfile"
    tail -n 20 "$LOGS/initdb.log" >&2
    die "initdb failed (log: $LOGS/initdb.log)"
  fi
  rm -f "$pwfile" "$RUN/db.applied" "$RUN/login-role.applied"
  echo "include 'parker.conf'" | as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
}

pg_configure() {
  local sockdir="$PGDATA"
  # Unix socket paths are limited to 107 bytes; fall back to TCP only for very deep checkouts.
  if [ $((${#PGDATA} + 16)) -gt 100 ]; then sockdir=""; fi
  as_pg tee "$PGDATA/parker.conf" >/dev/null <<EOF
# Written by scripts/stack.sh on every start; edit the script, not this file.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sockdir'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
timezone = 'UTC'
log_timezone = 'UTC'
EOF
}

pg_up() {
  pg_datadir create
  if pg_running; then
    line postgres "already running  $DB_URL"
  else
    if [ -f "$PGDATA/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
    then
      die "PostgreSQL is running from $PGDATA but does not answer on $PG_PORT"
    fi
    if port_open "$PG_PORT"; then
      die "port $PG_PORT is taken by another process; stop it first"
    fi
    [ -x "$PGBIN/initdb" ] || die "PostgreSQL 15 not found in $PGBIN: run bash scripts/install.sh"
    [ -f "$PGDATA/PG_VERSION" ] || pg_init
    pg_configure
    ln -sfn "$PGDATA/server.log" "$LOGS/postgres.log"
    if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t "$WAIT_SECONDS" \
      start >/dev/null 2>&1 9>&-; then
      tail -n 20 "$PGDATA/server.log" >&2 || true
      die "PostgreSQL did not start (log: $LOGS/postgres.log)"
    fi
    wait_for postgres pg_isready -q -h 127.0.0.1 -p "$PG_PORT" ||
      die "PostgreSQL does not answer on $PG_PORT (log: $LOGS/postgres.log)"
    line postgres "started          $DB_URL"
  fi
  db_apply
}

# Apply bootstrap.sql and the migrations when either changed since the last successful run.
db_apply() {
  local stamp
  [ -f "$BOOTSTRAP_SQL" ] || die "$BOOTSTRAP_SQL not found"
  stamp="$( {
    sha256sum "$BOOTSTRAP_SQL" | cut -d' ' -f1
    find "$REPO/supabase/migrations" -maxdepth 1 -name '*.sql' -type f -print0 2>/dev/null |
      sort -z | xargs -0r sha256sum
  } | sha256sum | cut -d' ' -f1)"
  if [ -f "$RUN/db.applied" ] && [ "$(cat "$RUN/db.applied")" = "$stamp" ]; then
    line database "up to date"
    return
  fi
  rm -f "$RUN/db.applied"
  if ! PGPASSWORD=postgres psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -d postgres -f "$BOOTSTRAP_SQL" >"$LOGS/bootstrap.log" 2>&1; then
    tail -n 20 "$LOGS/bootstrap.log" >&2
    die "bootstrap SQL failed (log: $LOGS/bootstrap.log)"
  fi
  [ -x "$SUPABASE_CLI" ] || die "Supabase CLI missing: run bash scripts/install.sh"
  if ! (cd "$REPO" && "$SUPABASE_CLI" db push --db-url "$DB_URL" --yes) \
    >"$LOGS/migrations.log" 2>&1 </dev/null; then
    tail -n 20 "$LOGS/migrations.log" >&2
    die "supabase db push failed (log: $LOGS/migrations.log)"
  fi
  echo "$stamp" >"$RUN/db.applied"
  line database "bootstrap + migrations applied ($(find "$REPO/supabase/migrations" -maxdepth 1 \
    -name '*.sql' -type f 2>/dev/null | wc -l) migration files)"
}

# ------------------------------------------------------------------------------------------------
# Local Vault secrets (after the migrations): project_url, monitor_key, traveler_data_key
# ------------------------------------------------------------------------------------------------

# TRAVELER_DATA_KEY encrypts travelers.pii: generated once into .local/env (env.ts does it for a
# new env; older env files get it appended here), never regenerated.
ensure_traveler_key() {
  if ! grep -q '^RESEND_WEBHOOK_SECRET=' "$ENV_FILE"; then
    printf 'RESEND_WEBHOOK_SECRET=whsec_%s\n' "$(head -c 24 /dev/urandom | base64 | tr -d '\n')" >>"$ENV_FILE"
    line env "added RESEND_WEBHOOK_SECRET to $ENV_FILE"
  fi
  if ! grep -q '^TRAVELER_DATA_KEY=' "$ENV_FILE"; then
    printf 'TRAVELER_DATA_KEY=%s\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >>"$ENV_FILE"
    line env "added TRAVELER_DATA_KEY to $ENV_FILE"
  fi
}

# STRIPE_WEBHOOK_SECRET / STRIPE_WEBHOOK_URL (stripe-webhook and the fake Stripe's deliveries):
# generated by env.ts for a new env, appended here to older env files.
ensure_stripe_webhook_env() {
  if ! grep -q '^STRIPE_WEBHOOK_SECRET=' "$ENV_FILE"; then
    printf 'STRIPE_WEBHOOK_SECRET=whsec_%s\nSTRIPE_WEBHOOK_URL=http://127.0.0.1:%s/functions/v1/stripe-webhook\n' \
      "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" "$ROUTER_PORT" >>"$ENV_FILE"
    line env "added STRIPE_WEBHOOK_SECRET to $ENV_FILE"
  fi
}

# Upsert the Vault secrets the migrations read (scripts/stack/sql/vault_seed.sql reads the values
# from the environment with \getenv: nothing secret on a command line or in a log).
vault_seed() {
  local changed
  ensure_traveler_key
  load_env
  if ! changed="$(PGPASSWORD=postgres psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 \
    -p "$PG_PORT" -U postgres -d postgres -f "$REPO/scripts/stack/sql/vault_seed.sql" \
    2>"$LOGS/vault-seed.log")"; then
    tail -n 20 "$LOGS/vault-seed.log" >&2
    die "seeding the local Vault failed (log: $LOGS/vault-seed.log)"
  fi
  if [ "$changed" = 0 ]; then
    line vault "up to date"
  else
    line vault "seeded $changed secret(s): project_url, monitor_key, traveler_data_key"
  fi
}

# The functions' login role (migration 20261201000300) gets its password from .local/env; older env
# files get PIPELINE_DB_PASSWORD / PIPELINE_DB_URL appended first. SUPABASE_DB_URL stays the
# superuser URL for tools and tests; the functions read PIPELINE_DB_URL.
login_role_password() {
  local pw stamp has
  if ! grep -q '^PIPELINE_DB_PASSWORD=' "$ENV_FILE"; then
    pw="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
    printf 'PIPELINE_DB_PASSWORD=%s\nPIPELINE_DB_URL=%s\n' "$pw" \
      "postgresql://pipeline_functions:$pw@127.0.0.1:$PG_PORT/postgres" >>"$ENV_FILE"
    line env "added PIPELINE_DB_URL to $ENV_FILE"
  fi
  load_env
  # Set it when the role has none yet or the env's password changed (a stamp of its hash).
  stamp="$(printf '%s' "$PIPELINE_DB_PASSWORD" | sha256sum | cut -d' ' -f1)"
  has="$(PGPASSWORD=postgres psql -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
    -c "select rolpassword is not null from pg_authid where rolname = 'pipeline_functions'" \
    2>/dev/null || true)"
  if [ "$has" = t ] && [ -f "$RUN/login-role.applied" ] &&
    [ "$(cat "$RUN/login-role.applied")" = "$stamp" ]; then
    line login-role "up to date"
    return
  fi
  if ! PGPASSWORD=postgres psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -d postgres -f "$REPO/scripts/stack/sql/login_role.sql" >"$LOGS/login-role.log" 2>&1; then
    tail -n 20 "$LOGS/login-role.log" >&2
    die "setting the password of pipeline_functions failed (log: $LOGS/login-role.log)"
  fi
  echo "$stamp" >"$RUN/login-role.applied"
  line login-role "pipeline_functions password set from PIPELINE_DB_PASSWORD"
}

pg_down() {
  pg_datadir
  if [ -f "$PGDATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 30 stop -m fast >/dev/null 2>&1 ||
      die "pg_ctl stop failed"
    line postgres stopped
  else
    line postgres "not running"
  fi
}

# ------------------------------------------------------------------------------------------------
# Redis
# ------------------------------------------------------------------------------------------------

redis_up() {
  if part_running redis redis-server "$REDIS_PORT"; then
    line redis "already running  redis://127.0.0.1:$REDIS_PORT"
    return
  fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by another process; stop it first"
  command -v redis-server >/dev/null || die "redis-server not found: run bash scripts/install.sh"
  mkdir -p "$LOCAL/redis"
  rm -f "$RUN/redis.pid"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log" --dir "$LOCAL/redis" \
    >/dev/null 9>&- || die "redis-server failed (log: $LOGS/redis.log)"
  wait_for redis bash -c "[ \"\$(redis-cli -h 127.0.0.1 -p $REDIS_PORT ping)\" = PONG ]" ||
    die "Redis does not answer on $REDIS_PORT (log: $LOGS/redis.log)"
  wait_for redis-pidfile test -s "$RUN/redis.pid" || true
  line redis "started          redis://127.0.0.1:$REDIS_PORT"
}

# ------------------------------------------------------------------------------------------------
# Deno parts
# ------------------------------------------------------------------------------------------------

# start_bg NAME COMMAND...: start detached (own session), log to .local/logs/NAME.log, pid file.
start_bg() {
  local name="$1"
  shift
  echo "--- $(date -u +%FT%TZ) start" >>"$LOGS/$name.log"
  # fd 9 is the stack lock: children must not inherit it, or they would hold it forever.
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  echo "$!" >"$RUN/$name.pid"
}

# fail_part NAME WHAT: report a part that did not come up and stop it.
fail_part() {
  local pid
  pid="$(pidfile_pid "$1")"
  tail -n 20 "$LOGS/$1.log" >&2 || true
  if alive "$pid"; then kill "$pid" 2>/dev/null || true; fi
  rm -f "$RUN/$1.pid"
  die "$1 $2 (log: $LOGS/$1.log)"
}

upstash_answers() {
  [ "$(curl -s -m 2 -X POST "http://127.0.0.1:$UPSTASH_PORT/" \
    -H "Authorization: Bearer $UPSTASH_REDIS_REST_TOKEN" -d '["PING"]')" = '{"result":"PONG"}' ]
}

upstash_up() {
  local script="$REPO/scripts/stack/upstash-gateway.ts"
  if part_running upstash "$script" "$UPSTASH_PORT"; then
    line upstash "already running  http://127.0.0.1:$UPSTASH_PORT"
    return
  fi
  port_open "$UPSTASH_PORT" && die "port $UPSTASH_PORT is taken by another process; stop it first"
  start_bg upstash "$DENO" serve --config "$REPO/deno.json" --host 127.0.0.1 --port "$UPSTASH_PORT" \
    --allow-env --allow-net="127.0.0.1:$REDIS_PORT" "$script"
  wait_for upstash upstash_answers || fail_part upstash "does not answer on $UPSTASH_PORT"
  line upstash "started          http://127.0.0.1:$UPSTASH_PORT"
}

worker_ready() {
  local pid
  pid="$(pidfile_pid pg-net-worker)"
  alive "$pid" && [ "$(tr -dc '0-9' <"$RUN/pg-net-worker.ready" 2>/dev/null)" = "$pid" ]
}

worker_up() {
  local script="$REPO/scripts/stack/pg-net-worker.ts"
  if part_running pg-net-worker "$script" && worker_ready; then
    line pg-net-worker "already running  LISTEN pg_net_wake"
    return
  fi
  rm -f "$RUN/pg-net-worker.ready"
  PG_NET_WORKER_READY_FILE="$RUN/pg-net-worker.ready" start_bg pg-net-worker "$DENO" run \
    --config "$REPO/deno.json" --allow-env --allow-net --allow-write="$RUN" "$script"
  wait_for pg-net-worker worker_ready || fail_part pg-net-worker "did not become ready"
  line pg-net-worker "started          LISTEN pg_net_wake"
}

fakes_up() {
  local spec name port file
  for spec in "${FAKES[@]}"; do
    name="${spec%%:*}"
    port="${spec##*:}"
    file="$REPO/tests/fakes/$name.ts"
    if [ ! -f "$file" ]; then
      line "fake-$name" "skipped          (tests/fakes/$name.ts not found)"
      continue
    fi
    if part_running "fake-$name" "$file" "$port"; then
      line "fake-$name" "already running  http://127.0.0.1:$port"
      continue
    fi
    port_open "$port" && die "port $port is taken by another process; stop it first"
    PORT="$port" start_bg "fake-$name" "$DENO" run --config "$REPO/deno.json" \
      --allow-net=127.0.0.1 --allow-env "$file"
    wait_for "fake-$name" port_open "$port" || fail_part "fake-$name" "does not listen on $port"
    line "fake-$name" "started          http://127.0.0.1:$port"
  done
}

router_answers() {
  [ "$(curl -s -m 2 "http://127.0.0.1:$ROUTER_PORT/functions/v1/_internal/health")" = \
    '{"message":"ok"}' ]
}

router_up() {
  local script="$REPO/scripts/stack/router.ts"
  if part_running router "$script" "$ROUTER_PORT"; then
    line router "already running  http://127.0.0.1:$ROUTER_PORT/functions/v1/<name>"
    return
  fi
  port_open "$ROUTER_PORT" && die "port $ROUTER_PORT is taken by another process; stop it first"
  (
    load_dotenv
    # Several isolates, each on its own thread, like the edge runtime's per-worker policy:
    # concurrent invocations really run in parallel, and module state is per isolate.
    # ROUTER_WORKERS=1 gives the old single isolate. ROUTER_INSPECT=host:port opens its inspector
    # (diagnosis only: scripts/profile-router.ts).
    export DENO_JOBS="${ROUTER_WORKERS:-4}"
    start_bg router "$DENO" serve --parallel ${ROUTER_INSPECT:+--inspect=$ROUTER_INSPECT} \
      --config "$REPO/deno.json" --host 127.0.0.1 \
      --port "$ROUTER_PORT" --allow-env --allow-net --allow-read --allow-write=/tmp --allow-sys \
      "$script"
  )
  wait_for router router_answers || fail_part router "does not answer on $ROUTER_PORT"
  line router "started          http://127.0.0.1:$ROUTER_PORT/functions/v1/<name>"
}

stop_part() {
  local name="$1" match="$2" pid i
  pid="$(pidfile_pid "$name")"
  if alive "$pid" && cmdline_has "$pid" "$match"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    line "$name" stopped
  else
    line "$name" "not running"
  fi
  rm -f "$RUN/$name.pid"
}

# ------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------

ensure_env() {
  if [ ! -f "$ENV_FILE" ]; then
    [ -x "$DENO" ] || die "deno not found in node_modules: run bash scripts/install.sh"
    local tmp="$ENV_FILE.tmp.$$"
    (umask 077 && "$DENO" run --config "$REPO/deno.json" --quiet \
      "$REPO/scripts/stack/env.ts" >"$tmp") || {
      rm -f "$tmp"
      die "generating $ENV_FILE failed"
    }
    mv "$tmp" "$ENV_FILE"
    line env "generated        $ENV_FILE"
  fi
}

lock() {
  mkdir -p "$LOCAL" "$RUN" "$LOGS"
  exec 9>"$LOCAL/stack.lock"
  flock -w 300 9 || die "another stack.sh up/down is still running"
}

# duffel-webhook's signing secret (the fake Duffel signs with it): env.ts generates it for a new
# env; older env files get it appended here, never regenerated.
ensure_duffel_webhook_secret() {
  if ! grep -q '^DUFFEL_WEBHOOK_SECRET=' "$ENV_FILE"; then
    printf 'DUFFEL_WEBHOOK_SECRET=%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >>"$ENV_FILE"
    line env "added DUFFEL_WEBHOOK_SECRET to $ENV_FILE"
  fi
}

cmd_up() {
  lock
  ensure_env
  ensure_stripe_webhook_env
  ensure_duffel_webhook_secret
  load_env
  pg_up
  vault_seed
  login_role_password
  redis_up
  upstash_up
  worker_up
  fakes_up
  router_up
}

cmd_down() {
  local spec name
  lock
  stop_part router "$REPO/scripts/stack/router.ts"
  for spec in "${FAKES[@]}"; do
    name="${spec%%:*}"
    if [ -f "$RUN/fake-$name.pid" ]; then
      stop_part "fake-$name" "$REPO/tests/fakes/$name.ts"
    fi
  done
  stop_part pg-net-worker "$REPO/scripts/stack/pg-net-worker.ts"
  rm -f "$RUN/pg-net-worker.ready"
  stop_part upstash "$REPO/scripts/stack/upstash-gateway.ts"
  stop_part redis redis-server
  pg_down
}

# Exit 0 when every part that `up` starts is running.
cmd_running() {
  local spec name port
  [ -f "$ENV_FILE" ] || return 1
  pg_datadir
  pg_running || return 1
  part_running redis redis-server "$REDIS_PORT" || return 1
  part_running upstash "$REPO/scripts/stack/upstash-gateway.ts" "$UPSTASH_PORT" || return 1
  part_running pg-net-worker "$REPO/scripts/stack/pg-net-worker.ts" || return 1
  for spec in "${FAKES[@]}"; do
    name="${spec%%:*}"
    port="${spec##*:}"
    if [ -f "$REPO/tests/fakes/$name.ts" ]; then
      part_running "fake-$name" "$REPO/tests/fakes/$name.ts" "$port" || return 1
    fi
  done
  part_running router "$REPO/scripts/stack/router.ts" "$ROUTER_PORT"
}

cmd_status() {
  local state all=0 spec name port
  load_env
  mkdir -p "$RUN"
  pg_datadir
  st() { if "$@"; then echo running; else echo stopped; fi; }
  state="$(st pg_running)"
  [ "$state" = running ] || all=1
  echo "postgres:      $state  $SUPABASE_DB_URL"
  state="$(st part_running redis redis-server "$REDIS_PORT")"
  [ "$state" = running ] || all=1
  echo "redis:         $state  $REDIS_URL"
  state="$(st part_running upstash "$REPO/scripts/stack/upstash-gateway.ts" "$UPSTASH_PORT")"
  [ "$state" = running ] || all=1
  echo "upstash:       $state  $UPSTASH_REDIS_REST_URL"
  state="$(st part_running pg-net-worker "$REPO/scripts/stack/pg-net-worker.ts")"
  [ "$state" = running ] || all=1
  echo "pg-net-worker: $state"
  for spec in "${FAKES[@]}"; do
    name="${spec%%:*}"
    port="${spec##*:}"
    [ -f "$REPO/tests/fakes/$name.ts" ] || continue
    state="$(st part_running "fake-$name" "$REPO/tests/fakes/$name.ts" "$port")"
    [ "$state" = running ] || all=1
    printf '%-14s %s  http://127.0.0.1:%s\n' "fake-$name:" "$state" "$port"
  done
  state="$(st part_running router "$REPO/scripts/stack/router.ts" "$ROUTER_PORT")"
  [ "$state" = running ] || all=1
  echo "router:        $state  $SUPABASE_URL"
  echo
  echo "api url: $SUPABASE_URL"
  echo "functions url: $SUPABASE_URL/functions/v1"
  echo "db url: $SUPABASE_DB_URL"
  echo "upstash url: $UPSTASH_REDIS_REST_URL"
  echo "upstash token: $UPSTASH_REDIS_REST_TOKEN"
  echo "jwt secret: $SUPABASE_JWT_SECRET"
  echo "publishable key: $SUPABASE_PUBLISHABLE_KEY"
  echo "secret key: $SUPABASE_SECRET_KEY"
  echo "anon key: $SUPABASE_ANON_KEY"
  echo "service_role key: $SUPABASE_SERVICE_ROLE_KEY"
  if pg_running; then
    "$DENO" run --config "$REPO/deno.json" --quiet --allow-env --allow-read="$LOCAL" \
      --allow-net=127.0.0.1 "$REPO/scripts/stack/status.ts" || all=1
  else
    echo "user jwt: (postgres is not running; run bash scripts/stack.sh up)"
  fi
  return "$all"
}

cmd_env() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE is missing: run \`bash scripts/stack.sh up\` first"
  grep -v "^#" "$ENV_FILE" | sed "s/^/export /"
  load_dotenv print
}

cmd_psql() {
  command -v psql >/dev/null || die "psql not found: run bash scripts/install.sh"
  exec psql "$DB_URL" "$@"
}

main() {
  local cmd="${1:-}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  psql) cmd_psql "$@" ;;
  running) cmd_running ;;
  *)
    echo "usage: bash scripts/stack.sh up|down|status|env|psql|running" >&2
    exit 2
    ;;
  esac
}

# Sourcing the script (tests) defines the functions without running a command.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
