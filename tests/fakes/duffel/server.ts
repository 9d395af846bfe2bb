/**
 * The fake Duffel's HTTP layer: `createDuffelFake` builds one instance; each request is
 * rate-counted, logged, checked for `Authorization: Bearer …`, `Duffel-Version: v2`, `Accept:
 * application/json`, the limit and a JSON body, then routed to its handler. Handler errors
 * become Duffel's error envelope; every answer carries `x-request-id` and `ratelimit-*`.
 *
 * @module
 */

import { appendLog, type LoggedRequest, queryRecord, sleep } from "../_shared.ts";
import { confirmCancellation, createCancellation, getCancellation } from "./cancellations.ts";
import { control } from "./control.ts";
import { ApiError, errorResponse } from "./errors.ts";
import { getOffer, listOffers } from "./offers.ts";
import { createOrder, getOrder, listOrders } from "./orders.ts";
import { createOfferRequest } from "./search.ts";
import { DuffelState } from "./state.ts";
import type { DuffelFake, DuffelFakeOptions } from "./types.ts";

/** Dispatches an authenticated request to its endpoint; 404 `not_found` for unknown routes. */
async function route(s: DuffelState, req: Request, url: URL, body: unknown): Promise<Response> {
  const p = url.pathname.replace(/\/+$/, "");
  const m = req.method;
  let g: RegExpExecArray | null;
  if (p === "/air/offer_requests" && m === "POST") return await createOfferRequest(s, url, body);
  if (p === "/air/offers" && m === "GET") return listOffers(s, url);
  if ((g = /^\/air\/offers\/([^/]+)$/.exec(p)) && m === "GET") return getOffer(s, g[1], url);
  if (p === "/air/orders" && m === "POST") return await createOrder(s, body);
  if (p === "/air/orders" && m === "GET") return listOrders(s, url);
  if ((g = /^\/air\/orders\/([^/]+)$/.exec(p)) && m === "GET") return getOrder(s, g[1]);
  if (p === "/air/order_cancellations" && m === "POST") return createCancellation(s, body);
  if ((g = /^\/air\/order_cancellations\/([^/]+)$/.exec(p)) && m === "GET") {
    return getCancellation(s, g[1]);
  }
  if ((g = /^\/air\/order_cancellations\/([^/]+)\/actions\/confirm$/.exec(p)) && m === "POST") {
    return confirmCancellation(s, g[1]);
  }
  throw new ApiError(404, "invalid_request_error", "not_found", `No route ${m} ${url.pathname}`);
}

/** Throws the error Duffel gives for a missing or wrong auth, version or accept header. */
function checkHeaders(req: Request): void {
  const auth = req.headers.get("authorization") ?? "";
  if (!/^Bearer \S+$/.test(auth)) {
    throw new ApiError(
      401,
      "authentication_error",
      auth ? "invalid_authorization_header" : "missing_authorization_header",
      "The Authorization header must be 'Bearer <access token>'.",
    );
  }
  if (req.headers.get("duffel-version") !== "v2") {
    throw new ApiError(
      400,
      "invalid_request_error",
      "unsupported_version",
      "Duffel-Version must be v2.",
    );
  }
  if (!(req.headers.get("accept") ?? "").includes("application/json")) {
    throw new ApiError(
      406,
      "invalid_request_error",
      "unsupported_format",
      "Accept must be application/json.",
    );
  }
}

async function handle(s: DuffelState, req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname.startsWith("/_fake/")) return await control(s, req, url);

  const kind = `${req.method} ${url.pathname.split("/").slice(0, 3).join("/")}`;
  s.counts.set(kind, (s.counts.get(kind) ?? 0) + 1);
  if (s.latencyMs) {
    const [lo, hi] = s.latencyMs;
    await sleep(lo + Math.random() * (hi - lo));
  }
  const requestId = `Fake${s.ids.code(16)}`;
  const nowMs = s.clock.nowMs();
  const headers: Record<string, string> = { "x-request-id": requestId, ...s.rate.count(nowMs) };
  const corr = req.headers.get("x-client-correlation-id");
  if (corr) headers["x-client-correlation-id"] = corr;

  const text = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
  let body: unknown = undefined;
  let badJson = false;
  if (text !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      badJson = true;
    }
  }
  const entry: LoggedRequest = {
    at: new Date(nowMs).toISOString(),
    method: req.method,
    path: url.pathname,
    query: queryRecord(url),
    idempotency_key: req.headers.get("idempotency-key"),
    body: badJson ? text : body ?? null,
    status: null,
  };
  appendLog(s.log, entry);

  let res: Response;
  try {
    checkHeaders(req);
    if (s.rate.exceeded()) {
      throw new ApiError(
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        "Too many requests; retry after ratelimit-reset.",
      );
    }
    if (badJson) {
      throw new ApiError(
        400,
        "invalid_request_error",
        "malformed_json",
        "The request body is not valid JSON.",
      );
    }
    res = await route(s, req, url, body);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    res = errorResponse(e, requestId);
  }
  entry.status = res.status;
  for (const [k, val] of Object.entries(headers)) res.headers.set(k, val);
  return res;
}

/** Creates an independent fake Duffel with its own in-memory state. */
export function createDuffelFake(options: DuffelFakeOptions = {}): DuffelFake {
  const state = new DuffelState(options);
  return { fetch: (req) => handle(state, req) };
}
