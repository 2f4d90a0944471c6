//! `GET /admin/migration/status` (migration.md §6): per repository, where it stands, since
//! when, which phase serves (a move between `dual_write` and `shadow` is handed over), whether its next move would pass the guard rails and why not, its sweeps (backfill,
//! validation, reverse sync), its shadow numbers over the guard window and its repair queue.

use super::facts::{facts, MoveFacts};
use super::sweeps::progress_json;
use super::{AdminContext, AdminError};
use crate::http::Response;
use crate::migration::guard::phase::{verdict, Verdict};
use crate::migration::sweep::{Kind, Sweeps};
use crate::storage::Repository;
use serde_json::{json, Map, Value};

pub(super) async fn status(cx: &AdminContext<'_>) -> Result<Response, AdminError> {
    let platform = cx.platform;
    let flags = cx.fresh_flags().await?;
    let sweeps = Sweeps::load(platform).await?;
    let serving = flags.serving(platform.clock.now_ms());
    let mut repositories = Map::new();
    for (repository, MoveFacts { facts, since }) in
        facts(cx, Repository::ALL, &flags, &sweeps).await?
    {
        let phase = flags.phase(repository);
        let sweep = |kind: Kind| sweeps.get(kind, repository);
        let next = phase.next().map(|to| {
            let (allowed, unmet) = match verdict(phase, to, &facts, &flags.guards()) {
                Verdict::Allowed | Verdict::Unchanged => (true, vec![]),
                Verdict::Unsafe(unmet) => (false, unmet),
                Verdict::Forbidden(why) => (false, vec![why]),
            };
            json!({ "to": to.as_str(), "allowed": allowed, "unmet": unmet })
        });
        let w = facts.window;
        repositories.insert(
            repository.as_str().to_owned(),
            json!({
                "phase": phase.as_str(),
                "since": since,
                // Differs from `phase` while a move is handed over (MIGRATION.md).
                "serving": serving.get(repository).as_str(),
                // In shadow: D1's "no record" is served without a KV read first (MIGRATION.md).
                "d1_vouched": serving.caution(repository).d1_vouched,
                "handover": facts.handing_over_until.map(|until| json!({
                    // `null`: until the writes claimed before the move have finished.
                    "until": (until != i64::MAX).then_some(until),
                })),
                "next_move": next,
                "backfill": progress_json(sweep(Kind::Backfill)),
                "validation": progress_json(sweep(Kind::Validation)),
                "reverse_sync": progress_json(sweep(Kind::ReverseSync)),
                "window": {
                    "reads": w.reads, "compared": w.compared, "divergences": w.divergences,
                    "stale_kv_suspected": w.stale_kv_suspected, "fallbacks": w.fallbacks,
                    "divergence_rate": w.divergence_rate(), "fallback_rate": w.fallback_rate(),
                },
                "entities_in_d1": facts.entities,
                "repairs_queued": facts.repairs_queued,
            }),
        );
    }
    Ok(Response::json(
        200,
        &json!({
            "ok": true,
            "window_seconds": flags.guards().window_ms / 1000,
            "repositories": Value::Object(repositories),
        }),
    ))
}
