/**
 * The Svix MAC for resend-webhook, with WebCrypto so the `whsec_` secret never enters the wasm
 * module: base64(HMAC-SHA256(base64decode(secret without "whsec_"), "{id}.{timestamp}.{body}")),
 * over the headers as received and the raw body bytes. Whether it matches (and the timestamp
 * tolerance) is decided by the core.
 */
import type { SvixHeaders } from "./core.ts";

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
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const prefix = new TextEncoder().encode(`${h.id}.${h.timestamp}.`);
  const signed = new Uint8Array(prefix.length + body.length);
  signed.set(prefix);
  signed.set(body, prefix.length);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, signed));
  return btoa(String.fromCharCode(...mac));
}
