//! The validation's page: both stores read, every entity compared (migration.md §5,
//! properties 13–16).

use super::pages::Page;
use super::sweeper::{skip_corrupt, Sweeper};
use super::{tally, Progress};
use crate::migration::experiment::{diff, Class, Reading};
use crate::storage::d1::Finding;
use crate::storage::{Snapshot, StorageResult, Store};

impl Sweeper {
    /// Compares each entity of the page. A difference is listed with its diff; one on an
    /// entity changed within KV's propagation window is in flight (`stale_kv_suspected`),
    /// any other is a discrepancy, queued for repair towards the store that is not
    /// authoritative, in the phases that have one; but never the deletion of a record only KV
    /// has.
    pub(super) async fn validate(
        &self,
        page: &Page,
        next: &mut Progress,
    ) -> StorageResult<Vec<Finding>> {
        let read = self.read_page(page, self.budget.settle_ms).await?;
        let repository = next.repository;
        let mut findings = page.bad_keys.clone();
        let entities = page.entities.iter().zip(&read.names);
        for (((key, name), kv), d1) in entities.zip(read.kv).zip(read.d1) {
            let d1 = d1?;
            next.tally.d1_rows += tally::rows(&d1);
            let Some(kv) = skip_corrupt(next, key, kv, &mut findings)? else {
                continue;
            };
            next.tally.kv_rows += tally::rows(&kv);
            if kv == d1 {
                next.tally.matched += 1;
                continue;
            }
            let recent = read.versions.get(name).is_some_and(|v| v.recent);
            let problem = match (kv.is_absent(), d1.is_absent()) {
                _ if recent => Class::StaleKvSuspected,
                (false, true) => Class::MissingInD1,
                (true, false) => Class::MissingInKv,
                _ => Class::ValueMismatch,
            };
            tracing::warn!(repository = %repository, entity_key = %name, class = problem.as_str(),
                "validation found a difference");
            findings.push(Finding {
                entity_key: name.clone(),
                problem: problem.as_str().into(),
                detail: diff(&reading(&d1), &reading(&kv)),
            });
            if recent {
                next.tally.in_flight += 1;
                continue;
            }
            next.tally.discrepancies += 1;
            match self.phases.get(repository).second() {
                // The repair would copy D1's "no record" over what may be the record's only
                // copy (MIGRATION.md, "Shadow reads"): it is listed, counted and kept.
                Some(Store::Kv) if problem == Class::MissingInD1 => {
                    tracing::warn!(repository = %repository, entity_key = %name,
                        "a record only KV has is kept, not queued for deletion");
                }
                // The store that receives second writes missed one.
                Some(target) => {
                    self.defer(key, target, "validation found the stores different")
                        .await?;
                }
                // In a single-store phase the other store no longer matters until the
                // backfill or reverse sync.
                None => {}
            }
        }
        Ok(findings)
    }
}

/// An entity's value as the comparator renders it.
fn reading(snapshot: &Snapshot) -> Reading {
    if snapshot.is_absent() {
        return Reading::Missing;
    }
    let value = match snapshot {
        Snapshot::Subscribers(chats) => {
            serde_json::Value::from(chats.iter().map(|c| c.get()).collect::<Vec<_>>())
        }
        Snapshot::Watchlist(_, tickers) => serde_json::Value::from(tickers.clone()),
        Snapshot::Executions(_, list) => serde_json::to_value(list).unwrap_or_default(),
        Snapshot::Position(_, position) => serde_json::to_value(position).unwrap_or_default(),
        Snapshot::Cache(_, entry) => entry
            .as_ref()
            .map(|e| serde_json::json!({ "data": e.data, "writtenAt": e.written_at }))
            .unwrap_or_default(),
    };
    Reading::Found(value)
}
