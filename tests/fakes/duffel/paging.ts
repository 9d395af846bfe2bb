/**
 * List paging for the fake Duffel: opaque `after` cursors (base64url JSON holding the offset)
 * and the `limit` query parameter (1–200, default 50), as Duffel's list endpoints take them.
 *
 * @module
 */

import { isObject } from "../_shared.ts";
import { queryParamError } from "./errors.ts";

/** An opaque cursor for a list position. */
export function encodeCursor(o: Record<string, unknown>): string {
  return btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** The position a cursor holds, or null for anything that is not one of ours. */
export function decodeCursor(s: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(atob(s.replace(/-/g, "+").replace(/_/g, "/")));
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

/** The `limit` query parameter: 50 when absent, a 422 unless an integer 1–200. */
export function parseLimit(q: URLSearchParams): number {
  const raw = q.get("limit");
  const limit = raw === null ? 50 : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
    throw queryParamError("validation_inclusion", "limit", "limit must be 1–200");
  }
  return limit;
}
