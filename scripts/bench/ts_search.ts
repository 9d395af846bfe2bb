/**
 * The benchmark's TypeScript baseline: the core's search rules (normalize every Duffel offer,
 * drop malformed ones, one offer per id, check against the trip, rank, keep the best 200, only
 * the selected one with its raw text) written as a competent TypeScript developer would, with `JSON.parse` and plain
 * objects. Not used by any function: it exists so `scripts/bench.ts` can show what the wasm core
 * is measured against, and checks that both select the same offer.
 *
 * The rules mirror crates/booking-core (duffel/offers.rs `normalize_offer`, select.rs, search.rs);
 * the currency exponent comes from `Intl` (CLDR), which agrees with ISO 4217 for the currencies
 * the benchmark bodies use.
 *
 * @module
 */

/** The trip's selection criteria. */
export interface TsCriteria {
  currency: string;
  max_total_minor: number;
  cabin: string;
  nonstop_only: boolean;
}

/** One normalized offer (the contract's offer shape; `raw` is the offer object). */
export interface TsOffer {
  provider_offer_id: string;
  total_minor: number;
  currency: string;
  cabin: string;
  stops: number;
  duration_minutes: number | null;
  departing_at: string;
  arriving_at: string;
  carriers: string[];
  expires_at: string;
  raw: unknown;
}

/** What the search produces: the storage JSON text and the summary. */
export interface TsSearch {
  result_json: string;
  selected_provider_offer_id: string | null;
  offers_seen: number;
  offers_stored: number;
  malformed: number;
  rejections: Record<string, number>;
}

const CABINS = ["economy", "premium_economy", "business", "first"];
const EXPIRY_MARGIN_MS = 2 * 60 * 1000;
const MAX_STORED = 200;
const MAX_RAW_BYTES = 16 * 1024;
const ID = /^[A-Za-z0-9_]{1,128}$/;
const CARRIER = /^[A-Z0-9]{2,3}$/;
const AMOUNT = /^-?(\d+)(?:\.(\d+))?$/;
const LOCAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?)?$/;

const exponents = new Map<string, number | null>();
function exponent(code: string): number | null {
  let e = exponents.get(code);
  if (e === undefined) {
    try {
      if (!/^[A-Z]{3}$/.test(code)) throw new RangeError(code);
      e = new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions()
        .maximumFractionDigits ?? null;
    } catch {
      e = null;
    }
    exponents.set(code, e);
  }
  return e;
}

function minorUnits(amount: string, exp: number): number | null {
  const m = AMOUNT.exec(amount);
  if (!m) return null;
  const frac = (m[2] ?? "").replace(/0+$/, "");
  if (frac.length > exp) return null;
  const minor = Number(m[1] + frac.padEnd(exp, "0"));
  if (!Number.isSafeInteger(minor)) return null;
  return amount.startsWith("-") ? -minor : minor;
}

function durationMinutes(text: unknown): number | null {
  if (typeof text !== "string") return null;
  const m = DURATION.exec(text);
  if (!m || text === "P" || text.endsWith("T")) return null;
  const [w, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
  return Math.floor((((w * 7 + d) * 24 + h) * 60 * 60 + mi * 60 + s) / 60);
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** Normalizes one Duffel offer object, or null when it is malformed. */
export function normalize(o: Json): TsOffer | null {
  if (typeof o !== "object" || o === null) return null;
  if (typeof o.id !== "string" || !ID.test(o.id)) return null;
  if (typeof o.total_amount !== "string" || typeof o.total_currency !== "string") return null;
  const exp = exponent(o.total_currency);
  if (exp === null) return null;
  const total = minorUnits(o.total_amount, exp);
  if (total === null || total <= 0) return null;
  if (typeof o.expires_at !== "string" || !RFC3339.test(o.expires_at)) return null;
  const expires = Date.parse(o.expires_at);
  if (Number.isNaN(expires)) return null;
  const slices = o.slices;
  if (!Array.isArray(slices) || slices.length === 0) return null;
  let cabin = -1;
  const carriers: string[] = [];
  let stops = 0;
  let duration: number | null = 0;
  for (const slice of slices) {
    const segments = slice?.segments;
    if (!Array.isArray(segments) || segments.length === 0) return null;
    let sliceStops = segments.length - 1;
    for (const seg of segments) {
      if (typeof seg.departing_at !== "string" || typeof seg.arriving_at !== "string") return null;
      const code = seg.marketing_carrier?.iata_code;
      if (typeof code !== "string" || !CARRIER.test(code)) return null;
      if (!carriers.includes(code)) carriers.push(code);
      if (Array.isArray(seg.stops)) sliceStops += seg.stops.length;
      for (const p of seg.passengers ?? []) {
        if (p.cabin_class == null) continue;
        const c = CABINS.indexOf(p.cabin_class);
        if (c < 0) return null;
        cabin = cabin < 0 ? c : Math.min(cabin, c);
      }
    }
    stops = Math.max(stops, sliceStops);
    const d = durationMinutes(slice.duration);
    duration = duration === null || d === null ? null : duration + d;
  }
  const first = slices[0].segments;
  const departing = first[0].departing_at;
  const arriving = first[first.length - 1].arriving_at;
  if (!LOCAL.test(departing) || !LOCAL.test(arriving) || cabin < 0) return null;
  return {
    provider_offer_id: o.id,
    total_minor: total,
    currency: o.total_currency,
    cabin: CABINS[cabin],
    stops,
    duration_minutes: duration,
    departing_at: departing,
    arriving_at: arriving,
    carriers,
    expires_at: new Date(expires).toISOString(),
    raw: o,
  };
}

/** The selection order: total, duration (unknown last), departure, id. */
export function cmpRank(a: TsOffer, b: TsOffer): number {
  if (a.total_minor !== b.total_minor) return a.total_minor - b.total_minor;
  if (a.duration_minutes !== b.duration_minutes) {
    if (a.duration_minutes === null) return 1;
    if (b.duration_minutes === null) return -1;
    return a.duration_minutes - b.duration_minutes;
  }
  if (a.departing_at !== b.departing_at) return a.departing_at < b.departing_at ? -1 : 1;
  return a.provider_offer_id < b.provider_offer_id
    ? -1
    : a.provider_offer_id > b.provider_offer_id
    ? 1
    : 0;
}

/** The first failing check's code, or null when acceptable. */
export function rejection(o: TsOffer, c: TsCriteria, nowMs: number): string | null {
  if (nowMs + EXPIRY_MARGIN_MS >= Date.parse(o.expires_at)) return "expired";
  if (o.currency !== c.currency) return "currency_mismatch";
  if (o.total_minor > c.max_total_minor) return "over_budget";
  if (o.cabin !== c.cabin) return "cabin_mismatch";
  if (c.nonstop_only && o.stops > 0) return "too_many_stops";
  return null;
}

/** Body bytes in, storage JSON and summary out (throws on a body that is not an answer). */
export function tsSearch(bytes: Uint8Array, c: TsCriteria, nowMs: number): TsSearch {
  const body = JSON.parse(new TextDecoder().decode(bytes));
  const data = body?.data;
  if (typeof data?.id !== "string" || !ID.test(data.id) || !Array.isArray(data.offers)) {
    throw new Error("not an offer request");
  }
  const rejections: Record<string, number> = {
    expired: 0,
    currency_mismatch: 0,
    over_budget: 0,
    cabin_mismatch: 0,
    too_many_stops: 0,
  };
  const byId = new Map<string, { o: TsOffer; why: string | null }>();
  let malformed = 0;
  for (const raw of data.offers) {
    const o = normalize(raw);
    if (!o) {
      malformed++;
      continue;
    }
    const why = rejection(o, c, nowMs);
    const seen = byId.get(o.provider_offer_id);
    const better = !seen || (seen.why !== null && why === null) ||
      ((seen.why === null) === (why === null) && cmpRank(o, seen.o) < 0);
    if (better) byId.set(o.provider_offer_id, { o, why });
  }
  if (byId.size === 0 && malformed > 0) throw new Error("all offers malformed");
  const ok: TsOffer[] = [];
  const rejected: TsOffer[] = [];
  for (const { o, why } of byId.values()) {
    if (why === null) ok.push(o);
    else {
      rejections[why]++;
      rejected.push(o);
    }
  }
  ok.sort(cmpRank);
  rejected.sort(cmpRank);
  // Only the selected offer (the first acceptable one) keeps its raw object: that is all
  // app.record_search stores.
  const stored = ok.concat(rejected).slice(0, MAX_STORED).map((o, i) => {
    if (i > 0 || ok.length === 0) return { ...o, raw: null };
    const text = JSON.stringify(o.raw);
    return { ...o, raw: text.length <= MAX_RAW_BYTES ? o.raw : null };
  });
  const selected = ok.length > 0 ? ok[0].provider_offer_id : null;
  const result = {
    provider: "duffel",
    offer_request_id: data.id,
    offers_seen: data.offers.length,
    offers: stored,
    selected_provider_offer_id: selected,
    rejections,
    decision: selected ? "offer_selected" : "no_acceptable_offer",
  };
  return {
    result_json: JSON.stringify(result),
    selected_provider_offer_id: selected,
    offers_seen: data.offers.length,
    offers_stored: stored.length,
    malformed,
    rejections,
  };
}
