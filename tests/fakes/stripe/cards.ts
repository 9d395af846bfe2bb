/**
 * Stripe test cards in the fake: confirming a PaymentIntent with a payment method succeeds
 * (`requires_capture` for manual capture, else `succeeded`), declines with a 402 card error
 * (`pm_card_chargeDeclined…`, also spelt `pm_card_visa_chargeDeclined…`), or needs
 * authentication (`pm_card_authenticationRequired`: a 402 off-session, `requires_action` on).
 * A failed confirm leaves the PI `requires_payment_method` with `last_payment_error` set.
 *
 * @module
 */

import type { IdMinter } from "../_shared.ts";
import { docUrl, StripeError } from "./errors.ts";
import type { PiState } from "./types.ts";

/** What a card failure reports. */
interface CardFailure {
  code: string;
  decline: string;
  message: string;
}

const DECLINES: Record<string, CardFailure> = {
  chargeDeclined: {
    code: "card_declined",
    decline: "generic_decline",
    message: "Your card was declined.",
  },
  chargeDeclinedInsufficientFunds: {
    code: "card_declined",
    decline: "insufficient_funds",
    message: "Your card has insufficient funds.",
  },
  chargeDeclinedExpiredCard: {
    code: "expired_card",
    decline: "expired_card",
    message: "Your card has expired.",
  },
  chargeDeclinedIncorrectCvc: {
    code: "incorrect_cvc",
    decline: "incorrect_cvc",
    message: "Your card's security code is incorrect.",
  },
};

const AUTHENTICATION_REQUIRED: CardFailure = {
  code: "authentication_required",
  decline: "authentication_required",
  message: "Your card was declined. This transaction requires authentication.",
};

/**
 * Records a failed charge on the PI (`requires_payment_method`, `last_payment_error`) and
 * returns the stored 402 card error to throw.
 */
function failCharge(
  pi: Record<string, unknown>,
  pm: string,
  chargeId: string,
  f: CardFailure,
  last4: string,
): StripeError {
  const paymentMethod = () => ({
    id: pm,
    object: "payment_method",
    type: "card",
    card: { brand: "visa", last4 },
  });
  pi.status = "requires_payment_method";
  pi.payment_method = null;
  pi.latest_charge = chargeId;
  pi.last_payment_error = {
    type: "card_error",
    code: f.code,
    decline_code: f.decline,
    message: f.message,
    charge: chargeId,
    doc_url: docUrl(f.code),
    payment_method: paymentMethod(),
  };
  return new StripeError(402, {
    type: "card_error",
    code: f.code,
    decline_code: f.decline,
    message: f.message,
    charge: chargeId,
    payment_intent: structuredClone(pi),
    payment_method: paymentMethod(),
  }, true);
}

/** Confirms a PI with a payment method: success, decline (402) or authentication. */
export function runConfirm(
  ids: IdMinter,
  st: PiState,
  pm: string,
  offSession: boolean,
  token?: string,
): void {
  const pi = st.pi;
  pi.payment_method = pm;
  const kind = (token ?? pm).replace(/^pm_card_(visa_)?/, "");
  const decline = DECLINES[kind];
  const chargeId = ids.stripe("ch");
  if (decline) throw failCharge(pi, pm, chargeId, decline, "0002");
  if (kind === "authenticationRequired" || kind === "threeDSecureRequired") {
    if (offSession) throw failCharge(pi, pm, chargeId, AUTHENTICATION_REQUIRED, "3184");
    pi.status = "requires_action";
    pi.next_action = {
      type: "use_stripe_sdk",
      use_stripe_sdk: { type: "three_d_secure_redirect" },
    };
    return;
  }
  pi.latest_charge = chargeId;
  pi.last_payment_error = null;
  pi.next_action = null;
  if (pi.capture_method === "manual") {
    pi.status = "requires_capture";
    pi.amount_capturable = pi.amount;
  } else {
    pi.status = "succeeded";
    pi.amount_received = pi.amount;
  }
}
