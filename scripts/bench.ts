/**
 * Benchmark (a command, not a test). Build the wasm first (scripts/build-wasm.sh), then:
 *
 *   deno run --allow-read --allow-write=docs --allow-run --allow-env --allow-sys scripts/bench.ts
 *
 * 1. Each wasm module (search, monitor, user, webhooks): raw and gzipped size; read, compile and
 *    instantiate, each in a fresh Deno process (median of 5).
 * 2. Each function's first request through the local router from a cold isolate (a fresh Deno
 *    process per function: router, function module, its wasm module, the handler; median of 3).
 *    No database or provider is reached: JWT functions get a CORS preflight, the others a request
 *    they refuse before any I/O.
 * 3. Side by side in one process, on the same bytes: `JSON.parse` alone, the TypeScript baseline
 *    (scripts/bench/ts_search.ts) and the core's search module, on generated bodies of 10, 100,
 *    1,000 and 5,000 offers and the real-shape Duffel body (scripts/bench/real_shape.ts;
 *    `BENCH_DUFFEL_BODY=<file>` for a recorded one). Per body each of the three runs in its own
 *    batch (warm-up, then the timed iterations; so each pays for collecting its own garbage and
 *    nobody else's), medians per iteration; the baseline and the core must agree on the
 *    selection (checked first, on every body).
 *
 * Prints the tables and writes docs/benchmarks.md and docs/benchmarks.svg. `--quick` only checks
 * the agreement (what tests/shims/bench_quick_test.ts runs in the suite) and writes nothing;
 * `--search-only` runs part 3 only, prints its table and writes nothing (the loop while tuning
 * the hot path; `--rounds=N` repeats it N times in the process and prints each row's median).
 */
import { bodies, checkAgreement, runners } from "./bench/side_by_side.ts";

const root = new URL("../", import.meta.url);
const quick = Deno.args.includes("--quick");
const searchOnly = Deno.args.includes("--search-only");
const rounds = Number(Deno.args.find((a) => a.startsWith("--rounds="))?.slice(9) ?? "1");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
const ms = (x: number) => x.toFixed(x < 1 ? 3 : 2);

// 3 first (the agreement check is also the quick mode).
const run = await runners();
const all = bodies(quick ? [10, 100, 1000] : [10, 100, 1000, 5000]);
const outcomes = all.map((b) => checkAgreement(run, b));
if (quick) {
  for (const [i, b] of all.entries()) {
    console.log(`${b.label}: both select ${outcomes[i].selected} (${outcomes[i].stored} stored)`);
  }
  Deno.exit(0);
}

interface Row {
  label: string;
  offers: number;
  bytes: number;
  parse: number;
  ts: number;
  core: number;
  stored: number;
}
function measure(): Row[] {
  const rows: Row[] = [];
  for (const [i, b] of all.entries()) {
    const iterations = b.bytes.byteLength > 2_000_000
      ? 60
      : b.bytes.byteLength > 300_000
      ? 80
      : 400;
    const t = { parse: [] as number[], ts: [] as number[], core: [] as number[] };
    // Each implementation in its own batch (warm-up first): the garbage it makes (JSON.parse's
    // object graph, the TypeScript rows) is collected during its own iterations, so nobody is
    // timed for another's collection. Medians per iteration.
    for (const kind of ["parse", "ts", "core"] as const) {
      for (let k = 0; k < iterations + 5; k++) {
        const a = performance.now();
        run[kind](b.bytes);
        const e = performance.now();
        if (k >= 5) t[kind].push(e - a); // warm-up excluded
      }
    }
    rows.push({
      label: b.label,
      offers: b.offers,
      bytes: b.bytes.byteLength,
      parse: median(t.parse),
      ts: median(t.ts),
      core: median(t.core),
      stored: outcomes[i].stored,
    });
  }
  return rows;
}
const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
const speedTable = (rows: Row[]) =>
  [
    "| body | offers | bytes | `JSON.parse` alone (ms) | TypeScript normalize+select (ms) | wasm core (ms) | core / `JSON.parse` | core / TypeScript | stored |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.label} | ${r.offers} | ${r.bytes} | ${ms(r.parse)} | ${ms(r.ts)} | ${ms(r.core)} | ${
        x(r.core, r.parse)
      } | ${x(r.core, r.ts)} | ${r.stored} |`
    ),
  ].join("\n");
if (searchOnly) {
  const ratios: number[][] = all.map(() => []);
  for (let k = 0; k < rounds; k++) {
    const rows = measure();
    console.log(speedTable(rows));
    rows.forEach((r, i) => ratios[i].push(r.core / r.parse));
  }
  if (rounds > 1) {
    for (const [i, b] of all.entries()) {
      console.log(
        `${b.label}: median core / JSON.parse over ${rounds} rounds ${
          median(ratios[i]).toFixed(2)
        }x`,
      );
    }
  }
  Deno.exit(0);
}
const rows = measure();

// 1. Modules: size and cold start.
async function gzipSize(bytes: Uint8Array): Promise<number> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}
async function fresh(script: string, env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return text;
}
const moduleNames = ["search", "monitor", "user", "webhooks"];
const modules = [];
for (const name of moduleNames) {
  const wasm = new URL(`supabase/functions/_shared/wasm/${name}/booking_wasm_bg.wasm`, root);
  const glue = new URL(`supabase/functions/_shared/wasm/${name}/booking_wasm.js`, root);
  const bytes = await Deno.readFile(wasm);
  const script = `
const t0 = performance.now();
const bytes = Deno.readFileSync(new URL(${JSON.stringify(wasm.href)}));
const t1 = performance.now();
const module = new WebAssembly.Module(bytes);
const t2 = performance.now();
const glue = await import(${JSON.stringify(glue.href)});
const t3 = performance.now();
glue.initSync({ module });
const t4 = performance.now();
console.log(JSON.stringify({ read: t1 - t0, compile: t2 - t1, instantiate: t4 - t3 }));`;
  const runs: { read: number; compile: number; instantiate: number }[] = [];
  for (let i = 0; i < 5; i++) runs.push(JSON.parse(await fresh(script)));
  modules.push({
    name,
    raw: bytes.byteLength,
    gz: await gzipSize(bytes),
    read: median(runs.map((r) => r.read)),
    compile: median(runs.map((r) => r.compile)),
    instantiate: median(runs.map((r) => r.instantiate)),
  });
}

// 2. First request per function through the router, cold isolate.
// Every function of supabase/config.toml, with the module its static_files ship and whether the
// gateway verifies a JWT (those get a CORS preflight; the others a POST they refuse before I/O).
const fnModule: Record<string, string> = {};
const jwtFunctions = new Set<string>();
{
  const config = await Deno.readTextFile(new URL("supabase/config.toml", root));
  for (const m of config.matchAll(/^\[functions\.([a-z0-9-]+)\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/gm)) {
    const mod = m[2].match(/_shared\/wasm\/([a-z]+)\//)?.[1];
    if (mod) fnModule[m[1]] = mod;
    if (/^verify_jwt = true$/m.test(m[2])) jwtFunctions.add(m[1]);
  }
}
const routerUrl = new URL("scripts/stack/router.ts", root).href;
const supabaseDir = new URL("supabase", root).pathname;
const first = [];
for (const [fn, mod] of Object.entries(fnModule)) {
  const method = jwtFunctions.has(fn) ? "OPTIONS" : "POST";
  const script = `
const t0 = performance.now();
const { createRouter, readFunctions, authFromEnv } = await import(${JSON.stringify(routerUrl)});
const handler = createRouter({ functions: () => readFunctions(${JSON.stringify(supabaseDir)}),
  auth: authFromEnv((k) => Deno.env.get(k)) });
const res = await handler(new Request("http://127.0.0.1:54321/functions/v1/${fn}", {
  method: "${method}", headers: { origin: "http://127.0.0.1:3000", "content-type": "application/json" },
  body: ${method === "POST" ? '"{}"' : "undefined"} }));
await res.arrayBuffer();
console.log(JSON.stringify({ ms: performance.now() - t0, status: res.status }));`;
  // A complete, made-up environment pointing at closed loopback ports: nothing is reached.
  const env = {
    SUPABASE_URL: "http://127.0.0.1:54321",
    PIPELINE_DB_URL: "postgresql://pipeline_functions:bench@127.0.0.1:1/postgres",
    UPSTASH_REDIS_REST_URL: "http://127.0.0.1:1",
    UPSTASH_REDIS_REST_TOKEN: "bench-only",
    DUFFEL_ACCESS_TOKEN: "bench-only",
    SUPABASE_SECRET_KEY: "sb_secret_bench_only",
    SUPABASE_JWT_SECRET: "bench-only-secret-at-least-32-characters",
    JWT_SECRET: "bench-only-secret-at-least-32-characters",
    STRIPE_SECRET_KEY: "sk_test_bench_only",
    STRIPE_WEBHOOK_SECRET: "whsec_bench_only",
    DUFFEL_WEBHOOK_SECRET: "bench-only",
    RESEND_API_KEY: "re_bench_only",
    RESEND_WEBHOOK_SECRET: "whsec_YmVuY2gtb25seQ==",
  };
  const runs: { ms: number; status: number }[] = [];
  for (let i = 0; i < 3; i++) runs.push(JSON.parse(await fresh(script, env)));
  first.push({ fn, mod, method, ms: median(runs.map((r) => r.ms)), status: runs[0].status });
}

// 4. Report.
const lscpu = await new Deno.Command("lscpu", { stdout: "piped", stderr: "null" }).output()
  .then((o) => new TextDecoder().decode(o.stdout)).catch(() => "");
const cpu = lscpu.match(/Model name:\s*(.+)/)?.[1]?.trim() ?? "unknown CPU";
const machine =
  `${navigator.hardwareConcurrency} cores, ${cpu}, Deno ${Deno.version.deno} (V8 ${Deno.version.v8})`;
const date = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";

const moduleTable = [
  "| module | functions | raw bytes | gzipped | read (ms) | compile (ms) | instantiate (ms) |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ...modules.map((m) =>
    `| ${m.name} | ${
      Object.entries(fnModule).filter(([, v]) => v === m.name).map(([k]) => `\`${k}\``).join(", ")
    } | ${m.raw} | ${m.gz} | ${ms(m.read)} | ${ms(m.compile)} | ${ms(m.instantiate)} |`
  ),
].join("\n");
const firstTable = [
  "| function | module | request | status | first request from a cold isolate (ms) |",
  "| --- | --- | --- | ---: | ---: |",
  ...first.map((f) => `| \`${f.fn}\` | ${f.mod} | ${f.method} | ${f.status} | ${ms(f.ms)} |`),
].join("\n");

// The chart: per body, three bars (time relative to JSON.parse alone = 1).
function chart(): string {
  const w = 760, h = 300, left = 60, top = 30, bottom = 60;
  const groups = rows.length, gw = (w - left - 20) / groups;
  const max = Math.max(...rows.flatMap((r) => [r.ts / r.parse, r.core / r.parse, 1])) * 1.1;
  const y = (v: number) => top + (h - top - bottom) * (1 - v / max);
  const colors = ["#888888", "#3b7dd8", "#e0662b"];
  const names = ["JSON.parse alone", "TypeScript normalize+select", "wasm core"];
  let s =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">\n`;
  s += `<rect width="${w}" height="${h}" fill="white"/>\n`;
  s +=
    `<text x="${left}" y="16" font-size="13">Search normalize+select, time relative to JSON.parse alone (lower is faster), ${date}</text>\n`;
  for (let v = 0; v <= max; v += 0.5) {
    s += `<line x1="${left}" x2="${w - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`;
    s += `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>\n`;
  }
  rows.forEach((r, i) => {
    const vals = [1, r.ts / r.parse, r.core / r.parse];
    vals.forEach((v, k) => {
      const bx = left + i * gw + 10 + k * ((gw - 20) / 3);
      s += `<rect x="${bx}" y="${y(v)}" width="${(gw - 20) / 3 - 2}" height="${
        y(0) - y(v)
      }" fill="${colors[k]}"/>`;
    });
    s += `<text x="${left + i * gw + gw / 2}" y="${h - bottom + 16}" text-anchor="middle">${
      r.label.replace(" generated", " offers")
    }</text>\n`;
  });
  s += `<line x1="${left}" x2="${w - 20}" y1="${y(0.5)}" y2="${
    y(0.5)
  }" stroke="#e0662b" stroke-dasharray="4 3"/>`;
  s += `<text x="${w - 22}" y="${
    y(0.5) - 4
  }" text-anchor="end" fill="#e0662b">target 0.5x</text>\n`;
  names.forEach((n, k) => {
    s += `<rect x="${left + k * 220}" y="${h - 24}" width="12" height="12" fill="${colors[k]}"/>`;
    s += `<text x="${left + k * 220 + 16}" y="${h - 14}">${n}</text>\n`;
  });
  return s + "</svg>\n";
}

const report = `# Benchmarks

Measured ${date} on ${machine}, by one run of

\`\`\`bash
bash scripts/build-wasm.sh
deno run --allow-read --allow-write=docs --allow-run --allow-env --allow-sys scripts/bench.ts
\`\`\`

Medians per iteration. Per body, \`JSON.parse\`, the TypeScript baseline and the core each run in
their own batch in one process (5 warm-up iterations, then 400, 80 or 60 timed ones by body size),
so each pays for collecting its own garbage and nobody else's (timed interleaved, the collection of
\`JSON.parse\`'s object graph lands in whichever runs next). Single numbers move by up to tens of
percent between runs on this machine; the ratios move less. Nothing here is asserted by a test: the suite runs \`scripts/bench.ts --quick\`'s check
(tests/shims/bench_quick_test.ts) that the TypeScript baseline and the core select the same offer.

## Normalize + select, side by side on the same bytes

![chart](benchmarks.svg)

${speedTable(rows)}

- \`JSON.parse\` alone: \`TextDecoder\` + \`JSON.parse\` of the body, nothing else; every
  TypeScript implementation pays at least this.
- TypeScript: scripts/bench/ts_search.ts, the same rules (normalize every offer, skip malformed
  ones, one offer per id, check, rank, keep 200, only the selected one with its raw offer) written
  with \`JSON.parse\`
  and plain objects, producing the same storage JSON text.
- wasm core: \`process_search_response\` of the search module: the body bytes copied in once, one
  pass of a strict hand-written JSON cursor (offers/lex.rs: strings scanned sixteen bytes at a
  time with wasm SIMD, their UTF-8 checked on the way, unread values in one
  loop on a local index with container kinds in a bitset, keys compared as bytes of the body, read
  fields borrowed from it) that reads only the fields the rules need and skips the rest unbuilt,
  the raw text of the selected offer only (what \`app.record_search\` keeps) sliced from the body
  (never re-serialised), every other stored offer compact (\`raw: null\`) and written by hand
  into one buffer (search/offer_json.rs), one compact result out (the storage JSON text and a
  small summary).
- The real-shape body: scripts/bench/real_shape.ts (a round trip with every field a real Duffel
  test-mode answer carries, about 12 KB per offer); not a verbatim recording, which cannot be
  made or committed from here. \`BENCH_DUFFEL_BODY=<file>\` runs the same rows on a recorded body.

## WebAssembly modules (one per function group)

${moduleTable}

Read, compile (\`new WebAssembly.Module\`) and instantiate (\`initSync\`) each in a fresh Deno
process, median of 5. \`search\` and \`monitor\` are built for speed (\`opt-level = "s"\` with
booking-core at \`3\`, profile \`release-speed\`; \`wasm-opt -O3\`, and for the monitor
\`-ocimfs=0\` as well), the others for size (\`opt-level = "z"\`, \`wasm-opt -Oz -ocimfs=0\`).
\`-ocimfs=0\`: no inlining of one-caller functions, so no huge functions for V8 to re-compile with
TurboFan in a new isolate ("The monitor at scale", fourth pass; the monitor for speed: sixth pass). Each function ships only its module (\`static_files\` in supabase/config.toml) and loads it with
\`_shared/core/<module>.ts\`.

## First request through the router from a cold isolate

${firstTable}

A fresh Deno process per function (median of 3): import the local router, route one request, the
function's module graph and its wasm module loading on first use, the handler answering. JWT
functions get a CORS preflight (the router lets \`OPTIONS\` through unauthenticated), the service
and webhook functions an unauthenticated \`POST {}\` they refuse before any I/O; no database or
provider is reached, so this is boot cost, not request work.
`;
console.log(report);
// Only this command's region of docs/benchmarks.md is rewritten; the sections after it come from
// the other benchmark commands (each names its own) and are kept as they are.
const BEGIN =
  "<!-- scripts/bench.ts writes from here to its end marker; the other sections have their own commands -->";
const END = "<!-- scripts/bench.ts writes up to here -->";
const docPath = new URL("docs/benchmarks.md", root);
const doc = await Deno.readTextFile(docPath).catch(() => "# Benchmarks\n");
const region = `${BEGIN}\n\n${report.replace(/^# Benchmarks\n+/, "")}\n${END}`;
const [from, to] = [doc.indexOf(BEGIN), doc.indexOf(END)];
await Deno.writeTextFile(
  docPath,
  from >= 0 && to > from
    ? doc.slice(0, from) + region + doc.slice(to + END.length)
    : `# Benchmarks\n\n${region}\n\n${doc.replace(/^# Benchmarks\n+/, "")}`,
);
await Deno.writeTextFile(new URL("docs/benchmarks.svg", root), chart());
// The repository's formatter owns the layout of the written files (deno fmt --check in the suite).
await new Deno.Command(Deno.execPath(), {
  args: ["fmt", "--quiet", "docs/benchmarks.md", "docs/benchmarks.svg"],
  cwd: new URL(".", root).pathname,
}).output();
