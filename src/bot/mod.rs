//! The bot: Telegram updates in, replies out, storage only through the repository traits.
//! The chain is bytes → [`update::Update`] → [`commands::Command`] → `apply` → [`Reply`].

pub mod commands;
mod text;
pub mod update;

/// The messages a command sends back to its chat, in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reply {
    pub messages: Vec<String>,
}

impl Reply {
    pub fn send(&mut self, text: impl Into<String>) {
        self.messages.push(text.into());
    }
}
