//! `/start`: subscribe, give a new subscriber its default watchlist, always confirm (§3.3).

use crate::bot::Reply;
use crate::domain::ChatId;
use crate::storage::Repos;

pub(super) async fn apply(chat: ChatId, repos: &Repos, reply: &mut Reply) {
    // A failed watchlist step is logged by the unit; no failure is ever shown.
    if let Err(e) = repos.units.enrol(chat).await {
        tracing::error!(chat = %chat, error = %e, "subscribe failed; confirming anyway, as legacy does");
    }
    reply.send("You've subscribed to Fear and Greed Index alerts.");
}
