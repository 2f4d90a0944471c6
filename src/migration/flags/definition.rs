//! `flags/flags.json`, embedded at build time and read once per isolate: the declared name,
//! type, default, bounds, description and guarded transition of every flag. Loading checks
//! the file against [`Flag`], so a flag declared but unknown to the code, known but not
//! declared, or declared with another type stops the load, and the tests that load it fail.

use super::value::check;
use super::{Flag, FlagType, FlagValue};
use crate::domain::parse_json;
use crate::migration::Phase;
use serde::Deserialize;
use serde_json::Value;
use std::sync::LazyLock;

/// The definitions file, as built into the worker.
const SOURCE: &str = include_str!("../../../flags/flags.json");

/// Loaded on first use. The `panic` cannot fire in a tested build: every test that reads a
/// flag loads this same embedded file, and the load refuses exactly what would panic here.
static DEFINITIONS: LazyLock<Vec<FlagDefinition>> =
    LazyLock::new(|| load(SOURCE).unwrap_or_else(|e| panic!("flags/flags.json: {e}")));

/// Every flag's definition, in the order of [`Flag::ALL`].
pub fn definitions() -> &'static [FlagDefinition] {
    &DEFINITIONS
}

impl Flag {
    /// The flag's entry in `flags.json`.
    pub fn definition(self) -> &'static FlagDefinition {
        // The load puts exactly one definition per flag at the flag's index.
        &definitions()[self.index()]
    }
}

/// One flag as `flags.json` declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagDefinition {
    flag: Flag,
    kind: FlagKind,
    default: FlagValue,
    description: String,
    guards: Option<(Phase, Phase)>,
}

/// A flag's type with its allowed values or bounds (inclusive).
#[derive(Debug, Clone, PartialEq)]
pub enum FlagKind {
    Phase { allowed: Vec<Phase> },
    Rate { min: f64, max: f64 },
    Count { min: u64, max: Option<u64> },
    Seconds { min: u64, max: Option<u64> },
}

impl FlagKind {
    pub fn flag_type(&self) -> FlagType {
        match self {
            Self::Phase { .. } => FlagType::Phase,
            Self::Rate { .. } => FlagType::Rate,
            Self::Count { .. } => FlagType::Count,
            Self::Seconds { .. } => FlagType::Seconds,
        }
    }
}

impl FlagDefinition {
    pub fn flag(&self) -> Flag {
        self.flag
    }

    pub fn kind(&self) -> &FlagKind {
        &self.kind
    }

    /// The declared default. A phase flag's runtime default is the `STORAGE_PHASE_DEFAULT` var
    /// instead, which this mirrors.
    pub fn default(&self) -> FlagValue {
        self.default
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The transition whose guard rail this flag is a threshold of, as `(from, to)`.
    pub fn guards(&self) -> Option<(Phase, Phase)> {
        self.guards
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    flags: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(rename = "type")]
    flag_type: FlagType,
    default: Value,
    allowed: Option<Vec<String>>,
    min: Option<Value>,
    max: Option<Value>,
    description: String,
    guards: Option<String>,
}

/// Parses and checks a definitions file; the definitions come back in [`Flag::ALL`] order.
fn load(json: &str) -> Result<Vec<FlagDefinition>, String> {
    let file: File = parse_json(json).map_err(|e| e.to_string())?;
    let mut slots: [Option<FlagDefinition>; Flag::COUNT] = Default::default();
    for entry in file.flags {
        let definition = definition(entry)?;
        let slot = &mut slots[definition.flag.index()];
        if slot.is_some() {
            return Err(format!("{} is declared twice", definition.flag));
        }
        *slot = Some(definition);
    }
    Flag::ALL
        .into_iter()
        .zip(slots)
        .map(|(flag, slot)| {
            slot.ok_or_else(|| format!("the code reads {flag}, which is not declared"))
        })
        .collect()
}

fn definition(entry: Entry) -> Result<FlagDefinition, String> {
    let name = &entry.name;
    let flag: Flag = name
        .parse()
        .map_err(|_| format!("{name} is declared but the code does not know it (see Flag)"))?;
    if entry.flag_type != flag.flag_type() {
        return Err(format!(
            "{name} is declared as {} but the code reads it as {}",
            entry.flag_type.as_str(),
            flag.flag_type().as_str()
        ));
    }
    let kind = kind(&entry).map_err(|e| format!("{name}: {e}"))?;
    let default =
        check(flag, &kind, &entry.default).map_err(|e| format!("default of {name}: {e}"))?;
    let description = entry.description.trim().to_owned();
    if description.is_empty() {
        return Err(format!("{name} has no description"));
    }
    Ok(FlagDefinition {
        flag,
        kind,
        default,
        description,
        guards: entry.guards.as_deref().map(transition).transpose()?,
    })
}

fn kind(entry: &Entry) -> Result<FlagKind, String> {
    let (min, max) = (entry.min.as_ref(), entry.max.as_ref());
    if entry.flag_type == FlagType::Phase {
        if min.is_some() || max.is_some() {
            return Err("a phase flag has no min or max".into());
        }
        let allowed = entry
            .allowed
            .as_ref()
            .ok_or("a phase flag lists its allowed phases")?
            .iter()
            .map(|name| name.parse::<Phase>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(FlagKind::Phase { allowed });
    }
    if entry.allowed.is_some() {
        return Err("only a phase flag lists allowed values".into());
    }
    let kind = match entry.flag_type {
        FlagType::Rate => FlagKind::Rate {
            min: min.map_or(Ok(0.0), rate_bound)?,
            max: max.map_or(Ok(1.0), rate_bound)?,
        },
        FlagType::Count => FlagKind::Count {
            min: min.map_or(Ok(0), whole_bound)?,
            max: max.map(whole_bound).transpose()?,
        },
        FlagType::Seconds => FlagKind::Seconds {
            min: match min.map_or(Ok(1), whole_bound)? {
                0 => return Err("a seconds flag is at least 1".into()),
                min => min,
            },
            max: max.map(whole_bound).transpose()?,
        },
        FlagType::Phase => unreachable!("returned above"),
    };
    let empty = match &kind {
        FlagKind::Rate { min, max } => min > max,
        FlagKind::Count { min, max } | FlagKind::Seconds { min, max } => {
            max.is_some_and(|max| *min > max)
        }
        FlagKind::Phase { .. } => false,
    };
    if empty {
        return Err("min is above max".into());
    }
    Ok(kind)
}

fn rate_bound(value: &Value) -> Result<f64, String> {
    value
        .as_f64()
        .filter(|rate| (0.0..=1.0).contains(rate))
        .ok_or_else(|| format!("a rate bound is from 0 to 1, not {value}"))
}

fn whole_bound(value: &Value) -> Result<u64, String> {
    value
        .as_u64()
        .ok_or_else(|| format!("a bound is a whole number from 0, not {value}"))
}

/// `"shadow→d1_only"`: a forward move of one phase.
fn transition(text: &str) -> Result<(Phase, Phase), String> {
    let bad = || format!("guards {text:?} is not a forward move like \"shadow→d1_only\"");
    let (from, to) = text.split_once('→').ok_or_else(bad)?;
    let (from, to): (Phase, Phase) = (
        from.parse().map_err(|_| bad())?,
        to.parse().map_err(|_| bad())?,
    );
    (from.next() == Some(to))
        .then_some((from, to))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The embedded file with `edit` applied to its entries.
    fn edited(edit: impl FnOnce(&mut Vec<Value>)) -> String {
        let mut file: Value = serde_json::from_str(SOURCE).unwrap();
        edit(file["flags"].as_array_mut().unwrap());
        file.to_string()
    }

    fn entry<'a>(entries: &'a mut [Value], name: &str) -> &'a mut Value {
        entries.iter_mut().find(|e| e["name"] == name).unwrap()
    }

    #[test]
    fn the_embedded_file_loads_in_code_order() {
        let loaded = load(SOURCE).unwrap();
        let flags: Vec<Flag> = loaded.iter().map(FlagDefinition::flag).collect();
        assert_eq!(flags, Flag::ALL);
        assert_eq!(
            Flag::GuardMinCompared.definition().guards(),
            Some((Phase::Shadow, Phase::D1Only))
        );
    }

    #[test]
    fn a_file_that_disagrees_with_the_code_or_itself_is_refused() {
        let cases: Vec<(&str, String)> = vec![
            (
                "storage.phase.cache is declared twice",
                edited(|e| {
                    let twin = entry(e, "storage.phase.cache").clone();
                    e.push(twin)
                }),
            ),
            (
                "the code reads flags.cache_ttl_seconds, which is not declared",
                edited(|e| e.retain(|e| e["name"] != "flags.cache_ttl_seconds")),
            ),
            (
                "shadow.enabled is declared but the code does not know it (see Flag)",
                edited(|e| entry(e, "shadow.sample_rate")["name"] = json!("shadow.enabled")),
            ),
            (
                "guard.min_compared is declared as rate but the code reads it as count",
                edited(|e| entry(e, "guard.min_compared")["type"] = json!("rate")),
            ),
            (
                "default of flags.cache_ttl_seconds: flags.cache_ttl_seconds must be from 1 to 10, got 30",
                edited(|e| entry(e, "flags.cache_ttl_seconds")["default"] = json!(30)),
            ),
            (
                "storage.phase.cache: unknown phase \"d1\"; expected one of: kv_only, dual_write, shadow, d1_only",
                edited(|e| entry(e, "storage.phase.cache")["allowed"] = json!(["kv_only", "d1"])),
            ),
            (
                "guard.window_seconds: min is above max",
                edited(|e| entry(e, "guard.window_seconds")["min"] = json!(3_000_000)),
            ),
            (
                "guards \"kv_only→shadow\" is not a forward move like \"shadow→d1_only\"",
                edited(|e| entry(e, "guard.min_compared")["guards"] = json!("kv_only→shadow")),
            ),
            (
                "shadow.sample_rate has no description",
                edited(|e| entry(e, "shadow.sample_rate")["description"] = json!(" ")),
            ),
        ];
        for (want, json) in cases {
            assert_eq!(load(&json).unwrap_err(), want);
        }
        let typo = edited(|e| entry(e, "guard.min_compared")["gaurds"] = json!("x"));
        assert!(load(&typo).unwrap_err().contains("unknown field `gaurds`"));
    }
}
