/**
 * Generates the local stack's environment (`.local/env`), as shell `KEY=value` lines.
 *
 *   deno run --allow-env scripts/stack/env.ts > .local/env      (stack.sh does this on first up)
 *
 * Stand-in for the keys a Supabase project gets: a random JWT secret, legacy anon and
 * service_role HS256 JWTs signed with it, random `sb_publishable_`/`sb_secret_` API keys, and
 * `SUPABASE_JWKS` holding that secret as an `oct` JWK (kid `local`, alg HS256). Hosted projects
 * sign user sessions with an asymmetric key (ES256) published in JWKS; locally everything is HS256.
 * Also the Upstash token, the base URLs/keys of the fake providers (contracts ports) and
 * TRAVELER_DATA_KEY, the key stack.sh puts into the local Vault to encrypt travelers' data, and
 * PIPELINE_DB_PASSWORD / PIPELINE_DB_URL, the functions' own login role `pipeline_functions`
 * (SUPABASE_DB_URL stays the superuser URL that tools and tests use).
 */
import { SignJWT } from "jose";
import { shellQuote } from "./testkit.ts";

/** Local ports from docs/contracts.md. */
export const PORTS = {
  router: 54321,
  postgres: 54322,
  redis: 54379,
  upstash: 54380,
  duffel: 54391,
  stripe: 54392,
  resend: 54393,
} as const;

function randomToken(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

async function legacyKey(secret: string, role: string): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return await new SignJWT({ iss: "supabase", ref: "local", role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(iat)
    .setExpirationTime(iat + 10 * 365 * 24 * 3600)
    .sign(new TextEncoder().encode(secret));
}

/** The functions' database URL: login role `pipeline_functions` on the local Postgres. */
export function pipelineDbUrl(password: string): string {
  return `postgresql://pipeline_functions:${password}@127.0.0.1:${PORTS.postgres}/postgres`;
}

/** Build a fresh environment (random secrets) as an ordered list of entries. */
export async function generateEnv(): Promise<[string, string][]> {
  const secret = randomToken(32); // 64 hex chars, used as raw UTF-8 bytes like Supabase's secret
  const publishable = `sb_publishable_${randomToken(16)}`;
  const secretKey = `sb_secret_${randomToken(16)}`;
  const jwk = {
    kty: "oct",
    kid: "local",
    alg: "HS256",
    use: "sig",
    key_ops: ["verify"],
    k: base64url(new TextEncoder().encode(secret)),
  };
  const url = `http://127.0.0.1:${PORTS.router}`;
  const pipelinePassword = randomToken(24);
  return [
    ["SUPABASE_URL", url],
    ["SUPABASE_DB_URL", `postgresql://postgres:postgres@127.0.0.1:${PORTS.postgres}/postgres`],
    // The functions' least-privilege login role (migration 20261201000300); stack.sh sets its
    // password from PIPELINE_DB_PASSWORD after the migrations.
    ["PIPELINE_DB_PASSWORD", pipelinePassword],
    ["PIPELINE_DB_URL", pipelineDbUrl(pipelinePassword)],
    ["SUPABASE_JWT_SECRET", secret],
    ["SUPABASE_ANON_KEY", await legacyKey(secret, "anon")],
    ["SUPABASE_SERVICE_ROLE_KEY", await legacyKey(secret, "service_role")],
    ["SUPABASE_PUBLISHABLE_KEY", publishable],
    ["SUPABASE_SECRET_KEY", secretKey],
    ["SUPABASE_PUBLISHABLE_KEYS", JSON.stringify({ default: publishable })],
    ["SUPABASE_SECRET_KEYS", JSON.stringify({ default: secretKey })],
    ["SUPABASE_JWKS", JSON.stringify({ keys: [jwk] })],
    ["UPSTASH_REDIS_REST_URL", `http://127.0.0.1:${PORTS.upstash}`],
    ["UPSTASH_REDIS_REST_TOKEN", `upstash_local_${randomToken(16)}`],
    ["REDIS_URL", `redis://127.0.0.1:${PORTS.redis}`],
    ["DUFFEL_API_URL", `http://127.0.0.1:${PORTS.duffel}`],
    ["DUFFEL_ACCESS_TOKEN", "duffel_test_local"],
    ["STRIPE_API_URL", `http://127.0.0.1:${PORTS.stripe}`],
    ["STRIPE_SECRET_KEY", "sk_test_local"],
    // stripe-webhook's signing secret; the fake Stripe signs the events it delivers to
    // STRIPE_WEBHOOK_URL (the router's stripe-webhook) with it.
    ["STRIPE_WEBHOOK_SECRET", `whsec_${randomToken(24)}`],
    ["STRIPE_WEBHOOK_URL", `${url}/functions/v1/stripe-webhook`],
    ["RESEND_API_URL", `http://127.0.0.1:${PORTS.resend}`],
    ["RESEND_API_KEY", "re_local"],
    // Svix-style signing secret shared by the fake Resend (signs) and resend-webhook (verifies).
    [
      "RESEND_WEBHOOK_SECRET",
      `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))}`,
    ],
    ["TRIP_SEARCH_RATE_LIMIT", "10/60"],
    // travelers.pii encryption key; stack.sh copies it into the local Vault (traveler_data_key).
    ["TRAVELER_DATA_KEY", randomToken(32)],
    // duffel-webhook's signing secret; the fake Duffel signs its deliveries with it. Duffel's
    // look like base64 (16 bytes) and are used as-is, not decoded.
    [
      "DUFFEL_WEBHOOK_SECRET",
      btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16)))),
    ],
  ];
}

/** Render entries as shell lines that `source`, `eval` and testkit's `parseEnv` all read back. */
export function renderEnv(entries: [string, string][]): string {
  const head = "# Generated by scripts/stack/env.ts on first `stack.sh up`. Local secrets only.\n";
  return head + entries.map(([k, v]) => `${k}=${shellQuote(v)}`).join("\n") + "\n";
}

if (import.meta.main) {
  await Deno.stdout.write(new TextEncoder().encode(renderEnv(await generateEnv())));
}
