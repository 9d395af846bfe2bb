/**
 * HMAC-SHA256 with WebCrypto for webhook signatures (Stripe, Duffel, Resend/Svix): the shim
 * computes the MAC (the secret never enters the wasm module) and the core decides whether it
 * matches, how old it may be and what a malformed header means.
 */

/**
 * `HMAC-SHA256(key, message = UTF-8 prefix ‖ body)`; a string key is its UTF-8 bytes (Stripe,
 * Duffel), bytes are used as they are (Svix's base64-decoded `whsec_` secret).
 */
export async function hmacSha256(
  secret: string | Uint8Array,
  prefix: string,
  body: Uint8Array,
): Promise<Uint8Array> {
  const raw = typeof secret === "string"
    ? new TextEncoder().encode(secret)
    : new Uint8Array(secret);
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const head = new TextEncoder().encode(prefix);
  const message = new Uint8Array(head.byteLength + body.byteLength);
  message.set(head, 0);
  message.set(body, head.byteLength);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Standard base64 of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}
