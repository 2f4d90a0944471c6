//! The shadow comparison (migration.md §2), in GitHub Scientist's words. Each shadow read is an
//! experiment: the *control* is the authoritative D1 read the user is answered from, the
//! *candidate* is the KV read run beside it. After the response the two observations are
//! compared as canonical domain values, and a mismatch becomes a divergence of one class with a
//! readable diff.

use super::unified_diff::unified;
use serde_json::Value;

/// What one store answered for one entity.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// The domain value, as JSON.
    Found(Value),
    /// The store holds no record of the entity.
    Missing,
    /// The store holds a record it cannot decode (a corrupt legacy KV value).
    Undecodable(String),
    /// The store did not answer.
    Failed(String),
}

/// The divergence classes of migration.md §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    MissingInD1,
    MissingInKv,
    ValueMismatch,
    KvDecodeError,
    D1Error,
    KvError,
    /// A mismatch on an entity written within the KV propagation window: KV is eventually
    /// consistent, so this is counted apart and re-checked, not reported as a failure.
    StaleKvSuspected,
}

impl Class {
    pub(crate) const ALL: [Class; 7] = [
        Class::MissingInD1,
        Class::MissingInKv,
        Class::ValueMismatch,
        Class::KvDecodeError,
        Class::D1Error,
        Class::KvError,
        Class::StaleKvSuspected,
    ];

    /// The class named `name`, as stored and as the admin API filters by.
    pub(crate) fn parse(name: &str) -> Option<Class> {
        Self::ALL.into_iter().find(|class| class.as_str() == name)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::MissingInD1 => "missing_in_d1",
            Self::MissingInKv => "missing_in_kv",
            Self::ValueMismatch => "value_mismatch",
            Self::KvDecodeError => "kv_decode_error",
            Self::D1Error => "d1_error",
            Self::KvError => "kv_error",
            Self::StaleKvSuspected => "stale_kv_suspected",
        }
    }
}

/// The result of comparing one observation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Matched,
    Mismatched { class: Class, diff: String },
}

/// How long after a write KV may still show the old value (migration.md §2).
pub const KV_PROPAGATION_MS: i64 = 60_000;

/// Whether both stores hold the same domain value, or both no record.
pub(crate) fn agree(control: &Reading, candidate: &Reading) -> bool {
    match (control, candidate) {
        (Reading::Found(d1), Reading::Found(kv)) => canonical(d1) == canonical(kv),
        (Reading::Missing, Reading::Missing) => true,
        _ => false,
    }
}

/// Compares the control (D1) and candidate (KV) readings of one shadow read.
/// `recently_written` says whether the entity was written less than [`KV_PROPAGATION_MS`] ago,
/// which turns a mismatch into [`Class::StaleKvSuspected`].
pub(crate) fn compare(control: &Reading, candidate: &Reading, recently_written: bool) -> Outcome {
    use Reading::*;
    if agree(control, candidate) {
        return Outcome::Matched;
    }
    let class = match (control, candidate) {
        (Failed(_), _) => Class::D1Error,
        (_, Failed(_)) => Class::KvError,
        (_, Undecodable(_)) => Class::KvDecodeError,
        // D1 is written by this code only; a record it cannot decode is a D1 fault.
        (Undecodable(_), _) => Class::D1Error,
        (Missing, Found(_)) => Class::MissingInD1,
        (Found(_), Missing) if recently_written => Class::StaleKvSuspected,
        (Found(_), Missing) => Class::MissingInKv,
        (Found(_), Found(_)) if recently_written => Class::StaleKvSuspected,
        (Found(_), Found(_)) => Class::ValueMismatch,
        (Missing, Missing) => return Outcome::Matched,
    };
    Outcome::Mismatched {
        class,
        diff: diff(control, candidate),
    }
}

/// Whether this read is compared, at `sample_rate` (0.0–1.0): `draw` is uniform in [0, 1).
pub(crate) fn sampled(sample_rate: f64, draw: f64) -> bool {
    draw < sample_rate
}

/// A JSON value with object keys sorted and every number as a float, so values that mean the
/// same domain value compare equal whatever store or serialiser produced them.
pub(crate) fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key.clone(), canonical(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| value.clone(), Value::Number),
        other => other.clone(),
    }
}

/// A unified diff from the D1 reading to the KV reading, over their canonical pretty JSON.
pub(crate) fn diff(control: &Reading, candidate: &Reading) -> String {
    let (d1, kv) = (render(control), render(candidate));
    unified("d1", "kv", &d1, &kv)
}

fn render(reading: &Reading) -> String {
    let text = match reading {
        Reading::Found(value) => serde_json::to_string_pretty(&canonical(value))
            .unwrap_or_else(|e| format!("<unprintable: {e}>")),
        Reading::Missing => "<missing>".into(),
        Reading::Undecodable(error) => format!("<undecodable: {error}>"),
        Reading::Failed(error) => format!("<error: {error}>"),
    };
    text + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class_of(control: Reading, candidate: Reading, recent: bool) -> Option<Class> {
        match compare(&control, &candidate, recent) {
            Outcome::Matched => None,
            Outcome::Mismatched { class, .. } => Some(class),
        }
    }

    #[test]
    fn each_pair_of_readings_has_its_class() {
        use Reading::*;
        let a = || Found(json!(["SPY"]));
        let b = || Found(json!(["SPY", "AAPL"]));
        let cases = [
            (a(), a(), false, None, "equal values match"),
            (Missing, Missing, false, None, "both missing match"),
            (
                Missing,
                a(),
                false,
                Some(Class::MissingInD1),
                "not backfilled",
            ),
            (a(), Missing, false, Some(Class::MissingInKv), "KV lost it"),
            (
                a(),
                Missing,
                true,
                Some(Class::StaleKvSuspected),
                "KV not yet caught up",
            ),
            (
                a(),
                b(),
                false,
                Some(Class::ValueMismatch),
                "different lists",
            ),
            (
                a(),
                b(),
                true,
                Some(Class::StaleKvSuspected),
                "written a moment ago",
            ),
            (
                a(),
                Undecodable("bad".into()),
                false,
                Some(Class::KvDecodeError),
                "corrupt KV",
            ),
            (
                Failed("down".into()),
                a(),
                false,
                Some(Class::D1Error),
                "D1 failed",
            ),
            (
                a(),
                Failed("down".into()),
                false,
                Some(Class::KvError),
                "KV failed",
            ),
            (
                Failed("x".into()),
                Failed("y".into()),
                false,
                Some(Class::D1Error),
                "D1 first",
            ),
        ];
        for (control, candidate, recent, want, why) in cases {
            assert_eq!(class_of(control, candidate, recent), want, "{why}");
        }
    }

    #[test]
    fn values_compare_as_domain_values_not_bytes() {
        let d1 = json!({"ticker": "SPY", "entryPrice": 400.0});
        let kv = json!({"entryPrice": 400, "ticker": "SPY"});
        assert_eq!(canonical(&d1), canonical(&kv));
        let reordered = json!(["AAPL", "SPY"]);
        assert_ne!(
            canonical(&json!(["SPY", "AAPL"])),
            canonical(&reordered),
            "list order counts"
        );
    }

    #[test]
    fn a_mismatch_carries_a_unified_diff_from_d1_to_kv() {
        let outcome = compare(
            &Reading::Found(json!(["SPY", "AAPL"])),
            &Reading::Found(json!(["SPY", "MSFT"])),
            false,
        );
        let Outcome::Mismatched { class, diff } = outcome else {
            panic!("expected a mismatch");
        };
        assert_eq!(class, Class::ValueMismatch);
        assert_eq!(
            diff,
            "--- d1\n+++ kv\n@@ -1,4 +1,4 @@\n [\n   \"SPY\",\n-  \"AAPL\"\n+  \"MSFT\"\n ]\n"
        );
    }

    #[test]
    fn sampling_compares_the_given_share() {
        // 1,000 draws spread evenly over [0, 1), the uniform source `sampled` is given.
        let sampled_of = |rate: f64| {
            (0..1_000)
                .filter(|i| sampled(rate, f64::from(*i) / 1_000.0))
                .count()
        };
        assert_eq!(sampled_of(0.0), 0, "rate 0 never samples");
        assert_eq!(sampled_of(1.0), 1_000, "rate 1 always samples");
        assert_eq!(sampled_of(0.25), 250);
        assert_eq!(sampled_of(0.5), 500);
        assert!(sampled(1.0, 0.999_999) && !sampled(0.25, 0.25));
    }
}
