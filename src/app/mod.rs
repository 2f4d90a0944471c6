//! The application behind the worker's two entry points, written against the platform traits
//! so it runs the same in workerd and in native tests: HTTP routing (`http`), the Telegram
//! webhook (`webhook`), cron dispatch (`cron`) and configuration (`config`).

pub mod config;
pub mod cron;
pub mod http;
mod webhook;

use crate::platform::Platform;
use crate::telegram::Telegram;
use config::Config;

/// Everything a request or a cron run needs: the platform and the configuration.
pub struct App {
    platform: Platform,
    config: Config,
}

impl App {
    pub fn new(platform: Platform, config: Config) -> Self {
        Self { platform, config }
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    fn telegram(&self) -> Telegram {
        Telegram::new(
            self.platform.http.clone(),
            &self.config.telegram_api_base_url,
            self.config.bot_token.clone(),
        )
    }
}
