// The JavaScript reference: a plain module worker doing what the legacy JS bot does for `/help`
// (secret check, parse the update, one sendMessage POST with the legacy help text and
// `parse_mode: Markdown`, `await response.json()`, answer `{"ok":true}`) and for `GET /` (405
// `Method not allowed`). Run in Miniflare like the Rust worker, in the same configuration and
// against the same stand-in, it gives the floor the Rust worker's numbers are divided by,
// comparable across machines.
import { fileURLToPath } from "node:url";
import { startWorker } from "../../tests/e2e/harness.mjs";

const HELP =
  "\nAvailable commands:\n/start - Subscribe to Fear and Greed Index alerts.\n/stop - Unsubscribe from Fear and Greed Index alerts.\n/now - Get trading signals for all tickers in your watchlist.\n/now TICKER - Get trading signal for a specific ticker (e.g., /now AAPL).\n/watchlist - View your watchlist.\n/watchlist add TICKER - Add ticker to your watchlist (e.g., /watchlist add AAPL).\n/watchlist remove TICKER - Remove ticker from your watchlist (e.g., /watchlist remove SPY).\n/execute TICKER PRICE [DATE] - Record execution of a signal at a specific price (e.g., /execute SPY 400.50). Optionally specify date as YYYY-MM-DD (e.g., /execute SPY 400.50 2024-01-15).\n/executions - View your execution history.\n/executions TICKER - View execution history for a specific ticker (e.g., /executions SPY).\n/help - Show this help message.\n\nNote: Scheduled broadcasts automatically skip US stock market holidays. Manual /now requests on holidays will include a market closed notice.\n";

const SCRIPT = `
const HELP = ${JSON.stringify(HELP)};
const json = (body, status = 200) => Response.json(body, { status });
export default {
  async fetch(request, env) {
    if (request.method !== "POST" || new URL(request.url).pathname !== "/") {
      return new Response("Method not allowed", { status: 405 });
    }
    if (request.headers.get("X-Telegram-Bot-Api-Secret-Token") !== env.TELEGRAM_WEBHOOK_SECRET) {
      return json({ ok: false, error: "Unauthorized" }, 401);
    }
    let update;
    try {
      update = await request.json();
    } catch {
      return json({ ok: false, error: "Invalid JSON" }, 400);
    }
    const message = update?.message || update?.edited_message;
    const text = typeof message?.text === "string" ? message.text.trim() : "";
    if (text === "/help") {
      const response = await fetch(env.TELEGRAM_API_BASE_URL + "/bot" + env.TELEGRAM_BOT_TOKEN_SECRET + "/sendMessage", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ chat_id: message.chat.id, text: HELP, parse_mode: "Markdown" }),
      });
      await response.json();
    }
    return json({ ok: true });
  },
};`;

/**
 * Starts the reference in its own Miniflare, configured as the Rust worker's is (the test
 * harness's `startWorker`: its bindings, persisted storage, structured logs, the ops worker
 * beside it), the reference script in place of the Rust build: so a ratio compares the two
 * workers' code, not two configurations. (Measured on fresh isolates, the harness's
 * configuration alone costs a first `/help` 3–4 ms and a first `GET /` 1–2 ms over a bare
 * Miniflare: in one run of 11 fresh instances each, the reference read 9.7 ms there and 13.3 ms
 * here, the Rust worker 26.4 ms.)
 * `outbound` answers its fetches. Resolves once ready, with the harness's helpers.
 */
export function startReference({ outbound }) {
  return startWorker({
    outbound,
    secretsScan: false,
    printLogs: false,
    bot: { modules: [{ type: "ESModule", path: fileURLToPath(new URL("../../build/reference.mjs", import.meta.url)), contents: SCRIPT }] },
  });
}
