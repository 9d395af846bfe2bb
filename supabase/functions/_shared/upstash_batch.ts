/**
 * Coalesces the monitor's single Upstash commands (the core's trip lock `SET … NX PX` and its
 * compare-and-delete `EVAL`, each `POST /` with a JSON command array) that many drivers send at
 * about the same time into one `POST /pipeline` (Upstash REST: an array of commands in, an array
 * of `{"result"}` / `{"error"}` out, executed in order, not atomic; exactly what the single
 * commands would do one by one). Each driver gets back the answer its own command would have had:
 * 200 `{"result": …}` or 400 `{"error": …}`; a pipeline that fails as a whole (timeout, network,
 * a non-200 answer) gives every command in it that same outcome, which the core already treats
 * as "Upstash failing" (the lock is not needed for money safety; see the monitor driver docs).
 * Anything else (another service, another path) is sent on its own.
 */
import type { HttpRequest } from "./types/HttpRequest.ts";
import type { FetchOutcome } from "./fetcher.ts";

/** Sends one request (engine.ts `send` with the services bound). */
export type Sender = (req: HttpRequest) => Promise<FetchOutcome>;

type Pending = { req: HttpRequest; resolve: (o: FetchOutcome) => void };

const enc = new TextEncoder();

/** A coalescer: `send` queues single commands for up to `lingerMs`, at most `maxCommands`. */
export class UpstashBatcher {
  #queue: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  pipelines = 0;
  commands = 0;

  constructor(private sender: Sender, private lingerMs = 5, private maxCommands = 200) {}

  /** Whether `req` is a single command this can carry. */
  static fits(req: HttpRequest): boolean {
    return req.service === "upstash" && req.method === "POST" && req.path === "/" &&
      typeof req.body === "string" && req.body.startsWith("[");
  }

  send(req: HttpRequest): Promise<FetchOutcome> {
    if (!UpstashBatcher.fits(req)) return this.sender(req);
    return new Promise((resolve) => {
      this.#queue.push({ req, resolve });
      if (this.#queue.length >= this.maxCommands) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.lingerMs);
    });
  }

  #flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#queue.splice(0, this.maxCommands);
    if (batch.length === 0) return;
    if (this.#queue.length > 0) this.#timer = setTimeout(() => this.#flush(), this.lingerMs);
    this.pipelines++;
    this.commands += batch.length;
    if (batch.length === 1) {
      void this.sender(batch[0].req).then(batch[0].resolve);
      return;
    }
    const first = batch[0].req;
    const pipeline: HttpRequest = {
      ...first,
      path: "/pipeline",
      body: `[${batch.map((p) => p.req.body).join(",")}]`,
      timeout_ms: Math.min(...batch.map((p) => p.req.timeout_ms)),
    };
    void this.sender(pipeline).then((out) => {
      let items: unknown[] | undefined;
      if (out.kind === "response" && out.status === 200) {
        try {
          const parsed = JSON.parse(new TextDecoder().decode(out.body));
          if (Array.isArray(parsed) && parsed.length === batch.length) items = parsed;
        } catch {
          items = undefined;
        }
      }
      batch.forEach((p, i) => {
        if (!items) return p.resolve(out.kind === "response" ? { ...out } : out);
        const item = items[i] as { result?: unknown; error?: unknown } | null;
        const isError = item !== null && typeof item === "object" && "error" in item;
        p.resolve({
          kind: "response",
          status: isError ? 400 : 200,
          body: enc.encode(JSON.stringify(item)),
          durationMs: out.durationMs,
        });
      });
    });
  }
}
