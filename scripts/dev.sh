#!/usr/bin/env bash
# The main job: install what is missing, build the wasm, start the local stack, run the traveller
# journey demo (scripts/demo.ts), print the local URLs and keys, then keep serving until Ctrl-C
# (which stops the stack again).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"
bash scripts/install.sh
bash scripts/build-wasm.sh
bash scripts/stack.sh up
trap 'echo; bash scripts/stack.sh down; exit 0' INT TERM
deno run --allow-net=127.0.0.1,localhost --allow-env --allow-read scripts/demo.ts
echo
bash scripts/stack.sh status
echo
echo "Serving. Logs: .local/logs/. Press Ctrl-C to stop the stack."
while true; do sleep 3600 & wait $!; done
