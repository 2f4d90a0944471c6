//! The commands, one module each, and the dispatch from a message's text (legacy §3.1):
//! case-sensitive, exact for `/start`, `/stop` and `/help`, by prefix for `/watchlist`.

mod help;
mod start;
mod stop;
mod watchlist;

pub use watchlist::Watchlist;

use super::Reply;
use crate::domain::ChatId;
use crate::storage::{Repos, StorageError};

/// A command the bot understood, or `Ignored` for any other text.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Start,
    Stop,
    Help,
    Watchlist(Watchlist),
    /// Text the bot does not answer.
    Ignored,
}

impl Command {
    /// Dispatches on the trimmed text, in the legacy order.
    pub fn from_text(text: &str) -> Self {
        match text {
            "/start" => Self::Start,
            "/stop" => Self::Stop,
            "/help" => Self::Help,
            _ if text.starts_with("/watchlist") => Self::Watchlist(Watchlist::parse(text)),
            _ => Self::Ignored,
        }
    }

    /// Runs the command for `chat`. An `Err` is a storage failure the legacy bot let escape
    /// (HTTP 500, no reply, Telegram delivers the update again).
    pub async fn apply(
        self,
        chat: ChatId,
        repos: &Repos,
        reply: &mut Reply,
    ) -> Result<(), StorageError> {
        match self {
            Self::Start => start::apply(chat, repos, reply).await,
            Self::Stop => stop::apply(chat, repos, reply).await,
            Self::Help => help::apply(reply),
            Self::Watchlist(command) => command.apply(chat, repos, reply).await?,
            Self::Ignored => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_is_exact_or_by_prefix_as_in_legacy() {
        let cases = [
            ("/start", Command::Start),
            ("/stop", Command::Stop),
            ("/help", Command::Help),
            ("/start@MyBot", Command::Ignored),
            ("/START", Command::Ignored),
            ("/start now", Command::Ignored),
            ("/help@MyBot", Command::Ignored),
            ("hello", Command::Ignored),
            ("/watchlistfoo", Command::Watchlist(Watchlist::Show)),
        ];
        for (text, want) in cases {
            assert_eq!(Command::from_text(text), want, "{text}");
        }
    }
}
