/**
 * Where the local router's JavaScript thread spends its CPU (a diagnosis aid for issue 10, not a
 * benchmark: the sampling profiler and the inspector's network events add their own cost, so
 * read the shares, not the absolute figures). Start the router with its inspector, profile while
 * a workload runs, then print self time by category and the top functions:
 *
 *   kill "$(cat .local/run/router.pid)"; ROUTER_WORKERS=1 ROUTER_INSPECT=127.0.0.1:9229 \
 *     bash scripts/stack.sh up
 *   deno run -A scripts/profile-router.ts record 9229 /tmp/router.cpuprofile &   # until /tmp/router.cpuprofile.stop exists
 *   deno run -A scripts/bench-monitor.ts ... ; touch /tmp/router.cpuprofile.stop; wait
 *   deno run -A scripts/profile-router.ts summary /tmp/router.cpuprofile [units] [top]
 *
 * `units` divides the figures (e.g. the number of bookings the workload ran). The inspector's
 * own frames (Deno's network-event bridge) and idle time are left out of the busy total, but not
 * all its cost: with `--inspect` Deno's network bridge tees every `fetch` body for the Network
 * domain, which adds about 30 % to a booking and lands partly in the streams' frames, so `fetch`'s
 * share reads high. For an uninstrumented picture use `perf record -g -p <router pid>` with
 * `DENO_V8_FLAGS=--perf-basic-prof` on the router (docs/benchmarks.md, sixth pass).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface Profile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  startTime: number;
  endTime: number;
}

async function record(port: string, out: string): Promise<void> {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r) => ws.onopen = r);
  let next = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    pending.get(m.id)?.(m.result ?? m.error);
    pending.delete(m.id);
  };
  const call = (method: string, params = {}) =>
    new Promise<unknown>((r) => {
      pending.set(++next, r);
      ws.send(JSON.stringify({ id: next, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 50 });
  await call("Profiler.start");
  console.log(`profiling; touch ${out}.stop to end`);
  for (;;) {
    try {
      Deno.statSync(`${out}.stop`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const { profile } = await call("Profiler.stop") as { profile: Profile };
  Deno.writeTextFileSync(out, JSON.stringify(profile));
  Deno.removeSync(`${out}.stop`);
  ws.close();
  console.log(`saved ${out}`);
}

/** The category a frame's self time counts in. */
function category({ functionName: f, url: u }: CallFrame): string {
  if (f === "(idle)") return "idle";
  if (/inspector|Cdp/.test(u + f)) return "inspector";
  if (u.startsWith("wasm://") || /^(js-to-wasm|wasm-to-js)$/.test(f) || /booking_wasm/.test(u)) {
    return "wasm and its glue";
  }
  if (/postgres/.test(u)) return "postgres.js";
  if (/deno_node/.test(u)) return "node compat (postgres.js's socket and buffers)";
  if (/deno_fetch|06_streams|deno_webidl|00_url|20_headers/.test(u) || /^op_fetch/.test(f)) {
    return "fetch, streams, headers";
  }
  if (/_shared\/core\.ts/.test(u)) return "core.ts (the commands' JSON)";
  if (/_shared|functions\//.test(u)) return "shims";
  if (/timers/.test(u)) return "timers";
  if (f === "(garbage collector)") return "GC (on this thread)";
  if (f === "(program)") return "V8 and Deno native";
  return "other";
}

function summary(path: string, units: number, top: number): void {
  const p: Profile = JSON.parse(Deno.readTextFileSync(path));
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const msPerSample = (p.endTime - p.startTime) / 1000 / p.samples.length;
  const byCat = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const id of p.samples) {
    const cf = frames.get(id)!;
    const cat = category(cf);
    byCat.set(cat, (byCat.get(cat) ?? 0) + 1);
    if (cat === "idle" || cat === "inspector") continue;
    const k = `${cf.functionName || "(anonymous)"} ${cf.url.split("/").slice(-2).join("/")}:${
      cf.lineNumber + 1
    }`;
    byFn.set(k, (byFn.get(k) ?? 0) + 1);
  }
  const busy = [...byCat].filter(([k]) => k !== "idle" && k !== "inspector")
    .reduce((a, [, c]) => a + c, 0);
  const ms = (c: number) => (c * msPerSample / units).toFixed(3).padStart(8);
  const pct = (c: number) => (100 * c / busy).toFixed(1).padStart(5);
  console.log(`busy ${ms(busy)} ms per unit (${units} units; idle and inspector left out)`);
  for (const [k, c] of [...byCat].sort((a, b) => b[1] - a[1])) {
    if (k !== "idle" && k !== "inspector") console.log(`${ms(c)} ms ${pct(c)} %  ${k}`);
  }
  console.log("--- top functions (self)");
  for (const [k, c] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${ms(c)} ms ${pct(c)} %  ${k}`);
  }
}

const [mode, a, b, c] = Deno.args;
if (mode === "record") await record(a ?? "9229", b ?? "/tmp/router.cpuprofile");
else if (mode === "summary") summary(a, Number(b ?? 1), Number(c ?? 30));
else throw new Error("usage: profile-router.ts record PORT OUT | summary FILE [units] [top]");
