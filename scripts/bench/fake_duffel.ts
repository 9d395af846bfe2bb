/**
 * The benchmarks' one way to set the fake Duffel's knobs (`tests/fakes/duffel/control.ts`:
 * `POST /_fake/config {"rate_limit_per_minute":n, "latency_ms":[min,max]|n|null}`).
 *
 * @module
 */

/** Posts `body` to the fake Duffel at `duffelUrl`; throws when the fake refuses it. */
export async function fakeDuffelConfig(
  duffelUrl: string,
  body: Record<string, unknown>,
): Promise<void> {
  const res = await fetch(`${duffelUrl}/_fake/config`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`fake Duffel config: ${res.status} ${await res.text()}`);
  await res.body?.cancel();
}
