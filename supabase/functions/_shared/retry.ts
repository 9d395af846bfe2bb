/** `Retry-After` from a core answer's `retry_after_seconds`, if it has one. */
export function retryAfter(body: unknown): Record<string, string> {
  const s = (body as { retry_after_seconds?: unknown } | null)?.retry_after_seconds;
  return typeof s === "number" && Number.isInteger(s) && s > 0 ? { "Retry-After": String(s) } : {};
}
