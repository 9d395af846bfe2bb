/**
 * Caller authentication for user-facing functions. The platform already checked the JWT when
 * `verify_jwt` is on; the function verifies it again (defence in depth) to read trusted claims:
 * against the inline `SUPABASE_JWKS`, else the project's JWKS URL, else a legacy HS256 secret.
 */
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from "./deps.ts";
import type { JWTPayload } from "./deps.ts";
import type { Env } from "./env.ts";
import { HttpError } from "./http.ts";

/** Claims of a signed-in traveller. */
export interface UserClaims extends JWTPayload {
  sub: string;
  role: string;
}

type KeySet = ReturnType<typeof createLocalJWKSet>;
let keys: KeySet | Uint8Array | undefined;

function keySource(e: Env): KeySet | Uint8Array {
  if (keys) return keys;
  if (e.jwks) keys = createLocalJWKSet(JSON.parse(e.jwks));
  else if (e.jwtSecret) keys = new TextEncoder().encode(e.jwtSecret);
  else if (e.jwksUrl) keys = createRemoteJWKSet(new URL(e.jwksUrl)) as KeySet;
  else throw new HttpError(500, "misconfigured", "no JWT verification key configured");
  return keys;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Verifies `Authorization: Bearer <jwt>` and returns the claims of an authenticated user. */
export async function requireUser(req: Request, e: Env): Promise<UserClaims> {
  const header = req.headers.get("authorization") ?? "";
  const token = header.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!token) throw unauthorized("missing bearer token");
  let payload: JWTPayload;
  try {
    const source = keySource(e);
    ({ payload } = source instanceof Uint8Array
      ? await jwtVerify(token, source)
      : await jwtVerify(token, source));
  } catch {
    throw unauthorized("invalid or expired token");
  }
  if (payload.role !== "authenticated" || typeof payload.sub !== "string" || !UUID.test(payload.sub)) {
    throw unauthorized("a signed-in user's token is required");
  }
  return payload as UserClaims;
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, "unauthorized", message);
}
