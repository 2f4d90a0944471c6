//! The KV → D1 move (migration.md): the vocabulary every part of it shares — which
//! repositories move ([`Repository`]), where each one stands ([`Phase`], [`Phases`]) and the two
//! stores ([`Store`]) — and the [`router`] that serves each repository as its phase says.

mod phase;
pub mod router;
mod store;

pub use phase::{Phase, Phases, Repository, UnknownName};
pub use store::Store;
