/**
 * `POST /v1/refunds` of the fake Stripe, by `payment_intent` only: full or partial refunds of a
 * succeeded (captured) PaymentIntent, refused beyond the unrefunded amount or for an uncaptured
 * one (cancel that instead).
 *
 * @module
 */

import { jsonResponse } from "../_shared.ts";
import { invalid, StripeError } from "./errors.ts";
import { checkKnown, int, metadataOf, REFUND_PARAMS, str } from "./params.ts";
import type { StripeState } from "./state.ts";
import type { Params, PiState, Prepared } from "./types.ts";

/** The stored 400 when the PI cannot take a refund of `amount` (or of the rest); else null. */
function refundRefusal(st: PiState, amount: number | undefined): StripeError | null {
  if (st.pi.status !== "succeeded") {
    return new StripeError(400, {
      type: "invalid_request_error",
      code: "payment_intent_unexpected_state",
      message:
        `This PaymentIntent has a status of ${st.pi.status}; only a succeeded PaymentIntent can be refunded ` +
        "(cancel an uncaptured one instead).",
      payment_intent: structuredClone(st.pi),
    }, true);
  }
  const remaining = (st.pi.amount_received as number) - st.refundedMinor;
  if (remaining <= 0) {
    return new StripeError(400, {
      type: "invalid_request_error",
      code: "charge_already_refunded",
      message: `Charge ${st.pi.latest_charge} has already been refunded.`,
      charge: st.pi.latest_charge as string,
    }, true);
  }
  if (amount !== undefined && amount > remaining) {
    return new StripeError(400, {
      type: "invalid_request_error",
      code: "amount_too_large",
      param: "amount",
      message:
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining}).`,
    }, true);
  }
  return null;
}

/** `POST /v1/refunds` (`payment_intent`, `amount`, `reason`, `metadata`). */
export function prepareRefund(s: StripeState, params: Params): Prepared {
  checkKnown(params, REFUND_PARAMS);
  const piId = str(params, "payment_intent");
  if (!piId) {
    throw invalid(
      params.charge !== undefined
        ? "The fake supports refunds by payment_intent only."
        : "Missing required param: payment_intent.",
      "payment_intent",
      "parameter_missing",
    );
  }
  const st = s.piOrThrow(piId, "payment_intent");
  const amount = int(params, "amount");
  if (amount !== undefined && amount < 1) throw invalid("Invalid positive integer", "amount");
  const reason = str(params, "reason");
  if (
    reason !== undefined && !["duplicate", "fraudulent", "requested_by_customer"].includes(reason)
  ) {
    throw invalid(
      "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
      "reason",
    );
  }
  const metadata = metadataOf(params) ?? {};
  return {
    target: st,
    metadata,
    execute: () => {
      const refusal = refundRefusal(st, amount);
      if (refusal) throw refusal;
      const value = amount ?? (st.pi.amount_received as number) - st.refundedMinor;
      st.refundedMinor += value;
      const refund = {
        id: s.ids.stripe("re"),
        object: "refund",
        amount: value,
        balance_transaction: s.ids.stripe("txn"),
        charge: st.pi.latest_charge,
        created: s.nowSec(),
        currency: st.pi.currency,
        destination_details: { card: { type: "refund" }, type: "card" },
        metadata,
        payment_intent: st.pi.id,
        reason: reason ?? null,
        receipt_number: null,
        source_transfer_reversal: null,
        status: "succeeded",
        transfer_reversal: null,
      };
      s.refunds.set(refund.id, refund);
      return jsonResponse(200, refund);
    },
  };
}
