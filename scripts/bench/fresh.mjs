// The first requests on a fresh isolate: how long a new instance takes to be ready, what its
// first `GET /` costs, and what `/help` costs as the first request of another new instance and
// then as its second, in latency and in the workerd process's CPU. V8 compiles each wasm
// function on its first call, so these are what a cold start adds. The median of `reps` fresh
// instances of each kind.
import { cpuMs } from "./workerd-cpu.mjs";
import { median, fixed } from "./stats.mjs";

/** The latency of `send`'s request, and the CPU workerd (`pid`) spent until its body was read. */
async function timed(pid, send) {
  const [started, cpu] = [performance.now(), cpuMs(pid)];
  const res = await send();
  await res.arrayBuffer();
  return { ms: performance.now() - started, cpu: cpuMs(pid) - cpu };
}

function push(samples, key, { ms, cpu }) {
  samples[key].push(ms);
  samples[`${key}Cpu`].push(cpu);
}

/**
 * One rep of `start` (a fresh instance as `{ worker, pid }`): a new instance's first `GET /`,
 * another's first and second `/help`.
 */
async function coldStart(start, samples) {
  const bare = await start();
  samples.ready.push(bare.worker.readyMs);
  push(samples, "get", await timed(bare.pid, () => bare.worker.fetch("/")));
  await bare.worker.stop();
  const helped = await start();
  samples.ready.push(helped.worker.readyMs);
  push(samples, "help", await timed(helped.pid, () => helped.worker.say(7, "/help")));
  push(samples, "secondHelp", await timed(helped.pid, () => helped.worker.say(7, "/help")));
  await helped.worker.stop();
}

/**
 * Prints the cold-start table for each `[label, start]` of `kinds`, and each kind's first
 * requests as a ratio to the last kind's (the reference). The kinds take turns rep by rep, so
 * a machine that gets busier or quieter during the run moves them alike.
 */
export async function printFreshIsolates(kinds, reps) {
  const samples = kinds.map(() => ({ ready: [], get: [], getCpu: [], help: [], helpCpu: [], secondHelp: [], secondHelpCpu: [] }));
  for (let i = 0; i < reps; i++) {
    for (const [k, [, start]] of kinds.entries()) await coldStart(start, samples[k]);
  }
  const cold = samples.map((kind) => Object.fromEntries(Object.entries(kind).map(([key, values]) => [key, median(values)])));
  console.log(`\nFirst requests on a fresh isolate (ms, median of ${reps} fresh instances each, the kinds taking turns;`);
  console.log("cpu = the workerd process's CPU until the response's body was read):");
  const heads = ["ready", "first GET /", "cpu", "first /help", "cpu", "second /help", "cpu"];
  console.log(`${"".padEnd(20)} ${heads.map((h) => h.padStart(Math.max(7, h.length))).join(" ")}`);
  for (const [k, [label]] of kinds.entries()) {
    const c = cold[k];
    const values = [c.ready, c.get, c.getCpu, c.help, c.helpCpu, c.secondHelp, c.secondHelpCpu];
    console.log(`${label.padEnd(20)} ${values.map((v, i) => fixed(v, 1).padStart(Math.max(7, heads[i].length))).join(" ")}`);
  }
  const reference = cold[cold.length - 1];
  for (const [k, [label]] of kinds.slice(0, -1).entries()) {
    const ratio = (key) => fixed(cold[k][key] / reference[key]);
    console.log(`${label} ÷ ${kinds[kinds.length - 1][0]}: first GET / ${ratio("get")}× (cpu ${ratio("getCpu")}×), ` +
      `first /help ${ratio("help")}× (cpu ${ratio("helpCpu")}×) (target <= 2, latency).`);
  }
}
