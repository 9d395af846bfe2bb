/**
 * Group commit for the monitor's waiting-turn writes. Many drivers finish their turn at about the
 * same time with one write each (`monitor_reschedule`, `monitor_expire`, `monitor_record_search`,
 * `monitor_record_search_failure`: the functions the core names as batchable). Instead of one
 * transaction per trip, calls queued within `lingerMs` (or until `maxCalls` are waiting) go to
 * `app.monitor_batch` in ONE transaction, each in its own savepoint; each caller's promise
 * settles with its own result (or its own SQLSTATE) only after that transaction committed, so
 * the driver acts on a persisted write exactly as with a call of its own. A batch that fails as a
 * whole (connection lost, deadlock) fails every call in it with that SQLSTATE; the drivers treat
 * it as they treat their own failed call. At most `maxOpen` batches are in flight, so the
 * database pool keeps connections for the calls that are never batched (money steps).
 */

/**
 * Runs one `app.monitor_batch` call with its argument as JSON text
 * (`{"calls":[{"function":…,"args":…}]}`, each call's argument spliced in as the core wrote it);
 * resolves to its JSON result.
 */
export type BatchRunner = (argsJson: string) => Promise<string>;

/** Limits of one batcher. */
export interface BatchOptions {
  /** Most calls in one transaction (the SQL function accepts up to 1000). */
  maxCalls: number;
  /** How long the first queued call waits for company before the batch goes. */
  lingerMs: number;
  /** Batches in flight at once. */
  maxOpen: number;
}

/** Defaults: 500 calls, 25 ms, 2 batches in flight (the pool has up to 8 connections, db.ts `POOL_MAX`). */
export const BATCH_DEFAULTS: BatchOptions = { maxCalls: 500, lingerMs: 25, maxOpen: 2 };

type Pending = {
  fn: string;
  /** The call's argument as JSON text. */
  args: string;
  key: string;
  resolve: (json: string) => void;
  reject: (err: unknown) => void;
};

/** What one batcher did (for the run summary and the benchmark). */
export interface BatchStats {
  batches: number;
  calls: number;
}

/** A batcher: `call` queues one call and settles with its result. */
export class SqlBatcher {
  #queue: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #open = 0;
  readonly stats: BatchStats = { batches: 0, calls: 0 };

  constructor(private run: BatchRunner, private opts: BatchOptions = BATCH_DEFAULTS) {}

  /**
   * Queues `fn(args)` (`argsJson`: the argument as JSON text); `key` (the trip id) orders the
   * batch so rows lock in one order.
   */
  call(fn: string, argsJson: string, key: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ fn, args: argsJson, key, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#open >= this.opts.maxOpen) return; // a finishing batch calls us again
    if (this.#queue.length >= this.opts.maxCalls) {
      this.#flush();
    } else if (this.#timer === undefined && this.#queue.length > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flush();
      }, this.opts.lingerMs);
    }
  }

  #flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#queue.length === 0 || this.#open >= this.opts.maxOpen) return;
    const batch = this.#queue.splice(0, this.opts.maxCalls);
    batch.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.#open++;
    this.stats.batches++;
    this.stats.calls += batch.length;
    const calls = batch.map((p) => `{"function":${JSON.stringify(p.fn)},"args":${p.args}}`);
    this.run(`{"calls":[${calls.join(",")}]}`)
      .then((json) => {
        let results: ({ ok: true; result: unknown } | { ok: false; sqlstate: string })[];
        try {
          results = (JSON.parse(json) as { results: typeof results }).results;
          if (!Array.isArray(results)) throw new Error("monitor_batch reply without results");
        } catch (err) {
          // A reply that cannot be read settles every caller (never a promise left hanging).
          batch.forEach((p) => p.reject(err));
          return;
        }
        batch.forEach((p, i) => {
          const r = results[i];
          if (r?.ok) p.resolve(JSON.stringify(r.result));
          else p.reject(Object.assign(new Error("batched call failed"), { code: r?.sqlstate }));
        });
      }, (err) => batch.forEach((p) => p.reject(err)))
      .finally(() => {
        this.#open--;
        this.#schedule();
      });
    this.#schedule();
  }
}
