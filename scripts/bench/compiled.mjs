// What a fresh isolate compiles for its first request: V8 compiles each wasm function on its
// first call, whole, so the code of the functions a request runs is what its cold start
// compiles, on any machine. Not only the functions first called then: workerd flushes every
// module's Liftoff code (its baseline compile) whenever it creates an isolate, process-wide
// (a new isolate's heap is told of "moderate" memory pressure, and V8 then drops Liftoff code),
// and Miniflare creates its other workers' isolates after the bot's, so whatever the bot's
// instantiation compiled is compiled again by the first request that calls it. A copy of the
// build whose every function reports each call (an import added with binaryen, given to the
// instance by the glue) runs behind an entry module that starts a new set of reported functions
// with each request; it serves a first `GET /` and, on another new instance, a first `/help`;
// their functions' sizes come from the build's own code section. Run by scripts/bench.mjs.
import binaryen from "binaryen";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker } from "../../tests/e2e/harness.mjs";
import { createStandIn } from "../../tests/e2e/stand-in.mjs";
import { fixed } from "./stats.mjs";

/** The glue's import object, where the reporting import is added. */
const IMPORTS = '"./index_bg.js":{__proto__:null,';
const REPORT = "__called";

/** The entry module, beside the copy's glue: each request starts a new set of the functions it called. */
const ENTRY_NAME = "bench-calls-entry.mjs";
const ENTRY = `
import Worker from "./index.js";
import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  fetch(request) {
    globalThis.__calls = new Set();
    return new Worker(this.ctx, this.env).fetch(request);
  }
}`;

/** The size in bytes of each function body in `wasm`'s code section, in order. */
function bodySizes(wasm) {
  let at = 8;
  const leb = () => {
    let value = 0;
    let shift = 0;
    let byte;
    do {
      byte = wasm[at++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return value;
  };
  while (at < wasm.length) {
    const id = wasm[at++];
    const size = leb();
    if (id === 10) {
      return Array.from({ length: leb() }, () => {
        const body = leb();
        at += body;
        return body;
      });
    }
    at += size;
  }
  throw new Error("no code section");
}

/**
 * A copy of the build in `build` whose functions each log `call <index>` on their first call in
 * a request (or in the instance's start, before any).
 */
function reportingCopy(build) {
  const dir = mkdtempSync(join(tmpdir(), "fear-greed-first-calls-"));
  cpSync(build, dir, { recursive: true });
  const module = binaryen.readBinary(readFileSync(join(build, "index_bg.wasm")));
  module.setFeatures(binaryen.Features.All);
  module.addFunctionImport(REPORT, "./index_bg.js", REPORT, binaryen.i32, binaryen.none);
  let defined = 0;
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const fn = module.getFunctionByIndex(i);
    const info = binaryen.getFunctionInfo(fn);
    if (info.module) continue; // an import
    const report = module.call(REPORT, [module.i32.const(defined++)], binaryen.none);
    binaryen.Function.setBody(fn, module.block(null, [report, info.body], info.results));
  }
  writeFileSync(join(dir, "index_bg.wasm"), module.emitBinary());
  module.dispose();
  const glue = readFileSync(join(build, "index.js"), "utf8");
  if (!glue.includes(IMPORTS)) throw new Error(`the glue in ${build} has no ${IMPORTS}`);
  const reporter = `${REPORT}:(i)=>{const s=(globalThis.__calls??=new Set);if(!s.has(i)){s.add(i);console.log("call "+i)}},`;
  writeFileSync(join(dir, "index.js"), glue.replace(IMPORTS, IMPORTS + reporter));
  return { dir, functions: defined };
}

/** The indices of the functions called by what `worker` logged since `from` lines. */
const calls = (worker, from = 0) =>
  worker.logs.slice(from).filter((line) => line.message.startsWith("call ")).map((line) => Number(line.message.slice(5)));

/** Prints the functions and wasm bytes a fresh isolate compiles for a first `GET /` and `/help`. */
export async function printFirstCompiled(build = "build") {
  const sizes = bodySizes(readFileSync(join(build, "index_bg.wasm")));
  const { dir, functions } = reportingCopy(build);
  if (functions !== sizes.length) throw new Error(`${functions} functions instrumented, ${sizes.length} bodies`);
  const entry = { path: join(dir, ENTRY_NAME), contents: ENTRY };
  const start = () =>
    startWorker({ build: dir, entry, outbound: createStandIn().outbound, vars: { ADMIN_CHAT_ID: "1" }, secretsScan: false, printLogs: false });
  const cost = (ids) => ({ count: ids.length, kib: ids.reduce((sum, i) => sum + sizes[i], 0) / 1024 });
  try {
    const bare = await start();
    const [started, from] = [calls(bare), bare.logs.length];
    await (await bare.fetch("/")).arrayBuffer();
    const get = cost(calls(bare, from));
    await bare.stop();
    const helped = await start();
    const before = helped.logs.length;
    await (await helped.say(7, "/help")).arrayBuffer();
    const help = cost(calls(helped, before));
    await helped.stop();
    const all = sizes.reduce((sum, size) => sum + size, 0) / 1024;
    console.log(`\nWasm a fresh isolate compiles (V8 compiles each function on its first call; what the instance's start`);
    console.log(`compiled is flushed as Miniflare starts its other isolates, so a first request compiles every function`);
    console.log(`it calls), of ${sizes.length} functions, ${fixed(all, 1)} KiB:`);
    console.log(`  instantiation     ${String(started.length).padStart(4)} functions ${fixed(cost(started).kib, 1).padStart(6)} KiB`);
    console.log(`  first GET /       ${String(get.count).padStart(4)} functions ${fixed(get.kib, 1).padStart(6)} KiB`);
    console.log(`  first /help       ${String(help.count).padStart(4)} functions ${fixed(help.kib, 1).padStart(6)} KiB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
