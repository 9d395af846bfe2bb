/**
 * Work that may finish after the response: `EdgeRuntime.waitUntil` on Supabase keeps the worker
 * alive for it; elsewhere the promise simply runs on. Failures are logged, never thrown.
 */
import type { Env } from "./env.ts";
import type { Logger } from "./log.ts";

declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

/** Runs `work` in the background. */
export function inBackground(work: Promise<unknown>, log: Logger, what: string): void {
  const guarded = work.catch((err) =>
    log.warn("background work failed", { what, error: (err as Error)?.name ?? "unknown" })
  );
  if (typeof EdgeRuntime !== "undefined" && EdgeRuntime?.waitUntil) EdgeRuntime.waitUntil(guarded);
}

/** Asks the monitor to process one trip now (so a good price does not wait for the next tick). */
export function triggerMonitor(e: Env, tripId: string, log: Logger): void {
  const key = e.serviceKeys[0];
  if (!e.functionsUrl || !key) {
    log.warn("cannot trigger the monitor", { trip_id: tripId, code: "misconfigured" });
    return;
  }
  inBackground(
    fetch(`${e.functionsUrl}/auto-book-monitor`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        apikey: key,
        "x-correlation-id": log.correlationId,
      },
      body: JSON.stringify({ trip_id: tripId }),
      signal: AbortSignal.timeout(120_000),
    }).then(async (res) => {
      await res.body?.cancel();
      if (!res.ok) throw new Error(`monitor answered ${res.status}`);
    }),
    log,
    "trigger_monitor",
  );
}
