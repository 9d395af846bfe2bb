/**
 * Loads the `search` wasm module (scripts/build-wasm.sh) into this isolate, for trip-search.
 * A function imports its module's loader (this file) and calls the core through it; the
 * `.wasm` next to the glue ships with the function through `static_files` in
 * supabase/config.toml (`./functions/_shared/wasm/search/*`).
 */
import * as glue from "../wasm/search/booking_wasm.js";
import { loadModule } from "../core.ts";

loadModule("search", glue, new URL("../wasm/search/booking_wasm_bg.wasm", import.meta.url));

export * from "../core.ts";
