//! The AssumeRole path against a mocked STS (aws-smithy-mocks): the session policy, session
//! name, duration and external id go with every call; AccessDenied, expired credentials and
//! throttling stay in their account's row while the others go on.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use aws_sdk_sts::types::{AssumedRoleUser, Credentials as StsCredentials};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::DateTime;

use super::*;
use crate::aws::mock::Mocks;
use crate::validate::{policy, AccountStatus, Mark, Mode, ProblemKind, Student};

fn sts(rules: &[&Rule]) -> aws_sdk_sts::Client {
    let sts = rules.iter().map(|r| (*r).clone()).collect();
    Mocks { sts, ..Default::default() }.clients().sts
}

fn granted(account: &str) -> AssumeRoleOutput {
    AssumeRoleOutput::builder()
        .credentials(
            StsCredentials::builder()
                .access_key_id("ASIA")
                .secret_access_key("secret")
                .session_token("token")
                .expiration(DateTime::from_secs(4_000_000_000))
                .build()
                .unwrap(),
        )
        .assumed_role_user(
            AssumedRoleUser::builder()
                .assumed_role_id("AROA:labrunner-validate")
                .arn(format!("arn:aws:sts::{account}:assumed-role/OrgRole/labrunner-validate"))
                .build()
                .unwrap(),
        )
        .build()
}

fn error(code: &str) -> AssumeRoleError {
    AssumeRoleError::generic(
        ErrorMetadata::builder().code(code).message(format!("{code} for this role")).build(),
    )
}

fn lab(id: &str) -> Arc<Lab> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate/labs").join(format!("{id}.yaml"));
    Arc::new(crate::lab::load_lab(&path).unwrap())
}

fn validation(sts: aws_sdk_sts::Client, concurrency: usize) -> Validation {
    Validation {
        lab: lab("class-notes"),
        mode: Mode::Checkpoints,
        base: aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build(),
        access: Access::Role { sts, role_name: "OrgRole".into(), external_id: Some("class-42".into()) },
        settings: VerifySettings::default(),
        concurrency,
        backoff: Duration::from_millis(1),
        attempts: 3,
        clock: WallClock::system(),
        sessions: Sessions::default(),
        http: crate::verify::http_client(),
    }
}

fn student(id: &str) -> Student {
    Student { account_id: id.into(), name: String::new(), email: String::new(), profile: None }
}

/// What one AssumeRole request sent: role ARN, session name, policy, duration, external id.
type Sent = (String, String, Option<String>, Option<i32>, Option<String>);

#[tokio::test]
async fn every_assume_role_carries_the_session_policy() {
    let seen: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let log = seen.clone();
    let rule = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(move |req| {
            log.lock().unwrap().push((
                req.role_arn().unwrap_or_default().to_string(),
                req.role_session_name().unwrap_or_default().to_string(),
                req.policy().map(str::to_string),
                req.duration_seconds(),
                req.external_id().map(str::to_string),
            ));
            true
        })
        .then_compute_output(|req| granted(req.role_arn().unwrap().split(':').nth(4).unwrap()));
    let v = validation(sts(&[&rule]), 2);
    let report = v.run(vec![student("111111111111"), student("222222222222"), student("333333333333")]).await;
    assert_eq!(report.accounts.len(), 3);
    let mut calls = seen.lock().unwrap().clone();
    calls.sort();
    assert_eq!(calls.len(), 3);
    for (i, (arn, session, policy_sent, duration, external)) in calls.iter().enumerate() {
        let n = i + 1;
        assert_eq!(arn, &format!("arn:aws:iam::{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}:role/OrgRole"));
        assert_eq!(session, "labrunner-validate");
        assert_eq!(policy_sent.as_deref(), Some(policy::session_policy().as_str()));
        assert_eq!(*duration, Some(900));
        assert_eq!(external.as_deref(), Some("class-42"));
    }
    // The rows carry the assumed identity, and the checks that cannot run read-only say why.
    let row = &report.accounts[0];
    assert_eq!(row.arn.as_deref(), Some("arn:aws:sts::111111111111:assumed-role/OrgRole/labrunner-validate"));
    assert_eq!(row.cells[0].status, Mark::NotCheckable);
    assert_eq!(row.cells[0].checks[0].evidence, COMMAND_NOT_RUN);
    assert!(
        row.cells[0].checks[1].evidence.contains("TABLE is set by step `notes`"),
        "{:?}",
        row.cells[0].checks[1]
    );
    assert_eq!(row.status, AccountStatus::Complete);
}

#[tokio::test]
async fn a_refused_account_does_not_stop_the_others() {
    let denied = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(|req| req.role_arn().is_some_and(|a| a.contains("222222222222")))
        .then_error(|| error("AccessDenied"));
    let expired = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(|req| req.role_arn().is_some_and(|a| a.contains("444444444444")))
        .then_error(|| error("ExpiredToken"));
    let ok = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(|req| {
            req.role_arn().is_some_and(|a| !a.contains("222222222222") && !a.contains("444444444444"))
        })
        .then_compute_output(|req| granted(req.role_arn().unwrap().split(':').nth(4).unwrap()));
    let v = validation(sts(&[&denied, &expired, &ok]), 1);
    let ids = ["111111111111", "222222222222", "333333333333", "444444444444"];
    let report = v.run(ids.iter().map(|i| student(i)).collect()).await;
    let kinds: Vec<Option<ProblemKind>> =
        report.accounts.iter().map(|a| a.problem.as_ref().map(|p| p.kind)).collect();
    assert_eq!(kinds, [None, Some(ProblemKind::AccessDenied), None, Some(ProblemKind::Credentials)]);
    let order: Vec<&str> = report.accounts.iter().map(|a| a.student.account_id.as_str()).collect();
    assert_eq!(order, ids);
    let denied_row = &report.accounts[1];
    assert_eq!(denied_row.status, AccountStatus::Error);
    assert!(denied_row.problem.as_ref().unwrap().message.contains("arn:aws:iam::222222222222:role/OrgRole"));
    assert!(denied_row.problem.as_ref().unwrap().advice.contains("trust policy"));
    assert_eq!(report.summary().errors, 2);
    assert!(!report.all_passed());
}

#[tokio::test]
async fn throttled_assume_role_is_retried_with_back_off() {
    let rule = mock!(aws_sdk_sts::Client::assume_role)
        .sequence()
        .error(|| error("Throttling"))
        .times(2)
        .output(|| granted("111111111111"))
        .build();
    let client = sts(&[&rule]);
    let got = assume(&client, "arn:aws:iam::111111111111:role/R", None, Duration::from_millis(1), 3).await;
    assert!(got.is_ok(), "{:?}", got.err());
    assert_eq!(rule.num_calls(), 3);

    let always =
        mock!(aws_sdk_sts::Client::assume_role).sequence().error(|| error("Throttling")).repeatedly().build();
    let client = sts(&[&always]);
    let problem =
        assume(&client, "arn:aws:iam::1:role/R", None, Duration::from_millis(1), 3).await.err().unwrap();
    assert_eq!(problem.kind, ProblemKind::Throttled);
    assert!(problem.message.contains("still throttled after 3 tries"), "{}", problem.message);
    assert_eq!(always.num_calls(), 3);
}

#[test]
fn role_arns_follow_the_partition() {
    assert_eq!(role_arn("eu-west-1", "111111111111", "R"), "arn:aws:iam::111111111111:role/R");
    assert_eq!(role_arn("cn-north-1", "111111111111", "R"), "arn:aws-cn:iam::111111111111:role/R");
    assert_eq!(role_arn("us-gov-west-1", "111111111111", "R"), "arn:aws-us-gov:iam::111111111111:role/R");
}
