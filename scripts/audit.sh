#!/usr/bin/env bash
# Dependency audit (docs/testing.md "Dependency audit").
#
#   bash scripts/audit.sh            offline, what scripts/test.sh runs:
#                                    - cargo-deny (deny.toml): licences, banned crates, sources
#                                    - package-lock.json and deno.lock: every npm package comes from
#                                      the npm registry with a sha512 integrity hash, and the
#                                      tools of package-lock.json have permissive licences
#   bash scripts/audit.sh --online   and the checks that need the network (the CI workflow's
#                                    `audit` step on GitHub):
#                                    - cargo-deny advisories (fetches the RustSec database from
#                                      GitHub; not reachable from this machine)
#                                    - npm audit of package-lock.json and deno audit of deno.lock
#                                      (the registry's advisory endpoint; not served here)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"
# shellcheck source=scripts/tools-env.sh
. scripts/tools-env.sh
online=0
for arg in "$@"; do
  case "$arg" in
    --online) online=1 ;;
    *) echo "audit: unknown option: $arg (known: --online)" >&2; exit 2 ;;
  esac
done
command -v cargo-deny >/dev/null 2>&1 || { echo "audit: cargo-deny missing; run scripts/install.sh" >&2; exit 1; }

echo "audit: cargo deny check licenses bans sources"
cargo-deny --offline --log-level error check --hide-inclusion-graph licenses bans sources

echo "audit: npm lock files (registry, integrity, licences)"
node - package-lock.json deno.lock <<'JS'
const fs = require("fs");
const [npmLock, denoLock] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
const bad = [];
const licenses = new Set(["MIT", "ISC", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "0BSD"]);
const sha512 = /^sha512-[A-Za-z0-9+/]{86}==$/;
let n = 0;
for (const [path, p] of Object.entries(npmLock.packages ?? {})) {
  if (path === "" || p.link) continue;
  n++;
  // npm 11 leaves `resolved` out for registry packages; a tarball or git URL would be recorded.
  if (p.resolved !== undefined && !p.resolved.startsWith("https://registry.npmjs.org/")) bad.push(`${path}: resolved ${p.resolved}`);
  if (!licenses.has(p.license)) bad.push(`${path}: license ${p.license}`);
  if (!sha512.test(p.integrity ?? "")) bad.push(`${path}: integrity ${p.integrity}`);
}
for (const [name, p] of Object.entries(denoLock.npm ?? {})) {
  n++;
  if (!sha512.test(p.integrity ?? "")) bad.push(`deno.lock npm ${name}: integrity ${p.integrity}`);
}
if (bad.length) { console.error("audit: lock entries refused:\n  " + bad.join("\n  ")); process.exit(1); }
console.log(`audit: ${n} npm packages pinned by sha512 hash, licences permissive`);
JS

if [ "$online" = 1 ]; then
  echo "audit: cargo deny check advisories (RustSec database)"
  cargo-deny --log-level error check --hide-inclusion-graph advisories
  echo "audit: npm audit (package-lock.json)"
  npm audit --package-lock-only --audit-level=high
  echo "audit: deno audit (deno.lock)"
  deno audit --level=high
fi
echo "audit: ok"
