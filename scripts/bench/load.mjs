// The sustained mixed workload: while commands are timed, every target worker also receives
// writes from other chats (`/watchlist add XYZ`, `/watchlist remove XYZ`, `/execute SPY 400`,
// each chat writing those three in turn, so every /execute is its chat's first of the month and
// really writes), at a fixed rate per worker. It stops by itself after `maxSeconds` or
// `rate × maxSeconds` writes per worker, or when `stop()` is called.
import { sleep } from "./stats.mjs";

/** Load chats start here, far from the timed chats, so their replies can be told apart. */
export const LOAD_CHATS = 9_000_000;
const WRITES = ["/watchlist add XYZ", "/watchlist remove XYZ", "/execute SPY 400"];

/**
 * Starts the load on `targets` (a Map of name → worker with `say(chat, text)`). `settleMs` is
 * how long a write's after-response work may run on after its response: until then the worker
 * counts as busy with the load (see `quiet`).
 */
export function startLoad(targets, { rate, maxSeconds, settleMs }) {
  let stopped = false;
  const lanes = new Map([...targets.keys()].map((name) => [name, { started: 0, busy: 0, done: [], failed: 0 }]));
  const drives = [...targets].map(([name, worker]) => drive(worker, lanes.get(name)));

  async function drive(worker, lane) {
    const interval = 1000 / rate;
    const first = performance.now();
    for (let n = 0; n < rate * maxSeconds && !stopped; n++) {
      await sleep(first + n * interval - performance.now());
      if (stopped || performance.now() - first > maxSeconds * 1000) break;
      lane.started += 1;
      lane.busy += 1;
      const res = await worker.say(LOAD_CHATS + Math.floor(n / WRITES.length), WRITES[n % WRITES.length]);
      await res.arrayBuffer();
      if (res.status !== 200) lane.failed += 1;
      lane.done.push(performance.now());
      setTimeout(() => (lane.busy -= 1), settleMs);
    }
  }

  return {
    /** A mark to pass to `quiet` after a timed request on `name`. */
    mark: (name) => ({ started: lanes.get(name).started, busy: lanes.get(name).busy }),
    /** Whether no load write ran on `name` between `mark` and now (its CPU is then the request's alone). */
    quiet: (name, mark) => mark.busy === 0 && lanes.get(name).busy === 0 && lanes.get(name).started === mark.started,
    /** Stops the load and returns what it did, per worker. */
    async stop() {
      stopped = true;
      await Promise.all(drives);
      return [...lanes].map(([name, lane]) => ({ name, ...rates(lane.done), failed: lane.failed }));
    },
  };
}

/** Writes, writes per second, and the fewest writes in any 60 s window (null under 60 s of load). */
function rates(done) {
  const seconds = done.length > 1 ? (done.at(-1) - done[0]) / 1000 : 0;
  let fewest = null;
  for (let i = 0, j = 0; i < done.length && done[i] + 60_000 <= done.at(-1); i++) {
    while (j < done.length && done[j] <= done[i] + 60_000) j++;
    fewest = Math.min(fewest ?? Infinity, j - i - 1);
  }
  return { writes: done.length, perSecond: seconds ? (done.length - 1) / seconds : 0, fewest };
}
