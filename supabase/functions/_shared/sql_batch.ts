/**
 * Group commit for the monitor's per-trip writes. Many drivers finish a step at about the same
 * time with one write each: the writes that end a waiting turn (`monitor_reschedule`,
 * `monitor_expire`, `monitor_record_search`, `monitor_record_search_failure`) and the money steps
 * (`monitor_begin_attempt`, `monitor_save_attempt`, `monitor_flag_attempt`): the functions the
 * core names as batchable (`SqlFunction::batch`). Instead of one transaction per call, calls
 * queued within `lingerMs` (or until `maxCalls` are waiting) go to `app.monitor_batch` in ONE
 * transaction, each in its own savepoint; each caller's promise settles with its own result (or
 * its own SQLSTATE) only after that transaction committed, so the driver acts on a persisted
 * write exactly as with a call of its own (persist, then act). A batch that fails as a whole
 * (connection lost, deadlock) fails every call in it with that SQLSTATE; the drivers treat it as
 * they treat their own failed call. At most `maxOpen` batches are in flight, so the database pool
 * keeps connections for the calls that are never batched (the travellers read, the claim).
 *
 * A batch can also fail as a whole with a SQLSTATE that, for a call of its own, would mean "this
 * call can never succeed" (22xxx, 23xxx, 42xxx, 55000: a saga flags its attempt for an operator on
 * those): one call's argument that is not JSON, a database whose `monitor_batch` predates a
 * function (a deploy that ran the functions before the migration), a missing grant, a batch past
 * a server limit (54xxx). That says nothing about the other calls, so when the server itself
 * reported the error (postgres.js `PostgresError`) and its class is not one of the transient or
 * ambiguous ones below, each call then runs on its own (`single`, a transaction of its own, at
 * most `maxOpen` at a time) and hears what its own call answers: one bad call stays one trip's
 * problem. Each call still runs once: an error PostgreSQL reported for the batch's statement
 * rolled its implicit transaction back, so nothing of it committed. Any other failure fails each
 * call with it, and the drivers stop and resume from the durable state on the next run, as after
 * a call of their own failed that way: a transient class (08, 40, 53, 57, 58), `XX000` (what
 * Supavisor answers when it lost the database connection, perhaps after a commit), a client
 * error (postgres.js's own codes, a socket's `EPIPE`: the batch may have committed).
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

/**
 * Runs one call in a transaction of its own (db.ts `serviceCallOneTrip`): what a call of a batch
 * that failed as a whole with a non-transient SQLSTATE does instead.
 */
export type SingleRunner = (fn: string, argsJson: string) => Promise<string>;

/** What one batcher did (for the run summary and the benchmark). */
export interface BatchStats {
  batches: number;
  calls: number;
  /** Calls that ran on their own after their batch failed as a whole. */
  alone: number;
}

/**
 * The SQLSTATE classes after which the calls of a failed batch are not run again on its own:
 * transient (connection, rollback, resources, operator, system) or, `XX`, possibly committed.
 */
const NOT_ALONE_CLASSES = new Set(["08", "40", "53", "57", "58", "XX"]);

/**
 * Whether a batch's failure proves that nothing of it committed and that its calls may fare
 * differently on their own: an error the server reported, outside {@link NOT_ALONE_CLASSES}.
 */
function runsAlone(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown } | null;
  return e?.name === "PostgresError" && typeof e.code === "string" &&
    /^[0-9A-Z]{5}$/.test(e.code) && !NOT_ALONE_CLASSES.has(e.code.slice(0, 2));
}

/** A batcher: `call` queues one call and settles with its result. */
export class SqlBatcher {
  #queue: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #open = 0;
  readonly stats: BatchStats = { batches: 0, calls: 0, alone: 0 };

  constructor(
    private run: BatchRunner,
    private opts: BatchOptions = BATCH_DEFAULTS,
    private single?: SingleRunner,
  ) {}

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
      }, (err) => this.#failed(batch, err)) // its calls run alone before the batch's place frees
      .finally(() => {
        this.#open--;
        this.#schedule();
      });
    this.#schedule();
  }

  /** Settles the calls of a batch that failed as a whole (see the module docs). */
  async #failed(batch: Pending[], err: unknown): Promise<void> {
    const single = this.single;
    if (!single || !runsAlone(err)) {
      batch.forEach((p) => p.reject(err));
      return;
    }
    this.stats.alone += batch.length;
    const left = [...batch];
    const lane = async () => {
      for (let p = left.shift(); p; p = left.shift()) {
        const call = p;
        // A runner that throws instead of rejecting still settles its caller.
        await Promise.resolve().then(() => single(call.fn, call.args)).then(
          call.resolve,
          call.reject,
        );
      }
    };
    // The batch's place in maxOpen stays taken until these are done (they use its connections).
    await Promise.all(
      Array.from({ length: Math.min(this.opts.maxOpen, left.length) }, lane),
    );
  }
}
