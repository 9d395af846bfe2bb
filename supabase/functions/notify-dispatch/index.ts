/**
 * notify-dispatch: the outbox dispatcher, called by pg_cron through pg_net (job
 * `notify-dispatch`). Service only: `verify_jwt` is off and the caller must present the
 * project's secret key. Claims due notifications and drives each through the core's
 * render -> persist -> send (Resend, Idempotency-Key = the notification id) -> mark machine.
 *
 * POST {}                               -> 200 { enabled, claimed, outcomes, duration_ms }
 * POST { "notification_id": uuid }      -> the same, for that notification only (if due)
 */
import "../_shared/core/webhooks.ts";
import { env } from "../_shared/env.ts";
import { HttpError, json, readBody } from "../_shared/http.ts";
import { runDispatch } from "../_shared/notify.ts";
import { serve } from "../_shared/serve.ts";
import { requireService } from "../_shared/service.ts";

export default serve("notify-dispatch", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  requireService(req, e);
  const id = parseDispatchRequest(await readBody(req, 4096));
  const summary = await runDispatch(e, id, log);
  log.info("run finished", { claimed: summary.claimed, duration_ms: summary.duration_ms });
  return json(200, summary);
}, { cors: false });

/** `{}`, `{"source","at"}` from pg_cron, or `{"notification_id": uuid}`; anything else is 400. */
function parseDispatchRequest(body: Uint8Array): string | null {
  const text = new TextDecoder().decode(body).trim();
  if (text === "") return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "the body must be empty or a JSON object");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "invalid_json", "the body must be empty or a JSON object");
  }
  const o = value as Record<string, unknown>;
  if (Object.keys(o).some((k) => !["notification_id", "source", "at"].includes(k))) {
    throw new HttpError(400, "unknown_field", "unknown field in the dispatch request");
  }
  const id = o.notification_id ?? null;
  if (id !== null && (typeof id !== "string" || !/^[0-9a-f-]{36}$/i.test(id))) {
    throw new HttpError(400, "invalid_notification_id", "notification_id must be a UUID");
  }
  return id as string | null;
}
