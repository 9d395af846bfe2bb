/** Unit tests of the shared shim helpers that hold no business logic but guard the edges. */
import assert from "node:assert/strict";
import { HttpError, readBody } from "../../supabase/functions/_shared/http.ts";
import {
  correlationId,
  errorFields,
  Logger,
  redact,
} from "../../supabase/functions/_shared/log.ts";

Deno.test("redact masks emails and card-like numbers", () => {
  assert.equal(redact("to ada@example.test now"), "to [email] now");
  assert.equal(redact("card 4242424242424242"), "card [number]");
  assert.equal(redact("trip 5b0c3b8e-1d1b-4a53"), "trip 5b0c3b8e-1d1b-4a53");
});

Deno.test("log lines are JSON with a correlation id and redacted strings", () => {
  const lines: string[] = [];
  const original = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    new Logger("fn", "corr-1234").info("sent to ada@example.test", {
      to: "bob@example.test",
      n: 2,
    });
  } finally {
    console.log = original;
  }
  const entry = JSON.parse(lines[0]);
  assert.equal(entry.correlation_id, "corr-1234");
  assert.equal(entry.fn, "fn");
  assert.equal(entry.msg, "sent to [email]");
  assert.equal(entry.to, "[email]");
  assert.equal(entry.n, 2);
});

Deno.test("errorFields keeps messages only for programming errors", () => {
  assert.deepEqual(errorFields(new TypeError("x is null")), {
    error: "TypeError",
    detail: "x is null",
  });
  assert.deepEqual(errorFields(new Error("ada@example.test declined")), {
    error: "Error",
    detail: undefined,
  });
});

Deno.test("correlation ids: a sane caller id is kept, anything else replaced", () => {
  const req = (v: string) => new Request("http://x/", { headers: { "x-correlation-id": v } });
  assert.equal(correlationId(req("abc-123_XYZ.9")), "abc-123_XYZ.9");
  assert.notEqual(correlationId(req("bad id; DROP")), "bad id; DROP");
  assert.notEqual(correlationId(req("x".repeat(65))), "x".repeat(65));
  assert.match(correlationId(new Request("http://x/")), /^[0-9a-f-]{36}$/);
});

Deno.test("readBody enforces the limit whether or not a length is declared", async () => {
  const ok = await readBody(new Request("http://x/", { method: "POST", body: "abc" }), 3);
  assert.equal(new TextDecoder().decode(ok), "abc");
  await assert.rejects(
    () => readBody(new Request("http://x/", { method: "POST", body: "abcd" }), 3),
    (e) => e instanceof HttpError && e.status === 413 && e.code === "payload_too_large",
  );
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array(2));
      c.enqueue(new Uint8Array(2));
      c.close();
    },
  });
  await assert.rejects(
    () => readBody(new Request("http://x/", { method: "POST", body: stream }), 3),
    (e) => e instanceof HttpError && e.status === 413,
  );
});
