/**
 * Validation of an instant order body for the fake Duffel: every offer passenger present and
 * well-formed (title, gender, names, birth date matching the searched age, email, E.164 phone),
 * every infant (`infant_without_seat`) carried by exactly one adult through
 * `infant_passenger_id` (one infant per adult), one valid unexpired identity document per
 * passenger when the offer says `passenger_identity_documents_required` (none when the offer
 * supports no type), metadata within Duffel's limits, and exactly one balance payment of the
 * current total.
 * Problems are added to a {@link Validation}; nothing here logs or keeps passenger data.
 *
 * @module
 */

import { isObject, parseDecimal } from "../_shared.ts";
import { Validation, validDate, yearsBetween } from "./validation.ts";

/** A passenger of the offer, as searched. */
export type OfferPassenger = { id: string; type: string; age: number | null };

/** The order's passengers by id, with their index in the body. */
export type GivenPassengers = Map<string, { p: Record<string, unknown>; i: number }>;

const REQUIRED = [
  "title",
  "gender",
  "given_name",
  "family_name",
  "born_on",
  "email",
  "phone_number",
];

function checkBornOn(
  v: Validation,
  p: Record<string, unknown>,
  op: OfferPassenger,
  at: string,
  lastDate: string,
): void {
  if (!validDate(p.born_on)) {
    v.add("validation_format", at, "born_on must be an ISO date");
    return;
  }
  const age = yearsBetween(p.born_on, lastDate);
  if (age < 0) v.add("validation_format", at, "born_on is in the future");
  else if (op.age !== null && age !== op.age) {
    v.add("validation_format", at, "born_on does not match the age searched for");
  } else if (op.type === "adult" && op.age === null && age < 18) {
    v.add("validation_format", at, "an adult must be 18 or over on the last flight");
  }
}

function checkPassenger(
  v: Validation,
  p: Record<string, unknown>,
  i: number,
  op: OfferPassenger,
  lastDate: string,
): void {
  const at = (f: string) => `/passengers/${i}/${f}`;
  const str = (f: string) => typeof p[f] === "string" && (p[f] as string).trim() !== "";
  for (const f of REQUIRED) {
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
  if (p.born_on != null) checkBornOn(v, p, op, at("born_on"), lastDate);
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

/**
 * Checks the order's passengers against the offer's: each offer passenger given once and valid
 * on `lastDate` (the last slice's departure date), no passenger that is not on the offer.
 * Returns the given passengers by id.
 */
export function checkPassengers(
  v: Validation,
  passengers: unknown[],
  offerPax: OfferPassenger[],
  lastDate: string,
): GivenPassengers {
  const given: GivenPassengers = new Map();
  passengers.forEach((p, i) => {
    if (!isObject(p) || typeof p.id !== "string") {
      v.add("validation_required", `/passengers/${i}/id`, "id is required");
    } else given.set(p.id, { p, i });
  });
  for (const op of offerPax) {
    const g = given.get(op.id);
    if (!g) {
      v.add("validation_required", "/passengers", `passenger ${op.id} of the offer is missing`);
      continue;
    }
    checkPassenger(v, g.p, g.i, op, lastDate);
  }
  for (const id of given.keys()) {
    if (!offerPax.some((op) => op.id === id)) {
      v.add("validation_format", "/passengers", `passenger ${id} is not on the offer`);
    }
  }
  return given;
}

/**
 * Infants: each offer passenger of type `infant_without_seat` is named by exactly one adult's
 * `infant_passenger_id`; only adults carry one, and only an infant of the offer.
 */
export function checkInfants(
  v: Validation,
  given: GivenPassengers,
  offerPax: OfferPassenger[],
): void {
  const typeOf = new Map(offerPax.map((op) => [op.id, op.type]));
  const carriers = new Map<string, number>();
  for (const [id, { p, i }] of given) {
    const link = p.infant_passenger_id;
    if (link === undefined || link === null) continue;
    const at = `/passengers/${i}/infant_passenger_id`;
    if (typeOf.get(id) !== "adult") {
      v.add("validation_format", at, "only an adult can carry an infant");
    } else if (typeof link !== "string" || typeOf.get(link) !== "infant_without_seat") {
      v.add("validation_format", at, "infant_passenger_id must be an infant of the offer");
    } else carriers.set(link, (carriers.get(link) ?? 0) + 1);
  }
  for (const op of offerPax) {
    if (op.type !== "infant_without_seat") continue;
    const n = carriers.get(op.id) ?? 0;
    if (n === 0) {
      v.add(
        "validation_required",
        "/passengers",
        `infant ${op.id} must be linked to an adult with infant_passenger_id`,
      );
    } else if (n > 1) {
      v.add("validation_format", "/passengers", `infant ${op.id} is linked to more than one adult`);
    }
  }
}

/**
 * Identity documents: when `required`, one per passenger of a `supported` type, with a number, an
 * ISO 3166-1 alpha-2 issuing country and an expiry not before `lastDate`. When the offer supports
 * no type, none may be sent.
 */
export function checkDocuments(
  v: Validation,
  given: GivenPassengers,
  required: boolean,
  supported: string[],
  lastDate: string,
): void {
  for (const { p, i } of given.values()) {
    const at = `/passengers/${i}/identity_documents`;
    const docs = p.identity_documents;
    if (docs === undefined || docs === null || (Array.isArray(docs) && docs.length === 0)) {
      if (required) v.add("validation_required", at, "identity_documents is required");
      continue;
    }
    if (!Array.isArray(docs) || docs.length !== 1) {
      v.add("validation_format", at, "identity_documents must hold one document");
      continue;
    }
    if (supported.length === 0) {
      v.add("validation_format", at, "this offer accepts no identity documents");
      continue;
    }
    const d = isObject(docs[0]) ? docs[0] : {};
    if (!supported.includes(d.type as string)) {
      v.add("validation_inclusion", `${at}/0/type`, `type must be one of ${supported.join(", ")}`);
    }
    if (typeof d.unique_identifier !== "string" || d.unique_identifier.trim() === "") {
      v.add("validation_required", `${at}/0/unique_identifier`, "unique_identifier is required");
    }
    if (typeof d.issuing_country_code !== "string" || !/^[A-Z]{2}$/.test(d.issuing_country_code)) {
      v.add(
        "validation_format",
        `${at}/0/issuing_country_code`,
        "issuing_country_code must be an ISO 3166-1 alpha-2 code",
      );
    }
    if (!validDate(d.expires_on)) {
      v.add("validation_format", `${at}/0/expires_on`, "expires_on must be an ISO date");
    } else if (d.expires_on < lastDate) {
      v.add("validation_format", `${at}/0/expires_on`, "the document expires before travel");
    }
  }
}

/** Metadata: at most 50 string pairs, keys ≤40 of `[A-Za-z0-9_-]`, values ≤500 characters. */
export function checkMetadata(v: Validation, metadata: unknown): void {
  if (metadata === undefined || metadata === null) return;
  if (!isObject(metadata)) {
    v.add("validation_format", "/metadata", "metadata must be an object");
    return;
  }
  const entries = Object.entries(metadata);
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

/**
 * Payments: exactly one `balance` payment with an ISO currency and a decimal amount. Returns
 * true when the payment is well-formed but not the offer's current `total` in its `currency`.
 */
export function checkPayments(
  v: Validation,
  payments: unknown,
  total: number,
  currency: string,
): boolean {
  if (!Array.isArray(payments) || payments.length !== 1) {
    v.add(
      payments === undefined ? "validation_required" : "validation_format",
      "/payments",
      "an instant order needs exactly one payment",
    );
    return false;
  }
  const pay = isObject(payments[0]) ? payments[0] : {};
  if (pay.type !== "balance") {
    v.add("validation_inclusion", "/payments/0/type", "payment type must be balance (fake)");
  }
  if (typeof pay.currency !== "string" || !/^[A-Z]{3}$/.test(pay.currency)) {
    v.add("validation_format", "/payments/0/currency", "currency must be an ISO 4217 code");
  }
  if (typeof pay.amount !== "string" || !/^\d+(\.\d+)?$/.test(pay.amount)) {
    v.add("validation_format", "/payments/0/amount", "amount must be a decimal string");
    return false;
  }
  return pay.currency !== currency || parseDecimal(pay.amount, currency) !== total;
}
