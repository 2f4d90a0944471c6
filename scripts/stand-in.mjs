// Offline stand-in for the worker's outbound services during a local run (scripts/dev.sh):
// answers Telegram Bot API calls, prints every message the bot sends, and keeps them so
// scripts/say.mjs can show the replies to what it sent. Listens on 127.0.0.1:${STAND_IN_PORT:-8788}.
import { createServer } from "node:http";

const port = Number(process.env.STAND_IN_PORT ?? 8788);
const sent = [];

const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString("utf8");
  const url = new URL(req.url, `http://${req.headers.host}`);
  const reply = (status, value) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };

  if (url.pathname === "/__sent") return reply(200, sent.slice(Number(url.searchParams.get("since") ?? 0)));
  const telegram = url.pathname.match(/^\/bot[^/]+\/(\w+)$/);
  if (telegram?.[1] === "sendMessage") {
    const message = JSON.parse(body);
    sent.push(message);
    console.log(`bot → ${message.chat_id}:\n${message.text}\n`);
    return reply(200, { ok: true, result: { message_id: sent.length } });
  }
  console.log(`stand-in: no answer for ${req.method} ${url.pathname}`);
  return reply(404, { ok: false, description: "Not Found" });
});

server.listen(port, "127.0.0.1", () => console.log(`stand-in for Telegram on http://127.0.0.1:${port}`));
