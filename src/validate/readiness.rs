//! Readiness checks before a lab starts (`validate --preflight`, `labrunner preflight`): the
//! region is set and answers for ECS, Elastic Load Balancing and Cloud Map; there is a default
//! VPC, or room for one more VPC when the lab builds its own; the IAM roles the lab checks but
//! does not create exist; and nothing the lab creates by name exists already.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Cell, CheckResult, Column, Mark};
use crate::aws::{describe, Clients, ErrorClass};
use crate::lab::{CheckSpec, Lab, ResourceSpec};
use crate::session::vars::Values;

/// The default quota of VPCs per region.
pub const VPC_QUOTA: usize = 5;

/// The readiness columns, in order.
pub fn columns() -> Vec<Column> {
    [
        ("region", "Region is set"),
        ("services", "ECS, ELB and Cloud Map answer"),
        ("network", "A VPC can be used or created"),
        ("roles", "Roles the lab expects exist"),
        ("leftovers", "No leftovers with the lab's names"),
    ]
    .into_iter()
    .map(|(id, title)| Column { id: id.into(), title: title.into() })
    .collect()
}

fn result(
    kind: &str,
    description: impl Into<String>,
    status: Mark,
    evidence: impl Into<String>,
    todo: Option<String>,
) -> CheckResult {
    CheckResult {
        kind: kind.to_string(),
        description: description.into(),
        status,
        evidence: evidence.into(),
        diagnostics: todo.into_iter().collect(),
    }
}

/// Error marks for failures to look, fail marks for answers that say "not ready".
fn mark_of(class: ErrorClass) -> Mark {
    match class {
        ErrorClass::AccessDenied | ErrorClass::Credentials | ErrorClass::Throttling => Mark::Error,
        _ => Mark::Fail,
    }
}

/// Every readiness cell for one account, in [`columns`] order.
pub async fn cells(lab: &Lab, clients: &Arc<Clients>, values: &Values) -> Vec<Cell> {
    let (services, network, roles, leftovers) = tokio::join!(
        services(clients),
        network(lab, clients),
        roles(lab, clients, values),
        leftovers(lab, clients, values)
    );
    vec![Cell::of("region", vec![region(clients)]), services, network, roles, leftovers]
}

fn region(clients: &Clients) -> CheckResult {
    let region = clients.region();
    if region.is_empty() {
        result(
            "region",
            "a region is set",
            Mark::Fail,
            "no region",
            Some("pass --region, set AWS_REGION, or set a region in the profile".into()),
        )
    } else {
        result("region", "a region is set", Mark::Pass, format!("region {region}"), None)
    }
}

async fn services(clients: &Clients) -> Cell {
    let region = clients.region();
    let (ecs, elb, cloudmap) = tokio::join!(
        clients.ecs.list_clusters().max_results(1).send(),
        clients.elbv2.describe_load_balancers().page_size(1).send(),
        clients.servicediscovery.list_namespaces().max_results(1).send(),
    );
    let line = |name: &str, outcome: Result<(), (ErrorClass, String)>| match outcome {
        Ok(()) => result(
            "services",
            format!("{name} answers"),
            Mark::Pass,
            format!("{name} answers in {region}"),
            None,
        ),
        Err((class, detail)) => result(
            "services",
            format!("{name} answers"),
            mark_of(class),
            format!("{name} in {region}: {detail}"),
            Some(format!("use a region where {name} is available, and credentials allowed to read it")),
        ),
    };
    let checks = vec![
        line("Amazon ECS", ecs.map(|_| ()).map_err(|e| (ErrorClass::of(&e), describe(&e)))),
        line("Elastic Load Balancing", elb.map(|_| ()).map_err(|e| (ErrorClass::of(&e), describe(&e)))),
        line("AWS Cloud Map", cloudmap.map(|_| ()).map_err(|e| (ErrorClass::of(&e), describe(&e)))),
    ];
    Cell::of("services", checks)
}

async fn network(lab: &Lab, clients: &Clients) -> Cell {
    let builds_vpc =
        lab.steps().any(|(_, s)| s.creates.iter().any(|r| matches!(r, ResourceSpec::Vpc { .. })));
    let check = if builds_vpc {
        match clients.ec2.request("DescribeVpcs").send_all("vpcSet").await {
            Ok(vpcs) => {
                let used = vpcs.len();
                if used < VPC_QUOTA {
                    result(
                        "network",
                        "room for one more VPC",
                        Mark::Pass,
                        format!("{used} of {VPC_QUOTA} VPCs in use"),
                        None,
                    )
                } else {
                    result(
                        "network",
                        "room for one more VPC",
                        Mark::Fail,
                        format!("{used} VPCs already (the default quota is {VPC_QUOTA})"),
                        Some(
                            "delete an unused VPC, or ask for a VPC quota increase in Service Quotas".into(),
                        ),
                    )
                }
            }
            Err(e) => {
                result("network", "room for one more VPC", mark_of(ErrorClass::of(&e)), describe(&e), None)
            }
        }
    } else {
        match clients.ec2.request("DescribeVpcs").filter("is-default", "true").send_all("vpcSet").await {
            Ok(vpcs) => match vpcs.first().and_then(|v| v.text("vpcId")) {
                Some(id) => {
                    result("network", "a default VPC exists", Mark::Pass, format!("default VPC {id}"), None)
                }
                None => result(
                    "network",
                    "a default VPC exists",
                    Mark::Fail,
                    "no default VPC",
                    Some("create one: aws ec2 create-default-vpc".into()),
                ),
            },
            Err(e) => {
                result("network", "a default VPC exists", mark_of(ErrorClass::of(&e)), describe(&e), None)
            }
        }
    };
    Cell::of("network", vec![check])
}

/// Roles the lab's checks name that no step creates.
pub fn expected_roles(lab: &Lab, values: &Values) -> Vec<String> {
    let created: BTreeSet<String> = lab
        .steps()
        .flat_map(|(_, s)| s.creates.iter())
        .filter_map(|r| values.resolve_resource(r).ok())
        .filter_map(|r| match r {
            ResourceSpec::IamRole { name } => Some(name),
            _ => None,
        })
        .collect();
    let mut wanted = BTreeSet::new();
    for (_, step) in lab.steps() {
        for check in &step.checks {
            let Ok(resolved) = values.resolve_check(check) else { continue };
            match resolved.spec {
                CheckSpec::IamRole(p) => wanted.insert(p.name),
                CheckSpec::RoleAllows(p) | CheckSpec::RoleDenies(p) => wanted.insert(p.role),
                _ => false,
            };
        }
    }
    wanted.difference(&created).cloned().collect()
}

async fn roles(lab: &Lab, clients: &Clients, values: &Values) -> Cell {
    let wanted = expected_roles(lab, values);
    if wanted.is_empty() {
        let line = result(
            "roles",
            "roles the lab expects",
            Mark::Pass,
            "the lab creates every IAM role it checks",
            None,
        );
        return Cell::of("roles", vec![line]);
    }
    let mut checks = Vec::new();
    for name in wanted {
        let what = format!("IAM role {name} exists");
        let line = match clients.iam.get_role().role_name(&name).send().await {
            Ok(_) => result("roles", what, Mark::Pass, format!("role {name} exists"), None),
            Err(e) if ErrorClass::of(&e) == ErrorClass::NotFound => result(
                "roles",
                what,
                Mark::Fail,
                format!("no role {name}"),
                Some(format!(
                    "the lab uses role {name} but does not create it: create it before the lab starts"
                )),
            ),
            Err(e) => result("roles", what, mark_of(ErrorClass::of(&e)), describe(&e), None),
        };
        checks.push(line);
    }
    Cell::of("roles", checks)
}

async fn leftovers(lab: &Lab, clients: &Arc<Clients>, values: &Values) -> Cell {
    let mut specs = Vec::new();
    let mut unresolved = 0;
    for (_, step) in lab.steps() {
        for r in &step.creates {
            // A new revision of a leftover task definition family collides with nothing.
            if matches!(r, ResourceSpec::TaskDefinition { .. }) {
                continue;
            }
            match values.resolve_resource(r) {
                Ok(spec) if !specs.contains(&spec) => specs.push(spec),
                Ok(_) => {}
                Err(_) => unresolved += 1,
            }
        }
    }
    let looks = specs.iter().map(|spec| crate::cleanup::lookup(clients, spec));
    let mut slots: Vec<Option<CheckResult>> = vec![None; specs.len()];
    for (i, found) in crate::concurrent::join_all(looks).await.into_iter().enumerate() {
        let spec = &specs[i];
        let what = format!("no {} yet", spec.describe());
        slots[i] = Some(match found {
            Ok(None) => {
                result("leftovers", what, Mark::Pass, format!("{} does not exist", spec.describe()), None)
            }
            Ok(Some(_)) => result(
                "leftovers",
                what,
                Mark::Fail,
                format!("{} exists already", spec.describe()),
                Some(format!(
                    "delete it first (labrunner cleanup {} --scan finds what the lab declares)",
                    lab.id()
                )),
            ),
            Err(e) => result("leftovers", what, mark_of(e.class), e.message, None),
        });
    }
    let mut checks: Vec<CheckResult> = slots.into_iter().flatten().collect();
    if unresolved > 0 {
        checks.push(result(
            "leftovers",
            "resources named after ids the lab captures",
            Mark::NotCheckable,
            format!("{unresolved} resource(s) are named after ids captured during the lab (such as ${{VPC_ID}}) and cannot collide"),
            None,
        ));
    }
    if checks.is_empty() {
        checks.push(result(
            "leftovers",
            "no leftovers",
            Mark::Pass,
            "the lab declares no named resources",
            None,
        ));
    }
    Cell::of("leftovers", checks)
}
