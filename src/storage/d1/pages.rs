//! `pages`: the on-call pages sent and not yet cleared (migration 0010). Every change is a
//! conditional write that says whether it changed the row, so of two cron runs deciding the
//! same page only one claims it (see `migration::paging`).

use super::Sql;
use crate::platform::{Platform, SqlValue, Statement};
use crate::storage::{Operation, StorageResult};
use serde::Deserialize;

/// Every row: one per firing condition, a handful at most.
const SELECT_ALL: &str =
    "SELECT condition, first_paged_at, last_paged_at, numbers FROM pages ORDER BY condition";
/// A first page: only if no run paged the condition meanwhile.
const INSERT: &str = "INSERT INTO pages (condition, first_paged_at, last_paged_at, numbers) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT(condition) DO NOTHING";
/// A repeated page (or one given back): only if the row is still the one read.
pub(super) const UPDATE: &str =
    "UPDATE pages SET first_paged_at = ?2, last_paged_at = ?3, numbers = ?4 \
     WHERE condition = ?1 AND last_paged_at = ?5";
/// A cleared condition (or a first page given back): only if the row is still the one read.
pub(super) const DELETE: &str = "DELETE FROM pages WHERE condition = ?1 AND last_paged_at = ?2";

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

    /// Changes `condition`'s row from `from` (as read; `None`: no row) to `to` (`None`: no
    /// row), only if it is still `from`: true when this call changed it, false when another
    /// run changed it first. A claim is `swap(before, after)`; giving it back, `swap(after,
    /// before)`.
    pub async fn swap(&self, from: Option<&PageRow>, to: Option<&PageRow>) -> StorageResult<bool> {
        let statement = match (from, to) {
            (None, Some(to)) => Statement::new(INSERT, to.params()),
            (Some(from), Some(to)) => {
                let mut params = to.params();
                params.push(from.last_paged_at.into());
                Statement::new(UPDATE, params)
            }
            (Some(from), None) => Statement::new(
                DELETE,
                vec![from.condition.as_str().into(), from.last_paged_at.into()],
            ),
            (None, None) => return Ok(false),
        };
        let changed = self
            .0
            .execute(&Operation::new("pages.swap"), statement)
            .await?;
        Ok(changed == 1)
    }
}

impl PageRow {
    fn params(&self) -> Vec<SqlValue> {
        vec![
            self.condition.as_str().into(),
            self.first_paged_at.into(),
            self.last_paged_at.into(),
            self.numbers.as_str().into(),
        ]
    }
}
