//! Where a sweep stands ([`Progress`]): its position in the enumeration and its counts, as its
//! `sweeps` row records them between steps, and every sweep's progress at once ([`Sweeps`]).

use super::{Kind, Tally};
use crate::platform::Platform;
use crate::storage::d1::{SweepRow, SweepStore};
use crate::storage::{Repository, StorageResult};

/// Where a sweep stands in its enumeration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    pub(crate) kv_cursor: Option<String>,
    pub(crate) after_key: Option<String>,
    pub(crate) finished: bool,
}

/// One sweep of one repository: its position and counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub kind: Kind,
    pub repository: Repository,
    pub kv_cursor: Option<String>,
    pub after_key: Option<String>,
    pub finished: bool,
    pub tally: Tally,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl Progress {
    pub(super) fn fresh(kind: Kind, repository: Repository, now: i64) -> Self {
        Self {
            kind,
            repository,
            kv_cursor: None,
            after_key: None,
            finished: false,
            tally: Tally::default(),
            started_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    /// The progress a `sweeps` row records; `None` for a row this code cannot read (another
    /// kind, repository or tally), which counts as no sweep at all: never as a clean one.
    pub(crate) fn from_row(row: &SweepRow) -> Option<Self> {
        let kind = Kind::ALL.into_iter().find(|k| k.as_str() == row.kind)?;
        let repository = row.repository.parse().ok()?;
        Some(Self {
            kind,
            repository,
            kv_cursor: row.kv_cursor.clone(),
            after_key: row.after_key.clone(),
            finished: row.finished,
            tally: Tally::decode(&row.tally)?,
            started_at: row.started_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        })
    }

    pub(super) fn row(&self) -> SweepRow {
        SweepRow {
            kind: self.kind.as_str().to_owned(),
            repository: self.repository.as_str().to_owned(),
            kv_cursor: self.kv_cursor.clone(),
            after_key: self.after_key.clone(),
            finished: self.finished,
            tally: self.tally.encode(),
            started_at: self.started_at,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
        }
    }

    pub(super) fn position(&self) -> Position {
        Position {
            kv_cursor: self.kv_cursor.clone(),
            after_key: self.after_key.clone(),
            finished: self.finished,
        }
    }

    pub(super) fn advance(&mut self, to: Position, now: i64) {
        self.kv_cursor = to.kv_cursor;
        self.after_key = to.after_key;
        self.finished = to.finished;
        self.updated_at = now;
        if to.finished {
            self.finished_at = Some(now);
        }
    }
}

/// Every sweep's progress, as D1 records it.
pub struct Sweeps(Vec<Progress>);

impl Sweeps {
    pub(crate) async fn load(platform: &Platform) -> StorageResult<Self> {
        let rows = SweepStore::new(platform).sweeps().await?;
        Ok(Self(rows.iter().filter_map(Progress::from_row).collect()))
    }

    /// The `kind` sweep of `repository`, if one ever started.
    pub(crate) fn get(&self, kind: Kind, repository: Repository) -> Option<&Progress> {
        self.0
            .iter()
            .find(|p| p.kind == kind && p.repository == repository)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Progress> {
        self.0.iter()
    }
}
