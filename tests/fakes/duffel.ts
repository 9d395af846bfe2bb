/**
 * Fake Duffel Flights API (v2): a stand-in for `https://api.duffel.com` in local runs and tests.
 *
 * Wire format per /work/shared/reference/contracts-providers.md §1: `Authorization: Bearer …`,
 * `Duffel-Version: v2`, `Accept: application/json`, bodies wrapped in `{"data":…}`, lists with
 * `meta.after` cursors, Duffel's error envelope, `x-request-id` and lowercase `ratelimit-*`
 * headers on every answer. Default export `{ fetch }` (in-process use); run as a main module
 * with `deno run` (not `deno serve`, which would start a second listener) it serves on
 * 127.0.0.1:$PORT (default 54391). Env when run as main: `PORT`, `DUFFEL_FAKE_RATE_LIMIT`
 * (requests per minute, default 4000 like a test token).
 *
 * Endpoints: `POST /air/offer_requests` (201; `return_offers`, `supplier_timeout`),
 * `GET /air/offers` (`offer_request_id`, `sort`, `limit`, `after`), `GET /air/offers/{id}`
 * (re-prices on read when scripted; `return_available_services=true`), `POST /air/orders`
 * (instant orders paid from balance), `GET /air/orders/{id}`, `GET /air/orders`
 * (`booking_reference`, `offer_id`, `limit`, `after`, and the fake-only extension
 * `metadata[key]=value`), `POST /air/order_cancellations`, `GET /air/order_cancellations/{id}`,
 * `POST /air/order_cancellations/{id}/actions/confirm`.
 *
 * Control API (no auth, not logged, not rate limited), scriptable per route so parallel tests
 * that use different routes do not interfere:
 * - `POST /_fake/routes` `{"origin":"LHR","destination":"JFK","currency":"GBP",
 *   "offers":[{"total":"399.00","stops":0,"cabin":"economy","duration_minutes":490,"carrier":"ZZ",
 *   "departing_at":"09:00","expires_in_seconds":1800,"requires_instant_payment":true,
 *   "reprice":["399.00"]}] | "offer_count":n, "ignore_max_connections":false,
 *   "search":{"status":503,"code":"…","type":"…","times":n} | {"delay_ms":…} |
 *   {"malformed":"not_json"|"bad_envelope"|"bad_offer"},
 *   "reprice":["399.00","389.00"] (price per successive GET of an offer; the last one sticks),
 *   "reprice_step":"10.00" (add this much per GET), "offer_gone":true (GET/order → 422),
 *   "order":{"status":502,"code":"airline_unknown","times":n} | {"lose_response":true|"drop"} |
 *   {"delay_ms":…}}` replaces that route's script. `times` limits a fault to the next n calls.
 * - `GET /_fake/routes`, `POST /_fake/reset` (forget everything, restore the built-in routes),
 *   `GET /_fake/requests` (method, path, query, body, status; last 2000), `GET /_fake/orders`
 *   (orders with their `offer_id`/`offer_request_id`), `POST /_fake/config
 *   {"rate_limit_per_minute":n}`, `POST /_fake/clock {"advance_seconds":n}` (moves "now" to expire
 *   offers without waiting).
 * - Built-in routes mirroring Duffel's test-mode routes (§1.9): PVD→RAI no offers; STN→LHR 504
 *   `gateway_timeout_error`; LGW→LHR offers gone (422); LHR→STN +10.00 per read; LHR→LGW order 502
 *   `airline_unknown`; LGW→STN order 422 `insufficient_balance`; LHR→DXB connections only.
 *   Any other route answers deterministic generated offers seeded by route, dates and cabin.
 *
 * How it differs from the real service:
 * - In memory, single process; any non-empty bearer token is accepted; no webhooks.
 * - Only `instant` orders with one `balance` payment; no holds, `POST /air/payments`, services,
 *   seat maps, order changes, `POST /air/offers/{id}/actions/price`, `before` cursors, or
 *   `sort=total_duration` beyond a simple sum of slice durations.
 * - Validation covers the fields listed in the contract, not Duffel's full rule set; error codes
 *   for missing `Duffel-Version` (400 `unsupported_version`), missing `Accept` (406
 *   `unsupported_format`) and a non-JSON body (400 `malformed_json`) are unverified guesses.
 *   `offer_no_longer_available` is typed `airline_error` (as observed), branch on `code`.
 * - Past departure dates are not rejected (tests run on virtual time); rate limiting is one
 *   fixed window per wall-clock minute for the whole server, not per token.
 * - `GET /air/orders?metadata[k]=v` is a fake-only filter (real Duffel has no metadata search).
 * - Generated offers are smaller than real ones (about 2–3 KB instead of 6 KB each).
 *
 * @module
 */

import {
  currencyExponent,
  FakeClock,
  formatMinor,
  IdMinter,
  isObject,
  jsonResponse,
  type LoggedRequest,
  parseDecimal,
  queryRecord,
  serveFake,
  sleep,
} from "./_shared.ts";
import {
  buildOffer,
  buildOfferRequest,
  CABIN_CLASSES,
  generateSpecs,
  type OfferSpec,
  OfferSpecError,
  type ResolvedOffer,
  resolveSpec,
  type SearchContext,
  searchPassengers,
  setOfferTotal,
} from "./duffel_offers.ts";

/** A scripted fault on search or order creation. */
export interface FaultScript {
  /** HTTP status to answer with (with Duffel's error envelope). */
  status?: number;
  /** Duffel error code. */
  code?: string;
  /** Duffel error type; derived from the status when absent. */
  type?: string;
  /** Human message. */
  message?: string;
  /** Wait this long before answering. */
  delay_ms?: number;
  /** Search only: answer a broken body. */
  malformed?: "not_json" | "bad_envelope" | "bad_offer";
  /** Order only: create the order, then answer 504 (true) or break the body ("drop"). */
  lose_response?: true | "drop";
  /** Apply to the next n calls only (default: every call). */
  times?: number;
}

/** The per-route script set with `POST /_fake/routes`. */
export interface RouteScript {
  /** Origin IATA code of the first slice. */
  origin: string;
  /** Destination IATA code of the first slice. */
  destination: string;
  /** Currency of this route's offers. */
  currency?: string;
  /** Explicit offers (compact specs). */
  offers?: OfferSpec[];
  /** Number of generated offers when `offers` is absent (default 12). */
  offer_count?: number;
  /** Return scripted offers even when they exceed the searched `max_connections`. */
  ignore_max_connections?: boolean;
  /** Search fault. */
  search?: FaultScript;
  /** Total per successive GET of each offer. */
  reprice?: string[];
  /** Amount added to the total on each GET of an offer. */
  reprice_step?: string;
  /** Offers answer 422 offer_no_longer_available although not expired. */
  offer_gone?: boolean;
  /** Order fault. */
  order?: FaultScript;
}

interface OfferState {
  offer: Record<string, unknown>;
  requestId: string;
  routeKey: string;
  reads: number;
  originalMinor: number;
  reprice: string[] | null;
  repriceStepMinor: number | null;
  gone: boolean;
  expiresAtMs: number;
}

interface OfferRequestState {
  id: string;
  offerIds: string[];
  booked: boolean;
}

interface OrderState {
  order: Record<string, unknown>;
  offerId: string;
  offerRequestId: string;
}

/** Options of {@link createDuffelFake}. */
export interface DuffelFakeOptions {
  /** Clock; default real time. */
  clock?: FakeClock;
  /** Requests per minute before 429 (default 4000). */
  rateLimitPerMinute?: number;
  /** Seed for ids (default "duffel"). */
  seed?: string;
  /** Currency of generated offers (default GBP). */
  currency?: string;
}

/** A fake Duffel instance: call `fetch` in-process or serve it. */
export interface DuffelFake {
  /** Handles one HTTP request. */
  fetch(req: Request): Promise<Response>;
}

const BUILT_IN_ROUTES: RouteScript[] = [
  { origin: "PVD", destination: "RAI", offer_count: 0 },
  { origin: "STN", destination: "LHR", search: { status: 504, code: "gateway_timeout_error" } },
  { origin: "LGW", destination: "LHR", offer_gone: true },
  { origin: "LHR", destination: "STN", reprice_step: "10.00" },
  { origin: "LHR", destination: "LGW", order: { status: 502, code: "airline_unknown" } },
  {
    origin: "LGW",
    destination: "STN",
    order: { status: 422, code: "insufficient_balance", type: "invalid_state_error" },
  },
  {
    origin: "LHR",
    destination: "DXB",
    offers: [
      { total: "612.40", stops: 1, duration_minutes: 560, departing_at: "08:15" },
      { total: "578.10", stops: 1, duration_minutes: 655, departing_at: "13:40", carrier: "EK" },
      { total: "530.00", stops: 2, duration_minutes: 900, departing_at: "21:05" },
    ],
  },
];

const DOC_URL = "https://duffel.com/docs/api/overview/errors";

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly errors: Record<string, unknown>[] = [],
  ) {
    super(message);
  }
}

function titleOf(code: string): string {
  const t = code.replace(/_/g, " ");
  return t[0].toUpperCase() + t.slice(1);
}

function errorObject(
  type: string,
  code: string,
  message: string,
  source?: { field?: string; pointer?: string; parameter?: string },
): Record<string, unknown> {
  const e: Record<string, unknown> = {
    type,
    code,
    title: titleOf(code),
    message,
    documentation_url: DOC_URL,
  };
  if (source) e.source = source;
  return e;
}

function typeForStatus(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 429) return "rate_limit_error";
  if (status === 422) return "validation_error";
  if (status === 502) return "airline_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

/** Collects per-field validation errors (one Duffel error object per bad field). */
class Validation {
  readonly errors: Record<string, unknown>[] = [];

  add(code: string, pointer: string, message: string): void {
    const field = pointer.split("/").filter((p) => p && !/^\d+$/.test(p)).pop() ?? "data";
    this.errors.push(
      errorObject("validation_error", code, message, { field, pointer: `/data${pointer}` }),
    );
  }

  throwIfAny(): void {
    if (this.errors.length) {
      throw new ApiError(422, "validation_error", String(this.errors[0].code), "", this.errors);
    }
  }
}

const IATA = /^[A-Z]{3}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function validDate(s: unknown): s is string {
  return typeof s === "string" && DATE.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) &&
    new Date(`${s}T00:00:00Z`).toISOString().startsWith(s);
}

function yearsBetween(bornOn: string, onDate: string): number {
  const [by, bm, bd] = bornOn.split("-").map(Number);
  const [y, m, d] = onDate.split("-").map(Number);
  return y - by - ((m < bm || (m === bm && d < bd)) ? 1 : 0);
}

function encodeCursor(o: Record<string, unknown>): string {
  return btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

function decodeCursor(s: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(atob(s.replace(/-/g, "+").replace(/_/g, "/")));
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

function durationMinutes(iso: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(iso);
  if (!m) return 0;
  return Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** Checks a route script; returns an error message or null. */
function checkScript(s: unknown): string | null {
  if (!isObject(s)) return "body must be a JSON object";
  if (typeof s.origin !== "string" || !IATA.test(s.origin)) return "origin must be an IATA code";
  if (typeof s.destination !== "string" || !IATA.test(s.destination)) {
    return "destination must be an IATA code";
  }
  if (s.offers !== undefined && !Array.isArray(s.offers)) return "offers must be an array";
  if (
    s.offer_count !== undefined &&
    (!Number.isInteger(s.offer_count) || (s.offer_count as number) < 0 ||
      (s.offer_count as number) > 5000)
  ) return "offer_count must be an integer 0–5000";
  if (s.reprice !== undefined && (!Array.isArray(s.reprice) || s.reprice.length === 0)) {
    return "reprice must be a non-empty array of decimal strings";
  }
  const ctx: SearchContext = {
    slices: [{ origin: s.origin, destination: s.destination, departure_date: "2027-01-01" }],
    passengers: [{ id: "pas_x", type: "adult", age: null }],
    cabin_class: "economy",
    max_connections: null,
    now_ms: 0,
    currency: "GBP",
  };
  try {
    for (const o of (s.offers ?? []) as OfferSpec[]) {
      if (!isObject(o)) return "offers[] must be objects";
      const r = resolveSpec(o, ctx, s.currency as string | undefined);
      for (const p of (o as OfferSpec).reprice ?? []) {
        if (parseDecimal(p, r.currency) === null) return `offers[].reprice: bad decimal ${p}`;
      }
    }
  } catch (e) {
    if (e instanceof OfferSpecError) return `offers[].${e.field}: ${e.message}`;
    throw e;
  }
  for (const p of (s.reprice ?? []) as unknown[]) {
    if (typeof p !== "string" || !/^\d+(\.\d+)?$/.test(p)) return `reprice: bad decimal ${p}`;
  }
  if (s.reprice_step !== undefined && !/^\d+(\.\d+)?$/.test(String(s.reprice_step))) {
    return "reprice_step must be a decimal string";
  }
  for (const k of ["search", "order"] as const) {
    if (s[k] !== undefined && !isObject(s[k])) return `${k} must be an object`;
  }
  return null;
}

/** Creates an independent fake Duffel with its own in-memory state. */
export function createDuffelFake(options: DuffelFakeOptions = {}): DuffelFake {
  const clock = options.clock ?? new FakeClock();
  const seed = options.seed ?? "duffel";
  const defaultCurrency = (options.currency ?? "GBP").toUpperCase();
  const defaultRateLimit = options.rateLimitPerMinute ?? 4000;

  let ids = new IdMinter(seed);
  let routes = new Map<string, RouteScript>();
  let faultUses = new Map<string, number>();
  let offerRequests = new Map<string, OfferRequestState>();
  let offers = new Map<string, OfferState>();
  let orders = new Map<string, OrderState>();
  let cancellations = new Map<string, Record<string, unknown>>();
  let log: LoggedRequest[] = [];
  let rateLimit = defaultRateLimit;
  let rateWindow = -1;
  let rateCount = 0;
  let searchCount = 0;

  function reset(): void {
    ids = new IdMinter(seed);
    routes = new Map(
      BUILT_IN_ROUTES.map((r) => [`${r.origin}-${r.destination}`, structuredClone(r)]),
    );
    faultUses = new Map();
    offerRequests = new Map();
    offers = new Map();
    orders = new Map();
    cancellations = new Map();
    log = [];
    rateLimit = defaultRateLimit;
    rateWindow = -1;
    rateCount = 0;
    searchCount = 0;
    clock.reset();
  }
  reset();

  const nowIso = () => new Date(clock.nowMs()).toISOString();

  /** Returns the fault if it still applies (and counts the use). */
  function takeFault(routeKey: string, kind: "search" | "order"): FaultScript | null {
    const f = routes.get(routeKey)?.[kind];
    if (!f) return null;
    const key = `${routeKey}:${kind}`;
    const used = faultUses.get(key) ?? 0;
    if (f.times !== undefined && used >= f.times) return null;
    faultUses.set(key, used + 1);
    return f;
  }

  function faultError(f: FaultScript): ApiError {
    const status = f.status ?? 500;
    const code = f.code ?? (status === 504 ? "gateway_timeout_error" : "internal_server_error");
    return new ApiError(
      status,
      f.type ?? typeForStatus(status),
      code,
      f.message ?? `Scripted failure: ${code}`,
    );
  }

  // ---------------------------------------------------------------- offer requests

  async function createOfferRequest(url: URL, body: unknown): Promise<Response> {
    const v = new Validation();
    const data = isObject(body) ? body.data : undefined;
    if (!isObject(data)) {
      v.add("validation_required", "", "data is required");
      v.throwIfAny();
    }
    const d = data as Record<string, unknown>;
    const slices: { origin: string; destination: string; departure_date: string }[] = [];
    if (!Array.isArray(d.slices) || d.slices.length === 0) {
      v.add(
        d.slices === undefined ? "validation_required" : "validation_format",
        "/slices",
        "slices must be a non-empty list",
      );
    } else {
      d.slices.forEach((s: unknown, i: number) => {
        const o = isObject(s) ? s : {};
        for (const f of ["origin", "destination"] as const) {
          if (o[f] === undefined) {
            v.add("validation_required", `/slices/${i}/${f}`, `${f} is required`);
          } else if (typeof o[f] !== "string" || !IATA.test(o[f] as string)) {
            v.add("validation_format", `/slices/${i}/${f}`, `${f} must be an IATA code`);
          }
        }
        if (o.departure_date === undefined) {
          v.add("validation_required", `/slices/${i}/departure_date`, "departure_date is required");
        } else if (!validDate(o.departure_date)) {
          v.add(
            "validation_format",
            `/slices/${i}/departure_date`,
            "departure_date must be an ISO date",
          );
        }
        slices.push(o as (typeof slices)[number]);
      });
    }
    const paxIn: ({ type: "adult" } | { age: number })[] = [];
    if (!Array.isArray(d.passengers) || d.passengers.length === 0) {
      v.add(
        d.passengers === undefined ? "validation_required" : "validation_format",
        "/passengers",
        "passengers must be a non-empty list",
      );
    } else if (d.passengers.length > 9) {
      v.add("validation_format", "/passengers", "at most 9 passengers");
    } else {
      d.passengers.forEach((p: unknown, i: number) => {
        const o = isObject(p) ? p : {};
        if (o.type !== undefined && o.age !== undefined) {
          v.add("validation_format", `/passengers/${i}`, "give either type or age, not both");
        } else if (o.type !== undefined) {
          if (o.type !== "adult") {
            v.add(
              "validation_inclusion",
              `/passengers/${i}/type`,
              "type must be adult; use age otherwise",
            );
          } else paxIn.push({ type: "adult" });
        } else if (o.age !== undefined) {
          if (!Number.isInteger(o.age) || (o.age as number) < 0 || (o.age as number) > 17) {
            v.add("validation_inclusion", `/passengers/${i}/age`, "age must be an integer 0–17");
          } else paxIn.push({ age: o.age as number });
        } else {
          v.add("validation_required", `/passengers/${i}/type`, "type or age is required");
        }
      });
    }
    if (
      d.cabin_class !== undefined && d.cabin_class !== null &&
      !(CABIN_CLASSES as readonly string[]).includes(d.cabin_class as string)
    ) {
      v.add(
        "validation_inclusion",
        "/cabin_class",
        `cabin_class must be one of ${CABIN_CLASSES.join(", ")}`,
      );
    }
    if (
      d.max_connections !== undefined && d.max_connections !== null &&
      ![0, 1, 2].includes(d.max_connections as number)
    ) {
      v.add("validation_inclusion", "/max_connections", "max_connections must be 0, 1 or 2");
    }
    v.throwIfAny();

    const routeKey = `${slices[0].origin}-${slices[0].destination}`;
    const script = routes.get(routeKey);
    const returnOffers = url.searchParams.get("return_offers") !== "false";
    const st = Number(url.searchParams.get("supplier_timeout"));
    const supplierTimeout = Number.isFinite(st) && st >= 2000 && st <= 60000 ? st : 20000;

    const fault = takeFault(routeKey, "search");
    let suppliersTimedOut = false;
    if (fault?.delay_ms !== undefined) {
      if (fault.delay_ms > supplierTimeout) {
        await sleep(supplierTimeout);
        suppliersTimedOut = true;
      } else await sleep(fault.delay_ms);
    }
    if (fault?.status !== undefined) throw faultError(fault);

    const ctx: SearchContext = {
      slices: slices.map((s) => ({
        origin: s.origin,
        destination: s.destination,
        departure_date: s.departure_date,
      })),
      passengers: searchPassengers(paxIn, ids),
      cabin_class: (d.cabin_class as string | undefined) ?? "economy",
      max_connections: (d.max_connections as number | undefined) ?? null,
      now_ms: clock.nowMs(),
      currency: script?.currency?.toUpperCase() ?? defaultCurrency,
    };
    searchCount++;
    const orqId = ids.duffel("orq");
    const orq = buildOfferRequest(orqId, ctx, `fake_ck_${searchCount}`);

    let specs: { r: ResolvedOffer; spec: OfferSpec | null }[];
    if (suppliersTimedOut) specs = [];
    else if (script?.offers) {
      specs = script.offers.map((o) => ({ r: resolveSpec(o, ctx, script.currency), spec: o }));
    } else {
      specs = generateSpecs(script?.offer_count ?? 12, ctx, seed).map((r) => ({ r, spec: null }));
    }
    if (ctx.max_connections !== null && !script?.ignore_max_connections) {
      specs = specs.filter((s) => s.r.stops <= (ctx.max_connections as number));
    }
    const step = script?.reprice_step;
    const built = specs.map(({ r, spec }) => {
      const offer = buildOffer(r, ctx, ids);
      const state: OfferState = {
        offer,
        requestId: orqId,
        routeKey,
        reads: 0,
        originalMinor: r.total_minor,
        reprice: spec?.reprice ?? script?.reprice ?? null,
        repriceStepMinor: step ? parseDecimal(step, r.currency) : null,
        gone: script?.offer_gone ?? false,
        expiresAtMs: r.expires_at_ms,
      };
      offers.set(offer.id as string, state);
      return offer;
    });
    offerRequests.set(orqId, {
      id: orqId,
      offerIds: built.map((o) => o.id as string),
      booked: false,
    });

    if (fault?.malformed === "not_json") {
      return new Response("<html><body><h1>502 Bad Gateway</h1></body></html>", {
        status: 201,
        headers: { "content-type": "text/html" },
      });
    }
    if (fault?.malformed === "bad_envelope") {
      return jsonResponse(201, { ...orq, offers: structuredClone(built) });
    }
    const outOffers = structuredClone(built);
    if (fault?.malformed === "bad_offer" && outOffers.length > 0) {
      const bad = outOffers[0];
      bad.total_amount = Number(bad.total_amount);
      delete bad.slices;
    }
    if (returnOffers) orq.offers = outOffers;
    return jsonResponse(201, { data: orq });
  }

  // ---------------------------------------------------------------- offers

  function listOffers(url: URL): Response {
    const q = url.searchParams;
    const orqId = q.get("offer_request_id");
    if (!orqId) {
      throw new ApiError(422, "validation_error", "validation_required", "", [
        errorObject("validation_error", "validation_required", "offer_request_id is required", {
          field: "offer_request_id",
          parameter: "offer_request_id",
        }),
      ]);
    }
    const orq = offerRequests.get(orqId);
    if (!orq) {
      throw new ApiError(404, "invalid_request_error", "not_found", "Offer request not found");
    }
    const sort = q.get("sort") ?? "";
    if (
      !["", "total_amount", "-total_amount", "total_duration", "-total_duration"].includes(sort)
    ) {
      throw new ApiError(422, "validation_error", "validation_inclusion", "", [
        errorObject(
          "validation_error",
          "validation_inclusion",
          "sort must be total_amount or total_duration, optionally prefixed with -",
          { field: "sort", parameter: "sort" },
        ),
      ]);
    }
    const limitRaw = q.get("limit");
    const limit = limitRaw === null ? 50 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
      throw new ApiError(422, "validation_error", "validation_inclusion", "", [
        errorObject("validation_error", "validation_inclusion", "limit must be 1–200", {
          field: "limit",
          parameter: "limit",
        }),
      ]);
    }
    let offset = 0;
    const after = q.get("after");
    if (after) {
      const c = decodeCursor(after);
      if (!c || c.r !== orqId || c.s !== sort || !Number.isInteger(c.o)) {
        throw new ApiError(422, "validation_error", "validation_format", "", [
          errorObject(
            "validation_error",
            "validation_format",
            "after is not a cursor of this list",
            { field: "after", parameter: "after" },
          ),
        ]);
      }
      offset = c.o as number;
    }
    let list = orq.offerIds.map((id) => offers.get(id)!.offer);
    const maxConn = q.get("max_connections");
    if (maxConn !== null) {
      list = list.filter((o) =>
        (o.slices as { segments: unknown[] }[]).every((s) =>
          s.segments.length - 1 <= Number(maxConn)
        )
      );
    }
    const key = (o: Record<string, unknown>): number =>
      sort.endsWith("total_amount")
        ? parseDecimal(o.total_amount, o.total_currency as string) ?? 0
        : (o.slices as { duration: string }[]).reduce((n, s) => n + durationMinutes(s.duration), 0);
    list = [...list].sort((a, b) => {
      if (sort === "") return (a.id as string) < (b.id as string) ? -1 : 1;
      const diff = sort.startsWith("-") ? key(b) - key(a) : key(a) - key(b);
      return diff !== 0 ? diff : (a.id as string) < (b.id as string) ? -1 : 1;
    });
    const page = list.slice(offset, offset + limit);
    const next = offset + limit < list.length
      ? encodeCursor({ o: offset + limit, r: orqId, s: sort })
      : null;
    return jsonResponse(200, { data: page, meta: { limit, after: next, before: null } });
  }

  /** The current price of an offer after `reads` reads. */
  function currentMinor(st: OfferState): number {
    const cur = st.offer.total_currency as string;
    if (st.reprice && st.reads > 0) {
      return parseDecimal(st.reprice[Math.min(st.reads, st.reprice.length) - 1], cur) ??
        st.originalMinor;
    }
    if (st.repriceStepMinor !== null) return st.originalMinor + st.repriceStepMinor * st.reads;
    return st.originalMinor;
  }

  function liveOffer(id: string): OfferState {
    const st = offers.get(id);
    if (!st) throw new ApiError(404, "invalid_request_error", "not_found", "Offer not found");
    if (st.gone || clock.nowMs() >= st.expiresAtMs) {
      throw new ApiError(
        422,
        "airline_error",
        "offer_no_longer_available",
        "The offer is no longer available; search again.",
      );
    }
    return st;
  }

  function getOffer(id: string, url: URL): Response {
    const st = liveOffer(id);
    st.reads++;
    setOfferTotal(st.offer, currentMinor(st));
    st.offer.updated_at = nowIso();
    const out = structuredClone(st.offer);
    if (url.searchParams.get("return_available_services") === "true") {
      const cur = st.offer.total_currency as string;
      out.available_services = [{
        id: `ase_0000${(id as string).slice(8, 30)}`,
        type: "baggage",
        total_amount: formatMinor(35 * 10 ** currencyExponent(cur), cur),
        total_currency: cur,
        maximum_quantity: 1,
        passenger_ids: (st.offer.passengers as { id: string }[]).map((p) => p.id),
        segment_ids: (st.offer.slices as { segments: { id: string }[] }[]).flatMap((s) =>
          s.segments.map((g) => g.id)
        ),
        metadata: { type: "checked", maximum_weight_kg: 23 },
      }];
    }
    return jsonResponse(200, { data: out });
  }

  // ---------------------------------------------------------------- orders

  async function createOrder(body: unknown): Promise<Response> {
    const v = new Validation();
    const data = isObject(body) ? body.data : undefined;
    if (!isObject(data)) {
      v.add("validation_required", "", "data is required");
      v.throwIfAny();
    }
    const d = data as Record<string, unknown>;
    if (d.type !== "instant") {
      v.add(
        d.type === undefined ? "validation_required" : "validation_inclusion",
        "/type",
        "type must be instant (the fake supports instant orders only)",
      );
    }
    if (
      !Array.isArray(d.selected_offers) || d.selected_offers.length !== 1 ||
      typeof d.selected_offers[0] !== "string"
    ) {
      v.add(
        d.selected_offers === undefined ? "validation_required" : "validation_format",
        "/selected_offers",
        "selected_offers must hold exactly one offer id",
      );
    }
    if (!Array.isArray(d.passengers)) {
      v.add("validation_required", "/passengers", "passengers is required");
    }
    if (d.services !== undefined && (!Array.isArray(d.services) || d.services.length > 0)) {
      v.add("validation_format", "/services", "the fake sells no services; send [] or omit");
    }
    v.throwIfAny();

    const offerId = (d.selected_offers as string[])[0];
    const st = liveOffer(offerId);
    const orq = offerRequests.get(st.requestId)!;
    if (orq.booked) {
      throw new ApiError(
        422,
        "validation_error",
        "offer_request_already_booked",
        "An order has already been created from this offer request.",
      );
    }

    // Passengers: every offer passenger, complete and well-formed.
    const lastDate = (st.offer.slices as { segments: { departing_at: string }[] }[]).at(-1)!
      .segments[0].departing_at.slice(0, 10);
    const given = new Map<string, { p: Record<string, unknown>; i: number }>();
    (d.passengers as unknown[]).forEach((p, i) => {
      if (!isObject(p) || typeof p.id !== "string") {
        v.add("validation_required", `/passengers/${i}/id`, "id is required");
      } else given.set(p.id, { p, i });
    });
    const offerPax = st.offer.passengers as { id: string; type: string; age: number | null }[];
    for (const op of offerPax) {
      const g = given.get(op.id);
      if (!g) {
        v.add("validation_required", "/passengers", `passenger ${op.id} of the offer is missing`);
        continue;
      }
      const { p, i } = g;
      const at = (f: string) => `/passengers/${i}/${f}`;
      const str = (f: string) => typeof p[f] === "string" && (p[f] as string).trim() !== "";
      for (
        const f of [
          "title",
          "gender",
          "given_name",
          "family_name",
          "born_on",
          "email",
          "phone_number",
        ]
      ) {
        if (p[f] === undefined || p[f] === null) {
          v.add("validation_required", at(f), `${f} is required`);
        }
      }
      if (p.title != null && !["mr", "ms", "mrs", "miss", "dr"].includes(p.title as string)) {
        v.add("validation_inclusion", at("title"), "title must be one of mr, ms, mrs, miss, dr");
      }
      if (p.gender != null && !["m", "f"].includes(p.gender as string)) {
        v.add("validation_inclusion", at("gender"), "gender must be m or f");
      }
      for (const f of ["given_name", "family_name"]) {
        if (p[f] != null && !str(f)) {
          v.add("validation_format", at(f), `${f} must be a non-empty string`);
        }
      }
      if (p.born_on != null) {
        if (!validDate(p.born_on)) {
          v.add("validation_format", at("born_on"), "born_on must be an ISO date");
        } else {
          const age = yearsBetween(p.born_on, lastDate);
          if (age < 0) v.add("validation_format", at("born_on"), "born_on is in the future");
          else if (op.age !== null && age !== op.age) {
            v.add(
              "validation_format",
              at("born_on"),
              "born_on does not match the age searched for",
            );
          } else if (op.type === "adult" && op.age === null && age < 18) {
            v.add(
              "validation_format",
              at("born_on"),
              "an adult must be 18 or over on the last flight",
            );
          }
        }
      }
      if (
        p.email != null &&
        !(typeof p.email === "string" && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(p.email))
      ) {
        v.add("validation_format", at("email"), "email is not an email address");
      }
      if (
        p.phone_number != null &&
        !(typeof p.phone_number === "string" && /^\+[1-9]\d{6,14}$/.test(p.phone_number))
      ) {
        v.add("validation_format", at("phone_number"), "phone_number must be E.164");
      }
    }
    for (const id of given.keys()) {
      if (!offerPax.some((op) => op.id === id)) {
        v.add("validation_format", "/passengers", `passenger ${id} is not on the offer`);
      }
    }
    // Metadata: ≤50 string pairs, key ≤40 [A-Za-z0-9_-], value ≤500.
    if (d.metadata !== undefined && d.metadata !== null) {
      if (!isObject(d.metadata)) {
        v.add("validation_format", "/metadata", "metadata must be an object");
      } else {
        const entries = Object.entries(d.metadata);
        if (entries.length > 50) {
          v.add("validation_format", "/metadata", "at most 50 metadata keys");
        }
        for (const [k, val] of entries) {
          if (!/^[A-Za-z0-9_-]{1,40}$/.test(k) || typeof val !== "string" || val.length > 500) {
            v.add(
              "validation_format",
              `/metadata/${k}`,
              "metadata keys ≤40 of [A-Za-z0-9_-], values strings ≤500",
            );
          }
        }
      }
    }
    // Payments: one balance payment of the current total, same currency.
    const total = currentMinor(st);
    const currency = st.offer.total_currency as string;
    let amountMismatch = false;
    if (!Array.isArray(d.payments) || d.payments.length !== 1) {
      v.add(
        d.payments === undefined ? "validation_required" : "validation_format",
        "/payments",
        "an instant order needs exactly one payment",
      );
    } else {
      const pay = isObject(d.payments[0]) ? d.payments[0] : {};
      if (pay.type !== "balance") {
        v.add("validation_inclusion", "/payments/0/type", "payment type must be balance (fake)");
      }
      if (typeof pay.currency !== "string" || !/^[A-Z]{3}$/.test(pay.currency)) {
        v.add("validation_format", "/payments/0/currency", "currency must be an ISO 4217 code");
      }
      if (typeof pay.amount !== "string" || !/^\d+(\.\d+)?$/.test(pay.amount)) {
        v.add("validation_format", "/payments/0/amount", "amount must be a decimal string");
      } else if (pay.currency !== currency || parseDecimal(pay.amount, currency) !== total) {
        amountMismatch = true;
      }
    }
    v.throwIfAny();
    if (amountMismatch) {
      throw new ApiError(
        422,
        "validation_error",
        "payment_amount_does_not_match_order_amount",
        `The payment amount does not match the order amount of ${
          formatMinor(total, currency)
        } ${currency}.`,
      );
    }

    const fault = takeFault(st.routeKey, "order");
    if (fault?.status !== undefined) {
      if (fault.delay_ms) await sleep(fault.delay_ms);
      throw faultError(fault);
    }
    orq.booked = true; // claimed before any delay: a concurrent order sees it as booked
    if (fault?.delay_ms) await sleep(fault.delay_ms);

    const now = nowIso();
    const ordId = ids.duffel("ord");
    const offer = st.offer;
    const order: Record<string, unknown> = {
      id: ordId,
      live_mode: false,
      type: "instant",
      created_at: now,
      synced_at: now,
      booking_reference: ids.code(6),
      total_amount: formatMinor(total, currency),
      total_currency: currency,
      base_amount: offer.base_amount,
      base_currency: currency,
      tax_amount: offer.tax_amount,
      tax_currency: currency,
      owner: offer.owner,
      slices: structuredClone(offer.slices),
      passengers: offerPax.map((op) => {
        const p = given.get(op.id)!.p;
        return {
          id: op.id,
          title: p.title,
          gender: p.gender,
          given_name: p.given_name,
          family_name: p.family_name,
          born_on: p.born_on,
          email: p.email,
          phone_number: p.phone_number,
          infant_passenger_id: p.infant_passenger_id ?? null,
          loyalty_programme_accounts: [],
        };
      }),
      services: [],
      payment_status: {
        awaiting_payment: false,
        payment_required_by: null,
        price_guarantee_expires_at: null,
        paid_at: now,
      },
      documents: offerPax.filter((p) => p.type !== "infant_without_seat").map((p) => ({
        type: "electronic_ticket",
        unique_identifier: ids.digits(13),
        passenger_ids: [p.id],
      })),
      conditions: offer.conditions,
      metadata: (d.metadata as Record<string, string> | undefined) ?? null,
      available_actions: ["cancel", "change", "update"],
      cancelled_at: null,
      cancellation: null,
      airline_initiated_changes: [],
      content: "managed",
      users: [],
    };
    orders.set(ordId, { order, offerId, offerRequestId: st.requestId });

    if (fault?.lose_response === "drop") {
      const stream = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('{"data":{"id":"'));
          c.error(new Error("connection dropped by the fake"));
        },
      });
      return new Response(stream, { status: 201, headers: { "content-type": "application/json" } });
    }
    if (fault?.lose_response) {
      throw new ApiError(504, "api_error", "gateway_timeout_error", "The request timed out.");
    }
    return jsonResponse(201, { data: order });
  }

  function getOrder(id: string): Response {
    const o = orders.get(id);
    if (!o) throw new ApiError(404, "invalid_request_error", "not_found", "Order not found");
    return jsonResponse(200, { data: o.order });
  }

  function listOrders(url: URL): Response {
    const q = url.searchParams;
    const ref = q.get("booking_reference");
    const offerId = q.get("offer_id");
    const meta: [string, string][] = [];
    for (const [k, val] of q) {
      const m = /^metadata\[([^\]]+)\]$/.exec(k);
      if (m) meta.push([m[1], val]);
    }
    const limit = q.get("limit") === null ? 50 : Number(q.get("limit"));
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
      throw new ApiError(422, "validation_error", "validation_inclusion", "", [
        errorObject("validation_error", "validation_inclusion", "limit must be 1–200", {
          field: "limit",
          parameter: "limit",
        }),
      ]);
    }
    const list = [...orders.values()].filter((o) =>
      (ref === null || o.order.booking_reference === ref) &&
      (offerId === null || o.offerId === offerId) &&
      meta.every(([k, val]) => (o.order.metadata as Record<string, string> | null)?.[k] === val)
    ).map((o) => o.order);
    const after = q.get("after");
    let offset = 0;
    if (after) {
      const c = decodeCursor(after);
      if (!c || !Number.isInteger(c.o)) {
        throw new ApiError(422, "validation_error", "validation_format", "after is not a cursor");
      }
      offset = c.o as number;
    }
    const page = list.slice(offset, offset + limit);
    const next = offset + limit < list.length ? encodeCursor({ o: offset + limit }) : null;
    return jsonResponse(200, { data: page, meta: { limit, after: next, before: null } });
  }

  function createCancellation(body: unknown): Response {
    const data = isObject(body) ? body.data : undefined;
    const orderId = isObject(data) ? data.order_id : undefined;
    if (typeof orderId !== "string") {
      const v = new Validation();
      v.add("validation_required", "/order_id", "order_id is required");
      v.throwIfAny();
    }
    const o = orders.get(orderId as string);
    if (!o) throw new ApiError(404, "invalid_request_error", "not_found", "Order not found");
    if (o.order.cancelled_at) {
      throw new ApiError(
        422,
        "invalid_state_error",
        "already_cancelled",
        "The order is already cancelled.",
      );
    }
    const now = clock.nowMs();
    const quote = {
      id: ids.duffel("ore"),
      order_id: orderId,
      refund_amount: o.order.total_amount,
      refund_currency: o.order.total_currency,
      refund_to: "balance",
      expires_at: new Date(now + 15 * 60_000).toISOString(),
      confirmed_at: null,
      created_at: new Date(now).toISOString(),
      live_mode: false,
      airline_credits: [],
    };
    cancellations.set(quote.id, quote);
    return jsonResponse(201, { data: quote });
  }

  function confirmCancellation(id: string): Response {
    const quote = cancellations.get(id);
    if (!quote) {
      throw new ApiError(404, "invalid_request_error", "not_found", "Order cancellation not found");
    }
    const o = orders.get(quote.order_id as string)!;
    if (quote.confirmed_at || o.order.cancelled_at) {
      throw new ApiError(
        422,
        "invalid_state_error",
        "already_cancelled",
        "The order is already cancelled.",
      );
    }
    const now = nowIso();
    quote.confirmed_at = now;
    o.order.cancelled_at = now;
    o.order.available_actions = ["update"];
    o.order.cancellation = quote;
    return jsonResponse(200, { data: quote });
  }

  // ---------------------------------------------------------------- control API

  async function control(req: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    const readJson = async (): Promise<unknown> => {
      try {
        return await req.json();
      } catch {
        return undefined;
      }
    };
    if (req.method === "POST" && path === "/_fake/reset") {
      reset();
      return jsonResponse(200, { ok: true });
    }
    if (path === "/_fake/routes") {
      if (req.method === "GET") return jsonResponse(200, { data: [...routes.values()] });
      if (req.method === "POST") {
        const s = await readJson();
        const problem = checkScript(s);
        if (problem) return jsonResponse(400, { error: problem });
        const script = s as RouteScript;
        const key = `${script.origin}-${script.destination}`;
        routes.set(key, script);
        faultUses.delete(`${key}:search`);
        faultUses.delete(`${key}:order`);
        return jsonResponse(201, { data: script });
      }
    }
    if (req.method === "GET" && path === "/_fake/requests") {
      const prefix = url.searchParams.get("path");
      return jsonResponse(200, {
        data: prefix ? log.filter((l) => l.path.startsWith(prefix)) : log,
      });
    }
    if (req.method === "GET" && path === "/_fake/orders") {
      return jsonResponse(200, {
        data: [...orders.values()].map((o) => ({
          ...o.order,
          offer_id: o.offerId,
          offer_request_id: o.offerRequestId,
        })),
      });
    }
    if (req.method === "POST" && path === "/_fake/config") {
      const c = await readJson();
      const n = isObject(c) ? c.rate_limit_per_minute : undefined;
      if (!Number.isInteger(n) || (n as number) < 0) {
        return jsonResponse(400, { error: "rate_limit_per_minute must be a non-negative integer" });
      }
      rateLimit = n as number;
      rateCount = 0;
      return jsonResponse(200, { rate_limit_per_minute: rateLimit });
    }
    if (req.method === "POST" && path === "/_fake/clock") {
      const c = await readJson();
      const s = isObject(c) ? c.advance_seconds : undefined;
      if (typeof s !== "number" || !Number.isFinite(s)) {
        return jsonResponse(400, { error: "advance_seconds must be a number" });
      }
      clock.advance(s * 1000);
      return jsonResponse(200, { now: nowIso(), offset_ms: clock.offsetMs });
    }
    return jsonResponse(404, { error: `no control endpoint ${req.method} ${path}` });
  }

  // ---------------------------------------------------------------- dispatch

  async function route(req: Request, url: URL, body: unknown): Promise<Response> {
    const p = url.pathname.replace(/\/+$/, "");
    const m = req.method;
    let g: RegExpExecArray | null;
    if (p === "/air/offer_requests" && m === "POST") return await createOfferRequest(url, body);
    if (p === "/air/offers" && m === "GET") return listOffers(url);
    if ((g = /^\/air\/offers\/([^/]+)$/.exec(p)) && m === "GET") return getOffer(g[1], url);
    if (p === "/air/orders" && m === "POST") return await createOrder(body);
    if (p === "/air/orders" && m === "GET") return listOrders(url);
    if ((g = /^\/air\/orders\/([^/]+)$/.exec(p)) && m === "GET") return getOrder(g[1]);
    if (p === "/air/order_cancellations" && m === "POST") return createCancellation(body);
    if ((g = /^\/air\/order_cancellations\/([^/]+)$/.exec(p)) && m === "GET") {
      const c = cancellations.get(g[1]);
      if (!c) {
        throw new ApiError(
          404,
          "invalid_request_error",
          "not_found",
          "Order cancellation not found",
        );
      }
      return jsonResponse(200, { data: c });
    }
    if ((g = /^\/air\/order_cancellations\/([^/]+)\/actions\/confirm$/.exec(p)) && m === "POST") {
      return confirmCancellation(g[1]);
    }
    throw new ApiError(404, "invalid_request_error", "not_found", `No route ${m} ${url.pathname}`);
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/_fake/")) return await control(req, url);

    const requestId = `Fake${ids.code(16)}`;
    const nowMs = clock.nowMs();
    const minute = Math.floor(nowMs / 60_000);
    if (minute !== rateWindow) {
      rateWindow = minute;
      rateCount = 0;
    }
    rateCount++;
    const headers: Record<string, string> = {
      "x-request-id": requestId,
      "ratelimit-limit": String(rateLimit),
      "ratelimit-remaining": String(Math.max(0, rateLimit - rateCount)),
      "ratelimit-reset": new Date((minute + 1) * 60_000).toUTCString(),
    };
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
    log.push(entry);
    if (log.length > 2000) log.shift();

    let res: Response;
    try {
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
      if (rateCount > rateLimit) {
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
      res = await route(req, url, body);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const errors = e.errors.length ? e.errors : [errorObject(e.type, e.code, e.message)];
      res = jsonResponse(e.status, { errors, meta: { status: e.status, request_id: requestId } });
    }
    entry.status = res.status;
    for (const [k, val] of Object.entries(headers)) res.headers.set(k, val);
    return res;
  }

  return { fetch: handle };
}

/** The shared instance behind the default export and the served process. */
const instance: DuffelFake = createDuffelFake();

export default instance;

if (import.meta.main) {
  const limit = Deno.env.get("DUFFEL_FAKE_RATE_LIMIT");
  const served = limit ? createDuffelFake({ rateLimitPerMinute: Number(limit) }) : instance;
  serveFake("fake duffel", served, 54391);
}
