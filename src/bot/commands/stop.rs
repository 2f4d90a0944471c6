//! `/stop`: unsubscribe, keep the chat's data, always confirm (§3.4).

use crate::bot::Reply;
use crate::domain::ChatId;
use crate::storage::Repos;

pub(super) async fn apply(chat: ChatId, repos: &Repos, reply: &mut Reply) {
    if let Err(e) = repos.subscriptions.unsubscribe(chat).await {
        tracing::error!(chat = %chat, error = %e, "unsubscribe failed; confirming anyway, as legacy does");
    }
    reply.send("You've unsubscribed from Fear and Greed Index alerts.");
}
