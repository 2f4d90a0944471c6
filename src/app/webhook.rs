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
use crate::domain::ChatId;
use crate::http::{Request, Response};
use crate::storage::d1::{Claim, UpdateClaim};
use crate::storage::StorageError;
use futures_util::FutureExt;

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
            self.run_again(id);
            (claim, bot, reply, applied) = attempt(UpdateClaim::of(id, self.platform())).await;
        }
        // The rare ends are boxed: a fresh isolate compiles only the path its update takes.
        if let (Some(found), Some(id)) = (claim.refused(), id) {
            return self.refused(id, found).boxed_local().await;
        }
        if let Err(error) = applied {
            let failed = self.failed(message.chat, id, error, &claim);
            return failed.boxed_local().await;
        }
        send_all(&bot, &reply.messages).await;
        // The second writes, before the answer like every write of the command.
        self.after_replies().await;
        if let Some(id) = id {
            self.isolate.updates.applied(id);
        }
        Response::ok()
    }

    /// The phases changed under the update's first attempt: the flags are read again.
    fn run_again(&self, update_id: i64) {
        tracing::info!(
            update_id,
            "the phases changed under the update; running it again"
        );
        self.isolate.flags.forget();
    }

    /// Another attempt holds the update: nothing of this one landed, and no reply goes out.
    async fn refused(&self, update_id: i64, found: Claim) -> Response {
        self.after_replies().await;
        if found == Claim::AlreadyDone {
            self.isolate.updates.applied(update_id);
            acknowledged(update_id)
        } else {
            self.isolate.updates.forget(update_id);
            being_applied(update_id)
        }
    }

    /// The command failed: what it did write is mirrored before the claim is let go, and
    /// Telegram gets a 500, so it delivers the update again.
    async fn failed(
        &self,
        chat: ChatId,
        update_id: Option<i64>,
        error: StorageError,
        claim: &UpdateClaim,
    ) -> Response {
        self.after_replies().await;
        tracing::error!(
            chat = %chat,
            update_id = ?update_id,
            error = %error,
            "command failed; answering 500 so Telegram delivers the update again"
        );
        claim.release().await;
        if let Some(id) = update_id {
            self.isolate.updates.forget(id);
        }
        Response::error(500, "Internal server error")
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
