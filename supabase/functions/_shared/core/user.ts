/**
 * Loads the `user` wasm module (scripts/build-wasm.sh) into this isolate, for trips, travelers, payment-methods, privacy, privacy-operator, ops.
 * A function imports its module's loader (this file) and calls the core through it; the
 * `.wasm` next to the glue ships with the function through `static_files` in
 * supabase/config.toml (`./functions/_shared/wasm/user/*`).
 */
import * as glue from "../wasm/user/booking_wasm.js";
import { loadModule } from "../core.ts";

loadModule("user", glue, new URL("../wasm/user/booking_wasm_bg.wasm", import.meta.url));

export * from "../core.ts";
