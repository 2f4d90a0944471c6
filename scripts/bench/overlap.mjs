// Whether this runtime overlaps a KV read and a D1 read: a bare worker times one KV get, one
// D1 query, both at once, both one after the other, and a response sent on the D1 answer while
// a KV get started beside it is still running. Where "both" costs what "one after the other"
// does, the two stores share one local process, and a KV read started before the reply costs
// the reply its full time even when the reply does not wait for it; which is why a shadow read
// leaves KV for after the replies (MIGRATION.md, "Shadow reads").
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./stats.mjs";

const SCRIPT = `export default { async fetch(request, env, ctx) {
  const kv = () => env.KV.get("k");
  const d1 = () => env.DB.prepare("SELECT v FROM t WHERE k = 1").first();
  const mode = new URL(request.url).searchParams.get("mode");
  if (mode === "kv") await kv();
  if (mode === "d1") await d1();
  if (mode === "together") await Promise.all([kv(), d1()]);
  if (mode === "in turn") { await kv(); await d1(); }
  if (mode === "beside") { const pending = kv(); await d1(); ctx.waitUntil(pending); }
  return new Response("ok");
} }`;

/** Prints the p50 cost of each mode over a bare request, `runs` requests each. */
export async function printOverlap(runs) {
  const mf = new Miniflare(convertV4MiniflareOptions({
    modules: true,
    compatibilityDate: "2026-11-01",
    kvNamespaces: { KV: "kv" },
    d1Databases: { DB: "db" },
    resourcePersistencePath: mkdtempSync(join(tmpdir(), "fear-greed-overlap-")),
    script: SCRIPT,
  }));
  await mf.ready;
  const db = await mf.getD1Database("DB");
  await db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
  await db.prepare("INSERT INTO t VALUES (1, 'x')").run();
  await (await mf.getKVNamespace("KV")).put("k", "v");
  const modes = ["nothing", "kv", "d1", "together", "in turn", "beside"];
  const times = new Map(modes.map((mode) => [mode, []]));
  for (let i = 0; i < runs; i++) {
    for (const mode of modes) {
      const started = performance.now();
      await (await mf.dispatchFetch(`http://x/?mode=${encodeURIComponent(mode)}`)).text();
      times.get(mode).push(performance.now() - started);
    }
  }
  await mf.dispose();
  const cost = (mode) => `${(median(times.get(mode)) - median(times.get("nothing"))).toFixed(2)} ms`;
  console.log(
    `\nOverlap in this runtime (p50 over a bare request): KV get ${cost("kv")}, D1 query ${cost("d1")}, ` +
      `both at once ${cost("together")}, one after the other ${cost("in turn")}, ` +
      `D1 answering with a KV get beside it ${cost("beside")}.`,
  );
}
