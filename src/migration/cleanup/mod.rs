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

mod step;

pub(crate) use step::run_step;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::native::{KvOp, ManualClock, MemoryKv, ScriptedHttp, SqliteDatabase};
    use crate::platform::Platform;
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
