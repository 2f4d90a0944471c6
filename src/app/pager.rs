//! The maintenance cron's paging step (MIGRATION.md, "Watching"): reads the guard window's
//! numbers, the repair queues and whether `settings` reads, decides with
//! `migration::paging` which pages to send against the pages recorded in D1, claims each one
//! there (so two runs never send the same page) and sends it to `ADMIN_CHAT_ID` as plain text.
//! It also pages once about each queued broadcast run whose messages were dead-lettered
//! (docs/broadcast-queue.md, "Operators"), claimed on the run's row.

use super::App;
use crate::domain::ChatId;
use crate::migration::flags::Flags;
use crate::migration::paging::{
    dead_letters_key, dead_letters_message, decide, message, Kind, Readings, Thresholds,
};
use crate::migration::tally::totals;
use crate::platform::Platform;
use crate::storage::d1::{BroadcastRuns, DeadLetters, EvidenceStore, Pages, RepairQueue};
use crate::storage::{Repository, StorageResult};
use crate::telegram::Telegram;
use std::collections::BTreeMap;

/// What one run of the paging step sent, by condition key (`divergence_rate.watchlists`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagesSent {
    /// Pages sent: conditions that started firing, or still fire past `page.repeat_seconds`.
    pub paged: Vec<String>,
    /// "Cleared" messages sent.
    pub cleared: Vec<String>,
}

impl App {
    /// Pages on-call about what fires, at most once per condition per `page.repeat_seconds`,
    /// and once more when it clears. `flags` are the run's flags, used when `settings` does
    /// not read now. A number that cannot be read, a claim or a send that fails makes the step
    /// fail (after everything else it could do); without `ADMIN_CHAT_ID` nothing is sent or
    /// recorded, and a log line names what fires (if anything does).
    pub(super) async fn page_on_call(&self, flags: &Flags) -> Result<PagesSent, String> {
        let platform = self.platform();
        let config = self.config();
        let now = platform.clock.now_ms();
        let mut errors: Vec<String> = Vec::new();
        let (flags, settings) = match self
            .flag_cache()
            .read_now(platform, config.storage_phase_default)
            .await
        {
            Ok(fresh) => (fresh, Ok(())),
            Err(error) => (flags.clone(), Err(error.to_string())),
        };
        let thresholds = Thresholds {
            guard: flags.guards(),
            page: flags.paging(),
        };
        let since = now - thresholds.guard.window_ms;
        let window = EvidenceStore::new(platform)
            .counters_since(since)
            .await
            .map(|counts| totals(&counts));
        let readings = Readings {
            settings,
            window: noted(window, &mut errors),
            repairs_queued: noted(repair_depths(platform).await, &mut errors),
        };
        let dead_letters = BroadcastRuns::new(platform).unpaged_dead_letters().await;
        let dead_letters = noted(dead_letters, &mut errors).unwrap_or_default();
        let Some(admin) = admin_chat(config.admin_chat_id.as_deref()) else {
            let firing: Vec<String> = decide(&readings, &thresholds, &[], now)
                .into_iter()
                .map(|action| action.condition.key())
                .chain(dead_letters.iter().map(|run| dead_letters_key(&run.run)))
                .collect();
            if !firing.is_empty() {
                tracing::warn!(firing = ?firing, "on-call pages not sent: ADMIN_CHAT_ID is not set");
            }
            return finish(PagesSent::default(), errors);
        };
        let store = Pages::new(platform);
        let paged = match store.all().await {
            Ok(rows) => rows,
            Err(error) => {
                // Without the recorded pages every run would page again: send nothing.
                errors.push(format!("pages unreadable: {error}"));
                return finish(PagesSent::default(), errors);
            }
        };
        let telegram = Telegram::new(
            platform.clone(),
            &config.telegram_api_base_url,
            config.bot_token.clone(),
        );
        let mut sent = PagesSent::default();
        for action in decide(&readings, &thresholds, &paged, now) {
            let key = action.condition.key();
            let (before, after) = (action.before.as_ref(), action.after.as_ref());
            // Claimed first, so of two runs deciding the same page only one sends it.
            match store.swap(before, after).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    errors.push(format!("{key}: page not claimed: {error}"));
                    continue;
                }
            }
            let text = message(&action, now, config.public_url.as_deref());
            let kind = action.kind.as_str();
            match telegram.send_plain(admin, &text).await {
                Ok(()) if action.kind == Kind::Clear => sent.cleared.push(key),
                Ok(()) => sent.paged.push(key),
                Err(failure) => {
                    // Given back, so the next run sends it.
                    let given_back = match store.swap(after, before).await {
                        Ok(_) => "",
                        Err(_) => " (and its claim not given back)",
                    };
                    errors.push(format!("{key}: {kind} not sent: {failure}{given_back}"));
                }
            }
        }
        for run in &dead_letters {
            match self.page_dead_letters(&telegram, admin, run, now).await {
                Ok(true) => sent.paged.push(dead_letters_key(&run.run)),
                Ok(false) => {}
                Err(error) => errors.push(error),
            }
        }
        finish(sent, errors)
    }
}

impl App {
    /// Pages `admin` once about `run`'s dead letters: claimed on its row first, so two runs
    /// never both send it, and given back when the send fails, so the next run sends it.
    /// `Ok(true)` when this run sent it.
    async fn page_dead_letters(
        &self,
        telegram: &Telegram,
        admin: ChatId,
        run: &DeadLetters,
        now: i64,
    ) -> Result<bool, String> {
        let runs = BroadcastRuns::new(self.platform());
        let key = dead_letters_key(&run.run);
        match runs.swap_dead_letter_page(&run.run, None, Some(now)).await {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(error) => return Err(format!("{key}: page not claimed: {error}")),
        }
        let text = dead_letters_message(run, self.config().public_url.as_deref());
        let Err(failure) = telegram.send_plain(admin, &text).await else {
            return Ok(true);
        };
        let given_back = match runs.swap_dead_letter_page(&run.run, Some(now), None).await {
            Ok(_) => "",
            Err(_) => " (and its claim not given back)",
        };
        Err(format!("{key}: page not sent: {failure}{given_back}"))
    }
}

/// Every repository's queued repairs.
async fn repair_depths(platform: &Platform) -> StorageResult<BTreeMap<Repository, u64>> {
    let queue = RepairQueue::new(platform);
    let mut depths = BTreeMap::new();
    for repository in Repository::ALL {
        depths.insert(repository, queue.depth(repository).await?);
    }
    Ok(depths)
}

/// The value, or `None` with its error noted.
fn noted<T>(result: StorageResult<T>, errors: &mut Vec<String>) -> Option<T> {
    result.map_err(|error| errors.push(error.to_string())).ok()
}

/// What was sent, or every error of the run and what was sent before it.
fn finish(sent: PagesSent, mut errors: Vec<String>) -> Result<PagesSent, String> {
    if errors.is_empty() {
        return Ok(sent);
    }
    if !sent.paged.is_empty() || !sent.cleared.is_empty() {
        errors.push(format!(
            "sent: {:?}, cleared: {:?}",
            sent.paged, sent.cleared
        ));
    }
    Err(errors.join("; "))
}

/// `ADMIN_CHAT_ID` as a chat, if set and a chat id.
fn admin_chat(admin: Option<&str>) -> Option<ChatId> {
    match admin?.parse() {
        Ok(chat) => Some(chat),
        Err(_) => {
            tracing::error!("ADMIN_CHAT_ID is not a chat id; on-call pages are not sent");
            None
        }
    }
}
