import assert from "node:assert/strict";
import { createResendFake, svixSign } from "./resend.ts";
import { svixMac } from "../../supabase/functions/_shared/svix.ts";

const auth = { authorization: "Bearer re_test", "content-type": "application/json" };
const email = { from: "a <a@x.example>", to: ["b@y.example"], subject: "s", text: "t" };

function post(f: ReturnType<typeof createResendFake>, body: unknown, key?: string) {
  const headers: Record<string, string> = { ...auth };
  if (key) headers["idempotency-key"] = key;
  return f.fetch(
    new Request("http://fake/emails", { method: "POST", headers, body: JSON.stringify(body) }),
  );
}

async function sent(f: ReturnType<typeof createResendFake>) {
  const r = await f.fetch(new Request("http://fake/_fake/emails"));
  return (await r.json()).data as { id: string }[];
}

Deno.test("same key and body answers the same id and sends once; other body is 409", async () => {
  const f = createResendFake();
  const a = await (await post(f, email, "k1")).json();
  const b = await (await post(f, email, "k1")).json();
  assert.equal(a.id, b.id);
  assert.equal((await sent(f)).length, 1);
  const c = await post(f, { ...email, subject: "other" }, "k1");
  assert.equal(c.status, 409);
  assert.equal((await c.json()).name, "invalid_idempotent_request");
  const d = await (await post(f, email, "k2")).json();
  assert.notEqual(d.id, a.id);
});

Deno.test("scripted faults, validation and auth", async () => {
  const f = createResendFake();
  await f.fetch(
    new Request("http://fake/_fake/script", {
      method: "POST",
      body: JSON.stringify([{ fault: "429" }, { fault: "lose_response" }]),
    }),
  );
  const r = await post(f, email, "k");
  assert.equal(r.status, 429);
  assert.equal(r.headers.get("retry-after"), "1");
  assert.equal((await post(f, email, "k")).status, 500);
  assert.equal((await sent(f)).length, 1, "lose_response sends, then answers 500");
  assert.equal((await post(f, email, "k")).status, 200, "the retry replays");
  assert.equal((await sent(f)).length, 1);
  const bad = await post(f, { to: "x@y.z" });
  assert.equal(bad.status, 422);
  assert.equal((await bad.json()).name, "missing_required_field");
  const noAuth = await f.fetch(new Request("http://fake/emails", { method: "POST", body: "{}" }));
  assert.equal(noAuth.status, 401);
});

Deno.test("Svix signature matches the published example and the shim's MAC", async () => {
  // docs.svix.com "Verifying payloads manually" example.
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  const ts = "1614265330";
  const body = '{"test": 2432232314}';
  const sig = await svixSign(secret, id, ts, body);
  assert.equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  const mac = await svixMac(
    secret,
    { id, timestamp: ts, signature: sig },
    new TextEncoder().encode(body),
  );
  assert.equal(`v1,${mac}`, sig);
});
