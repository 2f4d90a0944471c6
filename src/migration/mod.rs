//! The KV → D1 move (migration.md): the vocabulary every part of it shares — which
//! repositories move ([`Repository`]) and where each one stands ([`Phase`], [`Phases`]).

pub mod experiment;
mod phase;
pub mod tally;

pub use phase::{Phase, Phases, Repository, UnknownName};
