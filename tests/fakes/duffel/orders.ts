/**
 * Orders of the fake Duffel: `POST /air/orders` (instant orders paid from balance, one per
 * offer request, with the route's scripted order fault: error status, delay, lost or dropped
 * response), `GET /air/orders/{id}` and `GET /air/orders` (`booking_reference`, `offer_id`,
 * `limit`, `after`, and the fake-only `metadata[key]=value` filter).
 *
 * @module
 */

import { droppedBodyResponse, formatMinor, jsonResponse, sleep } from "../_shared.ts";
import { ApiError, faultError, notFound } from "./errors.ts";
import { currentMinor, liveOffer } from "./offers.ts";
import {
  checkDocuments,
  checkInfants,
  checkMetadata,
  checkPassengers,
  checkPayments,
  type GivenPassengers,
  type OfferPassenger,
} from "./order_validation.ts";
import { decodeCursor, encodeCursor, parseLimit } from "./paging.ts";
import type { DuffelState } from "./state.ts";
import { requireData, Validation } from "./validation.ts";

/** Checks the shape of an order request before the offer is looked up. */
function checkOrderShape(v: Validation, d: Record<string, unknown>): void {
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
}

/** The order object Duffel answers for a confirmed instant order. */
function buildOrder(
  s: DuffelState,
  offer: Record<string, unknown>,
  offerPax: OfferPassenger[],
  given: GivenPassengers,
  total: number,
  metadata: Record<string, string> | undefined,
): Record<string, unknown> {
  const now = s.nowIso();
  const currency = offer.total_currency as string;
  return {
    id: s.ids.duffel("ord"),
    live_mode: false,
    type: "instant",
    created_at: now,
    synced_at: now,
    booking_reference: s.ids.code(6),
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
      unique_identifier: s.ids.digits(13),
      passenger_ids: [p.id],
    })),
    conditions: offer.conditions,
    metadata: metadata ?? null,
    available_actions: ["cancel", "change", "update"],
    cancelled_at: null,
    cancellation: null,
    airline_initiated_changes: [],
    content: "managed",
    users: [],
  };
}

/** `POST /air/orders`: an instant order paid from balance. */
export async function createOrder(s: DuffelState, body: unknown): Promise<Response> {
  const d = requireData(body);
  const v = new Validation();
  checkOrderShape(v, d);
  v.throwIfAny();

  const offerId = (d.selected_offers as string[])[0];
  const st = liveOffer(s, offerId);
  const orq = s.offerRequests.get(st.requestId)!;
  if (orq.booked) {
    throw new ApiError(
      422,
      "validation_error",
      "offer_request_already_booked",
      "An order has already been created from this offer request.",
    );
  }

  const lastDate = (st.offer.slices as { segments: { departing_at: string }[] }[]).at(-1)!
    .segments[0].departing_at.slice(0, 10);
  const offerPax = st.offer.passengers as OfferPassenger[];
  const given = checkPassengers(v, d.passengers as unknown[], offerPax, lastDate);
  checkInfants(v, given, offerPax);
  checkDocuments(
    v,
    given,
    st.offer.passenger_identity_documents_required === true,
    (st.offer.supported_passenger_identity_document_types as string[] | undefined) ?? [],
    lastDate,
  );
  checkMetadata(v, d.metadata);
  const total = currentMinor(st);
  const currency = st.offer.total_currency as string;
  const amountMismatch = checkPayments(v, d.payments, total, currency);
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

  const fault = s.takeFault(st.routeKey, "order");
  if (fault?.status !== undefined) {
    if (fault.delay_ms) await sleep(fault.delay_ms);
    throw faultError(fault);
  }
  orq.booked = true; // claimed before any delay: a concurrent order sees it as booked
  if (fault?.delay_ms) await sleep(fault.delay_ms);

  const metadata = d.metadata as Record<string, string> | undefined;
  const order = buildOrder(s, st.offer, offerPax, given, total, metadata);
  s.orders.set(order.id as string, { order, offerId, offerRequestId: st.requestId });

  if (fault?.lose_response === "drop") return droppedBodyResponse(201, '{"data":{"id":"');
  if (fault?.lose_response) {
    throw new ApiError(504, "api_error", "gateway_timeout_error", "The request timed out.");
  }
  return jsonResponse(201, { data: order });
}

/** `GET /air/orders/{id}`. */
export function getOrder(s: DuffelState, id: string): Response {
  const o = s.orders.get(id);
  if (!o) throw notFound("Order");
  return jsonResponse(200, { data: o.order });
}

/** `GET /air/orders`, filtered by `booking_reference`, `offer_id` and `metadata[k]=v`. */
export function listOrders(s: DuffelState, url: URL): Response {
  const q = url.searchParams;
  const ref = q.get("booking_reference");
  const offerId = q.get("offer_id");
  const meta: [string, string][] = [];
  for (const [k, val] of q) {
    const m = /^metadata\[([^\]]+)\]$/.exec(k);
    if (m) meta.push([m[1], val]);
  }
  const limit = parseLimit(q);
  const list = [...s.orders.values()].filter((o) =>
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
