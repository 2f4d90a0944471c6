// The workerd process behind each Miniflare instance and the CPU it spends: every Miniflare
// spawns its own workerd child of this node process, found by diffing this process's workerd
// children around the instance's start. CPU is the sum over the process's threads of the time
// on CPU in /proc/<pid>/task/*/schedstat (nanoseconds), which covers the worker's isolate and
// Miniflare's own KV and D1 simulators running in the same process.
import { readdirSync, readFileSync } from "node:fs";

function workerdChildren() {
  const pids = new Set();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent pid is the second field after the parenthesised command name.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === process.pid && readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("workerd")) pids.add(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

/** Runs `start()` (which starts one Miniflare) and returns its result with the new workerd's `pid`. */
export async function withWorkerdPid(start) {
  const before = workerdChildren();
  const started = await start();
  const fresh = [...workerdChildren()].filter((pid) => !before.has(pid));
  if (fresh.length !== 1) throw new Error(`expected one new workerd process, found ${fresh.length}`);
  return { ...started, pid: fresh[0] };
}

/** CPU time (ms) the process `pid` has spent so far, all threads. */
export function cpuMs(pid) {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread exited between the listing and the read.
    }
  }
  return ns / 1e6;
}
