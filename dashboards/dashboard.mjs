// The on-call dashboard (migration.md §6, `GET /admin/dashboard`): where each repository
// stands, whether its next move would pass the guard rails, its shadow numbers, their trend
// per minute, the latest divergences with their diffs and the latest queued broadcast runs. It reads the admin API with the
// bearer token the operator types in (kept in this tab's sessionStorage, never in a URL), and
// refreshes every 30 s.
//
// `view` turns the answers into plain rows; the rest puts the rows on the page, every value as
// text (tested in headless Chromium against a worker's real answers, tests/e2e/dashboard.test.mjs).

export const REFRESH_MS = 30_000;

/** The admin calls behind one refresh. */
export const SOURCES = {
  status: "/admin/migration/status",
  metrics: "/admin/metrics?minutes=60",
  divergences: "/admin/divergences?limit=20",
  flags: "/admin/flags",
  broadcast: "/admin/broadcast",
};

/** `0.0123` as `1.23 %`. */
export function percent(rate) {
  return `${(100 * rate).toFixed(2)} %`;
}

/** A platform-clock millisecond time as UTC `2026-12-01 19:05`; `–` for none. */
export function when(ms) {
  return ms == null ? "–" : new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}

/**
 * A sweep's progress in a few words: what a copy (backfill, reverse sync) wrote, skipped and
 * deferred, or what a validation found.
 */
export function sweep(progress, kind) {
  if (progress.state === "not_started") return "not started";
  const counts =
    kind === "validation"
      ? `${progress.matched} match, ${progress.discrepancies} differ, ${progress.in_flight} in flight, ${progress.skipped} unreadable in KV`
      : `${progress.written} written, ${progress.skipped} skipped, ${progress.deferred} deferred`;
  return progress.state === "finished" ? `finished ${when(progress.finished)}: ${counts}` : `running: ${counts}`;
}

/**
 * Per minute of the metrics window (oldest first), the sum of the counts whose outcome
 * `wanted` accepts, for one repository.
 */
export function perMinute(metrics, repository, wanted) {
  const minutes = [];
  for (let minute = metrics.since; minute <= metrics.until; minute += 60_000) minutes.push(minute);
  const counts = new Map(minutes.map((minute) => [minute, 0]));
  for (const { repository: r, outcome, points } of metrics.series) {
    if (r !== repository || !wanted(outcome)) continue;
    for (const [minute, count] of points) counts.set(minute, (counts.get(minute) ?? 0) + count);
  }
  return minutes.map((minute) => counts.get(minute));
}

const isDivergence = (outcome) => outcome.startsWith("divergence.") && outcome !== "divergence.stale_kv_suspected";
const isFallback = (outcome) => outcome.startsWith("fallback.");

/** Mean milliseconds per read of `store` over the window; `null` without reads. */
export function meanLatency(metrics, repository, store) {
  let count = 0;
  let total = 0;
  for (const { repository: r, outcome, points } of metrics.series) {
    if (r !== repository || outcome !== `latency.${store}`) continue;
    for (const [, n, ms] of points) {
      count += n;
      total += ms;
    }
  }
  return count === 0 ? null : total / count;
}

/**
 * What on-call should look at first, one line each: a divergence rate over the guard rail's
 * `guard.max_divergence_rate`, any fallback or failed second write, queued repairs, a broadcast
 * run's dead-lettered messages or a producer that stopped short of enqueueing all of it.
 */
function alerts(status, metrics, maxDivergenceRate, runs) {
  const lines = [];
  for (const [name, s] of Object.entries(status.repositories)) {
    const m = metrics.repositories[name];
    if (m && m.divergence_rate > maxDivergenceRate) {
      lines.push(`${name}: ${percent(m.divergence_rate)} of compared reads diverged in the last hour (guard rail: ${percent(maxDivergenceRate)})`);
    }
    if (m && m.write_failures > 0) lines.push(`${name}: ${m.write_failures} failed second writes in the last hour`);
    if (m && m.fallbacks > 0) lines.push(`${name}: ${m.fallbacks} reads fell back to KV in the last hour`);
    if (s.repairs_queued > 0) lines.push(`${name}: ${s.repairs_queued} repairs queued`);
  }
  if (metrics.flags.settings_unreadable > 0) {
    lines.push(`flags: settings unreadable ${metrics.flags.settings_unreadable} times in the last hour (running on the last good flags or the default)`);
  }
  for (const r of runs) {
    if (r.dead_lettered > 0) lines.push(`${r.id}: ${r.dead_lettered} queue messages dead-lettered`);
    if (r.enqueue_error != null) lines.push(`${r.id}: ${r.enqueued} of ${r.messages} queue messages enqueued, the producer stopped short (${r.enqueue_error})`);
  }
  return lines;
}

/** The page's content from the admin answers: plain strings and numbers only. */
export function view({ status, metrics, divergences, flags, broadcast }) {
  const maxDivergenceRate = flags.flags.find((flag) => flag.key === "guard.max_divergence_rate").value;
  const repositories = Object.entries(status.repositories).map(([name, s]) => {
    const m = metrics.repositories[name] ?? {};
    const latency = (store) => {
      const ms = meanLatency(metrics, name, store);
      return ms === null ? "–" : `${ms.toFixed(1)} ms`;
    };
    return {
      name,
      phase: s.phase,
      since: when(s.since),
      next: s.next_move === null ? "– (last phase)" : `${s.next_move.to}: ${s.next_move.allowed ? "allowed" : "refused"}`,
      unmet: s.next_move?.unmet ?? [],
      window: `${s.window.compared} compared, ${percent(s.window.divergence_rate)} diverged, ${percent(s.window.fallback_rate)} fell back`,
      hour: {
        reads: m.reads ?? 0,
        compared: m.compared ?? 0,
        divergences: m.divergences ?? 0,
        staleKvSuspected: m.stale_kv_suspected ?? 0,
        fallbacks: m.fallbacks ?? 0,
        writeFailures: m.write_failures ?? 0,
      },
      latency: { d1: latency("d1"), kv: latency("kv") },
      repairsQueued: s.repairs_queued,
      backfill: sweep(s.backfill, "backfill"),
      validation: sweep(s.validation, "validation"),
      reverseSync: sweep(s.reverse_sync, "reverse_sync"),
      trend: {
        divergences: perMinute(metrics, name, isDivergence),
        fallbacks: perMinute(metrics, name, isFallback),
      },
    };
  });
  return {
    alerts: alerts(status, metrics, maxDivergenceRate, broadcast.runs),
    windowSeconds: status.window_seconds,
    repositories,
    divergences: divergences.divergences.map((d) => ({
      when: when(d.observed_at),
      repository: d.repository,
      class: d.class,
      entityKey: d.entity_key ?? "(all)",
      operation: d.operation,
      diff: d.diff,
    })),
    broadcasts: broadcast.runs.map((r) => [
      r.id, when(r.planned_at), `${r.chats_done} / ${r.chats}`, r.sent, r.refused, r.skipped, r.failed, r.retried, r.dead_lettered,
      r.duration_ms == null ? "running" : `${Math.round(r.duration_ms / 1000)} s`,
    ]),
  };
}

/** An SVG polyline's points for `values` in a `width` × `height` box (0 at the bottom). */
export function sparkline(values, width, height) {
  const top = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values.map((v, i) => `${(i * step).toFixed(1)},${(height - (v / top) * height).toFixed(1)}`).join(" ");
}

// ---- the page ------------------------------------------------------------------------------

const TOKEN_KEY = "fear-greed-admin-token";

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function trend(values, label) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 120 24");
  svg.setAttribute("class", "trend");
  const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
  title.textContent = `${label} per minute, last hour: ${values.reduce((a, b) => a + b, 0)} in all`;
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", sparkline(values, 120, 24));
  svg.append(title, line);
  return svg;
}

/** Puts `rows` in the table body `id`, or one row saying `empty` across its `columns`. */
function fill(id, rows, empty, columns) {
  if (!rows.length) {
    const none = element("tr");
    none.append(element("td", empty, { colspan: String(columns), class: "quiet" }));
    rows.push(none);
  }
  document.getElementById(id).replaceChildren(...rows);
}

function render(model) {
  const alertList = document.getElementById("alerts");
  alertList.replaceChildren(
    ...(model.alerts.length ? model.alerts.map((line) => element("li", line)) : [element("li", "Nothing to look at.", { class: "quiet" })]),
  );
  document.getElementById("window").textContent = `${model.windowSeconds / 60} min`;
  const rows = model.repositories.map((r) => {
    const row = element("tr");
    const next = element("td", r.next, r.unmet.length ? { class: "refused" } : {});
    if (r.unmet.length) {
      const reasons = element("ul");
      reasons.append(...r.unmet.map((reason) => element("li", reason)));
      next.append(reasons);
    }
    const divergences = element("td", r.hour.divergences);
    divergences.append(trend(r.trend.divergences, "divergences"));
    const fallbacks = element("td", r.hour.fallbacks);
    fallbacks.append(trend(r.trend.fallbacks, "fallbacks"));
    row.append(
      element("th", r.name), element("td", r.phase), element("td", r.since), next, element("td", r.window),
      element("td", `${r.hour.compared} / ${r.hour.reads}`), divergences, element("td", r.hour.staleKvSuspected), fallbacks,
      element("td", r.hour.writeFailures), element("td", r.repairsQueued), element("td", `${r.latency.d1} / ${r.latency.kv}`),
      element("td", r.backfill), element("td", r.validation), element("td", r.reverseSync),
    );
    return row;
  });
  document.getElementById("repositories").replaceChildren(...rows);
  const records = model.divergences.map((d) => {
    const row = element("tr");
    const diff = element("td");
    diff.append(element("pre", d.diff));
    row.append(element("td", d.when), element("td", d.repository), element("td", d.class), element("td", d.entityKey), element("td", d.operation), diff);
    return row;
  });
  fill("divergences", records, "No divergence recorded.", 6);
  const runs = model.broadcasts.map((cells) => {
    const row = element("tr");
    row.append(...cells.map((cell) => element("td", cell)));
    return row;
  });
  fill("broadcasts", runs, "No queued broadcast yet.", 10);
  document.getElementById("updated").textContent = `${new Date().toISOString().slice(11, 19)} UTC`;
}

const REFUSED = "The token was refused.";

/** One admin answer; an error naming the call when it is not a 200 with JSON. */
async function ask(path, token) {
  let response;
  let body;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    const type = response.headers.get("content-type") ?? "";
    body = type.startsWith("application/json") ? await response.json() : `not JSON (${type || "no content type"})`;
  } catch (error) {
    throw new Error(`${path}: ${error.message}`);
  }
  if (response.status === 401) throw new Error(REFUSED);
  if (!response.ok) throw new Error(`${path}: ${body?.error?.message ?? `HTTP ${response.status}`}`);
  if (typeof body === "string") throw new Error(`${path}: ${body}`);
  return body;
}

async function load(token) {
  const names = Object.keys(SOURCES);
  const answers = await Promise.all(names.map((name) => ask(SOURCES[name], token)));
  return view(Object.fromEntries(names.map((name, i) => [name, answers[i]])));
}

function start() {
  const form = document.getElementById("login");
  const problem = document.getElementById("problem");
  let timer;
  let started = 0;
  let shown = 0;
  const refresh = async () => {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return;
    const mine = ++started;
    // A refresh changes the page only if none started after it has, and its token is kept.
    const stillWanted = () => {
      if (mine < shown || sessionStorage.getItem(TOKEN_KEY) !== token) return false;
      shown = mine;
      return true;
    };
    try {
      const model = await load(token);
      if (!stillWanted()) return;
      render(model);
      problem.textContent = "";
      document.body.classList.add("signed-in");
    } catch (error) {
      if (!stillWanted()) return;
      problem.textContent = error.message;
      if (error.message === REFUSED) {
        sessionStorage.removeItem(TOKEN_KEY);
        document.body.classList.remove("signed-in");
      }
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, form.elements.token.value);
    form.reset();
    refresh();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    document.body.classList.remove("signed-in");
    problem.textContent = "";
  });
  const every = () => {
    clearInterval(timer);
    timer = setInterval(refresh, REFRESH_MS);
  };
  // Paused while the page is hidden away (back/forward cache), resumed when it is shown again.
  addEventListener("pagehide", () => clearInterval(timer));
  addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    refresh();
    every();
  });
  refresh();
  every();
}

if (typeof document !== "undefined") start();
