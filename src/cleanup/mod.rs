//! Cleanup: remove exactly what a lab run created, in an order AWS accepts, and prove it is gone.
//!
//! The pieces:
//! - [`lookup`] finds what a declared resource is now (used when recording it in the ledger,
//!   by `cleanup --scan`, and to confirm deletions);
//! - [`plan`] orders ledger entries into waves by [`ResourceSpec::teardown_rank`];
//! - [`execute`] deletes wave by wave, waits where AWS needs it, keeps the ledger in step with
//!   what is confirmed gone, and returns a [`Report`];
//! - [`scan`] finds declared resources that exist but were never recorded.
//!
//! The engine never prints and never decides *whether* to delete: the command checks the
//! account and region, asks for confirmation, and draws the [`CleanupEvent`]s it is sent.

mod call;
mod delete;
mod find;
mod report;
mod run;
mod tag;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::aws::{Clients, ErrorClass};
use crate::lab::ResourceSpec;
use crate::state::ledger::LedgerEntry;

pub use report::{Remaining, Report};
pub use run::{execute, scan, Scanned};

/// A live resource matching a declared resource's names, if any (the first of several).
/// For readiness reports only: recording and cleanup go by identity.
pub async fn lookup(
    clients: &Clients,
    spec: &ResourceSpec,
) -> Result<Option<BTreeMap<String, String>>, CleanupError> {
    Ok(find::find_all(clients, spec).await?.into_iter().next())
}

/// Every live resource matching `spec`, with all its ids (`id`, `arn`, `dns_name`, ...).
pub async fn live(
    clients: &Clients,
    spec: &ResourceSpec,
) -> Result<Vec<BTreeMap<String, String>>, CleanupError> {
    find::find_all(clients, spec).await
}

/// The identities of every live resource matching `spec` now: a step's "before" picture.
/// For a task definition family, its ACTIVE revision ARNs.
pub async fn snapshot(clients: &Clients, spec: &ResourceSpec) -> Result<Vec<String>, CleanupError> {
    Ok(find::find_all(clients, spec).await?.iter().flat_map(identities).collect())
}

/// What identifies the resource(s) in a set of ids: the id or ARN, or a task definition
/// family's revision ARNs.
pub(crate) fn identities(ids: &BTreeMap<String, String>) -> Vec<String> {
    match crate::state::ledger::identity(ids) {
        Some(id) => vec![id.to_string()],
        None => ids.iter().filter(|(k, _)| k.starts_with("revision:")).map(|(_, v)| v.clone()).collect(),
    }
}

/// The live resources matching `spec` that are neither in `before` (they existed before the
/// step) nor in `known` (the ledger has them already): what the step's commands created.
/// For a task definition family, one set with the new revisions.
pub async fn new_since(
    clients: &Clients,
    spec: &ResourceSpec,
    before: &[String],
    known: &BTreeSet<String>,
) -> Result<Vec<BTreeMap<String, String>>, CleanupError> {
    let fresh = |id: &String| !before.contains(id) && !known.contains(id);
    let mut found = Vec::new();
    for ids in find::find_all(clients, spec).await? {
        if matches!(spec, ResourceSpec::TaskDefinition { .. }) {
            let revisions: BTreeMap<String, String> =
                ids.into_iter().filter(|(k, v)| k.starts_with("revision:") && fresh(v)).collect();
            if !revisions.is_empty() {
                found.push(revisions);
            }
        } else if identities(&ids).iter().all(fresh) {
            found.push(ids);
        }
    }
    Ok(found)
}

/// Whether the resource a (concrete) ledger entry records still exists, by its identity.
pub async fn exists(clients: &Clients, entry: &LedgerEntry) -> Result<bool, CleanupError> {
    Ok(find::find(clients, &entry.resource, &entry.ids).await?.is_some())
}

/// What an intent entry turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Exactly one resource appeared that was not there before: the lab's.
    Found(BTreeMap<String, String>),
    /// Nothing appeared: the commands never created it.
    Absent,
    /// Several appeared: labrunner cannot tell which is the lab's and deletes none.
    Ambiguous(Vec<String>),
    /// The resource's identifying fields use a value that was never captured.
    Unresolved(String),
}

/// Resolves an intent: the resource it names that appeared after the intent was written
/// (not among its `preexisting` identities, not recorded elsewhere in `known`).
pub async fn resolve_intent(
    clients: &Clients,
    entry: &LedgerEntry,
    known: &BTreeSet<String>,
) -> Result<Resolution, CleanupError> {
    let unresolved = entry.resource.variables();
    if let Some(name) = unresolved.first() {
        return Ok(Resolution::Unresolved(name.clone()));
    }
    let mut found = new_since(clients, &entry.resource, &entry.preexisting, known).await?;
    Ok(match found.len() {
        0 => Resolution::Absent,
        1 => Resolution::Found(found.remove(0)),
        _ => Resolution::Ambiguous(found.iter().flat_map(identities).collect()),
    })
}

/// Tag a recorded resource with `labrunner:lab = <lab id>` where the API takes tags (best effort).
pub async fn tag(clients: &Clients, entry: &LedgerEntry, lab: &str) -> Result<(), CleanupError> {
    tag::tag(clients, entry, lab).await
}

/// The tag key [`tag`] sets.
pub const LAB_TAG: &str = "labrunner:lab";

/// The ledger entries to delete, in deletion order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In deletion order; items of one wave can run concurrently.
    pub items: Vec<PlanItem>,
    /// Identities other ledgers of the account hold: an intent never resolves to one of them.
    pub protected: BTreeSet<String>,
}

/// One resource to delete and the wave it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanItem {
    /// Wave number, from 1; every item of a wave is deleted before the next wave starts.
    pub wave: u8,
    /// The ledger entry.
    pub entry: LedgerEntry,
}

impl Plan {
    /// Whether there is nothing to delete.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The number of waves.
    pub fn waves(&self) -> u8 {
        self.items.last().map_or(0, |i| i.wave)
    }
}

/// Orders entries for deletion: sorted by teardown rank (stable), one wave per rank present.
pub fn plan(entries: &[LedgerEntry]) -> Plan {
    let mut sorted: Vec<&LedgerEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.resource.teardown_rank());
    let mut items = Vec::with_capacity(sorted.len());
    let mut wave = 0u8;
    let mut last_rank = None;
    for entry in sorted {
        let rank = entry.resource.teardown_rank();
        if last_rank != Some(rank) {
            wave += 1;
            last_rank = Some(rank);
        }
        items.push(PlanItem { wave, entry: entry.clone() });
    }
    Plan { items, protected: BTreeSet::new() }
}

/// What the engine is doing, for the UI to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupEvent {
    /// A wave of deletions starts.
    WaveStarted {
        /// Wave number, from 1.
        wave: u8,
        /// How many resources it holds.
        count: usize,
    },
    /// A resource's deletion starts.
    Deleting {
        /// `ResourceSpec::describe()` of the resource.
        resource: String,
    },
    /// Waiting for AWS (a service to drain, an operation to finish).
    Waiting {
        /// The resource.
        resource: String,
        /// What for, e.g. "the service to become INACTIVE".
        what: String,
    },
    /// Deleted and confirmed gone.
    Deleted {
        /// The resource.
        resource: String,
    },
    /// It did not exist any more.
    AlreadyGone {
        /// The resource.
        resource: String,
    },
    /// It could not be deleted; it stays in the ledger.
    Failed {
        /// The resource.
        resource: String,
        /// What went wrong.
        error: String,
    },
    /// A call failed in a way that may pass; trying again after a pause.
    Retrying {
        /// The resource.
        resource: String,
        /// Which retry this is, from 1.
        attempt: u32,
        /// The error that is being retried.
        error: String,
    },
}

/// A failed AWS call or a resource that would not go: its class and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupError {
    /// What kind of failure (decides retries and advice).
    pub class: ErrorClass,
    /// The service's error code, when there was one (`DependencyViolation`).
    pub code: Option<String>,
    /// "DependencyViolation: resource sg-1 has a dependent object".
    pub message: String,
}

impl CleanupError {
    /// An error that is not an SDK error.
    pub fn other(message: impl Into<String>) -> Self {
        CleanupError { class: ErrorClass::Other, code: None, message: message.into() }
    }

    /// Whether the service said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }

    /// Whether the service's error code is one of `codes`.
    pub fn has_code(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }
}

impl fmt::Display for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CleanupError {}

impl<E, R> From<aws_smithy_runtime_api::client::result::SdkError<E, R>> for CleanupError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    fn from(err: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Self {
        use aws_smithy_types::error::metadata::ProvideErrorMetadata;
        let mut class = ErrorClass::of(&err);
        let code = err.code().map(str::to_string);
        // Codes the shared classifier does not know but that mean "gone" here.
        let message = crate::aws::describe(&err);
        if class == ErrorClass::Other && code.as_deref().is_some_and(|c| NOT_FOUND_CODES.contains(&c)) {
            class = ErrorClass::NotFound;
        }
        // ECS has no not-found code for task definitions: DescribeTaskDefinition of a revision
        // that does not exist is a ClientException with this message, in AWS as in moto.
        if class == ErrorClass::Other && message.contains("Unable to describe task definition") {
            class = ErrorClass::NotFound;
        }
        CleanupError { class, code, message }
    }
}

// ECS says a service that is draining or deleted cannot be updated: it is on its way out.
const NOT_FOUND_CODES: &[&str] = &["ServiceNotActiveException"];

#[cfg(test)]
mod plan_tests {
    use super::*;

    fn entry(resource: ResourceSpec) -> LedgerEntry {
        LedgerEntry {
            resource,
            ids: BTreeMap::new(),
            step: "s".into(),
            recorded_at: "t".into(),
            intent: false,
            preexisting: Vec::new(),
        }
    }

    #[test]
    fn plan_orders_by_teardown_rank_in_dense_waves_and_is_stable() {
        let vpc = "vpc-1".to_string();
        let recorded = vec![
            ResourceSpec::EcsCluster { cluster: "c".into() },
            ResourceSpec::Vpc { name: "v".into() },
            ResourceSpec::SecurityGroup { name: "sg-b".into(), vpc: vpc.clone() },
            ResourceSpec::EcsService { cluster: "c".into(), service: "one".into() },
            ResourceSpec::IamRole { name: "role".into() },
            ResourceSpec::TargetGroup { name: "tg".into() },
            ResourceSpec::SecurityGroup { name: "sg-a".into(), vpc },
            ResourceSpec::IamPolicy { name: "pol".into() },
            ResourceSpec::EcsService { cluster: "c".into(), service: "two".into() },
            ResourceSpec::ScalingPolicy {
                service_namespace: "ecs".into(),
                resource_id: "service/c/one".into(),
                dimension: "ecs:service:DesiredCount".into(),
                policy_name: "p".into(),
            },
            ResourceSpec::Listener { load_balancer: "lb".into(), port: 80 },
            ResourceSpec::LoadBalancer { name: "lb".into() },
        ];
        let entries: Vec<LedgerEntry> = recorded.into_iter().map(entry).collect();
        let got: Vec<(u8, String)> =
            plan(&entries).items.iter().map(|i| (i.wave, i.entry.resource.describe())).collect();
        let want = [
            (1, "scaling_policy p"),
            (2, "ecs_service c/one"),
            (2, "ecs_service c/two"),
            (3, "listener lb:80"),
            (4, "target_group tg"),
            (5, "load_balancer lb"),
            (6, "iam_role role"),
            (6, "iam_policy pol"),
            (7, "security_group sg-b in vpc-1"),
            (7, "security_group sg-a in vpc-1"),
            (8, "vpc v"),
            (9, "ecs_cluster c"),
        ];
        let want: Vec<(u8, String)> = want.iter().map(|(w, s)| (*w, s.to_string())).collect();
        assert_eq!(got, want);
        assert_eq!(plan(&entries).waves(), 9);
    }

    #[test]
    fn an_empty_ledger_plans_nothing() {
        let p = plan(&[]);
        assert!(p.is_empty());
        assert_eq!(p.waves(), 0);
    }
}
