//! The KV → D1 move (migration.md): the vocabulary every part of it shares — which
//! repositories move ([`Repository`](crate::storage::Repository)), where each one stands
//! ([`Phase`], [`Phases`]) and the two stores ([`Store`](crate::storage::Store)) — the runtime
//! flags that say so ([`flags`], cached per isolate by [`FlagCache`]), the [`router`] that
//! serves each repository as its phase says, the [`repair`] drain that copies over the writes
//! its second stores missed, the [`sweep`]s that copy and compare the history (backfill,
//! validation, reverse sync), and the KV `cleanup` once every repository has been `d1_only`
//! long enough.

mod buffer;
pub mod cleanup;
pub mod experiment;
mod flag_cache;
pub mod flags;
pub(crate) mod guard;
pub mod handover;
pub mod paging;
mod phase;
pub mod publish;
pub mod repair;
pub mod router;
pub mod sweep;
pub(crate) mod tally;
mod unified_diff;

pub use buffer::{CounterBuffer, FLUSH_MS};
pub use flag_cache::{Change, FlagCache};
pub use handover::Caution;
pub use phase::{Phase, Phases};
