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

async function coldStarts(start, reps) {
  const samples = { ready: [], get: [], help: [], secondHelp: [] };
  for (let i = 0; i < reps; i++) {
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
  return Object.fromEntries(Object.entries(samples).map(([key, values]) => [key, median(values)]));
}

/** Prints the cold-start table for each `[label, start]` of `kinds`. */
export async function printFreshIsolates(kinds, reps) {
  console.log(`\nFirst requests on a fresh isolate (ms, median of ${reps} fresh instances each):`);
  console.log(`${"".padEnd(20)} ${"ready".padStart(8)} ${"first GET /".padStart(12)} ${"first /help".padStart(12)} ${"second /help".padStart(13)}`);
  for (const [label, start] of kinds) {
    const cold = await coldStarts(start, reps);
    console.log(
      `${label.padEnd(20)} ${fixed(cold.ready, 1).padStart(8)} ${fixed(cold.get, 1).padStart(12)} ${fixed(cold.help, 1).padStart(12)} ${fixed(cold.secondHelp, 1).padStart(13)}`,
    );
  }
}
