// The broadcast through Miniflare's real queue (docs/broadcast-queue.md): the cron enqueues the
// run, the worker's own queue consumer sends it, and every chat gets exactly what the inline
// run (a worker without the queue binding) sends, in order; GET /admin/broadcast shows the run;
// a message delivered again sends nothing and counts its chats as skipped. A Telegram 429 is
// retried after its retry_after and then delivered; a 403 is not retried.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";
import { createStandIn } from "./stand-in.mjs";

const TUESDAY_2026_11_24_0900 = 1795510800000;
const CHATS = Array.from({ length: 30 }, (_, i) => i + 1);
const QUEUE = {
  queueProducers: { BROADCAST_QUEUE: { queueName: "fear-greed-broadcast" } },
  queueConsumers: {
    "fear-greed-broadcast": { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 10, deadLetterQueue: "fear-greed-broadcast-dlq" },
    "fear-greed-broadcast-dlq": { maxBatchSize: 100, maxBatchTimeout: 1 },
  },
};

/** Runs the broadcast cron on the bot (with the queue or without) seeded with `CHATS`. */
async function broadcast(bot, check, prepare = () => {}) {
  const world = createStandIn();
  const worker = await startWorker({
    outbound: world.outbound,
    vars: { TEST_CLOCK_START_MS: String(TUESDAY_2026_11_24_0900) },
    bot,
  });
  try {
    const kv = await worker.kv();
    await kv.put("chat_ids", JSON.stringify(CHATS));
    for (const chat of CHATS) {
      if (chat % 3 === 1) await kv.put(`watchlist:${chat}`, '["AAPL","MSFT"]');
      if (chat % 3 === 2) await kv.put(`watchlist:${chat}`, '["QQQ"]');
    }
    world.state.index = { rating: "fear", score: 20 };
    prepare(world);
    await worker.cron("0 9 * * 1-5");
    return await check(worker, world);
  } finally {
    await worker.stop();
  }
}

function byChat(sent) {
  const chats = new Map();
  for (const [chat, text] of sent) chats.set(chat, [...(chats.get(chat) ?? []), text]);
  return chats;
}

/** The run `id` (else the newest) as GET /admin/broadcast lists it. */
async function latestRun(worker, id) {
  const [status, answer] = await worker.admin("GET", "/admin/broadcast");
  assert.equal(status, 200, JSON.stringify(answer));
  return id ? answer.runs.find((r) => r.id === id) : answer.runs[0];
}

/** Polls `condition` for up to 10 s. */
async function until(condition, what) {
  for (let i = 0; i < 100; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`never: ${what}`);
}

async function finished(worker) {
  const db = await worker.d1();
  for (let i = 0; i < 600; i++) {
    const run = await db.prepare("SELECT * FROM broadcast_runs").first();
    if (run?.finished_at) return run;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the queued run never finished");
}

test("through the real queue every chat gets the inline run's messages, in order, once", async () => {
  const inline = await broadcast({}, async (_worker, world) => byChat(world.take()));
  assert.equal(inline.size, CHATS.length);
  await broadcast(QUEUE, async (worker, world) => {
    const run = await finished(worker);
    const total = [...inline.values()].reduce((n, texts) => n + texts.length, 0);
    assert.deepEqual([run.chats, run.messages, run.chats_done, run.sent, run.refused], [30, 3, 30, total, 0]);
    assert.deepEqual(byChat(world.take()), inline);
    const listed = await latestRun(worker);
    assert.deepEqual(
      ["id", "kind", "chats", "messages", "chats_done", "sent", "refused", "skipped", "failed", "retried", "dead_lettered"].map((k) => listed[k]),
      [run.id, "broadcast", 30, 3, 30, total, 0, 0, 0, 0, 0],
    );
    assert.equal(listed.duration_ms, run.finished_at - run.planned_at);

    // The first message delivered again: its chats are done, nothing is sent.
    const queue = await worker.mf.getQueueProducer("BROADCAST_QUEUE");
    const again = { run: run.id, seq: 0, chats: CHATS.slice(0, 10), work: { broadcast: { rating: "fear", score: 20, header: "h" } } };
    await queue.send(JSON.stringify(again));
    // Then a message of another run, whose one send shows the consumer got past the first.
    const marker = { run: "deploy-marker", seq: 0, chats: [999], work: { deploy: { text: "marker" } } };
    await queue.send(JSON.stringify(marker));
    const sent = [];
    for (let i = 0; i < 100 && !sent.some(([chat]) => chat === 999); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      sent.push(...world.take());
    }
    assert.deepEqual(sent, [[999, "marker"]]);
    await until(async () => (await latestRun(worker, run.id)).skipped === 10, "the redelivered chats are counted as skipped");
  });
});

test("a 429 is retried after its retry_after, then delivered; a 403 is not retried", async () => {
  const refusing = (world) => world.state.refusingChats.add(5);
  const inline = await broadcast({}, async (_worker, world) => byChat(world.take()), refusing);
  await broadcast(
    QUEUE,
    async (worker, world) => {
      const run = await finished(worker);
      const sent = world.take();
      // Chat 5's one message was refused once and not sent again; chat 15 got its messages
      // once, the first of them at least retry_after (2 s) after the 429.
      assert.deepEqual(byChat(sent), inline);
      assert.equal(world.throttled.length, 1);
      const [[chat, at]] = world.throttled;
      assert.equal(chat, 15);
      const first = sent.findIndex(([c]) => c === 15);
      assert.ok(world.sentAt[first] - at >= 2000, `retried ${world.sentAt[first] - at} ms after the 429`);
      const total = [...inline.values()].reduce((n, texts) => n + texts.length, 0);
      const listed = await latestRun(worker, run.id);
      assert.deepEqual(
        ["chats_done", "sent", "refused", "failed", "dead_lettered"].map((k) => listed[k]),
        [30, total - inline.get(5).length, inline.get(5).length, 0, 0],
      );
      assert.ok(listed.retried >= 1, JSON.stringify(listed));
      // The message stopped half-way resumed at chat 15: chats 11–14, sent before the 429, were
      // skipped on its retry (and byChat above shows none got anything twice).
      assert.equal(listed.skipped, 4, JSON.stringify(listed));
    },
    (world) => {
      refusing(world);
      world.state.throttledChats.set(15, 2);
    },
  );
});
