//! The Telegram Bot API client (legacy §5.7): `sendMessage` with the legacy body and
//! `getChat` for `/subscribers`, both through the legacy retry rules of [`crate::outbound`].

use crate::domain::{js_stringify, ChatId};
use crate::outbound::{self, host_of};
use crate::platform::{HttpRequest, HttpResponse, Platform};
use crate::secret::Secret;
use serde_json::{json, Value};

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
        let body = json!({ "chat_id": chat.get(), "text": text, "parse_mode": "Markdown" });
        self.send(chat, &body).await
    }

    /// Sends `text` as plain text (no `parse_mode`): for messages whose text Markdown would
    /// mangle, like the on-call pages full of flag names with underscores.
    pub(crate) async fn send_plain(&self, chat: ChatId, text: &str) -> Result<(), SendFailure> {
        self.send(chat, &json!({ "chat_id": chat.get(), "text": text }))
            .await
    }

    async fn send(&self, chat: ChatId, body: &Value) -> Result<(), SendFailure> {
        let outcome = match self.call("sendMessage", body).await {
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
            .call("getChat", &json!({ "chat_id": chat.get() }))
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
        let body: Value = serde_json::from_str(&response.body).ok()?;
        if body.get("ok") != Some(&Value::Bool(true)) {
            return None;
        }
        let field = |name: &str| {
            body["result"][name]
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

    async fn call(&self, method: &str, body: &Value) -> Result<HttpResponse, String> {
        let Some(token) = &self.token else {
            return Err("TELEGRAM_BOT_TOKEN_SECRET is not set".into());
        };
        let request = HttpRequest {
            method: "POST",
            url: format!("{}/bot{}/{method}", self.base_url, token.expose()),
            headers: vec![("Content-Type", "application/json".into())],
            body: Some(js_stringify(body)),
        };
        outbound::send(&self.platform, &request).await.map_err(|e| {
            // A platform error may quote the URL; keep the token out of every message.
            let host = host_of(&request.url);
            e.0.replace(&request.url, host)
                .replace(token.expose(), "<token>")
        })
    }
}

/// Telegram answers every call with a boolean `ok`; a body without one is not Telegram's.
fn has_boolean_ok(response: &HttpResponse) -> bool {
    serde_json::from_str::<Value>(&response.body).is_ok_and(|body| body["ok"].is_boolean())
}
