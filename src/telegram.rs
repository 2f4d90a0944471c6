//! The Telegram Bot API client (legacy §5.7): `sendMessage` with the legacy body and
//! `getChat` for `/subscribers`, both through the legacy retry rules of [`crate::outbound`].

use crate::domain::{js_object_of, parse_json, ChatId, Json};
use crate::outbound::{self, host_of};
use crate::platform::{HttpRequest, HttpResponse, Platform};
use crate::secret::Secret;

/// Why a message did not go out. `Display` is the text `/deploy-notify` reports (§8.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SendFailure {
    /// Telegram answered, but not with success (blocked, chat not found, bad Markdown...).
    #[error("Unknown error")]
    Refused,
    /// No answer after the retries: the network error's message.
    #[error("{0}")]
    Network(String),
}

/// Telegram's answer to one `sendMessage` attempt, as the queued broadcast acts on it
/// (docs/broadcast-queue.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Delivered,
    /// 429: Telegram asks for a pause of this many seconds (`parameters.retry_after`).
    RetryAfter(u32),
    /// Any other refusal (403 blocked, 400 chat not found, a 2xx without `ok`): another
    /// attempt would get the same.
    Refused,
    /// A 5xx, a 408 or no answer at all: worth another attempt later.
    Unavailable,
}

/// The pause asked by a 429 that does not say how long.
const DEFAULT_RETRY_AFTER_S: u32 = 5;

/// Classifies the answer to one attempt (`None`: no answer).
pub(crate) fn classify(response: Option<&HttpResponse>) -> Answer {
    let Some(response) = response else {
        return Answer::Unavailable;
    };
    match response.status {
        _ if response.is_success() && has_boolean_ok(response) => Answer::Delivered,
        429 => Answer::RetryAfter(
            parse_json::<Json>(&response.body)
                .ok()
                .and_then(|body| body.at("parameters").at("retry_after").as_u64())
                .map_or(DEFAULT_RETRY_AFTER_S, |s| s.min(u64::from(u32::MAX)) as u32),
        ),
        408 | 500..=599 => Answer::Unavailable,
        _ => Answer::Refused,
    }
}

/// What `getChat` tells about a chat; the fields `/subscribers` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChatInfo {
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// Sends the bot's messages and looks up chats.
pub(crate) struct Telegram {
    platform: Platform,
    base_url: String,
    token: Option<Secret>,
}

impl Telegram {
    pub(crate) fn new(platform: Platform, base_url: &str, token: Option<Secret>) -> Self {
        Self {
            platform,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// Sends `text` with legacy Markdown. Never fails its caller's request: the outcome is
    /// returned for those who count it, and failures are logged without the URL (it holds the
    /// token).
    pub(crate) async fn send_message(&self, chat: ChatId, text: &str) -> Result<(), SendFailure> {
        self.send(chat, markdown(chat, text)).await
    }

    /// Sends `text` like [`Telegram::send_message`], in one attempt: the caller retries.
    pub(crate) async fn send_message_once(&self, chat: ChatId, text: &str) -> Answer {
        match self
            .call("sendMessage", markdown(chat, text), Attempts::One)
            .await
        {
            Ok(response) => {
                let answer = classify(Some(&response));
                if answer != Answer::Delivered {
                    let status = response.status;
                    tracing::warn!(chat = %chat, status, answer = ?answer, "sendMessage not delivered");
                }
                answer
            }
            Err(message) => {
                tracing::warn!(chat = %chat, error = %message, "sendMessage failed");
                Answer::Unavailable
            }
        }
    }

    /// Sends `text` as plain text (no `parse_mode`): for messages whose text Markdown would
    /// mangle, like the on-call pages full of flag names with underscores.
    pub(crate) async fn send_plain(&self, chat: ChatId, text: &str) -> Result<(), SendFailure> {
        self.send(chat, body(chat, &[("text", text)])).await
    }

    async fn send(&self, chat: ChatId, body: String) -> Result<(), SendFailure> {
        let outcome = match self.call("sendMessage", body, Attempts::Legacy).await {
            Ok(response) if response.is_success() && has_boolean_ok(&response) => Ok(()),
            Ok(response) => {
                tracing::warn!(chat = %chat, status = response.status, "sendMessage refused");
                Err(SendFailure::Refused)
            }
            Err(message) => {
                tracing::warn!(chat = %chat, error = %message, "sendMessage failed");
                Err(SendFailure::Network(message))
            }
        };
        outcome
    }

    /// `getChat`; `None` when the lookup failed in any way (HTTP error, `ok:false`, network).
    pub(crate) async fn get_chat(&self, chat: ChatId) -> Option<ChatInfo> {
        let response = match self
            .call("getChat", body(chat, &[]), Attempts::Legacy)
            .await
        {
            Ok(response) if response.is_success() => response,
            Ok(response) => {
                tracing::info!(chat = %chat, status = response.status, "getChat refused");
                return None;
            }
            Err(message) => {
                tracing::warn!(chat = %chat, error = %message, "getChat failed");
                return None;
            }
        };
        let body: Json = parse_json(&response.body).ok()?;
        if body.get("ok") != Some(&Json::Bool(true)) {
            return None;
        }
        let field = |name: &str| {
            body.at("result")
                .at(name)
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Some(ChatInfo {
            username: field("username"),
            first_name: field("first_name"),
            last_name: field("last_name"),
        })
    }

    async fn call(
        &self,
        method: &str,
        body: String,
        attempts: Attempts,
    ) -> Result<HttpResponse, String> {
        let Some(token) = &self.token else {
            return Err("TELEGRAM_BOT_TOKEN_SECRET is not set".into());
        };
        // Pushed, not `format!`ed: a `/help` then runs none of `core::fmt`.
        let mut url = String::new();
        url.extend([&self.base_url, "/bot", token.expose(), "/", method]);
        let request = HttpRequest {
            method: "POST",
            url,
            headers: vec![("Content-Type", "application/json".into())],
            body: Some(body),
        };
        let response = match attempts {
            Attempts::Legacy => outbound::send(&self.platform, &request).await,
            Attempts::One => outbound::attempt(&self.platform, &request).await,
        };
        response.map_err(|e| scrubbed(e.0, &request.url, token))
    }
}

/// A platform error may quote the URL: the message without the token. Apart from its caller,
/// which a fresh isolate then compiles without it.
#[inline(never)]
fn scrubbed(message: String, url: &str, token: &Secret) -> String {
    message
        .replace(url, host_of(url))
        .replace(token.expose(), "<token>")
}

/// A call's JSON body for `chat`, with `fields`: the legacy client's `JSON.stringify` of
/// `{ chat_id, ...fields }`.
fn body(chat: ChatId, fields: &[(&str, &str)]) -> String {
    js_object_of(("chat_id", chat.get() as f64), fields)
}

/// `sendMessage`'s body for `text` in legacy Markdown.
fn markdown(chat: ChatId, text: &str) -> String {
    body(chat, &[("text", text), ("parse_mode", "Markdown")])
}

/// How many attempts a call makes.
#[derive(Clone, Copy)]
enum Attempts {
    /// The legacy client's retries ([`outbound::send`]).
    Legacy,
    One,
}

/// Telegram answers every call with a boolean `ok`; a body without one is not Telegram's.
fn has_boolean_ok(response: &HttpResponse) -> bool {
    parse_json::<Json>(&response.body).is_ok_and(|body| body.at("ok").is_boolean())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        classify(Some(&HttpResponse {
            status,
            body: body.into(),
        }))
    }

    #[test]
    fn answers_are_classified_as_the_queued_broadcast_acts_on_them() {
        assert_eq!(answer(200, r#"{"ok":true,"result":{}}"#), Answer::Delivered);
        assert_eq!(answer(200, "<html>"), Answer::Refused);
        let too_many = r#"{"ok":false,"error_code":429,"parameters":{"retry_after":17}}"#;
        assert_eq!(answer(429, too_many), Answer::RetryAfter(17));
        assert_eq!(answer(429, "{}"), Answer::RetryAfter(DEFAULT_RETRY_AFTER_S));
        let blocked = r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#;
        assert_eq!(answer(403, blocked), Answer::Refused);
        assert_eq!(answer(400, r#"{"ok":false}"#), Answer::Refused);
        for status in [408, 500, 502, 503, 504] {
            assert_eq!(answer(status, ""), Answer::Unavailable, "{status}");
        }
        assert_eq!(classify(None), Answer::Unavailable);
    }
}
