//! One bounded cleanup step ([`run_step`]): the groups of keys in [`ORDER`], each listed and
//! deleted (or, in a dry run, listed) within the step's [`Budget`].

use super::{Budget, Failure, KvCall, Mode, Report, ORDER};
use crate::domain::FEAR_GREED_CACHE_KEY;
use crate::platform::{Platform, KV_LIST_LIMIT};
use crate::storage::kv::{
    ACTIVE_POSITION_PREFIX, CHAT_IDS_KEY, EXECUTION_HISTORY_PREFIX, WATCHLIST_PREFIX,
};
use crate::storage::Repository;

/// Which keys of KV belong to a repository.
#[derive(Debug, Clone, Copy)]
enum Keys {
    One(&'static str),
    Prefixed(&'static str),
}

fn keys_of(repository: Repository) -> Keys {
    match repository {
        Repository::Cache => Keys::One(FEAR_GREED_CACHE_KEY),
        Repository::Watchlists => Keys::Prefixed(WATCHLIST_PREFIX),
        Repository::Executions => Keys::Prefixed(EXECUTION_HISTORY_PREFIX),
        Repository::Positions => Keys::Prefixed(ACTIVE_POSITION_PREFIX),
        Repository::Subscriptions => Keys::One(CHAT_IDS_KEY),
    }
}

/// How a group ended within the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Listed to its end and every key of it deleted (dry run: listed).
    Emptied,
    /// A key of it may remain after a failure; the next group may still go.
    Failed,
    /// The budget ran out; the step ends here.
    OutOfBudget,
}

/// Deletes (or, in a dry run, lists) the next keys of the five repositories in [`ORDER`],
/// within `budget`. Never fails: a KV failure is logged, reported in [`Report::failed`] and
/// costs only its key (or the rest of its group, for a `list`).
///
/// The caller checks the rail (`guard::cleanup::refusals`) first: this deletes whatever it is
/// asked to.
pub(crate) async fn run_step(platform: &Platform, mode: Mode, budget: Budget) -> Report {
    let mut step = Step {
        platform,
        mode,
        budget,
        report: Report {
            mode,
            deleted: Vec::new(),
            failed: Vec::new(),
            remaining: false,
            kv_ops: 0,
        },
    };
    let mut others_emptied = true;
    for repository in ORDER {
        // `chat_ids` waits for a step that saw every other group empty.
        if repository == Repository::Subscriptions && !others_emptied {
            step.report.remaining = true;
            break;
        }
        let group = match keys_of(repository) {
            Keys::One(key) => step.one(repository, key).await,
            Keys::Prefixed(prefix) => step.prefixed(repository, prefix).await,
        };
        match group {
            Group::Emptied => {}
            Group::Failed => {
                others_emptied = false;
                step.report.remaining = true;
            }
            Group::OutOfBudget => {
                step.report.remaining = true;
                break;
            }
        }
    }
    step.report
}

/// One step in progress: what it may still spend and what it did.
struct Step<'a> {
    platform: &'a Platform,
    mode: Mode,
    budget: Budget,
    report: Report,
}

impl Step<'_> {
    /// Most keys the next `list` may ask for, so that every key it returns can be deleted
    /// (one delete each, on top of the `list` itself) within the budget.
    fn list_limit(&self) -> usize {
        let ops_left = self.budget.kv_ops.saturating_sub(self.report.kv_ops);
        let keys_left = self.budget.keys.saturating_sub(self.keys_spent());
        let by_ops = match self.mode {
            Mode::DryRun if ops_left > 0 => KV_LIST_LIMIT,
            Mode::DryRun => 0,
            Mode::Delete => ops_left.saturating_sub(1),
        };
        keys_left.min(by_ops).min(KV_LIST_LIMIT)
    }

    fn keys_spent(&self) -> usize {
        self.report.deleted.len() + self.report.failed.len()
    }

    /// A single key (`fear_greed_cache`, `chat_ids`), found by an exact match: the key sorts
    /// first among the keys it prefixes, so a `list` of one key shows whether it exists.
    async fn one(&mut self, repository: Repository, key: &'static str) -> Group {
        if self.list_limit() == 0 {
            return Group::OutOfBudget;
        }
        self.report.kv_ops += 1;
        match self.platform.kv.list(key, None, 1).await {
            Ok(page) if page.keys.first().is_some_and(|found| found == key) => {
                self.take(repository, key.to_owned()).await
            }
            Ok(_) => Group::Emptied,
            Err(e) => self.list_failed(repository, key, e),
        }
    }

    /// Every key under `prefix`, one page at a time, the cursor kept within this step only.
    async fn prefixed(&mut self, repository: Repository, prefix: &'static str) -> Group {
        let mut cursor: Option<String> = None;
        let mut group = Group::Emptied;
        loop {
            let limit = self.list_limit();
            if limit == 0 {
                return Group::OutOfBudget;
            }
            self.report.kv_ops += 1;
            let page = match self
                .platform
                .kv
                .list(prefix, cursor.as_deref(), limit)
                .await
            {
                Ok(page) => page,
                Err(e) => return self.list_failed(repository, prefix, e),
            };
            // KV returns at most `limit` keys, all under `prefix`; the checks only make sure a
            // misbehaving listing can neither overrun the budget nor widen the cleanup.
            let overflow = page.keys.len() > limit;
            for key in page.keys.into_iter().take(limit) {
                if key.starts_with(prefix) && self.take(repository, key).await == Group::Failed {
                    group = Group::Failed;
                }
            }
            if overflow {
                return Group::OutOfBudget;
            }
            match page.cursor {
                None => return group,
                Some(next) => cursor = Some(next),
            }
        }
    }

    /// Deletes one key (dry run: records it); the budget for it was checked by the `list`.
    async fn take(&mut self, repository: Repository, key: String) -> Group {
        if self.mode == Mode::DryRun {
            self.report.deleted.push((repository, key));
            return Group::Emptied;
        }
        self.report.kv_ops += 1;
        match self.platform.kv.delete(&key).await {
            Ok(()) => {
                // One event per deleted key (migration.md §7); never the value.
                tracing::info!(key = %key, repository = repository.as_str(), "kv cleanup: key deleted");
                self.report.deleted.push((repository, key));
                Group::Emptied
            }
            Err(e) => {
                tracing::error!(key = %key, repository = repository.as_str(), error.cause_chain = ?e, "kv cleanup: delete failed; the key stays");
                self.report.failed.push(Failure {
                    repository,
                    key,
                    operation: KvCall::Delete,
                });
                Group::Failed
            }
        }
    }

    fn list_failed(
        &mut self,
        repository: Repository,
        key: &str,
        e: crate::platform::PlatformError,
    ) -> Group {
        tracing::error!(prefix = key, repository = repository.as_str(), error.cause_chain = ?e, "kv cleanup: list failed; the group waits for the next step");
        self.report.failed.push(Failure {
            repository,
            key: key.to_owned(),
            operation: KvCall::List,
        });
        Group::Failed
    }
}
