/**
 * Local functions router: the stand-in for Supabase's edge runtime "main service" plus the Kong
 * route in front of it (reference/contracts-platform.md §1.3–1.10, §6).
 *
 *   deno serve --host 127.0.0.1 --port 54321 --allow-env --allow-net --allow-read --allow-sys \
 *     scripts/stack/router.ts                        (stack.sh starts it with .local/env exported)
 *
 * What it does, like `supabase functions serve` behind Kong:
 * - `/functions/v1/<name>/…` → the function named <name>; the prefix is stripped, so the function
 *   sees `/<name>/…` (query string kept). Unknown or disabled name → 404 text `Function not found`.
 *   `/functions/v1/_internal/health` → `{"message":"ok"}`.
 * - Functions are the folders in supabase/functions (not starting with `_` or `.`) and the
 *   `[functions.<name>]` tables of supabase/config.toml: `enabled` (default true), `verify_jwt`
 *   (default true), `entrypoint` (relative to config.toml, default `functions/<name>/index.ts`).
 *   The table is re-read when config.toml changes and at most once a second otherwise.
 * - Kong's credential rewrite: an `Authorization` header is kept unless it carries an `sb_` key;
 *   otherwise an `apikey` (or Bearer) equal to the secret key becomes `Bearer <service_role JWT>`,
 *   the publishable key becomes `Bearer <anon JWT>`, any other apikey is passed as a Bearer token.
 * - `verify_jwt` and method ≠ OPTIONS: `Authorization: Bearer <jwt>` must verify (HS256 with the
 *   local secret / the `oct` key of SUPABASE_JWKS; `exp` checked), else 401 with the hosted
 *   gateway's body `{"code":"<sb-error-code>","message":…}` (`Missing authorization header`,
 *   `Invalid Token or Protected Header formatting`, `Invalid JWT`), the same code in the
 *   `sb-error-code` header (UNAUTHORIZED_NO_AUTH_HEADER, UNAUTHORIZED_INVALID_JWT_FORMAT,
 *   UNAUTHORIZED_LEGACY_JWT, UNAUTHORIZED_ASYMMETRIC_JWT) and `Access-Control-Allow-Origin: *`,
 *   so a browser can read the 401 (docs/contracts.md "The gateway's own 401").
 * - Otherwise the request is forwarded unchanged to the module's `default.fetch(req)`; the module is
 *   imported lazily on first use. A thrown error → 500 `{"code":"WORKER_ERROR",…}`; a module that
 *   fails to load or has no default `fetch` → 503 `{"code":"BOOT_ERROR",…}`.
 * - No other CORS at router level (functions answer preflight and add headers themselves).
 * - `globalThis.EdgeRuntime.waitUntil` is shimmed (the promise runs on; errors are logged).
 * - `/ops/…` serves the ops dashboard's static files from `web/ops/` (standing in for the static
 *   host the page deploys to; hosted Supabase rewrites `text/html` from functions to text/plain).
 *
 * How it differs from the real runtime: `stack.sh` runs it with `deno serve --parallel` and
 * `DENO_JOBS=${ROUTER_WORKERS:-4}`: several isolates (threads of one process), each serving every
 * function, so concurrent invocations run in parallel and module state is per isolate, as with
 * the edge runtime's workers, but an isolate is not per function (module state and globals are
 * shared between the functions of one isolate, no per-function import map or `deno.json`); there are no
 * per-worker limits (2 s CPU, 256 MB, 150/400 s wall clock, 546 WORKER_LIMIT are not enforced);
 * a changed function file needs a router restart (modules are cached); `static_files` is not
 * needed because the modules read from the checkout directly; env is the router's own process
 * environment (nothing stripped); ES256/RS256 tokens are only accepted when SUPABASE_JWKS holds
 * a matching public key (locally it holds only the HS256 secret); Deno 2.9 is newer than the
 * hosted runtime's Deno 2.1 compatibility level, so newer APIs work here and fail when deployed.
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import type { JSONWebKeySet } from "jose";
import { parse as parseToml } from "smol-toml";

declare global {
  var EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;
}
globalThis.EdgeRuntime ??= {
  waitUntil: (p: Promise<unknown>) => void Promise.resolve(p).catch((e) => console.error(e)),
};

/** One routable function. */
export interface FunctionEntry {
  /** Function name (first path segment after `/functions/v1`). */
  name: string;
  /** Whether the platform checks a JWT before the function runs. */
  verifyJwt: boolean;
  /** Absolute path of the module whose default export handles requests. */
  entrypoint: string;
}

/** The keys the gate and Kong's rewrite need (all from the process env). */
export interface AuthConfig {
  /** Legacy HS256 JWT secret (raw string, used as UTF-8 bytes). */
  jwtSecret?: string;
  /** `SUPABASE_JWKS` as parsed JSON. */
  jwks?: JSONWebKeySet;
  /** Legacy anon JWT (Kong maps the publishable key to it). */
  anonKey?: string;
  /** Legacy service_role JWT (Kong maps the secret key to it). */
  serviceRoleKey?: string;
  /** Publishable API keys (`sb_publishable_…`). */
  publishableKeys: string[];
  /** Secret API keys (`sb_secret_…`). */
  secretKeys: string[];
}

/** A module exporting `default.fetch`. */
export interface FunctionModule {
  default?: { fetch?: (req: Request) => Response | Promise<Response> };
}

/** Router dependencies; tests inject all three. */
export interface RouterOptions {
  /** Returns the current function table. */
  functions: () => Promise<Map<string, FunctionEntry>>;
  /** Auth configuration. */
  auth: AuthConfig;
  /** Imports a module by absolute path. */
  load?: (entrypoint: string) => Promise<FunctionModule>;
  /**
   * Folder of the ops dashboard's static files (`web/ops`), served at `/ops/` (a stand-in for
   * the static host the page is deployed to; not part of Supabase's gateway).
   */
  staticOps?: string;
}

/** A 401 the gate produces. */
export interface AuthFailure {
  /** The `message` field of the JSON body. */
  msg: string;
  /** The `code` field of the body and the `sb-error-code` header. */
  code: string;
}

/** The gate's 401: `{code, message}`, `sb-error-code`, and CORS so that browsers can read it. */
export function authFailureResponse(failure: AuthFailure): Response {
  return jsonResponse({ code: failure.code, message: failure.msg }, 401, {
    "sb-error-code": failure.code,
    "access-control-allow-origin": "*",
  });
}

function jsonResponse(body: unknown, status: number, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function keysFrom(json: string | undefined, single: string | undefined): string[] {
  const out = new Set<string>();
  if (single) out.add(single);
  if (json) {
    try {
      for (const v of Object.values(JSON.parse(json) as Record<string, unknown>)) {
        if (typeof v === "string") out.add(v);
      }
    } catch {
      console.error("router: ignoring unparsable SUPABASE_*_KEYS");
    }
  }
  return [...out];
}

/** Read the auth configuration from environment variables (names of docs/contracts.md). */
export function authFromEnv(get: (k: string) => string | undefined = Deno.env.get): AuthConfig {
  let jwks: JSONWebKeySet | undefined;
  const raw = get("SUPABASE_JWKS");
  if (raw) {
    try {
      jwks = JSON.parse(raw) as JSONWebKeySet;
    } catch {
      console.error("router: ignoring unparsable SUPABASE_JWKS");
    }
  }
  return {
    jwtSecret: get("SUPABASE_JWT_SECRET") ?? get("JWT_SECRET"),
    jwks,
    anonKey: get("SUPABASE_ANON_KEY"),
    serviceRoleKey: get("SUPABASE_SERVICE_ROLE_KEY"),
    publishableKeys: keysFrom(get("SUPABASE_PUBLISHABLE_KEYS"), get("SUPABASE_PUBLISHABLE_KEY")),
    secretKeys: keysFrom(get("SUPABASE_SECRET_KEYS"), get("SUPABASE_SECRET_KEY")),
  };
}

/**
 * Kong's `Authorization` rewrite for `/functions/v1` (supabase/cli `start.go`): returns the header
 * value the function runtime sees, or null when there is none.
 */
export function kongAuthorization(headers: Headers, auth: AuthConfig): string | null {
  const authorization = headers.get("authorization");
  if (authorization && !authorization.startsWith("Bearer sb_")) return authorization;
  const apikey = headers.get("apikey") ?? authorization?.slice("Bearer ".length) ?? null;
  if (apikey === null || apikey === "") return authorization;
  if (auth.secretKeys.includes(apikey) && auth.serviceRoleKey) {
    return `Bearer ${auth.serviceRoleKey}`;
  }
  if (auth.publishableKeys.includes(apikey) && auth.anonKey) return `Bearer ${auth.anonKey}`;
  return `Bearer ${apikey}`;
}

/** The `verify_jwt` gate. Resolves to null when the request may pass. */
export async function verifyAuthorization(
  authorization: string | null,
  auth: AuthConfig,
): Promise<AuthFailure | null> {
  if (!authorization) {
    return { msg: "Missing authorization header", code: "UNAUTHORIZED_NO_AUTH_HEADER" };
  }
  const [scheme, token, ...rest] = authorization.split(" ");
  if (scheme !== "Bearer" || !token || rest.length > 0) {
    return {
      msg: "Invalid Token or Protected Header formatting",
      code: "UNAUTHORIZED_INVALID_JWT_FORMAT",
    };
  }
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    return {
      msg: "Invalid Token or Protected Header formatting",
      code: "UNAUTHORIZED_INVALID_JWT_FORMAT",
    };
  }
  try {
    if (alg === "HS256") {
      const candidates: Uint8Array[] = [];
      if (auth.jwtSecret) candidates.push(new TextEncoder().encode(auth.jwtSecret));
      for (const k of auth.jwks?.keys ?? []) {
        if (k.kty === "oct" && typeof k.k === "string") candidates.push(base64urlDecode(k.k));
      }
      for (const key of candidates) {
        try {
          await jwtVerify(token, key, { algorithms: ["HS256"] });
          return null;
        } catch { /* try the next key */ }
      }
      return { msg: "Invalid JWT", code: "UNAUTHORIZED_LEGACY_JWT" };
    }
    if (!auth.jwks) return { msg: "Invalid JWT", code: "UNAUTHORIZED_ASYMMETRIC_JWT" };
    const asymmetric = {
      keys: auth.jwks.keys.filter((k) => k.kty !== "oct"),
    } as JSONWebKeySet;
    await jwtVerify(token, createLocalJWKSet(asymmetric), { algorithms: ["ES256", "RS256"] });
    return null;
  } catch {
    return { msg: "Invalid JWT", code: "UNAUTHORIZED_ASYMMETRIC_JWT" };
  }
}

function base64urlDecode(s: string): Uint8Array {
  const b64 = s.replaceAll("-", "+").replaceAll("_", "/").padEnd(Math.ceil(s.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Build the router's request handler. */
export function createRouter(opts: RouterOptions): (req: Request) => Promise<Response> {
  const load = opts.load ?? ((p: string) => import(`file://${p}`) as Promise<FunctionModule>);
  const modules = new Map<string, Promise<FunctionModule>>();

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (opts.staticOps && (url.pathname === "/ops" || url.pathname.startsWith("/ops/"))) {
      return await serveStatic(opts.staticOps, url.pathname, req.method);
    }
    const m = url.pathname.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
    if (!m) {
      return jsonResponse({ message: "no Route matched with those values" }, 404);
    }
    const name = decodeURIComponent(m[1]);
    if (name === "_internal" && m[2] === "/health") return jsonResponse({ message: "ok" }, 200);

    const fn = (await opts.functions()).get(name);
    if (!fn) return new Response("Function not found", { status: 404 });

    const headers = new Headers(req.headers);
    const authorization = kongAuthorization(req.headers, opts.auth);
    if (authorization !== null) headers.set("authorization", authorization);

    if (fn.verifyJwt && req.method !== "OPTIONS") {
      const failure = await verifyAuthorization(authorization, opts.auth);
      if (failure) return authFailureResponse(failure);
    }

    let handler: (req: Request) => Response | Promise<Response>;
    try {
      let pending = modules.get(fn.entrypoint);
      if (!pending) {
        pending = load(fn.entrypoint);
        modules.set(fn.entrypoint, pending);
      }
      const mod = await pending;
      const f = mod.default?.fetch;
      if (typeof f !== "function") throw new Error("the module has no default export with fetch");
      handler = f.bind(mod.default);
    } catch (e) {
      modules.delete(fn.entrypoint);
      console.error(`router: ${name}: boot error:`, e);
      return jsonResponse({
        code: "BOOT_ERROR",
        message: "Worker failed to boot (please check logs)",
      }, 503);
    }

    const target = new URL(url);
    target.pathname = url.pathname.slice("/functions/v1".length);
    const forwarded = new Request(target, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
    });
    try {
      return await handler(forwarded);
    } catch (e) {
      console.error(`router: ${name}: uncaught error:`, e);
      return jsonResponse({
        code: "WORKER_ERROR",
        message: "Function exited due to an error (please check logs)",
      }, 500);
    }
  };
}

const STATIC_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/**
 * GET/HEAD of one file of `dir` (flat, names of letters, digits, `._-` only; `/ops/` is
 * index.html), with the headers a static host should send for the page: a CSP that allows only
 * its own scripts and styles and `connect-src` to any https origin and this one, no framing, no
 * referrer, no caching.
 */
export async function serveStatic(dir: string, pathname: string, method: string) {
  if (pathname === "/ops") {
    return new Response(null, { status: 308, headers: { location: "/ops/" } });
  }
  if (method !== "GET" && method !== "HEAD") {
    return new Response("Method Not Allowed", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const name = pathname.slice("/ops/".length) || "index.html";
  const ext = name.split(".").pop() ?? "";
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name) || !(ext in STATIC_TYPES)) {
    return new Response("Not Found", { status: 404 });
  }
  let body: Uint8Array;
  try {
    body = await Deno.readFile(`${dir}/${name}`);
  } catch {
    return new Response("Not Found", { status: 404 });
  }
  return new Response(method === "HEAD" ? null : body as BodyInit, {
    status: 200,
    headers: {
      "content-type": STATIC_TYPES[ext],
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
      "content-security-policy":
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
        "connect-src 'self' https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    },
  });
}

/**
 * Read the function table from `<supabaseDir>/config.toml` and `<supabaseDir>/functions/*`.
 * Exported for tests; the router caches it until config.toml's mtime changes or a name misses.
 */
export async function readFunctions(supabaseDir: string): Promise<Map<string, FunctionEntry>> {
  const table = new Map<string, FunctionEntry>();
  let config: Record<string, unknown> = {};
  try {
    config = parseToml(await Deno.readTextFile(`${supabaseDir}/config.toml`));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) console.error("router: config.toml:", e);
  }
  const declared = (config.functions ?? {}) as Record<string, Record<string, unknown>>;
  const names = new Set<string>(Object.keys(declared));
  try {
    for await (const d of Deno.readDir(`${supabaseDir}/functions`)) {
      if (d.isDirectory && !d.name.startsWith("_") && !d.name.startsWith(".")) names.add(d.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const name of names) {
    const c = declared[name] ?? {};
    if (c.enabled === false) continue;
    const rel = typeof c.entrypoint === "string" ? c.entrypoint : `functions/${name}/index.ts`;
    const entrypoint = rel.startsWith("/") ? rel : `${supabaseDir}/${rel.replace(/^\.\//, "")}`;
    try {
      if (!(await Deno.stat(entrypoint)).isFile) continue;
    } catch {
      continue; // a folder without its entrypoint is not a function yet
    }
    table.set(name, { name, verifyJwt: c.verify_jwt !== false, entrypoint });
  }
  return table;
}

function cachedFunctions(supabaseDir: string): () => Promise<Map<string, FunctionEntry>> {
  let cache: Map<string, FunctionEntry> | undefined;
  let readAt = 0;
  let stamp = "";
  return async () => {
    let now = "";
    try {
      now = String((await Deno.stat(`${supabaseDir}/config.toml`)).mtime?.getTime());
    } catch { /* no config.toml */ }
    // Re-read when config.toml changed, and at most once a second otherwise so that new
    // function folders appear without a restart.
    if (!cache || now !== stamp || Date.now() - readAt > 1000) {
      cache = await readFunctions(supabaseDir);
      stamp = now;
      readAt = Date.now();
    }
    return cache;
  };
}

let handler: ((req: Request) => Promise<Response>) | undefined;

/** `deno serve` entry point; env and config are read on the first request, not at import. */
export default {
  fetch(req: Request): Promise<Response> {
    handler ??= createRouter({
      functions: cachedFunctions(new URL("../../supabase", import.meta.url).pathname),
      auth: authFromEnv((k) => Deno.env.get(k)),
      staticOps: new URL("../../web/ops", import.meta.url).pathname,
    });
    return handler(req);
  },
};
