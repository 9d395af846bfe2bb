/**
 * `GET /v1/payment_intents/search` of the fake Stripe: `AND`-joined `metadata['k']:'v'`,
 * `status:'…'`, `customer:'…'` and `currency:'…'` clauses, newest first, `limit` 1–100 and
 * `page` tokens. Immediately consistent (real search lags by up to a minute).
 *
 * @module
 */

import { jsonResponse } from "../_shared.ts";
import { invalid } from "./errors.ts";
import type { StripeState } from "./state.ts";

type Predicate = (pi: Record<string, unknown>) => boolean;

const CLAUSE =
  /^\s*(?:metadata\[(['"])(.+?)\1\]|(status|customer|currency))\s*:\s*(['"])(.*)\4\s*$/;

/** The predicates of a search query; a 400 for a clause the fake cannot parse. */
function parseQuery(query: string): Predicate[] {
  const preds: Predicate[] = [];
  for (const c of query.split(/\s+AND\s+/)) {
    const m = CLAUSE.exec(c);
    if (!m) {
      throw invalid(
        `The fake cannot parse the search clause "${c}" (supported: metadata['k']:'v', status, customer, currency joined by AND).`,
        "query",
      );
    }
    const value = m[5];
    if (m[2] !== undefined) {
      const key = m[2];
      preds.push((pi) => (pi.metadata as Record<string, string>)[key] === value);
    } else {
      const field = m[3];
      preds.push((pi) => pi[field] === value);
    }
  }
  return preds;
}

/** Answers a PaymentIntent search (`query`, `limit`, `page`). */
export function search(s: StripeState, url: URL): Response {
  const query = url.searchParams.get("query");
  if (!query) throw invalid("Missing required param: query.", "query", "parameter_missing");
  const preds = parseQuery(query);
  const limit = url.searchParams.has("limit") ? Number(url.searchParams.get("limit")) : 10;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw invalid("limit must be 1–100", "limit");
  }
  const page = url.searchParams.get("page");
  const offset = page ? Number(atob(page)) : 0;
  if (!Number.isInteger(offset) || offset < 0) throw invalid("Invalid page token", "page");
  const all = [...s.pis.values()].sort((a, b) => b.order - a.order).map((x) => x.pi)
    .filter((pi) => preds.every((p) => p(pi)));
  const data = all.slice(offset, offset + limit);
  const hasMore = offset + limit < all.length;
  return jsonResponse(200, {
    object: "search_result",
    data,
    has_more: hasMore,
    next_page: hasMore ? btoa(String(offset + limit)) : null,
    url: "/v1/payment_intents/search",
  });
}
