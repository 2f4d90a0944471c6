//! Market data from the outside world: the CNN Fear & Greed Index (through the 5-minute cache)
//! and Yahoo's daily chart, fetched with the legacy URLs, headers and retry rules (§5.2–§5.4).

mod fear_greed;
mod yahoo;

use crate::outbound::reason_phrase;
use crate::platform::{HttpRequest, HttpResponse, Platform};

/// A market-data failure; its text is what the admin notice and the logs show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct MarketError(pub String);

/// The two market-data sources, at their configured base URLs.
pub(crate) struct Market {
    platform: Platform,
    cnn_base_url: String,
    yahoo_base_url: String,
}

/// The browser-like headers the legacy bot sent to CNN and Yahoo (§5.2).
const BROWSER_HEADERS: [(&str, &str); 14] = [
    ("Accept", "application/json"),
    ("Accept-Language", "en-US,en;q=0.9,ro;q=0.8"),
    ("Cache-Control", "max-age=0"),
    ("Dnt", "1"),
    ("Priority", "u=0, i"),
    (
        "Sec-Ch-Ua",
        "\"Chromium\";v=\"142\", \"Google Chrome\";v=\"142\", \"Not_A Brand\";v=\"99\"",
    ),
    ("Sec-Ch-Ua-Mobile", "?0"),
    ("Sec-Ch-Ua-Platform", "\"Windows\""),
    ("Sec-Fetch-Dest", "document"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Site", "none"),
    ("Sec-Fetch-User", "?1"),
    ("Upgrade-Insecure-Requests", "1"),
    (
        "User-Agent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
    ),
];

impl Market {
    pub(crate) fn new(platform: Platform, cnn_base_url: &str, yahoo_base_url: &str) -> Self {
        Self {
            platform,
            cnn_base_url: cnn_base_url.trim_end_matches('/').to_owned(),
            yahoo_base_url: yahoo_base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// A GET with the browser headers, through the legacy retry rules; an answer that is not
    /// 2xx is the legacy `Failed to fetch <what>: <status> <reason>`.
    async fn get(&self, url: String, what: &str) -> Result<HttpResponse, MarketError> {
        let request = HttpRequest {
            method: "GET",
            url,
            headers: BROWSER_HEADERS
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned()))
                .collect(),
            body: None,
        };
        let response = crate::outbound::send(&self.platform, &request)
            .await
            .map_err(|e| MarketError(e.0))?;
        if !response.is_success() {
            return Err(MarketError(format!(
                "Failed to fetch {what}: {} {}",
                response.status,
                reason_phrase(response.status)
            )));
        }
        Ok(response)
    }
}
