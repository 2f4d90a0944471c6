//! `/subscribers` (§3.11), admin only: every subscriber's display name from Telegram's
//! `getChat`, looked up 30 at a time; an entry whose lookup fails is removed and left out.

use crate::bot::text::escape_markdown;
use crate::bot::{Bot, Reply};
use crate::domain::{js_trim, ChatId, Subscriber};
use crate::telegram::ChatInfo;

/// How many `getChat` calls run at once, and the pause between such batches.
pub const LOOKUP_BATCH: usize = 30;
pub const LOOKUP_PAUSE_MS: u64 = 1_000;

/// The text every storage failure reading the list shows (§3.11, §10.3).
pub const CHAT_IDS_UNREADABLE: &str = "Failed to get chat IDs";

pub(super) async fn apply(chat: ChatId, bot: &Bot, reply: &mut Reply) {
    if !bot.is_admin(chat) {
        return;
    }
    let entries = match bot.repos.subscriptions.entries().await {
        Ok(entries) => entries,
        Err(e) => {
            tracing::error!(error = %e, "subscriber list unreadable");
            return reply.send(format!(
                "Error retrieving subscriber list: {}",
                escape_markdown(CHAT_IDS_UNREADABLE)
            ));
        }
    };
    if entries.is_empty() {
        return reply.send("Total subscribers: 0\n\nNo subscribers found.");
    }
    let lookups = bot.in_batches(&entries, |entry| lookup(bot, entry)).await;
    let mut names = Vec::new();
    for (entry, found) in entries.iter().zip(lookups) {
        match found {
            Some((chat, info)) => names.push(display_name(chat, &info)),
            None => prune(bot, entry).await,
        }
    }
    if names.is_empty() {
        return reply.send("Total subscribers: 0\n\nNo active subscribers found.");
    }
    let lines: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{}. {name}", i + 1))
        .collect();
    let text = format!("Total subscribers: {}\n\n{}", names.len(), lines.join("\n"));
    reply.send(js_trim(&text));
}

/// Telegram's `getChat` for a chat. A stray element is not looked up: it is no chat id, so
/// Telegram cannot find it (legacy asked and got a 400).
async fn lookup(bot: &Bot, entry: &Subscriber) -> Option<(ChatId, ChatInfo)> {
    match entry {
        Subscriber::Chat(chat) => bot.telegram.get_chat(*chat).await.map(|info| (*chat, info)),
        Subscriber::Stray(_) => None,
    }
}

/// An entry that failed its lookup is removed from the list (legacy fired this off unawaited;
/// awaiting it removes the same entries without racing the other removals).
async fn prune(bot: &Bot, entry: &Subscriber) {
    match bot.repos.subscriptions.forget(entry).await {
        Ok(_) => tracing::info!(entry = ?entry, "unsubscribed a chat whose getChat failed"),
        Err(e) => tracing::warn!(entry = ?entry, error = %e, "pruning an unreachable chat failed"),
    }
}

/// `@username`, else first and last name, else `User <id>`; escaped for legacy Markdown.
fn display_name(chat: ChatId, info: &ChatInfo) -> String {
    let name = match (&info.username, &info.first_name, &info.last_name) {
        (Some(username), _, _) => format!("@{username}"),
        (None, Some(first), Some(last)) => format!("{first} {last}"),
        (None, Some(first), None) => first.clone(),
        (None, None, _) => format!("User {chat}"),
    };
    escape_markdown(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_fall_back_and_are_escaped() {
        let chat = ChatId::new(42);
        let info = |u: Option<&str>, f: Option<&str>, l: Option<&str>| ChatInfo {
            username: u.map(Into::into),
            first_name: f.map(Into::into),
            last_name: l.map(Into::into),
        };
        let cases = [
            (
                info(Some("user_with_username"), Some("A"), None),
                r"@user\_with\_username",
            ),
            (info(None, Some("Jane"), Some("Doe")), "Jane Doe"),
            (info(None, Some("Bob"), None), "Bob"),
            (info(None, None, Some("Doe")), "User 42"),
        ];
        for (info, want) in cases {
            assert_eq!(display_name(chat, &info), want);
        }
    }
}
