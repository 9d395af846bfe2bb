/**
 * The monitor's worker pool: at most `concurrency` trips are worked on at once, but a trip whose
 * provider call has been in flight longer than `slowAfterMs` (a Duffel order can take up to its
 * 60 s timeout) stops holding its place: another trip starts meanwhile, and the slow one takes a
 * place again (before any new trip) when its call settles. `maxInFlight` bounds how many trips are
 * started and unfinished at once, so a provider that hangs for everybody cannot open unbounded
 * work. SQL calls and the core's own steps always run inside a place; only waiting on a slow
 * provider answer is lent out.
 */

/** Limits of one pool. */
export interface PoolOptions {
  /** Trips actively worked on at once (`pipeline_settings.concurrency`). */
  concurrency: number;
  /** A provider call in flight longer than this lends its place to another trip. */
  slowAfterMs: number;
  /** Trips started and unfinished at once, slow ones included. */
  maxInFlight: number;
}

/** What a worker uses to mark a provider call. */
export interface Slot {
  /** Awaits `call`; while it is slow, this worker's place goes to another trip. */
  call<T>(call: Promise<T>): Promise<T>;
}

/** Default threshold: well above a normal provider answer, far below the order timeout. */
export const SLOW_CALL_MS = 3_000;

/** Default limits for a monitor concurrency. */
export function poolOptions(concurrency: number): PoolOptions {
  const n = Math.max(1, Math.floor(concurrency));
  return {
    concurrency: n,
    slowAfterMs: SLOW_CALL_MS,
    maxInFlight: Math.max(n, Math.min(1024, n * 4)),
  };
}

/** Runs `work` for every item within `opts`; resolves when all are done (`work` must not throw). */
export function runPool<T>(
  items: readonly T[],
  opts: PoolOptions,
  work: (item: T, slot: Slot) => Promise<void>,
): Promise<void> {
  const concurrency = Math.max(1, opts.concurrency);
  const maxInFlight = Math.max(concurrency, opts.maxInFlight);
  let next = 0;
  let active = 0;
  let inFlight = 0;
  const resuming: (() => void)[] = [];
  return new Promise((resolve) => {
    const pump = () => {
      while (resuming.length > 0 && active < concurrency) {
        active++;
        resuming.shift()!();
      }
      while (next < items.length && active < concurrency && inFlight < maxInFlight) {
        active++;
        inFlight++;
        start(items[next++]);
      }
      if (inFlight === 0 && next >= items.length) resolve();
    };
    const start = (item: T) => {
      const slot: Slot = {
        async call<R>(call: Promise<R>): Promise<R> {
          let lent = false;
          const timer = setTimeout(() => {
            lent = true;
            active--;
            pump();
          }, opts.slowAfterMs);
          try {
            return await call;
          } finally {
            clearTimeout(timer);
            if (lent) {
              await new Promise<void>((back) => {
                resuming.push(back);
                pump();
              });
            }
          }
        },
      };
      work(item, slot).catch(() => {}).finally(() => {
        active--;
        inFlight--;
        pump();
      });
    };
    pump();
  });
}
