/**
 * The outbox dispatcher's run: claims due notifications (`notify_claim`, a lease with FOR UPDATE
 * SKIP LOCKED) and drives the core's `NotifyDriver` for each, one after another (Resend's
 * default rate limit is 2 requests per second per team), through the one executor. It decides
 * nothing itself: rendering, persist-then-send, retries and dead letters are the core's.
 */
import { notifyDriver } from "./core.ts";
import { db } from "./db.ts";
import { callSql, drive, type ExecContext, services } from "./engine.ts";
import { type Env, requireResend } from "./env.ts";
import { errorFields, type Logger } from "./log.ts";

/** What one dispatcher run did (the function's response body; no personal data). */
export interface DispatchSummary {
  enabled: boolean;
  claimed: number;
  outcomes: Record<string, number>;
  duration_ms: number;
}

type ClaimResult = {
  enabled: boolean;
  settings: Record<string, unknown>;
  notifications: { id: string }[];
};

/** One run: every due notification up to the batch size (or just `notificationId`). */
export async function runDispatch(
  e: Env,
  notificationId: string | null,
  log: Logger,
): Promise<DispatchSummary> {
  const started = Date.now();
  requireResend(e); // before leasing anything: a run without its key would lease and do nothing
  const ctx: ExecContext = { sql: db(e.dbUrl), services: services(e), log };
  const claimed = JSON.parse(
    await callSql(ctx, "notify_claim", "service", { notification_id: notificationId }),
  ) as ClaimResult;
  const summary: DispatchSummary = {
    enabled: claimed.enabled,
    claimed: claimed.notifications.length,
    outcomes: {},
    duration_ms: 0,
  };
  for (const n of claimed.notifications) {
    let outcome = "failed";
    try {
      const done = await drive(notifyDriver(n, claimed.settings), ctx);
      outcome = done.outcome;
      log.info("notification done", { notification_id: n.id, outcome, reason: done.reason });
    } catch (err) {
      log.error("notification driver failed", { notification_id: n.id, ...errorFields(err) });
    }
    summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1;
  }
  summary.duration_ms = Date.now() - started;
  return summary;
}
