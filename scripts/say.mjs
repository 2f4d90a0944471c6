// Talk to the locally running bot: `node scripts/say.mjs "/watchlist add AAPL" [chat id]`.
// Posts a Telegram update to the worker (with the webhook secret from .dev.vars) and prints
// the bot's replies as the offline Telegram stand-in received them.
import { readFileSync } from "node:fs";

const [text, chat = "1"] = process.argv.slice(2);
if (!text) {
  console.error('usage: node scripts/say.mjs "<message text>" [chat id]');
  process.exit(2);
}
const vars = Object.fromEntries(
  readFileSync(new URL("../.dev.vars", import.meta.url), "utf8")
    .split("\n")
    .filter((line) => line.includes("=") && !line.startsWith("#"))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
);
const worker = `http://127.0.0.1:${process.env.PORT ?? 8787}`;
const standIn = `http://127.0.0.1:${process.env.STAND_IN_PORT ?? 8788}`;

const before = (await (await fetch(`${standIn}/__sent`)).json()).length;
const res = await fetch(`${worker}/`, {
  method: "POST",
  headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": vars.TELEGRAM_WEBHOOK_SECRET },
  body: JSON.stringify({ update_id: Date.now(), message: { chat: { id: Number(chat), type: "private" }, text } }),
});
console.log(`worker: ${res.status} ${await res.text()}`);
for (const message of await (await fetch(`${standIn}/__sent?since=${before}`)).json()) {
  console.log(`bot → ${message.chat_id}:\n${message.text}\n`);
}
