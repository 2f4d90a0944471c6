//! The worker's configuration, decoded once from vars and secrets at the edge.

use crate::migration::Phase;
use crate::secret::Secret;

/// Vars and secrets from `wrangler.toml` and `wrangler secret`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base of every Bot API URL: `<base>/bot<token>/<method>`.
    pub telegram_api_base_url: String,
    pub bot_token: Option<Secret>,
    /// Must equal the `X-Telegram-Bot-Api-Secret-Token` header; unset means every webhook
    /// call is refused.
    pub webhook_secret: Option<Secret>,
    /// Chat that gets error notices and may use `/subscribers`; compared as a string.
    pub admin_chat_id: Option<String>,
    /// Base of the CNN Fear & Greed API (`<base>/index/fearandgreed/current`).
    pub cnn_base_url: String,
    /// Base of the Yahoo chart API (`<base>/v8/finance/chart/<TICKER>`).
    pub yahoo_base_url: String,
    /// Bearer token of the admin API; unset disables it (every `/admin/` call is a 404).
    pub admin_api_token: Option<Secret>,
    /// The phase of every repository whose flag is unset, or when `settings` is unreadable
    /// and no flags were ever read (the `STORAGE_PHASE_DEFAULT` var).
    pub storage_phase_default: Phase,
    /// The worker's own origin (the `PUBLIC_URL` var, e.g. `https://fear-greed-bot.<account>.workers.dev`),
    /// for the dashboard's link in on-call pages; unset, a page says so instead.
    pub public_url: Option<String>,
    /// The pause between two sends of the broadcast's queue consumer (the
    /// `BROADCAST_SEND_SPACING_MS` var; unset, [`crate::fanout::SEND_SPACING_MS`], 25 a second):
    /// the tests and the long workerd run shorten it against the Telegram stand-in.
    pub broadcast_send_spacing_ms: u64,
}
