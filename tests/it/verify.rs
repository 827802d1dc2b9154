//! The checks end to end against the sandbox: for each check kind the sandbox supports, a case
//! that passes and one that fails, through the library (`Verifier` on clients pointed at the
//! sandbox), and `labrunner verify` through the binary with a tiny fixture lab.
//!
//! Each test takes its own sandbox account, so they run in parallel against one server.
//!
//! `alarm` goes through the Rust SDK's Smithy RPC v2 CBOR protocol, which the sandbox translates
//! for moto. Not covered: `service_connect` (covered by the engine's unit tests).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::Region;
use aws_sdk_ecs::config::Credentials;
use labrunner::aws::Clients;
use labrunner::lab::Check;
use labrunner::verify::{Outcome, Status, Verifier, VerifySettings};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::sandbox::{sandbox, TestAccount};

// ---------------------------------------------------------------------------------------------
// Helpers

/// SDK clients acting as `acct` in the sandbox.
async fn clients(acct: &TestAccount) -> Arc<Clients> {
    let env = acct.env();
    let endpoint = env.iter().find(|(k, _)| k == "AWS_ENDPOINT_URL").map(|(_, v)| v.clone()).unwrap();
    let credentials = Credentials::new(
        acct.access_key_id.clone(),
        acct.secret_access_key.clone(),
        Some(acct.session_token.clone()),
        None,
        "sandbox",
    );
    let config = labrunner::aws::config_loader()
        .region(Region::new(acct.region().to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await;
    Arc::new(Clients::new(config))
}

/// Settings for the sandbox: its DNS server, and the account's env for `command` checks.
fn settings(acct: &TestAccount) -> VerifySettings {
    let env = acct.env();
    let dns = env.iter().find(|(k, _)| k == "LABRUNNER_DNS_SERVER").map(|(_, v)| v.parse().unwrap());
    VerifySettings { dns_server: dns, command_env: env, ..VerifySettings::default() }
}

async fn verifier(acct: &TestAccount) -> Verifier {
    Verifier::new(clients(acct).await, settings(acct))
}

/// A check written as in step metadata.
fn check(yaml: &str) -> Check {
    labrunner::lab::yaml::from_str(yaml, labrunner::lab::yaml::Origin::FILE)
        .unwrap_or_else(|e| panic!("bad check {yaml}: {e}"))
}

/// Waits (with a short deadline) for a check.
async fn wait(v: &Verifier, yaml: &str, timeout: &str) -> Outcome {
    let mut c = check(yaml);
    c.timeout = Some(humantime::parse_duration(timeout).unwrap());
    v.wait(&c, &CancellationToken::new(), &|_| {}).await
}

#[track_caller]
fn assert_outcome(o: &Outcome, status: Status, evidence: &str) {
    assert_eq!(o.status, status, "{}: {:?} ({:?})", o.description, o.evidence, o.diagnostics);
    assert!(o.evidence.contains(evidence), "{}: evidence {:?} lacks {evidence:?}", o.description, o.evidence);
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_string()
}

/// A VPC with two subnets in two zones.
struct Net {
    vpc: String,
    subnets: [String; 2],
}

fn network(acct: &TestAccount, second_octet: u8) -> Net {
    let vpc = s(&acct.aws_json(["ec2", "create-vpc", "--cidr-block", &format!("10.{second_octet}.0.0/16")])
        ["Vpc"]["VpcId"]);
    let subnet = |n: u8, az: &str| {
        s(&acct.aws_json([
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            &format!("10.{second_octet}.{n}.0/24"),
            "--availability-zone",
            az,
        ])["Subnet"]["SubnetId"])
    };
    let subnets = [subnet(1, "us-east-1a"), subnet(2, "us-east-1b")];
    Net { vpc, subnets }
}

/// Registers a Fargate task definition `family` with one container `app` on port 8080.
fn task_definition(acct: &TestAccount, family: &str, image: &str) -> Value {
    let containers = format!(
        r#"[{{"name":"app","image":"{image}","essential":true,"memory":512,"portMappings":[{{"containerPort":8080}}]}}]"#
    );
    acct.aws_json([
        "ecs",
        "register-task-definition",
        "--family",
        family,
        "--network-mode",
        "awsvpc",
        "--requires-compatibilities",
        "FARGATE",
        "--cpu",
        "256",
        "--memory",
        "512",
        "--container-definitions",
        &containers,
    ])
}

/// Creates a Fargate service; `extra` are more `create-service` arguments.
fn service(acct: &TestAccount, net: &Net, cluster: &str, name: &str, family: &str, extra: &[&str]) {
    let network = format!("awsvpcConfiguration={{subnets=[{},{}]}}", net.subnets[0], net.subnets[1]);
    let mut args = vec![
        "ecs",
        "create-service",
        "--cluster",
        cluster,
        "--service-name",
        name,
        "--task-definition",
        family,
        "--desired-count",
        "2",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        &network,
    ];
    args.extend_from_slice(extra);
    acct.aws_json(args);
}

/// A load balancer with an ip target group and an HTTP:80 listener forwarding to it.
struct Alb {
    dns: String,
    tg_arn: String,
}

fn load_balancer(acct: &TestAccount, net: &Net, name: &str) -> Alb {
    let lb = &acct.aws_json([
        "elbv2",
        "create-load-balancer",
        "--name",
        name,
        "--subnets",
        &net.subnets[0],
        &net.subnets[1],
    ])["LoadBalancers"][0];
    let tg_arn = s(&acct.aws_json([
        "elbv2",
        "create-target-group",
        "--name",
        &format!("{name}-tg"),
        "--protocol",
        "HTTP",
        "--port",
        "8080",
        "--vpc-id",
        &net.vpc,
        "--target-type",
        "ip",
    ])["TargetGroups"][0]["TargetGroupArn"]);
    acct.aws_json([
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        &s(&lb["LoadBalancerArn"]),
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--default-actions",
        &format!("Type=forward,TargetGroupArn={tg_arn}"),
    ]);
    Alb { dns: s(&lb["DNSName"]), tg_arn }
}

/// The labrunner binary under test, copied once at first use: the target directory may be shared
/// with other builds, and one of them must not swap the binary in the middle of a run.
fn labrunner() -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let copy =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("labrunner-it-{}", std::process::id()));
        std::fs::copy(env!("CARGO_BIN_EXE_labrunner"), &copy).expect("copying the labrunner binary");
        copy
    });
    Command::new(bin)
}

/// A fixture lab `mini` in a temporary directory: one module with the given steps.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(steps: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("labs")).unwrap();
        std::fs::create_dir_all(dir.path().join("content/mini")).unwrap();
        std::fs::write(
            dir.path().join("labs/mini.yaml"),
            "format: 1\nid: mini\ntitle: Mini\nsummary: A tiny lab for tests.\nmodules:\n  - 01.md\n\
             variables:\n  - name: ACCOUNT_ID\n    description: The account.\n    from: account\n  \
             - name: CLUSTER\n    description: The cluster.\n    from: prompt\n    default: mini\n  \
             - name: ALB_DNS\n    description: Set by a step.\n    from: step\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("content/mini/01.md"), format!("---\ntitle: Mini\n---\n\n{steps}"))
            .unwrap();
        Fixture { dir }
    }

    /// Saves progress for `acct` with these variables, as `labrunner start` would.
    fn save_variables(&self, acct: &TestAccount, vars: &[(&str, &str)]) {
        let run = self.dir.path().join("state/mini").join(format!("{}-{}", acct.account_id(), acct.region()));
        std::fs::create_dir_all(&run).unwrap();
        let variables: serde_json::Map<String, Value> =
            vars.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
        let progress = serde_json::json!({
            "version": 1, "lab": "mini", "account": acct.account_id(), "region": acct.region(),
            "arn": "arn", "started_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            "finished": [], "current": null, "variables": variables,
        });
        std::fs::write(run.join("progress.json"), progress.to_string()).unwrap();
    }

    /// `labrunner verify mini ARGS` as `acct`.
    fn verify(&self, acct: &TestAccount, args: &[&str]) -> Output {
        let mut cmd = labrunner();
        acct.apply(&mut cmd);
        cmd.arg("--labs-dir")
            .arg(self.dir.path().join("labs"))
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(["--color", "never", "verify", "mini"])
            .args(args)
            .env_remove("LABRUNNER_STATE_DIR")
            .current_dir(self.dir.path());
        cmd.output().unwrap()
    }
}

fn step(id: &str, checks: &str) -> String {
    format!("<!-- labrunner:step\nid: {id}\ntitle: Step {id}\nchecks:\n{checks}-->\nDo it.\n\n```bash\ntrue\n```\n\n")
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(code), "stdout:\n{stdout}\nstderr:\n{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Identity, clusters, task definitions

#[tokio::test(flavor = "multi_thread")]
async fn identity_cluster_and_task_definition() {
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    let id = acct.account_id();

    let o = v.check_once(&check(&format!("caller_identity: {{ account: '{id}', region: us-east-1 }}"))).await;
    assert_outcome(&o, Status::Pass, &format!("account {id}"));
    let o = v.check_once(&check("caller_identity: { account: '111122223333' }")).await;
    assert_outcome(&o, Status::Fail, "expected account 111122223333");

    let o = v.check_once(&check("cluster_active: { cluster: lab }")).await;
    assert_outcome(&o, Status::Fail, "cluster lab not found");
    acct.aws_json(["ecs", "create-cluster", "--cluster-name", "lab"]);
    let o = v.check_once(&check("cluster_active: { cluster: lab }")).await;
    assert_outcome(&o, Status::Pass, "cluster lab ACTIVE");

    let o = v.check_once(&check("task_definition: { family: web }")).await;
    assert_outcome(&o, Status::Fail, "task definition web is not registered");
    task_definition(&acct, "web", "public.ecr.aws/nginx/nginx:1.27");
    let o = v
        .check_once(&check(
            "task_definition: { family: web, revision: 1, image: 'public.ecr.aws/nginx/*', cpu: '256', memory: '512', network_mode: awsvpc, container_port: 8080 }",
        ))
        .await;
    assert_outcome(&o, Status::Pass, "web:1: ACTIVE, app public.ecr.aws/nginx/nginx:1.27");
    let o = v
        .check_once(&check(
            "task_definition: { family: web, revision: 1, image: 'httpd:2', container_port: 80 }",
        ))
        .await;
    assert_outcome(&o, Status::Fail, "image is public.ecr.aws/nginx/nginx:1.27, expected httpd:2");
    assert!(o.evidence.contains("container port 80 not mapped"), "{}", o.evidence);
}

// ---------------------------------------------------------------------------------------------
// Services, targets, HTTP and DNS through the load balancer

#[tokio::test(flavor = "multi_thread")]
async fn service_behind_a_load_balancer_converges_and_answers() {
    drop(labrunner());
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    let net = network(&acct, 11);
    let alb = load_balancer(&acct, &net, "web-alb");
    acct.aws_json(["ecs", "create-cluster", "--cluster-name", "lab"]);
    task_definition(&acct, "web", "nginx:1.27");

    // Before the service: no targets, the proxy answers 503, the DNS name resolves.
    let targets =
        format!("targets_healthy: {{ target_group: '{}', cluster: lab, service: web }}", alb.tg_arn);
    let o = v.check_once(&check(&targets)).await;
    assert_outcome(&o, Status::Fail, "web-alb-tg: 0/0 healthy");
    assert!(o.diagnostics.iter().any(|d| d.contains("no targets are registered")), "{:?}", o.diagnostics);
    let o = v.check_once(&check(&format!("dns_resolves: {{ name: '{}' }}", alb.dns))).await;
    assert_outcome(&o, Status::Pass, "127.0.0.1");
    let o = v.check_once(&check("dns_resolves: { name: nothing-here.example.invalid }")).await;
    assert_outcome(&o, Status::Fail, "does not resolve");

    let http = step(
        "web",
        "  - http: { url: 'http://${ALB_DNS}/items', status: 200, body_contains: '\"path\": \"/items\"' }\n",
    );
    let fixture = Fixture::new(&http);
    fixture.save_variables(&acct, &[("ALB_DNS", &alb.dns)]);
    let out = fixture.verify(&acct, &[]);
    assert_exit(&out, 1);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("→ 503 (expected 200)"), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed, 0 errors"), "{stdout}");

    service(
        &acct,
        &net,
        "lab",
        "web",
        "web",
        &["--load-balancers", &format!("targetGroupArn={},containerName=app,containerPort=8080", alb.tg_arn)],
    );
    let o = wait(&v, "service_stable: { cluster: lab, service: web, task_definition: 'web:1' }", "60s").await;
    assert_outcome(&o, Status::Pass, "web: 2/2 running, 0 pending, deployment ecs-svc/");
    assert!(o.evidence.contains("COMPLETED (web:1)"), "{}", o.evidence);
    assert!(o.attempts > 1, "the service cannot be stable at the first look");
    let o = v.check_once(&check(&targets)).await;
    assert_outcome(&o, Status::Pass, "web-alb-tg: 2/2 healthy");
    assert!(o.evidence.contains("2 running task(s) of web"), "{}", o.evidence);
    let o = v.check_once(&check("service_desired_count: { cluster: lab, service: web, count: 2 }")).await;
    assert_outcome(&o, Status::Pass, "desired 2, 2 running");
    let o = v.check_once(&check("service_desired_count: { cluster: lab, service: web, count: 3 }")).await;
    assert_outcome(&o, Status::Fail, "desired 2, 2 running");
    let o = v
        .check_once(&check("service_task_definition: { cluster: lab, service: web, task_definition: web }"))
        .await;
    assert_outcome(&o, Status::Pass, "PRIMARY runs web:1");
    let o = v.check_once(&check("load_balancer_active: { name: web-alb }")).await;
    assert_outcome(&o, Status::Pass, "load balancer web-alb active");
    let o = v.check_once(&check("load_balancer_active: { name: other-alb }")).await;
    assert_outcome(&o, Status::Fail, "load balancer other-alb not found");

    let out = fixture.verify(&acct, &[]);
    assert_exit(&out, 0);
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("→ 200"), "{stdout}");
    assert!(stdout.contains("1 passed, 0 failed, 0 errors"), "{stdout}");
    assert!(stderr.contains(&format!("Verifying mini as account {}", acct.account_id())), "{stderr}");
}

/// Without a circuit breaker ECS retries a task that cannot pull its image for ever: the wait
/// ends as soon as three tasks of the deployment stopped the same way, with the reason, not at
/// the check's ten-minute deadline (counted in looks, not seconds).
#[tokio::test(flavor = "multi_thread")]
async fn an_image_that_cannot_be_pulled_fails_the_wait_with_its_reason_at_once() {
    drop(labrunner());
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    let net = network(&acct, 13);
    acct.aws_json(["ecs", "create-cluster", "--cluster-name", "lab"]);
    task_definition(&acct, "unpullable", "example.com/does-not-exist/app:1");
    service(&acct, &net, "lab", "unpullable", "unpullable", &[]);
    let o = wait(&v, "service_stable: { cluster: lab, service: unpullable }", "600s").await;
    // ECS's "unable to consistently start tasks", or three tasks stopped the same way: with the reason.
    assert_outcome(&o, Status::Fail, "CannotPullContainerError");
    assert!(o.attempts < 40, "{} looks: the failure must end the wait as soon as it repeats", o.attempts);
}

#[tokio::test(flavor = "multi_thread")]
async fn circuit_breaker_failure_is_definitive_and_pull_errors_show_in_diagnostics() {
    drop(labrunner());
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    let net = network(&acct, 12);
    acct.aws_json(["ecs", "create-cluster", "--cluster-name", "lab"]);
    task_definition(&acct, "broken", "example.com/does-not-exist:1");
    service(
        &acct,
        &net,
        "lab",
        "broken",
        "broken",
        &["--deployment-configuration", "deploymentCircuitBreaker={enable=true,rollback=false}"],
    );
    let started = std::time::Instant::now();
    let o = wait(&v, "service_stable: { cluster: lab, service: broken }", "60s").await;
    // The wait ends on the first definitive sign: ECS giving up on starting tasks, or the
    // circuit breaker failing the rollout; either way with the pull error.
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.evidence.contains("CannotPullContainerError") || o.evidence.contains("rollout FAILED"),
        "{}",
        o.evidence
    );
    assert!(started.elapsed() < Duration::from_secs(40), "a definitive failure must end the wait at once");
    let failed = wait(&v, "deployment_failed: { cluster: lab, service: broken }", "60s").await;
    assert_outcome(&failed, Status::Pass, "circuit breaker");
    assert!(
        o.diagnostics.iter().any(|d| d.contains("CannotPullContainerError")),
        "diagnostics lack the pull error: {:?}",
        o.diagnostics
    );
    assert!(o.diagnostics.iter().any(|d| d.starts_with("stopped task ")), "{:?}", o.diagnostics);

    // The expected-failure checks a troubleshooting lab proves the symptom with: they pass on
    // the evidence, not by timing out.
    let o = v.check_once(&check("service_active: { cluster: lab, service: broken }")).await;
    assert_outcome(&o, Status::Pass, "broken is ACTIVE");
    let o = v.check_once(&check("deployment_failed: { cluster: lab, service: broken }")).await;
    assert_outcome(&o, Status::Pass, "circuit breaker");
    let o = v
        .check_once(&check(
            "task_stopped: { cluster: lab, service: broken, reason: 'CannotPullContainerError' }",
        ))
        .await;
    assert_outcome(&o, Status::Pass, "CannotPullContainerError");
    let o =
        v.check_once(&check("task_stopped: { cluster: lab, service: broken, reason: 'OutOfMemory' }")).await;
    assert_outcome(&o, Status::Fail, "no stopped task matches yet; latest: stopped task");
    let o = v
        .check_once(&check(
            "service_event: { cluster: lab, service: broken, pattern: 'unable to consistently start tasks' }",
        ))
        .await;
    assert_outcome(&o, Status::Pass, "unable to consistently start tasks");
    let o = v.check_once(&check("service_active: { cluster: lab, service: nothing }")).await;
    assert_outcome(&o, Status::Fail, "service nothing not found");

    // The same through the binary: exit 1, the diagnostic under the check, the hint matched.
    let fixture = Fixture::new(&step(
        "deploy",
        "  - service_stable: { cluster: '${CLUSTER}', service: broken }\nhints:\n  - when: CannotPullContainer\n    text: Push the image first.\n",
    ));
    fixture.save_variables(&acct, &[("CLUSTER", "lab")]);
    let out = fixture.verify(&acct, &["--step", "deploy"]);
    assert_exit(&out, 1);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("✗ service broken is stable"), "{stdout}");
    assert!(stdout.contains("· stopped task"), "{stdout}");
    assert!(stdout.contains("CannotPullContainerError"), "{stdout}");
    assert!(stdout.contains("hint (deploy): Push the image first."), "{stdout}");
    let out = fixture.verify(&acct, &["--json"]);
    assert_exit(&out, 1);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["account"], acct.account_id());
    assert_eq!(json["steps"][0]["checks"][0]["status"], "fail");
    assert_eq!(json["summary"]["failed"], 1);
}

// ---------------------------------------------------------------------------------------------
// Cloud Map

#[tokio::test(flavor = "multi_thread")]
async fn cloud_map_private_dns_and_instances() {
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    let net = network(&acct, 13);
    acct.aws_json([
        "servicediscovery",
        "create-private-dns-namespace",
        "--name",
        "corp.local",
        "--vpc",
        &net.vpc,
    ]);
    let ns = acct.aws_json(["servicediscovery", "list-namespaces"]);
    let ns_id =
        s(&ns["Namespaces"].as_array().unwrap().iter().find(|n| n["Name"] == "corp.local").unwrap()["Id"]);
    let o = v.check_once(&check("cloudmap_namespace: { name: corp.local }")).await;
    assert_outcome(&o, Status::Pass, "namespace corp.local");
    let o = v.check_once(&check("cloudmap_namespace: { name: other.local }")).await;
    assert_outcome(&o, Status::Fail, "namespace other.local not found");

    let dns_config = format!("NamespaceId={ns_id},RoutingPolicy=MULTIVALUE,DnsRecords=[{{Type=A,TTL=10}}]");
    let registry = acct.aws_json([
        "servicediscovery",
        "create-service",
        "--name",
        "inv",
        // The sandbox's DNS responder finds a service by its top-level namespace id only.
        "--namespace-id",
        &ns_id,
        "--dns-config",
        &dns_config,
        "--health-check-custom-config",
        "FailureThreshold=1",
    ]);
    let registry_arn = s(&registry["Service"]["Arn"]);
    let o = v.check_once(&check("private_dns: { name: inv.corp.local }")).await;
    assert_outcome(&o, Status::Fail, "inv.corp.local: no addresses");
    assert!(o.diagnostics.iter().any(|d| d.contains("has no registered instances")), "{:?}", o.diagnostics);

    acct.aws_json(["ecs", "create-cluster", "--cluster-name", "lab"]);
    task_definition(&acct, "inv", "nginx:1.27");
    service(
        &acct,
        &net,
        "lab",
        "inv",
        "inv",
        &["--service-registries", &format!("registryArn={registry_arn}")],
    );
    let o = wait(&v, "private_dns: { name: inv.corp.local, min_addresses: 2 }", "60s").await;
    assert_outcome(&o, Status::Pass, "inv.corp.local: 10.13.");
    assert!(o.evidence.contains("2 instance(s)"), "{}", o.evidence);
    let o = v.check_once(&check("cloudmap_instances: { namespace: corp.local, service: inv, min: 2 }")).await;
    assert_outcome(&o, Status::Pass, "inv: 2 ");
    let o = v.check_once(&check("cloudmap_instances: { namespace: corp.local, service: inv, min: 3 }")).await;
    assert_outcome(&o, Status::Fail, "need 3");
    let o = v.check_once(&check("cloudmap_instances: { namespace: corp.local, service: nope }")).await;
    assert_outcome(&o, Status::Fail, "no Cloud Map service nope in namespace corp.local");
    let o = v.check_once(&check("dns_resolves: { name: inv.corp.local, min_addresses: 2 }")).await;
    assert_outcome(&o, Status::Pass, "inv.corp.local → 10.13.");
}

// ---------------------------------------------------------------------------------------------
// IAM, logs, DynamoDB, Application Auto Scaling, commands (CloudWatch alarms: see the module docs)

#[tokio::test(flavor = "multi_thread")]
async fn iam_role_and_role_allows_through_the_policy_fallback() {
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    acct.aws_json(["iam", "create-role", "--role-name", "carts", "--assume-role-policy-document", trust]);
    let table = format!("arn:aws:dynamodb:us-east-1:{}:table/Carts", acct.account_id());
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:Query"],"Resource":["{table}","{table}/index/*"]}}]}}"#
    );
    acct.aws_json([
        "iam",
        "put-role-policy",
        "--role-name",
        "carts",
        "--policy-name",
        "carts-ddb",
        "--policy-document",
        &policy,
    ]);

    let o = v.check_once(&check("iam_role: { name: carts }")).await;
    assert_outcome(&o, Status::Pass, "role carts exists (arn:aws:iam::");
    let o = v.check_once(&check("iam_role: { name: nobody }")).await;
    assert_outcome(&o, Status::Fail, "role nobody not found");
    let allows = format!("role_allows: {{ role: carts, action: 'dynamodb:Query', resource: '{table}/index/idx_global_customerId' }}");
    let o = v.check_once(&check(&allows)).await;
    assert_outcome(&o, Status::Pass, "allowed by carts-ddb (evaluated 1 polic(ies) locally");
    let o = v
        .check_once(&check(&format!(
            "role_allows: {{ role: carts, action: 'dynamodb:DeleteTable', resource: '{table}' }}"
        )))
        .await;
    assert_outcome(&o, Status::Fail, "no policy allows it");
    let o = v.check_once(&check("role_allows: { role: nobody, action: 's3:GetObject' }")).await;
    assert_outcome(&o, Status::Fail, "role nobody not found");
    // The expected failure: the role may not delete the table.
    let denies =
        format!("role_denies: {{ role: carts, action: 'dynamodb:DeleteTable', resource: '{table}' }}");
    let o = v.check_once(&check(&denies)).await;
    assert_outcome(&o, Status::Pass, "no policy allows it");
    let o = v.check_once(&check(&allows.replace("role_allows", "role_denies"))).await;
    assert_outcome(&o, Status::Fail, "allowed by carts-ddb");
    let o = v.check_once(&check("role_denies: { role: nobody, action: 's3:GetObject' }")).await;
    assert_outcome(&o, Status::Fail, "role nobody not found");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_group_with_a_pattern_and_dynamodb_table() {
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    let o = v.check_once(&check("log_group: { name: /ecs/web }")).await;
    assert_outcome(&o, Status::Fail, "log group /ecs/web not found");
    acct.aws_json(["logs", "create-log-group", "--log-group-name", "/ecs/web"]);
    acct.aws_json([
        "logs",
        "create-log-stream",
        "--log-group-name",
        "/ecs/web",
        "--log-stream-name",
        "app/app/1",
    ]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let events = format!(
        r#"[{{"timestamp":{now},"message":"GET /health 200"}},{{"timestamp":{},"message":"ERROR cannot reach carts"}}]"#,
        now + 1
    );
    acct.aws_json([
        "logs",
        "put-log-events",
        "--log-group-name",
        "/ecs/web",
        "--log-stream-name",
        "app/app/1",
        "--log-events",
        &events,
    ]);
    let o = v.check_once(&check("log_group: { name: /ecs/web }")).await;
    assert_outcome(&o, Status::Pass, "log group /ecs/web exists");
    let o = v.check_once(&check("log_group: { name: /ecs/web, pattern: ERROR }")).await;
    assert_outcome(&o, Status::Pass, "ERROR cannot reach carts");
    let o = v.check_once(&check("log_group: { name: /ecs/web, pattern: Traceback }")).await;
    assert_outcome(&o, Status::Fail, "no event matching \"Traceback\"");
    assert!(o.diagnostics.iter().any(|d| d.contains("GET /health 200")), "{:?}", o.diagnostics);

    let o = v.check_once(&check("dynamodb_table: { table: Carts }")).await;
    assert_outcome(&o, Status::Fail, "Carts");
    acct.aws_json([
        "dynamodb",
        "create-table",
        "--table-name",
        "Carts",
        "--attribute-definitions",
        "AttributeName=id,AttributeType=S",
        "--key-schema",
        "AttributeName=id,KeyType=HASH",
        "--billing-mode",
        "PAY_PER_REQUEST",
    ]);
    let o = wait(&v, "dynamodb_table: { table: Carts }", "20s").await;
    assert_outcome(&o, Status::Pass, "table Carts ACTIVE");
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_scaling_target_and_policy() {
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    // Registering a target needs the service to exist.
    let net = network(&acct, 14);
    acct.aws_json(["ecs", "create-cluster", "--cluster-name", "lab"]);
    task_definition(&acct, "web", "nginx:1.27");
    service(&acct, &net, "lab", "web", "web", &[]);
    let target = "scalable_target: { resource_id: service/lab/web, min_capacity: 1, max_capacity: 4 }";
    let o = v.check_once(&check(target)).await;
    assert_outcome(&o, Status::Fail, "service/lab/web is not registered as a scalable target");
    acct.aws_json([
        "application-autoscaling",
        "register-scalable-target",
        "--service-namespace",
        "ecs",
        "--resource-id",
        "service/lab/web",
        "--scalable-dimension",
        "ecs:service:DesiredCount",
        "--min-capacity",
        "1",
        "--max-capacity",
        "4",
    ]);
    let o = v.check_once(&check(target)).await;
    assert_outcome(&o, Status::Pass, "service/lab/web: min 1, max 4");
    let o = v.check_once(&check("scalable_target: { resource_id: service/lab/web, max_capacity: 10 }")).await;
    assert_outcome(&o, Status::Fail, "expected max 10");

    let policy = "scaling_policy: { resource_id: service/lab/web, policy_name: cpu50, policy_type: TargetTrackingScaling }";
    let o = v.check_once(&check(policy)).await;
    assert_eq!(o.status, Status::Fail, "{o:?}");
    acct.aws_json([
        "application-autoscaling",
        "put-scaling-policy",
        "--service-namespace",
        "ecs",
        "--resource-id",
        "service/lab/web",
        "--scalable-dimension",
        "ecs:service:DesiredCount",
        "--policy-name",
        "cpu50",
        "--policy-type",
        "TargetTrackingScaling",
        "--target-tracking-scaling-policy-configuration",
        r#"{"TargetValue":50.0,"PredefinedMetricSpecification":{"PredefinedMetricType":"ECSServiceAverageCPUUtilization"}}"#,
    ]);
    let o = v.check_once(&check(policy)).await;
    assert_outcome(&o, Status::Pass, "cpu50");
    let o = v
        .check_once(&check(
            "scaling_policy: { resource_id: service/lab/web, policy_name: cpu50, policy_type: StepScaling }",
        ))
        .await;
    assert_eq!(o.status, Status::Fail, "{o:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn alarm_state_through_the_sdks_cbor_protocol() {
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    let o = v.check_once(&check("alarm: { name: rt-cpu-high }")).await;
    assert_outcome(&o, Status::Fail, "rt-cpu-high");
    acct.aws_json([
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "rt-cpu-high",
        "--namespace",
        "AWS/ECS",
        "--metric-name",
        "CPUUtilization",
        "--statistic",
        "Average",
        "--period",
        "60",
        "--evaluation-periods",
        "1",
        "--threshold",
        "80",
        "--comparison-operator",
        "GreaterThanThreshold",
    ]);
    let o = v.check_once(&check("alarm: { name: rt-cpu-high }")).await;
    assert_outcome(&o, Status::Pass, "rt-cpu-high");
    acct.aws_json([
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        "rt-cpu-high",
        "--state-value",
        "ALARM",
        "--state-reason",
        "test",
    ]);
    let o = v.check_once(&check("alarm: { name: rt-cpu-high, state: ALARM }")).await;
    assert_outcome(&o, Status::Pass, "ALARM");
    let o = v.check_once(&check("alarm: { name: rt-cpu-high, state: OK }")).await;
    assert_outcome(&o, Status::Fail, "ALARM");
}

#[tokio::test(flavor = "multi_thread")]
async fn command_checks_see_the_lab_environment() {
    let acct = sandbox().account();
    let v = verifier(&acct).await;
    let o = v
        .check_once(&check(
            "command: { run: 'aws sts get-caller-identity --query Account --output text', output_contains: '2' }",
        ))
        .await;
    assert_outcome(&o, Status::Pass, acct.account_id());
    let o = v.check_once(&check("command: { run: 'echo nearly; exit 3' }")).await;
    assert_outcome(&o, Status::Fail, "exit 3: nearly");
    let o = v.check_once(&check("command: { run: 'echo hello', output_contains: bye }")).await;
    assert_outcome(&o, Status::Fail, "does not contain \"bye\"");
}

// ---------------------------------------------------------------------------------------------
// The command: variables, exit codes, JSON

#[test]
fn verify_command_reports_passes_failures_and_unresolved_variables() {
    drop(labrunner());
    let acct = sandbox().account();
    acct.aws_json(["ecs", "create-cluster", "--cluster-name", "mini"]);
    let fixture = Fixture::new(&format!(
        "{}{}",
        step("who", "  - caller_identity: { account: '${ACCOUNT_ID}' }\n  - cluster_active: { cluster: '${CLUSTER}' }\n"),
        step("lb", "  - dns_resolves: { name: '${ALB_DNS}' }\n  - cluster_active: { cluster: missing }\n"),
    ));
    let out = fixture.verify(&acct, &["--step", "who"]);
    assert_exit(&out, 0);
    let (stdout, stderr) = text(&out);
    assert!(stdout.starts_with("STEP"), "{stdout}");
    assert!(stdout.contains(&format!("who   ✓ signed in to account {}", acct.account_id())), "{stdout}");
    assert!(stdout.contains("✓ cluster mini is ACTIVE"), "{stdout}");
    assert!(stdout.ends_with("\n2 passed, 0 failed, 0 errors\n"), "{stdout}");
    assert!(stderr.contains(acct.account_id()) && stderr.contains("us-east-1"), "{stderr}");

    let out = fixture.verify(&acct, &[]);
    assert_exit(&out, 1);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("! ${ALB_DNS} resolves"), "{stdout}");
    assert!(stdout.contains("not checked: ALB_DNS is set by a step"), "{stdout}");
    assert!(stdout.contains("✗ cluster missing is ACTIVE"), "{stdout}");
    assert!(stdout.contains("2 passed, 1 failed, 1 error"), "{stdout}");

    let out = fixture.verify(&acct, &["--step", "nope"]);
    assert_exit(&out, 2);
    assert!(text(&out).1.contains("lab `mini` has no step `nope`"));

    // No credentials: exit 3 before any check runs.
    let mut cmd = labrunner();
    acct.apply(&mut cmd);
    let out = cmd
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .arg("--labs-dir")
        .arg(fixture.dir.path().join("labs"))
        .args(["verify", "mini"])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    assert!(text(&out).0.is_empty(), "nothing on stdout without an identity");
}
