#!/usr/bin/env bash
# actionlint on the GitHub workflows (with shellcheck on their `run:` steps); scripts/test.sh runs
# it. The tools come from scripts/install.sh (scripts/tools-requirements.txt, Debian's shellcheck).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/tools-env.sh
. scripts/tools-env.sh
command -v actionlint >/dev/null 2>&1 || { echo "lint-workflows: actionlint missing; run scripts/install.sh" >&2; exit 1; }
command -v shellcheck >/dev/null 2>&1 || { echo "lint-workflows: shellcheck missing; run scripts/install.sh" >&2; exit 1; }
shopt -s nullglob
files=(.github/workflows/*.yml .github/workflows/*.yaml)
[ ${#files[@]} -gt 0 ] || { echo "lint-workflows: no workflows in .github/workflows" >&2; exit 1; }
actionlint -color=false "${files[@]}"
echo "lint-workflows: actionlint $(actionlint -version | head -n 1 | awk '{print $NF}') found no problem in ${files[*]}"
