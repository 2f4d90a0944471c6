// Wrappers around the worker's D1 and KV bindings, for entry modules (startWorker's `entry`)
// that run the built worker on its real bindings with every storage call passing through a
// hook: the bench counts the calls (scripts/bench/storage-calls.mjs), the fault soak fails
// chosen ones (faults.mjs). The Rust worker itself is unchanged.

/**
 * JavaScript source, for an entry module, of `wrapBindings(env, around)`: `env` with
 * FEAR_GREED_D1 and FEAR_GREED_KV wrapped so that each call goes through
 * `around({ store, method, statements, sql }, call)`, which must return `call()`'s promise (or
 * its own). `store` is "d1" or "kv"; `method` the binding's method (`batch`, `run`, `all`,
 * `first`, `raw`; `get`, `getWithMetadata`, `put`, `delete`, `list`); `statements` the D1
 * statements the call runs (1 for a single statement); `sql` their SQL texts.
 */
export const WRAP_BINDINGS = `
const REAL = Symbol("real");
const SQL = Symbol("sql");
const KV_METHODS = ["get", "getWithMetadata", "put", "delete", "list"];

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

function wrapBindings(env, around) {
  function statement(real, sql) {
    const execute = (method) => (target) => (...args) =>
      around({ store: "d1", method, statements: 1, sql: [sql] }, () => target[method](...args));
    return forward(real, {
      [SQL]: () => sql,
      bind: (target) => (...args) => statement(target.bind(...args), sql),
      all: execute("all"),
      run: execute("run"),
      first: execute("first"),
      raw: execute("raw"),
    });
  }
  const database = forward(env.FEAR_GREED_D1, {
    prepare: (target) => (sql) => statement(target.prepare(sql), sql),
    batch: (target) => (statements) =>
      around({ store: "d1", method: "batch", statements: statements.length, sql: statements.map((s) => s[SQL]) }, () =>
        target.batch(statements.map((s) => s[REAL] ?? s)),
      ),
  });
  const kvWraps = {};
  for (const method of KV_METHODS) {
    kvWraps[method] = (target) => (...args) =>
      around({ store: "kv", method, statements: 0, sql: [] }, () => target[method](...args));
  }
  return { ...env, FEAR_GREED_D1: database, FEAR_GREED_KV: forward(env.FEAR_GREED_KV, kvWraps) };
}
`;
