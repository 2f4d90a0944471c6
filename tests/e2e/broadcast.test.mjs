// The broadcast crons in workerd: fear sends one message per subscriber and watchlist ticker,
// greed sends nothing, and a holiday or a weekend fetches nothing at all. Each case pins the
// worker's clock to its day.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";
import { BUY_IN_FEAR, createStandIn, header, linear380 } from "./stand-in.mjs";

const TUESDAY_2026_11_24_0900 = 1795510800000;
const THANKSGIVING_2026_11_26_0900 = 1795683600000;
const SATURDAY_2026_11_28_0900 = 1795856400000;

async function withWorker(startMs, check) {
  const world = createStandIn();
  const worker = await startWorker({ outbound: world.outbound, vars: { TEST_CLOCK_START_MS: String(startMs) } });
  try {
    const kv = await worker.kv();
    await kv.put("chat_ids", "[1,2]");
    await kv.put("watchlist:2", '["AAPL","MSFT"]');
    await check(worker, world, kv);
  } finally {
    await worker.stop();
  }
}

test("in fear every subscriber gets one alert per ticker; in greed nobody gets anything", async () => {
  await withWorker(TUESDAY_2026_11_24_0900, async (worker, world, kv) => {
    world.state.index = { rating: "extreme fear", score: 10 };
    await worker.cron("0 9 * * 1-5");
    const index = "extreme fear (10.00%)";
    const alert = (ticker) => `${header("10.00", "EXTREME FEAR")}\n\n${linear380(ticker, BUY_IN_FEAR(index))}`;
    assert.deepEqual(world.take(), [
      [1, alert("SPY")],
      [2, alert("AAPL")],
      [2, alert("MSFT")],
    ]);
    assert.equal(await kv.get("watchlist:1"), '["SPY"]');

    await kv.delete("fear_greed_cache");
    world.state.index = { rating: "greed", score: 75 };
    world.requests.length = 0;
    await worker.cron("30 14 * * 1-5");
    assert.deepEqual(world.take(), []);
    assert.deepEqual(world.requests, ["http://cnn.stand-in/index/fearandgreed/current"]);
  });
});

test("on a holiday and on a weekend the broadcast fetches and sends nothing", async () => {
  for (const day of [THANKSGIVING_2026_11_26_0900, SATURDAY_2026_11_28_0900]) {
    await withWorker(day, async (worker, world) => {
      await worker.cron("0 9 * * 1-5");
      assert.deepEqual(world.requests, [], String(day));
    });
  }
});
