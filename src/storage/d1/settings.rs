//! `settings` and `settings_history`: the runtime flags (migration.md §3). The rows are text;
//! `migration::flags` gives them their types. Every change appends its history row in the same
//! atomic batch, with the old value read inside that batch, so the audit cannot miss or
//! misstate a change.

use super::repairs::RECONCILING;
use super::{Sql, CLAIM_EXPIRY_MS};
use crate::platform::{SqlValue, Statement};
use crate::storage::{Operation, StorageResult};
use serde::Deserialize;

/// Every row: a handful, read whole. D1 without the Sessions API reads from the primary, so a
/// flip is seen by the next read after it (§3: no stale replica reads).
///
/// A phase row (`storage.phase.<repository>`) comes with its [`PhaseStanding`], in the same
/// statement so that all of it is one snapshot: when it changed; for a change since ?1, the
/// phase before it (the latest history row by id: two clocks may disagree on the order), the
/// claims made before it (within ?3 of it) that are still running (claimed since ?2, so not
/// expired) and the latest time one of them finished; and whether a repair towards KV, towards
/// D1, that is not a reconciliation (?4, see `repairs`) is queued for the repository (probes of
/// the index of migration 0013); and whether the phase's latest change, as its history row
/// records it, set the current value through the guard rails, unforced.
pub(super) const SELECT_ALL: &str = "SELECT key, value, \
     CASE WHEN key >= 'storage.phase.' AND key < 'storage.phase/' THEN updated_at END AS changed_at, \
     CASE WHEN key >= 'storage.phase.' AND key < 'storage.phase/' AND updated_at > ?1 THEN \
       (SELECT h.old_value FROM settings_history h WHERE h.id = \
        (SELECT max(id) FROM settings_history WHERE key = s.key)) END AS previous, \
     CASE WHEN key >= 'storage.phase.' AND key < 'storage.phase/' AND updated_at > ?1 THEN \
       (SELECT count(*) FROM telegram_updates t WHERE t.claimed_at >= ?2 \
        AND t.claimed_at <= s.updated_at AND t.state = 'running') END AS running_before, \
     CASE WHEN key >= 'storage.phase.' AND key < 'storage.phase/' AND updated_at > ?1 THEN \
       (SELECT max(t.finished_at) FROM telegram_updates t WHERE t.claimed_at >= s.updated_at - ?3 \
        AND t.claimed_at <= s.updated_at) END AS finished_before, \
     CASE WHEN key >= 'storage.phase.' AND key < 'storage.phase/' THEN EXISTS (SELECT 1 \
       FROM repair_queue r WHERE r.repository = substr(s.key, 15) AND r.target = 'kv' \
       AND r.reason NOT LIKE ?4) END AS queued_to_kv, \
     CASE WHEN key >= 'storage.phase.' AND key < 'storage.phase/' THEN EXISTS (SELECT 1 \
       FROM repair_queue r WHERE r.repository = substr(s.key, 15) AND r.target = 'd1' \
       AND r.reason NOT LIKE ?4) END AS queued_to_d1, \
     CASE WHEN key >= 'storage.phase.' AND key < 'storage.phase/' THEN \
       (SELECT h.forced = 0 AND h.new_value = s.value FROM settings_history h WHERE h.id = \
        (SELECT max(id) FROM settings_history WHERE key = s.key)) END AS entered_unforced \
     FROM settings s";
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

/// One `settings` row, as stored, with its [`PhaseStanding`] when it is a phase row.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SettingRow {
    pub key: String,
    pub value: String,
    #[serde(flatten)]
    pub standing: PhaseStanding,
}

/// What the flags' read learns of a phase row besides its value (see [`SELECT_ALL`]); all
/// `None` for other rows, and the claims and the previous phase `None` for a change older
/// than the read's horizon.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PhaseStanding {
    /// When the phase was last set (ms, the worker's clock).
    pub changed_at: Option<i64>,
    /// The phase before that change.
    pub previous: Option<String>,
    /// Claims made before the change that are still running.
    pub running_before: Option<i64>,
    /// When the last of the claims made before the change finished.
    pub finished_before: Option<i64>,
    /// 1 when KV missed a write of the repository that is queued for repair.
    pub queued_to_kv: Option<i64>,
    /// 1 when D1 missed a write of the repository that is queued for repair.
    pub queued_to_d1: Option<i64>,
    /// 1 when the phase's latest change passed the guard rails (not forced) and set the value
    /// the row holds; `None` when no history row records the change (set outside the admin API).
    pub entered_unforced: Option<i64>,
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
    /// Every row, each phase row with the standing of a change made within `horizon_ms`.
    pub(crate) async fn all(&self, horizon_ms: i64) -> StorageResult<Vec<SettingRow>> {
        let op = Operation::new("settings.all");
        let now = self.0.now();
        let params = vec![
            (now - horizon_ms).into(),
            (now - CLAIM_EXPIRY_MS).into(),
            CLAIM_EXPIRY_MS.into(),
            RECONCILING.into(),
        ];
        self.0
            .query_as(&op, Statement::new(SELECT_ALL, params))
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
