/**
 * Structured JSON logs with a correlation id. Callers pass ids and codes only: never names,
 * emails, birth dates, phones or card data. `redact` is a last line of defence for free text.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

const EMAIL = /[^\s@"]+@[^\s@"]+\.[^\s@"]+/g;
const LONG_DIGITS = /\d{12,19}/g;

/** Masks anything that looks like an email address or a card number. */
export function redact(text: string): string {
  // No "@", no address: skip the address pattern (it backtracks over long texts).
  const masked = text.includes("@") ? text.replace(EMAIL, "[email]") : text;
  return masked.replace(LONG_DIGITS, "[number]");
}

/** A logger bound to one function invocation. */
export class Logger {
  constructor(readonly fn: string, readonly correlationId: string) {}

  info(msg: string, fields: LogFields = {}): void {
    this.#emit("info", msg, fields);
  }

  warn(msg: string, fields: LogFields = {}): void {
    this.#emit("warn", msg, fields);
  }

  error(msg: string, fields: LogFields = {}): void {
    this.#emit("error", msg, fields);
  }

  #emit(level: string, msg: string, fields: LogFields): void {
    const clean: LogFields = {};
    for (const [k, v] of Object.entries(fields)) clean[k] = typeof v === "string" ? redact(v) : v;
    console.log(JSON.stringify({
      ts: new Date().toISOString(),
      level,
      fn: this.fn,
      correlation_id: this.correlationId,
      msg: redact(msg),
      ...clean,
    }));
  }
}

/** The caller's correlation id (`x-correlation-id`, if sane) or a fresh one. */
export function correlationId(req: Request): string {
  const given = req.headers.get("x-correlation-id") ?? "";
  return /^[A-Za-z0-9._-]{8,64}$/.test(given) ? given : crypto.randomUUID();
}

/**
 * Loggable fields for an unexpected error: its class, plus the message only for programming errors
 * (`TypeError`, `RangeError`, `ReferenceError`), whose messages name code, not data.
 */
export function errorFields(err: unknown): LogFields {
  const e = err as Error | undefined;
  const name = e?.name ?? "unknown";
  const programming = ["TypeError", "RangeError", "ReferenceError"].includes(name);
  return { error: name, detail: programming ? String(e?.message).slice(0, 200) : undefined };
}
