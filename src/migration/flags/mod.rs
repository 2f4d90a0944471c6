//! Runtime flags (migration.md §3): the definitions of `flags/flags.json` ([`definitions`]),
//! the flags the code knows ([`Flag`]), validation of a value against its definition
//! ([`validate`]) and the typed snapshot one request runs with ([`Flags`]). Nothing outside
//! this module looks a flag up by name.

mod definition;
mod flag;
mod snapshot;
mod value;

pub use definition::{definitions, FlagDefinition, FlagKind};
pub use flag::{Flag, FlagKey, FlagType};
pub use snapshot::{Flags, GuardThresholds, PageThresholds, Source};
pub use value::{validate, FlagError, FlagValue, Setting, Validated};
