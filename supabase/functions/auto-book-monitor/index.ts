/**
 * auto-book-monitor: called by pg_cron through pg_net on a schedule (and by trip-search to process
 * one trip now). Service only: `verify_jwt` is off and the caller must present the project's
 * secret key. Claims due trips and drives each through the core's re-price / decide / book saga;
 * answers with a summary of the run.
 *
 * POST {}                  -> 200 { run_id, enabled, claimed, outcomes, left_for_next_run, duration_ms,
 *                               provider_calls, provider_429 }
 * POST { "trip_id": uuid } -> the same, for that trip only
 */
import { parseMonitorRequest } from "../_shared/core/monitor.ts";
import { env } from "../_shared/env.ts";
import { HttpError, json, readBody } from "../_shared/http.ts";
import { runMonitor } from "../_shared/monitor.ts";
import { serve } from "../_shared/serve.ts";
import { requireService } from "../_shared/service.ts";

export default serve("auto-book-monitor", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  requireService(req, e);
  const { trip_id } = parseMonitorRequest(await readBody(req, 4096));
  const summary = await runMonitor(e, trip_id, log);
  log.info("run finished", {
    run_id: summary.run_id,
    claimed: summary.claimed,
    left: summary.left_for_next_run,
    duration_ms: summary.duration_ms,
  });
  return json(200, summary);
}, { cors: false });
