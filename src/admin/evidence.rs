//! `GET /admin/divergences` and `GET /admin/metrics`: what the shadow phase observed, for
//! on-call and the dashboard.

use super::{AdminContext, AdminError};
use crate::http::{Request, Response};
use crate::migration::experiment::Class;
use crate::migration::tally::{self, totals};
use crate::storage::d1::{Count, EvidenceStore, DIVERGENCE_RING};
use crate::storage::Repository;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `?limit=1..1000` (default 100), `?repository=`, `?class=`: the newest records first.
pub(super) async fn divergences(
    cx: &AdminContext<'_>,
    request: &Request,
) -> Result<Response, AdminError> {
    let limit = number_param(request, "limit", 100, DIVERGENCE_RING)?;
    let repository = request
        .query_param("repository")
        .map(|name| name.parse::<Repository>())
        .transpose()
        .map_err(|e| AdminError::bad_request(e.to_string()))?;
    let class = request
        .query_param("class")
        .map(|name| {
            Class::parse(&name).ok_or_else(|| {
                let known: Vec<&str> = Class::ALL.iter().map(|c| c.as_str()).collect();
                AdminError::bad_request(format!(
                    "unknown class {name:?}; expected one of: {}",
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    let records = EvidenceStore::new(cx.platform)
        .latest_divergences(
            limit,
            repository.map(Repository::as_str),
            class.map(Class::as_str),
        )
        .await?;
    let records: Vec<Value> = records
        .into_iter()
        .map(|d| {
            json!({
                "id": d.id, "observed_at": d.observed_at, "repository": d.repository,
                "operation": d.operation, "entity_key": d.entity_key, "class": d.class,
                "diff": d.diff,
            })
        })
        .collect();
    Ok(Response::json(
        200,
        &json!({ "ok": true, "divergences": records }),
    ))
}

/// `?minutes=1..1440` (default 60): per repository the totals and rates over the window, and
/// every counter as a per-minute series `[[minute, count, total_ms], …]`.
pub(super) async fn metrics(
    cx: &AdminContext<'_>,
    request: &Request,
) -> Result<Response, AdminError> {
    let minutes = number_param(request, "minutes", 60, 1440)?;
    let now = cx.platform.clock.now_ms();
    let since = tally::minute_of(now) - (minutes - 1) * tally::MINUTE_MS;
    let counts = EvidenceStore::new(cx.platform)
        .counters_since(since)
        .await?;
    let repositories: Map<String, Value> = totals(&counts)
        .into_iter()
        .map(|(repository, t)| {
            let numbers = json!({
                "reads": t.reads, "compared": t.compared, "matched": t.matched,
                "divergences": t.divergences, "stale_kv_suspected": t.stale_kv_suspected,
                "fallbacks": t.fallbacks, "write_failures": t.write_failures,
                "divergence_rate": t.divergence_rate(), "fallback_rate": t.fallback_rate(),
            });
            (repository.as_str().to_owned(), numbers)
        })
        .collect();
    let settings_unreadable: i64 = counts
        .iter()
        .filter(|c| c.repository == tally::FLAGS && c.outcome == tally::SETTINGS_UNREADABLE)
        .map(|c| c.count)
        .sum();
    Ok(Response::json(
        200,
        &json!({
            "ok": true,
            "since": since,
            "until": now,
            "repositories": repositories,
            "flags": { "settings_unreadable": settings_unreadable },
            "series": series(&counts),
        }),
    ))
}

/// Counters grouped by repository, operation and outcome, each a list of minute points.
fn series(counts: &[Count]) -> Vec<Value> {
    let mut grouped: BTreeMap<(&str, &str, &str), Vec<Value>> = BTreeMap::new();
    for c in counts {
        grouped
            .entry((&c.repository, &c.operation, &c.outcome))
            .or_default()
            .push(json!([c.minute, c.count, c.total_ms]));
    }
    grouped
        .into_iter()
        .map(|((repository, operation, outcome), points)| {
            json!({ "repository": repository, "operation": operation, "outcome": outcome, "points": points })
        })
        .collect()
}

/// An integer query parameter from 1 to `max`, `default` when absent.
fn number_param(request: &Request, name: &str, default: i64, max: i64) -> Result<i64, AdminError> {
    let Some(raw) = request.query_param(name) else {
        return Ok(default);
    };
    raw.parse::<i64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            AdminError::bad_request(format!(
                "{name} must be an integer from 1 to {max}, got {raw:?}"
            ))
        })
}
