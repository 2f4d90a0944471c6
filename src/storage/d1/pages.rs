//! `pages`: the on-call pages sent and not yet cleared (migration 0010). Every change is a
//! conditional write that says whether it changed the row, so of two cron runs deciding the
//! same page only one claims it (see `migration::paging`).

use super::Sql;
use crate::platform::{Platform, Statement};
use crate::storage::{Operation, StorageResult};
use serde::Deserialize;

/// Every row: one per firing condition, a handful at most.
const SELECT_ALL: &str =
    "SELECT condition, first_paged_at, last_paged_at, numbers FROM pages ORDER BY condition";
/// A new page: only if no run paged the condition meanwhile.
const CLAIM_NEW: &str = "INSERT INTO pages (condition, first_paged_at, last_paged_at, numbers) \
     VALUES (?1, ?2, ?2, ?3) ON CONFLICT(condition) DO NOTHING";
/// A repeated page: only if the row is still the one read.
pub(super) const CLAIM_REPEAT: &str = "UPDATE pages SET last_paged_at = ?3, numbers = ?4 \
     WHERE condition = ?1 AND last_paged_at = ?2";
/// A cleared condition: only if the row is still the one read.
pub(super) const CLAIM_CLEAR: &str =
    "DELETE FROM pages WHERE condition = ?1 AND last_paged_at = ?2";
/// Puts a row back as it was read (a "cleared" message that could not be sent).
const RESTORE: &str = "INSERT INTO pages (condition, first_paged_at, last_paged_at, numbers) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT(condition) DO NOTHING";
/// Gives back a new page's claim (its message could not be sent).
const UNCLAIM_NEW: &str = "DELETE FROM pages WHERE condition = ?1 AND last_paged_at = ?2";
/// Gives back a repeated page's claim.
const UNCLAIM_REPEAT: &str = "UPDATE pages SET last_paged_at = ?3, numbers = ?4 \
     WHERE condition = ?1 AND last_paged_at = ?2";

/// One condition paged and not cleared.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PageRow {
    pub condition: String,
    pub first_paged_at: i64,
    pub last_paged_at: i64,
    pub numbers: String,
}

/// The `pages` table.
pub struct Pages(Sql);

impl Pages {
    pub fn new(platform: &Platform) -> Self {
        Self(Sql::new(platform))
    }

    pub async fn all(&self) -> StorageResult<Vec<PageRow>> {
        let op = Operation::new("pages.all");
        self.0
            .query_as(&op, Statement::new(SELECT_ALL, vec![]))
            .await
    }

    /// Claims the first page of `condition` at `now`; false when another run already did.
    pub async fn claim_new(&self, condition: &str, now: i64, numbers: &str) -> StorageResult<bool> {
        let params = vec![condition.into(), now.into(), numbers.into()];
        self.changed("pages.claim_new", CLAIM_NEW, params).await
    }

    /// Claims a repeated page of `row`'s condition at `now`; false when another run already did.
    pub async fn claim_repeat(
        &self,
        row: &PageRow,
        now: i64,
        numbers: &str,
    ) -> StorageResult<bool> {
        let params = vec![
            row.condition.as_str().into(),
            row.last_paged_at.into(),
            now.into(),
            numbers.into(),
        ];
        self.changed("pages.claim_repeat", CLAIM_REPEAT, params)
            .await
    }

    /// Claims the "cleared" message of `row`'s condition (deletes the row); false when another
    /// run already did, or paged it again meanwhile.
    pub async fn claim_clear(&self, row: &PageRow) -> StorageResult<bool> {
        let params = vec![row.condition.as_str().into(), row.last_paged_at.into()];
        self.changed("pages.claim_clear", CLAIM_CLEAR, params).await
    }

    /// Undoes a claim whose message did not go out, so the next run tries again: `before` is
    /// the row as it was read (`None` for a new page), `claimed_at` the claim's time.
    pub async fn unclaim(
        &self,
        condition: &str,
        before: Option<&PageRow>,
        claimed_at: Option<i64>,
    ) -> StorageResult<()> {
        let statement = match (before, claimed_at) {
            (None, Some(at)) => Statement::new(UNCLAIM_NEW, vec![condition.into(), at.into()]),
            (Some(row), Some(at)) => Statement::new(
                UNCLAIM_REPEAT,
                vec![
                    condition.into(),
                    at.into(),
                    row.last_paged_at.into(),
                    row.numbers.as_str().into(),
                ],
            ),
            (Some(row), None) => Statement::new(
                RESTORE,
                vec![
                    condition.into(),
                    row.first_paged_at.into(),
                    row.last_paged_at.into(),
                    row.numbers.as_str().into(),
                ],
            ),
            (None, None) => return Ok(()),
        };
        self.0
            .execute(&Operation::new("pages.unclaim"), statement)
            .await
            .map(drop)
    }

    async fn changed(
        &self,
        op: &'static str,
        sql: &'static str,
        params: Vec<crate::platform::SqlValue>,
    ) -> StorageResult<bool> {
        let changed = self
            .0
            .execute(&Operation::new(op), Statement::new(sql, params))
            .await?;
        Ok(changed == 1)
    }
}
