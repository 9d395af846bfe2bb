/**
 * `POST /air/offer_requests` of the fake Duffel: validates the search (slices, passengers,
 * cabin, max_connections), applies the route's scripted search fault (status, delay beyond
 * `supplier_timeout`, malformed bodies), then answers scripted or generated offers (201).
 *
 * @module
 */

import { isObject, jsonResponse, parseDecimal, sleep } from "../_shared.ts";
import { faultError } from "./errors.ts";
import { buildOffer, buildOfferRequest, searchPassengers } from "./offer_builder.ts";
import { CABIN_CLASSES } from "./catalog.ts";
import {
  generateSpecs,
  type OfferSpec,
  type ResolvedOffer,
  resolveSpec,
  type SearchContext,
} from "./offer_spec.ts";
import { routeKeyOf } from "./routes.ts";
import type { DuffelState } from "./state.ts";
import type { OfferState } from "./types.ts";
import { IATA, requireData, Validation, validDate } from "./validation.ts";

type SearchSlices = { origin: string; destination: string; departure_date: string }[];
type SearchPax = ({ type: "adult" } | { age: number })[];

/** A validated offer request body. */
interface SearchInput {
  slices: SearchSlices;
  passengers: SearchPax;
  cabin_class?: string;
  max_connections?: number;
}

function checkSlices(v: Validation, slicesIn: unknown): SearchSlices {
  const slices: SearchSlices = [];
  if (!Array.isArray(slicesIn) || slicesIn.length === 0) {
    v.add(
      slicesIn === undefined ? "validation_required" : "validation_format",
      "/slices",
      "slices must be a non-empty list",
    );
    return slices;
  }
  slicesIn.forEach((s: unknown, i: number) => {
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
    slices.push(o as SearchSlices[number]);
  });
  return slices;
}

function checkPassengers(v: Validation, passengers: unknown): SearchPax {
  const paxIn: SearchPax = [];
  if (!Array.isArray(passengers) || passengers.length === 0) {
    v.add(
      passengers === undefined ? "validation_required" : "validation_format",
      "/passengers",
      "passengers must be a non-empty list",
    );
  } else if (passengers.length > 9) {
    v.add("validation_format", "/passengers", "at most 9 passengers");
  } else {
    passengers.forEach((p: unknown, i: number) => {
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
  return paxIn;
}

/** Validates an offer request body; throws one 422 listing every bad field. */
function parseSearch(body: unknown): SearchInput {
  const d = requireData(body);
  const v = new Validation();
  const slices = checkSlices(v, d.slices);
  const passengers = checkPassengers(v, d.passengers);
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
  return {
    slices,
    passengers,
    cabin_class: d.cabin_class as string | undefined,
    max_connections: d.max_connections as number | undefined,
  };
}

/** `POST /air/offer_requests` (`return_offers`, `supplier_timeout` query parameters). */
export async function createOfferRequest(
  s: DuffelState,
  url: URL,
  body: unknown,
): Promise<Response> {
  const input = parseSearch(body);
  const slices = input.slices;
  const routeKey = routeKeyOf(slices[0].origin, slices[0].destination);
  const script = s.routes.get(routeKey);
  const returnOffers = url.searchParams.get("return_offers") !== "false";
  const st = Number(url.searchParams.get("supplier_timeout"));
  const supplierTimeout = Number.isFinite(st) && st >= 2000 && st <= 60000 ? st : 20000;

  const fault = s.takeFault(routeKey, "search");
  let suppliersTimedOut = false;
  if (fault?.delay_ms !== undefined) {
    if (fault.delay_ms > supplierTimeout) {
      await sleep(supplierTimeout);
      suppliersTimedOut = true;
    } else await sleep(fault.delay_ms);
  }
  if (fault?.status !== undefined) throw faultError(fault);

  const ctx: SearchContext = {
    slices: slices.map((sl) => ({
      origin: sl.origin,
      destination: sl.destination,
      departure_date: sl.departure_date,
    })),
    passengers: searchPassengers(input.passengers, s.ids),
    cabin_class: input.cabin_class ?? "economy",
    max_connections: input.max_connections ?? null,
    now_ms: s.clock.nowMs(),
    currency: script?.currency?.toUpperCase() ?? s.defaultCurrency,
  };
  s.searchCount++;
  const orqId = s.ids.duffel("orq");
  const orq = buildOfferRequest(orqId, ctx, `fake_ck_${s.searchCount}`);

  let specs: { r: ResolvedOffer; spec: OfferSpec | null }[];
  if (suppliersTimedOut) specs = [];
  else if (script?.offers) {
    specs = script.offers.map((o) => ({ r: resolveSpec(o, ctx, script.currency), spec: o }));
  } else {
    specs = generateSpecs(script?.offer_count ?? 12, ctx, s.seed).map((r) => ({ r, spec: null }));
  }
  if (ctx.max_connections !== null && !script?.ignore_max_connections) {
    specs = specs.filter((x) => x.r.stops <= (ctx.max_connections as number));
  }
  const step = script?.reprice_step;
  const built = specs.map(({ r, spec }) => {
    const offer = buildOffer(r, ctx, s.ids);
    if (script?.identity_documents_required) offer.passenger_identity_documents_required = true;
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
    s.offers.set(offer.id as string, state);
    return offer;
  });
  s.offerRequests.set(orqId, {
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
