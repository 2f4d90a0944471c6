//! `POST /`: the Telegram webhook pipeline (legacy §2.3): secret check, JSON, the message,
//! the command, then every reply sent in order before the HTTP answer.

use super::http::{Request, Response};
use super::App;
use crate::bot::commands::Command;
use crate::bot::update::Update;
use crate::bot::Reply;
use crate::storage::Repos;

const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

impl App {
    pub(super) async fn webhook(&self, request: &Request) -> Response {
        let authorised = match (&self.config.webhook_secret, request.header(SECRET_HEADER)) {
            (Some(secret), Some(given)) => secret.matches(given),
            _ => false,
        };
        if !authorised {
            return Response::error(401, "Unauthorized");
        }
        let Ok(update) = Update::parse(&request.body) else {
            return Response::error(400, "Invalid JSON");
        };
        let Some(message) = update.message else {
            return Response::ok();
        };
        let repos = Repos::kv(self.platform());
        let mut reply = Reply::default();
        let command = Command::from_text(&message.text);
        if let Err(e) = command.apply(message.chat, &repos, &mut reply).await {
            tracing::error!(
                chat = %message.chat,
                update_id = ?update.update_id,
                error = %e,
                "command failed; answering 500 so Telegram delivers the update again"
            );
            return Response::error(500, "Internal server error");
        }
        let telegram = self.telegram();
        for text in &reply.messages {
            telegram.send_message(message.chat, text).await;
        }
        Response::ok()
    }
}
