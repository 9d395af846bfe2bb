/** JSON responses and the stable error envelope `{ code, message, ... }` with CORS on every answer. */
import { corsHeaders } from "./cors.ts";

/** A JSON response with CORS headers. */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...corsHeaders, "Content-Type": "application/json", ...headers },
  });
}

/** An error response: a stable machine-readable `code` and a human `message`. */
export function fail(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return json(status, { code, message, ...extra }, headers);
}

/** Thrown by shim helpers to end a request with a specific error response. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toResponse(): Response {
    return fail(this.status, this.code, this.message, this.extra, this.headers);
  }
}

/** Reads a request body as bytes, refusing bodies over `limit` bytes with 413. */
export async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, "payload_too_large", `request body must be at most ${limit} bytes`);
}

/**
 * Throws 415 `unsupported_media_type` unless the request says its body is JSON:
 * `Content-Type: application/json`, optionally with `charset=utf-8` (any case, quoted or not).
 */
export function requireJson(req: Request): void {
  const [type, ...params] = (req.headers.get("content-type") ?? "").split(";")
    .map((p) => p.trim().toLowerCase());
  const paramsOk = params.every((p) => /^charset="?utf-8"?$/.test(p));
  if (type !== "application/json" || !paramsOk) {
    throw new HttpError(
      415,
      "unsupported_media_type",
      "send the body as Content-Type: application/json (UTF-8)",
    );
  }
}
