//! The cleanup ledger: every resource a lab run created, recorded as soon as it is seen,
//! and removed only once cleanup has confirmed it is gone.
//!
//! An entry is the identity of one resource (its id or ARN, captured when it was recorded),
//! never a name to search for: names are not unique (two VPCs may both be called
//! `flask-inventory-vpc`), ids are. Before a step's commands run, an *intent* entry is written
//! for each resource the step declares, with the ids of same-named resources that already
//! existed then: if labrunner is killed before the id is known, the intent still says what
//! may have been created, and the snapshot tells the lab's resource from those that were
//! there before (see `cleanup::resolve_intent`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{read_versioned, timestamp, write_json_atomic, Loaded, RunDir};
use crate::error::Error;
use crate::lab::ResourceSpec;

/// The ledger file format this labrunner reads and writes (1: entries without intents or
/// identity rules; read and upgraded).
pub const LEDGER_VERSION: u32 = 2;

/// One created (or possibly created) resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Type and identifying fields, variables resolved (an intent may still hold `${VAR}`).
    pub resource: ResourceSpec,
    /// What AWS calls it: `arn` and/or `id` (its identity), and type-specific ids found when
    /// it was recorded. Empty for an intent.
    pub ids: BTreeMap<String, String>,
    /// The step that created it.
    pub step: String,
    /// When it was recorded.
    pub recorded_at: String,
    /// The step's commands may have created it, but its identity is not known yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub intent: bool,
    /// For an intent: identities of resources matching `resource` that existed before the
    /// step's commands began (they are never the lab's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preexisting: Vec<String>,
}

impl LedgerEntry {
    /// The identity AWS gave the resource: its id, else its ARN. Task definitions have none
    /// (their entry lists revisions).
    pub fn identity(&self) -> Option<&str> {
        identity(&self.ids)
    }

    /// `describe()` of the resource with its identity: `vpc flask-inventory-vpc (vpc-0abc)`.
    pub fn describe(&self) -> String {
        match self.identity() {
            Some(id) => format!("{} ({id})", self.resource.describe()),
            None if self.intent => format!("{} (id not known yet)", self.resource.describe()),
            None => self.resource.describe(),
        }
    }

    /// Whether `other` is the same ledger entry (same resource, same identity, same kind).
    fn same(&self, other: &LedgerEntry) -> bool {
        self.resource == other.resource && self.intent == other.intent && self.identity() == other.identity()
    }
}

/// The identity in a set of ids: `id`, else `arn`.
pub fn identity(ids: &BTreeMap<String, String>) -> Option<&str> {
    ids.get("id").or_else(|| ids.get("arn")).map(String::as_str)
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
    /// Values the lab's steps captured (never secrets): with the ledger, a run whose progress
    /// file is lost can still check its steps against what exists.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
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
            variables: BTreeMap::new(),
        }
    }

    /// Reads the run's ledger; missing means empty. A corrupt ledger is an error and is left
    /// untouched: losing it would mean resources nobody cleans up.
    pub fn load(run: &RunDir) -> Result<Option<Ledger>, Error> {
        match read_versioned::<Ledger>(&run.ledger(), LEDGER_VERSION, "cleanup ledger", false)? {
            Loaded::Found(mut l) => {
                l.version = LEDGER_VERSION;
                Ok(Some(l))
            }
            Loaded::Missing => Ok(None),
            Loaded::Corrupt { .. } => unreachable_corrupt(),
        }
    }

    /// Writes the ledger atomically.
    pub fn save(&self, run: &RunDir) -> Result<(), Error> {
        write_json_atomic(&run.ledger(), self)
    }

    /// Records a resource by its identity. The same identity is updated, not duplicated; an
    /// intent for the same resource is replaced; a task definition family gathers its
    /// revisions in one entry.
    pub fn record(&mut self, resource: ResourceSpec, ids: BTreeMap<String, String>, step: &str) {
        let entry = LedgerEntry {
            resource,
            ids,
            step: step.into(),
            recorded_at: timestamp(),
            intent: false,
            preexisting: Vec::new(),
        };
        let merge_by_spec = matches!(entry.resource, ResourceSpec::TaskDefinition { .. });
        let existing = self.entries.iter_mut().find(|e| {
            !e.intent && e.resource == entry.resource && (merge_by_spec || e.identity() == entry.identity())
        });
        match existing {
            Some(existing) => {
                // Keep ids seen earlier (a task definition's older revisions) and add new ones.
                existing.ids.extend(entry.ids);
                existing.recorded_at = entry.recorded_at;
            }
            None => self.entries.push(entry.clone()),
        }
        self.entries.retain(|e| !(e.intent && e.resource == entry.resource));
    }

    /// Notes, before a step's commands run, that they may create `resource`; `preexisting`
    /// are the identities of matching resources that exist already. One intent per resource.
    pub fn intend(&mut self, resource: ResourceSpec, step: &str, preexisting: Vec<String>) {
        if self.entries.iter().any(|e| e.intent && e.resource == resource) {
            return;
        }
        self.entries.push(LedgerEntry {
            resource,
            ids: BTreeMap::new(),
            step: step.into(),
            recorded_at: timestamp(),
            intent: true,
            preexisting,
        });
    }

    /// Removes one entry (by resource and identity), once it is confirmed gone or found never
    /// to have been created.
    pub fn remove(&mut self, entry: &LedgerEntry) {
        self.entries.retain(|e| !e.same(entry));
    }

    /// Removes the intents of a step for resources its commands turned out not to create.
    pub fn drop_intents(&mut self, step: &str) {
        self.entries.retain(|e| !(e.intent && e.step == step));
    }

    /// Every identity recorded (resources that are certainly the lab's).
    pub fn identities(&self) -> BTreeSet<String> {
        self.entries.iter().filter_map(|e| e.identity().map(str::to_string)).collect()
    }

    /// The concrete entries of `resource`.
    pub fn recorded(&self, resource: &ResourceSpec) -> impl Iterator<Item = &LedgerEntry> {
        let resource = resource.clone();
        self.entries.iter().filter(move |e| !e.intent && e.resource == resource)
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

    fn ids(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn task_definitions_gather_revisions_in_one_entry() {
        let mut l = Ledger::new("lab", "1", "r");
        let td = ResourceSpec::TaskDefinition { family: "f".into() };
        l.record(td.clone(), ids(&[("revision:f:1", "arn:1")]), "s1");
        l.record(td.clone(), ids(&[("revision:f:2", "arn:2")]), "s2");
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.entries[0].ids.len(), 2);
        let entry = l.entries[0].clone();
        l.remove(&entry);
        assert!(l.is_empty());
    }

    #[test]
    fn entries_are_identities_not_names() {
        let mut l = Ledger::new("lab", "1", "r");
        let vpc = ResourceSpec::Vpc { name: "lab-vpc".into() };
        l.record(vpc.clone(), ids(&[("id", "vpc-1")]), "s");
        l.record(vpc.clone(), ids(&[("id", "vpc-1")]), "s");
        assert_eq!(l.entries.len(), 1, "the same id is updated");
        l.record(vpc.clone(), ids(&[("id", "vpc-2")]), "s");
        assert_eq!(
            l.entries.len(),
            2,
            "another id with the same name is another resource, never overwritten"
        );
        assert_eq!(l.identities(), BTreeSet::from(["vpc-1".to_string(), "vpc-2".to_string()]));
        let first = l.entries[0].clone();
        l.remove(&first);
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.entries[0].identity(), Some("vpc-2"), "removing one id leaves the other");
    }

    #[test]
    fn an_intent_is_replaced_by_what_was_recorded() {
        let mut l = Ledger::new("lab", "1", "r");
        let vpc = ResourceSpec::Vpc { name: "lab-vpc".into() };
        l.intend(vpc.clone(), "s", vec!["vpc-old".into()]);
        l.intend(vpc.clone(), "s", vec![]);
        assert_eq!(l.entries.len(), 1, "one intent per resource");
        assert!(l.entries[0].intent);
        assert_eq!(l.entries[0].describe(), "vpc lab-vpc (id not known yet)");
        l.record(vpc.clone(), ids(&[("id", "vpc-new")]), "s");
        assert_eq!(l.entries.len(), 1);
        assert!(!l.entries[0].intent);
        assert_eq!(l.entries[0].describe(), "vpc lab-vpc (vpc-new)");
        l.intend(vpc, "s", vec![]);
        l.drop_intents("s");
        assert_eq!(l.entries.len(), 1, "dropping intents keeps what was recorded");
    }

    #[test]
    fn a_version_1_ledger_is_read_and_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path(), "lab", "1", "r");
        std::fs::create_dir_all(&run.dir).unwrap();
        std::fs::write(
            run.ledger(),
            r#"{"version":1,"lab":"lab","account":"1","region":"r","entries":[{"resource":{"vpc":{"name":"v"}},"ids":{"id":"vpc-1"},"step":"s","recorded_at":"t"}]}"#,
        )
        .unwrap();
        let l = Ledger::load(&run).unwrap().unwrap();
        assert_eq!(l.version, LEDGER_VERSION);
        assert_eq!(l.entries[0].identity(), Some("vpc-1"));
        assert!(!l.entries[0].intent);
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
