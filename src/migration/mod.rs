//! The KV → D1 move (migration.md): the vocabulary every part of it shares — which
//! repositories move ([`Repository`]) and where each one stands ([`Phase`], [`Phases`]) — and
//! the runtime flags that say so ([`flags`], cached per isolate by [`FlagCache`]).

pub mod experiment;
mod flag_cache;
pub mod flags;
pub mod guard;
mod phase;
pub mod tally;

pub use flag_cache::{Change, FlagCache};
pub use phase::{Phase, Phases, Repository, UnknownName};
