//! `POST /admin/kv-cleanup` (migration.md §5 "KV cleanup", §6): one bounded step of deleting
//! the legacy KV data once every repository has been `d1_only` for `cleanup.retention_seconds`.
//! Body `{"confirm":"delete-kv-data","dry_run":bool}`; a dry run is the default, needs no
//! confirmation and is never refused, but says whether a real run would be and why.

use super::facts::standings;
use super::{body, AdminContext, AdminError};
use crate::http::{Request, Response};
use crate::migration::cleanup::{run_step, Budget, Mode, Report, CONFIRMATION};
use crate::migration::guard::cleanup::refusals;
use crate::storage::Repository;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// How many keys (deleted, and failed) the answer lists; the counts cover them all.
const LISTED_KEYS: usize = 100;

/// The body; an empty one is `{}`: a dry run.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Body {
    confirm: Option<String>,
    dry_run: Option<bool>,
}

pub(super) async fn kv_cleanup(
    cx: &AdminContext<'_>,
    request: &Request,
) -> Result<Response, AdminError> {
    let body: Body = body::json_or_default(request)?;
    let mode = match body.dry_run {
        Some(false) => Mode::Delete,
        Some(true) | None => Mode::DryRun,
    };
    if mode == Mode::Delete && body.confirm.as_deref() != Some(CONFIRMATION) {
        return Err(AdminError::BadRequest {
            message: format!(
                "a real run (\"dry_run\": false) needs \"confirm\": \"{CONFIRMATION}\"; nothing was deleted"
            ),
            details: vec![match &body.confirm {
                None => "confirm is missing".to_owned(),
                Some(other) => format!("confirm is {other:?}, not {CONFIRMATION:?}"),
            }],
        });
    }
    let platform = cx.platform;
    let flags = cx.fresh_flags().await?;
    let refused = refusals(
        standings(cx, &flags, Repository::ALL, |_| true).await?,
        platform.clock.now_ms(),
        flags.cleanup_retention_ms(),
    );
    if mode == Mode::Delete && !refused.is_empty() {
        tracing::warn!(details = ?refused, "kv cleanup refused by its guard rail");
        return Err(AdminError::Conflict {
            message: "guard rail: the KV data may still be needed; nothing was deleted".into(),
            details: refused,
        });
    }
    let report = run_step(platform, mode, Budget::STEP).await;
    tracing::info!(
        dry_run = mode == Mode::DryRun,
        deleted = report.deleted.len(),
        failed = report.failed.len(),
        remaining = report.remaining,
        kv_ops = report.kv_ops,
        "kv cleanup step run from the admin API"
    );
    let refused = (mode == Mode::DryRun && !refused.is_empty()).then_some(refused);
    Ok(Response::json(200, &report_json(&report, refused)))
}

/// The answer: what the step deleted (dry run: would delete), in order, and what is left.
fn report_json(report: &Report, refused: Option<Vec<String>>) -> Value {
    let deleted: Vec<&str> = report
        .deleted
        .iter()
        .take(LISTED_KEYS)
        .map(|(_, key)| key.as_str())
        .collect();
    let by_group: Map<String, Value> = report
        .by_group()
        .into_iter()
        .map(|(repository, n)| (repository.as_str().to_owned(), json!(n)))
        .collect();
    let failed: Vec<Value> = report
        .failed
        .iter()
        .take(LISTED_KEYS)
        .map(|failure| {
            json!({
                "key": failure.key,
                "repository": failure.repository.as_str(),
                "operation": failure.operation.as_str(),
                "error": format!("KV {} failed; the cause is in the worker logs", failure.operation.as_str()),
            })
        })
        .collect();
    json!({
        "ok": true,
        "dry_run": report.mode == Mode::DryRun,
        "deleted": deleted,
        "deleted_count": report.deleted.len(),
        "by_group": by_group,
        "failed": failed,
        "failed_count": report.failed.len(),
        "remaining": report.remaining,
        "kv_operations": report.kv_ops,
        "refused": refused,
    })
}
