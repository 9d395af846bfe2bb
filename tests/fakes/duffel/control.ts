/**
 * The fake Duffel's control API under `/_fake/` (no auth, not logged, not rate limited):
 * `POST /_fake/reset`, `GET|POST /_fake/routes` (per-route scripts), `GET /_fake/requests`
 * (`?path=` prefix filter), `GET /_fake/orders`, `POST /_fake/config {"rate_limit_per_minute":n,
 * "latency_ms":[min,max]|n|null}` (either field), `GET /_fake/stats` (API requests since reset by
 * `METHOD /air/<resource>`, never truncated like the log),
 * `POST /_fake/clock {"advance_seconds":n}`, and webhook delivery under `/_fake/webhooks`
 * (`./webhooks.ts`).
 *
 * @module
 */

import { advanceClock, isObject, jsonResponse, readJsonOrUndefined } from "../_shared.ts";
import { checkScript } from "./routes.ts";
import type { DuffelState } from "./state.ts";
import type { RouteScript } from "./types.ts";
import { webhooksControl } from "./webhooks.ts";

async function routesEndpoint(s: DuffelState, req: Request): Promise<Response | null> {
  if (req.method === "GET") return jsonResponse(200, { data: [...s.routes.values()] });
  if (req.method !== "POST") return null;
  const body = await readJsonOrUndefined(req);
  const problem = checkScript(body);
  if (problem) return jsonResponse(400, { error: problem });
  const script = body as RouteScript;
  s.setRoute(script);
  return jsonResponse(201, { data: script });
}

function latencyFrom(v: unknown): [number, number] | null | undefined {
  const ok = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n >= 0 && n <= 60_000;
  if (v === null) return null;
  if (ok(v)) return [v as number, v as number];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1]) && v[0] <= v[1]) {
    return [v[0], v[1]];
  }
  return undefined;
}

async function configure(s: DuffelState, req: Request): Promise<Response> {
  const c = await readJsonOrUndefined(req);
  const n = isObject(c) ? c.rate_limit_per_minute : undefined;
  const hasLatency = isObject(c) && "latency_ms" in c;
  if (n === undefined && !hasLatency) {
    return jsonResponse(400, { error: "give rate_limit_per_minute or latency_ms" });
  }
  if (n !== undefined && (!Number.isInteger(n) || (n as number) < 0)) {
    return jsonResponse(400, { error: "rate_limit_per_minute must be a non-negative integer" });
  }
  const latency = hasLatency ? latencyFrom((c as Record<string, unknown>).latency_ms) : null;
  if (latency === undefined) {
    return jsonResponse(400, { error: "latency_ms must be null, ms, or [min, max] ms (<= 60000)" });
  }
  if (n !== undefined) s.rate.configure(n as number);
  if (hasLatency) s.latencyMs = latency;
  return jsonResponse(200, { rate_limit_per_minute: s.rate.limit, latency_ms: s.latencyMs });
}

/** Answers one `/_fake/…` request (404 for anything else under `/_fake/`). */
export async function control(s: DuffelState, req: Request, url: URL): Promise<Response> {
  const path = url.pathname;
  if (req.method === "POST" && path === "/_fake/reset") {
    s.reset();
    return jsonResponse(200, { ok: true });
  }
  if (path === "/_fake/routes") {
    const res = await routesEndpoint(s, req);
    if (res) return res;
  }
  if (req.method === "GET" && path === "/_fake/requests") {
    const prefix = url.searchParams.get("path");
    return jsonResponse(200, {
      data: prefix ? s.log.filter((l) => l.path.startsWith(prefix)) : s.log,
    });
  }
  if (req.method === "GET" && path === "/_fake/orders") {
    return jsonResponse(200, {
      data: [...s.orders.values()].map((o) => ({
        ...o.order,
        offer_id: o.offerId,
        offer_request_id: o.offerRequestId,
      })),
    });
  }
  if (req.method === "POST" && path === "/_fake/config") return await configure(s, req);
  if (req.method === "GET" && path === "/_fake/stats") {
    return jsonResponse(200, { data: Object.fromEntries(s.counts) });
  }
  if (req.method === "POST" && path === "/_fake/clock") return await advanceClock(req, s.clock);
  if (path.startsWith("/_fake/webhooks")) {
    const res = await webhooksControl(s, req, path);
    if (res) return res;
  }
  return jsonResponse(404, { error: `no control endpoint ${req.method} ${path}` });
}
