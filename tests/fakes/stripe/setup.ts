/**
 * Customers, SetupIntents and payment methods in the fake Stripe
 * (reference/contracts-webhooks-setup.md §2): `POST /v1/customers`, `GET /v1/customers/{id}`,
 * `POST /v1/setup_intents`, `GET /v1/setup_intents/{id}`, `GET /v1/customers/{id}/payment_methods`,
 * `GET /v1/payment_methods/{id}`, `POST /v1/payment_methods/{id}/attach`,
 * `POST /v1/payment_methods/{id}/detach`, and the test helper that stands in for Stripe.js
 * confirming a SetupIntent in the browser ({@link confirmSetupIntent}).
 *
 * A SetupIntent is confirmed with a test token (`pm_card_visa`, `pm_card_mastercard`,
 * `pm_card_amex`, `pm_card_chargeDeclined…`, `pm_card_authenticationRequired`): a new `pm_…`
 * (unique across restarts) is minted with that card's brand and last 4, attached to the
 * customer, and the SetupIntent succeeds (every token saves; a saved card is later charged as its
 * token behaves, so a declining card declines off-session). Events `payment_method.attached`,
 * `setup_intent.succeeded` and, on detach, `payment_method.detached` are emitted (events.ts).
 *
 * @module
 */

import { jsonResponse } from "../_shared.ts";
import { invalid, StripeError } from "./errors.ts";
import { emit } from "./events.ts";
import { checkKnown, metadataOf, str } from "./params.ts";
import type { StripeState } from "./state.ts";
import type { Params, Prepared } from "./types.ts";

const CARDS: Record<string, { brand: string; last4: string }> = {
  visa: { brand: "visa", last4: "4242" },
  visa_debit: { brand: "visa", last4: "5556" },
  mastercard: { brand: "mastercard", last4: "4444" },
  amex: { brand: "amex", last4: "8431" },
  authenticationRequired: { brand: "visa", last4: "3184" },
  threeDSecureRequired: { brand: "visa", last4: "3063" },
  chargeDeclined: { brand: "visa", last4: "0002" },
  chargeDeclinedInsufficientFunds: { brand: "visa", last4: "9995" },
  chargeDeclinedExpiredCard: { brand: "visa", last4: "0069" },
};

const ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A Stripe-looking id with 24 random characters: unique across restarts of the fake. */
export function uniqueId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `${prefix}_${Array.from(bytes, (b) => ALNUM[b % 62]).join("")}`;
}

function missing(kind: string, id: string, param = "id"): StripeError {
  return new StripeError(404, {
    type: "invalid_request_error",
    code: "resource_missing",
    param,
    message: `No such ${kind}: '${id}'`,
  }, false);
}

function customerOrThrow(s: StripeState, id: string, param = "customer") {
  const c = s.customers.get(id);
  if (!c) throw missing("customer", id, param);
  return c;
}

/** `POST /v1/customers`. */
export function prepareCustomerCreate(s: StripeState, params: Params): Prepared {
  checkKnown(params, new Set(["email", "name", "description", "metadata", "phone", "expand"]));
  const metadata = metadataOf(params) ?? {};
  return {
    target: null,
    metadata,
    execute: () => {
      const id = uniqueId("cus");
      const customer = {
        id,
        object: "customer",
        created: s.nowSec(),
        description: str(params, "description") ?? null,
        email: str(params, "email") ?? null,
        name: str(params, "name") ?? null,
        invoice_settings: { default_payment_method: null },
        livemode: false,
        metadata,
      };
      s.customers.set(id, customer);
      return jsonResponse(200, customer);
    },
  };
}

/** `GET /v1/customers/{id}`. */
export function prepareCustomerRetrieve(s: StripeState, id: string): Prepared {
  const c = customerOrThrow(s, id, "id");
  return { target: null, execute: () => jsonResponse(200, c) };
}

/**
 * `DELETE /v1/customers/{id}`: `{"id","object":"customer","deleted":true}`; permanent. Every
 * card of the customer is detached (it cannot be attached again), a later `GET` answers the
 * deleted stub, and a second delete 404s
 * `resource_missing`, as Stripe does (reference/contracts-webhooks-setup.md §2.1).
 */
export function prepareCustomerDelete(s: StripeState, id: string): Prepared {
  const c = customerOrThrow(s, id, "id");
  if (c.deleted === true) throw missing("customer", id, "id");
  return {
    target: null,
    execute: () => {
      for (const p of s.paymentMethods.values()) {
        if (p.pm.customer === id) {
          p.pm.customer = null;
          p.detached = true;
        }
      }
      const stub = { id, object: "customer", deleted: true };
      s.customers.set(id, stub);
      return jsonResponse(200, stub);
    },
  };
}

/** `POST /v1/setup_intents`. */
export function prepareSetupIntentCreate(s: StripeState, params: Params): Prepared {
  checkKnown(
    params,
    new Set([
      "customer",
      "usage",
      "payment_method_types",
      "automatic_payment_methods",
      "metadata",
      "description",
      "expand",
    ]),
  );
  const customer = str(params, "customer");
  if (customer !== undefined) customerOrThrow(s, customer);
  const usage = str(params, "usage") ?? "off_session";
  if (!["off_session", "on_session"].includes(usage)) {
    throw invalid("Invalid usage: must be one of off_session or on_session", "usage");
  }
  const types = params.payment_method_types;
  if (types !== undefined && (!Array.isArray(types) || types.some((t) => t !== "card"))) {
    throw invalid("The fake supports payment_method_types[]=card only.", "payment_method_types");
  }
  const metadata = metadataOf(params) ?? {};
  return {
    target: null,
    metadata,
    execute: () => {
      const id = uniqueId("seti");
      const si = {
        id,
        object: "setup_intent",
        client_secret: `${id}_secret_${uniqueId("x").slice(2)}`,
        customer: customer ?? null,
        status: "requires_payment_method",
        usage,
        payment_method: null,
        payment_method_types: ["card"],
        last_setup_error: null,
        next_action: null,
        latest_attempt: null,
        livemode: false,
        created: s.nowSec(),
        metadata,
        cancellation_reason: null,
        description: str(params, "description") ?? null,
      };
      s.setupIntents.set(id, si);
      return jsonResponse(200, si);
    },
  };
}

/** `GET /v1/setup_intents/{id}`. */
export function prepareSetupIntentRetrieve(s: StripeState, id: string): Prepared {
  const si = s.setupIntents.get(id);
  if (!si) throw missing("setup_intent", id, "intent");
  return { target: null, execute: () => jsonResponse(200, si) };
}

/** `GET /v1/customers/{id}/payment_methods?type=card&limit=n`: newest first. */
export function prepareCustomerPaymentMethods(s: StripeState, id: string, url: URL): Prepared {
  customerOrThrow(s, id);
  const type = url.searchParams.get("type");
  const limit = Number(url.searchParams.get("limit") ?? "10");
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw invalid("Invalid limit: must be an integer between 1 and 100", "limit");
  }
  return {
    target: null,
    execute: () => {
      const all = [...s.paymentMethods.values()]
        .filter((p) => p.pm.customer === id && (!type || p.pm.type === type))
        .sort((a, b) => b.order - a.order);
      return jsonResponse(200, {
        object: "list",
        url: `/v1/customers/${id}/payment_methods`,
        has_more: all.length > limit,
        data: all.slice(0, limit).map((p) => p.pm),
      });
    },
  };
}

/** `GET /v1/payment_methods/{id}`. */
export function preparePaymentMethodRetrieve(s: StripeState, id: string): Prepared {
  const p = s.paymentMethods.get(id);
  if (!p) throw missing("payment_method", id);
  return { target: null, execute: () => jsonResponse(200, p.pm) };
}

/** `POST /v1/payment_methods/{id}/attach` (`customer`); a detached method cannot be reused. */
export function preparePaymentMethodAttach(s: StripeState, id: string, params: Params): Prepared {
  checkKnown(params, new Set(["customer", "expand"]));
  const p = s.paymentMethods.get(id);
  if (!p) throw missing("payment_method", id);
  const customer = str(params, "customer");
  if (!customer) {
    throw invalid("Missing required param: customer.", "customer", "parameter_missing");
  }
  customerOrThrow(s, customer);
  return {
    target: null,
    execute: () => {
      if (p.detached || (p.pm.customer && p.pm.customer !== customer)) {
        throw new StripeError(400, {
          type: "invalid_request_error",
          code: "payment_method_unexpected_state",
          message: "This PaymentMethod was previously used without being attached to a Customer " +
            "or was detached from a Customer, and may not be used again.",
        }, true);
      }
      p.pm.customer = customer;
      emit(s, "payment_method.attached", p.pm);
      return jsonResponse(200, p.pm);
    },
  };
}

/** `POST /v1/payment_methods/{id}/detach`: permanent. */
export function preparePaymentMethodDetach(s: StripeState, id: string, params: Params): Prepared {
  checkKnown(params, new Set(["expand"]));
  const p = s.paymentMethods.get(id);
  if (!p) throw missing("payment_method", id);
  return {
    target: null,
    execute: () => {
      const previous = p.pm.customer;
      if (!previous) {
        throw new StripeError(400, {
          type: "invalid_request_error",
          code: "payment_method_unexpected_state",
          message:
            "The payment method you provided is not attached to a customer so detachment is impossible.",
        }, true);
      }
      p.pm.customer = null;
      p.detached = true;
      emit(s, "payment_method.detached", p.pm, { customer: previous });
      return jsonResponse(200, p.pm);
    },
  };
}

/**
 * The browser's `stripe.confirmCardSetup(clientSecret, {payment_method})`, as a test helper
 * (`POST /_fake/setup_intents/{id}/confirm {"payment_method":"pm_card_visa"}`): mints the
 * payment method, attaches it, succeeds the SetupIntent and emits the events. Returns the
 * SetupIntent, or an error text.
 */
export function confirmSetupIntent(
  s: StripeState,
  id: string,
  token: string,
): Record<string, unknown> | string {
  const si = s.setupIntents.get(id);
  if (!si) return `no such setup_intent ${id}`;
  if (si.status !== "requires_payment_method") return `setup_intent is ${si.status}`;
  const kind = token.replace(/^pm_card_/, "");
  const card = CARDS[kind];
  if (!/^pm_card_\w+$/.test(token) || !card) return `unknown test card ${token}`;
  const year = new Date(s.clock.nowMs()).getUTCFullYear() + 3;
  const pm = {
    id: uniqueId("pm"),
    object: "payment_method",
    type: "card",
    customer: si.customer ?? null,
    card: {
      brand: card.brand,
      last4: card.last4,
      exp_month: 12,
      exp_year: year,
      fingerprint: uniqueId("fp").slice(3, 19),
      funding: "credit",
      country: "US",
    },
    billing_details: { address: null, email: null, name: null, phone: null },
    created: s.nowSec(),
    livemode: false,
    metadata: {},
  };
  s.paymentMethods.set(pm.id, { pm, token, detached: false, order: s.pmCounter++ });
  si.payment_method = pm.id;
  si.status = "succeeded";
  if (si.customer) emit(s, "payment_method.attached", pm);
  emit(s, "setup_intent.succeeded", si);
  return si;
}
