//! `settings` and `settings_history`: the runtime flags (migration.md §3). The rows are text;
//! `migration::flags` gives them their types. Every change appends its history row in the same
//! atomic batch, with the old value read inside that batch, so the audit cannot miss or
//! misstate a change.

use super::Sql;
use crate::platform::{SqlValue, Statement};
use crate::storage::{Operation, StorageResult};
use serde::Deserialize;

/// Every row: a handful, read whole. D1 without the Sessions API reads from the primary, so a
/// flip is seen by the next read after it (§3: no stale replica reads).
const SELECT_ALL: &str = "SELECT key, value FROM settings";
pub(super) const CHANGED_AT: &str = "SELECT updated_at FROM settings WHERE key = ?1";
/// The value a flag had before its latest change (index order: newest last).
pub(super) const PREVIOUS_VALUE: &str = "SELECT old_value FROM settings_history \
     WHERE key = ?1 ORDER BY changed_at DESC, id DESC LIMIT 1";
/// Runs before [`UPSERT`] in the batch, so its subquery still sees the old value (NULL when
/// the flag was unset).
pub(super) const APPEND_HISTORY: &str = "INSERT INTO settings_history \
     (key, old_value, new_value, changed_at, changed_by, reason, forced) \
     VALUES (?1, (SELECT value FROM settings WHERE key = ?1), ?2, ?3, ?4, ?5, ?6)";
/// Runs right after [`APPEND_HISTORY`] in the batch: the newest history row of the key is the
/// one just appended.
pub(super) const APPEND_RESTORE: &str = "INSERT INTO settings_history_restore \
     (history_id, restore_command) SELECT MAX(id), ?2 FROM settings_history WHERE key = ?1";
const UPSERT: &str = "INSERT INTO settings (key, value, updated_at, updated_by, reason) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
     updated_at = excluded.updated_at, updated_by = excluded.updated_by, reason = excluded.reason";

/// One `settings` row, as stored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SettingRow {
    pub key: String,
    pub value: String,
}

/// One change of one flag, as `settings_history` records it.
pub struct SettingChange<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub by: &'a str,
    pub reason: &'a str,
    pub forced: bool,
    /// How to put D1 back as it was just before the change (see [`restore_command`]).
    pub restore: &'a str,
}

/// The D1 Time Travel command that restores the database (binding `FEAR_GREED_D1`) to the
/// second before `at_ms`: what an operator runs to undo a flip and everything written since.
pub(crate) fn restore_command(at_ms: i64) -> String {
    let second_before = (at_ms - 1).div_euclid(1000);
    format!("wrangler d1 time-travel restore FEAR_GREED_D1 --timestamp={second_before}")
}

/// The flags' table and its history.
pub struct D1Settings(pub(crate) Sql);

impl D1Settings {
    pub(crate) async fn all(&self) -> StorageResult<Vec<SettingRow>> {
        let op = Operation::new("settings.all");
        self.0
            .query_as(&op, Statement::new(SELECT_ALL, vec![]))
            .await
    }

    /// When the flag `key` was last set; `None` when it never was.
    pub(crate) async fn changed_at(&self, key: &str) -> StorageResult<Option<i64>> {
        #[derive(Deserialize)]
        struct Row {
            updated_at: i64,
        }
        let op = Operation::new("settings.changed_at");
        let rows: Vec<Row> = self
            .0
            .query_as(&op, Statement::new(CHANGED_AT, vec![key.into()]))
            .await?;
        Ok(rows.first().map(|row| row.updated_at))
    }

    /// The value the flag `key` had before its latest change; `None` when it never changed
    /// or was unset before.
    pub(crate) async fn previous_value(&self, key: &str) -> StorageResult<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            old_value: Option<String>,
        }
        let op = Operation::new("settings.previous_value");
        let rows: Vec<Row> = self
            .0
            .query_as(&op, Statement::new(PREVIOUS_VALUE, vec![key.into()]))
            .await?;
        Ok(rows.into_iter().next().and_then(|row| row.old_value))
    }

    /// Sets one flag and appends its history row, atomically; the time is the clock's.
    pub(crate) async fn write(&self, change: &SettingChange<'_>) -> StorageResult<()> {
        let op = Operation::new("settings.write");
        let now = self.0.now();
        // Both statements take key, value, time, who and why as ?1–?5; the history adds ?6.
        let params: Vec<SqlValue> = vec![
            change.key.into(),
            change.value.into(),
            now.into(),
            change.by.into(),
            change.reason.into(),
        ];
        let mut history_params = params.clone();
        history_params.push(i64::from(change.forced).into());
        let history = Statement::new(APPEND_HISTORY, history_params);
        let restore = Statement::new(
            APPEND_RESTORE,
            vec![change.key.into(), change.restore.into()],
        );
        let upsert = Statement::new(UPSERT, params);
        self.0
            .batch(&op, vec![history, restore, upsert])
            .await
            .map(drop)
    }
}
