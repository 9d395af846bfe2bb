/**
 * Fake operator webhook: a stand-in for a Slack incoming webhook
 * (`https://hooks.slack.com/services/T…/B…/…`), the URL the alert outbox posts to (Vault secret
 * `operator_webhook_url`).
 *
 * Wire format as Slack documents it for incoming webhooks: `POST` with
 * `Content-Type: application/json` and a JSON object carrying a non-empty `text` (optional
 * `attachments` array of objects, `blocks` array); success `200 text/plain "ok"`; a body that is
 * not such JSON `400 invalid_payload`, no `text` (and no `blocks`) `400 no_text`, another method
 * `405`; Slack's own errors are plain-text codes with 4xx/5xx (`invalid_token` 403,
 * `no_service` 404, `rollup_error` 500) and 429 with `Retry-After` when rate limited.
 *
 * Control API (no auth): `POST /_fake/script {"status": 500|429|…, "times": n, "match"?: "text"}`
 * makes the next `n` posts whose `text` contains `match` (any, when absent) fail with `status`;
 * `GET /_fake/messages` (every post: `{text, attachments, status, at}`, failed ones included);
 * `POST /_fake/reset`.
 *
 * How it differs from Slack: in memory, any path is the webhook, no token check, nothing is
 * posted anywhere.
 *
 * @module
 */

/** One post the fake received. */
export interface ReceivedMessage {
  text: string;
  attachments: unknown[];
  status: number;
  at: string;
}

interface Fault {
  status: number;
  times: number;
  match?: string;
}

/** The fake's state and its HTTP handler. */
export class OperatorWebhookFake {
  readonly messages: ReceivedMessage[] = [];
  #faults: Fault[] = [];

  /** Handles one request (the webhook or the control API). */
  async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/_fake/messages" && req.method === "GET") {
      return Response.json(this.messages);
    }
    if (url.pathname === "/_fake/reset" && req.method === "POST") {
      this.messages.length = 0;
      this.#faults = [];
      return Response.json({ ok: true });
    }
    if (url.pathname === "/_fake/script" && req.method === "POST") {
      const f = await req.json() as Fault;
      if (!Number.isInteger(f.status) || !Number.isInteger(f.times) || f.times < 1) {
        return Response.json({ error: "status and times must be integers" }, { status: 400 });
      }
      this.#faults.push(f);
      return Response.json({ ok: true });
    }
    if (req.method !== "POST") return text(405, "method_not_allowed");
    let body: unknown;
    try {
      if (!(req.headers.get("content-type") ?? "").startsWith("application/json")) {
        throw new Error("not json");
      }
      body = await req.json();
    } catch {
      return text(400, "invalid_payload");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return text(400, "invalid_payload");
    }
    const b = body as { text?: unknown; attachments?: unknown; blocks?: unknown };
    if ((typeof b.text !== "string" || b.text === "") && !Array.isArray(b.blocks)) {
      return text(400, "no_text");
    }
    if (b.attachments !== undefined && !Array.isArray(b.attachments)) {
      return text(400, "invalid_attachments");
    }
    const message = String(b.text ?? "");
    const fault = this.#faults.find((f) => f.times > 0 && (!f.match || message.includes(f.match)));
    const status = fault ? fault.status : 200;
    if (fault) fault.times--;
    this.messages.push({
      text: message,
      attachments: (b.attachments as unknown[]) ?? [],
      status,
      at: new Date().toISOString(),
    });
    if (status === 429) {
      return new Response("rate_limited", { status, headers: { "Retry-After": "1" } });
    }
    return status === 200 ? text(200, "ok") : text(status, "rollup_error");
  }
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { "Content-Type": "text/plain" } });
}

/** Serves a fake on `port` (0: any free port) at 127.0.0.1. */
export function serveOperatorWebhook(
  port = 0,
): { fake: OperatorWebhookFake; server: Deno.HttpServer<Deno.NetAddr>; url: string } {
  const fake = new OperatorWebhookFake();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    (req) => fake.handle(req),
  );
  return { fake, server, url: `http://127.0.0.1:${server.addr.port}` };
}

if (import.meta.main) {
  const port = Number(Deno.env.get("OPERATOR_WEBHOOK_PORT") ?? "54394");
  const { url } = serveOperatorWebhook(port);
  console.log(`fake operator webhook on ${url}`);
}
