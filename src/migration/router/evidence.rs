//! What one request's routed repositories leave behind for after the response (migration.md
//! §2, §7): an [`Observation`] per shadow read for the comparator, and each fallback and failed
//! second write for the metrics. Collecting costs the request nothing but memory; comparing,
//! classifying and publishing happen later, off the user's critical path.

use crate::migration::experiment::Reading;
use crate::storage::{Repository, Store};
use std::cell::RefCell;
use std::rc::Rc;

/// The request's evidence sink, shared by all the routed repositories of one request.
/// Clones share the same sink; [`Evidence::take`] empties it.
#[derive(Clone, Default)]
pub struct Evidence(Rc<RefCell<Collected>>);

impl Evidence {
    /// Everything collected so far, leaving the sink empty.
    pub fn take(&self) -> Collected {
        self.0.take()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        let collected = self.0.borrow();
        collected.observations.is_empty()
            && collected.fallbacks.is_empty()
            && collected.write_failures.is_empty()
            && collected.writes.is_empty()
    }

    pub(super) fn observe(&self, observation: Observation) {
        self.0.borrow_mut().observations.push(observation);
    }

    pub(super) fn fell_back(&self, fallback: Fallback) {
        self.0.borrow_mut().fallbacks.push(fallback);
    }

    pub(super) fn wrote(&self, repository: Repository, entity_key: &str) {
        self.0
            .borrow_mut()
            .writes
            .push((repository, entity_key.to_owned()));
    }

    /// Whether this request wrote `repository`'s entity `entity_key` (any of its entities
    /// when `None`).
    pub(super) fn has_written(&self, repository: Repository, entity_key: Option<&str>) -> bool {
        self.0
            .borrow()
            .writes
            .iter()
            .any(|(r, key)| *r == repository && entity_key.is_none_or(|wanted| wanted == key))
    }

    pub(super) fn write_failed(&self, failure: WriteFailure) {
        self.0.borrow_mut().write_failures.push(failure);
    }
}

/// The contents of an [`Evidence`] sink.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    pub observations: Vec<Observation>,
    pub fallbacks: Vec<Fallback>,
    pub write_failures: Vec<WriteFailure>,
    /// Entities written while both stores take writes (`dual_write`, `shadow`): KV may show
    /// their old value for a while, so a mismatch on them soon after is not a divergence.
    pub writes: Vec<(Repository, String)>,
}

impl Collected {
    /// How many reads of `repository` fell back to KV.
    pub fn fallback_count(&self, repository: Repository) -> usize {
        self.fallbacks
            .iter()
            .filter(|f| f.repository == repository)
            .count()
    }

    /// How many second writes of `repository` to `target` failed.
    pub fn write_failure_count(&self, repository: Repository, target: Store) -> usize {
        self.write_failures
            .iter()
            .filter(|f| f.repository == repository && f.target == target)
            .count()
    }
}

/// One shadow read, in Scientist's terms: the control (D1, the authoritative store in shadow)
/// and the candidate (KV) ran on the same request; the user got the `served` store's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub repository: Repository,
    /// The repository call, e.g. `watchlists.watchlist`.
    pub operation: &'static str,
    /// The chat id or cache key read; `None` when the read covers the whole repository (the
    /// subscriber list).
    pub entity_key: Option<String>,
    pub control: Measurement,
    pub candidate: Measurement,
    /// Whose answer the user got: D1, or KV after a fallback.
    pub served: Store,
}

/// What one store answered, and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub store: Store,
    /// What the store answered.
    pub reading: Reading,
    /// Milliseconds on the platform clock from the start of this store's read to its answer.
    pub elapsed_ms: i64,
}

/// A shadow read answered from KV instead of D1.
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    pub repository: Repository,
    pub operation: &'static str,
    pub entity_key: Option<String>,
    pub cause: FallbackCause,
}

/// Why a shadow read fell back to KV.
#[derive(Debug, Clone, PartialEq)]
pub enum FallbackCause {
    /// The D1 read failed; the error's text.
    D1Error(String),
    /// D1 had no record where KV had one, and no repair marks KV as stale.
    MissingInD1,
    /// A repair towards the store the phase reads is queued for the entity: that store missed
    /// a write, so the other one answered (in `dual_write` too: D1 answered for KV).
    RepairQueued,
}

impl FallbackCause {
    /// The metric label: `d1_error`, `missing_in_d1` or `repair_queued`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::D1Error(_) => "d1_error",
            Self::MissingInD1 => "missing_in_d1",
            Self::RepairQueued => "repair_queued",
        }
    }
}

/// A second write that failed: the user's request succeeded, `target` missed the write.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteFailure {
    pub repository: Repository,
    pub operation: &'static str,
    pub entity_key: String,
    /// The store that missed the write.
    pub target: Store,
    pub error: String,
    /// Whether the repair was queued; `false` when even the enqueue failed.
    pub queued: bool,
}
