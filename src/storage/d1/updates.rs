//! `telegram_updates`: the claims that make the webhook safe to redeliver (legacy §10.8).
//! They live in D1 in every storage phase: KV's eventual consistency cannot hold a claim.
//! [`UpdateClaim`] takes an update's claim with its first write, so that commands that write
//! nothing pay nothing for it, and where D1 answers the write the claim costs no round trip.
//! The claim also fences the attempt against a phase flip it has not seen ([`PhaseRows`]).

use super::{SettingRow, Sql};
use crate::platform::{Platform, PlatformError, Row, SqlDatabase, SqlValue, Statement};
use crate::storage::{Operation, StorageError, StorageResult};
use async_trait::async_trait;
use serde::Deserialize;
use std::cell::{Cell, RefCell};
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
/// insert, and the statements that came with it are rolled back. When fenced (?3 = 1), the
/// `storage.phase.*` rows of `settings` must still be ?4 (as [`PhaseRows::of`] spells them):
/// otherwise the state is NULL, which fails the insert ([`FENCED`]) and rolls the batch back.
const CLAIM: &str = "INSERT INTO telegram_updates (update_id, state, claimed_at) VALUES (?1, \
     CASE WHEN ?3 = 0 OR ?4 IS (SELECT group_concat(key || '=' || value, char(10)) \
     FROM (SELECT key, value FROM settings \
     WHERE key >= 'storage.phase.' AND key < 'storage.phase/' ORDER BY key)) \
     THEN 'running' END, ?2)";
/// The column a [`CLAIM`] violates when the update was claimed already.
const CLAIMED_ALREADY: &str = "telegram_updates.update_id";
/// The column a fenced [`CLAIM`] violates when the phases changed since the attempt read them.
const FENCED: &str = "telegram_updates.state";
/// The keys of the phase flags: `storage.phase.<repository>`.
const PHASE_PREFIX: &str = "storage.phase.";
pub(super) const STATE: &str =
    "SELECT state, claimed_at FROM telegram_updates WHERE update_id = ?1";
const FINISH: &str =
    "UPDATE telegram_updates SET state = 'done', finished_at = ?2 WHERE update_id = ?1";
/// Gives up this attempt's own claim (the one it made at ?2), never another attempt's.
const RELEASE: &str = "DELETE FROM telegram_updates \
     WHERE update_id = ?1 AND state = 'running' AND claimed_at = ?2";
pub(super) const PURGE: &str = "DELETE FROM telegram_updates WHERE claimed_at < ?1";

/// What a claim that could not be taken found: where the other attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// An earlier attempt applied it: acknowledge, do nothing.
    AlreadyDone,
    /// Another attempt is running it now: answer with a status Telegram retries.
    InProgress,
}

/// The `storage.phase.*` rows of `settings` exactly as the flags an attempt runs with were read
/// from them. A claim carries them as its fence: if a flip changed the rows since, the claim
/// fails and so does everything in its transaction, and the attempt runs again on the flags as
/// they are now. So an isolate that holds old flags (within their TTL, or kept because
/// `settings` could not be read) never writes in the phase a repository has left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhaseRows(Option<String>);

impl PhaseRows {
    /// The phase rows among `rows`: `key=value` lines in key order (SQLite's, bytewise), none
    /// when there are no phase rows; the same text [`CLAIM`] builds in SQL.
    pub fn of(rows: &[SettingRow]) -> Self {
        let mut phases: Vec<&SettingRow> = rows
            .iter()
            .filter(|row| row.key.starts_with(PHASE_PREFIX))
            .collect();
        phases.sort_by(|a, b| a.key.cmp(&b.key));
        let lines: Vec<String> = phases
            .iter()
            .map(|row| format!("{}={}", row.key, row.value))
            .collect();
        Self((!lines.is_empty()).then(|| lines.join("\n")))
    }
}

#[derive(Deserialize)]
struct StateRow {
    state: String,
    claimed_at: i64,
}

/// The webhook's claims on update ids.
pub struct UpdateClaims(pub(crate) Sql);

impl UpdateClaims {
    /// The statements that claim `update_id` for this attempt at `now`, taking over a crashed
    /// one, fenced by `fence` when the attempt read its flags from `settings`.
    fn claiming(&self, update_id: i64, now: i64, fence: Option<&PhaseRows>) -> [Statement; 2] {
        let (fenced, rows) = match fence {
            Some(PhaseRows(Some(rows))) => (1, SqlValue::from(rows.as_str())),
            Some(PhaseRows(None)) => (1, SqlValue::Null),
            None => (0, SqlValue::Null),
        };
        [
            Statement::new(
                TAKE_OVER,
                vec![update_id.into(), (now - CLAIM_EXPIRY_MS).into()],
            ),
            Statement::new(
                CLAIM,
                vec![update_id.into(), now.into(), fenced.into(), rows],
            ),
        ]
    }

    /// What a claim that could not be taken found: done, or running elsewhere; `None` when the
    /// running claim is this attempt's own, made at `lost` by a call whose answer was lost.
    async fn found(&self, update_id: i64, lost: Option<i64>) -> StorageResult<Option<Claim>> {
        let op = Operation::new("updates.state");
        let rows: Vec<StateRow> = self
            .0
            .query_as(&op, Statement::new(STATE, vec![update_id.into()]))
            .await?;
        Ok(match rows.first() {
            Some(row) if row.state == "done" => Some(Claim::AlreadyDone),
            Some(row) if lost == Some(row.claimed_at) => None,
            // The claim vanished in between (its attempt failed): let Telegram retry.
            _ => Some(Claim::InProgress),
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
    pub(crate) async fn release(&self, update_id: i64, claimed_at: i64) -> StorageResult<()> {
        let op = Operation::new("updates.release");
        let params = vec![update_id.into(), claimed_at.into()];
        self.0
            .execute(&op, Statement::new(RELEASE, params))
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
    /// The phases changed since this attempt read them: nothing of it landed, and it must
    /// run again on the phases as they are now.
    Fenced,
    /// D1 could not be reached for the claim: the update runs unguarded, as the legacy bot's
    /// did, rather than being refused.
    Unguarded,
}

struct Taken {
    update_id: i64,
    stage: Cell<Stage>,
    claims: UpdateClaims,
    /// When the latest call that carried the claim made it.
    claimed_at: Cell<i64>,
    /// When a call that carried the claim and failed made it: the call may have landed, its
    /// answer lost on the way back, and the claim found next may be this attempt's own.
    lost: Cell<Option<i64>>,
    /// The phase rows the attempt's flags were read from; `None` until they are read, or when
    /// `settings` was never readable (the claim is then unfenced).
    fence: RefCell<Option<PhaseRows>>,
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
            claimed_at: Cell::new(0),
            lost: Cell::new(None),
            fence: RefCell::new(None),
        })))
    }

    /// The attempt runs with flags read from these phase rows: its claim is fenced by them.
    pub(crate) fn fence(&self, rows: PhaseRows) {
        if let Some(taken) = self.0.as_deref() {
            taken.fence.replace(Some(rows));
        }
    }

    /// The phases changed since the attempt read them: nothing of it landed, and it must run
    /// again on fresh flags (with a new claim).
    pub(crate) fn fenced(&self) -> bool {
        self.at(Stage::Fenced).is_some()
    }

    /// The command writes: its next storage call takes the claim.
    pub(crate) fn arm(&self) {
        if let Some(taken) = self.at(Stage::Open) {
            taken.stage.set(Stage::Armed);
        }
    }

    /// Whether the attempt must change nothing more: another attempt holds the update, or a
    /// flip fenced this one.
    pub(crate) fn stopped(&self) -> bool {
        self.refused().is_some() || self.fenced()
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
        if let Some(taken) = self.0.as_deref() {
            if let Err(stopped) = taken.stopped() {
                return Err(StorageError::D1Constraint {
                    operation: Operation::new("updates.claim"),
                    constraint: match taken.stage.get() {
                        Stage::Fenced => format!("NOT NULL({FENCED})"),
                        _ => format!("UNIQUE({CLAIMED_ALREADY})"),
                    },
                    message: stopped.0,
                });
            }
        }
        let Some(taken) = self.at(Stage::Armed) else {
            return Ok(());
        };
        let op = Operation::new("updates.claim");
        let claiming = taken.claiming();
        match taken.claims.0.batch(&op, claiming.to_vec()).await {
            Ok(_) => taken.stage.set(Stage::Running),
            Err(error) if error.to_string().contains(CLAIMED_ALREADY) => {
                if !taken.refuse().await {
                    return Err(error);
                }
            }
            Err(error) if error.to_string().contains(FENCED) => {
                taken.stage.set(Stage::Fenced);
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

    /// Whether [`UpdateClaim::finish`] has a claim to mark done.
    pub(crate) fn running(&self) -> bool {
        self.at(Stage::Running).is_some()
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
    /// update again; so is a claim carried by a call whose answer was lost (it may have landed).
    pub(crate) async fn release(&self) {
        let Some(taken) = self.0.as_deref() else {
            return;
        };
        let claimed_at = match taken.stage.get() {
            Stage::Running => taken.claimed_at.get(),
            Stage::Armed => match taken.lost.get() {
                Some(at) => at,
                None => return,
            },
            _ => return,
        };
        taken.stage.set(Stage::Open);
        if let Err(e) = taken.claims.release(taken.update_id, claimed_at).await {
            tracing::error!(update_id = taken.update_id, error = %e, "releasing the claim failed; it expires on its own");
        }
    }
}

impl Taken {
    /// The claim's statements for a call made now, which is when the claim is made.
    fn claiming(&self) -> [Statement; 2] {
        self.claimed_at.set(self.claims.0.now());
        let fence = self.fence.borrow();
        self.claims
            .claiming(self.update_id, self.claimed_at.get(), fence.as_ref())
    }

    /// The error every further call of a refused or fenced attempt fails with: it must change
    /// nothing.
    fn stopped(&self) -> Result<(), PlatformError> {
        let why = match self.stage.get() {
            Stage::Refused(_) => "was claimed by another attempt",
            Stage::Fenced => "runs on phases that changed since it read them",
            _ => return Ok(()),
        };
        Err(PlatformError(format!(
            "update {} {why} ({})",
            self.update_id,
            self.stopped_by()
        )))
    }

    /// The constraint that stopped the attempt.
    fn stopped_by(&self) -> &'static str {
        match self.stage.get() {
            Stage::Fenced => FENCED,
            _ => CLAIMED_ALREADY,
        }
    }

    /// The claim was there already: notes what the other attempt had done; true when the
    /// claim is this attempt's own (see [`Taken::lost`]), which then runs on.
    async fn refuse(&self) -> bool {
        match self.claims.found(self.update_id, self.lost.get()).await {
            Ok(None) => {
                self.stage.set(Stage::Running);
                true
            }
            found => {
                let claim = found.ok().flatten().unwrap_or(Claim::InProgress);
                self.stage.set(Stage::Refused(claim));
                false
            }
        }
    }

    /// Settles an armed claim from the answer of the call that carried it; `None` when the
    /// call found this attempt's own claim, and must run again without it.
    async fn carried<T>(
        &self,
        answer: Result<T, PlatformError>,
    ) -> Result<Option<T>, PlatformError> {
        match &answer {
            Ok(_) => self.stage.set(Stage::Running),
            Err(error) if error.0.contains(CLAIMED_ALREADY) => {
                if self.refuse().await {
                    return Ok(None);
                }
            }
            // Rolled back, claim and all: nothing of the attempt landed.
            Err(error) if error.0.contains(FENCED) => self.stage.set(Stage::Fenced),
            // The call failed and took the claim with it, or landed and lost its answer: the
            // next one carries the claim again.
            Err(_) => self.lost.set(Some(self.claimed_at.get())),
        }
        answer.map(Some)
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
        taken.stopped()?;
        Ok((taken.stage.get() == Stage::Armed).then(|| taken.claiming()))
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
        match self.taken.carried(answer).await? {
            Some(changed) => Ok(changed[2..].to_vec()),
            None => self.db.batch(statements).await,
        }
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
        match self.taken.carried(answer).await? {
            Some(rows) => Ok(rows),
            None => self.db.query_after(writes, read).await,
        }
    }
}
