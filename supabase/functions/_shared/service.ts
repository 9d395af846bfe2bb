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

/**
 * Whether the request presents the health token (`Authorization: Bearer <HEALTH_TOKEN>`) or a
 * service credential: then health answers with each check's numbers. Constant time, every key.
 */
export function presentsHealthToken(req: Request, e: Env): boolean {
  const given = req.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? "";
  const keys = [e.healthToken, ...e.serviceKeys].filter((k): k is string => !!k);
  const matches = keys.map((key) => secretMatches(given, key));
  return given !== "" && matches.includes(true);
}
