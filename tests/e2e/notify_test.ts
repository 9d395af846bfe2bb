/**
 * End-to-end: the outbox dispatcher (notify-dispatch) through the fake Resend, the Svix-signed
 * resend-webhook, suppression, and price alerts (issue 7 items 5, 6, 8).
 */
import assert from "node:assert/strict";
import {
  callSearch,
  e2eTest,
  env,
  FUNCTIONS,
  newUser,
  randomRoute,
  sql,
  tripBody,
} from "./helpers.ts";

const RESEND = env.RESEND_API_URL ?? "http://127.0.0.1:54393";
const SERVICE_KEY = env.SUPABASE_SECRET_KEY ?? JSON.parse(env.SUPABASE_SECRET_KEYS).default;

async function dispatch(
  body: Record<string, unknown>,
  key: string | null = SERVICE_KEY,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (key) headers.apikey = key;
  const res = await fetch(`${FUNCTIONS}/notify-dispatch`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function fake(path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${RESEND}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return await res.json();
}

async function emailsFor(key: string): Promise<Record<string, unknown>[]> {
  return (await fake(`/_fake/emails?idempotency_key=${key}`)).data as Record<string, unknown>[];
}

/** A user, a watch (no auto-book), and a traveller with a unique address on it. */
async function setup(max = 42000): Promise<{ user: string; trip: string; address: string }> {
  const user = await newUser();
  const res = await callSearch(tripBody(randomRoute(), { max_total_minor: max }), user.jwt);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const trip = (res.json.trip as { id: string }).id;
  const address = `t${crypto.randomUUID().slice(0, 8)}@example.test`;
  await sql().begin(async (tx) => {
    const [{ id }] = await tx`select app.create_traveler(${user.id}::uuid, ${
      JSON.stringify({
        title: "ms",
        gender: "f",
        given_name: "Ada",
        family_name: "Lovelace",
        born_on: "1985-12-10",
        email: address,
        phone_number: "+442071234567",
      })
    }::text::jsonb) as id`;
    await tx`insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
      values (${trip}, ${user.id}, ${id}, 1)`;
  });
  return { user: user.id, trip, address };
}

async function enqueue(trip: string, user: string, template = "could_not_book"): Promise<string> {
  const [{ id }] =
    await sql()`insert into public.notifications (trip_id, owner_id, template, dedupe_key)
    values (${trip}, ${user}, ${template}, ${`e2e-${crypto.randomUUID()}`}) returning id`;
  return id;
}

async function row(id: string): Promise<Record<string, unknown>> {
  const [r] =
    await sql()`select status, attempts, provider_message_id, last_error_code, dead_reason,
    delivery, request_enc is not null as has_request, next_attempt_at > now() as later
    from public.notifications where id = ${id}`;
  return r;
}

async function dueNow(id: string): Promise<void> {
  await sql()`update public.notifications set next_attempt_at = now() where id = ${id}`;
}

e2eTest("notify-dispatch is for the service only", async () => {
  assert.equal((await dispatch({}, null)).status, 401);
  assert.equal((await dispatch({}, "sb_secret_wrongwrongwrongwrong")).status, 401);
  const bad = await dispatch({ notification_id: "nope" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, "invalid_notification_id");
});

e2eTest(
  "a notification is rendered, sent once with its id as Idempotency-Key, and marked sent",
  async () => {
    const { user, trip, address } = await setup();
    const id = await enqueue(trip, user);
    const run = await dispatch({ notification_id: id });
    assert.equal(run.status, 200, JSON.stringify(run.json));
    assert.deepEqual(run.json.outcomes, { sent: 1 });
    const r = await row(id);
    assert.equal(r.status, "sent");
    assert.equal(r.has_request, false, "the stored request is cleared once sent");
    const mails = await emailsFor(id);
    assert.equal(mails.length, 1);
    assert.deepEqual(mails[0].to, [address]);
    assert.equal(mails[0].id, r.provider_message_id);
    assert.match(String(mails[0].subject), /^We could not book /);
    assert.match(String(mails[0].text), /What happens next/);
  },
);

e2eTest("a crash between sending and marking sent gives one email, not two", async () => {
  const { user, trip } = await setup();
  const id = await enqueue(trip, user);
  // The dispatcher dies after Resend accepted the email: marking it sent fails.
  const fn = `pg_temp_crash_${id.replaceAll("-", "")}`;
  await sql().unsafe(`create function public.${fn}() returns trigger language plpgsql as $$
    begin raise exception 'crash before marking sent' using errcode = '08006'; end $$`);
  await sql().unsafe(`create trigger ${fn} before update on public.notifications for each row
    when (new.id = '${id}' and new.status = 'sent') execute function public.${fn}()`);
  try {
    const first = await dispatch({ notification_id: id });
    assert.equal(first.status, 200);
    assert.deepEqual(first.json.outcomes, { skipped: 1 });
    const r = await row(id);
    assert.equal(r.status, "sending");
    assert.equal(r.has_request, true, "the exact request was persisted before the call");
    assert.equal((await emailsFor(id)).length, 1);
  } finally {
    await sql().unsafe(`drop trigger ${fn} on public.notifications`);
    await sql().unsafe(`drop function public.${fn}()`);
  }
  // The lease passes; the next run sends the same bytes under the same key.
  await dueNow(id);
  const second = await dispatch({ notification_id: id });
  assert.deepEqual(second.json.outcomes, { sent: 1 });
  const mails = await emailsFor(id);
  assert.equal(mails.length, 1, "Resend deduplicated the resend");
  const r = await row(id);
  assert.equal(r.status, "sent");
  assert.equal(r.provider_message_id, mails[0].id);
  const log = (await fake("/_fake/requests")).data as { idempotency_key: string }[];
  assert.equal(log.filter((e) => e.idempotency_key === id).length, 2, "two calls, one email");
});

e2eTest(
  "429 and 5xx retry later with the same key; permanent errors and too many attempts are dead",
  async () => {
    const { user, trip } = await setup();
    const id = await enqueue(trip, user);
    await fake("/_fake/script", [{ fault: "429", idempotency_key: id }]);
    await dispatch({ notification_id: id });
    let r = await row(id);
    assert.equal(r.status, "sending");
    assert.equal(r.last_error_code, "resend_rate_limited");
    assert.equal(r.later, true, "backed off");
    await fake("/_fake/script", [{ fault: "lose_response", idempotency_key: id }]);
    await dueNow(id);
    await dispatch({ notification_id: id });
    r = await row(id);
    assert.equal(r.last_error_code, "resend_internal_server_error");
    await dueNow(id);
    await dispatch({ notification_id: id });
    r = await row(id);
    assert.equal(r.status, "sent");
    assert.equal((await emailsFor(id)).length, 1, "the lost answer's email was not sent again");

    const dead = await enqueue(trip, user);
    await fake("/_fake/script", [{ fault: "422", idempotency_key: dead }]);
    await dispatch({ notification_id: dead });
    r = await row(dead);
    assert.equal(r.status, "dead");
    assert.equal(r.dead_reason, "resend_invalid_parameter");

    const tired = await enqueue(trip, user);
    await sql()`update public.notifications set attempts = 8 where id = ${tired}`;
    await dispatch({ notification_id: tired });
    r = await row(tired);
    assert.equal(r.status, "dead");
    assert.equal(r.dead_reason, "too_many_attempts");
    assert.equal((await emailsFor(tired)).length, 0);
  },
);

e2eTest(
  "a bounce arrives signed, once, and suppresses the address; bad signatures are refused",
  async () => {
    const { user, trip } = await setup();
    const id = await enqueue(trip, user);
    await dispatch({ notification_id: id });
    const [mail] = await emailsFor(id);
    const bounce = await fake("/_fake/events", { email_id: mail.id, type: "email.bounced" });
    assert.equal(bounce.status, 200, JSON.stringify(bounce));
    assert.deepEqual(bounce.body, { received: true, duplicate: false });
    assert.equal((await row(id)).delivery, "bounced");

    // The same delivery again (same svix-id): acknowledged, processed once.
    const svixId = (bounce.headers as Record<string, string>)["svix-id"];
    const again = await fake("/_fake/events", {
      email_id: mail.id,
      type: "email.delivered",
      svix_id: svixId,
    });
    assert.deepEqual(again.body, { received: true, duplicate: true });
    assert.equal((await row(id)).delivery, "bounced");

    const wrong = await fake("/_fake/events", {
      email_id: mail.id,
      type: "email.complained",
      secret: "whsec_" + btoa("not the secret at all!!!"),
    });
    assert.equal(wrong.status, 400);
    assert.equal((wrong.body as Record<string, unknown>).code, "invalid_signature");
    const stale = await fake("/_fake/events", {
      email_id: mail.id,
      type: "email.complained",
      timestamp: String(Math.floor(Date.now() / 1000) - 600),
    });
    assert.equal((stale.body as Record<string, unknown>).code, "stale_timestamp");
    const unsigned = await fetch(`${FUNCTIONS}/resend-webhook`, { method: "POST", body: "{}" });
    assert.equal(unsigned.status, 400);
    assert.equal((await unsigned.json()).code, "missing_signature");

    // Further mail to that address is suppressed, not sent.
    const next = await enqueue(trip, user, "watch_expired");
    const run = await dispatch({ notification_id: next });
    assert.deepEqual(run.json.outcomes, { suppressed: 1 });
    const r = await row(next);
    assert.equal(r.status, "suppressed");
    assert.equal(r.dead_reason, "recipient_suppressed");
    assert.equal((await emailsFor(next)).length, 0);
    const [{ n }] = await sql()`select count(*)::int as n from public.email_suppressions s
    join public.notifications x on x.recipient_hash = s.address_hash where x.id = ${id}`;
    assert.equal(n, 1);
  },
);

e2eTest("a price alert is sent once per price, again only after the configured drop", async () => {
  const { user, trip } = await setup(100_000_000);
  const alerts = async () =>
    await sql()`select payload from public.notifications
      where trip_id = ${trip} and template = 'price_alert' order by created_at`;
  assert.equal((await alerts()).length, 1, "the first price that meets the target");
  const first = Number((await alerts())[0].payload.amount_minor);
  const user2 = await sql()`select id from public.trip_requests where id = ${trip}`;
  assert.equal(user2.length, 1);
  const reprice = async (minor: number) => {
    await sql()`update public.flight_offers o set total_minor = ${minor}
      from public.trip_requests t where t.id = ${trip} and o.id = t.selected_offer_id`;
    await sql()`update public.trip_requests set check_count = check_count + 1 where id = ${trip}`;
  };
  await reprice(first);
  assert.equal((await alerts()).length, 1, "the same price is never alerted twice");
  await reprice(first - Math.floor(first / 100)); // 1 %: below the 5 % default
  assert.equal((await alerts()).length, 1);
  const lower = first - Math.ceil(first / 10); // 10 %
  await reprice(lower);
  assert.equal((await alerts()).length, 2);
  await reprice(lower);
  assert.equal((await alerts()).length, 2);
  // It renders and sends like any other notification.
  const [n] = await sql()`select id from public.notifications
    where trip_id = ${trip} and template = 'price_alert' order by created_at desc limit 1`;
  const run = await dispatch({ notification_id: n.id });
  assert.deepEqual(run.json.outcomes, { sent: 1 });
  const [mail] = await emailsFor(n.id);
  assert.match(String(mail.subject), /^Price alert: .* now GBP /);
  void user;
});
