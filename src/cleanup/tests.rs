//! Deletion paths against mocked AWS clients (aws-smithy-mocks): the order of calls, waits,
//! retries, give-ups, and when the ledger is saved.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_mocks::mock;
use aws_smithy_types::error::ErrorMetadata;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::aws::mock::{json, Mocks};
use crate::clock::FakeClock;
use crate::state::ledger::Ledger;

/// Builds a client of `$krate` answering only from `$rules` (any order), with SDK retries off
/// so that throttling reaches the engine.
fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// What one `execute` did.
struct Run {
    report: Report,
    events: Vec<CleanupEvent>,
    /// The resources left in the ledger at each save.
    saves: Vec<Vec<String>>,
    ledger: Ledger,
    slept: Vec<Duration>,
}

impl Run {
    fn has_event(&self, want: &CleanupEvent) -> bool {
        self.events.contains(want)
    }
}

fn ledger_of(resources: Vec<(ResourceSpec, BTreeMap<String, String>)>) -> Ledger {
    let mut ledger = Ledger::new("lab", "123456789012", "us-east-1");
    for (spec, ids) in resources {
        ledger.record(spec, ids, "step");
    }
    ledger
}

#[allow(clippy::result_large_err)] // the crate's `Error`, as `execute` takes it
async fn run_with(
    mocks: &Mocks,
    resources: Vec<(ResourceSpec, BTreeMap<String, String>)>,
    cancel: &CancellationToken,
    on_save: impl Fn(&Ledger) + Send + Sync,
) -> Run {
    let clients = mocks.clients();
    let mut ledger = ledger_of(resources);
    let plan = plan(&ledger.entries);
    let saves = Mutex::new(Vec::new());
    let mut save = |l: &Ledger| -> Result<(), crate::error::Error> {
        on_save(l);
        saves.lock().unwrap().push(l.entries.iter().map(|e| e.resource.describe()).collect());
        Ok(())
    };
    let events = Mutex::new(Vec::new());
    let emit = |e: CleanupEvent| events.lock().unwrap().push(e);
    let clock = FakeClock::new();
    let report = execute(&clients, &plan, &mut ledger, &mut save, &emit, clock.as_ref(), cancel).await;
    Run {
        report,
        events: events.into_inner().unwrap(),
        saves: saves.into_inner().unwrap(),
        ledger,
        slept: clock.sleeps(),
    }
}

async fn run(mocks: &Mocks, resources: Vec<(ResourceSpec, BTreeMap<String, String>)>) -> Run {
    run_with(mocks, resources, &CancellationToken::new(), |_| {}).await
}

fn no_ids() -> BTreeMap<String, String> {
    BTreeMap::new()
}

mod ecs_service {
    use aws_sdk_ecs::operation::delete_service::DeleteServiceOutput;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::update_service::{UpdateServiceError, UpdateServiceOutput};
    use aws_sdk_ecs::types::Service;
    use aws_sdk_ecs::Client;

    use super::*;

    fn described(status: &str) -> DescribeServicesOutput {
        DescribeServicesOutput::builder()
            .services(Service::builder().service_arn("arn:svc").status(status).build())
            .build()
    }

    fn service() -> ResourceSpec {
        ResourceSpec::EcsService { cluster: "c".into(), service: "web".into() }
    }

    #[tokio::test]
    async fn is_scaled_to_zero_deleted_with_force_and_waited_until_inactive() {
        let calls = Arc::new(Mutex::new(Vec::<&str>::new()));
        let (c1, c2) = (calls.clone(), calls.clone());
        let mocks = Mocks {
            ecs: vec![
                // Found ACTIVE, then DRAINING twice while tasks stop, then INACTIVE for good
                // (moto keeps it listed that way).
                mock!(Client::describe_services)
                    .sequence()
                    .output(|| described("ACTIVE"))
                    .output(|| described("DRAINING"))
                    .times(2)
                    .build(),
                mock!(Client::describe_services).then_output(|| described("INACTIVE")),
                mock!(Client::update_service)
                    .match_requests(|r| r.cluster() == Some("c") && r.desired_count() == Some(0))
                    .then_output(move || {
                        c1.lock().unwrap().push("scale to 0");
                        UpdateServiceOutput::builder().build()
                    }),
                mock!(Client::delete_service).match_requests(|r| r.force() == Some(true)).then_output(
                    move || {
                        c2.lock().unwrap().push("delete --force");
                        DeleteServiceOutput::builder().build()
                    },
                ),
            ],
            ..Mocks::default()
        };
        let run = run(&mocks, vec![(service(), no_ids())]).await;
        assert_eq!(*calls.lock().unwrap(), ["scale to 0", "delete --force"]);
        let resource = "ecs_service c/web".to_string();
        assert_eq!(
            run.events,
            [
                CleanupEvent::WaveStarted { wave: 1, count: 1 },
                CleanupEvent::Deleting { resource: resource.clone() },
                CleanupEvent::Waiting {
                    resource: resource.clone(),
                    what: "the service to become INACTIVE".into()
                },
                CleanupEvent::Waiting {
                    resource: resource.clone(),
                    what: "the service to become INACTIVE".into()
                },
                CleanupEvent::Deleted { resource: resource.clone() },
            ]
        );
        assert_eq!(run.slept, [Duration::from_secs(10), Duration::from_secs(10)]);
        assert_eq!(run.report.deleted, [resource]);
        assert!(run.report.is_clean());
        assert_eq!(run.saves, [Vec::<String>::new()]);
        assert!(run.ledger.is_empty());
    }

    #[tokio::test]
    async fn a_service_already_draining_is_still_deleted() {
        let mocks = Mocks {
            ecs: vec![
                mock!(Client::describe_services).sequence().output(|| described("DRAINING")).build(),
                mock!(Client::describe_services).then_output(|| described("INACTIVE")),
                mock!(Client::update_service).then_error(|| {
                    UpdateServiceError::generic(meta("ServiceNotActiveException", "Service was not ACTIVE."))
                }),
                mock!(Client::delete_service).then_output(|| DeleteServiceOutput::builder().build()),
            ],
            ..Mocks::default()
        };
        let run = run(&mocks, vec![(service(), no_ids())]).await;
        assert_eq!(run.report.deleted, ["ecs_service c/web"]);
    }

    #[tokio::test]
    async fn throttling_is_retried_with_back_off() {
        let mocks = Mocks {
            ecs: vec![
                mock!(Client::describe_services).sequence().output(|| described("ACTIVE")).build(),
                mock!(Client::describe_services).then_output(|| described("INACTIVE")),
                mock!(Client::update_service)
                    .sequence()
                    .error(|| UpdateServiceError::generic(meta("ThrottlingException", "Rate exceeded")))
                    .times(2)
                    .output(|| UpdateServiceOutput::builder().build())
                    .build(),
                mock!(Client::delete_service).then_output(|| DeleteServiceOutput::builder().build()),
            ],
            ..Mocks::default()
        };
        let run = run(&mocks, vec![(service(), no_ids())]).await;
        let retry = |attempt| CleanupEvent::Retrying {
            resource: "ecs_service c/web".into(),
            attempt,
            error: "ThrottlingException: Rate exceeded".into(),
        };
        assert!(run.has_event(&retry(1)) && run.has_event(&retry(2)), "{:?}", run.events);
        assert_eq!(run.slept, [Duration::from_secs(1), Duration::from_secs(2)]);
        assert_eq!(run.report.deleted, ["ecs_service c/web"]);
    }
}

mod already_gone {
    use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersError;

    use super::*;

    #[tokio::test]
    async fn not_found_counts_as_already_deleted_and_leaves_the_ledger() {
        let mocks = Mocks {
            dynamodb: vec![json("DescribeTable")
                .then_error(|| meta("ResourceNotFoundException", "Requested resource not found"))],
            elbv2: vec![mock!(aws_sdk_elasticloadbalancingv2::Client::describe_load_balancers).then_error(
                || DescribeLoadBalancersError::generic(meta("LoadBalancerNotFound", "One or more not found")),
            )],
            ..Mocks::default()
        };
        let resources = vec![
            (ResourceSpec::DynamodbTable { table: "inventory".into() }, no_ids()),
            (ResourceSpec::LoadBalancer { name: "lb".into() }, no_ids()),
        ];
        let run = run(&mocks, resources).await;
        // Plan order: the load balancer's wave comes first.
        assert_eq!(run.report.already_gone, ["load_balancer lb", "dynamodb_table inventory"]);
        assert!(run.report.deleted.is_empty() && run.report.is_clean());
        assert_eq!(run.saves, [vec!["dynamodb_table inventory".to_string()], vec![]]);
        assert!(run.has_event(&CleanupEvent::AlreadyGone { resource: "load_balancer lb".into() }));
        assert!(!run.events.iter().any(|e| matches!(e, CleanupEvent::Deleting { .. })));
    }
}

mod network {
    use super::*;
    use crate::aws::mock::{ec2, ec2_answer, ec2_where};

    fn group() -> crate::aws::ec2::Xml {
        ec2_answer(
            "<DescribeSecurityGroupsResponse><securityGroupInfo><item><groupId>sg-1</groupId>\
             <groupName>web</groupName></item></securityGroupInfo></DescribeSecurityGroupsResponse>",
        )
    }

    fn no_group() -> crate::aws::ec2::Xml {
        ec2_answer("<DescribeSecurityGroupsResponse><securityGroupInfo/></DescribeSecurityGroupsResponse>")
    }

    fn deleted() -> crate::aws::ec2::Xml {
        ec2_answer("<DeleteSecurityGroupResponse><return>true</return></DeleteSecurityGroupResponse>")
    }

    #[tokio::test]
    async fn a_dependency_violation_that_persists_ends_as_remaining_with_advice() {
        let mocks = Mocks {
            ec2: vec![
                ec2("DescribeSecurityGroups").then_output(group),
                ec2_where("DeleteSecurityGroup", |call| call.param("GroupId") == Some("sg-1"))
                    .then_error(|| meta("DependencyViolation", "resource sg-1 has a dependent object")),
            ],
            ..Mocks::default()
        };
        let spec = ResourceSpec::SecurityGroup { name: "web".into(), vpc: "vpc-1".into() };
        let run = run(&mocks, vec![(spec.clone(), no_ids())]).await;
        assert_eq!(run.report.remaining.len(), 1, "{}", run.report);
        let rem = &run.report.remaining[0];
        assert_eq!(rem.resource, "security_group web in vpc-1");
        assert_eq!(rem.error, "DependencyViolation: resource sg-1 has a dependent object");
        assert!(rem.advice.contains("network interfaces"), "{}", rem.advice);
        // It waited, with back-off, within the 15-minute budget, then gave up.
        let total: Duration = run.slept.iter().sum();
        assert!(total > Duration::from_secs(10 * 60) && total <= Duration::from_secs(15 * 60), "{total:?}");
        assert_eq!(
            run.slept[..3],
            [Duration::from_secs(10), Duration::from_secs(20), Duration::from_secs(40)]
        );
        // Never saved: the entry stays.
        assert!(run.saves.is_empty());
        assert_eq!(run.ledger.entries.len(), 1);
        assert!(run.has_event(&CleanupEvent::Failed {
            resource: "security_group web in vpc-1".into(),
            error: "DependencyViolation: resource sg-1 has a dependent object".into(),
        }));
    }

    #[tokio::test]
    async fn a_dependency_violation_that_clears_is_deleted() {
        let mocks = Mocks {
            ec2: vec![
                ec2("DescribeSecurityGroups").sequence().output(group).build(),
                ec2("DescribeSecurityGroups").then_output(no_group),
                ec2("DeleteSecurityGroup")
                    .sequence()
                    .error(|| meta("DependencyViolation", "in use"))
                    .times(3)
                    .output(deleted)
                    .build(),
            ],
            ..Mocks::default()
        };
        let spec = ResourceSpec::SecurityGroup { name: "web".into(), vpc: "vpc-1".into() };
        let run = run(&mocks, vec![(spec, no_ids())]).await;
        assert_eq!(run.report.deleted, ["security_group web in vpc-1"]);
        assert_eq!(run.saves, [Vec::<String>::new()]);
    }
}

mod ledger {
    use aws_sdk_elasticloadbalancingv2::operation::delete_target_group::{
        DeleteTargetGroupError, DeleteTargetGroupOutput,
    };
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::{
        DescribeTargetGroupsError, DescribeTargetGroupsOutput,
    };
    use aws_sdk_elasticloadbalancingv2::types::TargetGroup;
    use aws_sdk_elasticloadbalancingv2::Client;

    use super::*;

    #[tokio::test]
    async fn an_entry_leaves_the_ledger_only_once_the_resource_is_confirmed_gone() {
        let confirmed = Arc::new(AtomicBool::new(false));
        let flag = confirmed.clone();
        let found = || {
            DescribeTargetGroupsOutput::builder()
                .target_groups(TargetGroup::builder().target_group_arn("arn:tg").build())
                .build()
        };
        let mocks = Mocks {
            elbv2: vec![
                // Found, still there after the delete call, then not found.
                mock!(Client::describe_target_groups).sequence().output(found).times(2).build(),
                mock!(Client::describe_target_groups).then_error(move || {
                    flag.store(true, Ordering::SeqCst);
                    DescribeTargetGroupsError::generic(meta("TargetGroupNotFound", "not found"))
                }),
                // Still used by a listener a moment ago: retried.
                mock!(Client::delete_target_group)
                    .match_requests(|r| r.target_group_arn() == Some("arn:tg"))
                    .sequence()
                    .error(|| DeleteTargetGroupError::generic(meta("ResourceInUse", "in use by a listener")))
                    .output(|| DeleteTargetGroupOutput::builder().build())
                    .build(),
            ],
            ..Mocks::default()
        };
        let recorded = BTreeMap::from([("arn".to_string(), "arn:tg".to_string())]);
        let other = ResourceSpec::LogGroup { name: "/ecs/web".into() };
        let logs_gone =
            vec![json("DescribeLogGroups").then_output(|| serde_json::json!({ "logGroups": [] }))];
        let mocks = Mocks { logs: logs_gone, ..mocks };
        let seen = confirmed.clone();
        let run = run_with(
            &mocks,
            vec![(ResourceSpec::TargetGroup { name: "tg".into() }, recorded), (other, no_ids())],
            &CancellationToken::new(),
            move |l| {
                if !l.entries.iter().any(|e| matches!(e.resource, ResourceSpec::TargetGroup { .. })) {
                    assert!(
                        seen.load(Ordering::SeqCst),
                        "saved without the target group before it was confirmed gone"
                    );
                }
            },
        )
        .await;
        assert!(run.has_event(&CleanupEvent::Retrying {
            resource: "target_group tg (arn:tg)".into(),
            attempt: 1,
            error: "ResourceInUse: in use by a listener".into(),
        }));
        assert_eq!(
            run.saves,
            [vec!["log_group /ecs/web".to_string()], vec![]],
            "one save per confirmed resource, in plan order"
        );
        assert_eq!(run.report.deleted, ["target_group tg (arn:tg)"]);
        assert_eq!(run.report.already_gone, ["log_group /ecs/web"]);
    }

    #[tokio::test]
    async fn cancelled_before_starting_touches_nothing() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let run = run_with(
            &Mocks::default(),
            vec![(ResourceSpec::TargetGroup { name: "tg".into() }, no_ids())],
            &cancel,
            |_| {},
        )
        .await;
        assert!(run.events.is_empty());
        assert!(run.saves.is_empty());
        assert_eq!(run.ledger.entries.len(), 1);
        assert_eq!(
            run.report.remaining,
            [Remaining {
                resource: "target_group tg".into(),
                error: "not attempted: cleanup was interrupted".into(),
                advice: "run cleanup again to finish".into(),
            }]
        );
    }
}

/// A shared log of the calls mocks answered, in order.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    fn push(&self, call: &str) {
        self.0.lock().unwrap().push(call.to_string());
    }
    fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

mod task_definition {
    use aws_sdk_ecs::operation::delete_task_definitions::DeleteTaskDefinitionsError;
    use aws_sdk_ecs::operation::deregister_task_definition::DeregisterTaskDefinitionOutput;
    use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
    use aws_sdk_ecs::types::{TaskDefinition, TaskDefinitionStatus};
    use aws_sdk_ecs::Client;

    use super::*;

    const REV1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
    const REV2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";

    fn described(status: TaskDefinitionStatus) -> DescribeTaskDefinitionOutput {
        DescribeTaskDefinitionOutput::builder()
            .task_definition(TaskDefinition::builder().status(status).build())
            .build()
    }

    #[tokio::test]
    async fn recorded_revisions_are_deregistered_and_unimplemented_delete_is_noted() {
        let calls = Calls::default();
        let log = calls.clone();
        let mocks = Mocks {
            ecs: vec![
                // Both ACTIVE when first looked up; INACTIVE from then on.
                mock!(Client::describe_task_definition)
                    .sequence()
                    .output(|| described(TaskDefinitionStatus::Active))
                    .times(2)
                    .build(),
                mock!(Client::describe_task_definition)
                    .then_output(|| described(TaskDefinitionStatus::Inactive)),
                mock!(Client::deregister_task_definition).then_compute_output(move |r| {
                    log.push(&format!("deregister {}", r.task_definition().unwrap_or_default()));
                    DeregisterTaskDefinitionOutput::builder().build()
                }),
                mock!(Client::delete_task_definitions)
                    .match_requests(|r| r.task_definitions() == [REV1, REV2])
                    .then_error(|| {
                        DeleteTaskDefinitionsError::generic(meta(
                            "InvalidAction",
                            "The delete_task_definitions action has not been implemented",
                        ))
                    }),
            ],
            ..Mocks::default()
        };
        let ids = BTreeMap::from([
            ("revision:web:1".to_string(), REV1.to_string()),
            ("revision:web:2".to_string(), REV2.to_string()),
        ]);
        let run = run(&mocks, vec![(ResourceSpec::TaskDefinition { family: "web".into() }, ids)]).await;
        assert_eq!(calls.get(), [format!("deregister {REV1}"), format!("deregister {REV2}")]);
        assert_eq!(
            run.report.deleted,
            ["task_definition web (deregistered only: this endpoint cannot delete task definitions)"]
        );
        assert!(run.ledger.is_empty());
    }
}

mod cloudmap {
    use aws_sdk_servicediscovery::operation::delete_namespace::DeleteNamespaceOutput;
    use aws_sdk_servicediscovery::operation::get_namespace::GetNamespaceOutput;
    use aws_sdk_servicediscovery::operation::get_operation::GetOperationOutput;
    use aws_sdk_servicediscovery::operation::list_namespaces::ListNamespacesOutput;
    use aws_sdk_servicediscovery::types::{Namespace, NamespaceSummary, Operation, OperationStatus};
    use aws_sdk_servicediscovery::Client;

    use super::*;

    fn operation(status: OperationStatus) -> GetOperationOutput {
        GetOperationOutput::builder()
            .operation(Operation::builder().id("op-1").status(status).build())
            .build()
    }

    fn namespace() -> GetNamespaceOutput {
        GetNamespaceOutput::builder()
            .namespace(Namespace::builder().id("ns-1").name("lab.local").arn("arn:ns").build())
            .build()
    }

    fn recorded() -> BTreeMap<String, String> {
        BTreeMap::from([("id".to_string(), "ns-1".to_string()), ("arn".to_string(), "arn:ns".to_string())])
    }

    #[tokio::test]
    async fn a_namespace_is_deleted_by_its_recorded_id_and_its_operation_waited_for() {
        let mocks = Mocks {
            servicediscovery: vec![
                mock!(Client::get_namespace)
                    .match_requests(|r| r.id() == Some("ns-1"))
                    .sequence()
                    .output(namespace)
                    .build(),
                mock!(Client::get_namespace).then_error(|| {
                    aws_sdk_servicediscovery::operation::get_namespace::GetNamespaceError::generic(meta(
                        "NamespaceNotFound",
                        "gone",
                    ))
                }),
                mock!(Client::delete_namespace)
                    .match_requests(|r| r.id() == Some("ns-1"))
                    .then_output(|| DeleteNamespaceOutput::builder().operation_id("op-1").build()),
                mock!(Client::get_operation)
                    .sequence()
                    .output(|| operation(OperationStatus::Pending))
                    .build(),
                mock!(Client::get_operation).then_output(|| operation(OperationStatus::Success)),
            ],
            ..Mocks::default()
        };
        let run =
            run(&mocks, vec![(ResourceSpec::CloudmapNamespace { name: "lab.local".into() }, recorded())])
                .await;
        assert!(run.has_event(&CleanupEvent::Waiting {
            resource: "cloudmap_namespace lab.local (ns-1)".into(),
            what: "the namespace deletion to finish".into(),
        }));
        assert_eq!(run.report.deleted, ["cloudmap_namespace lab.local (ns-1)"]);
    }

    #[tokio::test]
    async fn a_namespace_without_a_recorded_id_is_never_looked_up_by_name() {
        // Private DNS namespaces of one name can exist in several VPCs: a name is no identity.
        let mocks = Mocks {
            servicediscovery: vec![mock!(Client::list_namespaces).then_output(|| {
                ListNamespacesOutput::builder()
                    .namespaces(NamespaceSummary::builder().name("lab.local").id("ns-other").build())
                    .build()
            })],
            ..Mocks::default()
        };
        let run =
            run(&mocks, vec![(ResourceSpec::CloudmapNamespace { name: "lab.local".into() }, no_ids())]).await;
        assert_eq!(run.report.already_gone, ["cloudmap_namespace lab.local"]);
        assert!(run.report.deleted.is_empty());
    }

    #[tokio::test]
    async fn a_failed_namespace_operation_remains_with_its_reason() {
        let mocks = Mocks {
            servicediscovery: vec![
                mock!(Client::get_namespace).then_output(namespace),
                mock!(Client::delete_namespace)
                    .then_output(|| DeleteNamespaceOutput::builder().operation_id("op-1").build()),
                mock!(Client::get_operation).then_output(|| {
                    GetOperationOutput::builder()
                        .operation(
                            Operation::builder()
                                .status(OperationStatus::Fail)
                                .error_message("namespace has services")
                                .build(),
                        )
                        .build()
                }),
            ],
            ..Mocks::default()
        };
        let run =
            run(&mocks, vec![(ResourceSpec::CloudmapNamespace { name: "lab.local".into() }, recorded())])
                .await;
        assert_eq!(run.report.remaining.len(), 1);
        assert_eq!(run.report.remaining[0].error, "the namespace deletion failed: namespace has services");
        assert_eq!(run.ledger.entries.len(), 1);
    }
}

mod iam {
    use aws_sdk_iam::operation::get_role::{GetRoleError, GetRoleOutput};
    use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
    use aws_sdk_iam::operation::list_instance_profiles_for_role::ListInstanceProfilesForRoleOutput;
    use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
    use aws_sdk_iam::types::{AttachedPolicy, InstanceProfile, Role};
    use aws_sdk_iam::Client;
    use aws_smithy_types::DateTime;

    use super::*;

    #[tokio::test]
    async fn a_role_is_emptied_then_deleted() {
        let calls = Calls::default();
        let (l1, l2, l3, l4) = (calls.clone(), calls.clone(), calls.clone(), calls.clone());
        let role = || {
            Role::builder()
                .path("/")
                .role_name("task-role")
                .role_id("AROA1")
                .arn("arn:aws:iam::123456789012:role/task-role")
                .create_date(DateTime::from_secs(0))
                .build()
                .unwrap()
        };
        let mocks = Mocks {
            iam: vec![
                mock!(Client::get_role)
                    .sequence()
                    .output(move || GetRoleOutput::builder().role(role()).build())
                    .build(),
                mock!(Client::get_role)
                    .then_error(|| GetRoleError::generic(meta("NoSuchEntity", "The role cannot be found"))),
                mock!(Client::list_attached_role_policies).then_output(|| {
                    ListAttachedRolePoliciesOutput::builder()
                        .attached_policies(AttachedPolicy::builder().policy_arn("arn:policy/read").build())
                        .build()
                }),
                mock!(Client::detach_role_policy).then_compute_output(move |r| {
                    l1.push(&format!("detach {}", r.policy_arn().unwrap_or_default()));
                    aws_sdk_iam::operation::detach_role_policy::DetachRolePolicyOutput::builder().build()
                }),
                mock!(Client::list_role_policies).then_output(|| {
                    ListRolePoliciesOutput::builder().policy_names("inline").build().unwrap()
                }),
                mock!(Client::delete_role_policy).then_compute_output(move |r| {
                    l2.push(&format!("delete inline {}", r.policy_name().unwrap_or_default()));
                    aws_sdk_iam::operation::delete_role_policy::DeleteRolePolicyOutput::builder().build()
                }),
                mock!(Client::list_instance_profiles_for_role).then_output(|| {
                    let profile = InstanceProfile::builder()
                        .path("/")
                        .instance_profile_name("profile")
                        .instance_profile_id("AIPA1")
                        .arn("arn:profile")
                        .create_date(DateTime::from_secs(0))
                        .set_roles(Some(vec![]))
                        .build()
                        .unwrap();
                    ListInstanceProfilesForRoleOutput::builder().instance_profiles(profile).build().unwrap()
                }),
                mock!(Client::remove_role_from_instance_profile).then_compute_output(move |r| {
                    l3.push(&format!("leave {}", r.instance_profile_name().unwrap_or_default()));
                    aws_sdk_iam::operation::remove_role_from_instance_profile::RemoveRoleFromInstanceProfileOutput::builder().build()
                }),
                mock!(Client::delete_role).then_compute_output(move |r| {
                    l4.push(&format!("delete role {}", r.role_name().unwrap_or_default()));
                    aws_sdk_iam::operation::delete_role::DeleteRoleOutput::builder().build()
                }),
            ],
            ..Mocks::default()
        };
        let run = run(&mocks, vec![(ResourceSpec::IamRole { name: "task-role".into() }, no_ids())]).await;
        assert_eq!(
            calls.get(),
            ["detach arn:policy/read", "delete inline inline", "leave profile", "delete role task-role"]
        );
        assert_eq!(run.report.deleted, ["iam_role task-role"]);
    }
}

mod profile_and_secret {
    use aws_sdk_iam::operation::get_instance_profile::{GetInstanceProfileError, GetInstanceProfileOutput};
    use aws_sdk_iam::types::{InstanceProfile, Role};
    use aws_smithy_types::DateTime;

    use super::*;

    fn profile(id: &str) -> GetInstanceProfileOutput {
        let role = Role::builder()
            .path("/")
            .role_name("instance-role")
            .role_id("AROA1")
            .arn("arn:aws:iam::123456789012:role/instance-role")
            .create_date(DateTime::from_secs(0))
            .build()
            .unwrap();
        let profile = InstanceProfile::builder()
            .path("/")
            .instance_profile_name("lab-profile")
            .instance_profile_id(id)
            .arn("arn:aws:iam::123456789012:instance-profile/lab-profile")
            .create_date(DateTime::from_secs(0))
            .roles(role)
            .build()
            .unwrap();
        GetInstanceProfileOutput::builder().instance_profile(profile).build()
    }

    fn recorded(id: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("arn".to_string(), "arn:aws:iam::123456789012:instance-profile/lab-profile".to_string()),
            ("id".to_string(), id.to_string()),
        ])
    }

    #[tokio::test]
    async fn an_instance_profile_is_emptied_then_deleted() {
        let calls = Calls::default();
        let (l1, l2) = (calls.clone(), calls.clone());
        let mocks = Mocks {
            iam: vec![
                // Found by its recorded id, then read again to empty it; then gone.
                mock!(aws_sdk_iam::Client::get_instance_profile)
                    .sequence()
                    .output(|| profile("AIPA1"))
                    .times(2)
                    .build(),
                mock!(aws_sdk_iam::Client::get_instance_profile).then_error(|| {
                    GetInstanceProfileError::generic(meta("NoSuchEntity", "Instance Profile lab-profile cannot be found."))
                }),
                mock!(aws_sdk_iam::Client::remove_role_from_instance_profile).then_compute_output(move |r| {
                    l1.push(&format!("leave {}", r.role_name().unwrap_or_default()));
                    aws_sdk_iam::operation::remove_role_from_instance_profile::RemoveRoleFromInstanceProfileOutput::builder().build()
                }),
                mock!(aws_sdk_iam::Client::delete_instance_profile).then_compute_output(move |r| {
                    l2.push(&format!("delete {}", r.instance_profile_name().unwrap_or_default()));
                    aws_sdk_iam::operation::delete_instance_profile::DeleteInstanceProfileOutput::builder().build()
                }),
            ],
            ..Mocks::default()
        };
        let spec = ResourceSpec::InstanceProfile { name: "lab-profile".into() };
        let run = run(&mocks, vec![(spec, recorded("AIPA1"))]).await;
        assert_eq!(calls.get(), ["leave instance-role", "delete lab-profile"]);
        assert_eq!(run.report.deleted, ["instance_profile lab-profile (AIPA1)"]);
        assert!(run.ledger.entries.is_empty());
    }

    #[tokio::test]
    async fn a_profile_of_the_same_name_but_another_id_is_left_alone() {
        let mocks = Mocks {
            iam: vec![mock!(aws_sdk_iam::Client::get_instance_profile)
                .then_output(|| profile("AIPA-SOMEONE-ELSES"))],
            ..Mocks::default()
        };
        let spec = ResourceSpec::InstanceProfile { name: "lab-profile".into() };
        let run = run(&mocks, vec![(spec, recorded("AIPA1"))]).await;
        assert!(run.report.deleted.is_empty(), "{:?}", run.report);
        assert!(run.ledger.entries.is_empty(), "the recorded profile is gone; nothing else was touched");
    }

    #[tokio::test]
    async fn a_secret_is_deleted_by_its_arn_without_a_recovery_window() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lab/db-AbCdEf";
        let calls = Calls::default();
        let l1 = calls.clone();
        let mocks = Mocks {
            secretsmanager: vec![
                json("DescribeSecret")
                    .sequence()
                    .output(move || serde_json::json!({ "ARN": arn, "Name": "lab/db" }))
                    .build(),
                json("DescribeSecret").then_error(|| {
                    meta("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
                }),
                json("DeleteSecret").then_compute_output(move |r| {
                    l1.push(&format!(
                        "delete {} force={}",
                        r.input["SecretId"].as_str().unwrap_or_default(),
                        r.input["ForceDeleteWithoutRecovery"]
                    ));
                    serde_json::json!({ "ARN": arn })
                }),
            ],
            ..Mocks::default()
        };
        let ids = BTreeMap::from([("arn".to_string(), arn.to_string())]);
        let run = run(&mocks, vec![(ResourceSpec::Secret { name: "lab/db".into() }, ids)]).await;
        assert_eq!(calls.get(), [format!("delete {arn} force=true")]);
        assert_eq!(run.report.deleted, [format!("secret lab/db ({arn})")]);
    }
}

mod capacity_and_images {
    use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
    use aws_sdk_autoscaling::types::AutoScalingGroup;
    use aws_sdk_ecs::operation::describe_capacity_providers::DescribeCapacityProvidersOutput;
    use aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput;
    use aws_sdk_ecs::types::{
        CapacityProvider, CapacityProviderStatus, CapacityProviderStrategyItem, Cluster,
    };
    use aws_smithy_types::DateTime;

    use super::*;

    const CP_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:capacity-provider/lab-cp";

    fn provider(status: CapacityProviderStatus) -> DescribeCapacityProvidersOutput {
        let cp =
            CapacityProvider::builder().name("lab-cp").capacity_provider_arn(CP_ARN).status(status).build();
        DescribeCapacityProvidersOutput::builder().capacity_providers(cp).build()
    }

    #[tokio::test]
    async fn a_capacity_provider_leaves_its_cluster_then_is_deleted_and_the_cluster_keeps_the_others() {
        let calls = Calls::default();
        let (l1, l2) = (calls.clone(), calls.clone());
        let mocks = Mocks {
            ecs: vec![
                mock!(aws_sdk_ecs::Client::describe_capacity_providers)
                    .sequence()
                    .output(|| provider(CapacityProviderStatus::Active))
                    .build(),
                mock!(aws_sdk_ecs::Client::describe_capacity_providers)
                    .then_output(|| provider(CapacityProviderStatus::Inactive)),
                mock!(aws_sdk_ecs::Client::describe_clusters).then_output(|| {
                    let strategy = |p: &str| CapacityProviderStrategyItem::builder().capacity_provider(p).weight(1).build().unwrap();
                    let cluster = Cluster::builder()
                        .cluster_name("lab")
                        .status("ACTIVE")
                        .capacity_providers("FARGATE")
                        .capacity_providers("lab-cp")
                        .default_capacity_provider_strategy(strategy("lab-cp"))
                        .default_capacity_provider_strategy(strategy("FARGATE"))
                        .build();
                    DescribeClustersOutput::builder().clusters(cluster).build()
                }),
                mock!(aws_sdk_ecs::Client::put_cluster_capacity_providers).then_compute_output(move |r| {
                    let strategy: Vec<&str> =
                        r.default_capacity_provider_strategy().iter().map(|s| s.capacity_provider()).collect();
                    l1.push(&format!("cluster {} keeps {:?} strategy {strategy:?}", r.cluster().unwrap_or_default(), r.capacity_providers()));
                    aws_sdk_ecs::operation::put_cluster_capacity_providers::PutClusterCapacityProvidersOutput::builder().build()
                }),
                mock!(aws_sdk_ecs::Client::delete_capacity_provider).then_compute_output(move |r| {
                    l2.push(&format!("delete {}", r.capacity_provider().unwrap_or_default()));
                    aws_sdk_ecs::operation::delete_capacity_provider::DeleteCapacityProviderOutput::builder().build()
                }),
            ],
            ..Mocks::default()
        };
        let spec = ResourceSpec::CapacityProvider { name: "lab-cp".into(), cluster: Some("lab".into()) };
        let ids = BTreeMap::from([("arn".to_string(), CP_ARN.to_string())]);
        let run = run(&mocks, vec![(spec, ids)]).await;
        assert_eq!(
            calls.get(),
            [r#"cluster lab keeps ["FARGATE"] strategy ["FARGATE"]"#.to_string(), format!("delete {CP_ARN}")]
        );
        assert_eq!(run.report.deleted, [format!("capacity_provider lab-cp (cluster lab) ({CP_ARN})")]);
        assert!(run.ledger.entries.is_empty());
    }

    fn group(arn: &str) -> DescribeAutoScalingGroupsOutput {
        let g = AutoScalingGroup::builder()
            .auto_scaling_group_name("lab-asg")
            .auto_scaling_group_arn(arn)
            .min_size(0)
            .max_size(2)
            .desired_capacity(0)
            .default_cooldown(300)
            .health_check_type("EC2")
            .created_time(DateTime::from_secs(0))
            .availability_zones("us-east-1a")
            .build();
        DescribeAutoScalingGroupsOutput::builder().auto_scaling_groups(g).build()
    }

    const ASG_ARN: &str =
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1111:autoScalingGroupName/lab-asg";

    #[tokio::test]
    async fn an_auto_scaling_group_is_force_deleted_by_its_arn_with_its_instances() {
        let calls = Calls::default();
        let l1 = calls.clone();
        let mocks = Mocks {
            ec2_autoscaling: vec![
                mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
                    .sequence()
                    .output(|| group(ASG_ARN))
                    .build(),
                mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
                    .then_output(|| DescribeAutoScalingGroupsOutput::builder().build()),
                mock!(aws_sdk_autoscaling::Client::delete_auto_scaling_group).then_compute_output(move |r| {
                    l1.push(&format!("delete {} force={:?}", r.auto_scaling_group_name().unwrap_or_default(), r.force_delete()));
                    aws_sdk_autoscaling::operation::delete_auto_scaling_group::DeleteAutoScalingGroupOutput::builder().build()
                }),
            ],
            ..Mocks::default()
        };
        let spec = ResourceSpec::AutoscalingGroup { name: "lab-asg".into() };
        let run = run(&mocks, vec![(spec, BTreeMap::from([("arn".to_string(), ASG_ARN.to_string())]))]).await;
        assert_eq!(calls.get(), ["delete lab-asg force=Some(true)"]);
        assert_eq!(run.report.deleted, [format!("autoscaling_group lab-asg ({ASG_ARN})")]);
    }

    #[tokio::test]
    async fn a_group_of_the_same_name_but_another_arn_is_left_alone() {
        // Strict mocks: a delete call would panic.
        let mocks = Mocks {
            ec2_autoscaling: vec![mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(|| {
                group("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:2222:autoScalingGroupName/lab-asg")
            })],
            ..Mocks::default()
        };
        let spec = ResourceSpec::AutoscalingGroup { name: "lab-asg".into() };
        let run = run(&mocks, vec![(spec, BTreeMap::from([("arn".to_string(), ASG_ARN.to_string())]))]).await;
        assert!(run.report.deleted.is_empty(), "{:?}", run.report);
        assert!(run.ledger.entries.is_empty(), "the recorded group is gone; the other one was not touched");
    }

    #[tokio::test]
    async fn a_repository_goes_with_its_images_and_a_parameter_by_its_name() {
        let repo_arn = "arn:aws:ecr:us-east-1:123456789012:repository/lab/auth";
        let param_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/lab/db-name";
        let calls = Calls::default();
        let (l1, l2) = (calls.clone(), calls.clone());
        let mocks = Mocks {
            ecr: vec![
                json("DescribeRepositories")
                    .sequence()
                    .output(move || {
                        serde_json::json!({ "repositories": [
                            { "repositoryName": "lab/auth", "repositoryArn": repo_arn }
                        ]})
                    })
                    .build(),
                json("DescribeRepositories")
                    .then_error(|| meta("RepositoryNotFoundException", "The repository does not exist")),
                json("DeleteRepository").then_compute_output(move |r| {
                    l1.push(&format!(
                        "delete repository {} force={}",
                        r.input["repositoryName"].as_str().unwrap_or_default(),
                        r.input["force"]
                    ));
                    serde_json::json!({})
                }),
            ],
            ssm: vec![
                json("GetParameter")
                    .sequence()
                    .output(move || {
                        // Answers carry the value; cleanup never keeps it.
                        serde_json::json!({ "Parameter": {
                            "Name": "/lab/db-name", "ARN": param_arn, "Value": "products"
                        }})
                    })
                    .build(),
                json("GetParameter")
                    .then_error(|| meta("ParameterNotFound", "Parameter /lab/db-name not found.")),
                json("DeleteParameter").then_compute_output(move |r| {
                    l2.push(&format!("delete parameter {}", r.input["Name"].as_str().unwrap_or_default()));
                    serde_json::json!({})
                }),
            ],
            ..Mocks::default()
        };
        let run = run(
            &mocks,
            vec![
                (
                    ResourceSpec::EcrRepository { name: "lab/auth".into() },
                    BTreeMap::from([("arn".to_string(), repo_arn.to_string())]),
                ),
                (
                    ResourceSpec::SsmParameter { name: "/lab/db-name".into() },
                    BTreeMap::from([("arn".to_string(), param_arn.to_string())]),
                ),
            ],
        )
        .await;
        // The repository (rank 13) goes before the parameter (rank 14).
        assert_eq!(calls.get(), ["delete repository lab/auth force=true", "delete parameter /lab/db-name"]);
        assert_eq!(
            run.report.deleted,
            [
                format!("ecr_repository lab/auth ({repo_arn})"),
                format!("ssm_parameter /lab/db-name ({param_arn})")
            ]
        );
        assert!(run.ledger.entries.is_empty());
    }
}

mod lookup_and_scan {
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::types::MetricAlarm;
    use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput;
    use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersOutput;
    use aws_sdk_elasticloadbalancingv2::operation::describe_rules::DescribeRulesOutput;
    use aws_sdk_elasticloadbalancingv2::types::{Listener, LoadBalancer, Rule as ElbRule};

    use super::*;

    fn alarms(names: &[&str]) -> DescribeAlarmsOutput {
        let mut out = DescribeAlarmsOutput::builder();
        for name in names {
            out = out.metric_alarms(
                MetricAlarm::builder().alarm_name(*name).alarm_arn(format!("arn:alarm:{name}")).build(),
            );
        }
        out.build()
    }

    #[tokio::test]
    async fn a_listener_rule_is_found_through_its_load_balancer_and_listener() {
        use aws_sdk_elasticloadbalancingv2::Client;
        let mocks = Mocks {
            elbv2: vec![
                mock!(Client::describe_load_balancers).match_requests(|r| r.names() == ["lb"]).then_output(
                    || {
                        DescribeLoadBalancersOutput::builder()
                            .load_balancers(LoadBalancer::builder().load_balancer_arn("arn:lb").build())
                            .build()
                    },
                ),
                mock!(Client::describe_listeners)
                    .match_requests(|r| r.load_balancer_arn() == Some("arn:lb"))
                    .then_output(|| {
                        DescribeListenersOutput::builder()
                            .listeners(Listener::builder().port(443).listener_arn("arn:l443").build())
                            .listeners(Listener::builder().port(80).listener_arn("arn:l80").build())
                            .build()
                    }),
                mock!(Client::describe_rules)
                    .match_requests(|r| r.listener_arn() == Some("arn:l80"))
                    .then_output(|| {
                        DescribeRulesOutput::builder()
                            .rules(
                                ElbRule::builder()
                                    .priority("default")
                                    .rule_arn("arn:default")
                                    .is_default(true)
                                    .build(),
                            )
                            .rules(ElbRule::builder().priority("10").rule_arn("arn:r10").build())
                            .build()
                    }),
            ],
            ..Mocks::default()
        };
        let clients = mocks.clients();
        let spec = ResourceSpec::ListenerRule { load_balancer: "lb".into(), port: 80, priority: 10 };
        let ids = lookup(&clients, &spec).await.unwrap().unwrap();
        let want: BTreeMap<String, String> =
            [("arn", "arn:r10"), ("listener_arn", "arn:l80"), ("load_balancer_arn", "arn:lb")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(ids, want);
        let missing = ResourceSpec::ListenerRule { load_balancer: "lb".into(), port: 80, priority: 20 };
        assert_eq!(lookup(&clients, &missing).await.unwrap(), None);
    }

    #[tokio::test]
    async fn scan_reports_declared_resources_that_exist_but_are_not_recorded() {
        use aws_sdk_cloudwatch::Client;
        let mocks = Mocks {
            cloudwatch: vec![
                mock!(Client::describe_alarms)
                    .match_requests(|r| r.alarm_names() == ["cpu-high"])
                    .then_output(|| alarms(&["cpu-high"])),
                mock!(Client::describe_alarms).then_output(|| alarms(&[])),
            ],
            ..Mocks::default()
        };
        let clients = mocks.clients();
        let recorded = ResourceSpec::Alarm { name: "recorded".into() };
        let ledger = ledger_of(vec![(recorded.clone(), no_ids())]);
        let declared = vec![
            ("s1".to_string(), recorded),
            ("s2".to_string(), ResourceSpec::Alarm { name: "never-created".into() }),
            ("s3".to_string(), ResourceSpec::Alarm { name: "cpu-high".into() }),
            ("s4".to_string(), ResourceSpec::Alarm { name: "cpu-high".into() }),
        ];
        let found = scan(&clients, &declared, &ledger).await;
        let arn = BTreeMap::from([("arn".to_string(), "arn:alarm:cpu-high".to_string())]);
        assert_eq!(
            found,
            [("s3".to_string(), ResourceSpec::Alarm { name: "cpu-high".into() }, Scanned::One(arn))]
        );
    }

    #[tokio::test]
    async fn a_resource_found_again_by_the_verification_pass_goes_back_into_the_ledger() {
        use aws_sdk_cloudwatch::operation::delete_alarms::DeleteAlarmsOutput;
        use aws_sdk_cloudwatch::Client;
        let mocks = Mocks {
            cloudwatch: vec![
                // There, gone after the delete, there again when verified.
                mock!(Client::describe_alarms)
                    .sequence()
                    .output(|| alarms(&["cpu-high"]))
                    .output(|| alarms(&[]))
                    .output(|| alarms(&["cpu-high"]))
                    .build(),
                mock!(Client::delete_alarms).then_output(|| DeleteAlarmsOutput::builder().build()),
            ],
            ..Mocks::default()
        };
        let run = run(&mocks, vec![(ResourceSpec::Alarm { name: "cpu-high".into() }, no_ids())]).await;
        assert_eq!(run.saves, [vec![], vec!["alarm cpu-high".to_string()]]);
        assert_eq!(run.ledger.entries.len(), 1);
        assert_eq!(run.ledger.entries[0].ids.get("arn").map(String::as_str), Some("arn:alarm:cpu-high"));
        assert!(run.report.deleted.is_empty());
        assert_eq!(
            run.report.remaining[0].error,
            "still exists: the verification pass found it again after cleanup"
        );
    }
}

mod cancel {
    use aws_sdk_ecs::operation::delete_service::DeleteServiceOutput;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
    use aws_sdk_ecs::types::Service;
    use aws_sdk_ecs::Client;

    use super::*;

    #[tokio::test]
    #[allow(clippy::result_large_err)] // the crate's `Error`, as `execute` takes it
    async fn cancelling_during_a_wait_stops_there_and_keeps_the_ledger() {
        let draining = || {
            DescribeServicesOutput::builder().services(Service::builder().status("DRAINING").build()).build()
        };
        let mocks = Mocks {
            ecs: vec![
                mock!(Client::describe_services).then_output(draining),
                mock!(Client::update_service).then_output(|| UpdateServiceOutput::builder().build()),
                mock!(Client::delete_service).then_output(|| DeleteServiceOutput::builder().build()),
            ],
            ..Mocks::default()
        };
        let clients = mocks.clients();
        let mut ledger = ledger_of(vec![
            (ResourceSpec::EcsService { cluster: "c".into(), service: "web".into() }, no_ids()),
            // A later wave that must not start.
            (ResourceSpec::EcsCluster { cluster: "c".into() }, no_ids()),
        ]);
        let before = ledger.clone();
        let plan = plan(&ledger.entries);
        let cancel = CancellationToken::new();
        let events = Mutex::new(Vec::new());
        let emit = |e: CleanupEvent| {
            if matches!(e, CleanupEvent::Waiting { .. }) {
                cancel.cancel();
            }
            events.lock().unwrap().push(e);
        };
        let mut saves = 0;
        let mut save = |_: &Ledger| {
            saves += 1;
            Ok(())
        };
        let report =
            execute(&clients, &plan, &mut ledger, &mut save, &emit, FakeClock::new().as_ref(), &cancel).await;
        assert_eq!(saves, 0);
        assert_eq!(ledger, before);
        let events = events.into_inner().unwrap();
        assert_eq!(
            events.last(),
            Some(&CleanupEvent::Failed {
                resource: "ecs_service c/web".into(),
                error: "cleanup was interrupted".into()
            })
        );
        assert_eq!(events.iter().filter(|e| matches!(e, CleanupEvent::WaveStarted { .. })).count(), 1);
        let remaining: Vec<(&str, &str)> =
            report.remaining.iter().map(|r| (r.resource.as_str(), r.error.as_str())).collect();
        assert_eq!(
            remaining,
            [
                ("ecs_service c/web", "cleanup was interrupted"),
                ("ecs_cluster c", "not attempted: cleanup was interrupted")
            ]
        );
    }
}

mod route53 {
    use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
    use aws_sdk_route53::operation::delete_hosted_zone::DeleteHostedZoneOutput;
    use aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameOutput;
    use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
    use aws_sdk_route53::types::{
        AliasTarget, ChangeAction, ChangeInfo, ChangeStatus, HostedZone, ResourceRecordSet, RrType,
    };
    use aws_sdk_route53::Client;

    use super::*;

    fn zone() -> HostedZone {
        HostedZone::builder()
            .id("/hostedzone/Z1")
            .name("services.example.com.")
            .caller_reference("r")
            .build()
            .unwrap()
    }

    fn alias_record() -> ResourceRecordSet {
        ResourceRecordSet::builder()
            .name("api.services.example.com.")
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .hosted_zone_id("ZLB")
                    .dns_name("lb-1.elb.amazonaws.com.")
                    .evaluate_target_health(false)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn change_info() -> ChangeInfo {
        ChangeInfo::builder()
            .id("c1")
            .status(ChangeStatus::Insync)
            .submitted_at(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap()
    }

    /// The record goes first, deleted with its exact alias target, then its zone by id.
    #[tokio::test]
    async fn a_record_is_deleted_as_it_stands_then_its_zone() {
        let calls = Arc::new(Mutex::new(Vec::<String>::new()));
        let (c1, c2) = (calls.clone(), calls.clone());
        let zone_gone = Arc::new(Mutex::new(false));
        let (g1, g2) = (zone_gone.clone(), zone_gone.clone());
        let record_gone = Arc::new(Mutex::new(false));
        let (r1, r2) = (record_gone.clone(), record_gone.clone());
        let mocks = Mocks {
            route53: vec![
                mock!(Client::list_hosted_zones_by_name)
                    .then_output(|| ListHostedZonesByNameOutput::builder().hosted_zones(zone()).is_truncated(false).max_items(100).build().unwrap()),
                mock!(Client::list_resource_record_sets).then_output(move || {
                    let sets = if *r1.lock().unwrap() { vec![] } else { vec![alias_record()] };
                    ListResourceRecordSetsOutput::builder()
                        .set_resource_record_sets(Some(sets))
                        .is_truncated(false)
                        .max_items(10)
                        .build()
                        .unwrap()
                }),
                mock!(Client::change_resource_record_sets)
                    .match_requests(|r| {
                        let change = &r.change_batch().unwrap().changes()[0];
                        r.hosted_zone_id() == Some("Z1")
                            && change.action() == &ChangeAction::Delete
                            && change.resource_record_set().unwrap().alias_target().is_some()
                    })
                    .then_output(move || {
                        c1.lock().unwrap().push("delete record".into());
                        *r2.lock().unwrap() = true;
                        ChangeResourceRecordSetsOutput::builder().change_info(change_info()).build()
                    }),
                mock!(Client::get_hosted_zone).match_requests(|r| r.id() == Some("Z1")).then_http_response(move || {
                    if *g1.lock().unwrap() {
                        aws_smithy_runtime_api::http::Response::new(
                            aws_smithy_runtime_api::http::StatusCode::try_from(404).unwrap(),
                            aws_smithy_types::body::SdkBody::from(
                                "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>gone</Message></Error></ErrorResponse>",
                            ),
                        )
                    } else {
                        aws_smithy_runtime_api::http::Response::new(
                            aws_smithy_runtime_api::http::StatusCode::try_from(200).unwrap(),
                            aws_smithy_types::body::SdkBody::from(
                                "<GetHostedZoneResponse><HostedZone><Id>/hostedzone/Z1</Id><Name>services.example.com.</Name><CallerReference>r</CallerReference></HostedZone><DelegationSet><NameServers><NameServer>ns1</NameServer></NameServers></DelegationSet></GetHostedZoneResponse>",
                            ),
                        )
                    }
                }),
                mock!(Client::delete_hosted_zone).match_requests(|r| r.id() == Some("Z1")).then_output(move || {
                    c2.lock().unwrap().push("delete zone".into());
                    *g2.lock().unwrap() = true;
                    DeleteHostedZoneOutput::builder().change_info(change_info()).build()
                }),
            ],
            ..Mocks::default()
        };
        let zone_spec = ResourceSpec::HostedZone { name: "services.example.com".into() };
        let record_spec = ResourceSpec::DnsRecord {
            zone: "services.example.com".into(),
            name: "api.services.example.com".into(),
            record_type: "A".into(),
        };
        let zone_ids = BTreeMap::from([("id".to_string(), "Z1".to_string())]);
        let record_ids = BTreeMap::from([
            ("id".to_string(), "Z1/api.services.example.com/A".to_string()),
            ("zone_id".to_string(), "Z1".to_string()),
        ]);
        let run = run(&mocks, vec![(zone_spec, zone_ids), (record_spec, record_ids)]).await;
        assert_eq!(*calls.lock().unwrap(), ["delete record", "delete zone"]);
        assert!(run.ledger.entries.is_empty(), "{:?}", run.report);
    }
}
