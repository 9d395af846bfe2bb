/**
 * Loads the `webhooks` wasm module (scripts/build-wasm.sh) into this isolate, for stripe-webhook, duffel-webhook, resend-webhook, notify-dispatch, health.
 * A function imports its module's loader (this file) and calls the core through it; the
 * `.wasm` next to the glue ships with the function through `static_files` in
 * supabase/config.toml (`./functions/_shared/wasm/webhooks/*`).
 */
import * as glue from "../wasm/webhooks/booking_wasm.js";
import { loadModule } from "../core.ts";

loadModule("webhooks", glue, new URL("../wasm/webhooks/booking_wasm_bg.wasm", import.meta.url));

export * from "../core.ts";
