//! The sweeps over the admin API (migration.md §5, §6): `POST /admin/backfill` (KV → D1, or
//! its dry run) and `GET /admin/backfill` for progress, `POST /admin/validate`, and
//! `POST /admin/reverse-sync` (D1 → KV). Each POST runs one bounded step
//! ([`run_step`]) and answers with where the sweep stands; the maintenance cron continues
//! whatever is unfinished. A sweep that is finished starts over when asked again.
//!
//! Reports follow the seed design's shapes: a `MigrationResult` per table for the backfill
//! (`table`, `recordsMigrated`, `errors`, `duration`), a `ValidationReport` for the validation
//! (`timestamp`, `tables`, `overallSuccess`, `discrepancies`).

use super::facts::standings;
use super::{body, AdminContext, AdminError};
use crate::http::{Request, Response};
use crate::migration::guard;
use crate::migration::sweep::{run_step, Budget, Kind, Progress, Step, Sweeps};
use crate::storage::d1::{Finding, SweepStore};
use crate::storage::Repository;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Findings an answer lists per repository (all are counted).
const LISTED: u32 = 100;

/// `{"repository": <name> | "all", "dry_run": bool, "restart": bool}`, every field optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Body {
    repository: Option<String>,
    dry_run: Option<bool>,
    restart: Option<bool>,
}

impl Body {
    fn repositories(&self) -> Result<Vec<Repository>, AdminError> {
        match self.repository.as_deref() {
            None | Some("all") => Ok(Repository::ALL.to_vec()),
            Some(name) => name.parse().map(|r| vec![r]).map_err(|_| {
                AdminError::bad_request(format!(
                    "unknown repository {name:?}: expected \"all\" or one of {}",
                    Repository::ALL.map(Repository::as_str).join(", ")
                ))
            }),
        }
    }
}

/// `POST /admin/backfill`.
pub(super) async fn backfill(
    cx: &AdminContext<'_>,
    request: &Request,
) -> Result<Response, AdminError> {
    let body: Body = body::json_or_default(request)?;
    let kind = if body.dry_run.unwrap_or(false) {
        Kind::DryRun
    } else {
        Kind::Backfill
    };
    step(cx, kind, &body).await
}

/// `POST /admin/validate`.
pub(super) async fn validate(
    cx: &AdminContext<'_>,
    request: &Request,
) -> Result<Response, AdminError> {
    let body: Body = body::json_or_default(request)?;
    reject_dry_run(&body)?;
    step(cx, Kind::Validation, &body).await
}

/// `POST /admin/reverse-sync`.
pub(super) async fn reverse_sync(
    cx: &AdminContext<'_>,
    request: &Request,
) -> Result<Response, AdminError> {
    let body: Body = body::json_or_default(request)?;
    reject_dry_run(&body)?;
    step(cx, Kind::ReverseSync, &body).await
}

fn reject_dry_run(body: &Body) -> Result<(), AdminError> {
    match body.dry_run {
        Some(_) => Err(AdminError::bad_request(
            "dry_run applies to /admin/backfill only",
        )),
        None => Ok(()),
    }
}

/// `GET /admin/backfill`: the backfill's and the dry run's progress per repository.
pub(super) async fn progress(cx: &AdminContext<'_>) -> Result<Response, AdminError> {
    let store = SweepStore::new(cx.platform);
    let sweeps = Sweeps::load(cx.platform).await?;
    let mut answer = Map::from_iter([("ok".to_owned(), Value::Bool(true))]);
    for kind in [Kind::Backfill, Kind::DryRun] {
        let mut repositories = Map::new();
        let mut results = Vec::new();
        for repository in Repository::ALL {
            let sweep = sweeps.get(kind, repository);
            repositories.insert(repository.as_str().into(), progress_json(sweep));
            if let Some(sweep) = sweep {
                let findings = store.findings(kind.as_str(), repository, LISTED).await?;
                results.push(migration_result(sweep, &findings));
            }
        }
        answer.insert(
            kind.as_str().into(),
            json!({ "repositories": repositories, "results": results }),
        );
    }
    Ok(Response::json(200, &Value::Object(answer)))
}

/// Checks the phases, runs one step, and answers with the sweeps it ran.
async fn step(cx: &AdminContext<'_>, kind: Kind, body: &Body) -> Result<Response, AdminError> {
    let repositories = body.repositories()?;
    let platform = cx.platform;
    let flags = cx.fresh_flags().await?;
    let wants_since = |phase| guard::sweep::needs_since(kind, phase);
    let standings = standings(cx, &flags, repositories.iter().copied(), wants_since).await?;
    let unmet = guard::sweep::refusals(
        kind,
        standings,
        platform.clock.now_ms(),
        flags.cache_ttl_ms(),
    );
    if !unmet.is_empty() {
        tracing::warn!(kind = %kind, details = ?unmet, "sweep refused");
        return Err(AdminError::Conflict {
            message: format!("the {kind} cannot run now"),
            details: unmet,
        });
    }
    let restart = body.restart.unwrap_or(false);
    let step = run_step(
        platform,
        kind,
        &repositories,
        flags.phases(),
        Budget::INVOCATION,
        restart,
    )
    .await?;
    let store = SweepStore::new(platform);
    let mut listed = Vec::new();
    for progress in &step.sweeps {
        let findings = store
            .findings(kind.as_str(), progress.repository, LISTED)
            .await?;
        listed.push((progress, findings));
    }
    let mut answer = json!({
        "ok": true,
        "kind": kind.as_str(),
        "finished": step.finished(),
        "step": step_json(&step),
        "repositories": listed.iter().map(|(p, _)| (p.repository.as_str().to_owned(), progress_json(Some(p)))).collect::<Map<_, _>>(),
    });
    let report = match kind {
        Kind::Validation => ("report", validation_report(&listed, cx)),
        _ => (
            "results",
            Value::Array(listed.iter().map(|(p, f)| migration_result(p, f)).collect()),
        ),
    };
    answer[report.0] = report.1;
    Ok(Response::json(200, &answer))
}

/// A sweep's progress as the admin API shows it; `not_started` when it never ran.
pub(super) fn progress_json(progress: Option<&Progress>) -> Value {
    let Some(p) = progress else {
        return json!({ "state": "not_started" });
    };
    let t = &p.tally;
    json!({
        "state": if p.finished { "finished" } else { "running" },
        "scanned": t.scanned,
        "written": t.written,
        "rows_written": t.rows_written,
        "matched": t.matched,
        "discrepancies": t.discrepancies,
        "in_flight": t.in_flight,
        "skipped": t.skipped,
        // The seed's word for what was skipped: each is listed in `results[].errors`.
        "errors": t.skipped,
        "deferred": t.deferred,
        "cursor": p.after_key,
        "started": p.started_at,
        "updated": p.updated_at,
        "finished": p.finished_at,
        "pages": t.pages,
        "kv_ops": t.usage.kv_ops,
        "d1_statements": t.usage.d1_statements,
        "d1_round_trips": t.usage.d1_round_trips,
        "duration_ms": t.duration_ms,
    })
}

fn step_json(step: &Step) -> Value {
    json!({
        "kv_ops": step.usage.kv_ops,
        "d1_statements": step.usage.d1_statements,
        "d1_round_trips": step.usage.d1_round_trips,
        "duration_ms": step.elapsed_ms,
    })
}

/// The D1 table a repository's entities live in.
fn table(repository: Repository) -> &'static str {
    match repository {
        Repository::Subscriptions => "users",
        Repository::Watchlists => "watchlists",
        Repository::Executions => "executions",
        Repository::Positions => "active_positions",
        Repository::Cache => "cache",
    }
}

/// The seed's `MigrationResult` of one repository's sweep.
fn migration_result(progress: &Progress, findings: &[Finding]) -> Value {
    json!({
        "table": table(progress.repository),
        "recordsMigrated": progress.tally.rows_written,
        "errors": findings.iter().map(|f| json!({ "key": f.entity_key, "error": format!("{}: {}", f.problem, f.detail) })).collect::<Vec<_>>(),
        "duration": progress.tally.duration_ms,
    })
}

/// The seed's `ValidationReport` over the repositories validated: counts per table, every
/// entity checked, and the differences (listed up to [`LISTED`] per repository, with diffs).
fn validation_report(listed: &[(&Progress, Vec<Finding>)], cx: &AdminContext<'_>) -> Value {
    let mut tables = Map::new();
    let mut discrepancies = Vec::new();
    let mut overall = true;
    let mut details = Vec::new();
    for (progress, findings) in listed {
        let t = &progress.tally;
        let clean = progress.finished && t.discrepancies == 0;
        overall &= clean;
        let failures: Vec<&str> = findings
            .iter()
            .filter(|f| f.problem != "stale_kv_suspected")
            .map(|f| f.entity_key.as_str())
            .collect();
        tables.insert(
            table(progress.repository).into(),
            json!({
                "kvCount": t.kv_rows,
                "d1Count": t.d1_rows,
                "match": clean,
                "sampleChecks": t.scanned,
                "sampleFailures": failures,
            }),
        );
        for f in findings {
            discrepancies.push(format!(
                "{} {}: {}",
                progress.repository, f.entity_key, f.problem
            ));
            details.push(json!({
                "repository": progress.repository.as_str(),
                "entity_key": f.entity_key,
                "class": f.problem,
                "diff": f.detail,
            }));
        }
    }
    json!({
        "timestamp": cx.platform.clock.now_ms(),
        "tables": tables,
        "overallSuccess": overall,
        "discrepancies": discrepancies,
        "details": details,
    })
}
