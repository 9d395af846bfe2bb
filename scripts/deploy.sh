#!/usr/bin/env bash
# Deploys this commit to a Supabase project: the same steps as .github/workflows/deploy.yml, from a
# laptop. docs/operations.md "Deploying" and "Restoring after a failed deploy".
#
#   bash scripts/deploy.sh <staging|production> [options]
#     --dry-run        print every command (secret values masked) and run none of them
#     --env-file FILE  read the variables below from FILE (shell NAME=value lines) first
#     --skip-db        do not push migrations (redeploying the functions of an older commit)
#     --skip-smoke     do not call the deployed health function afterwards
#     --yes            required for production (the workflow's GitHub environment is the gate there)
#     --allow-dirty    deploy although tracked files have uncommitted changes (not for production)
#
# Reads from the environment (or --env-file):
#   SUPABASE_PROJECT_REF   the project (20 lowercase letters)
#   SUPABASE_ACCESS_TOKEN  a personal access token, read by the Supabase CLI itself
#   SUPABASE_DB_PASSWORD   the database password, read by the CLI for link and db push
#   the function secrets named in supabase/functions/.env.example: each `NAME=value` line there is
#   required, each `# NAME=` line optional (set when present)
#   SUPABASE_FUNCTIONS_URL optional; default https://<ref>.supabase.co/functions/v1 (smoke test)
#   SUPABASE_CLI, WASM_BUILD, CURL
#                          optional stand-ins (tests) for the CLI (default: the npm-pinned
#                          `supabase`), the wasm build (`bash scripts/build-wasm.sh`) and curl
#
# Order: build the wasm (nothing touches the project if the build fails), link, db push (schema
# changes are additive, so the running functions keep working on the new schema), secrets set,
# functions deploy one by one, then GET <functions>/health must answer 200.
# Secret values never reach a command line or the output: `secrets set` reads a mode-600 file that
# is removed on exit, and every printed command is masked against every secret value.
set -euo pipefail
export LC_ALL=C # glob order (the functions) is the same on every machine
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"

usage() { sed -n '5,12p' "$0" | sed 's/^# \{0,1\}//' >&2; }
die() { echo "deploy: $1" >&2; exit "${2:-1}"; }

target=${1:-}
case "$target" in
  staging | production) shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage; die "the first argument must be the environment, staging or production (got '${target}')" 2 ;;
esac
dry_run=0 skip_db=0 skip_smoke=0 yes=0 allow_dirty=0 env_file=
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --skip-db) skip_db=1 ;;
    --skip-smoke) skip_smoke=1 ;;
    --yes) yes=1 ;;
    --allow-dirty) allow_dirty=1 ;;
    --env-file) env_file=${2:-}; [ -n "$env_file" ] || die "--env-file needs a file" 2; shift ;;
    *) usage; die "unknown option: $1" 2 ;;
  esac
  shift
done
if [ -n "$env_file" ]; then
  [ -r "$env_file" ] || die "cannot read $env_file"
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
fi

# --- what to deploy and with which secrets ----------------------------------------------------
example=supabase/functions/.env.example
mapfile -t required < <(sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$example")
mapfile -t optional < <(sed -n 's/^# \([A-Z][A-Z0-9_]*\)=.*/\1/p' "$example")
functions=()
for dir in supabase/functions/*/; do
  name=$(basename "$dir")
  case "$name" in _*) continue ;; esac
  [ -f "$dir/index.ts" ] || continue
  grep -q "^\[functions\.$name\]" supabase/config.toml ||
    die "supabase/functions/$name has no [functions.$name] section in supabase/config.toml (verify_jwt must be explicit)"
  functions+=("$name")
done
[ ${#functions[@]} -gt 0 ] || die "no functions found in supabase/functions"
mapfile -t functions < <(printf '%s\n' "${functions[@]}" | sort) # by name, C order

ref=${SUPABASE_PROJECT_REF:-}
[[ "$ref" =~ ^[a-z]{20}$ ]] || die "SUPABASE_PROJECT_REF must be a project ref (20 lowercase letters)"
missing=()
for name in SUPABASE_ACCESS_TOKEN SUPABASE_DB_PASSWORD "${required[@]}"; do
  [ -n "${!name:-}" ] || missing+=("$name")
done
[ ${#missing[@]} -eq 0 ] || die "missing for $target: ${missing[*]} (values are never printed)"
secret_names=("${required[@]}")
for name in "${optional[@]}"; do [ -z "${!name:-}" ] || secret_names+=("$name"); done
for name in "${secret_names[@]}"; do
  # Written single-quoted for the CLI's dotenv parser (literal: no $ expansion, no escapes).
  case "${!name}" in
    *$'\n'* | *"'"*) die "$name holds a newline or a single quote, which the env file cannot carry" ;;
  esac
done
masked=(SUPABASE_ACCESS_TOKEN SUPABASE_DB_PASSWORD "${secret_names[@]}")
functions_url=${SUPABASE_FUNCTIONS_URL:-https://$ref.supabase.co/functions/v1}
functions_url=${functions_url%/}

if [ "$dry_run" = 0 ]; then
  if [ "$target" = production ] && [ "$yes" = 0 ]; then
    die "deploying to production needs --yes (try --dry-run first)" 2
  fi
  if [ "$allow_dirty" = 0 ] || [ "$target" = production ]; then
    [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] ||
      die "the work tree has uncommitted changes; deploy a commit"
  fi
fi

# --- running (or printing) the commands --------------------------------------------------------
mask() { # mask <text>: the text with every secret value replaced by ***
  local out=$1 name value
  for name in "${masked[@]}"; do
    value=${!name:-}
    [ ${#value} -lt 4 ] || out=${out//"$value"/***}
  done
  printf '%s' "$out"
}
supabase() { ${SUPABASE_CLI:-command supabase} "$@"; }
curl() { ${CURL:-command curl} "$@"; }
build_wasm() { ${WASM_BUILD:-bash scripts/build-wasm.sh}; }
run() { # run <cmd...>: prints the command (masked), runs it unless --dry-run
  printf '+ %s\n' "$(mask "$*")"
  [ "$dry_run" = 1 ] || "$@"
}

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "deploy: $commit to $target ($ref)$([ "$dry_run" = 0 ] || echo ', dry run: nothing is executed')"

printf '+ %s\n' "bash scripts/build-wasm.sh"
[ "$dry_run" = 1 ] || build_wasm
run supabase link --project-ref "$ref" --yes
if [ "$skip_db" = 0 ]; then
  run supabase db push --remote --yes
fi

secrets_file=
cleanup() { [ -z "$secrets_file" ] || rm -f "$secrets_file"; }
trap cleanup EXIT
if [ "$dry_run" = 1 ]; then
  secrets_file_shown='<temporary file>'
else
  secrets_file=$(umask 077 && mktemp "${TMPDIR:-/tmp}/deploy-secrets.XXXXXX")
  for name in "${secret_names[@]}"; do
    value=${!name}
    printf "%s='%s'\n" "$name" "$value" >>"$secrets_file" # checked above: no ' or newline
  done
  secrets_file_shown=$secrets_file
fi
printf '+ supabase secrets set --env-file %s --yes   # %s\n' "$secrets_file_shown" \
  "$(printf '%s=*** ' "${secret_names[@]}")"
[ "$dry_run" = 1 ] || supabase secrets set --env-file "$secrets_file" --yes >/dev/null
cleanup
secrets_file=

for name in "${functions[@]}"; do
  run supabase functions deploy "$name" --use-api --yes
done

if [ "$skip_smoke" = 0 ]; then
  # The platform needs a few seconds to route to new deployments: retry for about a minute.
  run curl -fsS --max-time 10 --retry 6 --retry-delay 10 --retry-all-errors -o /dev/null \
    -w 'health: %{http_code}\n' "$functions_url/health"
fi
echo "deploy: $commit to $target $([ "$dry_run" = 1 ] && echo 'printed' || echo 'done')"
