/**
 * CPU time of a process's threads from `/proc/<pid>/task/*\/stat` (utime + stime, 10 ms clock
 * ticks on Linux), for the benchmarks that report what the hosted runtime's per-worker CPU timer
 * counts (the isolate's own thread) beside the process total.
 *
 * @module
 */

/** CPU ms per thread name of `pid` (a trailing number becomes `#`: `serve-worker-#`). */
export function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const raw = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/stat`);
      const name = raw.slice(raw.indexOf("(") + 1, raw.lastIndexOf(")")).replace(/\d+$/, "#");
      const f = raw.slice(raw.lastIndexOf(") ") + 2).split(" ");
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) * 10);
    } catch { /* the thread ended */ }
  }
  return out;
}

/** The CPU ms of every thread in `m`. */
export function totalMs(m: Map<string, number>): number {
  return [...m.values()].reduce((a, b) => a + b, 0);
}
