//! The cleanup report: what was deleted, what was already gone, what remains and what to do
//! about it. A value with `Display`, drawn by the command.

use std::fmt;

/// What a cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Deleted and confirmed gone (`describe()`, with a note in parentheses when partial).
    pub deleted: Vec<String>,
    /// Not there any more when looked up.
    pub already_gone: Vec<String>,
    /// Still there: each stays in the ledger.
    pub remaining: Vec<Remaining>,
}

/// A resource cleanup could not remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remaining {
    /// `describe()` of the resource.
    pub resource: String,
    /// What went wrong.
    pub error: String,
    /// What the user can do.
    pub advice: String,
}

impl Report {
    /// Whether nothing remains.
    pub fn is_clean(&self) -> bool {
        self.remaining.is_empty()
    }
}

const LABEL_WIDTH: usize = 14;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, g, r) = (self.deleted.len(), self.already_gone.len(), self.remaining.len());
        if d + g + r == 0 {
            return writeln!(f, "Nothing to clean up: the ledger lists no resources.");
        }
        writeln!(f, "Cleanup: {d} deleted, {g} already gone, {r} remaining.")?;
        writeln!(f)?;
        for resource in &self.deleted {
            writeln!(f, "  {:<LABEL_WIDTH$}{resource}", "deleted")?;
        }
        for resource in &self.already_gone {
            writeln!(f, "  {:<LABEL_WIDTH$}{resource}", "already gone")?;
        }
        for rem in &self.remaining {
            writeln!(f, "  {:<LABEL_WIDTH$}{}", "REMAINING", rem.resource)?;
            writeln!(f, "  {:<LABEL_WIDTH$}  error:  {}", "", rem.error)?;
            writeln!(f, "  {:<LABEL_WIDTH$}  advice: {}", "", rem.advice)?;
        }
        writeln!(f)?;
        if r == 0 {
            writeln!(f, "Everything the lab created is gone.")
        } else {
            let what = if r == 1 { "1 resource is" } else { &format!("{r} resources are") };
            writeln!(
                f,
                "{what} still there and may still cost money; the ledger keeps {}, so running cleanup again picks up where this one stopped.",
                if r == 1 { "it" } else { "them" }
            )
        }
    }
}

/// What to tell the user about a resource left behind.
pub(crate) mod advice {
    use crate::aws::ErrorClass;
    use crate::cleanup::CleanupError;
    use crate::lab::ResourceSpec;

    /// For a resource not deleted because cleanup was interrupted.
    pub(crate) const INTERRUPTED: &str = "run cleanup again to finish";
    /// For a ledger that could not be saved.
    pub(crate) const LEDGER: &str =
        "the resources above are gone but the ledger file still lists some; the next cleanup will find them already gone";

    /// Advice for `e` on `spec`.
    pub(crate) fn for_error(spec: &ResourceSpec, e: &CleanupError) -> String {
        if e.has_code(&["DependencyViolation", "InvalidGroup.InUse"]) {
            return "something still uses it (often the network interfaces of stopped tasks or a deleted load balancer, which AWS removes within minutes); run cleanup again in a few minutes, or look for what uses it in the EC2 console".into();
        }
        if e.has_code(&["ResourceInUse", "ResourceInUseException", "DeleteConflict"]) {
            return "something still uses it; run cleanup again after the resources that use it are gone"
                .into();
        }
        match e.class {
            ErrorClass::AccessDenied => {
                "your credentials may not delete it; ask whoever runs the account, or delete it in the AWS console".into()
            }
            ErrorClass::Credentials => "sign in again (for SSO: `aws sso login`), then run cleanup again".into(),
            ErrorClass::Throttling | ErrorClass::Transient => {
                "AWS was busy or unreachable; run cleanup again in a minute".into()
            }
            ErrorClass::NotFound | ErrorClass::Other => match spec {
                ResourceSpec::EcsService { .. } | ResourceSpec::EcsCluster { .. } => {
                    "check it in the ECS console (tasks still stopping?), then run cleanup again".into()
                }
                _ => format!("run cleanup again; if it stays, delete {} in the AWS console", spec.describe()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_a_summary_table() {
        let report = Report {
            deleted: vec![
                "ecs_service flask-inventory-cluster/invsys-service".into(),
                "task_definition flask-inventory-invsys (deregistered only: this endpoint cannot delete task definitions)"
                    .into(),
            ],
            already_gone: vec!["alarm invsys-cpu-high".into()],
            remaining: vec![Remaining {
                resource: "security_group invsys-sg in vpc-0abc".into(),
                error: "DependencyViolation: resource sg-1 has a dependent object".into(),
                advice: "run cleanup again in a few minutes".into(),
            }],
        };
        let want = "\
Cleanup: 2 deleted, 1 already gone, 1 remaining.

  deleted       ecs_service flask-inventory-cluster/invsys-service
  deleted       task_definition flask-inventory-invsys (deregistered only: this endpoint cannot delete task definitions)
  already gone  alarm invsys-cpu-high
  REMAINING     security_group invsys-sg in vpc-0abc
                  error:  DependencyViolation: resource sg-1 has a dependent object
                  advice: run cleanup again in a few minutes

1 resource is still there and may still cost money; the ledger keeps it, so running cleanup again picks up where this one stopped.
";
        assert_eq!(report.to_string(), want);
        assert!(!report.is_clean());
    }

    #[test]
    fn a_clean_report_says_so() {
        let report = Report { deleted: vec!["vpc lab-vpc".into()], ..Report::default() };
        assert_eq!(
            report.to_string(),
            "Cleanup: 1 deleted, 0 already gone, 0 remaining.\n\n  deleted       vpc lab-vpc\n\nEverything the lab created is gone.\n"
        );
        assert!(report.is_clean());
        assert_eq!(Report::default().to_string(), "Nothing to clean up: the ledger lists no resources.\n");
    }
}
