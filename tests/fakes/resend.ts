/**
 * Fake Resend API (`POST /emails` and Svix-signed webhooks): a stand-in for
 * `https://api.resend.com` in local runs and tests.
 *
 * Wire format per /work/shared/reference/contracts-providers.md §3 and
 * contracts-webhooks-setup.md §4: `Authorization: Bearer re_…` (missing → 401
 * `missing_api_key`, not `re_…` → 403 `invalid_api_key`); a JSON body with `from`, `to` (string or
 * array of at most 50), `subject` and `html` and/or `text` (else 422 `missing_required_field`);
 * success 200 `{"id":"<uuid>"}`; errors `{statusCode,name,message}`. `Idempotency-Key` (1–256
 * characters, else 400 `invalid_idempotency_key`): the same key with the same body answers the
 * first id again and sends nothing; the same key with another body is 409
 * `invalid_idempotent_request`; keys are kept 24 h (fake clock). 429s carry `retry-after` and
 * `ratelimit-*` headers.
 *
 * Webhooks: `POST /_fake/events {"email_id","type", "svix_id"?, "timestamp"?, "secret"?,
 * "url"?}` builds a Resend event for a sent email (`email.delivered`, `email.bounced` with
 * `bounce{type:"Permanent",…}`, `email.complained`, …), signs it like Svix (`svix-id`,
 * `svix-timestamp`, `svix-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>` under the
 * base64-decoded `whsec_` secret, env RESEND_WEBHOOK_SECRET unless `secret` overrides it) and
 * POSTs it to `url` (default `$SUPABASE_URL/functions/v1/resend-webhook`); it answers the
 * delivery's status and body and the headers it sent, so tests can replay or tamper.
 *
 * Control API (no auth): `POST /_fake/script` with a fault or a list of faults
 * `{"fault":"429"|"500"|"503"|"422"|"lose_response","idempotency_key"?}`, each consumed by the
 * next matching `POST /emails` (`lose_response` sends and stores the email, then answers 500);
 * `GET /_fake/emails[?to=addr][&idempotency_key=k]` (every email accepted: id, to, from,
 * subject, text, html, tags, idempotency_key, created_at); `GET /_fake/requests`;
 * `POST /_fake/reset`; `POST /_fake/clock {"advance_seconds":n}`.
 *
 * How it differs from Resend: in memory, one team for every `re_…` key, no domains (any from
 * address is accepted), no rate limit unless scripted, no batch or retrieve endpoints, webhooks
 * only when asked through `/_fake/events` (no automatic delivery, no retries), email ids are
 * random UUIDs (unique across restarts).
 *
 * @module
 */

import {
  advanceClock,
  appendLog,
  canonicalJson,
  FakeClock,
  isObject,
  jsonResponse,
  type LoggedRequest,
  queryRecord,
  readJsonOrUndefined,
  serveFake,
} from "./_shared.ts";

/** One accepted email. */
export interface FakeEmail {
  id: string;
  to: string[];
  from: string;
  subject: string;
  text: string | null;
  html: string | null;
  tags: unknown;
  idempotency_key: string | null;
  created_at: string;
}

/** A scripted fault for the next matching `POST /emails`. */
export interface ResendFault {
  fault: "429" | "500" | "503" | "422" | "lose_response";
  idempotency_key?: string;
}

const KEY_TTL_MS = 24 * 3600 * 1000;

function error(status: number, name: string, message: string, headers = {}): Response {
  return jsonResponse(status, { statusCode: status, name, message }, headers);
}

/** Svix signature value for `id.timestamp.body` under a `whsec_` secret. */
export async function svixSign(
  secret: string,
  id: string,
  timestamp: string,
  body: string,
): Promise<string> {
  const raw = Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${body}`)),
  );
  return `v1,${btoa(String.fromCharCode(...mac))}`;
}

/** Builds a fake Resend with its own state. */
export function createResendFake(opts: { clock?: FakeClock } = {}) {
  const clock = opts.clock ?? new FakeClock();
  let emails: FakeEmail[] = [];
  let keys = new Map<string, { body: string; id: string; at: number }>();
  let faults: ResendFault[] = [];
  let log: LoggedRequest[] = [];

  function takeFault(key: string | null): ResendFault | undefined {
    const i = faults.findIndex((f) => f.idempotency_key === undefined || f.idempotency_key === key);
    return i < 0 ? undefined : faults.splice(i, 1)[0];
  }

  async function sendEmail(req: Request): Promise<Response> {
    const auth = req.headers.get("authorization") ?? "";
    const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (!token) {
      return error(401, "missing_api_key", "Missing API key in the authorization header.");
    }
    if (!token.startsWith("re_")) return error(403, "invalid_api_key", "API key is invalid.");
    const key = req.headers.get("idempotency-key");
    if (key !== null && (key.length < 1 || key.length > 256)) {
      return error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.");
    }
    const body = await readJsonOrUndefined(req);
    const fault = takeFault(key);
    if (fault?.fault === "429") {
      return error(429, "rate_limit_exceeded", "Too many requests.", {
        "retry-after": "1",
        "ratelimit-limit": "2",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "1",
        "ratelimit-policy": "2;w=1",
      });
    }
    if (fault?.fault === "500" || fault?.fault === "503") {
      return error(Number(fault.fault), "internal_server_error", "An unexpected error occurred.");
    }
    if (fault?.fault === "422") {
      return error(422, "invalid_parameter", "Scripted validation failure.");
    }
    if (!isObject(body)) return error(422, "missing_required_field", "Missing body.");
    for (const field of ["from", "to", "subject"]) {
      if (body[field] === undefined) {
        return error(422, "missing_required_field", `Missing \`${field}\` field.`);
      }
    }
    if (typeof body.html !== "string" && typeof body.text !== "string") {
      return error(422, "missing_required_field", "Missing `html` or `text` field.");
    }
    const to = typeof body.to === "string" ? [body.to] : body.to;
    if (
      !Array.isArray(to) || to.length < 1 || to.length > 50 ||
      !to.every((t) => typeof t === "string")
    ) {
      return error(422, "invalid_parameter", "`to` must be a string or an array of at most 50.");
    }
    const canonical = canonicalJson(body);
    const now = clock.nowMs();
    if (key !== null) {
      const seen = keys.get(key);
      if (seen && now - seen.at < KEY_TTL_MS) {
        if (seen.body !== canonical) {
          return error(
            409,
            "invalid_idempotent_request",
            "Same idempotency key used with a different request payload.",
          );
        }
        return jsonResponse(200, { id: seen.id });
      }
    }
    const id = crypto.randomUUID();
    emails.push({
      id,
      to: to as string[],
      from: String(body.from),
      subject: String(body.subject),
      text: typeof body.text === "string" ? body.text : null,
      html: typeof body.html === "string" ? body.html : null,
      tags: body.tags ?? null,
      idempotency_key: key,
      created_at: new Date(now).toISOString(),
    });
    if (key !== null) keys.set(key, { body: canonical, id, at: now });
    if (fault?.fault === "lose_response") {
      return error(500, "internal_server_error", "An unexpected error occurred.");
    }
    return jsonResponse(200, { id });
  }

  async function deliverEvent(req: Request): Promise<Response> {
    const b = await readJsonOrUndefined(req);
    if (!isObject(b) || typeof b.email_id !== "string" || typeof b.type !== "string") {
      return jsonResponse(400, { error: "email_id and type are required" });
    }
    const email = emails.find((e) => e.id === b.email_id);
    const now = clock.nowMs();
    const data: Record<string, unknown> = {
      email_id: b.email_id,
      created_at: email?.created_at ?? new Date(now).toISOString(),
      from: email?.from ?? "",
      to: email?.to ?? [],
      subject: email?.subject ?? "",
      message_id: `<${b.email_id}@fake.resend>`,
      tags: {},
    };
    if (b.type === "email.bounced") {
      data.bounce = { type: "Permanent", subType: "General", message: "mailbox does not exist" };
    }
    const body = JSON.stringify({ type: b.type, created_at: new Date(now).toISOString(), data });
    const svixId = typeof b.svix_id === "string" ? b.svix_id : `msg_${crypto.randomUUID()}`;
    const timestamp = typeof b.timestamp === "string"
      ? b.timestamp
      : String(Math.floor(now / 1000));
    const secret = typeof b.secret === "string" ? b.secret : Deno.env.get("RESEND_WEBHOOK_SECRET");
    if (!secret) return jsonResponse(500, { error: "RESEND_WEBHOOK_SECRET is not set" });
    const url = typeof b.url === "string"
      ? b.url
      : `${Deno.env.get("SUPABASE_URL") ?? "http://127.0.0.1:54321"}/functions/v1/resend-webhook`;
    const headers = {
      "content-type": "application/json",
      "svix-id": svixId,
      "svix-timestamp": timestamp,
      "svix-signature": await svixSign(secret, svixId, timestamp, body),
    };
    const res = await fetch(url, { method: "POST", headers, body });
    const text = await res.text();
    let answer: unknown = text;
    try {
      answer = JSON.parse(text);
    } catch { /* not JSON */ }
    return jsonResponse(200, { status: res.status, body: answer, headers, payload: body });
  }

  async function control(req: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    if (path === "/_fake/script" && req.method === "POST") {
      const b = await readJsonOrUndefined(req);
      const list = Array.isArray(b) ? b : isObject(b) && Array.isArray(b.faults) ? b.faults : [b];
      for (const f of list) {
        if (
          !isObject(f) || !["429", "500", "503", "422", "lose_response"].includes(String(f.fault))
        ) {
          return jsonResponse(400, { error: "fault must be 429, 500, 503, 422 or lose_response" });
        }
      }
      faults.push(...(list as ResendFault[]));
      return jsonResponse(200, { faults });
    }
    if (path === "/_fake/script" && req.method === "GET") return jsonResponse(200, { faults });
    if (path === "/_fake/emails") {
      const q = queryRecord(url);
      const list = emails.filter((e) =>
        (q.to === undefined || e.to.includes(q.to)) &&
        (q.idempotency_key === undefined || e.idempotency_key === q.idempotency_key)
      );
      return jsonResponse(200, { data: list });
    }
    if (path === "/_fake/requests") return jsonResponse(200, { data: log });
    if (path === "/_fake/events" && req.method === "POST") return await deliverEvent(req);
    if (path === "/_fake/reset" && req.method === "POST") {
      emails = [];
      keys = new Map();
      faults = [];
      log = [];
      clock.reset();
      return jsonResponse(200, { reset: true });
    }
    if (path === "/_fake/clock" && req.method === "POST") return await advanceClock(req, clock);
    return jsonResponse(404, { error: "unknown control endpoint" });
  }

  return {
    async fetch(req: Request): Promise<Response> {
      const url = new URL(req.url);
      if (url.pathname.startsWith("/_fake/")) return await control(req, url);
      const entry: LoggedRequest = {
        at: new Date(clock.nowMs()).toISOString(),
        method: req.method,
        path: url.pathname,
        query: queryRecord(url),
        idempotency_key: req.headers.get("idempotency-key"),
        body: null,
        status: null,
      };
      appendLog(log, entry);
      let res: Response;
      if (url.pathname === "/emails" && req.method === "POST") res = await sendEmail(req);
      else if (url.pathname === "/emails") {
        res = error(405, "method_not_allowed", "Method not allowed");
      } else res = error(404, "not_found", "The requested endpoint does not exist.");
      entry.status = res.status;
      return res;
    },
  };
}

/** The shared instance behind the default export and the served process. */
const instance = createResendFake();

export default instance;

if (import.meta.main) serveFake("fake resend", instance, 54393);
