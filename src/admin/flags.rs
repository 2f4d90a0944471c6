//! `GET /admin/flags` and `PUT /admin/flags` (migration.md §3, §4, §6): every flag with its
//! value, default and source; one flag (or `storage.phase.all`) changed under the guard rails,
//! audited in `settings_history` and logged.

use super::facts::facts;
use super::{body, AdminContext, AdminError};
use crate::http::{Request, Response};
use crate::migration::flags::{definitions, validate, Flag, FlagValue, Flags, Setting};
use crate::migration::guard::phase::{verdict, Verdict};
use crate::migration::sweep::Sweeps;
use crate::migration::Change;
use crate::storage::d1::restore_command;
use serde::Deserialize;
use serde_json::{json, Value};

/// Who `settings_history` says made a change through this API.
const CHANGED_BY: &str = "admin-api";

/// Every flag, in `flags.json` order.
pub(super) async fn list(cx: &AdminContext<'_>) -> Result<Response, AdminError> {
    let flags = cx.fresh_flags().await?;
    let defaults = Flags::defaults(cx.default_phase);
    let listed: Vec<Value> = definitions()
        .iter()
        .map(|definition| {
            let flag = definition.flag();
            json!({
                "key": flag.name(),
                "type": flag.flag_type().as_str(),
                "value": flags.value(flag).to_json(),
                "default": defaults.value(flag).to_json(),
                "source": flags.source(flag).as_str(),
                "description": definition.description(),
            })
        })
        .collect();
    Ok(Response::json(200, &json!({ "ok": true, "flags": listed })))
}

/// The body of `PUT /admin/flags`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Put {
    key: String,
    value: Value,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    force: bool,
}

/// One change that passed: the flag, where it was, where it goes, whether a guard was forced.
struct Planned {
    setting: Setting,
    from: FlagValue,
    forced: bool,
}

/// Validates, checks every guard rail, then writes; nothing is written unless every change
/// of the request may be made.
pub(super) async fn put(cx: &AdminContext<'_>, request: &Request) -> Result<Response, AdminError> {
    let put: Put = body::json(request)?;
    let validated =
        validate(&put.key, &put.value).map_err(|e| AdminError::bad_request(e.to_string()))?;
    let reason = put.reason.trim();
    if put.force && reason.is_empty() {
        return Err(AdminError::bad_request(
            "force needs a non-empty reason, recorded with the change",
        ));
    }
    let flags = cx.fresh_flags().await?;
    // Read before anything changes: the moment a restore goes back to.
    let restore = restore_command(cx.platform.clock.now_ms());
    let moving = validated
        .settings()
        .into_iter()
        .filter_map(|setting| match setting.flag() {
            Flag::Phase(repository) => Some(repository),
            _ => None,
        });
    let sweeps = Sweeps::load(cx.platform).await?;
    let facts_of = facts(cx, moving, &flags, &sweeps).await?;
    let mut planned = Vec::new();
    let (mut forbidden, mut unmet) = (Vec::new(), Vec::new());
    for setting in validated.settings() {
        let flag = setting.flag();
        let from = flags.value(flag);
        let (Flag::Phase(repository), FlagValue::Phase(from_phase), FlagValue::Phase(to)) =
            (flag, from, setting.value())
        else {
            if from != setting.value() {
                planned.push(Planned {
                    setting,
                    from,
                    forced: false,
                });
            }
            continue;
        };
        match verdict(
            from_phase,
            to,
            &facts_of[&repository].facts,
            &flags.guards(),
        ) {
            Verdict::Unchanged => {}
            Verdict::Allowed => planned.push(Planned {
                setting,
                from,
                forced: false,
            }),
            Verdict::Unsafe(conditions) if put.force => {
                tracing::warn!(repository = %repository, from = %from_phase, to = %to, unmet = ?conditions, reason, "guard rail overridden");
                planned.push(Planned {
                    setting,
                    from,
                    forced: true,
                });
            }
            Verdict::Unsafe(conditions) => {
                unmet.extend(conditions.into_iter().map(|c| format!("{repository}: {c}")));
            }
            Verdict::Forbidden(why) => forbidden.push(format!("{repository}: {why}")),
        }
    }
    if !forbidden.is_empty() {
        tracing::warn!(details = ?forbidden, "flag change refused: forbidden transition");
        return Err(AdminError::Forbidden {
            message: "forbidden transition; nothing was changed".into(),
            details: forbidden,
        });
    }
    if !unmet.is_empty() {
        tracing::warn!(details = ?unmet, "flag change refused by a guard rail");
        return Err(AdminError::Conflict {
            message: "guard rail: the move is not safe yet; nothing was changed (force with a reason overrides)".into(),
            details: unmet,
        });
    }
    let mut changes = Vec::new();
    for plan in planned {
        let change = Change {
            by: CHANGED_BY,
            reason,
            forced: plan.forced,
            restore: &restore,
        };
        let flag = plan.setting.flag();
        let to = plan.setting.value();
        cx.flag_cache.set(cx.platform, plan.setting, change).await?;
        tracing::info!(flag = flag.name(), from = %plan.from, to = %to, forced = plan.forced, reason, "flag flipped");
        changes.push(json!({
            "key": flag.name(), "from": plan.from.to_json(), "to": to.to_json(), "forced": plan.forced,
        }));
    }
    Ok(Response::json(
        200,
        &json!({ "ok": true, "changes": changes, "restore_command": restore }),
    ))
}
