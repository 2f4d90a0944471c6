//! `telegram_updates`: the claims that make the webhook safe to redeliver (legacy §10.8).
//! They live in D1 in every storage phase: KV's eventual consistency cannot hold a claim.

use super::Sql;
use crate::platform::Statement;
use crate::storage::{Operation, StorageResult};
use serde::Deserialize;

/// After this long a `running` claim is taken to belong to a crashed attempt. An attempt can
/// legitimately run for minutes: each ticker whose chart keeps failing costs up to 47 s of
/// timeouts and retry pauses (§5.1).
pub const CLAIM_EXPIRY_MS: i64 = 15 * 60 * 1000;
/// How long finished updates are remembered (Telegram retries for up to 24 hours).
pub const RETENTION_MS: i64 = 48 * 60 * 60 * 1000;

pub(super) const CLAIM: &str = "INSERT INTO telegram_updates (update_id, state, claimed_at) \
     VALUES (?1, 'running', ?2) ON CONFLICT(update_id) DO UPDATE SET claimed_at = excluded.claimed_at \
     WHERE telegram_updates.state = 'running' AND telegram_updates.claimed_at <= ?3";
pub(super) const STATE: &str = "SELECT state FROM telegram_updates WHERE update_id = ?1";
const FINISH: &str =
    "UPDATE telegram_updates SET state = 'done', finished_at = ?2 WHERE update_id = ?1";
const RELEASE: &str = "DELETE FROM telegram_updates WHERE update_id = ?1 AND state = 'running'";
pub(super) const PURGE: &str = "DELETE FROM telegram_updates WHERE claimed_at < ?1";

/// What a claim attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This attempt runs the update.
    Claimed,
    /// An earlier attempt applied it: acknowledge, do nothing.
    AlreadyDone,
    /// Another attempt is running it now: answer with a status Telegram retries.
    InProgress,
}

#[derive(Deserialize)]
struct StateRow {
    state: String,
}

/// The webhook's claims on update ids.
pub struct UpdateClaims(pub(crate) Sql);

impl UpdateClaims {
    /// Takes `update_id` for this attempt unless it is done or freshly running elsewhere.
    pub async fn claim(&self, update_id: i64) -> StorageResult<Claim> {
        let op = Operation::new("updates.claim");
        let now = self.0.now();
        let params = vec![update_id.into(), now.into(), (now - CLAIM_EXPIRY_MS).into()];
        if self.0.execute(&op, Statement::new(CLAIM, params)).await? == 1 {
            return Ok(Claim::Claimed);
        }
        let rows: Vec<StateRow> = self
            .0
            .query_as(&op, Statement::new(STATE, vec![update_id.into()]))
            .await?;
        Ok(match rows.first().map(|r| r.state.as_str()) {
            Some("done") => Claim::AlreadyDone,
            // The claim vanished in between (its attempt failed): let Telegram retry.
            _ => Claim::InProgress,
        })
    }

    /// Marks the update applied: later deliveries are acknowledged and ignored.
    pub async fn finish(&self, update_id: i64) -> StorageResult<()> {
        let op = Operation::new("updates.finish");
        let params = vec![update_id.into(), self.0.now().into()];
        self.0
            .execute(&op, Statement::new(FINISH, params))
            .await
            .map(drop)
    }

    /// Gives the update up after a failed attempt, so its redelivery runs it again.
    pub async fn release(&self, update_id: i64) -> StorageResult<()> {
        let op = Operation::new("updates.release");
        self.0
            .execute(&op, Statement::new(RELEASE, vec![update_id.into()]))
            .await
            .map(drop)
    }

    /// Forgets updates claimed before the retention window; returns how many.
    pub async fn purge_old(&self) -> StorageResult<u64> {
        let op = Operation::new("updates.purge_old");
        let before = self.0.now() - RETENTION_MS;
        self.0
            .execute(&op, Statement::new(PURGE, vec![before.into()]))
            .await
    }
}
