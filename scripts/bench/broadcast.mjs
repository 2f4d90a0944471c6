// One broadcast cron to 1,000 subscribers (kv_only), in fear and in greed: outbound requests,
// charts fetched, messages sent and wall time.

/** Seeds 1,000 subscribers with 1–3 watchlist tickers each and prints both broadcasts. */
export async function printBroadcast({ world, worker, kv }) {
  const ids = Array.from({ length: 1000 }, (_, i) => 100_000 + i);
  await kv.put("chat_ids", JSON.stringify(ids));
  for (const id of ids) {
    const list = id % 3 === 0 ? ["SPY"] : id % 3 === 1 ? ["SPY", "AAPL"] : ["SPY", "AAPL", "MSFT"];
    await kv.put(`watchlist:${id}`, JSON.stringify(list));
  }
  console.log("\nOne broadcast cron, 1,000 subscribers (2,000 watchlist tickers, 3 distinct):");
  for (const rating of ["Fear", "Greed"]) {
    await kv.delete("fear_greed_cache");
    world.state.index = { rating, score: 25 };
    world.requests.length = 0;
    const started = performance.now();
    await worker.cron("0 9 * * 1-5");
    const wall = performance.now() - started;
    const sent = world.take().length;
    const charts = world.requests.filter((u) => u.includes("/v8/finance/chart/")).length;
    console.log(
      `${rating.padEnd(6)} outbound ${String(world.requests.length).padStart(5)}  charts ${String(charts).padStart(3)}  messages ${String(sent).padStart(5)}  wall ${wall.toFixed(0)} ms`,
    );
  }
}
