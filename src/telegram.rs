//! The Telegram Bot API client: `sendMessage` with the legacy body (legacy §5.7).

use crate::app::config::Secret;
use crate::domain::{js_stringify, ChatId};
use crate::platform::{HttpClient, HttpRequest};
use serde_json::json;
use std::rc::Rc;

/// Sends the bot's messages.
pub struct Telegram {
    http: Rc<dyn HttpClient>,
    base_url: String,
    token: Option<Secret>,
}

impl Telegram {
    pub fn new(http: Rc<dyn HttpClient>, base_url: &str, token: Option<Secret>) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// Sends `text` with legacy Markdown; never fails its caller, reports whether Telegram
    /// accepted it. Failures are logged without the URL, which holds the token.
    pub async fn send_message(&self, chat: ChatId, text: &str) -> bool {
        let Some(token) = &self.token else {
            tracing::error!(chat = %chat, "cannot send: TELEGRAM_BOT_TOKEN_SECRET is not set");
            return false;
        };
        let body = json!({ "chat_id": chat.get(), "text": text, "parse_mode": "Markdown" });
        let request = HttpRequest {
            method: "POST",
            url: format!("{}/bot{}/sendMessage", self.base_url, token.expose()),
            headers: vec![("Content-Type", "application/json".into())],
            body: Some(js_stringify(&body)),
        };
        match self.http.send(&request).await {
            Ok(response) if response.is_success() => true,
            Ok(response) => {
                tracing::warn!(chat = %chat, status = response.status, "sendMessage refused");
                false
            }
            Err(e) => {
                tracing::warn!(chat = %chat, error = %e, "sendMessage failed");
                false
            }
        }
    }
}
