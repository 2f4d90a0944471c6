//! The KV cleanup (migration.md §5 "KV cleanup"): once every repository has been `d1_only` for
//! the retention window (its rail, `guard::cleanup`, says whether it has), one bounded
//! [`run_step`] deletes the legacy KV keys of the five repositories, or in a dry run lists what
//! it would delete.
//!
//! # Invariants
//!
//! - **Only the five repositories' keys.** `fear_greed_cache`, every `watchlist:`,
//!   `execution_history:` and `active_position:` key, and `chat_ids`; a key is deleted only
//!   because a `list` of one of those prefixes returned it, and the two single keys only on an
//!   exact match, so `chat_ids_backup` or `fear_greed_cache_v2` survive.
//! - **Cache first, `chat_ids` last.** [`ORDER`] is the order of deletion. The subscriber list
//!   goes only in a step that saw every other group empty (each listing ran to its end and each
//!   delete succeeded), so a half-cleaned KV never holds a user's data without knowing the user.
//! - **Bounded.** A step touches at most [`Budget::STEP`]: 500 keys and 1,000 KV operations
//!   (`list` calls and deletes), whatever KV holds. Every `list` asks for no more keys than the
//!   step may still delete, so the budget cannot overrun between two checks.
//! - **No cursor between steps.** A deleted key leaves the listing, so each real step lists
//!   again from the start of the first group that still has keys. KV's `list` is eventually
//!   consistent, so a step within about 60 s of the last may list (and delete again, harmlessly)
//!   keys already gone. A dry run deletes nothing, so it always shows the next real step.
//! - **A failure costs its key, not the step.** A delete (or a group's `list`) that fails is
//!   logged and reported, and the step goes on with the next key and group; the key stays for
//!   the next step, and so does `chat_ids`.

use crate::domain::FEAR_GREED_CACHE_KEY;
use crate::platform::{Platform, KV_LIST_LIMIT};
use crate::storage::kv::{
    ACTIVE_POSITION_PREFIX, CHAT_IDS_KEY, EXECUTION_HISTORY_PREFIX, WATCHLIST_PREFIX,
};
use crate::storage::Repository;

/// The value the admin API's `confirm` must hold exactly for a real run.
pub(crate) const CONFIRMATION: &str = "delete-kv-data";

/// The repositories in the order their KV keys are deleted: the cache first (the bot can fetch
/// it again), the subscriber list last.
pub(crate) const ORDER: [Repository; 5] = [
    Repository::Cache,
    Repository::Watchlists,
    Repository::Executions,
    Repository::Positions,
    Repository::Subscriptions,
];

/// The most one step may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Keys deleted (or, in a dry run, listed), failed deletes included.
    pub keys: usize,
    /// KV operations: `list` calls and deletes.
    pub kv_ops: usize,
}

impl Budget {
    /// One step of `POST /admin/kv-cleanup`: well within a Worker invocation's limits.
    pub(crate) const STEP: Budget = Budget {
        keys: 500,
        kv_ops: 1000,
    };
}

/// Whether a step deletes, or only lists what it would delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    DryRun,
    Delete,
}

/// A KV call of the step that failed. The cause is logged; the report carries the key only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub repository: Repository,
    /// The key whose delete failed, or the prefix (or single key) whose `list` failed.
    pub key: String,
    pub operation: KvCall,
}

/// The KV call a [`Failure`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KvCall {
    List,
    Delete,
}

impl KvCall {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Delete => "delete",
        }
    }
}

/// What one step did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub mode: Mode,
    /// The keys deleted (dry run: that a real step would delete), in order, with their group.
    pub deleted: Vec<(Repository, String)>,
    pub failed: Vec<Failure>,
    /// KV may still hold keys of the five groups after this step (dry run: after the real step
    /// it previews). `false` only when every group was listed to its end and emptied.
    pub remaining: bool,
    /// `list` calls and deletes the step made.
    pub kv_ops: usize,
}

impl Report {
    /// Keys deleted per repository, in [`ORDER`].
    pub(crate) fn by_group(&self) -> [(Repository, usize); 5] {
        ORDER.map(|repository| {
            let n = self
                .deleted
                .iter()
                .filter(|(r, _)| *r == repository)
                .count();
            (repository, n)
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::native::{KvOp, ManualClock, MemoryKv, ScriptedHttp, SqliteDatabase};
    use std::rc::Rc;

    fn platform() -> (Rc<MemoryKv>, Platform) {
        let kv = Rc::new(MemoryKv::new());
        let platform = Platform {
            kv: kv.clone(),
            db: Rc::new(SqliteDatabase::migrated().unwrap()),
            clock: Rc::new(ManualClock::new(0)),
            http: Rc::new(ScriptedHttp::new()),
        };
        (kv, platform)
    }

    fn step(platform: &Platform, mode: Mode, budget: Budget) -> Report {
        futures::executor::block_on(run_step(platform, mode, budget))
    }

    fn keys(report: &Report) -> Vec<&str> {
        report.deleted.iter().map(|(_, k)| k.as_str()).collect()
    }

    #[test]
    fn cleanup_deletes_in_order_within_the_budget_and_only_the_five_groups() {
        let (kv, platform) = platform();
        for key in [
            "chat_ids",
            "chat_ids_backup",
            "fear_greed_cache",
            "fear_greed_cache_v2",
            "watchlist:1",
            "watchlist:2",
            "watchlists",
            "execution_history:1",
            "active_position:1",
            "zzz",
        ] {
            kv.seed(key, "[]");
        }
        let budget = Budget {
            keys: 3,
            kv_ops: 100,
        };
        let first = step(&platform, Mode::Delete, budget);
        assert_eq!(
            keys(&first),
            ["fear_greed_cache", "watchlist:1", "watchlist:2"]
        );
        assert!(first.remaining);
        let second = step(&platform, Mode::Delete, budget);
        assert_eq!(
            keys(&second),
            ["execution_history:1", "active_position:1", "chat_ids"]
        );
        // The step listed everything to its end, so it knows nothing is left.
        assert!(!second.remaining);
        assert_eq!(
            kv.keys(),
            [
                "chat_ids_backup",
                "fear_greed_cache_v2",
                "watchlists",
                "zzz"
            ]
        );
    }

    #[test]
    fn cleanup_spends_no_more_kv_operations_than_the_budget() {
        let (kv, platform) = platform();
        for i in 0..50 {
            kv.seed(&format!("watchlist:{i}"), "[]");
        }
        kv.seed("chat_ids", "[]");
        let budget = Budget {
            keys: 500,
            kv_ops: 21,
        };
        let report = step(&platform, Mode::Delete, budget);
        // Cache list (1), watchlists list (1) and 19 deletes.
        assert_eq!((report.kv_ops, report.deleted.len()), (21, 19));
        assert_eq!(kv.counts().total(), 21);
        assert!(report.remaining);
        assert!(kv.peek("chat_ids").is_some());
    }

    #[test]
    fn cleanup_dry_run_lists_what_the_real_step_would_delete_and_deletes_nothing() {
        let (kv, platform) = platform();
        for key in ["chat_ids", "active_position:9", "fear_greed_cache"] {
            kv.seed(key, "{}");
        }
        let dry = step(&platform, Mode::DryRun, Budget::STEP);
        assert_eq!(
            keys(&dry),
            ["fear_greed_cache", "active_position:9", "chat_ids"]
        );
        assert_eq!(kv.counts().delete, 0);
        assert_eq!(kv.keys().len(), 3);
        let real = step(&platform, Mode::Delete, Budget::STEP);
        assert_eq!(real.deleted, dry.deleted);
    }

    #[test]
    fn cleanup_keeps_chat_ids_while_a_failed_key_remains() {
        let (kv, platform) = platform();
        for key in [
            "chat_ids",
            "watchlist:1",
            "watchlist:2",
            "active_position:1",
        ] {
            kv.seed(key, "[]");
        }
        kv.fail(KvOp::Delete, "watchlist:1");
        kv.fail(KvOp::List, "execution_history:");
        let report = step(&platform, Mode::Delete, Budget::STEP);
        assert_eq!(keys(&report), ["watchlist:2", "active_position:1"]);
        assert_eq!(
            report
                .failed
                .iter()
                .map(|f| (f.key.as_str(), f.operation))
                .collect::<Vec<_>>(),
            [
                ("watchlist:1", KvCall::Delete),
                ("execution_history:", KvCall::List)
            ]
        );
        assert!(report.remaining);
        assert_eq!(kv.keys(), ["chat_ids", "watchlist:1"]);
    }
}
