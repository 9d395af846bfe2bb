#!/usr/bin/env bash
# Builds the core to WebAssembly for the Edge Functions:
#   cargo (wasm32-unknown-unknown, release: LTO, opt-level z) -> wasm-bindgen --target web
#   -> wasm-opt -Oz (npm's binaryen; Debian's breaks the externref table)
# into supabase/functions/_shared/wasm/, the folder `static_files` in supabase/config.toml ships.
# The output is not committed: every set-up (and every deploy) runs this first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=supabase/functions/_shared/wasm
want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [ "$have" != "$want" ]; then
  echo "build-wasm: wasm-bindgen CLI $want needed (found '${have:-none}'); run scripts/install.sh" >&2
  exit 1
fi
cargo build --quiet --release --target wasm32-unknown-unknown -p booking-wasm
mkdir -p "$out.tmp"
wasm-bindgen --target web --out-dir "$out.tmp" --out-name booking_wasm \
  target/wasm32-unknown-unknown/release/booking_wasm.wasm
# Re-instantiation after a trap (wasm-bindgen's own reset flag needs --target module, which the
# edge runtime cannot load): initSync() only instantiates while `wasm` is unset, and its finalize
# step resets the glue's cached memory views, so unsetting it and calling initSync again is a reset.
grep -q '^let wasm;$' "$out.tmp/booking_wasm.js" || { echo "build-wasm: glue has no 'let wasm;'" >&2; exit 1; }
cat >> "$out.tmp/booking_wasm.js" <<'JS'

/** Re-instantiates the module after a trap (appended by scripts/build-wasm.sh). */
export function __wbg_reinit(module) {
  wasm = undefined;
  return initSync({ module });
}
JS
cat >> "$out.tmp/booking_wasm.d.ts" <<'TS'

/** Re-instantiates the module after a trap (appended by scripts/build-wasm.sh). */
export function __wbg_reinit(module: WebAssembly.Module): InitOutput;
TS
node_modules/.bin/wasm-opt -Oz --enable-reference-types --enable-bulk-memory \
  --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-multivalue \
  "$out.tmp/booking_wasm_bg.wasm" -o "$out.tmp/booking_wasm_bg.wasm"
# The wasm must import nothing but wasm-bindgen's glue (module "wbg"): no stray "env" imports.
node -e '
const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
const bad = WebAssembly.Module.imports(m).filter((i) => i.module !== "wbg");
if (bad.length) { console.error("build-wasm: unexpected imports", bad); process.exit(1); }
' "$out.tmp/booking_wasm_bg.wasm"
rm -rf "$out" && mv "$out.tmp" "$out"
printf 'build-wasm: %s (%s bytes)\n' "$out/booking_wasm_bg.wasm" "$(wc -c < "$out/booking_wasm_bg.wasm")"
