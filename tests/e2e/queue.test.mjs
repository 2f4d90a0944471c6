// The broadcast through Miniflare's real queue (docs/broadcast-queue.md): the cron enqueues the
// run, the worker's own queue consumer sends it, and every chat gets exactly what the inline
// run (a worker without the queue binding) sends, in order; GET /admin/broadcast shows the run;
// a message delivered again sends nothing and counts its chats as skipped. A Telegram 429 is
// retried after its retry_after and then delivered; a 403 is not retried. The same holds in
// every storage phase, and across phase flips during a run. A large audience (QUEUE_SOAK=full:
// 10,000 subscribers; 300 otherwise) gets, chat by chat, what the inline run sends for the same
// watchlist and position.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pastHandover, startWorker } from "./harness.mjs";
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

/** The run once it finished; fails after `seconds` (60). */
async function finished(worker, seconds = 60) {
  const db = await worker.d1();
  for (let i = 0; i < seconds * 10; i++) {
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

/**
 * Starts the bot (with the queue options `bot`, or none), moves every repository to `phase`
 * (forced) and subscribes `CHATS` through the webhook, with watchlists of none, two and one
 * extra ticker: they land in whichever stores the phase writes. Returns it in fear, the replies
 * taken.
 */
async function subscribedIn(phase, bot = {}, vars = {}) {
  const { world, worker } = await startedIn(phase, bot, vars);
  for (const chat of CHATS) {
    assert.equal((await worker.say(chat, "/start")).status, 200);
    const tickers = chat % 3 === 1 ? ["AAPL", "MSFT"] : chat % 3 === 2 ? ["QQQ"] : [];
    for (const ticker of tickers) assert.equal((await worker.say(chat, `/watchlist add ${ticker}`)).status, 200);
  }
  world.take();
  world.state.index = { rating: "fear", score: 20 };
  return { world, worker };
}

const PHASES = ["kv_only", "dual_write", "shadow", "d1_only"];

/** Starts the bot (queue options `bot`, vars `vars`) and moves every repository to `phase`. */
async function startedIn(phase, bot, vars) {
  const world = createStandIn();
  const worker = await startWorker({
    outbound: world.outbound,
    vars: { TEST_CLOCK_START_MS: String(TUESDAY_2026_11_24_0900), ...vars },
    bot,
  });
  // From kv_only, where a fresh database starts, one phase at a time.
  for (const step of PHASES.slice(1, PHASES.indexOf(phase) + 1)) await movePhase(worker, step);
  await pastHandover(worker);
  return { world, worker };
}

async function movePhase(worker, phase) {
  const body = { key: "storage.phase.all", value: phase, force: true, reason: "queue e2e" };
  const [status, answer] = await worker.admin("PUT", "/admin/flags", body);
  assert.equal(status, 200, JSON.stringify(answer));
}

/** What the inline run (no queue) sends to each chat, subscribed in `phase`. */
async function inlineIn(phase) {
  const { world, worker } = await subscribedIn(phase);
  try {
    await worker.cron("0 9 * * 1-5");
    return byChat(world.take());
  } finally {
    await worker.stop();
  }
}

test("in every phase the queued run sends what the inline run sends, each chat once", async () => {
  for (const phase of PHASES) {
    const inline = await inlineIn(phase);
    assert.equal(inline.size, CHATS.length, phase);
    const { world, worker } = await subscribedIn(phase, QUEUE, { BROADCAST_SEND_SPACING_MS: "0" });
    try {
      await worker.cron("0 9 * * 1-5");
      const run = await finished(worker);
      assert.deepEqual(byChat(world.take()), inline, phase);
      assert.deepEqual([run.chats, run.chats_done, run.enqueued, run.enqueue_error], [30, 30, 3, null], phase);
    } finally {
      await worker.stop();
    }
  }
});

test("a phase flip during a run (dual_write → shadow → d1_only) changes nothing any chat gets", async () => {
  const inline = await inlineIn("dual_write");
  // One queue message (ten chats) a consumer batch, sends 50 ms apart: the run takes seconds,
  // and the flips land between its batches.
  const oneAtATime = {
    ...QUEUE,
    queueConsumers: { ...QUEUE.queueConsumers, "fear-greed-broadcast": { ...QUEUE.queueConsumers["fear-greed-broadcast"], maxBatchSize: 1 } },
  };
  const { world, worker } = await subscribedIn("dual_write", oneAtATime, { BROADCAST_SEND_SPACING_MS: "50" });
  try {
    await worker.cron("0 9 * * 1-5");
    const sent = [];
    const db = await worker.d1();
    const flipsAt = [];
    for (const [phase, chat] of [["shadow", 10], ["d1_only", 20]]) {
      await until(async () => {
        sent.push(...world.take());
        return sent.some(([c]) => c === chat);
      }, `chat ${chat} served`);
      await movePhase(worker, phase);
      await pastHandover(worker);
      flipsAt.push((await db.prepare("SELECT chats_done FROM broadcast_runs").first()).chats_done);
    }
    await finished(worker);
    sent.push(...world.take());
    assert.deepEqual(byChat(sent), inline);
    // Both flips came while the run had chats left.
    assert.ok(flipsAt.every((done) => done < CHATS.length), `chats done at the flips: ${flipsAt}`);
  } finally {
    await worker.stop();
  }
});

/** A seeded pseudo-random generator (mulberry32): the same audience for the same seed. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOL = ["SPY", "AAPL", "MSFT", "QQQ", "NVDA"];

/**
 * `count` chats from `seed`: 1–3 distinct tickers of `POOL` each, in a random order; one in five
 * holds a position in its first ticker (entry 350, 400 or 450).
 */
function audience(count, seed) {
  const next = random(seed);
  return Array.from({ length: count }, (_, i) => {
    const tickers = [...POOL].sort(() => next() - 0.5).slice(0, 1 + Math.floor(next() * 3));
    const position = next() < 0.2 ? { ticker: tickers[0], entry: [350, 400, 450][Math.floor(next() * 3)] } : null;
    return { chat: 1000 + i, tickers, position };
  });
}

/** Writes `chats` into D1 as subscribers (in order), their watchlists and positions, a thousand a batch. */
async function seedD1(worker, chats) {
  const db = await worker.d1();
  for (let i = 0; i < chats.length; i += 1000) {
    const page = chats.slice(i, i + 1000);
    const users = JSON.stringify(page.map((c, j) => [String(c.chat), i + j + 1]));
    const lists = JSON.stringify(page.flatMap((c) => c.tickers.map((t) => [String(c.chat), t])));
    const positions = JSON.stringify(page.filter((c) => c.position).map((c) => [String(c.chat), c.position.ticker, c.position.entry]));
    await db.batch([
      db.prepare("INSERT INTO users (chat_id, subscription_status, subscribed_seq, created_at, updated_at) SELECT value ->> 0, 1, value ->> 1, 0, 0 FROM json_each(?1)").bind(users),
      db.prepare("INSERT INTO watchlists (chat_id, ticker, created_at) SELECT value ->> 0, value ->> 1, 0 FROM json_each(?1)").bind(lists),
      db.prepare("INSERT INTO active_positions (chat_id, ticker, entry_price, created_at, updated_at) SELECT value ->> 0, value ->> 1, value ->> 2, 0, 0 FROM json_each(?1)").bind(positions),
    ]);
  }
}

/** Starts a bot in d1_only (moved there one phase at a time) holding `chats`, in fear. */
async function d1OnlyWith(chats, bot = {}, vars = {}) {
  const { world, worker } = await startedIn("d1_only", bot, vars);
  await seedD1(worker, chats);
  world.state.index = { rating: "fear", score: 20 };
  return { world, worker };
}

const SOAK = process.env.QUEUE_SOAK === "full";
const AUDIENCE = Number(process.env.QUEUE_SUBSCRIBERS ?? (SOAK ? 10_000 : 300));

test(`${AUDIENCE} subscribers through the real queue, each chat's messages the inline run's for its watchlist and position`, { timeout: 3_600_000 }, async () => {
  const chats = audience(AUDIENCE, Number(process.env.QUEUE_SEED ?? 14));
  const key = (c) => JSON.stringify([c.tickers, c.position]);
  // The inline run's messages for each distinct watchlist and position: one chat each.
  const distinct = [...new Map(chats.map((c) => [key(c), c])).values()];
  const reference = await d1OnlyWith(distinct);
  let inline;
  try {
    await reference.worker.cron("0 9 * * 1-5");
    const sent = byChat(reference.world.take());
    inline = new Map(distinct.map((c) => [key(c), sent.get(c.chat)]));
  } finally {
    await reference.worker.stop();
  }
  const started = performance.now();
  const { world, worker } = await d1OnlyWith(chats, QUEUE, { BROADCAST_SEND_SPACING_MS: process.env.QUEUE_SPACING_MS ?? "0" });
  try {
    await worker.cron("0 9 * * 1-5");
    const run = await finished(worker, 3000);
    const got = byChat(world.take());
    for (const c of chats) assert.deepEqual(got.get(c.chat), inline.get(key(c)), `chat ${c.chat}`);
    const total = chats.reduce((n, c) => n + c.tickers.length, 0);
    assert.deepEqual([run.chats, run.chats_done, run.sent, run.messages, run.enqueued], [AUDIENCE, AUDIENCE, total, Math.ceil(AUDIENCE / 10), Math.ceil(AUDIENCE / 10)]);
    console.log(`${AUDIENCE} subscribers, ${total} messages, ${distinct.length} distinct watchlists and positions: delivered in ${Math.round(performance.now() - started)} ms`);
  } finally {
    await worker.stop();
  }
});
