/**
 * The function environment, validated once per isolate on first use (reading it at module load
 * would take the whole worker down on a missing variable). Names are in docs/contracts.md.
 */
import { HttpError } from "./http.ts";

/** Validated settings shared by the functions. */
export interface Env {
  /**
   * Postgres connection string of the functions' own login role (`PIPELINE_DB_URL`, role
   * `pipeline_functions`; a Supavisor pooler URL when deployed), never the `postgres` superuser.
   */
  dbUrl: string;
  /** Inline JWKS JSON, when the platform provides it. */
  jwks: string | undefined;
  /** A remote JWKS URL, used when no inline JWKS is set. */
  jwksUrl: string | undefined;
  /** Legacy HS256 JWT secret (custom secret), for projects still on legacy JWTs. */
  jwtSecret: string | undefined;
  /** The `iss` every user JWT must carry: `SUPABASE_JWT_ISSUER`, else `<SUPABASE_URL>/auth/v1`. */
  jwtIssuer: string | undefined;
  /** The `aud` every user JWT must carry (`authenticated`, as Supabase Auth issues). */
  jwtAudience: string;
  upstashUrl: string;
  upstashToken: string;
  duffelUrl: string;
  duffelToken: string;
  /** Per-user search limit: `count` requests per `windowSeconds`. */
  searchLimit: { count: number; windowSeconds: number };
  /** This project's functions base URL (`<SUPABASE_URL>/functions/v1`), when known. */
  functionsUrl: string | undefined;
  /** Service credentials a caller may present: the secret API key and the legacy service JWT. */
  serviceKeys: string[];
  /** Stripe API base URL and secret key (only the monitor needs them; see `requireStripe`). */
  stripeUrl: string;
  stripeKey: string | undefined;
  /** The Stripe webhook endpoint's signing secret (`whsec_…`; stripe-webhook only, never in wasm). */
  stripeWebhookSecret: string | undefined;
  /** Duffel's webhook signing secret (`DUFFEL_WEBHOOK_SECRET`; only duffel-webhook needs it). */
  duffelWebhookSecret: string | undefined;
  /** Resend API base URL and key (the outbox dispatcher; see `requireResend`). */
  resendUrl: string;
  resendKey: string | undefined;
  /** Resend's webhook signing secret (`whsec_…`, Svix), for resend-webhook only. */
  resendWebhookSecret: string | undefined;
  /** `HEALTH_TOKEN`: presented as a Bearer token, health answers with its numbers (>= 16 chars). */
  healthToken: string | undefined;
}

let cached: Env | undefined;

/** Returns the validated environment or throws a 500 `misconfigured` naming the missing keys. */
export function env(): Env {
  if (cached) return cached;
  const get = (k: string) => {
    const v = Deno.env.get(k);
    return v === undefined || v === "" ? undefined : v;
  };
  const missing: string[] = [];
  const need = (k: string) => get(k) ?? (missing.push(k), "");
  const supabaseUrl = get("SUPABASE_URL");
  const dbUrl = need("PIPELINE_DB_URL");
  if (dbUrl && !leastPrivilege(dbUrl)) {
    missing.push("PIPELINE_DB_URL (must log in as the functions' role, not postgres)");
  }
  const upstashUrl = need("UPSTASH_REDIS_REST_URL");
  const upstashToken = need("UPSTASH_REDIS_REST_TOKEN");
  const duffelToken = need("DUFFEL_ACCESS_TOKEN");
  const limit = (get("TRIP_SEARCH_RATE_LIMIT") ?? "10/60").match(/^(\d{1,6})\/(\d{1,6})$/);
  if (!limit) missing.push("TRIP_SEARCH_RATE_LIMIT (format <count>/<seconds>)");
  if (missing.length > 0) {
    throw new HttpError(
      500,
      "misconfigured",
      `function environment is missing ${missing.join(", ")}`,
    );
  }
  cached = {
    dbUrl,
    jwks: get("SUPABASE_JWKS"),
    jwksUrl: get("SUPABASE_JWKS_URL") ??
      (supabaseUrl ? `${supabaseUrl}/auth/v1/.well-known/jwks.json` : undefined),
    jwtSecret: get("JWT_SECRET"),
    jwtIssuer: get("SUPABASE_JWT_ISSUER") ??
      (supabaseUrl ? `${supabaseUrl.replace(/\/$/, "")}/auth/v1` : undefined),
    jwtAudience: "authenticated",
    upstashUrl,
    upstashToken,
    duffelUrl: get("DUFFEL_API_URL") ?? "https://api.duffel.com",
    duffelToken,
    searchLimit: { count: Number(limit![1]), windowSeconds: Number(limit![2]) },
    functionsUrl: supabaseUrl ? `${supabaseUrl.replace(/\/$/, "")}/functions/v1` : undefined,
    serviceKeys: [secretKey(get("SUPABASE_SECRET_KEYS")), get("SUPABASE_SERVICE_ROLE_KEY")]
      .filter((k): k is string => typeof k === "string" && k.length >= 16),
    stripeUrl: get("STRIPE_API_URL") ?? "https://api.stripe.com",
    stripeKey: get("STRIPE_SECRET_KEY"),
    stripeWebhookSecret: get("STRIPE_WEBHOOK_SECRET"),
    duffelWebhookSecret: get("DUFFEL_WEBHOOK_SECRET"),
    resendUrl: get("RESEND_API_URL") ?? "https://api.resend.com",
    resendKey: get("RESEND_API_KEY"),
    resendWebhookSecret: get("RESEND_WEBHOOK_SECRET"),
    healthToken: [get("HEALTH_TOKEN")].find((t) => typeof t === "string" && t.length >= 16),
  };
  return cached;
}

/**
 * False for a URL that logs in as the `postgres` superuser (`postgres`, or Supavisor's
 * `postgres.<project ref>`), or that does not parse: the functions must use their own role.
 */
export function leastPrivilege(url: string): boolean {
  try {
    const user = decodeURIComponent(new URL(url).username);
    return user !== "" && user !== "postgres" && !user.startsWith("postgres.") &&
      user !== "supabase_admin";
  } catch {
    return false;
  }
}

/** Forgets the cached environment (tests that change `Deno.env` between cases). */
export function resetEnv(): void {
  cached = undefined;
}

/** The `default` key of `SUPABASE_SECRET_KEYS` (`{"default":"sb_secret_…"}`), if set and valid. */
function secretKey(json: string | undefined): string | undefined {
  if (!json) return undefined;
  try {
    const value = (JSON.parse(json) as Record<string, unknown>).default;
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The Stripe secret key, or a 500 `misconfigured` when the function needs it and it is unset. */
export function requireStripe(e: Env): string {
  if (!e.stripeKey) {
    throw new HttpError(500, "misconfigured", "function environment is missing STRIPE_SECRET_KEY");
  }
  return e.stripeKey;
}

/** The Stripe webhook signing secret, or a 500 `misconfigured` when it is unset. */
export function requireStripeWebhookSecret(e: Env): string {
  if (!e.stripeWebhookSecret) {
    throw new HttpError(
      500,
      "misconfigured",
      "function environment is missing STRIPE_WEBHOOK_SECRET",
    );
  }
  return e.stripeWebhookSecret;
}

/** The Resend key, or a 500 `misconfigured` (checked before the dispatcher claims anything). */
export function requireResend(e: Env): string {
  if (!e.resendKey) {
    throw new HttpError(500, "misconfigured", "function environment is missing RESEND_API_KEY");
  }
  return e.resendKey;
}

/** The Resend webhook secret (`whsec_` + base64), or a 500 `misconfigured`. */
export function requireResendWebhookSecret(e: Env): string {
  const s = e.resendWebhookSecret;
  if (!s || !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(s)) {
    throw new HttpError(
      500,
      "misconfigured",
      "function environment is missing RESEND_WEBHOOK_SECRET (whsec_…)",
    );
  }
  return s;
}
