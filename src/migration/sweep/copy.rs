//! The two copies: the backfill's page (KV → D1, landed by the sweep's guarded commit) and the
//! reverse sync's page (D1 → KV, written here, then checked for races).

use super::pages::Page;
use super::sweeper::{skip_corrupt, Sweeper};
use super::{tally, Kind, Progress};
use crate::migration::Phase;
use crate::storage::d1::{Finding, Version};
use crate::storage::{Snapshot, StorageResult, Store};

impl Sweeper {
    /// The backfill (and its dry run) of one page, up to its commit: reads the page
    /// ([`Sweeper::read_page`]); returns the page's findings and the copies to land under their
    /// versions: the entities whose KV value D1 does not hold yet (a dry run counts them the
    /// same, and lands none). An entity changed in D1 within KV's propagation window goes to
    /// the repair queue instead: KV may not show that change yet.
    pub(super) async fn read_for_d1(
        &self,
        page: &Page,
        next: &mut Progress,
    ) -> StorageResult<(Vec<Finding>, Vec<(Snapshot, Version)>)> {
        let read = self.read_page(page, self.budget.settle_ms).await?;
        let mut findings = page.bad_keys.clone();
        let mut copies = Vec::new();
        let entities = page.entities.iter().zip(&read.names);
        for (((key, name), source), target) in entities.zip(read.kv).zip(read.d1) {
            let Some(snapshot) = skip_corrupt(next, key, source, &mut findings)? else {
                continue;
            };
            if target.ok().as_ref() == Some(&snapshot) {
                next.tally.matched += 1;
                continue;
            }
            let version = read.versions.get(name).copied().unwrap_or_default();
            if version.recent {
                // A dry run writes nothing, not even a repair: it only counts.
                if next.kind != Kind::DryRun {
                    self.defer(
                        key,
                        Store::D1,
                        "changed in D1 within KV's propagation window",
                    )
                    .await?;
                }
                next.tally.deferred += 1;
            } else {
                copies.push((snapshot, version));
            }
        }
        Ok((findings, copies))
    }

    /// The reverse sync of one page: each entity's D1 value written to KV in the legacy bytes
    /// where KV does not hold it already. An entity a user changed in D1 meanwhile (its
    /// version moved between the read before and the read after) is listed, counted as
    /// deferred, and in `shadow` queued for repair towards KV: a reverse sync with deferred
    /// entities does not count as completed (`admin::facts`), and running it again copies them.
    pub(super) async fn copy_to_kv(
        &self,
        page: &Page,
        next: &mut Progress,
    ) -> StorageResult<Vec<Finding>> {
        let read = self.read_page(page, 0).await?;
        let repository = next.repository;
        for (source, target) in read.d1.into_iter().zip(read.kv) {
            let snapshot = source?;
            // KV writes are the costly ones (and limited to one a second per key): one that
            // would change nothing is left out. A corrupt KV value is replaced.
            if target.ok().as_ref() == Some(&snapshot) {
                next.tally.matched += 1;
                continue;
            }
            self.kv.replace(&snapshot).await?;
            next.tally.written += 1;
            next.tally.rows_written += tally::rows(&snapshot);
        }
        let after = self.store.versions(repository, &read.names, 0).await?;
        let mut findings = page.bad_keys.clone();
        for (key, name) in page.entities.iter().zip(&read.names) {
            let before = read.versions.get(name).map(|v| v.number);
            if before == after.get(name).map(|v| v.number) {
                continue;
            }
            next.tally.deferred += 1;
            findings.push(Finding {
                entity_key: name.clone(),
                problem: "changed_during_copy".into(),
                detail: "D1 changed while the entity was copied to KV; the next reverse sync \
                         copies it again"
                    .into(),
            });
            if self.phases.get(repository) == Phase::Shadow {
                self.defer(key, Store::Kv, "changed in D1 while reverse-synced")
                    .await?;
            }
        }
        Ok(findings)
    }
}
