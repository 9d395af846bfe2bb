/**
 * JWT verification of user-facing functions (`_shared/auth.ts`): only tokens Supabase Auth would
 * issue for this project pass (algorithm, audience, issuer, expiry); everything else is a 401.
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { requireUser } from "../../supabase/functions/_shared/auth.ts";
import type { Env } from "../../supabase/functions/_shared/env.ts";
import { HttpError } from "../../supabase/functions/_shared/http.ts";

const ISSUER = "https://abcdefghijklmnop.supabase.co/auth/v1";
const SECRET = "a-local-hs256-secret-of-enough-length-0123456789";
const SUB = "5b0c3b8e-1d1b-4a53-9d5e-3f2a1c0b9a87";

const es = await generateKeyPair("ES256", { extractable: true });
const other = await generateKeyPair("ES256", { extractable: true });
const esJwk = { ...(await exportJWK(es.publicKey)), kid: "es-1", alg: "ES256", use: "sig" };
const octJwk = {
  kty: "oct",
  kid: "local",
  alg: "HS256",
  k: btoa(SECRET).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""),
};

/** An Env with only what requireUser reads. */
function envWith(keys: Record<string, unknown>[]): Env {
  return {
    jwks: JSON.stringify({ keys }),
    jwksUrl: undefined,
    jwtSecret: undefined,
    jwtIssuer: ISSUER,
    jwtAudience: "authenticated",
  } as unknown as Env;
}
const asymmetricEnv = envWith([esJwk]);
const bothEnv = envWith([esJwk, octJwk]);

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}) => ({
  sub: SUB,
  role: "authenticated",
  aud: "authenticated",
  iss: ISSUER,
  is_anonymous: false,
  ...extra,
});

function es256(payload: Record<string, unknown>, key = es.privateKey, exp: number | null = 3600) {
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid: "es-1", typ: "JWT" })
    .setIssuedAt();
  if (exp !== null) jwt.setExpirationTime(now() + exp);
  return jwt.sign(key);
}

function hs(alg: string, payload: Record<string, unknown>, secret = SECRET) {
  return new SignJWT(payload).setProtectedHeader({ alg, kid: "local", typ: "JWT" }).setIssuedAt()
    .setExpirationTime(now() + 3600).sign(new TextEncoder().encode(secret));
}

const request = (token: string) =>
  new Request("http://x/trip-search", { headers: { Authorization: `Bearer ${token}` } });

async function refused(token: string, e: Env, why: string) {
  await assert.rejects(
    () => requireUser(request(token), e),
    (err) => err instanceof HttpError && err.status === 401 && err.code === "unauthorized",
    why,
  );
}

Deno.test("a well-formed ES256 token and a legacy HS256 token both pass", async () => {
  const user = await requireUser(request(await es256(claims())), asymmetricEnv);
  assert.equal(user.sub, SUB);
  const legacy = await requireUser(request(await hs("HS256", claims())), bothEnv);
  assert.equal(legacy.sub, SUB);
});

Deno.test("alg none is refused", async () => {
  const token = new UnsecuredJWT(claims()).setIssuedAt().setExpirationTime(now() + 3600).encode();
  await refused(token, bothEnv, "unsecured JWT");
});

Deno.test("HS256 is refused where only asymmetric keys are configured", async () => {
  await refused(await hs("HS256", claims()), asymmetricEnv, "HS256 vs ES256 key set");
  // The classic confusion: HMAC keyed with the public key's JSON.
  await refused(await hs("HS256", claims(), JSON.stringify(esJwk)), asymmetricEnv, "confusion");
});

Deno.test("other HMAC algorithms are refused even with the right secret", async () => {
  await refused(await hs("HS512", claims()), bothEnv, "HS512");
  await refused(await hs("HS384", claims()), bothEnv, "HS384");
});

Deno.test("a token signed by another key is refused", async () => {
  await refused(await es256(claims(), other.privateKey), asymmetricEnv, "foreign key");
});

Deno.test("wrong audience, wrong or missing issuer are refused", async () => {
  await refused(await es256(claims({ aud: "anon" })), asymmetricEnv, "aud anon");
  await refused(await es256(claims({ aud: undefined })), asymmetricEnv, "no aud");
  await refused(
    await es256(claims({ iss: "https://other.supabase.co/auth/v1" })),
    asymmetricEnv,
    "foreign issuer",
  );
  await refused(await es256(claims({ iss: undefined })), asymmetricEnv, "no issuer");
});

Deno.test("a token without exp, or expired, is refused", async () => {
  await refused(await es256(claims(), es.privateKey, null), asymmetricEnv, "no exp");
  await refused(await es256(claims(), es.privateKey, -60), asymmetricEnv, "expired");
});

Deno.test("service and anon tokens are not users", async () => {
  await refused(await es256(claims({ role: "anon" })), asymmetricEnv, "anon role");
  await refused(await es256(claims({ sub: "not-a-uuid" })), asymmetricEnv, "bad sub");
});

Deno.test("anonymous users are authenticated users here (the database refuses their auto-book)", async () => {
  const user = await requireUser(
    request(await es256(claims({ is_anonymous: true }))),
    asymmetricEnv,
  );
  assert.equal(user.is_anonymous, true);
});

Deno.test("no issuer configured is a 500 misconfigured, not a 401", async () => {
  const e = { ...asymmetricEnv, jwtIssuer: undefined } as Env;
  await assert.rejects(
    () => requireUser(request("a.b.c"), e),
    (err) => err instanceof HttpError && err.status === 500 && err.code === "misconfigured",
  );
});
