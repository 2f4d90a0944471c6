//! `/start`: subscribe, give a new subscriber its default watchlist, always confirm (§3.3).

use crate::bot::Reply;
use crate::domain::ChatId;
use crate::storage::Repos;

pub(super) async fn apply(chat: ChatId, repos: &Repos, reply: &mut Reply) {
    match repos.subscriptions.subscribe(chat).await {
        Ok(true) => {
            // Reading creates the default watchlist; a failure here is logged, never shown.
            if let Err(e) = repos.watchlists.watchlist(chat).await {
                tracing::warn!(chat = %chat, error = %e, "default watchlist for a new subscriber failed");
            }
        }
        Ok(false) => {}
        Err(e) => {
            tracing::error!(chat = %chat, error = %e, "subscribe failed; confirming anyway, as legacy does")
        }
    }
    reply.send("You've subscribed to Fear and Greed Index alerts.");
}
