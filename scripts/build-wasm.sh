#!/usr/bin/env bash
# Builds the core to WebAssembly for the Edge Functions, one module per function group, so each
# function ships and compiles only the code it uses:
#   cargo (wasm32-unknown-unknown, the module's cargo feature of booking-wasm and profile)
#   -> wasm-bindgen --target web -> wasm-opt (npm's binaryen; Debian's breaks the externref table)
# into supabase/functions/_shared/wasm/<module>/, which `static_files` in supabase/config.toml
# ships with the functions that load it (supabase/functions/_shared/core/<module>.ts).
# The output is not committed: every set-up (and every deploy) runs this first.
#
# The modules: name, booking-wasm feature, cargo profile, then wasm-opt's flags (each one argument).
# `search` (trip-search parses whole Duffel answers) and `monitor` (every check and booking of the
# pipeline runs through it) are built for speed; the others for size. The monitor, user and
# webhooks builds skip wasm-opt's inlining of every function that has one caller (`-ocimfs=0`):
# that made functions of up to 36 KB (the monitor's `on_http` with every answer's parser inside),
# which V8 compiles again with TurboFan once they run hot, in a new isolate: 390 ms of compile for
# the monitor's first 200 bookings, 70 ms without it (docs/benchmarks.md, "The monitor at scale",
# fourth pass). The monitor for speed: 7 % less CPU per warm booking and per check on the isolate's
# thread than for size, the same for a new isolate's first bookings, its module 240 KB gzipped
# instead of 185 (sixth pass).
# A new module: one line here, a feature in crates/booking-wasm/Cargo.toml, a loader in
# supabase/functions/_shared/core/, and its functions' static_files in supabase/config.toml.
modules=(
  "search search release-speed -O3"
  "monitor monitor release-speed -O3 -ocimfs=0"
  "user user release -Oz -ocimfs=0"
  "webhooks webhooks release -Oz -ocimfs=0"
)
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
rm -rf "$out.tmp"
for spec in "${modules[@]}"; do
  # Every field after the profile is a wasm-opt flag of its own (-Oz, -ocimfs=0, ...).
  read -r -a fields <<<"$spec"
  name=${fields[0]} feature=${fields[1]} profile=${fields[2]}
  opt_flags=("${fields[@]:3}")
  dir="$out.tmp/$name"
  # search: wasm SIMD for the JSON string scan (V8 has it since 9.1, Deno since 1.9).
  simd=""; [ "$name" = search ] && simd="-C target-feature=+simd128"
  RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }$simd" cargo build --quiet --profile "$profile" \
    --target wasm32-unknown-unknown -p booking-wasm --no-default-features --features "$feature"
  mkdir -p "$dir"
  wasm-bindgen --target web --out-dir "$dir" --out-name booking_wasm \
    "target/wasm32-unknown-unknown/$profile/booking_wasm.wasm"
  # Re-instantiation after a trap (wasm-bindgen's own reset flag needs --target module, which the
  # edge runtime cannot load): initSync() only instantiates while `wasm` is unset, and its
  # finalize step resets the glue's cached memory views, so unsetting it and calling initSync
  # again is a reset.
  grep -q '^let wasm;$' "$dir/booking_wasm.js" || { echo "build-wasm: glue has no 'let wasm;'" >&2; exit 1; }
  cat >> "$dir/booking_wasm.js" <<'JS'

/** Re-instantiates the module after a trap (appended by scripts/build-wasm.sh). */
export function __wbg_reinit(module) {
  wasm = undefined;
  return initSync({ module });
}
JS
  cat >> "$dir/booking_wasm.d.ts" <<'TS'

/** Re-instantiates the module after a trap (appended by scripts/build-wasm.sh). */
export function __wbg_reinit(module: WebAssembly.Module): InitOutput;
TS
  node_modules/.bin/wasm-opt "${opt_flags[@]}" ${simd:+--enable-simd} --enable-reference-types \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    --enable-multivalue "$dir/booking_wasm_bg.wasm" -o "$dir/booking_wasm_bg.wasm"
  # The wasm must import nothing but wasm-bindgen's glue (module "wbg"): no stray "env" imports.
  node -e '
const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
const bad = WebAssembly.Module.imports(m).filter((i) => i.module !== "wbg");
if (bad.length) { console.error("build-wasm: unexpected imports", bad); process.exit(1); }
' "$dir/booking_wasm_bg.wasm"
done
rm -rf "$out" && mv "$out.tmp" "$out"
for spec in "${modules[@]}"; do
  read -r name _ <<<"$spec"
  printf 'build-wasm: %s (%s bytes)\n' "$out/$name/booking_wasm_bg.wasm" \
    "$(wc -c < "$out/$name/booking_wasm_bg.wasm")"
done
