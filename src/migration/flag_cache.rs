//! [`FlagCache`]: the flags as one isolate sees them. `settings` is read at most once per
//! `flags.cache_ttl_seconds`; a read that fails keeps the last good flags, or with none falls
//! back to `STORAGE_PHASE_DEFAULT`, and is logged and counted (migration.md §3).
//!
//! A change made here is seen at once by this isolate (the cache is dropped) and by the others
//! within their TTL, which is why §4 waits 60 s + the TTL before a backfill may start.

use super::flags::{Flag, Flags, Setting};
use super::handover::{Standing, HORIZON_MS};
use super::Phase;
use crate::platform::Platform;
use crate::storage::d1::{D1Settings, PhaseRows, SettingChange, SettingRow, Sql};
use crate::storage::{StorageError, StorageResult};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Who changes a flag and why, as `settings_history` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change<'a> {
    pub by: &'a str,
    pub reason: &'a str,
    /// A guard rail was overridden (`force: true`).
    pub forced: bool,
    /// The D1 Time Travel command back to the moment before the change, kept in its history
    /// row ([`restore_command`](crate::storage::d1::restore_command)).
    pub restore: &'a str,
}

/// The flags of one isolate, shared by its requests: create one per isolate and hand clones
/// (which share the cache) to each request.
#[derive(Clone, Default)]
pub struct FlagCache(Rc<Inner>);

#[derive(Default)]
struct Inner {
    state: RefCell<State>,
    read_failures: Cell<u64>,
}

#[derive(Default)]
struct State {
    /// The flags of the last successful read of `settings`.
    last_good: Option<Flags>,
    /// When `last_good` was read, or last kept after a failed read; `None` once a change made
    /// it stale, so the next call reads again.
    checked_at: Option<i64>,
}

impl FlagCache {
    /// The flags now: the cached ones within their TTL, else a fresh read of `settings`.
    /// Never fails: see the module documentation for what an unreadable `settings` gives.
    pub async fn current(&self, platform: &Platform, default_phase: Phase) -> Flags {
        let now = platform.clock.now_ms();
        if let Some(flags) = self.fresh(now) {
            return flags;
        }
        match self.read_now(platform, default_phase).await {
            Ok(flags) => flags,
            Err(error) => self.unreadable(now, default_phase, &error),
        }
    }

    /// Reads `settings` now, whatever the cache holds (what an operator's decision needs),
    /// and caches what it read.
    pub(crate) async fn read_now(
        &self,
        platform: &Platform,
        default_phase: Phase,
    ) -> StorageResult<Flags> {
        let rows = D1Settings(Sql::new(platform)).all(HORIZON_MS).await?;
        let flags = from_rows(&rows, default_phase);
        *self.0.state.borrow_mut() = State {
            last_good: Some(flags.clone()),
            checked_at: Some(platform.clock.now_ms()),
        };
        Ok(flags)
    }

    /// Writes one flag (its `settings` row and a `settings_history` row, atomically) and drops
    /// this isolate's cached flags.
    pub async fn set(
        &self,
        platform: &Platform,
        setting: Setting,
        change: Change<'_>,
    ) -> StorageResult<()> {
        let flag = setting.flag();
        let value = setting.value().to_string();
        let result = D1Settings(Sql::new(platform))
            .write(&SettingChange {
                key: flag.name(),
                value: &value,
                by: change.by,
                reason: change.reason,
                forced: change.forced,
                restore: change.restore,
            })
            .await;
        // Dropped on failure too: a batch that timed out may still have committed.
        self.forget();
        match &result {
            Ok(()) => tracing::info!(
                flag = flag.name(),
                value = %value,
                by = change.by,
                reason = change.reason,
                forced = change.forced,
                "flag set"
            ),
            Err(error) => tracing::error!(
                flag = flag.name(),
                value = %value,
                by = change.by,
                error = %error,
                "flag not set"
            ),
        }
        result
    }

    /// Makes the next call read `settings` again (a change was made).
    pub(crate) fn forget(&self) {
        self.0.state.borrow_mut().checked_at = None;
    }

    /// How many reads of `settings` have failed in this isolate, for the metrics.
    pub fn settings_read_failures(&self) -> u64 {
        self.0.read_failures.get()
    }

    fn fresh(&self, now: i64) -> Option<Flags> {
        let state = self.0.state.borrow();
        let (flags, checked_at) = (state.last_good.as_ref()?, state.checked_at?);
        // A clock that went back counts as expired rather than as fresh for longer.
        (0..flags.cache_ttl_ms())
            .contains(&(now - checked_at))
            .then(|| flags.clone())
    }

    fn unreadable(&self, now: i64, default_phase: Phase, error: &StorageError) -> Flags {
        let failures = self.0.read_failures.get() + 1;
        self.0.read_failures.set(failures);
        let mut state = self.0.state.borrow_mut();
        match &state.last_good {
            Some(flags) => {
                let flags = flags.clone();
                // Kept for another TTL: one failed read per TTL, not one per request.
                state.checked_at = Some(now);
                tracing::warn!(
                    error = %error,
                    failures,
                    fallback = "last_good",
                    "settings unreadable: keeping the last flags read"
                );
                flags
            }
            None => {
                // Not cached: the next call tries again, and is counted again if it fails.
                tracing::error!(
                    error = %error,
                    failures,
                    fallback = "storage_phase_default",
                    default_phase = %default_phase,
                    "settings unreadable and never read: every repository in STORAGE_PHASE_DEFAULT"
                );
                Flags::defaults(default_phase)
            }
        }
    }
}

/// The flags a read of `settings` gives: each valid row's value, every other flag's default.
fn from_rows(rows: &[SettingRow], default_phase: Phase) -> Flags {
    let mut flags = Flags::defaults(default_phase);
    flags.read_from(PhaseRows::of(rows));
    for row in rows {
        match Setting::from_stored(&row.key, &row.value) {
            Ok(setting) => {
                flags.apply(setting);
                if let Flag::Phase(repository) = setting.flag() {
                    let standing = Standing::read(flags.phase(repository), &row.standing);
                    flags.stand(repository, standing);
                }
            }
            Err(error) => tracing::warn!(
                key = %row.key,
                value = %row.value,
                error = %error,
                "ignoring a settings row: the flag keeps its default"
            ),
        }
    }
    flags
}
