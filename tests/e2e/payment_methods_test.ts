/**
 * payment-methods and stripe-webhook end to end, through the router, with the fake Stripe
 * delivering signed events to the stack's stripe-webhook: a card saved through a SetupIntent and
 * its webhook, listing, default, consent, detach, every error code, and the webhook's signature
 * refusals (wrong secret, stale timestamp, malformed, missing), replays, duplicates and
 * out-of-order events.
 */
import assert from "node:assert/strict";
import {
  closeSql,
  e2eTest,
  env,
  FUNCTIONS,
  newUser,
  randomRoute,
  sql,
  tripBody,
} from "./helpers.ts";
import { callSearch, scriptRoute } from "./helpers.ts";
import { STRIPE } from "./monitor_helpers.ts";
import { signatureHeader } from "../fakes/stripe/events.ts";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

async function pm(jwt: string | null, body: unknown, raw?: string) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (jwt) headers.Authorization = `Bearer ${jwt}`;
  const res = await fetch(`${FUNCTIONS}/payment-methods`, {
    method: "POST",
    headers,
    body: raw ?? JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() as Json };
}

async function fake(path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${STRIPE}${path}`, {
    method: body === undefined ? "GET" : "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return await res.json();
}

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await read();
  for (let i = 0; i < 60 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  return v;
}

const defaultCard = async (id: string) =>
  (await sql()`select stripe_payment_method_id as pm from public.payment_profiles
    where owner_id = ${id}`)[0]?.pm ?? null;

/** A user with a card saved through a SetupIntent, confirmed as Stripe.js would, and its webhook. */
async function userWithCard(token = "pm_card_visa") {
  const user = await newUser();
  const setup = await pm(user.jwt, { action: "setup" });
  assert.equal(setup.status, 200, JSON.stringify(setup.json));
  assert.match(setup.json.client_secret, /^seti_\w+_secret_\w+$/);
  const confirmed = await fake(`/_fake/setup_intents/${setup.json.setup_intent}/confirm`, {
    payment_method: token,
  });
  const card: string = confirmed.setup_intent.payment_method;
  assert.equal(
    await eventually(() => defaultCard(user.id), (v) => v === card),
    card,
    "setup_intent.succeeded saved the card as the default",
  );
  return { ...user, card, customer: setup.json.customer as string };
}

e2eTest(
  "a card saved through a SetupIntent and its webhook, listed, with consent, then auto-book",
  async () => {
    const user = await userWithCard();
    const again = await pm(user.jwt, { action: "setup" });
    assert.equal(again.json.customer, user.customer, "one customer per user");
    const list = await pm(user.jwt, { action: "list" });
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.cards.map((c: Json) => [c.id, c.brand, c.last4, c.default]), [
      [user.card, "visa", "4242", true],
    ]);
    assert.equal(list.json.consent, null);
    // Without consent an auto-book trip is refused.
    const route = randomRoute();
    await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "455.00", stops: 0 }] });
    const refused = await callSearch(tripBody(route, { auto_book: true }), user.jwt);
    assert.equal(refused.status, 403);
    assert.equal(refused.json.code, "auto_book_needs_consent");
    const shown = await pm(user.jwt, {
      action: "consent_text",
      max_amount_minor: 50000,
      currency: "GBP",
    });
    assert.equal(shown.status, 200);
    assert.match(shown.json.text, /Visa card ending 4242.*GBP 500\.00 per booking/);
    const wrong = await pm(user.jwt, {
      action: "consent",
      max_amount_minor: 50000,
      currency: "GBP",
      text: "ok",
    });
    assert.equal(wrong.status, 422);
    assert.equal(wrong.json.code, "consent_text_mismatch");
    const given = await pm(user.jwt, {
      action: "consent",
      max_amount_minor: 50000,
      currency: "GBP",
      text: shown.json.text,
    });
    assert.equal(given.status, 201);
    assert.equal(given.json.consent.payment_method, user.card);
    const [row] = await sql()`select owner_id, payment_method_id, max_amount_minor, currency, text
    from public.consents where id = ${given.json.consent.id}`;
    assert.deepEqual([
      row.owner_id,
      row.payment_method_id,
      Number(row.max_amount_minor),
      row.currency,
      row.text,
    ], [user.id, user.card, 50000, "GBP", shown.json.text]);
    const created = await callSearch(tripBody(route, { auto_book: true }), user.jwt);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const over = await callSearch(
      tripBody(randomRoute(), { auto_book: true, max_total_minor: 60000 }),
      user.jwt,
    );
    assert.equal(over.status, 403);
    assert.equal(over.json.code, "auto_book_needs_consent");
  },
);

e2eTest("no card: auto-book refused with auto_book_needs_card; list is empty", async () => {
  const user = await newUser();
  const list = await pm(user.jwt, { action: "list" });
  assert.deepEqual(list.json, { cards: [], default_payment_method: null, consent: null });
  const refused = await callSearch(tripBody(randomRoute(), { auto_book: true }), user.jwt);
  assert.equal(refused.status, 403);
  assert.equal(refused.json.code, "auto_book_needs_card");
  const noCard = await pm(user.jwt, {
    action: "consent_text",
    max_amount_minor: 100,
    currency: "GBP",
  });
  assert.equal(noCard.status, 409);
  assert.equal(noCard.json.code, "no_default_card");
  const missing = await pm(user.jwt, { action: "detach", payment_method: "pm_card_visa" });
  assert.equal(missing.status, 404);
  assert.equal(missing.json.code, "payment_method_not_found");
});

e2eTest("set default, another user's card is 404, detach ends the consent", async () => {
  const a = await userWithCard();
  const second = await pm(a.jwt, { action: "setup" });
  const c2 = await fake(`/_fake/setup_intents/${second.json.setup_intent}/confirm`, {
    payment_method: "pm_card_mastercard",
  });
  const card2: string = c2.setup_intent.payment_method;
  const listed = await eventually(
    () => pm(a.jwt, { action: "list" }),
    (r) => r.json.cards.length === 2,
  );
  assert.equal(listed.json.default_payment_method, a.card, "the first card stays the default");
  const set = await pm(a.jwt, { action: "set_default", payment_method: card2 });
  assert.deepEqual(set.json, { default_payment_method: card2, consent_required: true });
  const b = await userWithCard();
  for (const action of ["set_default", "detach"]) {
    const other = await pm(b.jwt, { action, payment_method: card2 });
    assert.equal(other.status, 404, `${action} of another user's card`);
    assert.equal(other.json.code, "payment_method_not_found");
  }
  const text =
    (await pm(a.jwt, { action: "consent_text", max_amount_minor: 50000, currency: "GBP" }))
      .json.text;
  assert.match(text, /Mastercard card ending 4444/);
  assert.equal(
    (await pm(a.jwt, { action: "consent", max_amount_minor: 50000, currency: "GBP", text })).status,
    201,
  );
  const detached = await pm(a.jwt, { action: "detach", payment_method: card2 });
  assert.equal(detached.status, 200);
  assert.deepEqual(detached.json, { detached: card2, default_payment_method: null });
  const [consent] =
    await sql()`select revoked_reason from public.consents where owner_id = ${a.id}`;
  assert.equal(consent.revoked_reason, "card_detached");
  const gone = await pm(a.jwt, { action: "detach", payment_method: card2 });
  assert.equal(gone.status, 404, "a detached card is no longer the caller's");
});

e2eTest("payment-methods: bad bodies and callers get stable codes", async () => {
  const user = await newUser();
  for (
    const [body, code] of [
      [{ action: "pay" }, "validation_failed"],
      [{ action: "list", extra: 1 }, "validation_failed"],
      [{ action: "detach", payment_method: "card_1" }, "validation_failed"],
      [{ action: "consent_text", max_amount_minor: -1, currency: "GBP" }, "validation_failed"],
    ] as const
  ) {
    const r = await pm(user.jwt, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.code, code);
  }
  assert.equal((await pm(user.jwt, null, "{")).json.code, "invalid_json");
  assert.equal(
    (await pm(user.jwt, null, '{"action":"list","action":"setup"}')).json.code,
    "duplicate_key",
  );
  const anonymous = await pm(null, { action: "list" });
  assert.equal(anonymous.status, 401);
});

// The webhook ------------------------------------------------------------------------------------

const SECRET = env.STRIPE_WEBHOOK_SECRET;

async function post(body: string, header: string | null) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (header !== null) headers["Stripe-Signature"] = header;
  const res = await fetch(`${FUNCTIONS}/stripe-webhook`, { method: "POST", headers, body });
  return { status: res.status, json: await res.json() as Json };
}

function event(type: string, object: Json): { id: string; body: string } {
  const id = `evt_${crypto.randomUUID().replaceAll("-", "")}`;
  return {
    id,
    body: JSON.stringify({
      id,
      object: "event",
      type,
      api_version: "2025-09-30.clover",
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: { object },
    }),
  };
}

const now = () => Math.floor(Date.now() / 1000);

e2eTest(
  "stripe-webhook refuses wrong secrets, stale timestamps and malformed headers",
  async () => {
    const e = event("customer.created", { id: "cus_x" });
    const wrong = await post(e.body, await signatureHeader("whsec_wrong", now(), e.body));
    assert.deepEqual([wrong.status, wrong.json.code], [400, "signature_mismatch"]);
    const stale = await post(e.body, await signatureHeader(SECRET, now() - 301, e.body));
    assert.deepEqual([stale.status, stale.json.code], [400, "signature_timestamp_stale"]);
    const malformed = await post(e.body, "t=abc,v1=00");
    assert.deepEqual([malformed.status, malformed.json.code], [400, "signature_header_malformed"]);
    const missing = await post(e.body, null);
    assert.deepEqual([missing.status, missing.json.code], [400, "signature_missing"]);
    const altered = await post(
      e.body.replace("cus_x", "cus_y"),
      await signatureHeader(SECRET, now(), e.body),
    );
    assert.equal(altered.json.code, "signature_mismatch", "the signature covers the exact body");
    // Two v1 (a secret being rolled): one matching is enough.
    const good = await signatureHeader(SECRET, now(), e.body);
    const rolled = `${good},v1=${"0".repeat(64)}`;
    const ok = await post(e.body, rolled);
    assert.deepEqual(
      [ok.status, ok.json.outcome],
      [200, "ignored"],
      "unknown types are acknowledged",
    );
    const notEvent = await post("{}", await signatureHeader(SECRET, now(), "{}"));
    assert.deepEqual([notEvent.status, notEvent.json.code], [400, "invalid_event"]);
    const [{ n }] =
      await sql()`select count(*)::int as n from public.stripe_webhook_events where id = ${e.id}`;
    assert.equal(n, 1, "only the verified delivery was recorded");
  },
);

e2eTest("each event is processed once: a replay of the same id is a duplicate", async () => {
  const user = await userWithCard();
  const events = await fake("/_fake/events");
  const saved = events.data.find((x: Json) =>
    x.type === "setup_intent.succeeded" && x.deliveries.includes(200)
  );
  assert.ok(saved);
  const replay = await fake(`/_fake/events/${saved.id}/deliver`, {});
  assert.equal(replay.status, 200);
  assert.equal(JSON.parse(replay.body).duplicate, true);
  const stale = await fake(`/_fake/events/${saved.id}/deliver`, { timestamp: now() - 600 });
  assert.equal(stale.status, 400, "a replayed old signature is refused");
  assert.equal(JSON.parse(stale.body).code, "signature_timestamp_stale");
  const wrong = await fake(`/_fake/events/${saved.id}/deliver`, { secret: "whsec_nope" });
  assert.equal(JSON.parse(wrong.body).code, "signature_mismatch");
  assert.equal(await defaultCard(user.id), user.card);
});

e2eTest(
  "out of order: a detach processed before the card's setup_intent.succeeded wins",
  async () => {
    const user = await newUser();
    const setup = await pm(user.jwt, { action: "setup" });
    // Hold automatic deliveries of this SetupIntent's events: build them by hand, send them reversed.
    const pmId = `pm_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
    const succeeded = event("setup_intent.succeeded", {
      id: setup.json.setup_intent,
      object: "setup_intent",
      status: "succeeded",
      customer: setup.json.customer,
      payment_method: pmId,
    });
    const detached = event("payment_method.detached", {
      id: pmId,
      object: "payment_method",
      customer: null,
    });
    const first = await post(detached.body, await signatureHeader(SECRET, now(), detached.body));
    assert.equal(first.json.outcome, "card_detached");
    const late = await post(succeeded.body, await signatureHeader(SECRET, now(), succeeded.body));
    assert.deepEqual([late.status, late.json.outcome], [200, "card_already_detached"]);
    assert.equal(await defaultCard(user.id), null, "a detached card is never saved");
    // Duplicate in a row: the second is acknowledged and does nothing.
    const dup = await post(
      late.json && succeeded.body,
      await signatureHeader(SECRET, now(), succeeded.body),
    );
    assert.equal(dup.json.duplicate, true);
  },
);

e2eTest(
  "payment events against the ledger: mismatches raise operator alerts, disputes recorded",
  async () => {
    const attempt = crypto.randomUUID();
    const pi = `pi_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
    const capturable = event("payment_intent.amount_capturable_updated", {
      id: pi,
      object: "payment_intent",
      status: "requires_capture",
      amount: 41240,
      amount_capturable: 41240,
      currency: "gbp",
      metadata: { attempt_id: attempt },
    });
    const r = await post(capturable.body, await signatureHeader(SECRET, now(), capturable.body));
    assert.equal(r.json.outcome, "alert");
    const [alert] =
      await sql()`select reason as code, detail from public.operator_alerts where event_id = ${capturable.id}`;
    assert.equal(alert.code, "payment_intent_unknown");
    const dispute = event("charge.dispute.created", {
      id: `dp_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`,
      object: "dispute",
      charge: "ch_1",
      payment_intent: pi,
      amount: 41240,
      currency: "gbp",
      reason: "fraudulent",
      status: "needs_response",
    });
    const d = await post(dispute.body, await signatureHeader(SECRET, now(), dispute.body));
    assert.equal(d.json.outcome, "dispute_recorded");
    const [row] =
      await sql()`select amount, currency, reason from public.stripe_disputes where event_id = ${dispute.id}`;
    assert.deepEqual([Number(row.amount), row.currency, row.reason], [41240, "GBP", "fraudulent"]);
    const codes =
      (await sql()`select reason as code from public.operator_alerts where event_id = ${dispute.id}`)
        .map((x) => x.code);
    assert.deepEqual(codes, ["dispute_created"]);
  },
);

e2eTest("(close the database pool)", async () => {
  await closeSql();
});
