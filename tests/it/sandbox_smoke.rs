//! Smoke tests of the sandbox support module: one server per binary, one
//! isolated account per test, the pinned aws CLI, the simulator at work.

use std::time::{Duration, Instant};

use crate::support::sandbox::sandbox;

#[test]
fn account_has_its_own_identity() {
    let acct = sandbox().account();
    let id = acct.aws_json(["sts", "get-caller-identity"]);
    assert_eq!(id["Account"].as_str(), Some(acct.account_id()));
    assert_ne!(acct.account_id(), "123456789012");
    let env = acct.env();
    let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("AWS_ENDPOINT_URL"), sandbox().endpoint);
    assert_eq!(get("HOME"), acct.home().display().to_string());
    assert!(get("PATH").starts_with(&sandbox().venv_bin().display().to_string()));
}

#[test]
fn accounts_are_isolated() {
    let a = sandbox().account();
    let b = sandbox().account();
    assert_ne!(a.account_id(), b.account_id());
    a.aws_json(["ecs", "create-cluster", "--cluster-name", "only-in-a"]);
    let listed = b.aws_json(["ecs", "list-clusters"]);
    assert_eq!(listed["clusterArns"], serde_json::json!([]));
    let listed = a.aws_json(["ecs", "list-clusters"]);
    assert_eq!(listed["clusterArns"].as_array().map(Vec::len), Some(1));
}

#[test]
fn control_endpoint_answers() {
    let sb = sandbox();
    let health = sb.control("GET", "health", None).unwrap();
    assert_eq!(health["port"].as_u64(), Some(u64::from(sb.port)));
    assert_eq!(health["dns_port"].as_u64(), Some(u64::from(sb.dns_port)));
    assert!(sb.control("GET", "clock", None).unwrap()["ticks"].is_u64());
}

#[test]
fn service_reaches_steady_state() {
    let acct = sandbox().account();
    let vpc = acct.aws_json(["ec2", "create-vpc", "--cidr-block", "10.7.0.0/16"]);
    let vpc_id = vpc["Vpc"]["VpcId"].as_str().unwrap().to_string();
    let subnet = acct.aws_json(["ec2", "create-subnet", "--vpc-id", &vpc_id, "--cidr-block", "10.7.3.0/24"]);
    let subnet_id = subnet["Subnet"]["SubnetId"].as_str().unwrap().to_string();
    acct.aws_json(["ecs", "create-cluster", "--cluster-name", "smoke"]);
    acct.aws_json([
        "ecs",
        "register-task-definition",
        "--family",
        "web",
        "--network-mode",
        "awsvpc",
        "--requires-compatibilities",
        "FARGATE",
        "--cpu",
        "256",
        "--memory",
        "512",
        "--container-definitions",
        r#"[{"name":"app","image":"nginx","memory":512,"portMappings":[{"containerPort":80}]}]"#,
    ]);
    let net = format!("awsvpcConfiguration={{subnets=[{subnet_id}]}}");
    acct.aws_json([
        "ecs",
        "create-service",
        "--cluster",
        "smoke",
        "--service-name",
        "web",
        "--task-definition",
        "web",
        "--desired-count",
        "2",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        &net,
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let svc = acct.aws_json(["ecs", "describe-services", "--cluster", "smoke", "--services", "web"]);
        let svc = &svc["services"][0];
        if svc["runningCount"] == 2 && svc["deployments"][0]["rolloutState"] == "COMPLETED" {
            break;
        }
        assert!(Instant::now() < deadline, "service never settled: {svc}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let tasks = acct.aws_json(["ecs", "list-tasks", "--cluster", "smoke", "--service-name", "web"]);
    assert_eq!(tasks["taskArns"].as_array().map(Vec::len), Some(2));
}
