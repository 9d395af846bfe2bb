/**
 * Executes the HTTP requests the core describes. The core decides what to send and how to read the
 * answer; this only moves bytes, with the core's timeout. The response body goes back to the core
 * as bytes, never parsed here.
 */

/** A request as described by the core (`booking_core::http::HttpRequest`). */
export interface CoreHttpRequest {
  method: string;
  url: string;
  headers: [string, string][];
  body: string | null;
  timeout_ms: number;
}

/** What happened to a request: an answer, a timeout, or a network failure. */
export type FetchOutcome =
  | {
    kind: "response";
    status: number;
    body: Uint8Array;
    durationMs: number;
    /** The answer's headers (read only for rate-limit hints, provider_limit.ts). */
    headers?: Headers;
  }
  | { kind: "timeout"; durationMs: number }
  | { kind: "network"; durationMs: number };

/** Sends `req`, reading the whole body, within `req.timeout_ms`. */
export async function execute(req: CoreHttpRequest): Promise<FetchOutcome> {
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  const signal = AbortSignal.timeout(req.timeout_ms);
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body ?? undefined,
      signal,
    });
    const body = new Uint8Array(await res.arrayBuffer());
    return { kind: "response", status: res.status, body, durationMs: took(), headers: res.headers };
  } catch (err) {
    const name = (err as Error)?.name;
    if (signal.aborted || name === "TimeoutError" || name === "AbortError") {
      return { kind: "timeout", durationMs: took() };
    }
    return { kind: "network", durationMs: took() };
  }
}
