/**
 * Loads the `monitor` wasm module (scripts/build-wasm.sh) into this isolate, for auto-book-monitor.
 * A function imports its module's loader (this file) and calls the core through it; the
 * `.wasm` next to the glue ships with the function through `static_files` in
 * supabase/config.toml (`./functions/_shared/wasm/monitor/*`).
 */
import * as glue from "../wasm/monitor/booking_wasm.js";
import { loadModule } from "../core.ts";

loadModule("monitor", glue, new URL("../wasm/monitor/booking_wasm_bg.wasm", import.meta.url));

export * from "../core.ts";
