//! [`AdminContext`]: what an admin request may use of the app (the platform, the isolate's
//! flag cache, the two settings the API reads and what limits failed bearer attempts), so no
//! handler sees the whole `App`.

use super::AdminError;
use crate::migration::flags::Flags;
use crate::migration::{FlagCache, Phase};
use crate::platform::window::FixedWindows;
use crate::platform::{Platform, RateLimiter};
use crate::secret::Secret;

/// The part of the app one admin request borrows.
pub(crate) struct AdminContext<'a> {
    pub(crate) platform: &'a Platform,
    /// The isolate's flags: read fresh for every decision, and dropped when a flag changes.
    pub(crate) flag_cache: &'a FlagCache,
    /// `STORAGE_PHASE_DEFAULT`: the phase of every repository whose flag is unset.
    pub(crate) default_phase: Phase,
    /// `ADMIN_API_TOKEN`; without one every admin call is a 404.
    pub(crate) token: Option<&'a Secret>,
    /// The isolate's failed bearer attempts per client (`attempts`).
    pub(crate) attempts: &'a FixedWindows,
    /// What counts a failed attempt: the Rate Limiting binding, or `attempts` itself.
    pub(crate) limiter: &'a dyn RateLimiter,
}

impl AdminContext<'_> {
    /// The flags as `settings` holds them now, whatever the cache holds: what an operator's
    /// decision needs.
    pub(crate) async fn fresh_flags(&self) -> Result<Flags, AdminError> {
        Ok(self
            .flag_cache
            .read_now(self.platform, self.default_phase)
            .await?)
    }
}
