//! `POST /`: the Telegram webhook pipeline (legacy §2.3): secret check, JSON, the message,
//! the command (whose first write claims the update id, §10.8), every reply sent in order,
//! the second writes of the storage move, then the HTTP answer; the claim is marked done after
//! it. A redelivery that reaches an isolate which ran the update is answered from memory.

use super::http::{Request, Response};
use super::isolate::Seen;
use super::{send_all, App};
use crate::bot::commands::Command;
use crate::bot::update::Update;
use crate::bot::Reply;
use crate::storage::d1::{Claim, UpdateClaim};

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
        let claim = match update.update_id {
            None => UpdateClaim::none(),
            Some(id) => match self.isolate.updates.begin(id) {
                Seen::New => UpdateClaim::of(id, self.platform()),
                Seen::Applied => return acknowledged(id),
                Seen::Running => return being_applied(id),
            },
        };
        let forget = || {
            if let Some(id) = update.update_id {
                self.isolate.updates.forget(id);
            }
        };
        if command.writes() {
            claim.arm();
        }
        let bot = self.bot(claim.clone()).await;
        let mut reply = Reply::new(message.chat);
        let applied = command.apply(message.chat, &bot, &mut reply).await;
        if claim.refused().is_some() || applied.is_err() {
            // What the command did write is mirrored before the claim is let go.
            self.after_replies().await;
        }
        match (claim.refused(), update.update_id) {
            (Some(Claim::AlreadyDone), Some(id)) => {
                self.isolate.updates.applied(id);
                return acknowledged(id);
            }
            (Some(_), Some(id)) => {
                forget();
                return being_applied(id);
            }
            _ => {}
        }
        if let Err(e) = applied {
            tracing::error!(
                chat = %message.chat,
                update_id = ?update.update_id,
                error = %e,
                "command failed; answering 500 so Telegram delivers the update again"
            );
            claim.release().await;
            forget();
            return Response::error(500, "Internal server error");
        }
        send_all(&bot, &reply.messages).await;
        // The second writes, before the answer like every write of the command.
        self.after_replies().await;
        if let Some(id) = update.update_id {
            self.isolate.updates.applied(id);
        }
        Response::ok()
    }
}

/// A redelivery of an update that was applied: acknowledged, not applied again.
fn acknowledged(update_id: i64) -> Response {
    tracing::info!(update_id, "update already applied; acknowledging");
    Response::ok()
}

/// A redelivery of an update another attempt is applying: a status Telegram retries.
fn being_applied(update_id: i64) -> Response {
    tracing::info!(update_id, "update being applied by another attempt");
    Response::error(503, "Update is being processed")
}
