//! `POST /`: the Telegram webhook pipeline (legacy §2.3): secret check, JSON, the message,
//! the claim on the update id (§10.8), the command, every reply sent in order, the second
//! writes of the storage move, then the HTTP answer.

use super::http::{Request, Response};
use super::{send_all, App};
use crate::bot::commands::Command;
use crate::bot::update::Update;
use crate::bot::Reply;
use crate::storage::d1::{Claim, Sql, UpdateClaims};

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
        let command = Command::from_text(&message.text);
        if command == Command::Ignored {
            return Response::ok();
        }
        let claims = UpdateClaims(Sql::new(self.platform()));
        let claimed = match update.update_id {
            None => None,
            Some(id) => match claims.claim(id).await {
                Ok(Claim::Claimed) => Some(id),
                Ok(Claim::AlreadyDone) => {
                    tracing::info!(update_id = id, "update already applied; acknowledging");
                    return Response::ok();
                }
                Ok(Claim::InProgress) => {
                    tracing::info!(update_id = id, "update being applied by another attempt");
                    return Response::error(503, "Update is being processed");
                }
                // Without D1 the update runs unguarded: a lost reply is worse than a rare
                // duplicate.
                Err(e) => {
                    tracing::error!(update_id = id, error = %e, "claiming the update failed; running it anyway");
                    None
                }
            },
        };
        let bot = self.bot().await;
        let mut reply = Reply::new(message.chat);
        let applied = command.apply(message.chat, &bot, &mut reply).await;
        if let Err(e) = applied {
            // What the command did write is mirrored before the claim is let go.
            self.after_replies().await;
            tracing::error!(
                chat = %message.chat,
                update_id = ?update.update_id,
                error = %e,
                "command failed; answering 500 so Telegram delivers the update again"
            );
            if let Some(id) = claimed {
                if let Err(e) = claims.release(id).await {
                    tracing::error!(update_id = id, error = %e, "releasing the claim failed; it expires on its own");
                }
            }
            return Response::error(500, "Internal server error");
        }
        send_all(&bot, &reply.messages).await;
        // Before the update counts as done, like every write of the command: an update cut
        // short here is never acknowledged as applied with its second writes missing.
        self.after_replies().await;
        if let Some(id) = claimed {
            if let Err(e) = claims.finish(id).await {
                tracing::error!(update_id = id, error = %e, "marking the update done failed");
            }
        }
        Response::ok()
    }
}
