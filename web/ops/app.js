// @ts-check
/// <reference lib="dom" />
/**
 * The ops dashboard's script (no build step, no dependencies: deployable as-is to any static
 * host; type-checked by `deno check web/ops/app.js`). It reads the operator's access token from
 * the sign-in redirect's fragment (`#access_token=…`, what Supabase Auth appends) or the paste
 * form, keeps it in sessionStorage, and POSTs to the `ops` function. Every value is written
 * with textContent (never as HTML). Amounts are integer minor units, formatted with the
 * currency's ISO 4217 exponent without floating point.
 */

/** @typedef {Record<string, any>} Json */

const TOKEN_KEY = "ops.access_token";
const cfg = /** @type {{functionsUrl?: string}} */ (
  /** @type {any} */ (globalThis).OPS_CONFIG ?? {}
);
const base = (cfg.functionsUrl || `${location.origin}/functions/v1`).replace(/\/$/, "");

/** @param {string} id */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** @param {string} id @param {boolean} shown */
function show(id, shown) {
  $(id).hidden = !shown;
}

/** The token from the URL fragment (then removed from the address bar) or the session. */
function readToken() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const fromHash = hash.get("access_token");
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/**
 * POSTs `body` to the ops function.
 * @param {Json} body
 * @returns {Promise<{status: number, json: Json}>}
 */
async function ops(body) {
  const token = sessionStorage.getItem(TOKEN_KEY) ?? "";
  const res = await fetch(`${base}/ops`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { code: "bad_response", message: "the ops function did not answer JSON" };
  }
  return { status: res.status, json };
}

/**
 * Minor units as a decimal string with the currency's exponent (JPY 0, GBP 2, KWD 3).
 * @param {number | string | null | undefined} minor @param {string} currency
 */
export function formatMinor(minor, currency) {
  if (minor === null || minor === undefined) return "–";
  let exp = 2;
  try {
    exp = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
      .maximumFractionDigits ?? 2;
  } catch { /* unknown code: 2 */ }
  const n = BigInt(minor);
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString().padStart(exp + 1, "0");
  const whole = exp ? digits.slice(0, -exp) : digits;
  const frac = exp ? "." + digits.slice(-exp) : "";
  return `${neg ? "-" : ""}${whole}${frac} ${currency}`;
}

/** @param {Json | null | undefined} byCurrency */
function formatHeld(byCurrency) {
  const parts = Object.entries(byCurrency ?? {}).map(([c, m]) => formatMinor(m, c));
  return parts.length ? parts.join(", ") : "none";
}

/** @param {Json} obj @param {string} path */
function pick(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/** @param {unknown} v */
function text(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") {
    const entries = Object.entries(/** @type {object} */ (v));
    return entries.length ? entries.map(([k, n]) => `${k}: ${n}`).join(", ") : "0";
  }
  return String(v);
}

/**
 * Replaces a table's rows.
 * @param {string} id @param {Array<Array<string | number | Node | null | undefined>>} rows
 */
function fillTable(id, rows) {
  const body = /** @type {HTMLTableElement} */ ($(id)).tBodies[0];
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.append(c);
      else {
        td.textContent = text(c);
        if (typeof c === "number") td.className = "num";
      }
      tr.append(td);
    }
    return tr;
  }));
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.textContent = "none";
    td.className = "muted";
    td.colSpan = body.parentElement?.querySelectorAll("th").length ?? 1;
    tr.append(td);
    body.append(tr);
  }
}

/** @param {string} s */
function shortId(s) {
  return typeof s === "string" ? s.slice(0, 8) : text(s);
}

/** The 24 h chart: bars for claimed / booked / failed per hour, a line for avg duration. */
function drawChart(/** @type {Json[]} */ runs) {
  const ns = "http://www.w3.org/2000/svg";
  const w = 720, h = 180, pad = 24;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("data-hours", String(runs.length));
  const now = Date.now();
  const slots = Array.from({ length: 24 }, (_, i) => {
    const hour = Math.floor(now / 3_600_000) - 23 + i;
    return runs.find((r) => Math.floor(Date.parse(r.hour) / 3_600_000) === hour) ??
      { claimed: 0, booked: 0, failed: 0, avg_duration_ms: 0, runs: 0 };
  });
  const maxCount = Math.max(1, ...slots.map((s) => Math.max(s.claimed, s.booked, s.failed)));
  const maxDur = Math.max(1, ...slots.map((s) => s.avg_duration_ms));
  const slotW = (w - 2 * pad) / 24;
  const barW = slotW / 4;
  /** @type {string[]} */
  const line = [];
  slots.forEach((s, i) => {
    ["claimed", "booked", "failed"].forEach((k, j) => {
      const v = Number(s[k]);
      const bh = (v / maxCount) * (h - 2 * pad);
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("class", k);
      r.setAttribute("x", String(pad + i * slotW + j * barW));
      r.setAttribute("y", String(h - pad - bh));
      r.setAttribute("width", String(barW - 1));
      r.setAttribute("height", String(bh));
      const t = document.createElementNS(ns, "title");
      t.textContent = `${k}: ${v}`;
      r.append(t);
      svg.append(r);
    });
    line.push(
      `${pad + i * slotW + slotW / 2},${h - pad - (s.avg_duration_ms / maxDur) * (h - 2 * pad)}`,
    );
  });
  const pl = document.createElementNS(ns, "polyline");
  pl.setAttribute("points", line.join(" "));
  pl.setAttribute("fill", "none");
  pl.setAttribute("stroke", "#222");
  svg.append(pl);
  const axis = document.createElementNS(ns, "text");
  axis.setAttribute("x", String(pad));
  axis.setAttribute("y", String(h - 6));
  axis.setAttribute("font-size", "10");
  axis.textContent = `24 h ago … now · max ${maxCount} trips/hour · max avg ${maxDur} ms`;
  svg.append(axis);
  $("runs-chart").replaceChildren(svg);
}

/** @type {Json | null} */
let current = null;

/** @param {Json} d */
function render(d) {
  current = d;
  $("generated-at").textContent = `as of ${d.generated_at}`;
  for (const el of document.querySelectorAll("[data-metric]")) {
    const path = el.getAttribute("data-metric") ?? "";
    const v = pick(d, path);
    el.textContent = path === "money_held" ? formatHeld(v) : text(v);
  }
  const enabled = d.monitor.enabled === true;
  const state = $("monitor-state");
  state.textContent = enabled ? "running" : "paused";
  state.className = enabled ? "running" : "paused";
  $("monitor-toggle").textContent = enabled ? "Pause monitor" : "Resume monitor";
  const age = d.monitor.heartbeat_age_seconds;
  $("heartbeat-age").textContent = age === null ? "never" : `${age} s`;
  fillTable(
    "trips-by-status",
    Object.entries(d.trips_by_status).sort().map(([s, n]) => [s, Number(n)]),
  );
  for (const [s, n] of Object.entries(d.trips_by_status)) {
    const row = [...$("trips-by-status").querySelectorAll("tbody tr")]
      .find((tr) => tr.firstElementChild?.textContent === s);
    row?.setAttribute("data-status", s);
    row?.lastElementChild?.setAttribute("data-count", String(n));
  }
  fillTable(
    "attempts-by-phase",
    d.attempts_by_phase.map((/** @type {Json} */ a) => [
      a.phase,
      a.count,
      formatHeld(a.held),
    ]),
  );
  $("stuck-minutes").textContent = `(no progress for ${d.stuck_minutes} min)`;
  fillTable(
    "stuck-attempts",
    d.stuck_attempts.map((/** @type {Json} */ a) => [
      shortId(a.attempt_id),
      shortId(a.trip_id),
      a.phase,
      a.currency ? formatMinor(a.amount_minor, a.currency) : "–",
      a.minutes,
    ]),
  );
  fillTable(
    "open-alerts",
    d.open_alerts.map((/** @type {Json} */ a) => [
      a.created_at,
      a.reason,
      shortId(a.trip_id),
      a.attempt_id ? shortId(a.attempt_id) : "–",
      a.sqlstate,
    ]),
  );
  fillTable(
    "outbox-by-status",
    Object.entries(d.outbox.by_status).sort().map(([s, n]) => [s, Number(n)]),
  );
  fillTable(
    "flags",
    d.flags.map((/** @type {Json} */ f) => {
      const form = document.createElement("form");
      form.className = "flag-form";
      form.dataset.flag = f.name;
      const input = document.createElement("input");
      input.type = "number";
      input.min = "0";
      input.max = "10000";
      input.step = "1";
      input.className = "rollout";
      input.value = String(f.rollout_bp);
      input.name = "rollout_bp";
      const btn = document.createElement("button");
      btn.type = "submit";
      btn.textContent = "Set";
      form.append(input, btn);
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        void act({ action: "set_flag", name: f.name, rollout_bp: Number(input.value) });
      });
      const pct = document.createElement("span");
      pct.textContent = `${(f.rollout_bp / 100).toFixed(2)} % (${f.rollout_bp} bp)`;
      pct.dataset.rollout = String(f.rollout_bp);
      return [
        f.name,
        f.enabled ? "on" : "off",
        pct,
        `allow ${f.allow_count} / deny ${f.deny_count}`,
        `${f.updated_by} ${f.updated_at}`,
        form,
      ];
    }),
  );
  const m = d.metrics;
  fillTable(
    "failed-by-reason",
    m.failed_by_reason.map((/** @type {Json} */ r) => [r.reason, r.count]),
  );
  fillTable(
    "below-max",
    m.below_max.map((/** @type {Json} */ b) => [
      b.currency,
      b.bookings,
      formatMinor(b.total_minor, b.currency),
      formatMinor(b.average_minor, b.currency),
    ]),
  );
  fillTable(
    "recent-decisions",
    d.recent_decisions.map((/** @type {Json} */ e) => [
      e.occurred_at,
      shortId(e.trip_id),
      e.stage,
      e.decision,
      e.reason_code,
    ]),
  );
  drawChart(d.runs_24h);
  document.body.dataset.state = "loaded";
}

/** @param {string} msg */
function showError(msg) {
  const el = $("error");
  el.textContent = msg;
  el.hidden = !msg;
}

/** Loads the overview; a 401/403 shows the refusal. */
async function load() {
  showError("");
  const { status, json } = await ops({ action: "overview" });
  if (status === 401 || status === 403) {
    show("dashboard", false);
    show("refused", true);
    $("refused-code").textContent = String(json.code ?? status);
    $("refused-message").textContent = String(json.message ?? "");
    document.body.dataset.state = "refused";
    return;
  }
  if (status !== 200) {
    showError(`${json.code ?? status}: ${json.message ?? "the ops function failed"}`);
    document.body.dataset.state = "error";
    return;
  }
  show("refused", false);
  show("dashboard", true);
  render(json);
}

/**
 * An operator action (needs a reason), then a reload.
 * @param {Json} body
 */
async function act(body) {
  const reason = /** @type {HTMLInputElement} */ ($("action-reason")).value.trim();
  if (!reason) {
    showError("Give a reason first (it is recorded with the change).");
    return;
  }
  const { status, json } = await ops({ ...body, reason });
  if (status !== 200) {
    showError(`${json.code ?? status}: ${json.message ?? "the action failed"}`);
    return;
  }
  await load();
}

function start() {
  $("refresh").addEventListener("click", () => void load());
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  $("monitor-toggle").addEventListener("click", () => {
    void act({ action: current?.monitor.enabled ? "pause_monitor" : "resume_monitor" });
  });
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = /** @type {HTMLInputElement} */ ($("token-input")).value.trim();
    if (v) sessionStorage.setItem(TOKEN_KEY, v);
    show("sign-in", false);
    void load();
  });
  if (!readToken()) {
    show("sign-in", true);
    document.body.dataset.state = "signed-out";
    return;
  }
  void load().catch((e) => showError(`could not reach the ops function (${e?.name ?? "error"})`));
}

start();
