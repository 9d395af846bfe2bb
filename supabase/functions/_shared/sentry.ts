/**
 * Error tracking with Sentry's Deno SDK, only when `SENTRY_DSN` is set (otherwise nothing is
 * loaded or sent). What leaves the function is built from an allow list in `beforeSend`
 * ({@link scrubEvent}): the exception's type and stack frames (file, function, line), its message
 * only for programming errors (`TypeError`, `RangeError`, `ReferenceError`, as log.ts does) and
 * redacted even then, and the tags `function`, `trip_id`, `flag_state`, `environment`. No
 * request, user, breadcrumbs, extra data, server name or local variables are ever sent.
 *
 * Per Supabase's guide the default integrations are off (no per-request scope separation in the
 * runtime); every capture runs in its own `withScope` and is flushed before the answer.
 */
import { asService, db } from "./db.ts";
import { redact } from "./log.ts";

/** The tags an error report carries (all optional but `function`). */
export interface ErrorTags {
  function: string;
  trip_id?: string;
  /** Compact flag states, e.g. `auto_booking=on:10000,auto_booking_kill_switch=off`. */
  flag_state?: string;
}

/** The Sentry SDK surface used here (a subset of `npm:@sentry/deno`). */
interface SentryApi {
  init(options: Record<string, unknown>): void;
  withScope(fn: (scope: { setTag(k: string, v: string): void }) => void): void;
  captureException(err: unknown): string;
  flush(timeoutMs: number): Promise<boolean>;
}

const PROGRAMMING = ["TypeError", "RangeError", "ReferenceError"];
const TAGS = ["function", "trip_id", "flag_state", "environment"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PHONE = /\+?\d[\d ().-]{7,}\d/g;
const FLAG_TIMEOUT_MS = 500;

let sdk: Promise<SentryApi | undefined> | undefined;
let flags: { at: number; value: string } | undefined;

/** The environment name reported with every event. */
export function sentryEnvironment(): string {
  return Deno.env.get("SENTRY_ENVIRONMENT") || "local";
}

/** Masks emails, card-like and phone-like numbers in free text. */
export function scrubText(text: string): string {
  return redact(text).replace(PHONE, "[number]").slice(0, 300);
}

type Frame = Record<string, unknown>;
type SentryEvent = Record<string, unknown> & {
  exception?: { values?: Record<string, unknown>[] };
  tags?: Record<string, unknown>;
};

/**
 * The event reduced to what may leave: ids, level, platform, environment, release, timestamps,
 * allow-listed tags (values checked) and exceptions (type, scrubbed message for programming
 * errors only, stack frames without source context or variables).
 */
export function scrubEvent(event: SentryEvent): SentryEvent {
  const out: SentryEvent = {};
  for (const k of ["event_id", "timestamp", "level", "platform", "environment", "release"]) {
    if (event[k] !== undefined) out[k] = event[k];
  }
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.tags ?? {})) {
    if (!TAGS.includes(k) || typeof v !== "string") continue;
    if (k === "trip_id" && !UUID.test(v)) continue;
    tags[k] = /^[A-Za-z0-9_.:=,-]{1,200}$/.test(v) ? v : "[redacted]";
  }
  out.tags = tags;
  const values = (event.exception?.values ?? []).slice(0, 5).map((x) => {
    const type = typeof x.type === "string" && /^[A-Za-z0-9_$.]{1,64}$/.test(x.type)
      ? x.type
      : "Error";
    const st = x.stacktrace as { frames?: Frame[] } | undefined;
    const frames = (st?.frames ?? []).slice(-50).map((f) => ({
      filename: typeof f.filename === "string" ? f.filename.slice(0, 300) : undefined,
      function: typeof f.function === "string" ? f.function.slice(0, 200) : undefined,
      lineno: typeof f.lineno === "number" ? f.lineno : undefined,
      colno: typeof f.colno === "number" ? f.colno : undefined,
      in_app: typeof f.in_app === "boolean" ? f.in_app : undefined,
    }));
    return {
      type,
      value: PROGRAMMING.includes(type) && typeof x.value === "string"
        ? scrubText(x.value)
        : "[redacted]",
      stacktrace: { frames },
    };
  });
  if (values.length) out.exception = { values };
  return out;
}

function loadSdk(): Promise<SentryApi | undefined> {
  const dsn = Deno.env.get("SENTRY_DSN");
  if (!dsn) return Promise.resolve(undefined);
  // Loaded only when configured; a full pinned specifier, like deps.ts, so it deploys unchanged.
  // deno-lint-ignore no-import-prefix
  sdk ??= import("npm:@sentry/deno@10.75.2").then((mod) => {
    const s = mod as unknown as SentryApi;
    s.init({
      dsn,
      environment: sentryEnvironment(),
      release: Deno.env.get("SENTRY_RELEASE") || undefined,
      defaultIntegrations: false,
      sendDefaultPii: false,
      maxBreadcrumbs: 0,
      tracesSampleRate: 0,
      beforeSend: (event: SentryEvent) => scrubEvent(event),
      beforeBreadcrumb: () => null,
    });
    return s;
  }).catch((err) => {
    console.log(JSON.stringify({ level: "warn", msg: "sentry unavailable", error: err?.name }));
    return undefined;
  });
  return sdk;
}

/** The flags' states (cached for a minute), or `unknown` when they cannot be read. */
async function flagState(): Promise<string> {
  if (flags && Date.now() - flags.at < 60_000) return flags.value;
  const url = Deno.env.get("PIPELINE_DB_URL");
  let value = "unknown";
  if (url) {
    try {
      // Bounded: the error being reported may be the database itself being unreachable.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const rows = await Promise.race([
        asService(
          db(url),
          (tx) =>
            tx`select name, enabled, rollout_bp from public.feature_flags order by name limit 10`,
        ),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("flag state timeout")), FLAG_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      value = rows.map((r) => `${r.name}=${r.enabled ? `on:${r.rollout_bp}` : "off"}`).join(",") ||
        "none";
    } catch {
      value = "unknown";
    }
  }
  flags = { at: Date.now(), value };
  return value;
}

/** Whether error tracking is configured (`SENTRY_DSN` set). */
export function errorTrackingOn(): boolean {
  return Boolean(Deno.env.get("SENTRY_DSN"));
}

/** Reports `err` with `tags` when SENTRY_DSN is set; never throws, waits at most ~2 s. */
export async function reportError(err: unknown, tags: ErrorTags): Promise<void> {
  if (!errorTrackingOn()) return;
  try {
    const s = await loadSdk();
    if (!s) return;
    const state = tags.flag_state ?? await flagState();
    s.withScope((scope) => {
      scope.setTag("function", tags.function);
      scope.setTag("environment", sentryEnvironment());
      scope.setTag("flag_state", state);
      if (tags.trip_id) scope.setTag("trip_id", tags.trip_id);
      s.captureException(err);
    });
    await s.flush(2000);
  } catch {
    // Error tracking must never turn into the error.
  }
}
