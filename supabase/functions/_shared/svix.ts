/**
 * The Svix MAC for resend-webhook, with WebCrypto so the `whsec_` secret never enters the wasm
 * module: base64(HMAC-SHA256(base64decode(secret without "whsec_"), "{id}.{timestamp}.{body}")),
 * over the headers as received and the raw body bytes. Whether it matches (and the timestamp
 * tolerance) is decided by the core.
 */
import type { SvixHeaders } from "./core.ts";
import { hmacSha256, toBase64 } from "./signature.ts";

/** The three Svix headers ("" when absent). */
export function svixHeaders(req: Request): SvixHeaders {
  return {
    id: req.headers.get("svix-id") ?? "",
    timestamp: req.headers.get("svix-timestamp") ?? "",
    signature: req.headers.get("svix-signature") ?? "",
  };
}

/** The expected `v1` signature value (base64) for this delivery. */
export async function svixMac(secret: string, h: SvixHeaders, body: Uint8Array): Promise<string> {
  const raw = Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0));
  return toBase64(await hmacSha256(raw, `${h.id}.${h.timestamp}.`, body));
}
