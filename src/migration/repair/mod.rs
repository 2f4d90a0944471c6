//! The repair drain (migration.md §5 "Repair"): one bounded step over the repair queue, in
//! which every repair taken re-copies its whole entity from the store that holds the write to
//! the store that missed it. The maintenance cron and `POST /admin/repair` each run one
//! [`run_step`]; whatever it leaves queued, the next one takes.
//!
//! # Invariants
//!
//! - **A row is deleted only once its entity is copied, or moot.** A failed copy keeps the row
//!   with one more attempt counted; attempts order the queue, so a repair that keeps failing
//!   goes behind the others instead of eating every step's budget.
//! - **A user's write during a copy is never lost.** Users keep writing while the drain copies:
//!   to the source first, then to the target as a second write. The drain loads the source,
//!   replaces the target, and loads the source again; if it changed, the target may hold an
//!   older value than a write it already had, so the row stays for the next step. And a row is
//!   deleted only if no failure was queued for it after it was read (`RepairQueue::settle`).
//! - **A copy waits until the entity has settled.** KV is eventually consistent (writes take up
//!   to 60 s to show everywhere), so a copy *from* KV waits until the failed write, and every
//!   other write to the entity, is older than that window; until then the repair is deferred.
//!   A copy *to* KV waits as long: a request that wrote D1 within it may still have its KV
//!   second write to land (a race check queued in `shadow` is drained only after the racing
//!   writes' KV halves, or their own repairs, are in).
//! - **The whole entity is copied**, never a replay of the missed call: which appends or
//!   removals a store got is unknowable, its value is not. The subscriber list is one entity
//!   (its order spans every chat), so its repairs, queued per chat, each re-copy the list.

mod plan;

use super::experiment::KV_PROPAGATION_MS;
use super::{Phase, Phases};
use crate::platform::Platform;
use crate::storage::d1::{EntityVersions, Repair, RepairQueue};
use crate::storage::{entities, EntityKey, EntityStore, Repository, StorageResult, Store};
use plan::{entity, plan, Action};
use std::collections::HashSet;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Nothing was queued.
    Done,
    /// The step worked on the repairs it took; `remaining` are queued after it (those it
    /// kept included), for the next step.
    Progressed { tally: Tally, remaining: u64 },
}

/// How the repairs of one step ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// The stores differed; the entity was copied and the row deleted.
    pub copied: u32,
    /// The stores already agreed (an earlier repair of the same entity did it); row deleted.
    pub in_sync: u32,
    /// Moot in the repository's phase (see `plan`); row deleted.
    pub dropped: u32,
    /// Left untouched: the entity changed within KV's propagation window.
    pub deferred: u32,
    /// Kept: a user wrote the entity while it was being copied.
    pub raced: u32,
    /// Kept, one more attempt counted: a store failed (logged).
    pub failed: u32,
}

impl Tally {
    /// Repairs whose rows this step deleted.
    pub fn repaired(&self) -> u32 {
        self.copied + self.in_sync + self.dropped
    }

    fn count(&mut self, outcome: &Outcome) {
        let field = match outcome {
            Outcome::Copied => &mut self.copied,
            Outcome::InSync => &mut self.in_sync,
            Outcome::Dropped => &mut self.dropped,
            Outcome::Deferred => &mut self.deferred,
            Outcome::Raced => &mut self.raced,
            Outcome::Failed(_) => &mut self.failed,
        };
        *field += 1;
    }
}

/// Works on up to `budget` queued repairs, least-tried and oldest first, with every
/// repository in its phase in `phases`. Fails only when D1 cannot answer for the queue (or the
/// recent writes); a repair that fails is counted in the [`Tally`] and stays queued.
///
/// Cost, for choosing `budget`: 3 D1 queries per step, and per repair at most 5 D1 calls (one
/// of them the replace's batch, of one statement per ticker or execution when D1 is the
/// target) and 3 KV operations.
pub async fn run_step(
    platform: &Platform,
    phases: Phases,
    budget: usize,
) -> StorageResult<StepOutcome> {
    let queue = RepairQueue::new(platform);
    let repairs = queue
        .pending(u32::try_from(budget).unwrap_or(u32::MAX))
        .await?;
    if repairs.is_empty() {
        // A budget of 0 takes nothing, whatever is queued.
        let remaining = if budget == 0 {
            queue.total_depth().await?
        } else {
            0
        };
        return Ok(match remaining {
            0 => StepOutcome::Done,
            remaining => StepOutcome::Progressed {
                tally: Tally::default(),
                remaining,
            },
        });
    }
    let now = platform.clock.now_ms();
    let unsettled = changed_lately(&EntityVersions::new(platform), &repairs).await;
    let drain = Drain {
        kv: entities(platform, Store::Kv),
        d1: entities(platform, Store::D1),
        unsettled,
        queue,
        phases,
        now,
    };
    let mut tally = Tally::default();
    for repair in &repairs {
        tally.count(&drain.repair(repair).await);
    }
    let remaining = drain.queue.total_depth().await?;
    Ok(StepOutcome::Progressed { tally, remaining })
}

/// The entities of `repairs` that D1 changed within the KV propagation window (for the
/// subscriber list, any chat's subscription): one point lookup each, before anything is
/// copied. A lookup that fails counts as changed: the repair waits.
async fn changed_lately(
    versions: &EntityVersions,
    repairs: &[Repair],
) -> HashSet<(Repository, String)> {
    let mut changed = HashSet::new();
    for repair in repairs {
        let key = (repair.repository != Repository::Subscriptions).then_some(&*repair.entity_key);
        let lately = versions
            .changed_within(repair.repository, key, KV_PROPAGATION_MS)
            .await;
        if lately.unwrap_or(true) {
            changed.insert((repair.repository, repair.entity_key.clone()));
        }
    }
    changed
}

/// How one repair ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Copied,
    InSync,
    Dropped,
    Deferred,
    Raced,
    Failed(String),
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Copied => "copied",
            Self::InSync => "in_sync",
            Self::Dropped => "dropped",
            Self::Deferred => "deferred",
            Self::Raced => "raced",
            Self::Failed(_) => "failed",
        }
    }
}

/// One step's stores, queue and view of recent writes.
struct Drain {
    queue: RepairQueue,
    kv: Box<dyn EntityStore>,
    d1: Box<dyn EntityStore>,
    phases: Phases,
    now: i64,
    /// The step's entities D1 changed within the KV propagation window, as they were before
    /// the step copied anything.
    unsettled: HashSet<(Repository, String)>,
}

impl Drain {
    /// Plans, runs, counts a failure of and logs one repair.
    async fn repair(&self, repair: &Repair) -> Outcome {
        let phase = self.phases.get(repair.repository);
        let planned = self.plan(repair, phase).await;
        let outcome = match &planned {
            Ok((key, action)) => self.run(repair, key, *action).await,
            Err(error) => Outcome::Failed(error.clone()),
        };
        if matches!(outcome, Outcome::Failed(_)) {
            if let Err(error) = self.queue.bump_attempts(repair).await {
                tracing::error!(
                    repository = %repair.repository,
                    entity_key = %repair.entity_key,
                    error = %error,
                    "repair attempt not counted"
                );
            }
        }
        log(
            repair,
            phase,
            planned.ok().map(|(_, action)| action),
            &outcome,
        );
        outcome
    }

    async fn plan(&self, repair: &Repair, phase: Phase) -> Result<(EntityKey, Action), String> {
        let key = entity(repair).map_err(|e| e.to_string())?;
        // Only there does the answer change the plan (see `plan`).
        let two_stores = phase.second().is_some();
        let conflicting = if two_stores && repair.target == phase.authoritative() {
            let key = match repair.repository {
                Repository::Subscriptions => None,
                _ => Some(repair.entity_key.as_str()),
            };
            let other = repair.target.other();
            let pending = self.queue.has_pending(repair.repository, key, other).await;
            pending.map_err(|e| e.to_string())?
        } else {
            false
        };
        Ok((
            key,
            plan(repair.target, phase, conflicting || repair.reconciles()),
        ))
    }

    async fn run(&self, repair: &Repair, key: &EntityKey, action: Action) -> Outcome {
        let (from, to) = match action {
            Action::Drop => return self.settle(repair, Outcome::Dropped).await,
            Action::Copy { from, to } => (from, to),
        };
        if self.unsettled(repair) {
            return Outcome::Deferred;
        }
        let source = match from {
            Store::Kv => self.kv.as_ref(),
            Store::D1 => self.d1.as_ref(),
        };
        let target = match to {
            Store::Kv => self.kv.as_ref(),
            Store::D1 => self.d1.as_ref(),
        };
        match copy(source, target, key).await {
            Ok(Copied::Changed) => self.settle(repair, Outcome::Copied).await,
            Ok(Copied::InSync) => self.settle(repair, Outcome::InSync).await,
            Ok(Copied::Raced) => Outcome::Raced,
            Err(error) => Outcome::Failed(error.to_string()),
        }
    }

    /// Whether KV may not show, or not have received, every write of the entity yet: the
    /// failure happened, or D1 changed the entity (any chat's subscription, for the subscriber
    /// list), within the propagation window.
    fn unsettled(&self, repair: &Repair) -> bool {
        self.now - repair.enqueued_at < KV_PROPAGATION_MS
            || self
                .unsettled
                .contains(&(repair.repository, repair.entity_key.clone()))
    }

    /// Deletes the row after `done`; a row queued again meanwhile stays, for its newer write.
    async fn settle(&self, repair: &Repair, done: Outcome) -> Outcome {
        match self.queue.settle(repair).await {
            Ok(true) => done,
            Ok(false) => Outcome::Raced,
            Err(error) => Outcome::Failed(error.to_string()),
        }
    }
}

/// How a copy ended.
enum Copied {
    Changed,
    InSync,
    /// The source changed during the copy (see the module documentation).
    Raced,
}

/// Makes `target` hold what `source` holds for `key`.
async fn copy(
    source: &dyn EntityStore,
    target: &dyn EntityStore,
    key: &EntityKey,
) -> StorageResult<Copied> {
    let value = source.load(key).await?;
    if target.load(key).await? == value {
        return Ok(Copied::InSync);
    }
    target.replace(&value).await?;
    // A write between the first load and the replace reached the source first and, if its
    // second write came before the replace, the target too, where the replace overwrote it.
    // The source shows it; a write after the reload lands on the copied value as it should.
    if source.load(key).await? != value {
        return Ok(Copied::Raced);
    }
    Ok(Copied::Changed)
}

fn log(repair: &Repair, phase: Phase, action: Option<Action>, outcome: &Outcome) {
    let (from, to) = match action {
        Some(Action::Copy { from, to }) => (Some(from.as_str()), Some(to.as_str())),
        _ => (None, None),
    };
    macro_rules! event {
        ($level:expr, $message:literal) => {
            tracing::event!(
                $level,
                repository = %repair.repository,
                entity_key = %repair.entity_key,
                target = %repair.target,
                phase = %phase,
                from,
                to,
                outcome = outcome.as_str(),
                attempts = repair.attempts,
                error = match outcome { Outcome::Failed(e) => Some(e.as_str()), _ => None },
                $message
            )
        };
    }
    match outcome {
        Outcome::Failed(_) => event!(tracing::Level::WARN, "repair failed; kept for a later step"),
        Outcome::Dropped if repair.target == Store::D1 => event!(
            tracing::Level::ERROR,
            "repair dropped in d1_only: D1 lacks a write that only KV holds"
        ),
        Outcome::Copied if to != Some(repair.target.as_str()) => event!(
            tracing::Level::WARN,
            "repair overtaken by a phase move: the authoritative store won over the queued write"
        ),
        _ => event!(tracing::Level::INFO, "repair"),
    }
}
