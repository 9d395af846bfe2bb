/**
 * Caller authentication for user-facing functions. The platform already checked the JWT when
 * `verify_jwt` is on; the function verifies it again (defence in depth) to read trusted claims:
 * against the inline `SUPABASE_JWKS`, else the project's JWKS URL, else a legacy HS256 secret.
 *
 * Every token must be signed with one of {@link ALGORITHMS} (HS256 only against a symmetric key,
 * ES256/RS256 only against the key set; `none` and other algorithms never), carry `aud`
 * `authenticated`, the project's `iss` (`<SUPABASE_URL>/auth/v1`, or `SUPABASE_JWT_ISSUER`), an
 * `exp` in the future, and a user `sub`. Anonymous users (`is_anonymous`) pass here: they may
 * search; the database refuses them auto-booking (403 `anonymous_auto_book_forbidden`).
 */
import { createLocalJWKSet, createRemoteJWKSet, importJWK, jwtVerify } from "./deps.ts";
import type { JWK, JWTHeaderParameters, JWTPayload } from "./deps.ts";
import type { Env } from "./env.ts";
import { HttpError } from "./http.ts";

/** Claims of a signed-in traveller. */
export interface UserClaims extends JWTPayload {
  sub: string;
  role: string;
}

type Resolver = (header: JWTHeaderParameters) => Promise<CryptoKey | Uint8Array>;
const resolvers = new WeakMap<Env, Resolver>();

/** The algorithms Supabase Auth signs with: asymmetric signing keys, or the legacy HS256 secret. */
export const ALGORITHMS = ["ES256", "RS256", "HS256"];

/**
 * Key lookup by the token's header. jose's JWKS helpers refuse symmetric keys, but Supabase's
 * JWKS may carry the HS256 secret as an `oct` key (it does locally, and `@supabase/server`
 * accepts it), so HS* tokens are checked against `oct` keys and everything else against the set.
 */
function keyResolver(e: Env): Resolver {
  const known = resolvers.get(e);
  if (known) return known;
  const secret = e.jwtSecret ? new TextEncoder().encode(e.jwtSecret) : undefined;
  const jwks = e.jwks ? JSON.parse(e.jwks) as { keys: JWK[] } : undefined;
  const asymmetric = jwks
    ? createLocalJWKSet({ keys: jwks.keys.filter((k) => k.kty !== "oct") })
    : e.jwksUrl
    ? createRemoteJWKSet(new URL(e.jwksUrl))
    : undefined;
  const symmetric = (jwks?.keys ?? []).filter((k) => k.kty === "oct");
  if (!asymmetric && !secret && symmetric.length === 0) {
    throw new HttpError(500, "misconfigured", "no JWT verification key configured");
  }
  const resolver: Resolver = async (header) => {
    if (header.alg === "HS256") {
      const jwk = symmetric.find((k) => k.kid === header.kid) ??
        (symmetric.length === 1 ? symmetric[0] : undefined);
      if (jwk) return await importJWK({ ...jwk, alg: header.alg }, header.alg) as CryptoKey;
      if (secret) return secret;
      throw new Error("no symmetric key");
    }
    if (header.alg?.startsWith("HS")) throw new Error("symmetric algorithm not allowed");
    if (!asymmetric) throw new Error("no asymmetric key");
    return await asymmetric(header, { payload: "", signature: "" } as never);
  };
  resolvers.set(e, resolver);
  return resolver;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Verifies `Authorization: Bearer <jwt>` and returns the claims of an authenticated user. */
export async function requireUser(req: Request, e: Env): Promise<UserClaims> {
  const header = req.headers.get("authorization") ?? "";
  const token = header.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!token) throw unauthorized("missing bearer token");
  if (!e.jwtIssuer) {
    throw new HttpError(500, "misconfigured", "no JWT issuer (SUPABASE_URL) configured");
  }
  const resolve = keyResolver(e);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, resolve, {
      algorithms: ALGORITHMS,
      audience: e.jwtAudience,
      issuer: e.jwtIssuer,
      requiredClaims: ["exp", "sub"],
    }));
  } catch {
    throw unauthorized("invalid or expired token");
  }
  if (
    payload.role !== "authenticated" || typeof payload.sub !== "string" || !UUID.test(payload.sub)
  ) {
    throw unauthorized("a signed-in user's token is required");
  }
  return payload as UserClaims;
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, "unauthorized", message);
}
