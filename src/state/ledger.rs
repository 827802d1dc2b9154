//! The cleanup ledger: every resource a lab run created, recorded as soon as it is seen,
//! and removed only once cleanup has confirmed it is gone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{read_versioned, timestamp, write_json_atomic, Loaded, RunDir};
use crate::error::Error;
use crate::lab::ResourceSpec;

/// The ledger file format this labrunner reads and writes.
pub const LEDGER_VERSION: u32 = 1;

/// One created resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Type and identifying fields, variables resolved.
    pub resource: ResourceSpec,
    /// What AWS calls it: `arn`, `id`, and type-specific ids found when it was recorded.
    pub ids: BTreeMap<String, String>,
    /// The step that created it.
    pub step: String,
    /// When it was recorded.
    pub recorded_at: String,
}

/// The resources of one lab run (lab + account + region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// File format version.
    pub version: u32,
    /// Lab id.
    pub lab: String,
    /// Account the resources live in.
    pub account: String,
    /// Region the resources live in (IAM resources are global but recorded here too).
    pub region: String,
    /// The resources, in the order they were recorded.
    pub entries: Vec<LedgerEntry>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new(lab: &str, account: &str, region: &str) -> Self {
        Ledger {
            version: LEDGER_VERSION,
            lab: lab.into(),
            account: account.into(),
            region: region.into(),
            entries: Vec::new(),
        }
    }

    /// Reads the run's ledger; missing means empty. A corrupt ledger is an error and is left
    /// untouched: losing it would mean resources nobody cleans up.
    pub fn load(run: &RunDir) -> Result<Option<Ledger>, Error> {
        match read_versioned(&run.ledger(), LEDGER_VERSION, "cleanup ledger", false)? {
            Loaded::Found(l) => Ok(Some(l)),
            Loaded::Missing => Ok(None),
            Loaded::Corrupt { .. } => unreachable_corrupt(),
        }
    }

    /// Writes the ledger atomically.
    pub fn save(&self, run: &RunDir) -> Result<(), Error> {
        write_json_atomic(&run.ledger(), self)
    }

    /// Records a resource; an entry for the same resource is updated, not duplicated.
    pub fn record(&mut self, resource: ResourceSpec, ids: BTreeMap<String, String>, step: &str) {
        let entry = LedgerEntry { resource, ids, step: step.into(), recorded_at: timestamp() };
        match self.entries.iter_mut().find(|e| e.resource == entry.resource) {
            Some(existing) => {
                // Keep ids seen earlier (a task definition's older revisions) and add new ones.
                let mut ids = existing.ids.clone();
                ids.extend(entry.ids);
                existing.ids = ids;
                existing.recorded_at = entry.recorded_at;
            }
            None => self.entries.push(entry),
        }
    }

    /// Removes a resource confirmed gone.
    pub fn remove(&mut self, resource: &ResourceSpec) {
        self.entries.retain(|e| &e.resource != resource);
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

// `read_versioned` with `move_aside = false` reports corruption as an error, never as Corrupt.
fn unreachable_corrupt() -> Result<Option<Ledger>, Error> {
    Err(Error::State {
        path: Default::default(),
        message: "the cleanup ledger was unexpectedly moved aside".into(),
        hint: "this is a bug in labrunner; please report it".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_updates_instead_of_duplicating_and_keeps_ids() {
        let mut l = Ledger::new("lab", "1", "r");
        let td = ResourceSpec::TaskDefinition { family: "f".into() };
        l.record(td.clone(), BTreeMap::from([("arn:1".into(), "f:1".into())]), "s1");
        l.record(td.clone(), BTreeMap::from([("arn:2".into(), "f:2".into())]), "s2");
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.entries[0].ids.len(), 2);
        l.remove(&td);
        assert!(l.is_empty());
    }

    #[test]
    fn a_corrupt_ledger_is_an_error_and_stays() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path(), "lab", "1", "r");
        std::fs::create_dir_all(&run.dir).unwrap();
        std::fs::write(run.ledger(), "{oops").unwrap();
        let err = Ledger::load(&run).unwrap_err();
        assert!(err.to_string().contains("cleanup ledger cannot be read"), "{err}");
        assert_eq!(std::fs::read_to_string(run.ledger()).unwrap(), "{oops");
    }
}
