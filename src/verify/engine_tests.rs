//! The engine end to end over mocked SDK clients and a fake clock: waiting, failing fast,
//! backing off, errors, the call budget, diagnostics, cancellation and concurrency.

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use aws_sdk_ecs::types::{
    Container, Deployment, DeploymentRolloutState, Service, ServiceEvent, Task, TaskStopCode,
};
use aws_sdk_ecs::Client as Ecs;
use aws_sdk_elasticloadbalancingv2::types::{
    TargetDescription, TargetGroup, TargetHealth, TargetHealthDescription, TargetHealthReasonEnum,
    TargetHealthStateEnum,
};
use aws_sdk_elasticloadbalancingv2::Client as Elb;
use aws_smithy_mocks::mock;
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::DateTime;
use tokio_util::sync::CancellationToken;

use super::testing::{FakeClock, Mocks};
use super::{Check, Progress, Status, VerifySettings};
use crate::lab::check::{CheckSpec, Http, RoleAllows, ServiceStable, TargetsHealthy};

fn stable_check() -> Check {
    Check::new(CheckSpec::ServiceStable(ServiceStable {
        cluster: "lab".into(),
        service: "invsys-service".into(),
        task_definition: Some("inv:2".into()),
    }))
}

fn service(running: i32, rollout: DeploymentRolloutState, reason: Option<&str>) -> DescribeServicesOutput {
    let deployment = Deployment::builder()
        .id("ecs-svc/123")
        .status("PRIMARY")
        .task_definition("arn:aws:ecs:us-east-1:123456789012:task-definition/inv:2")
        .desired_count(2)
        .running_count(running)
        .pending_count(2 - running)
        .rollout_state(rollout)
        .set_rollout_state_reason(reason.map(String::from))
        .created_at(DateTime::from_secs(1_000))
        .build();
    let svc = Service::builder()
        .service_name("invsys-service")
        .status("ACTIVE")
        .desired_count(2)
        .running_count(running)
        .pending_count(2 - running)
        .deployments(deployment)
        .events(
            ServiceEvent::builder()
                .created_at(DateTime::from_secs(1_100))
                .message("(service invsys-service) has started 2 tasks")
                .build(),
        )
        .build();
    DescribeServicesOutput::builder().services(svc).build()
}

fn pending() -> DescribeServicesOutput {
    service(0, DeploymentRolloutState::InProgress, None)
}

fn stable() -> DescribeServicesOutput {
    service(2, DeploymentRolloutState::Completed, Some("ECS deployment ecs-svc/123 completed."))
}

fn ecs_error(code: &'static str, message: &'static str) -> DescribeServicesError {
    DescribeServicesError::generic(ErrorMetadata::builder().code(code).message(message).build())
}

fn no_progress() -> impl Fn(&Progress) + Send + Sync {
    |_: &Progress| {}
}

#[tokio::test]
async fn waits_from_pending_to_stable() {
    let rule = mock!(Ecs::describe_services).sequence().output(pending).times(2).output(stable).build();
    let mocks = Mocks { ecs: vec![rule.clone()], ..Mocks::lenient() };
    let clock = FakeClock::new();
    let v = mocks.verifier(clock.clone(), VerifySettings::default());
    let seen = Mutex::new(vec![]);
    let progress = |p: &Progress| seen.lock().unwrap().push((p.attempt, p.status_line.clone()));
    let out = v.wait(&stable_check(), &CancellationToken::new(), &progress).await;
    assert_eq!(out.status, Status::Pass, "{out:?}");
    assert_eq!(
        out.evidence,
        "invsys-service: 2/2 running, 0 pending, deployment ecs-svc/123 COMPLETED (inv:2)"
    );
    assert!(out.diagnostics.is_empty());
    assert_eq!(out.attempts, 3);
    assert_eq!(rule.num_calls(), 3);
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(250), Duration::from_millis(375)]);
    assert_eq!(out.elapsed, Duration::from_millis(625));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen[0].1.contains("0/2 running, 2 pending"), "{:?}", seen[0]);
}

#[tokio::test]
async fn circuit_breaker_failure_ends_the_wait_at_once_with_diagnostics() {
    let failed = || {
        service(
            0,
            DeploymentRolloutState::Failed,
            Some("ECS deployment circuit breaker: tasks failed to start."),
        )
    };
    let describe =
        mock!(Ecs::describe_services).sequence().output(pending).output(failed).repeatedly().build();
    let list = mock!(Ecs::list_tasks).then_output(|| {
        aws_sdk_ecs::operation::list_tasks::ListTasksOutput::builder()
            .task_arns("arn:aws:ecs:us-east-1:1:task/lab/abc123")
            .build()
    });
    let tasks = mock!(Ecs::describe_tasks).then_output(|| {
        let task = Task::builder()
            .task_arn("arn:aws:ecs:us-east-1:1:task/lab/abc123")
            .group("service:invsys-service")
            .stop_code(TaskStopCode::TaskFailedToStart)
            .stopped_reason("CannotPullContainerError: pull image manifest has been retried 5 time(s)")
            .stopped_at(DateTime::from_secs(1_050))
            .containers(
                Container::builder().name("web").exit_code(1).reason("CannotPullContainerError").build(),
            )
            .build();
        aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput::builder().tasks(task).build()
    });
    let mocks = Mocks { ecs: vec![describe.clone(), list, tasks], ..Mocks::lenient() };
    let v = mocks.verifier(FakeClock::new(), VerifySettings::default());
    let out = v.wait(&stable_check(), &CancellationToken::new(), &no_progress()).await;
    assert_eq!(out.status, Status::Fail);
    assert_eq!(out.attempts, 2, "a FAILED rollout is definitive: no more looks");
    assert!(out.evidence.contains("rollout FAILED: ECS deployment circuit breaker"), "{}", out.evidence);
    let d = out.diagnostics.join("\n");
    assert!(d.contains("stopped task abc123 (TaskFailedToStart): CannotPullContainerError"), "{d}");
    assert!(d.contains("container web: exit 1, CannotPullContainerError"), "{d}");
    assert!(d.contains("event: (service invsys-service) has started 2 tasks"), "{d}");
    assert!(d.contains("PRIMARY deployment ecs-svc/123 FAILED"), "{d}");
    // Two looks plus one for the diagnostics.
    assert_eq!(describe.num_calls(), 3);
}

#[tokio::test]
async fn throttling_backs_off_then_passes() {
    let rule = mock!(Ecs::describe_services)
        .sequence()
        .error(|| ecs_error("ThrottlingException", "Rate exceeded"))
        .times(3)
        .output(stable)
        .build();
    let mocks = Mocks { ecs: vec![rule.clone()], ..Mocks::lenient() };
    let clock = FakeClock::new();
    let v = mocks.verifier(clock.clone(), VerifySettings::default());
    let lines = Mutex::new(vec![]);
    let progress = |p: &Progress| lines.lock().unwrap().push(p.status_line.clone());
    let out = v.wait(&stable_check(), &CancellationToken::new(), &progress).await;
    assert_eq!(out.status, Status::Pass, "{out:?}");
    assert_eq!(out.attempts, 4);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 3);
    // 1 s, 2 s, 4 s, each with jitter between half and all of it.
    for (s, full) in sleeps.iter().zip([1.0, 2.0, 4.0]) {
        assert!(s.as_secs_f64() >= full / 2.0 && s.as_secs_f64() <= full, "{sleeps:?}");
    }
    assert!(lines.lock().unwrap()[0].contains("ThrottlingException: Rate exceeded (retrying)"));
}

#[tokio::test]
async fn expired_credentials_are_an_error_without_retrying() {
    let rule = mock!(Ecs::describe_services).then_error(|| {
        ecs_error("ExpiredTokenException", "The security token included in the request is expired")
    });
    let mocks = Mocks { ecs: vec![rule.clone()], ..Mocks::lenient() };
    let clock = FakeClock::new();
    let v = mocks.verifier(clock.clone(), VerifySettings::default());
    let out = v.wait(&stable_check(), &CancellationToken::new(), &no_progress()).await;
    assert_eq!(out.status, Status::Error);
    assert_eq!(out.attempts, 1);
    assert_eq!(rule.num_calls(), 1);
    assert!(clock.sleeps().is_empty());
    assert!(out
        .evidence
        .contains("ExpiredTokenException: The security token included in the request is expired"));
    assert!(
        out.diagnostics[0].contains("credentials are missing, invalid or expired"),
        "{:?}",
        out.diagnostics
    );
}

#[tokio::test]
async fn access_denied_is_an_error_at_once() {
    let rule =
        mock!(Ecs::describe_services).then_error(|| ecs_error("AccessDeniedException", "not authorized"));
    let mocks = Mocks { ecs: vec![rule], ..Mocks::lenient() };
    let out = mocks
        .verifier(FakeClock::new(), VerifySettings::default())
        .wait(&stable_check(), &CancellationToken::new(), &no_progress())
        .await;
    assert_eq!((out.status, out.attempts), (Status::Error, 1));
}

#[tokio::test]
async fn a_long_wait_stays_within_the_call_budget() {
    let rule = mock!(Ecs::describe_services).sequence().output(pending).repeatedly().build();
    let mocks = Mocks { ecs: vec![rule.clone()], ..Mocks::lenient() };
    let clock = FakeClock::new();
    let settings = VerifySettings { timeout_override: Some(Duration::from_secs(180)), ..Default::default() };
    let mut check = stable_check();
    check.timeout = Some(Duration::from_secs(5)); // the override wins
    let out =
        mocks.verifier(clock.clone(), settings).wait(&check, &CancellationToken::new(), &no_progress()).await;
    assert_eq!(out.status, Status::Fail);
    assert!(out.diagnostics[0].starts_with("gave up after 2m"), "{:?}", out.diagnostics);
    assert!(
        out.elapsed <= Duration::from_secs(180) && out.elapsed >= Duration::from_secs(175),
        "{:?}",
        out.elapsed
    );
    let looks = out.attempts as usize;
    // Three minutes at ≤ 40 calls a minute (one call per look); about 30 a minute once settled.
    assert!((85..=120).contains(&looks), "{looks} looks");
    assert!(clock.sleeps().iter().all(|s| *s <= Duration::from_secs(2)));
    // The looks plus one DescribeServices for the diagnostics.
    assert_eq!(rule.num_calls(), looks + 1);
}

#[tokio::test]
async fn cancelling_ends_the_wait_promptly() {
    let rule = mock!(Ecs::describe_services).sequence().output(pending).repeatedly().build();
    let mocks = Mocks { ecs: vec![rule.clone()], ..Mocks::lenient() };
    let v = mocks.verifier(FakeClock::new(), VerifySettings::default());
    let cancel = CancellationToken::new();
    let progress = |p: &Progress| {
        if p.attempt == 2 {
            cancel.cancel();
        }
    };
    let out = v.wait(&stable_check(), &cancel, &progress).await;
    assert_eq!(out.status, Status::Fail);
    assert_eq!(out.attempts, 2);
    assert!(out.evidence.starts_with("cancelled after"), "{}", out.evidence);
    assert!(out.evidence.contains("last seen: invsys-service: 0/2 running"), "{}", out.evidence);
    assert_eq!(rule.num_calls(), 2, "no diagnostics after a cancel");
}

#[tokio::test]
async fn check_once_on_a_missing_service_fails_with_diagnostics() {
    let rule = mock!(Ecs::describe_services).then_output(|| {
        DescribeServicesOutput::builder()
            .failures(aws_sdk_ecs::types::Failure::builder().arn("arn:x").reason("MISSING").build())
            .build()
    });
    let mocks = Mocks { ecs: vec![rule.clone()], ..Mocks::lenient() };
    let out = mocks.verifier(FakeClock::new(), VerifySettings::default()).check_once(&stable_check()).await;
    assert_eq!(out.status, Status::Fail);
    assert_eq!(out.attempts, 1);
    assert_eq!(out.evidence, "service invsys-service not found in cluster lab (MISSING)");
    assert_eq!(out.diagnostics, vec!["service invsys-service not found in cluster lab (MISSING)"]);
}

fn target(
    ip: &str,
    state: TargetHealthStateEnum,
    reason: Option<TargetHealthReasonEnum>,
    desc: Option<&str>,
) -> TargetHealthDescription {
    TargetHealthDescription::builder()
        .target(TargetDescription::builder().id(ip).port(5001).build())
        .target_health(
            TargetHealth::builder()
                .state(state)
                .set_reason(reason)
                .set_description(desc.map(String::from))
                .build(),
        )
        .build()
}

#[tokio::test]
async fn targets_go_from_unhealthy_to_healthy() {
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
    let groups = mock!(Elb::describe_target_groups)
        .match_requests(|r| r.names() == ["invsys-tg".to_string()])
        .sequence()
        .output(|| {
            DescribeTargetGroupsOutput::builder()
                .target_groups(
                    TargetGroup::builder()
                        .target_group_arn(
                            "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/invsys-tg/abc",
                        )
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build();
    let unhealthy = || {
        DescribeTargetHealthOutput::builder()
            .target_health_descriptions(target("10.0.1.23", TargetHealthStateEnum::Healthy, None, None))
            .target_health_descriptions(target(
                "10.0.1.24",
                TargetHealthStateEnum::Unhealthy,
                Some(TargetHealthReasonEnum::ResponseCodeMismatch),
                Some("Health checks failed with these codes: [502]"),
            ))
            .build()
    };
    let healthy = || {
        DescribeTargetHealthOutput::builder()
            .target_health_descriptions(target("10.0.1.23", TargetHealthStateEnum::Healthy, None, None))
            .target_health_descriptions(target("10.0.1.24", TargetHealthStateEnum::Healthy, None, None))
            .target_health_descriptions(target("10.0.9.9", TargetHealthStateEnum::Draining, None, None))
            .build()
    };
    let health =
        mock!(Elb::describe_target_health).sequence().output(unhealthy).times(2).output(healthy).build();
    let mocks = Mocks { elbv2: vec![groups.clone(), health.clone()], ..Mocks::lenient() };
    let check = Check::new(CheckSpec::TargetsHealthy(TargetsHealthy {
        target_group: "invsys-tg".into(),
        min_healthy: Some(2),
        all_healthy: None,
        cluster: None,
        service: None,
    }));
    let v = mocks.verifier(FakeClock::new(), VerifySettings::default());
    let once = v.check_once(&check).await;
    assert_eq!(once.status, Status::Fail);
    assert!(
        once.diagnostics.contains(
            &"10.0.1.24:5001 unhealthy Target.ResponseCodeMismatch: Health checks failed with these codes: [502]".to_string()
        ),
        "{:?}",
        once.diagnostics
    );
    let out = v.wait(&check, &CancellationToken::new(), &no_progress()).await;
    assert_eq!(out.status, Status::Pass, "{out:?}");
    assert_eq!(out.evidence, "invsys-tg: 2/2 healthy (10.0.1.23:5001, 10.0.1.24:5001), 1 draining");
    assert_eq!(out.attempts, 1);
    // check_once: 2 calls + 2 for diagnostics; wait: 2 calls.
    assert_eq!((groups.num_calls(), health.num_calls()), (3, 3));
}

#[tokio::test]
async fn role_allows_falls_back_to_reading_policies_when_the_simulator_fails() {
    use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
    use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
    use aws_sdk_iam::operation::get_role::GetRoleOutput;
    use aws_sdk_iam::operation::get_role_policy::GetRolePolicyOutput;
    use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
    use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
    use aws_sdk_iam::types::{AttachedPolicy, Policy, PolicyVersion, Role};
    use aws_sdk_iam::Client as Iam;
    let role = mock!(Iam::get_role).then_output(|| {
        let role = Role::builder()
            .role_name("invsys-task")
            .path("/")
            .role_id("AROA1")
            .arn("arn:aws:iam::123456789012:role/invsys-task")
            .create_date(DateTime::from_secs(0))
            .build()
            .unwrap();
        GetRoleOutput::builder().role(role).build()
    });
    let simulate =
        mock!(Iam::simulate_principal_policy).sequence().http_status(500, None).repeatedly().build();
    let attached = mock!(Iam::list_attached_role_policies).then_output(|| {
        ListAttachedRolePoliciesOutput::builder()
            .attached_policies(
                AttachedPolicy::builder()
                    .policy_name("ddb-read")
                    .policy_arn("arn:aws:iam::1:policy/ddb-read")
                    .build(),
            )
            .build()
    });
    let policy = mock!(Iam::get_policy).then_output(|| {
        GetPolicyOutput::builder().policy(Policy::builder().default_version_id("v2").build()).build()
    });
    let version = mock!(Iam::get_policy_version).then_output(|| {
        let doc = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22dynamodb%3AGet%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        GetPolicyVersionOutput::builder().policy_version(PolicyVersion::builder().document(doc).build()).build()
    });
    let inline = mock!(Iam::list_role_policies)
        .then_output(|| ListRolePoliciesOutput::builder().policy_names("no-deletes").build().unwrap());
    let inline_doc = mock!(Iam::get_role_policy).then_output(|| {
        GetRolePolicyOutput::builder()
            .role_name("invsys-task")
            .policy_name("no-deletes")
            .policy_document(r#"{"Statement":{"Effect":"Deny","Action":"dynamodb:Delete*","Resource":"*"}}"#)
            .build()
            .unwrap()
    });
    let mocks = Mocks {
        iam: vec![role, simulate.clone(), attached, policy, version, inline, inline_doc],
        ..Default::default()
    };
    let v = mocks.verifier(FakeClock::new(), VerifySettings::default());
    let allows = |action: &str| {
        Check::new(CheckSpec::RoleAllows(RoleAllows {
            role: "invsys-task".into(),
            action: action.into(),
            resource: None,
        }))
    };
    let get = v.check_once(&allows("dynamodb:GetItem")).await;
    assert_eq!(get.status, Status::Pass, "{get:?}");
    assert!(get.evidence.contains("allowed by ddb-read (evaluated 2 polic(ies) locally"), "{}", get.evidence);
    let delete = v.check_once(&allows("dynamodb:DeleteItem")).await;
    assert_eq!(delete.status, Status::Fail);
    assert!(delete.evidence.contains("explicitly denied by no-deletes"), "{}", delete.evidence);
    assert_eq!(simulate.num_calls(), 2);
}

#[tokio::test]
async fn wait_all_runs_checks_concurrently_and_reports_by_index() {
    let ecs = mock!(Ecs::describe_services).sequence().output(stable).repeatedly().build();
    let sts = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
        aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
            .account("123456789012")
            .arn("arn:aws:iam::123456789012:user/student")
            .build()
    });
    let mocks = Mocks { ecs: vec![ecs], sts: vec![sts], ..Mocks::lenient() };
    let v = mocks.verifier(FakeClock::new(), VerifySettings::default());
    let identity = Check::new(CheckSpec::CallerIdentity(crate::lab::check::CallerIdentity {
        account: Some("999999999999".into()),
        region: None,
    }));
    let seen = Mutex::new(vec![]);
    let progress = |i: usize, p: &Progress| seen.lock().unwrap().push((i, p.attempt));
    let outs = v.wait_all(&[stable_check(), identity], &CancellationToken::new(), &progress).await;
    assert_eq!(outs.len(), 2);
    assert_eq!(outs[0].status, Status::Pass);
    assert_eq!(outs[1].status, Status::Fail, "another account does not come right by waiting");
    assert_eq!(outs[1].attempts, 1);
    assert!(outs[1].evidence.contains("expected account 999999999999"));
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, vec![(0, 1), (1, 1)]);
}

/// Serves one canned HTTP response to every connection on loopback.
async fn tiny_http_server(status: &'static str, body: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn http_check(url: String, json_path: Option<&str>, equals: Option<&str>) -> Check {
    Check::new(CheckSpec::Http(Http {
        url,
        method: None,
        headers: Default::default(),
        body: None,
        status: None,
        body_contains: None,
        json_path: json_path.map(String::from),
        equals: equals.map(String::from),
    }))
}

#[tokio::test]
async fn http_checks_against_a_loopback_server() {
    let mut v = Mocks::lenient().verifier(FakeClock::new(), VerifySettings::default());
    v.http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap();
    let ok = tiny_http_server("200 OK", r#"{"status":"ok","items":[{"sku":"A1"}]}"#).await;
    let out = v.check_once(&http_check(format!("{ok}/health"), Some("$.items[0].sku"), Some("A1"))).await;
    assert_eq!(out.status, Status::Pass, "{out:?}");
    assert!(out.evidence.ends_with("→ 200, $.items[0].sku = \"A1\""), "{}", out.evidence);
    let bad = tiny_http_server("502 Bad Gateway", "upstream down").await;
    let out = v.check_once(&http_check(bad, None, None)).await;
    assert_eq!(out.status, Status::Fail);
    assert_eq!(out.diagnostics, vec!["HTTP 502; body: upstream down"]);
}

fn pull_failure(id: &str) -> Task {
    Task::builder()
        .task_arn(format!("arn:aws:ecs:us-east-1:1:task/lab/{id}"))
        .group("service:invsys-service")
        .started_by("ecs-svc/123")
        .stop_code(TaskStopCode::TaskFailedToStart)
        .stopped_reason("Task failed to start")
        .containers(
            Container::builder()
                .name("web")
                .reason(format!(
                    "CannotPullContainerError: pull image manifest has been retried 5 time(s): {id}"
                ))
                .build(),
        )
        .build()
}

/// Tasks that keep failing to pull their image fail the step's wait at once, with the reason,
/// and the sibling check of the same step is not waited for.
#[tokio::test]
async fn repeated_pull_failures_end_the_step_at_once_and_stop_its_siblings() {
    let failing = || {
        let deployment = Deployment::builder()
            .id("ecs-svc/123")
            .status("PRIMARY")
            .task_definition("arn:aws:ecs:us-east-1:123456789012:task-definition/inv:2")
            .desired_count(2)
            .running_count(0)
            .pending_count(2)
            .failed_tasks(4)
            .rollout_state(DeploymentRolloutState::InProgress)
            .created_at(DateTime::from_secs(1_000))
            .build();
        let svc = Service::builder()
            .service_name("invsys-service")
            .status("ACTIVE")
            .desired_count(2)
            .running_count(0)
            .pending_count(2)
            .deployments(deployment)
            .build();
        DescribeServicesOutput::builder().services(svc).build()
    };
    let describe = mock!(Ecs::describe_services).sequence().output(failing).repeatedly().build();
    let list = mock!(Ecs::list_tasks).then_output(|| {
        aws_sdk_ecs::operation::list_tasks::ListTasksOutput::builder()
            .task_arns("arn:aws:ecs:us-east-1:1:task/lab/a")
            .task_arns("arn:aws:ecs:us-east-1:1:task/lab/b")
            .task_arns("arn:aws:ecs:us-east-1:1:task/lab/c")
            .build()
    });
    let tasks = mock!(Ecs::describe_tasks).then_output(|| {
        aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput::builder()
            .tasks(pull_failure("a"))
            .tasks(pull_failure("b"))
            .tasks(pull_failure("c"))
            .build()
    });
    let mocks = Mocks { ecs: vec![describe, list, tasks], ..Mocks::lenient() };
    let v = mocks.verifier(FakeClock::new(), VerifySettings::default());
    let running = Check::new(CheckSpec::ServiceDesiredCount(crate::lab::check::ServiceDesiredCount {
        cluster: "lab".into(),
        service: "invsys-service".into(),
        count: 2,
    }));
    let outs = v.wait_all(&[stable_check(), running], &CancellationToken::new(), &|_, _| {}).await;
    assert_eq!(outs[0].status, Status::Fail);
    assert_eq!(outs[0].attempts, 1, "the first look already shows it: {:?}", outs[0]);
    assert!(
        outs[0]
            .evidence
            .contains("3 tasks of this deployment stopped with the same reason: CannotPullContainerError"),
        "{}",
        outs[0].evidence
    );
    assert_eq!(outs[1].status, Status::Fail);
    assert!(
        outs[1].evidence.starts_with("not waited for: `service invsys-service is stable"),
        "{}",
        outs[1].evidence
    );
    assert!(outs[1].diagnostics.is_empty(), "the diagnosis is told once: {:?}", outs[1].diagnostics);
    assert!(outs[0].elapsed < Duration::from_secs(60), "told at once, not at the deadline");
}

/// Targets that all stay unhealthy longer than the health check needs to recover fail the
/// wait with their reason code, long before the deadline.
#[tokio::test]
async fn targets_that_stay_unhealthy_fail_once_they_could_have_recovered() {
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
    let groups = mock!(Elb::describe_target_groups)
        .sequence()
        .output(|| {
            DescribeTargetGroupsOutput::builder()
                .target_groups(
                    TargetGroup::builder()
                        .target_group_arn(
                            "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/invsys-tg/abc",
                        )
                        .health_check_interval_seconds(10)
                        .healthy_threshold_count(2)
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build();
    let sick = || {
        DescribeTargetHealthOutput::builder()
            .target_health_descriptions(target(
                "10.0.1.24",
                TargetHealthStateEnum::Unhealthy,
                Some(TargetHealthReasonEnum::ResponseCodeMismatch),
                Some("Health checks failed with these codes: [502]"),
            ))
            .build()
    };
    let health = mock!(Elb::describe_target_health).sequence().output(sick).repeatedly().build();
    let mocks = Mocks { elbv2: vec![groups, health], ..Mocks::lenient() };
    let check = Check::new(CheckSpec::TargetsHealthy(TargetsHealthy {
        target_group: "invsys-tg".into(),
        min_healthy: Some(1),
        all_healthy: None,
        cluster: None,
        service: None,
    }));
    let v = mocks.verifier(FakeClock::new(), VerifySettings::default());
    let out = v.wait(&check, &CancellationToken::new(), &no_progress()).await;
    assert_eq!(out.status, Status::Fail);
    assert!(
        out.evidence.contains("10.0.1.24:5001 unhealthy (Target.ResponseCodeMismatch)"),
        "{}",
        out.evidence
    );
    assert!(out.evidence.contains("unchanged for"), "{}", out.evidence);
    // 10 s interval × (2 + 1) = 30 s to recover; the deadline is minutes away.
    assert!(
        out.elapsed >= Duration::from_secs(30) && out.elapsed < Duration::from_secs(60),
        "{:?}",
        out.elapsed
    );
}
