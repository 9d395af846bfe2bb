/**
 * The privacy scan (issue 8 item 6): where a person's data could hide, outside the encrypted
 * columns. Every table of every schema (public, app, auth, net: pg_net's _http_request queue and
 * _http_response, cron: job_run_details, vault, supabase_migrations, …) is read row by row as text
 * (`t::text`: every column, jsonb and bytea included), and every Redis key with its value.
 */
import { env, sql } from "./helpers.ts";

/** `schema.table: n rows` for every table holding one of `values` (case-insensitive). */
export async function databaseHits(values: string[]): Promise<string[]> {
  const tables = await sql()`
    select quote_ident(table_schema) || '.' || quote_ident(table_name) as name
    from information_schema.tables
    where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
    order by 1`;
  const patterns = values.map((v) => `%${v.toLowerCase()}%`);
  const hits: string[] = [];
  for (const { name } of tables) {
    const [row] = await sql().unsafe(
      `select count(*)::int as n from ${name} t where lower(t::text) like any($1::text[])`,
      [patterns],
    );
    if (row.n > 0) hits.push(`${name}: ${row.n} rows`);
  }
  return hits;
}

/** One Upstash REST command against the stack's gateway. */
export async function redis(command: unknown[]): Promise<unknown> {
  const res = await fetch(env.UPSTASH_REDIS_REST_URL, {
    method: "POST",
    headers: { Authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}` },
    body: JSON.stringify(command),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`upstash: ${res.status} ${JSON.stringify(body)}`);
  return body.result;
}

/** Every Redis key matching `pattern` (SCAN). */
export async function redisKeys(pattern = "*"): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, page] = await redis(["SCAN", cursor, "MATCH", pattern, "COUNT", 1000]) as [
      string,
      string[],
    ];
    keys.push(...page);
    cursor = String(next);
  } while (cursor !== "0");
  return keys;
}

/** Keys whose name or value holds one of `values`. */
export async function redisHits(values: string[]): Promise<string[]> {
  const hits: string[] = [];
  const lower = values.map((v) => v.toLowerCase());
  for (const key of await redisKeys()) {
    const type = await redis(["TYPE", key]);
    const content = type === "string"
      ? await redis(["GET", key])
      : type === "hash"
      ? await redis(["HGETALL", key])
      : type === "zset"
      ? await redis(["ZRANGE", key, 0, -1])
      : type === "list"
      ? await redis(["LRANGE", key, 0, -1])
      : type === "set"
      ? await redis(["SMEMBERS", key])
      : null;
    const text = `${key} ${JSON.stringify(content)}`.toLowerCase();
    if (lower.some((v) => text.includes(v))) hits.push(key);
  }
  return hits;
}
