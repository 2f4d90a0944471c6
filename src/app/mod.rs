//! The application behind the worker's two entry points, written against the platform traits
//! so it runs the same in workerd and in native tests: HTTP routing (`http`) and cron dispatch
//! (`cron`).

pub mod cron;
pub mod http;

use crate::platform::Platform;

/// Everything a request or a cron run needs: the platform's stores and clock.
pub struct App {
    platform: Platform,
}

impl App {
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }
}
