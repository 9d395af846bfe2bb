import assert from "node:assert/strict";
import { OperatorWebhookFake } from "./operator_webhook.ts";

const post = (fake: OperatorWebhookFake, body: string, type = "application/json") =>
  fake.handle(
    new Request("http://fake/hook", {
      method: "POST",
      headers: { "Content-Type": type },
      body,
    }),
  );

Deno.test("operator webhook fake: Slack's answers for good and bad payloads", async () => {
  const fake = new OperatorWebhookFake();
  const ok = await post(fake, JSON.stringify({ text: "[FIRING] x", attachments: [] }));
  assert.deepEqual([ok.status, await ok.text()], [200, "ok"]);
  const notJson = await post(fake, "text=hi", "application/x-www-form-urlencoded");
  assert.deepEqual([notJson.status, await notJson.text()], [400, "invalid_payload"]);
  const noText = await post(fake, JSON.stringify({ attachments: [] }));
  assert.deepEqual([noText.status, await noText.text()], [400, "no_text"]);
  const badAttachments = await post(fake, JSON.stringify({ text: "x", attachments: {} }));
  assert.equal(badAttachments.status, 400);
  await badAttachments.body?.cancel();
  assert.equal(fake.messages.length, 1, "only accepted payloads are recorded");
});

Deno.test("operator webhook fake: scripted failures match text and run out", async () => {
  const fake = new OperatorWebhookFake();
  const script = await fake.handle(
    new Request("http://fake/_fake/script", {
      method: "POST",
      body: JSON.stringify({ status: 500, times: 1, match: "monitor_silent" }),
    }),
  );
  assert.equal(script.status, 200);
  await script.body?.cancel();
  const other = await post(fake, JSON.stringify({ text: "[FIRING] attempt_stuck" }));
  assert.equal(other.status, 200);
  const failed = await post(fake, JSON.stringify({ text: "[FIRING] monitor_silent" }));
  assert.equal(failed.status, 500);
  const again = await post(fake, JSON.stringify({ text: "[FIRING] monitor_silent" }));
  assert.equal(again.status, 200);
  await Promise.all([other, failed, again].map((r) => r.body?.cancel()));
  assert.deepEqual(fake.messages.map((m) => m.status), [200, 500, 200]);
});
