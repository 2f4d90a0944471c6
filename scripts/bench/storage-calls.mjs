// Storage per request in workerd: the worker runs behind a bench-only entry module that hands
// it counting wrappers of its D1 and KV bindings (every call forwarded unchanged, D1's
// `meta.rows_read` / `meta.rows_written` summed), and answers `GET /__bench/storage` with the
// counts so far, resetting them. The Rust worker itself is unchanged; these workers are never
// timed, since the wrappers cost CPU.

import { WRAP_BINDINGS } from "../../tests/e2e/bindings.mjs";

/** The entry module: imports the built worker and runs each invocation with counting bindings. */
const ENTRY = `
import Worker from "./index.js";
import { WorkerEntrypoint } from "cloudflare:workers";

const zero = () => ({ d1Calls: 0, d1Statements: 0, rowsRead: 0, rowsWritten: 0, kvGets: 0, kvPuts: 0, kvDeletes: 0, kvLists: 0 });
let counts = zero();
const KV_COUNTERS = { get: "kvGets", getWithMetadata: "kvGets", put: "kvPuts", delete: "kvDeletes", list: "kvLists" };

function tally(result) {
  for (const one of Array.isArray(result) ? result : [result]) {
    counts.rowsRead += one?.meta?.rows_read ?? 0;
    counts.rowsWritten += one?.meta?.rows_written ?? 0;
  }
  return result;
}

${WRAP_BINDINGS}

async function count({ store, method, statements }, call) {
  if (store === "d1") {
    counts.d1Calls += 1;
    counts.d1Statements += statements;
    return tally(await call());
  }
  counts[KV_COUNTERS[method]] += 1;
  return call();
}

const counting = (env) => wrapBindings(env, count);

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
