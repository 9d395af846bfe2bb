/**
 * PaymentIntent endpoints of the fake Stripe: create (optionally confirming at once), confirm,
 * capture (whole or partial, counted in `captures`), cancel and retrieve. Each is prepared in two
 * parts: validation (throws unstored 400s) and `execute` (runs the effect; its errors, such as a
 * status that does not allow the action, are stored under the idempotency key).
 *
 * @module
 */

import { jsonResponse } from "../_shared.ts";
import { runConfirm } from "./cards.ts";
import { invalid, StripeError, unexpectedState } from "./errors.ts";
import {
  bool,
  CANCEL_PARAMS,
  CAPTURE_PARAMS,
  checkKnown,
  CONFIRM_PARAMS,
  CREATE_PARAMS,
  int,
  metadataOf,
  str,
} from "./params.ts";
import type { StripeState } from "./state.ts";
import type { Params, PiState, Prepared } from "./types.ts";

function missingPaymentMethod(): StripeError {
  return invalid(
    "You cannot confirm this PaymentIntent because it's missing a payment method.",
    "payment_method",
    "parameter_missing",
  );
}

function checkAmount(params: Params): number {
  const amount = int(params, "amount");
  if (amount === undefined) {
    throw invalid("Missing required param: amount.", "amount", "parameter_missing");
  }
  if (amount < 50) {
    throw invalid("Amount must be at least 50 minor units.", "amount", "amount_too_small");
  }
  if (amount > 99999999) {
    throw invalid("Amount must be no more than 99999999.", "amount", "amount_too_large");
  }
  return amount;
}

function checkCurrency(params: Params): string {
  const currency = str(params, "currency");
  if (currency === undefined) {
    throw invalid("Missing required param: currency.", "currency", "parameter_missing");
  }
  if (!/^[a-zA-Z]{3}$/.test(currency)) {
    throw invalid(`Invalid currency: ${currency}.`, "currency", "parameter_invalid_string");
  }
  return currency;
}

/** `POST /v1/payment_intents`. */
export function prepareCreate(s: StripeState, params: Params): Prepared {
  checkKnown(params, CREATE_PARAMS);
  const amount = checkAmount(params);
  const currencyRaw = checkCurrency(params);
  const captureMethod = str(params, "capture_method") ?? "automatic";
  if (!["automatic", "automatic_async", "manual"].includes(captureMethod)) {
    throw invalid(
      "Invalid capture_method: must be one of automatic, automatic_async, or manual",
      "capture_method",
    );
  }
  const confirm = bool(params, "confirm") ?? false;
  const offSession = bool(params, "off_session") ?? false;
  if (offSession && !confirm) {
    throw invalid("off_session can only be used when confirm=true.", "off_session");
  }
  const pm = str(params, "payment_method");
  if (confirm && !pm) throw missingPaymentMethod();
  const customer = str(params, "customer");
  const metadata = metadataOf(params) ?? {};
  const types = params.payment_method_types;
  if (
    types !== undefined && (!Array.isArray(types) || types.some((t) => typeof t !== "string"))
  ) {
    throw invalid("Invalid array", "payment_method_types");
  }
  return {
    target: null,
    metadata,
    execute: () => {
      const id = s.ids.stripe("pi");
      const pi: Record<string, unknown> = {
        id,
        object: "payment_intent",
        amount,
        amount_capturable: 0,
        amount_details: { tip: {} },
        amount_received: 0,
        application: null,
        application_fee_amount: null,
        automatic_payment_methods: null,
        canceled_at: null,
        cancellation_reason: null,
        capture_method: captureMethod,
        client_secret: `${id}_secret_${s.ids.code(24)}`,
        confirmation_method: "automatic",
        created: s.nowSec(),
        currency: currencyRaw.toLowerCase(),
        customer: customer ?? null,
        description: str(params, "description") ?? null,
        last_payment_error: null,
        latest_charge: null,
        livemode: false,
        metadata,
        next_action: null,
        on_behalf_of: null,
        payment_method: pm ?? null,
        payment_method_types: (types as string[] | undefined) ?? ["card"],
        processing: null,
        receipt_email: null,
        setup_future_usage: str(params, "setup_future_usage") ?? null,
        statement_descriptor: str(params, "statement_descriptor") ?? null,
        status: pm ? "requires_confirmation" : "requires_payment_method",
      };
      const st: PiState = { pi, captures: 0, refundedMinor: 0, order: s.piCounter++ };
      s.pis.set(id, st);
      if (confirm) {
        runConfirm(s.ids, st, pm as string, offSession, s.paymentMethods.get(pm!)?.token);
      }
      return jsonResponse(200, pi);
    },
  };
}

/** `POST /v1/payment_intents/{id}/confirm`. */
export function prepareConfirm(s: StripeState, id: string, params: Params): Prepared {
  checkKnown(params, CONFIRM_PARAMS);
  const st = s.piOrThrow(id);
  const pm = str(params, "payment_method") ?? (st.pi.payment_method as string | null) ??
    undefined;
  const offSession = bool(params, "off_session") ?? false;
  if (!pm) throw missingPaymentMethod();
  return {
    target: st,
    execute: () => {
      const allowed = ["requires_payment_method", "requires_confirmation", "requires_action"];
      if (!allowed.includes(st.pi.status as string)) {
        throw unexpectedState(st, "confirmed", allowed);
      }
      runConfirm(s.ids, st, pm, offSession, s.paymentMethods.get(pm)?.token);
      return jsonResponse(200, st.pi);
    },
  };
}

/** `POST /v1/payment_intents/{id}/capture` (`amount_to_capture` up to the capturable amount). */
export function prepareCapture(s: StripeState, id: string, params: Params): Prepared {
  checkKnown(params, CAPTURE_PARAMS);
  const st = s.piOrThrow(id);
  const amountToCapture = int(params, "amount_to_capture");
  const metadata = metadataOf(params);
  if (amountToCapture !== undefined && amountToCapture < 1) {
    throw invalid("amount_to_capture must be positive", "amount_to_capture");
  }
  return {
    target: st,
    execute: () => {
      if (st.pi.status !== "requires_capture") {
        throw unexpectedState(st, "captured", ["requires_capture"]);
      }
      const capturable = st.pi.amount_capturable as number;
      if (amountToCapture !== undefined && amountToCapture > capturable) {
        throw new StripeError(400, {
          type: "invalid_request_error",
          code: "amount_too_large",
          param: "amount_to_capture",
          message:
            `The amount to capture (${amountToCapture}) is greater than the amount capturable (${capturable}).`,
        }, true);
      }
      st.pi.status = "succeeded";
      st.pi.amount_received = amountToCapture ?? capturable;
      st.pi.amount_capturable = 0;
      if (metadata) st.pi.metadata = { ...(st.pi.metadata as object), ...metadata };
      st.captures++;
      return jsonResponse(200, st.pi);
    },
  };
}

const CANCELLABLE = [
  "requires_payment_method",
  "requires_capture",
  "requires_confirmation",
  "requires_action",
  "processing",
];

/** `POST /v1/payment_intents/{id}/cancel` (releases an uncaptured hold). */
export function prepareCancel(s: StripeState, id: string, params: Params): Prepared {
  checkKnown(params, CANCEL_PARAMS);
  const st = s.piOrThrow(id);
  const reason = str(params, "cancellation_reason");
  if (
    reason !== undefined &&
    !["duplicate", "fraudulent", "requested_by_customer", "abandoned"].includes(reason)
  ) {
    throw invalid(
      "Invalid cancellation_reason: must be one of duplicate, fraudulent, requested_by_customer, or abandoned",
      "cancellation_reason",
    );
  }
  return {
    target: st,
    execute: () => {
      if (!CANCELLABLE.includes(st.pi.status as string)) {
        throw unexpectedState(st, "canceled", CANCELLABLE);
      }
      st.pi.status = "canceled";
      st.pi.canceled_at = s.nowSec();
      st.pi.cancellation_reason = reason ?? null;
      st.pi.amount_capturable = 0;
      return jsonResponse(200, st.pi);
    },
  };
}

/** `GET /v1/payment_intents/{id}`. */
export function prepareRetrieve(s: StripeState, id: string): Prepared {
  const st = s.piOrThrow(id);
  return { target: st, execute: () => jsonResponse(200, st.pi) };
}
