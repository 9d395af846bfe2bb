/**
 * Issue 9, item 3, on the local stack: an alert rule's incident reaches the operator webhook
 * (the Slack stand-in tests/fakes/operator_webhook.ts) once, through the outbox and pg_net, with
 * a retry after the webhook fails; its resolve message follows once when it clears; nothing
 * personal is in either message.
 */
import assert from "node:assert/strict";
import { e2eTest, sql } from "./helpers.ts";
import { serveOperatorWebhook } from "../fakes/operator_webhook.ts";

async function evaluate(): Promise<Record<string, number>> {
  const [{ r }] = await sql()`select app.alerts_evaluate('{}') as r`;
  return r;
}

/** Waits until pg_net answered every delivery in `sending`. */
async function delivered(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const [{ n }] = await sql()`select count(*)::int as n from public.operator_alert_deliveries d
      where d.status = 'sending'
        and not exists (select 1 from net._http_response r where r.id = d.request_id)`;
    if (n === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("pg_net did not answer");
}

/** Evaluates (send), waits for pg_net, evaluates (read the answers). */
async function sendRound(): Promise<void> {
  await evaluate();
  await delivered();
  await evaluate();
}

e2eTest("an incident is delivered once (retried after a failure) and resolved once", async () => {
  const { fake, server, url } = serveOperatorWebhook();
  const jobs = await sql()`select jobid, jobname, active from cron.job
    where jobname in ('auto-book-monitor', 'operator-alerts')`;
  for (const j of jobs) await sql()`select cron.alter_job(${j.jobid}::bigint, active := false)`;
  await sql()`delete from vault.secrets where name = 'operator_webhook_url'`;
  await sql()`select vault.create_secret(${url + "/services/T0/B0/x"}, 'operator_webhook_url')`;
  try {
    // A quiet start: the monitor ran just now (a fresh stack may have fired monitor_silent
    // before its first run), and whatever earlier tests left goes out first.
    await sql()`update public.pipeline_settings set heartbeat_at = now()`;
    await sendRound();
    await sendRound();
    fake.messages.length = 0;
    await fake.handle(
      new Request("http://fake/_fake/script", {
        method: "POST",
        body: JSON.stringify({ status: 500, times: 1, match: "monitor_silent" }),
      }),
    );

    await sql()`update public.pipeline_settings set heartbeat_at = now() - interval '20 minutes'`;
    const fired = await evaluate();
    assert.ok(fired.fired >= 1, JSON.stringify(fired));
    const [{ id: alertId }] = await sql()`select id from public.operator_alerts
      where rule = 'monitor_silent' and resolved_at is null`;
    const deliveries = () =>
      sql()`select kind, status, attempts, last_status, next_attempt_at > now() as later
        from public.operator_alert_deliveries where alert_id = ${alertId} order by kind`;
    await delivered();
    const retried = await evaluate();
    assert.ok(retried.retried >= 1, "the 500 is retried");
    assert.deepEqual((await deliveries()).map((r) => ({ ...r })), [
      { kind: "fire", status: "pending", attempts: 1, last_status: 500, later: true },
    ]);
    // The backoff has passed.
    await sql()`update public.operator_alert_deliveries set next_attempt_at = now()
      where status = 'pending'`;
    await sendRound();
    await sendRound();
    const firing = fake.messages.filter((m) => m.text.includes("monitor_silent"));
    assert.deepEqual(firing.map((m) => [m.status, m.text.slice(0, 10)]), [
      [500, "[FIRING] m"],
      [200, "[FIRING] m"],
    ], "one failed post, then one delivered, nothing more");

    await sql()`update public.pipeline_settings set heartbeat_at = now()`;
    const resolved = await evaluate();
    assert.ok(resolved.resolved >= 1);
    await delivered();
    await evaluate();
    await sendRound();
    const resolves = fake.messages.filter((m) =>
      m.text.includes("monitor_silent") && m.text.startsWith("[RESOLVED]")
    );
    assert.equal(resolves.length, 1, "one resolve message");
    assert.equal(resolves[0].status, 200);
    assert.deepEqual(
      (await deliveries()).map((r) => [r.kind, r.status, r.attempts]),
      [["fire", "sent", 2], ["resolve", "sent", 1]],
      "fire (after one retry) and resolve are both marked sent",
    );
    const all = JSON.stringify(fake.messages);
    assert.doesNotMatch(all, /@|given_name|family_name|born_on|phone_number/, "no personal data");
  } finally {
    await sql()`delete from vault.secrets where name = 'operator_webhook_url'`;
    await sql()`update public.pipeline_settings set heartbeat_at = now()`;
    for (const j of jobs) {
      await sql()`select cron.alter_job(${j.jobid}::bigint, active := ${j.active})`;
    }
    await server.shutdown();
  }
});
