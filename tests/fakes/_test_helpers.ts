/**
 * Helpers shared by the fakes' tests (not a test file itself): decoding an answer into status,
 * JSON (or text) and headers, and serving a fake over real HTTP for the length of a test.
 *
 * @module
 */

/** Test answers are loosely typed JSON. */
// deno-lint-ignore no-explicit-any
export type Json = any;

/** A decoded answer. */
export interface CallResult {
  /** HTTP status. */
  status: number;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  json: Json;
  /** Response headers. */
  headers: Headers;
}

/** Reads a response into a {@link CallResult}. */
export async function readResult(res: Response): Promise<CallResult> {
  const text = await res.text();
  let json: Json = text;
  try {
    json = JSON.parse(text);
  } catch { /* keep text */ }
  return { status: res.status, json, headers: res.headers };
}

/**
 * Serves `fake` on an ephemeral 127.0.0.1 port, resets it through `POST /_fake/reset`, runs `fn`
 * with the base URL, then resets it again and shuts the server down (also when `fn` throws).
 */
export async function withServedFake(
  fake: { fetch(req: Request): Promise<Response> },
  fn: (base: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, fake.fetch);
  const base = `http://127.0.0.1:${server.addr.port}`;
  const reset = () =>
    fetch(`${base}/_fake/reset`, { method: "POST" }).then((r) => r.body?.cancel());
  try {
    await reset();
    await fn(base);
  } finally {
    await reset();
    await server.shutdown();
  }
}
