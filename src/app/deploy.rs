//! `POST /deploy-notify` (legacy §2.4, §8.4, §8.5): the deploy pipeline tells every
//! subscriber about a new version. The credential is the bot token, from the bearer header or
//! the body; the answer reports each failed send. With a queue bound the notification goes
//! through the broadcast's fan-out (`queued`, one run `deploy-<ms>-<commit>`) and the answer
//! names the run; the text is the same.

use super::App;
use crate::bot::commands::CHAT_IDS_UNREADABLE;
use crate::domain::{Json, Subscriber};
use crate::fanout::Work;
use crate::http::{Request, Response};
use crate::storage::d1::UpdateClaim;
use crate::telegram::SendFailure;
use serde_json::{json, Value};

impl App {
    pub(super) async fn deploy_notify(&self, request: &Request) -> Response {
        // The body is parsed first: without JSON, even a request without credentials gets 500.
        let Ok(body) = serde_json::from_slice::<Json>(&request.body) else {
            return Response::error(500, "Internal server error");
        };
        // Reading a property of a JSON `null` body threw in the legacy bot: 500.
        let token = match request.header("authorization") {
            Some(header) if header.starts_with("Bearer ") => Some(&header["Bearer ".len()..]),
            _ if body.is_null() => return Response::error(500, "Internal server error"),
            _ => body.get("token").and_then(Json::as_str),
        };
        let authorised = match (&self.config.bot_token, token) {
            (Some(secret), Some(token)) => secret.matches(token),
            _ => false,
        };
        if !authorised {
            return Response::error(401, "Invalid token");
        }
        if body.is_null() {
            return Response::error(500, "Internal server error");
        }
        let field = |name: &str| body.get(name).filter(|v| v.truthy());
        let (Some(hash), Some(message), Some(url)) = (
            field("commitHash"),
            field("commitMessage"),
            field("commitUrl"),
        ) else {
            return Response::error(
                400,
                "Missing required fields: commitHash, commitMessage, commitUrl",
            );
        };
        // `commitMessage.split` threw for anything but a string: 500.
        let Some(message) = message.as_str() else {
            return Response::error(500, "Internal server error");
        };
        let (hash, url) = (hash.to_js_string(), url.to_js_string());
        let first_line = message.split('\n').next().unwrap_or_default();
        // The commit message comes from the operator, not a user: it is sent unescaped (§10.3).
        let text = format!(
            "🚀 New version deployed!\n\nCommit: `{hash}`\nMessage: {first_line}\n\n🔗 [View on GitHub]({url})"
        );
        let broadcast = self.notify_subscribers(&text, &hash).await;
        Response::json(200, &json!({ "success": true, "broadcast": broadcast }))
    }

    /// Sends `text` to every subscriber, 30 at a time with a second between batches; the
    /// legacy report of who failed. With a queue, enqueues it instead: the report names the run.
    async fn notify_subscribers(&self, text: &str, hash: &str) -> Value {
        let bot = self.bot(UpdateClaim::none());
        let entries = match bot.repos.subscriptions.entries().await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(error = %e, "deploy notification: subscriber list unreadable");
                return json!({
                    "totalSubscribers": 0, "successful": 0, "failed": 0,
                    "errors": [{ "chatId": "unknown", "error": CHAT_IDS_UNREADABLE }],
                });
            }
        };
        if let Some(queue) = self.queue() {
            // A stored entry that is no chat is left out: Telegram would refuse it.
            let chats: Vec<i64> = entries
                .iter()
                .filter_map(|entry| match entry {
                    Subscriber::Chat(chat) => Some(chat.get()),
                    Subscriber::Stray(_) => None,
                })
                .collect();
            let run = format!("deploy-{}-{hash}", self.platform().clock.now_ms());
            let work = Work::Deploy {
                text: text.to_owned(),
            };
            return match self
                .enqueue(queue, &run, "deploy", &chats, &[], &work)
                .await
            {
                Ok(messages) => json!({
                    "totalSubscribers": entries.len(), "queued": run, "messages": messages,
                }),
                Err(error) => json!({
                    "totalSubscribers": entries.len(), "successful": 0, "failed": 0,
                    "errors": [{ "chatId": "unknown", "error": error }],
                }),
            };
        }
        let telegram = &bot.telegram;
        let sends = bot
            .in_batches(&entries, |entry| async move {
                match entry {
                    Subscriber::Chat(chat) => telegram.send_message(*chat, text).await,
                    // Telegram refuses a chat id that is none (legacy sent it and got a 400).
                    Subscriber::Stray(_) => Err(SendFailure::Refused),
                }
            })
            .await;
        let mut errors = Vec::new();
        for (entry, outcome) in entries.iter().zip(sends) {
            if let Err(failure) = outcome {
                let chat_id = match entry {
                    Subscriber::Chat(chat) => json!(chat.get()),
                    Subscriber::Stray(stored) => stored.clone(),
                };
                errors.push(json!({ "chatId": chat_id, "error": failure.to_string() }));
            }
        }
        let total = entries.len();
        json!({
            "totalSubscribers": total,
            "successful": total - errors.len(),
            "failed": errors.len(),
            "errors": errors,
        })
    }
}
