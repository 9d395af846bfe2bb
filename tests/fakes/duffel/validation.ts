/**
 * Request-body validation for the fake Duffel: per-field errors collected into one 422 (one
 * Duffel error object per bad field, with a JSON pointer), and the IATA and date checks.
 *
 * @module
 */

import { isObject } from "../_shared.ts";
import { ApiError, errorObject } from "./errors.ts";

/** Three upper-case letters. */
export const IATA = /^[A-Z]{3}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Collects per-field validation errors (one Duffel error object per bad field). */
export class Validation {
  /** The errors so far, in the order found. */
  readonly errors: Record<string, unknown>[] = [];

  /** Adds an error about the field at `pointer` (relative to `/data`). */
  add(code: string, pointer: string, message: string): void {
    const field = pointer.split("/").filter((p) => p && !/^\d+$/.test(p)).pop() ?? "data";
    this.errors.push(
      errorObject("validation_error", code, message, { field, pointer: `/data${pointer}` }),
    );
  }

  /** Throws a 422 carrying every error so far, if there is any. */
  throwIfAny(): void {
    if (this.errors.length) {
      throw new ApiError(422, "validation_error", String(this.errors[0].code), "", this.errors);
    }
  }
}

/** The `data` object of a request body, or a 422 `validation_required` when there is none. */
export function requireData(body: unknown): Record<string, unknown> {
  const data = isObject(body) ? body.data : undefined;
  if (!isObject(data)) {
    const v = new Validation();
    v.add("validation_required", "", "data is required");
    v.throwIfAny();
  }
  return data as Record<string, unknown>;
}

/** A real calendar date written `YYYY-MM-DD`. */
export function validDate(s: unknown): s is string {
  return typeof s === "string" && DATE.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) &&
    new Date(`${s}T00:00:00Z`).toISOString().startsWith(s);
}

/** Whole years from `bornOn` to `onDate` (both ISO dates). */
export function yearsBetween(bornOn: string, onDate: string): number {
  const [by, bm, bd] = bornOn.split("-").map(Number);
  const [y, m, d] = onDate.split("-").map(Number);
  return y - by - ((m < bm || (m === bm && d < bd)) ? 1 : 0);
}
