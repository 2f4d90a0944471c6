//! The worker's configuration, decoded once from vars and secrets at the edge.

use crate::migration::Phase;
use std::fmt;

/// A secret value: never printed (its `Debug` is redacted) and compared in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// `None` for an unset or empty value, which disables whatever the secret guards.
    pub fn new(value: Option<String>) -> Option<Self> {
        value.filter(|v| !v.is_empty()).map(Self)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison: the time taken depends on the lengths only, not on where the
    /// first differing byte is.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            diff |= usize::from(x ^ y);
        }
        diff == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

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
}

impl Config {
    /// The production endpoints, no secrets: what a deploy gets before vars and secrets apply.
    pub fn production() -> Self {
        Self {
            telegram_api_base_url: "https://api.telegram.org".into(),
            bot_token: None,
            webhook_secret: None,
            admin_chat_id: None,
            cnn_base_url: "https://production.dataviz.cnn.io".into(),
            yahoo_base_url: "https://query1.finance.yahoo.com".into(),
            admin_api_token: None,
            storage_phase_default: Phase::KvOnly,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_the_exact_value_and_never_print() {
        let secret = Secret::new(Some("s3cret".into())).unwrap();
        assert!(secret.matches("s3cret"));
        for wrong in ["", "s3cre", "s3cret ", "S3cret", "x3cret"] {
            assert!(!secret.matches(wrong), "{wrong:?}");
        }
        assert!(!format!("{secret:?}").contains("s3cret"));
        assert!(Secret::new(Some(String::new())).is_none());
    }
}
