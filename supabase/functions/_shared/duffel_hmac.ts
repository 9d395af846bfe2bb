/**
 * The HMAC primitive of webhook signatures, done with WebCrypto so the signing secret never
 * enters the wasm module. Only the arithmetic lives here; which bytes are signed, the comparison
 * and the tolerance are the core's (booking_core::duffel_webhook::signature).
 */

const encoder = new TextEncoder();

/** Lower-case hex of HMAC-SHA256 with `secret` (UTF-8 bytes, as-is) over `prefix` ++ `body`. */
export async function hmacSha256Hex(
  secret: string,
  prefix: string,
  body: Uint8Array,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const head = encoder.encode(prefix);
  const message = new Uint8Array(head.byteLength + body.byteLength);
  message.set(head, 0);
  message.set(body, head.byteLength);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}
