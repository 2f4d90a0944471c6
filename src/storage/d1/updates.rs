//! `telegram_updates`: the claims that make the webhook safe to redeliver (legacy §10.8).
//! They live in D1 in every storage phase: KV's eventual consistency cannot hold a claim.
//! [`UpdateClaim`] takes an update's claim with its first write, so that commands that write
//! nothing pay nothing for it, and where D1 answers the write the claim costs no round trip.

use super::Sql;
use crate::platform::{Platform, PlatformError, Row, SqlDatabase, Statement};
use crate::storage::{Operation, StorageError, StorageResult};
use async_trait::async_trait;
use serde::Deserialize;
use std::cell::Cell;
use std::rc::Rc;

/// After this long a `running` claim is taken to belong to a crashed attempt. An attempt can
/// legitimately run for minutes: each ticker whose chart keeps failing costs up to 47 s of
/// timeouts and retry pauses (§5.1).
pub const CLAIM_EXPIRY_MS: i64 = 15 * 60 * 1000;
/// How long finished updates are remembered (Telegram retries for up to 24 hours).
pub(crate) const RETENTION_MS: i64 = 48 * 60 * 60 * 1000;

/// Takes over a claim whose attempt crashed (`running` for longer than [`CLAIM_EXPIRY_MS`]);
/// always followed by [`CLAIM`], in one transaction.
const TAKE_OVER: &str =
    "DELETE FROM telegram_updates WHERE update_id = ?1 AND state = 'running' AND claimed_at <= ?2";
/// Claims the update as running: a claim already there (done, or running elsewhere) fails the
/// insert, and the statements that came with it are rolled back.
const CLAIM: &str =
    "INSERT INTO telegram_updates (update_id, state, claimed_at) VALUES (?1, 'running', ?2)";
/// The column a [`CLAIM`] violates when the update was claimed already.
const CLAIMED_ALREADY: &str = "telegram_updates.update_id";
pub(super) const STATE: &str = "SELECT state FROM telegram_updates WHERE update_id = ?1";
const FINISH: &str =
    "UPDATE telegram_updates SET state = 'done', finished_at = ?2 WHERE update_id = ?1";
const RELEASE: &str = "DELETE FROM telegram_updates WHERE update_id = ?1 AND state = 'running'";
pub(super) const PURGE: &str = "DELETE FROM telegram_updates WHERE claimed_at < ?1";

/// What a claim that could not be taken found: where the other attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
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
    /// The statements that claim `update_id` for this attempt, taking over a crashed one.
    fn claiming(&self, update_id: i64) -> [Statement; 2] {
        let now = self.0.now();
        [
            Statement::new(
                TAKE_OVER,
                vec![update_id.into(), (now - CLAIM_EXPIRY_MS).into()],
            ),
            Statement::new(CLAIM, vec![update_id.into(), now.into()]),
        ]
    }

    /// What a claim that could not be taken found: done, or running elsewhere.
    async fn found(&self, update_id: i64) -> StorageResult<Claim> {
        let op = Operation::new("updates.state");
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
    pub(crate) async fn finish(&self, update_id: i64) -> StorageResult<()> {
        let op = Operation::new("updates.finish");
        let params = vec![update_id.into(), self.0.now().into()];
        self.0
            .execute(&op, Statement::new(FINISH, params))
            .await
            .map(drop)
    }

    /// Gives the update up after a failed attempt, so its redelivery runs it again.
    pub(crate) async fn release(&self, update_id: i64) -> StorageResult<()> {
        let op = Operation::new("updates.release");
        self.0
            .execute(&op, Statement::new(RELEASE, vec![update_id.into()]))
            .await
            .map(drop)
    }

    /// Forgets updates claimed before the retention window; returns how many.
    pub(crate) async fn purge_old(&self) -> StorageResult<u64> {
        let op = Operation::new("updates.purge_old");
        let before = self.0.now() - RETENTION_MS;
        self.0
            .execute(&op, Statement::new(PURGE, vec![before.into()]))
            .await
    }
}

/// Where one update's claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Nothing to claim yet: the command may still turn out to write nothing.
    Open,
    /// The command writes: its next storage call takes the claim.
    Armed,
    /// Claimed as running: marked done after the response, or released if the attempt fails.
    Running,
    /// Another attempt applied the update, or is applying it: this one must not.
    Refused(Claim),
    /// D1 could not be reached for the claim: the update runs unguarded, as the legacy bot's
    /// did, rather than being refused.
    Unguarded,
}

struct Taken {
    update_id: i64,
    stage: Cell<Stage>,
    claims: UpdateClaims,
}

/// One update's claim (legacy §10.8). A command that writes arms it before it runs
/// ([`UpdateClaim::arm`]); its first storage call then takes it, before anything the command
/// reads can shape its answer: a D1 call carries the claim in its own transaction
/// ([`UpdateClaim::wrap`]: no round trip of its own), a KV call is preceded by it
/// ([`UpdateClaim::before_kv_call`]). A command that writes nothing never claims. The claim
/// is marked done after the response ([`UpdateClaim::finish`]). Clones share the claim; the
/// claim of a cron run or of an update without an id is [`UpdateClaim::none`].
#[derive(Clone, Default)]
pub struct UpdateClaim(Option<Rc<Taken>>);

impl UpdateClaim {
    /// Nothing to claim.
    pub fn none() -> Self {
        Self(None)
    }

    /// The claim of `update_id`, on `platform`'s D1; not armed.
    pub(crate) fn of(update_id: i64, platform: &Platform) -> Self {
        Self(Some(Rc::new(Taken {
            update_id,
            stage: Cell::new(Stage::Open),
            claims: UpdateClaims(Sql::new(platform)),
        })))
    }

    /// The command writes: its next storage call takes the claim.
    pub(crate) fn arm(&self) {
        if let Some(taken) = self.at(Stage::Open) {
            taken.stage.set(Stage::Armed);
        }
    }

    /// What another attempt had done, when this one found the update claimed.
    pub(crate) fn refused(&self) -> Option<Claim> {
        match self.0.as_ref()?.stage.get() {
            Stage::Refused(claim) => Some(claim),
            _ => None,
        }
    }

    /// The claim, while it is in `stage`.
    fn at(&self, stage: Stage) -> Option<&Taken> {
        self.0.as_deref().filter(|taken| taken.stage.get() == stage)
    }

    /// Takes an armed claim before a call to KV, in a D1 transaction of its own. A claim that
    /// cannot be taken fails the call with the constraint error, and
    /// [`UpdateClaim::refused`] says why; a D1 that cannot be reached lets the update run
    /// unguarded.
    pub(crate) async fn before_kv_call(&self) -> StorageResult<()> {
        if let Some(taken) = self.0.as_deref().filter(|t| t.is_refused()) {
            return Err(StorageError::D1Constraint {
                operation: Operation::new("updates.claim"),
                constraint: format!("UNIQUE({CLAIMED_ALREADY})"),
                message: taken.refusal().0,
            });
        }
        let Some(taken) = self.at(Stage::Armed) else {
            return Ok(());
        };
        let op = Operation::new("updates.claim");
        let claiming = taken.claims.claiming(taken.update_id);
        match taken.claims.0.batch(&op, claiming.to_vec()).await {
            Ok(_) => taken.stage.set(Stage::Running),
            Err(error) if error.to_string().contains(CLAIMED_ALREADY) => {
                taken.refuse().await;
                return Err(error);
            }
            Err(error) => {
                tracing::error!(update_id = taken.update_id, error = %error, "claiming the update failed; running it anyway");
                taken.stage.set(Stage::Unguarded);
            }
        }
        Ok(())
    }

    /// `db` as the bot's repositories see it for this update: while the claim is armed, the
    /// next call runs in one transaction with the claim.
    pub(crate) fn wrap(&self, db: Rc<dyn SqlDatabase>) -> Rc<dyn SqlDatabase> {
        match &self.0 {
            None => db,
            Some(taken) => Rc::new(Carrier {
                db,
                taken: taken.clone(),
            }),
        }
    }

    /// After the response: a claim taken is marked done.
    pub(crate) async fn finish(&self) {
        let Some(taken) = self.at(Stage::Running) else {
            return;
        };
        if let Err(e) = taken.claims.finish(taken.update_id).await {
            tracing::error!(update_id = taken.update_id, error = %e, "marking the update done failed");
        }
    }

    /// After a failed attempt: a claim taken is given up, so Telegram's redelivery runs the
    /// update again.
    pub(crate) async fn release(&self) {
        let Some(taken) = self.at(Stage::Running) else {
            return;
        };
        taken.stage.set(Stage::Open);
        if let Err(e) = taken.claims.release(taken.update_id).await {
            tracing::error!(update_id = taken.update_id, error = %e, "releasing the claim failed; it expires on its own");
        }
    }
}

impl Taken {
    fn is_refused(&self) -> bool {
        matches!(self.stage.get(), Stage::Refused(_))
    }

    /// The error every call of a refused attempt fails with: it must change nothing.
    fn refusal(&self) -> PlatformError {
        PlatformError(format!(
            "update {} was claimed by another attempt ({CLAIMED_ALREADY})",
            self.update_id
        ))
    }

    /// The claim was there already: notes what the other attempt had done.
    async fn refuse(&self) {
        let found = self.claims.found(self.update_id).await;
        self.stage
            .set(Stage::Refused(found.unwrap_or(Claim::InProgress)));
    }

    /// Settles an armed claim from the answer of the call that carried it.
    async fn carried<T>(&self, answer: Result<T, PlatformError>) -> Result<T, PlatformError> {
        match &answer {
            Ok(_) => self.stage.set(Stage::Running),
            Err(error) if error.0.contains(CLAIMED_ALREADY) => self.refuse().await,
            // The call failed and took the claim with it: the next one carries it again.
            Err(_) => {}
        }
        answer
    }
}

/// The D1 database of [`UpdateClaim::wrap`].
struct Carrier {
    db: Rc<dyn SqlDatabase>,
    taken: Rc<Taken>,
}

impl Carrier {
    /// The claim's statements, when this call is to carry them; an error when the attempt
    /// was refused, so that nothing it still tries lands.
    fn claiming(&self) -> Result<Option<[Statement; 2]>, PlatformError> {
        let taken = &*self.taken;
        match taken.stage.get() {
            Stage::Armed => Ok(Some(taken.claims.claiming(taken.update_id))),
            Stage::Refused(_) => Err(taken.refusal()),
            _ => Ok(None),
        }
    }
}

#[async_trait(?Send)]
impl SqlDatabase for Carrier {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, PlatformError> {
        match self.claiming()? {
            None => self.db.query(statement).await,
            Some(_) => self.query_after(&[], statement).await,
        }
    }

    async fn execute(&self, statement: &Statement) -> Result<u64, PlatformError> {
        match self.claiming()? {
            None => self.db.execute(statement).await,
            Some(_) => Ok(self.batch(std::slice::from_ref(statement)).await?[0]),
        }
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, PlatformError> {
        let Some(claiming) = self.claiming()? else {
            return self.db.batch(statements).await;
        };
        let carried: Vec<Statement> = claiming
            .into_iter()
            .chain(statements.iter().cloned())
            .collect();
        let answer = self.db.batch(&carried).await;
        let answer = self.taken.carried(answer).await?;
        Ok(answer[2..].to_vec())
    }

    async fn query_after(
        &self,
        writes: &[Statement],
        read: &Statement,
    ) -> Result<Vec<Row>, PlatformError> {
        let Some(claiming) = self.claiming()? else {
            return self.db.query_after(writes, read).await;
        };
        let carried: Vec<Statement> = claiming.into_iter().chain(writes.iter().cloned()).collect();
        let answer = self.db.query_after(&carried, read).await;
        self.taken.carried(answer).await
    }
}
