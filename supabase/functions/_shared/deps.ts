/**
 * Third-party modules for the functions, pinned. Full `npm:` specifiers (not the root import map)
 * so the functions deploy unchanged with `supabase functions deploy`.
 */
export { default as postgres } from "npm:postgres@3.4.9";
export type { Sql, TransactionSql } from "npm:postgres@3.4.9";
export { createLocalJWKSet, createRemoteJWKSet, importJWK, jwtVerify } from "npm:jose@6.2.17";
export type { JWK, JWTHeaderParameters, JWTPayload } from "npm:jose@6.2.17";
export { Redis } from "npm:@upstash/redis@1.39.0";
export { Ratelimit } from "npm:@upstash/ratelimit@2.2.0";
