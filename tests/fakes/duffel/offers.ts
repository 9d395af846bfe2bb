/**
 * Offers of the fake Duffel: `GET /air/offers` (one search's offers, sorted and paged) and
 * `GET /air/offers/{id}` (re-prices on each read when scripted, expires on the fake's clock,
 * 422 `offer_no_longer_available` once gone), plus the live-offer lookup orders use.
 *
 * @module
 */

import { currencyExponent, formatMinor, jsonResponse, parseDecimal } from "../_shared.ts";
import { ApiError, notFound, queryParamError } from "./errors.ts";
import { setOfferTotal } from "./offer_builder.ts";
import { decodeCursor, encodeCursor, parseLimit } from "./paging.ts";
import type { DuffelState } from "./state.ts";
import type { OfferState } from "./types.ts";

const SORTS = ["", "total_amount", "-total_amount", "total_duration", "-total_duration"];

/** Minutes of an ISO 8601 duration such as `P1DT2H30M` (0 for anything else). */
function durationMinutes(iso: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(iso);
  if (!m) return 0;
  return Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** `GET /air/offers` (`offer_request_id`, `sort`, `limit`, `after`, `max_connections`). */
export function listOffers(s: DuffelState, url: URL): Response {
  const q = url.searchParams;
  const orqId = q.get("offer_request_id");
  if (!orqId) {
    throw queryParamError(
      "validation_required",
      "offer_request_id",
      "offer_request_id is required",
    );
  }
  const orq = s.offerRequests.get(orqId);
  if (!orq) throw notFound("Offer request");
  const sort = q.get("sort") ?? "";
  if (!SORTS.includes(sort)) {
    throw queryParamError(
      "validation_inclusion",
      "sort",
      "sort must be total_amount or total_duration, optionally prefixed with -",
    );
  }
  const limit = parseLimit(q);
  let offset = 0;
  const after = q.get("after");
  if (after) {
    const c = decodeCursor(after);
    if (!c || c.r !== orqId || c.s !== sort || !Number.isInteger(c.o)) {
      throw queryParamError("validation_format", "after", "after is not a cursor of this list");
    }
    offset = c.o as number;
  }
  let list = orq.offerIds.map((id) => s.offers.get(id)!.offer);
  const maxConn = q.get("max_connections");
  if (maxConn !== null) {
    list = list.filter((o) =>
      (o.slices as { segments: unknown[] }[]).every((sl) =>
        sl.segments.length - 1 <= Number(maxConn)
      )
    );
  }
  const key = (o: Record<string, unknown>): number =>
    sort.endsWith("total_amount")
      ? parseDecimal(o.total_amount, o.total_currency as string) ?? 0
      : (o.slices as { duration: string }[]).reduce((n, sl) => n + durationMinutes(sl.duration), 0);
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
export function currentMinor(st: OfferState): number {
  const cur = st.offer.total_currency as string;
  if (st.reprice && st.reads > 0) {
    return parseDecimal(st.reprice[Math.min(st.reads, st.reprice.length) - 1], cur) ??
      st.originalMinor;
  }
  if (st.repriceStepMinor !== null) return st.originalMinor + st.repriceStepMinor * st.reads;
  return st.originalMinor;
}

/** An offer that can still be read or booked: 404 when unknown, 422 when gone or expired. */
export function liveOffer(s: DuffelState, id: string): OfferState {
  const st = s.offers.get(id);
  if (!st) throw notFound("Offer");
  if (st.gone || s.clock.nowMs() >= st.expiresAtMs) {
    throw new ApiError(
      422,
      "airline_error",
      "offer_no_longer_available",
      "The offer is no longer available; search again.",
    );
  }
  return st;
}

/** `GET /air/offers/{id}` (`return_available_services=true` adds one checked bag). */
export function getOffer(s: DuffelState, id: string, url: URL): Response {
  const st = liveOffer(s, id);
  st.reads++;
  setOfferTotal(st.offer, currentMinor(st));
  st.offer.updated_at = s.nowIso();
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
      segment_ids: (st.offer.slices as { segments: { id: string }[] }[]).flatMap((sl) =>
        sl.segments.map((g) => g.id)
      ),
      metadata: { type: "checked", maximum_weight_kg: 23 },
    }];
  }
  return jsonResponse(200, { data: out });
}
