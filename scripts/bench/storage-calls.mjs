// Storage per request in workerd: the worker runs behind a bench-only entry module that hands
// it counting wrappers of its D1 and KV bindings (every call forwarded unchanged, D1's
// `meta.rows_read` / `meta.rows_written` summed), and answers `GET /__bench/storage` with the
// counts so far, resetting them. The Rust worker itself is unchanged; these workers are never
// timed, since the wrappers cost CPU.

/** The entry module: imports the built worker and runs each invocation with counting bindings. */
const ENTRY = `
import Worker from "./index.js";
import { WorkerEntrypoint } from "cloudflare:workers";

const zero = () => ({ d1Calls: 0, d1Statements: 0, rowsRead: 0, rowsWritten: 0, kvGets: 0, kvPuts: 0, kvDeletes: 0, kvLists: 0 });
let counts = zero();
const REAL = Symbol("real");
const KV_COUNTERS = { get: "kvGets", getWithMetadata: "kvGets", put: "kvPuts", delete: "kvDeletes", list: "kvLists" };

function tally(result) {
  counts.rowsRead += result?.meta?.rows_read ?? 0;
  counts.rowsWritten += result?.meta?.rows_written ?? 0;
  return result;
}

/** A proxy answering \`key\` with \`wrap(target)\` when given, the target's own member otherwise. */
function forward(target, wraps) {
  return new Proxy(target, {
    get(real, key) {
      if (key === REAL) return real;
      if (Object.hasOwn(wraps, key)) return wraps[key](real);
      // The worker crate checks a binding's \`constructor.name\`: hand that out unbound.
      const value = Reflect.get(real, key);
      return typeof value === "function" && key !== "constructor" ? value.bind(real) : value;
    },
  });
}

function statement(real) {
  const execute = (method) => (target) => async (...args) => {
    counts.d1Calls += 1;
    counts.d1Statements += 1;
    return tally(await target[method](...args));
  };
  return forward(real, {
    bind: (target) => (...args) => statement(target.bind(...args)),
    all: execute("all"),
    run: execute("run"),
    first: execute("first"),
    raw: execute("raw"),
  });
}

function database(real) {
  return forward(real, {
    prepare: (target) => (sql) => statement(target.prepare(sql)),
    batch: (target) => async (statements) => {
      counts.d1Calls += 1;
      counts.d1Statements += statements.length;
      const results = await target.batch(statements.map((s) => s[REAL] ?? s));
      results.forEach(tally);
      return results;
    },
  });
}

function kv(real) {
  const wraps = {};
  for (const [method, counter] of Object.entries(KV_COUNTERS)) {
    wraps[method] = (target) => (...args) => {
      counts[counter] += 1;
      return target[method](...args);
    };
  }
  return forward(real, wraps);
}

const counting = (env) => ({ ...env, FEAR_GREED_D1: database(env.FEAR_GREED_D1), FEAR_GREED_KV: kv(env.FEAR_GREED_KV) });

export default class extends WorkerEntrypoint {
  fetch(request) {
    if (new URL(request.url).pathname === "/__bench/storage") {
      const answer = Response.json(counts);
      counts = zero();
      return answer;
    }
    return new Worker(this.ctx, counting(this.env)).fetch(request);
  }
  scheduled(controller) {
    return new Worker(this.ctx, counting(this.env)).scheduled(controller);
  }
}`;

export const COUNTING_ENTRY = { path: "build/bench-counting-entry.mjs", contents: ENTRY };

/** The storage counts since the last call, resetting them. */
export async function takeStorageCounts(worker) {
  return (await worker.fetch("/__bench/storage")).json();
}
