//! `POST /admin/repair` (migration.md §5, §6): drains the repair queue by one bounded step,
//! copying each entity a store missed from the store that has it.

use super::{body, AdminContext, AdminError};
use crate::http::{Request, Response};
use crate::migration::repair::{run_step, StepOutcome};
use serde::Deserialize;
use serde_json::json;

/// Repairs one step takes by default, and at most.
const DEFAULT_BUDGET: usize = 50;
const MAX_BUDGET: usize = 200;

/// The optional body: `{"budget": 1..200}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Body {
    budget: Option<usize>,
}

pub(super) async fn repair(
    cx: &AdminContext<'_>,
    request: &Request,
) -> Result<Response, AdminError> {
    let body: Body = body::json_or_default(request)?;
    let budget = body.budget.unwrap_or(DEFAULT_BUDGET);
    if !(1..=MAX_BUDGET).contains(&budget) {
        return Err(AdminError::bad_request(format!(
            "budget must be from 1 to {MAX_BUDGET}, got {budget}"
        )));
    }
    let flags = cx.fresh_flags().await?;
    let outcome = run_step(cx.platform, flags.phases(), budget).await?;
    tracing::info!(budget, outcome = ?outcome, "repair step run from the admin API");
    Ok(Response::json(
        200,
        &json!({ "ok": true, "step": step_json(&outcome) }),
    ))
}

/// A step's outcome as the admin API and the cron log show it.
fn step_json(outcome: &StepOutcome) -> serde_json::Value {
    match outcome {
        StepOutcome::Done => json!({ "state": "done", "remaining": 0 }),
        StepOutcome::Progressed { tally, remaining } => json!({
            "state": "progressed",
            "remaining": remaining,
            "copied": tally.copied, "in_sync": tally.in_sync, "dropped": tally.dropped,
            "deferred": tally.deferred, "raced": tally.raced, "failed": tally.failed,
        }),
    }
}
