// Canned market data for the offline stand-ins (scripts/stand-in.mjs) and the workerd suite:
// CNN Fear & Greed answers and Yahoo chart answers in the shapes the real APIs return.

const DAY = 86_400;

/** A CNN `/index/fearandgreed/current` body. */
export function fearGreedBody({ rating = "fear", score = 27.4, now = Date.now() } = {}) {
  return {
    score,
    rating,
    timestamp: new Date(now).toISOString(),
    previous_close: score + 1.7,
    previous_1_week: score + 6.2,
    previous_1_month: score - 4.1,
    previous_1_year: 58.9,
  };
}

/** A Yahoo `/v8/finance/chart/<T>` body for daily bars (oldest first) and a current price. */
export function chartBody(ticker, price, bars) {
  return {
    chart: {
      result: [
        {
          meta: { currency: "USD", symbol: ticker, regularMarketPrice: price },
          timestamp: bars.map((b) => b.timestamp),
          indicators: {
            quote: [
              {
                open: bars.map((b) => b.open),
                high: bars.map((b) => b.high),
                low: bars.map((b) => b.low),
                close: bars.map((b) => b.close),
                volume: bars.map((b) => b.volume),
              },
            ],
          },
        },
      ],
      error: null,
    },
  };
}

/**
 * The spec's "linear" series (legacy-bot.md §9.10): 200 bars, close_i = 400 - (200 - i)·0.5,
 * open = close·0.999, high = close·1.01, low = close·0.99, volume 1e6. The dumps of its
 * Appendix A pair it with a current price of 380.
 */
export function linearBars(endSec = Math.floor(Date.now() / 1000)) {
  return Array.from({ length: 200 }, (_, i) => {
    const close = 400 - (200 - i) * 0.5;
    return { timestamp: endSec - (199 - i) * DAY, open: close * 0.999, close, high: close * 1.01, low: close * 0.99, volume: 1e6 };
  });
}

/** Rough price levels for well-known tickers; others get one derived from their name. */
const LEVELS = { SPY: 592.4, QQQ: 508.1, AAPL: 229.9, MSFT: 417.3, NVDA: 141.2, TSLA: 338.7, "BRK.B": 472.5, VOO: 544.6 };

/**
 * About 206 trading days of plausible history for any ticker: a drift, a slow swing and a
 * wobble, deterministic per ticker, ending in a dip so fear days show BUY signals.
 */
export function cannedChart(ticker, endSec = Math.floor(Date.now() / 1000)) {
  const seed = [...ticker].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 997, 7);
  const level = LEVELS[ticker] ?? 20 + (seed % 380);
  const n = 206;
  const bars = Array.from({ length: n }, (_, i) => {
    const t = i / n;
    const close = level * (0.9 + 0.12 * t + 0.04 * Math.sin(i / 9 + seed) + 0.01 * Math.sin(i * 1.7));
    const round = (x) => Math.round(x * 100) / 100;
    return {
      timestamp: endSec - (n - 1 - i) * DAY,
      open: round(close * 0.998),
      high: round(close * 1.009),
      low: round(close * 0.991),
      close: round(close),
      volume: 40e6 + ((seed * (i + 1)) % 20) * 1e6,
    };
  });
  const price = Math.round(bars.at(-1).close * 0.965 * 100) / 100;
  return chartBody(ticker, price, bars);
}
