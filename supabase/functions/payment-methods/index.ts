/**
 * payment-methods: a signed-in traveller's saved cards and their consent to off-session charges.
 * authenticate -> parse -> drive -> respond: the core's `PaymentMethodsDriver` validates the body,
 * creates the Stripe customer on first use and the SetupIntent, lists, sets the default, detaches
 * and records the consent, through the SQL API as the caller (docs/contracts.md
 * "payment-methods").
 *
 * POST {"action":"setup"}                       -> 200 {setup_intent, client_secret, customer}
 * POST {"action":"list"}                        -> 200 {cards, default_payment_method, consent}
 * POST {"action":"set_default"|"detach", "payment_method":"pm_…"}
 * POST {"action":"consent_text"|"consent", "max_amount_minor", "currency", "text"?}
 */
import { requireUser } from "../_shared/auth.ts";
import { paymentMethodsDriver } from "../_shared/core/user.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env, requireStripe } from "../_shared/env.ts";
import { HttpError, json, readBody, requireJson } from "../_shared/http.ts";
import { serve } from "../_shared/serve.ts";

const MAX_BODY_BYTES = 16 * 1024;

export default serve("payment-methods", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const user = await requireUser(req, e);
  requireStripe(e);
  requireJson(req);
  const body = await readBody(req, MAX_BODY_BYTES);
  const ctx = { sql: db(e.dbUrl), services: services(e), log, user };
  // The body may hold a SetupIntent's client_secret: only the status and outcome are logged.
  const done = await drive(paymentMethodsDriver(body), ctx);
  log.info("payment-methods done", { status: done.status, outcome: done.outcome });
  return json(done.status, done.body);
});
