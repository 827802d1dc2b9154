//! Variable values during a lab: where each comes from, which are secret, and how checks
//! and resources get them.
//!
//! Values come, in order of precedence, from `--var`, the student's answers and captured
//! exports (saved in progress), the caller identity (account, ARN, region), and declared
//! defaults. Secret values live only in memory: they are never saved or printed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;

use crate::aws::Identity;
use crate::lab::{vars, Check, Lab, ResourceSpec, VariableSource};

/// The values known so far.
#[derive(Debug, Clone, Default)]
pub struct Values {
    values: BTreeMap<String, String>,
    secrets: BTreeSet<String>,
    /// Secret values that are no lab variable (the credentials handed to blocks).
    masked: BTreeSet<String>,
}

static SECRET_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|CREDENTIAL)").expect("valid regex")
});
// An AWS secret access key is 40 characters of base64; session tokens are far longer.
static SECRET_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:[A-Za-z0-9/+]{40}|[A-Za-z0-9/+=]{100,})$").expect("valid regex"));

/// Whether a variable looks like it holds a secret, by its name or the shape of its value.
pub fn looks_secret(name: &str, value: &str) -> bool {
    SECRET_NAME.is_match(name) || SECRET_VALUE.is_match(value)
}

impl Values {
    /// No values.
    pub fn new() -> Self {
        Values::default()
    }

    /// The identity-derived variables of `lab` (account, caller ARN, region).
    pub fn from_identity(lab: &Lab, identity: &Identity) -> Self {
        let mut v = Values::new();
        for var in &lab.manifest.variables {
            let value = match var.source {
                VariableSource::Account => &identity.account,
                VariableSource::CallerArn => &identity.arn,
                VariableSource::Region => &identity.region,
                _ => continue,
            };
            v.values.insert(var.name.clone(), value.clone());
        }
        v
    }

    /// Sets a value; secret-looking values (or variables declared `secret`) are marked secret.
    pub fn set(&mut self, lab: &Lab, name: &str, value: String) {
        let declared_secret = lab.variable(name).is_some_and(|v| v.secret);
        if declared_secret || looks_secret(name, &value) {
            self.secrets.insert(name.to_string());
        } else {
            self.secrets.remove(name);
        }
        self.values.insert(name.to_string(), value);
    }

    /// Adds saved values (from progress) without overriding what is already known.
    pub fn extend_missing(&mut self, saved: &BTreeMap<String, String>) {
        for (k, v) in saved {
            self.values.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` is secret.
    pub fn is_secret(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }

    /// A lookup function for interpolation.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| self.values.get(name).cloned()
    }

    /// Every value, secrets included: the environment of shell blocks and command checks.
    pub fn env(&self) -> BTreeMap<String, String> {
        self.values.clone()
    }

    /// The values that may be written to disk.
    pub fn persistable(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .filter(|(k, _)| !self.secrets.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `text` with every secret value replaced by `****`, for display.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        let named = self.secrets.iter().filter_map(|name| self.values.get(name));
        for v in named.chain(self.masked.iter()).filter(|v| v.len() >= 4) {
            out = out.replace(v.as_str(), "****");
        }
        out
    }

    /// Masks `value` in everything shown from now on, though it is no lab variable. Short
    /// values (a sandbox's `test` key) are left alone: masking them would garble output.
    pub fn also_mask(&mut self, value: &str) {
        if value.len() >= 16 {
            self.masked.insert(value.to_string());
        }
    }

    /// Fills prompt variables that have a default which can be resolved now, without asking.
    /// Returns the names that still have no value and would need a prompt.
    pub fn apply_defaults(&mut self, lab: &Lab) -> Vec<String> {
        let mut missing = Vec::new();
        for var in &lab.manifest.variables {
            if self.values.contains_key(&var.name) || var.source != VariableSource::Prompt {
                continue;
            }
            match var.default.as_deref().map(|d| vars::interpolate(d, &self.lookup())) {
                Some(Ok(value)) => self.set(lab, &var.name.clone(), value),
                _ => missing.push(var.name.clone()),
            }
        }
        missing
    }

    /// A check with its variables substituted, or a message naming the variable that is missing.
    pub fn resolve_check(&self, check: &Check) -> Result<Check, String> {
        check.resolve(&self.lookup())
    }

    /// The first variable a check needs that has no value yet.
    pub fn first_missing(&self, check: &Check) -> Option<String> {
        check.variables().into_iter().find(|name| self.get(name).is_none())
    }

    /// A resource with its variables substituted, or a message naming the variable that is missing.
    pub fn resolve_resource(&self, resource: &ResourceSpec) -> Result<ResourceSpec, String> {
        resource.resolve(&self.lookup())
    }

    /// Finds, read-only, the values of step variables that have none and declare a `lookup`:
    /// the named resource is described and, when exactly one matches, its field is the value.
    /// Lookups may use each other (`SUBNET_ID` needs `VPC_ID`): they are tried until no more
    /// are found. For checks only (validate, verify): creation and cleanup go by the ledger.
    pub async fn resolve_lookups(&mut self, lab: &Lab, clients: &crate::aws::Clients) {
        loop {
            let mut found = false;
            for var in &lab.manifest.variables {
                let Some(lookup) = &var.lookup else { continue };
                if self.values.contains_key(&var.name) {
                    continue;
                }
                let Ok(resource) = self.resolve_resource(&lookup.resource) else { continue };
                let Ok(live) = crate::cleanup::live(clients, &resource).await else { continue };
                let [ids] = live.as_slice() else { continue };
                if let Some(value) = lookup_field(&lookup.field, ids) {
                    self.set(lab, &var.name, value);
                    found = true;
                }
            }
            if !found {
                return;
            }
        }
    }
}

/// The value a `lookup`'s `field` names in a resource's ids: `id` is its identity (the id,
/// else the ARN), any other field that id (`arn`, `dns_name`, ...). One rule for the ledger,
/// the live lookups of `validate`/`verify`, and "I'll do it myself".
pub fn lookup_field(field: &str, ids: &BTreeMap<String, String>) -> Option<String> {
    match field {
        "id" => crate::state::ledger::identity(ids).map(str::to_string),
        field => ids.get(field).cloned(),
    }
}

/// Whether shell `code` may assign a variable that is secret (declared `secret`, or with a
/// secret-looking name), so its output could hold a value not known yet.
pub fn may_set_secret(lab: &Lab, code: &str) -> bool {
    static ASSIGNMENT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"([A-Za-z_][A-Za-z0-9_]*)\+?=").expect("valid regex"));
    ASSIGNMENT.captures_iter(code).any(|c| {
        let name = &c[1];
        lab.variable(name).is_some_and(|v| v.secret) || SECRET_NAME.is_match(name)
    })
}

/// Why a variable has no value yet, in words a student can act on.
pub fn missing_advice(lab: &Lab, name: &str) -> String {
    match lab.variable(name).map(|v| &v.source) {
        Some(VariableSource::Step) => {
            let setter = lab
                .steps()
                .find(|(_, s)| s.shell.iter().any(|b| b.code.contains(&format!("{name}="))))
                .map(|(_, s)| s.id.clone());
            match setter {
                Some(step) => {
                    format!("{name} is set by step `{step}`; run that step first or pass --var {name}=VALUE")
                }
                None => format!("{name} is set by a step; pass --var {name}=VALUE"),
            }
        }
        Some(VariableSource::Prompt) => format!("{name} has no default; pass --var {name}=VALUE"),
        _ => format!("{name} has no value; pass --var {name}=VALUE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_by_name_and_shape() {
        let cases = [
            ("DB_PASSWORD", "hunter2", true),
            ("AWS_SECRET_ACCESS_KEY", "x", true),
            ("SESSION_TOKEN", "abc", true),
            ("SOME_VALUE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", true),
            ("VPC_ID", "vpc-0123456789abcdef0", false),
            ("ALB_DNS", "flask-inventory-alb-1.us-east-1.elb.amazonaws.com", false),
        ];
        for (name, value, want) in cases {
            assert_eq!(looks_secret(name, value), want, "{name}");
        }
    }
}
