//! `GET /admin/broadcast`: the latest runs of the queued broadcast (docs/broadcast-queue.md),
//! newest first, as `broadcast_runs` holds them: chats and queue messages planned, Telegram
//! messages sent and refused, chats skipped, sends failed, messages retried and dead-lettered,
//! and the duration once the run finished.

use super::{AdminContext, AdminError};
use crate::http::Response;
use crate::storage::d1::BroadcastRuns;
use serde_json::{json, Value};

/// How many runs the answer lists: five days of the four daily broadcasts.
const LATEST: i64 = 20;

pub(super) async fn runs(cx: &AdminContext<'_>) -> Result<Response, AdminError> {
    let runs = BroadcastRuns::new(cx.platform).latest(LATEST).await?;
    // The rows as they are: no serialisation of their own to compile.
    let runs = Value::Array(runs.into_iter().map(Value::Object).collect());
    Ok(Response::json(200, &json!({ "ok": true, "runs": runs })))
}
