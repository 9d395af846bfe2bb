/**
 * The frame every function shares: CORS preflight, a logger with the correlation id, and turning
 * errors into the stable `{ code, message }` envelope (never a stack trace, never a 500 for an
 * `HttpError` the shims raise for caller input). Unexpected errors and 5xx go to Sentry when
 * `SENTRY_DSN` is set (sentry.ts, scrubbed).
 */
import { preflight } from "./cors.ts";
import { fail, HttpError } from "./http.ts";
import { correlationId, errorFields, Logger } from "./log.ts";
import { reportError } from "./sentry.ts";

/** A function's handler: the request and its logger in, a response out. */
export type Handler = (req: Request, log: Logger) => Promise<Response>;

/** `export default serve("name", handler)` gives the `{ fetch }` Supabase expects. */
export function serve(name: string, handler: Handler, opts: { cors?: boolean } = {}) {
  return {
    async fetch(req: Request): Promise<Response> {
      if (opts.cors !== false && req.method === "OPTIONS") return preflight();
      const log = new Logger(name, correlationId(req));
      try {
        return await handler(req, log);
      } catch (err) {
        if (err instanceof HttpError) {
          if (err.status >= 500) {
            log.error("request failed", { code: err.code });
            await reportError(err, { function: name });
          }
          return err.toResponse();
        }
        log.error("unexpected error", errorFields(err));
        await reportError(err, { function: name });
        return fail(500, "internal", "internal error; the request was not completed");
      }
    },
  };
}
