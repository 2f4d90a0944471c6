//! Flag values and their validation: every value that reaches a [`Flags`](super::Flags) or a
//! `settings` row passed [`validate`] against its definition in `flags.json`.

use super::{Flag, FlagKey, FlagKind};
use crate::domain::parse_json;
use crate::migration::Phase;
use serde_json::Value;
use std::fmt;

/// A flag value of the flag's type, within its declared bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlagValue {
    Phase(Phase),
    Rate(f64),
    Count(u64),
    Seconds(u64),
}

impl FlagValue {
    /// The value as the admin API shows it: a phase name or a number.
    pub fn to_json(self) -> Value {
        match self {
            Self::Phase(phase) => Value::from(phase.as_str()),
            Self::Rate(rate) => Value::from(rate),
            Self::Count(n) | Self::Seconds(n) => Value::from(n),
        }
    }
}

/// The text stored in `settings.value`: a bare phase name (`shadow`) or a JSON number.
impl fmt::Display for FlagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Phase(phase) => f.write_str(phase.as_str()),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

/// Why a flag name or value was refused; its `Display` is the message for the operator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlagError {
    #[error("unknown flag {name:?}; known flags: {known}")]
    UnknownFlag { name: String, known: String },
    #[error("{flag} takes {expected}, got {got}")]
    WrongType {
        flag: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("{flag} must be {range}, got {value}")]
    OutOfRange {
        flag: &'static str,
        range: String,
        value: String,
    },
    #[error("{flag} takes one of {allowed}, got {value:?}")]
    PhaseNotAllowed {
        flag: &'static str,
        allowed: String,
        value: String,
    },
}

impl FlagError {
    pub(super) fn unknown(name: &str) -> Self {
        let known: Vec<_> = Flag::ALL
            .into_iter()
            .map(Flag::name)
            .chain([FlagKey::ALL_PHASES])
            .collect();
        Self::UnknownFlag {
            name: name.to_owned(),
            known: known.join(", "),
        }
    }
}

/// One flag and a valid value for it: what a `settings` row holds and what
/// `FlagCache::set` writes. Only validation makes one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    flag: Flag,
    value: FlagValue,
}

impl Setting {
    pub fn flag(&self) -> Flag {
        self.flag
    }

    pub fn value(&self) -> FlagValue {
        self.value
    }

    /// Reads a `settings` row. Phases are stored bare (`shadow`), numbers as JSON numbers; the
    /// pseudo-key `storage.phase.all` is never stored, so here it is an unknown flag.
    pub(crate) fn from_stored(key: &str, text: &str) -> Result<Self, FlagError> {
        let flag: Flag = key.parse()?;
        let value = match flag.definition().kind() {
            FlagKind::Phase { .. } => Value::from(text),
            _ => parse_json(text).unwrap_or_else(|_| Value::from(text)),
        };
        Ok(Self {
            flag,
            value: check(flag, flag.definition().kind(), &value)?,
        })
    }
}

/// A value accepted for a key of the admin API (a flag or `storage.phase.all`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Validated {
    key: FlagKey,
    value: FlagValue,
}

impl Validated {
    pub fn key(&self) -> FlagKey {
        self.key
    }

    pub fn value(&self) -> FlagValue {
        self.value
    }

    /// One [`Setting`] per flag the key stands for (five for `storage.phase.all`).
    pub fn settings(&self) -> Vec<Setting> {
        self.key
            .flags()
            .into_iter()
            .map(|flag| Setting {
                flag,
                value: self.value,
            })
            .collect()
    }
}

/// Checks `value` (as JSON, e.g. from the admin API's body) against the definition of the flag
/// `name`, or of every phase flag for `storage.phase.all`.
pub fn validate(name: &str, value: &Value) -> Result<Validated, FlagError> {
    let key: FlagKey = name.parse()?;
    let mut checked = key
        .flags()
        .into_iter()
        .map(|flag| check(flag, flag.definition().kind(), value));
    // `flags()` is never empty; every phase flag must accept the value.
    let first = checked
        .next()
        .expect("a key stands for at least one flag")?;
    checked.try_for_each(|other| other.map(drop))?;
    Ok(Validated { key, value: first })
}

/// Checks `value` against the declared kind of `flag`.
pub(super) fn check(flag: Flag, kind: &FlagKind, value: &Value) -> Result<FlagValue, FlagError> {
    let flag = flag.name();
    let wrong_type = |expected| FlagError::WrongType {
        flag,
        expected,
        got: describe(value),
    };
    match kind {
        FlagKind::Phase { allowed } => {
            let name = value.as_str().ok_or_else(|| wrong_type("a phase name"))?;
            name.parse()
                .ok()
                .filter(|phase| allowed.contains(phase))
                .map(FlagValue::Phase)
                .ok_or_else(|| FlagError::PhaseNotAllowed {
                    flag,
                    allowed: allowed
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    value: name.to_owned(),
                })
        }
        FlagKind::Rate { min, max } => {
            let rate = value.as_f64().ok_or_else(|| wrong_type("a number"))?;
            if (*min..=*max).contains(&rate) {
                Ok(FlagValue::Rate(rate))
            } else {
                Err(out_of_range(flag, format!("from {min} to {max}"), value))
            }
        }
        FlagKind::Count { min, max } => whole(flag, *min, *max, value).map(FlagValue::Count),
        FlagKind::Seconds { min, max } => whole(flag, *min, *max, value).map(FlagValue::Seconds),
    }
}

fn whole(flag: &'static str, min: u64, max: Option<u64>, value: &Value) -> Result<u64, FlagError> {
    let range = match max {
        Some(max) => format!("from {min} to {max}"),
        None => format!("at least {min}"),
    };
    match value.as_u64() {
        Some(n) if n >= min && max.is_none_or(|max| n <= max) => Ok(n),
        Some(_) => Err(out_of_range(flag, range, value)),
        // A negative whole number is of the right type, only too small.
        None if value.is_i64() => Err(out_of_range(flag, range, value)),
        None => Err(FlagError::WrongType {
            flag,
            expected: "a whole number",
            got: describe(value),
        }),
    }
}

fn out_of_range(flag: &'static str, range: String, value: &Value) -> FlagError {
    FlagError::OutOfRange {
        flag,
        range,
        value: value.to_string(),
    }
}

/// A JSON value in words, for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Repository;

    #[test]
    fn stored_text_is_a_bare_phase_or_a_json_number_and_reads_back() {
        for (flag, value, text) in [
            (
                Flag::Phase(Repository::Cache),
                FlagValue::Phase(Phase::DualWrite),
                "dual_write",
            ),
            (Flag::ShadowSampleRate, FlagValue::Rate(1.0), "1.0"),
            (Flag::GuardMaxFallbackRate, FlagValue::Rate(0.001), "0.001"),
            (Flag::GuardMinCompared, FlagValue::Count(0), "0"),
            (Flag::GuardWindowSeconds, FlagValue::Seconds(3600), "3600"),
        ] {
            assert_eq!(value.to_string(), text);
            let stored = Setting::from_stored(flag.name(), text).unwrap();
            assert_eq!((stored.flag(), stored.value()), (flag, value));
        }
    }

    #[test]
    fn a_phase_outside_the_declared_allowed_ones_is_refused() {
        let kind = FlagKind::Phase {
            allowed: vec![Phase::KvOnly, Phase::DualWrite],
        };
        let flag = Flag::Phase(Repository::Cache);
        assert_eq!(
            check(flag, &kind, &Value::from("dual_write")),
            Ok(FlagValue::Phase(Phase::DualWrite))
        );
        assert_eq!(
            check(flag, &kind, &Value::from("shadow"))
                .unwrap_err()
                .to_string(),
            r#"storage.phase.cache takes one of kv_only, dual_write, got "shadow""#
        );
    }

    #[test]
    fn stored_text_that_is_not_a_valid_value_is_refused() {
        for (key, text) in [
            ("storage.phase.cache", "\"shadow\""),
            ("storage.phase.cache", "Shadow"),
            ("shadow.sample_rate", "NaN"),
            ("shadow.sample_rate", "1.5"),
            ("guard.min_compared", "-1"),
            ("guard.min_compared", "ten"),
            ("flags.cache_ttl_seconds", "0"),
            ("storage.phase.all", "shadow"),
            ("storage.phase", "shadow"),
        ] {
            assert!(
                Setting::from_stored(key, text).is_err(),
                "{key} = {text} was accepted"
            );
        }
    }
}
