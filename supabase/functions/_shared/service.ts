/**
 * Service-only callers (pg_cron through pg_net, other functions): the request must present the
 * project's secret API key (`apikey` header, as Supabase documents for service-to-service calls)
 * or the legacy service_role JWT (`Authorization: Bearer`). Compared in constant time by the core.
 */
import { secretMatches } from "./core.ts";
import type { Env } from "./env.ts";
import { HttpError } from "./http.ts";

/** Throws 401 unless the request carries one of the service credentials. */
export function requireService(req: Request, e: Env): void {
  const given = req.headers.get("apikey") ??
    req.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? "";
  // Compare with every key (no early exit), so timing says nothing about which one matched.
  const matches = e.serviceKeys.map((key) => secretMatches(given, key));
  if (e.serviceKeys.length === 0 || !matches.includes(true)) {
    throw new HttpError(401, "unauthorized", "this function is for the service only");
  }
}
