//! `POST /`: the Telegram webhook pipeline (legacy §2.3): secret check, JSON, the message,
//! the command (whose first write claims the update id, §10.8), every reply sent in order,
//! the second writes of the storage move, then the HTTP answer; the claim is marked done after
//! it. A redelivery that reaches an isolate which ran the update is answered from memory. An
//! attempt whose claim found the phases changed since its flags were read runs once more.

use super::isolate::Seen;
use super::{send_all, App};
use crate::bot::commands::Command;
use crate::bot::update::Update;
use crate::bot::Reply;
use crate::http::{Request, Response};
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
        let id = update.update_id;
        let claim = match id {
            None => UpdateClaim::none(),
            Some(id) => match self.isolate.updates.begin(id) {
                Seen::New => UpdateClaim::of(id, self.platform()),
                Seen::Applied => return acknowledged(id),
                Seen::Running => return being_applied(id),
            },
        };
        // What this isolate remembers of the update once the attempt is over.
        let settle = |applied: bool| match (id, applied) {
            (Some(id), true) => self.isolate.updates.applied(id),
            (Some(id), false) => self.isolate.updates.forget(id),
            (None, _) => {}
        };
        let (chat, command) = (message.chat, &command);
        let attempt = |claim: UpdateClaim| async move {
            if command.writes() {
                claim.arm();
            }
            let bot = self.bot(claim.clone());
            let mut reply = Reply::new(chat);
            let applied = command.clone().apply(chat, &bot, &mut reply).await;
            (claim, bot, reply, applied)
        };
        let (mut claim, mut bot, mut reply, mut applied) = attempt(claim).await;
        if let (true, Some(id)) = (claim.fenced(), id) {
            // A flip this isolate had not seen yet: nothing landed, so the update runs once
            // more on the flags as they are now (a second flip meanwhile fails it with 500).
            tracing::info!(
                update_id = id,
                "the phases changed under the update; running it again"
            );
            self.isolate.flags.forget();
            (claim, bot, reply, applied) = attempt(UpdateClaim::of(id, self.platform())).await;
        }
        if let (Some(found), Some(id)) = (claim.refused(), id) {
            // Nothing of this attempt landed; no reply goes out.
            self.after_replies().await;
            settle(found == Claim::AlreadyDone);
            return match found {
                Claim::AlreadyDone => acknowledged(id),
                _ => being_applied(id),
            };
        }
        if let Err(e) = applied {
            // What the command did write is mirrored before the claim is let go.
            self.after_replies().await;
            tracing::error!(
                chat = %message.chat,
                update_id = ?id,
                error = %e,
                "command failed; answering 500 so Telegram delivers the update again"
            );
            claim.release().await;
            settle(false);
            return Response::error(500, "Internal server error");
        }
        send_all(&bot, &reply.messages).await;
        // The second writes, before the answer like every write of the command.
        self.after_replies().await;
        settle(true);
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
