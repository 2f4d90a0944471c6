// What a fresh isolate compiles for its first request: V8 compiles each wasm function on its
// first call, whole, so the code of the functions a request runs first is what its cold start
// compiles, on any machine. A copy of the build whose every function reports its first call (an
// import added with binaryen, and given to the instance by the glue) serves a first `GET /` and,
// on another new instance, a first `/help`; their functions' sizes come from the build's own code
// section. Run by scripts/bench.mjs.
import binaryen from "binaryen";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker } from "../../tests/e2e/harness.mjs";
import { createStandIn } from "../../tests/e2e/stand-in.mjs";
import { fixed } from "./stats.mjs";

/** The glue's import object, where the reporting import is added. */
const IMPORTS = '"./index_bg.js":{__proto__:null,';
const REPORT = "__first_call";

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

/** A copy of the build in `build` whose functions each log `first <index>` on their first call. */
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
  const reporter = `${REPORT}:(i)=>{const s=(globalThis.__firstCalls??=new Set);if(!s.has(i)){s.add(i);console.log("first "+i)}},`;
  writeFileSync(join(dir, "index.js"), glue.replace(IMPORTS, IMPORTS + reporter));
  return { dir, functions: defined };
}

/** The indices of the functions first called by what `worker` logged since `from` lines. */
const firstCalls = (worker, from = 0) =>
  worker.logs.slice(from).filter((line) => line.message.startsWith("first ")).map((line) => Number(line.message.slice(6)));

/** Prints the functions and wasm bytes a fresh isolate compiles for a first `GET /` and `/help`. */
export async function printFirstCompiled(build = "build") {
  const sizes = bodySizes(readFileSync(join(build, "index_bg.wasm")));
  const { dir, functions } = reportingCopy(build);
  if (functions !== sizes.length) throw new Error(`${functions} functions instrumented, ${sizes.length} bodies`);
  const start = () =>
    startWorker({ build: dir, outbound: createStandIn().outbound, vars: { ADMIN_CHAT_ID: "1" }, secretsScan: false, printLogs: false });
  const cost = (ids) => ({ count: ids.length, kib: ids.reduce((sum, i) => sum + sizes[i], 0) / 1024 });
  try {
    const bare = await start();
    const atStart = firstCalls(bare).length;
    await (await bare.fetch("/")).arrayBuffer();
    const get = cost(firstCalls(bare, 0).slice(atStart));
    await bare.stop();
    const helped = await start();
    const started = firstCalls(helped);
    await (await helped.say(7, "/help")).arrayBuffer();
    const help = cost(firstCalls(helped).slice(started.length));
    await helped.stop();
    const all = sizes.reduce((sum, size) => sum + size, 0) / 1024;
    console.log(`\nWasm a fresh isolate compiles (V8 compiles each function on its first call), of ${sizes.length} functions, ${fixed(all, 1)} KiB:`);
    console.log(`  instantiation     ${String(started.length).padStart(4)} functions ${fixed(cost(started).kib, 1).padStart(6)} KiB`);
    console.log(`  first GET /       ${String(get.count).padStart(4)} functions ${fixed(get.kib, 1).padStart(6)} KiB`);
    console.log(`  first /help       ${String(help.count).padStart(4)} functions ${fixed(help.kib, 1).padStart(6)} KiB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
