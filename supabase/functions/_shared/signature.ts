/**
 * HMAC-SHA256 with WebCrypto for webhook signatures: the shim computes the MAC (the secret never
 * enters the wasm module) and the core decides whether it matches, how old it may be and what a
 * malformed header means.
 */

/** `HMAC-SHA256(key = UTF-8 bytes of secret, message = UTF-8 prefix ‖ body)`. */
export async function hmacSha256(
  secret: string,
  prefix: string,
  body: Uint8Array,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const head = new TextEncoder().encode(prefix);
  const message = new Uint8Array(head.byteLength + body.byteLength);
  message.set(head, 0);
  message.set(body, head.byteLength);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
}
