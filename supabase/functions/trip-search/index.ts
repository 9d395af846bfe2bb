/**
 * trip-search: a signed-in traveller creates a trip request (or names one of their own) and gets
 * the best offer found, stored and selected. Thin shim: validation, Duffel wire formats and
 * selection are in the Rust core; this moves bytes between the caller, Duffel and Postgres.
 *
 * POST { ...trip request }  -> 201 { trip, selected_offer, decision, offers_seen, rejections }
 * POST { "trip_id": uuid }  -> 200 (same shape), 404 when it is not the caller's
 */
import { requireUser } from "../_shared/auth.ts";
import { triggerMonitor } from "../_shared/background.ts";
import * as core from "../_shared/core.ts";
import { preflight } from "../_shared/cors.ts";
import { asUser, db, mapDbError } from "../_shared/db.ts";
import { env } from "../_shared/env.ts";
import { execute } from "../_shared/fetcher.ts";
import { fail, HttpError, json, readBody, requireJson } from "../_shared/http.ts";
import { correlationId, errorFields, Logger } from "../_shared/log.ts";
import { enforceLimit } from "../_shared/ratelimit.ts";

const MAX_BODY_BYTES = 16 * 1024;

type Stored = { trip: Record<string, unknown>; selected_offer: Record<string, unknown> | null };

async function handle(req: Request, log: Logger): Promise<Response> {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const user = await requireUser(req, e);
  requireJson(req);
  const input = core.parseTripInput(await readBody(req, MAX_BODY_BYTES), Date.now());
  await enforceLimit(e, "trip-search", user.sub, log);
  const sql = db(e.dbUrl);

  const trip = await asUser(sql, user, async (tx) => {
    const [row] = input.kind === "new"
      ? await tx`select app.create_trip(${JSON.stringify(input.trip)}::text::jsonb) as trip`
      : await tx`select app.get_trip(${input.trip_id}::uuid) as trip`;
    return row.trip as Record<string, unknown> | null;
  }).catch(mapDbError);
  if (!trip) throw new HttpError(404, "not_found", "no such trip request");
  const tripId = String(trip.id);
  log.info("trip loaded", { trip_id: tripId, created: input.kind === "new" });

  const tripJson = JSON.stringify(trip);
  const request = core.buildSearchRequest(tripJson, {
    base_url: e.duffelUrl,
    access_token: e.duffelToken,
  });
  const outcome = await execute(request);
  const now = Date.now();
  const processed = outcome.kind === "response"
    ? core.processSearchResponse(tripJson, outcome.status, outcome.body, now)
    : { ok: false as const, error: core.transportFailure(outcome.kind, now).error };
  log.info("provider answered", {
    trip_id: tripId,
    outcome: outcome.kind,
    status: outcome.kind === "response" ? outcome.status : null,
    duration_ms: outcome.durationMs,
  });

  if (!processed.ok) {
    const { code, message, provider_code } = processed.error;
    const stored = await asUser(sql, user, async (tx) => {
      const [row] = await tx`select app.record_search_failure(${tripId}::uuid, ${code},
        ${core.failureNextCheck(now)}::timestamptz) as stored`;
      return row.stored as Stored;
    }).catch(mapDbError);
    log.warn("search failed", { trip_id: tripId, code, provider_code: provider_code ?? null });
    return fail(502, code, message, { provider_code: provider_code ?? null, trip: stored.trip });
  }

  const summary = processed;
  const stored = await asUser(sql, user, async (tx) => {
    const [row] = await tx`select app.record_search(${tripId}::uuid,
      ${summary.result_json}::text::jsonb) as stored`;
    return row.stored as Stored;
  }).catch(mapDbError);
  log.info("search recorded", {
    trip_id: tripId,
    decision: summary.decision,
    offers_seen: summary.offers_seen,
    offers_stored: summary.offers_stored,
  });
  if (stored.trip.auto_book === true && summary.decision === "offer_selected") {
    triggerMonitor(e, tripId, log);
  }
  const { raw: _raw, ...selected } = stored.selected_offer ?? { raw: null };
  return json(input.kind === "new" ? 201 : 200, {
    trip: stored.trip,
    selected_offer: stored.selected_offer ? selected : null,
    decision: summary.decision,
    offers_seen: summary.offers_seen,
    rejections: summary.rejections,
  });
}

export default {
  async fetch(req: Request): Promise<Response> {
    if (req.method === "OPTIONS") return preflight();
    const log = new Logger("trip-search", correlationId(req));
    try {
      return await handle(req, log);
    } catch (err) {
      if (err instanceof HttpError) {
        if (err.status >= 500) log.error("request failed", { code: err.code });
        return err.toResponse();
      }
      log.error("unexpected error", errorFields(err));
      return fail(500, "internal", "internal error; the request was not completed");
    }
  },
};
