/**
 * Fake Sentry ingest: a stand-in for `https://o<org>.ingest.sentry.io`, the endpoint the Sentry
 * SDKs send envelopes to. It receives envelopes so tests can check what would leave the system.
 *
 * Wire format (Sentry's envelope protocol): `POST /api/<project id>/envelope/` with
 * `X-Sentry-Auth: Sentry sentry_key=<public key>, sentry_version=7, …` (or `?sentry_key=` in the
 * query string, as browser SDKs send it) and a body of newline-separated JSON: the envelope
 * header (`event_id`, `sent_at`, `dsn`, `sdk`), then for each item an item header (`type`,
 * optional `length` in bytes) and its payload. A key other than the configured one → 403
 * `{"detail":"invalid api key"}`; a project other than the DSN's → 404; an unparsable envelope →
 * 400 `{"detail":"invalid envelope"}`. Accepted: 200 `{"id":"<event_id>"}`.
 *
 * Control API (no auth): `GET /_fake/envelopes` (every accepted envelope: `raw` text, parsed
 * `header` and `items` [{header, payload}]), `POST /_fake/reset`.
 *
 * How it differs from Sentry: in memory, no rate limits, quotas, symbolication, gzip or
 * attachments handling beyond storing them, no `store` endpoint.
 *
 *   deno run --allow-net tests/fakes/sentry.ts [port]   (prints its DSN)
 *
 * @module
 */

/** One parsed envelope item. */
export interface EnvelopeItem {
  header: Record<string, unknown>;
  payload: unknown;
}

/** One accepted envelope. */
export interface Envelope {
  raw: string;
  header: Record<string, unknown>;
  items: EnvelopeItem[];
}

/** Parses Sentry's envelope format (throws on a malformed one). */
export function parseEnvelope(raw: string): Envelope {
  const bytes = new TextEncoder().encode(raw);
  let pos = 0;
  const line = (): string => {
    let end = bytes.indexOf(10, pos);
    if (end < 0) end = bytes.length;
    const text = new TextDecoder().decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const header = JSON.parse(line());
  const items: EnvelopeItem[] = [];
  while (pos < bytes.length) {
    const first = line();
    if (first.trim() === "") continue;
    const itemHeader = JSON.parse(first);
    let text: string;
    if (typeof itemHeader.length === "number") {
      text = new TextDecoder().decode(bytes.subarray(pos, pos + itemHeader.length));
      pos += itemHeader.length + 1;
    } else {
      text = line();
    }
    let payload: unknown = text;
    try {
      payload = JSON.parse(text);
    } catch {
      // attachments and other binary items stay as text
    }
    items.push({ header: itemHeader, payload });
  }
  return { raw, header, items };
}

/** A running fake: its DSN, what it received, and how to stop it. */
export interface FakeSentry {
  dsn: string;
  envelopes: Envelope[];
  close(): Promise<void>;
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Starts the fake on 127.0.0.1:`port` (0 = any free port). */
export function startFakeSentry(port = 0, publicKey = "fakepublickey", project = "42"): FakeSentry {
  const envelopes: Envelope[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/_fake/envelopes" && req.method === "GET") return json(envelopes);
    if (url.pathname === "/_fake/reset" && req.method === "POST") {
      envelopes.length = 0;
      return json({ ok: true });
    }
    const m = url.pathname.match(/^\/api\/([^/]+)\/envelope\/?$/);
    if (!m || req.method !== "POST") return json({ detail: "not found" }, 404);
    const auth = req.headers.get("x-sentry-auth") ?? "";
    const key = auth.match(/sentry_key=([^,\s]+)/)?.[1] ?? url.searchParams.get("sentry_key");
    if (key !== publicKey) return json({ detail: "invalid api key" }, 403);
    if (m[1] !== project) return json({ detail: "unknown project" }, 404);
    const raw = await req.text();
    let env: Envelope;
    try {
      env = parseEnvelope(raw);
    } catch {
      return json({ detail: "invalid envelope" }, 400);
    }
    envelopes.push(env);
    return json({ id: env.header.event_id ?? null });
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    dsn: `http://${publicKey}@127.0.0.1:${addr.port}/${project}`,
    envelopes,
    close: () => server.shutdown(),
  };
}

if (import.meta.main) {
  const fake = startFakeSentry(Number(Deno.args[0] ?? 0));
  console.log(`fake sentry: SENTRY_DSN=${fake.dsn}`);
}
