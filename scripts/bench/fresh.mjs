// The first requests on a fresh isolate: how long a new instance takes to be ready, what its
// first `GET /` costs, and what `/help` costs as the first request of another new instance and
// then as its second. V8 compiles each wasm function on its first call, so these are what a
// cold start adds. The median of `reps` fresh instances of each kind.
import { median, fixed } from "./stats.mjs";

async function timed(send) {
  const started = performance.now();
  const res = await send();
  await res.arrayBuffer();
  return performance.now() - started;
}

/** One rep of `start`: a new instance's first `GET /`, another's first and second `/help`. */
async function coldStart(start, samples) {
  const bare = await start();
  samples.ready.push(bare.readyMs);
  samples.get.push(await timed(() => bare.fetch("/")));
  await bare.stop();
  const helped = await start();
  samples.ready.push(helped.readyMs);
  samples.help.push(await timed(() => helped.say(7, "/help")));
  samples.secondHelp.push(await timed(() => helped.say(7, "/help")));
  await helped.stop();
}

/**
 * Prints the cold-start table for each `[label, start]` of `kinds`, and each kind's first
 * requests as a ratio to the last kind's (the reference). The kinds take turns rep by rep, so
 * a machine that gets busier or quieter during the run moves them alike.
 */
export async function printFreshIsolates(kinds, reps) {
  const samples = kinds.map(() => ({ ready: [], get: [], help: [], secondHelp: [] }));
  for (let i = 0; i < reps; i++) {
    for (const [k, [, start]] of kinds.entries()) await coldStart(start, samples[k]);
  }
  const cold = samples.map((kind) => Object.fromEntries(Object.entries(kind).map(([key, values]) => [key, median(values)])));
  console.log(`\nFirst requests on a fresh isolate (ms, median of ${reps} fresh instances each, the kinds taking turns):`);
  console.log(`${"".padEnd(20)} ${"ready".padStart(8)} ${"first GET /".padStart(12)} ${"first /help".padStart(12)} ${"second /help".padStart(13)}`);
  for (const [k, [label]] of kinds.entries()) {
    const { ready, get, help, secondHelp } = cold[k];
    console.log(
      `${label.padEnd(20)} ${fixed(ready, 1).padStart(8)} ${fixed(get, 1).padStart(12)} ${fixed(help, 1).padStart(12)} ${fixed(secondHelp, 1).padStart(13)}`,
    );
  }
  const reference = cold[cold.length - 1];
  for (const [k, [label]] of kinds.slice(0, -1).entries()) {
    console.log(`${label} ÷ ${kinds[kinds.length - 1][0]}: first GET / ${fixed(cold[k].get / reference.get)}×, ` +
      `first /help ${fixed(cold[k].help / reference.help)}× (target <= 2).`);
  }
}
