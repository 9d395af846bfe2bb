/**
 * Helpers for tests that run against the local stack (`bash scripts/stack.sh up`).
 *
 * - `loadEnv()` reads `.local/env` (the generated environment) into a plain object.
 * - `mintUserJwt(sub, opts)` signs an HS256 access token shaped like the ones Supabase Auth
 *   (GoTrue) issues, with the stack's JWT secret, so functions behind `verify_jwt` accept it.
 * - `createUser(sql, id, email)` inserts a user into `auth.users` (the stand-in table from
 *   scripts/stack/sql/bootstrap.sql) unless it exists.
 * - `connect(env)` opens an npm:postgres client on the stack database.
 *
 * No personal data is logged by anything here.
 */
import postgres from "postgres";
import { SignJWT } from "jose";

/** The repository root (two levels above this file). */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Path of the generated environment file. */
export const ENV_FILE: string = `${REPO_ROOT}/.local/env`;

/** The fixed local test user that `stack.sh status` creates and prints a token for. */
export const TEST_USER = {
  id: "00000000-0000-4000-8000-000000000001",
  email: "traveller@example.test",
} as const;

/**
 * Parse shell `KEY=value` lines as written by scripts/stack/env.ts (and dotenv files):
 * blank lines and `#` comments are skipped, an optional `export ` prefix is allowed, and values
 * may be bare, 'single-quoted' (taken literally, `'\''` joins quotes) or "double-quoted" (with
 * `\"`, `\\`, `\n` escapes).
 */
export function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = line.match(/^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/);
    if (!m) continue;
    out[m[1]] = unquote(m[2]);
  }
  return out;
}

function unquote(v: string): string {
  let out = "";
  let i = 0;
  while (i < v.length) {
    const c = v[i];
    if (c === "'") {
      const end = v.indexOf("'", i + 1);
      if (end < 0) throw new Error("unterminated single quote in env value");
      out += v.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (i < v.length && v[i] !== '"') {
        if (v[i] === "\\" && i + 1 < v.length) {
          const n = v[i + 1];
          out += n === "n" ? "\n" : n;
          i += 2;
        } else {
          out += v[i++];
        }
      }
      i++;
    } else if (c === "#" && (i === 0 || /\s/.test(v[i - 1]))) {
      break; // trailing comment
    } else if (c === "\\" && i + 1 < v.length) {
      out += v[i + 1];
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out.trim();
}

/** Quote a value for a shell `KEY=value` line (single quotes unless it is plainly safe). */
export function shellQuote(v: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]*$/.test(v)) return v;
  return `'${v.replaceAll("'", `'\\''`)}'`;
}

/** Read `.local/env` (or `path`). Throws a clear error when the stack was never brought up. */
export function loadEnv(path: string = ENV_FILE): Record<string, string> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${path} not found: run \`bash scripts/stack.sh up\` first`);
    }
    throw e;
  }
  return parseEnv(text);
}

/** Options for {@link mintUserJwt}. */
export interface MintOptions {
  /** Email claim; defaults to none. */
  email?: string;
  /** `role` claim; `authenticated` by default. */
  role?: string;
  /** Lifetime in seconds (default 3600). Negative values mint an already expired token. */
  expiresInSeconds?: number;
  /** Signing secret; defaults to `SUPABASE_JWT_SECRET` from `env` or `.local/env`. */
  secret?: string;
  /** Environment to read the secret and SUPABASE_URL from; defaults to `loadEnv()`. */
  env?: Record<string, string>;
  /** Extra claims merged over the defaults. */
  claims?: Record<string, unknown>;
}

/**
 * Mint an HS256 access token for user `sub`, shaped like a Supabase Auth session token
 * (`aud` authenticated, `role`, `aal`, `amr`, `session_id`, `is_anonymous`), kid `local`.
 */
export async function mintUserJwt(sub: string, opts: MintOptions = {}): Promise<string> {
  const env = opts.env ?? (opts.secret ? {} : loadEnv());
  const secret = opts.secret ?? env.SUPABASE_JWT_SECRET;
  if (!secret) throw new Error("no JWT secret: SUPABASE_JWT_SECRET missing from the env");
  const now = Math.floor(Date.now() / 1000);
  const ttl = opts.expiresInSeconds ?? 3600;
  const issuer = `${env.SUPABASE_URL ?? "http://127.0.0.1:54321"}/auth/v1`;
  const payload: Record<string, unknown> = {
    aud: "authenticated",
    sub,
    email: opts.email ?? "",
    phone: "",
    app_metadata: { provider: "email", providers: ["email"] },
    user_metadata: {},
    role: opts.role ?? "authenticated",
    aal: "aal1",
    amr: [{ method: "password", timestamp: now }],
    session_id: crypto.randomUUID(),
    is_anonymous: false,
    ...opts.claims,
  };
  return await new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: "JWT", kid: "local" })
    .setIssuer(issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(new TextEncoder().encode(secret));
}

/** An npm:postgres client. */
export type Sql = postgres.Sql;

/** Open a client on the stack database (`SUPABASE_DB_URL`), with `prepare: false` as functions use. */
export function connect(env: Record<string, string> = loadEnv(), max = 4): Sql {
  return postgres(env.SUPABASE_DB_URL, { prepare: false, max, onnotice: () => {} });
}

/**
 * Insert user `id` into `auth.users` if it is not there yet (email defaults to
 * `<id>@example.test`). Returns true when a row was created.
 */
export async function createUser(sql: Sql, id: string, email?: string): Promise<boolean> {
  const rows = await sql`
    insert into auth.users (id, email, role, aud, raw_app_meta_data, raw_user_meta_data,
                            created_at, updated_at)
    values (${id}, ${email ?? `${id}@example.test`}, 'authenticated', 'authenticated',
            ${sql.json({ provider: "email", providers: ["email"] })}, ${sql.json({})},
            now(), now())
    on conflict (id) do nothing
    returning id`;
  return rows.length === 1;
}
