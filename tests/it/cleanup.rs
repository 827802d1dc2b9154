//! `labrunner cleanup` against the sandbox: after the shipped lab, proven by an independent
//! listing through the API (boto3, never labrunner); the dry run; the refusal in
//! another account; interrupts at several points; `--scan`; and the confirmation.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::runner::{Live, Sandboxed};
use crate::support::sandbox::{fast_sandbox, sandbox, TestAccount};
use crate::support::Outcome;

/// Everything of the kinds labs create that exists in `acct`, listed through the API with
/// boto3 (`tests/it/support/inventory.py`, never labrunner's code) and named the way labrunner
/// describes ledger entries. `vpc` (the lab's VPC id) scopes the network resources; `igw` is the
/// internet gateway the lab recorded, so a detached one still counts.
fn inventory(acct: &TestAccount, vpc: &str, igw: &str) -> BTreeSet<String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/inventory.py");
    let mut cmd = std::process::Command::new(sandbox().venv_bin().join("python"));
    acct.apply(&mut cmd);
    let out = cmd.arg(&script).arg(vpc).arg(igw).output().expect("run the inventory");
    assert!(out.status.success(), "inventory failed: {}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<String> = serde_json::from_slice(&out.stdout).expect("a JSON list of names");
    names.into_iter().collect()
}

/// The lab VPC id and internet gateway id recorded in the ledger (empty when none).
fn network_ids(ledger: &Value) -> (String, String) {
    let entries = ledger["entries"].as_array().expect("entries");
    let id_of = |kind: &str| {
        entries
            .iter()
            .find(|e| e["resource"].get(kind).is_some())
            .and_then(|e| e["ids"]["id"].as_str())
            .unwrap_or("")
            .to_string()
    };
    (id_of("vpc"), id_of("internet_gateway"))
}

fn set(items: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    items.into_iter().collect()
}

/// The shipped lab's Tasks 1 to 4 (network, load balancer, two services, Cloud Map), run
/// unattended in a fresh account.
fn shipped_lab_done() -> Sandboxed {
    let lab = Sandboxed::shipped_fast();
    lab.run(&["start", "flask-inventory", "--auto", "--yes", "--until", "add-device"]).code(0);
    lab
}

/// The rt-cleanup fixture run to the end: a log group, a table and a cluster.
fn fixture_lab_done() -> Sandboxed {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-cleanup", "--auto", "--yes"]).code(0);
    assert_eq!(
        lab.ledger_resources("rt-cleanup"),
        ["log_group /rt/cleanup", "dynamodb_table rt-cleanup-items", "ecs_cluster rt-cleanup-cluster"]
    );
    lab
}

const FIXTURE_RESOURCES: [&str; 3] =
    ["dynamodb_table rt-cleanup-items", "ecs_cluster rt-cleanup-cluster", "log_group /rt/cleanup"];

fn fixture_inventory(lab: &Sandboxed) -> BTreeSet<String> {
    inventory(&lab.acct, "", "")
}

// ---------------------------------------------------------------------------------------
// 1. After the shipped lab, nothing remains.

#[test]
fn cleanup_after_the_shipped_lab_leaves_nothing_an_independent_listing_can_find() {
    let lab = shipped_lab_done();
    let ledger = lab.ledger("flask-inventory");
    let (vpc, igw) = network_ids(&ledger);
    assert!(vpc.starts_with("vpc-") && igw.starts_with("igw-"), "{vpc} {igw}");
    let recorded = set(lab.ledger_resources("flask-inventory"));
    assert_eq!(recorded.len(), 22);
    // The listing sees exactly what the lab recorded (so an empty listing later means gone).
    assert_eq!(inventory(&lab.acct, &vpc, &igw), recorded);

    let run = lab.run(&["cleanup", "flask-inventory", "--yes"]);
    run.code(0)
        .stdout_contains("Cleanup: 22 deleted, 0 already gone, 0 remaining.\n")
        .stdout_contains("\nEverything the lab created is gone.\n");
    assert_eq!(inventory(&lab.acct, &vpc, &igw), BTreeSet::new(), "resources remain after cleanup");
    assert!(lab.ledger("flask-inventory")["entries"].as_array().unwrap().is_empty());
    lab.run(&["status", "flask-inventory"]).code(0).stdout_contains("  nothing left to clean up\n");

    // A second cleanup has nothing to do.
    lab.run(&["cleanup", "flask-inventory", "--yes"])
        .code(0)
        .stdout_contains(&format!("Nothing to clean up in account {} in us-east-1.", lab.acct.account_id()));
}

// ---------------------------------------------------------------------------------------
// 2. --dry-run

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let lab = fixture_lab_done();
    let ledger_file = lab.run_dir("rt-cleanup").join("ledger.json");
    let before = std::fs::read(&ledger_file).unwrap();
    assert_eq!(fixture_inventory(&lab), set(FIXTURE_RESOURCES.map(String::from)));

    let acct = lab.acct.account_id();
    let cluster = format!("arn:aws:ecs:us-east-1:{acct}:cluster/rt-cleanup-cluster");
    let table = format!("arn:aws:dynamodb:us-east-1:{acct}:table/rt-cleanup-items");
    let group = format!("arn:aws:logs:us-east-1:{acct}:log-group:/rt/cleanup");
    // Every row names the id cleanup will delete, not only the name.
    lab.run(&["cleanup", "rt-cleanup", "--dry-run"]).code(0).stdout(&format!(
        "Deletion plan for rt-cleanup (3 resources)\n\
         WAVE  TYPE            NAME                STEP            ID\n\
         1     log_group       /rt/cleanup         make-log-group  {group}\n\
         2     dynamodb_table  rt-cleanup-items    make-table      {table}\n\
         3     ecs_cluster     rt-cleanup-cluster  make-cluster    {cluster}\n\
         Dry run: nothing was deleted.\n",
    ));
    assert_eq!(std::fs::read(&ledger_file).unwrap(), before, "the dry run changed the ledger");
    assert_eq!(fixture_inventory(&lab), set(FIXTURE_RESOURCES.map(String::from)));
}

// ---------------------------------------------------------------------------------------
// 3. Another account.

#[test]
fn cleanup_with_another_accounts_credentials_is_refused_and_deletes_nothing() {
    let lab = fixture_lab_done();
    let ledger_file = lab.run_dir("rt-cleanup").join("ledger.json");
    let before = std::fs::read(&ledger_file).unwrap();
    let other = sandbox().account();
    // Something of the same name in the other account must survive too.
    assert!(other.aws(["logs", "create-log-group", "--log-group-name", "/rt/cleanup"]).status.success());

    for args in [&["cleanup", "rt-cleanup", "--yes"][..], &["cleanup", "rt-cleanup", "--yes", "--scan"][..]] {
        let run = lab.run_as(&other, args);
        run.code(4).stderr_contains(&format!(
            "error: refusing to clean up: this lab's cleanup ledger belongs to account {} in us-east-1, but the current credentials are for account {} in us-east-1\n",
            lab.acct.account_id(),
            other.account_id()
        ));
        assert!(!run.stderr.contains("deleting"), "{}", run.stderr);
    }
    assert_eq!(std::fs::read(&ledger_file).unwrap(), before);
    assert_eq!(fixture_inventory(&lab), set(FIXTURE_RESOURCES.map(String::from)));
    assert_eq!(inventory(&other, "", ""), set(["log_group /rt/cleanup".to_string()]));
}

// ---------------------------------------------------------------------------------------
// 4. Interrupted cleanups.

/// When to send SIGINT to a running cleanup.
enum Point {
    After(Duration),
    /// When stderr shows this (deletion of that resource under way).
    Seen(&'static str),
}

#[test]
fn interrupted_cleanups_never_drop_a_ledger_entry_whose_resource_exists() {
    let lab = shipped_lab_done();
    let (vpc, igw) = network_ids(&lab.ledger("flask-inventory"));
    let mut interrupted = 0;
    let points = [
        Point::After(Duration::from_millis(500)),
        Point::Seen("deleting load_balancer"),
        Point::Seen("deleting log_group"),
        Point::Seen("deleting subnet"),
    ];
    for point in points {
        let args = ["cleanup", "flask-inventory", "--yes"];
        let mut live = Live::spawn(&args, lab.command(&args));
        match point {
            Point::After(d) => std::thread::sleep(d),
            Point::Seen(text) => live.wait_until(text, |l| l.stderr().contains(text)),
        }
        live.signal(nix::sys::signal::Signal::SIGINT);
        let run = live.finish();
        let recorded = set(lab.ledger_resources("flask-inventory"));
        let exists = inventory(&lab.acct, &vpc, &igw);
        let lost: Vec<&String> = exists.difference(&recorded).collect();
        assert!(lost.is_empty(), "these exist but left the ledger: {lost:?}\n{run:?}");
        match run.code {
            130 => {
                interrupted += 1;
                run.stderr_contains("error: cleanup was interrupted; the ledger keeps what remains\n")
                    .stderr_contains("  hint: run `labrunner cleanup flask-inventory` again to finish\n");
                assert!(!run.stderr.contains("labrunner resume"), "{run:?}");
                assert!(!recorded.is_empty(), "interrupted, yet the ledger is empty\n{run:?}");
            }
            0 => finished_cleanly(&run),
            // SIGINT before cleanup set its handler (still planning): nothing was deleted.
            -2 => assert!(run.stderr.lines().all(|l| !l.contains("deleting")), "{run:?}"),
            other => panic!("interrupted cleanup exited {other}\n{run:?}"),
        }
        if recorded.is_empty() {
            break;
        }
    }
    assert!(interrupted >= 2, "only {interrupted} cleanup(s) were interrupted");

    let run = lab.run(&["cleanup", "flask-inventory", "--yes"]);
    finished_cleanly(&run);
    assert_eq!(inventory(&lab.acct, &vpc, &igw), BTreeSet::new());
    assert!(lab.ledger("flask-inventory")["entries"].as_array().unwrap().is_empty());
}

fn finished_cleanly(run: &Outcome) {
    run.code(0);
    if !run.stdout.contains("Everything the lab created is gone.") {
        run.stdout_contains("Nothing to clean up");
    }
}

// ---------------------------------------------------------------------------------------
// 5. --scan

#[test]
fn scan_finds_and_deletes_declared_resources_made_by_hand() {
    let lab = Sandboxed::fixture();
    assert!(lab.acct.aws(["logs", "create-log-group", "--log-group-name", "/rt/cleanup"]).status.success());
    let made = lab.acct.aws([
        "dynamodb",
        "create-table",
        "--table-name",
        "rt-cleanup-items",
        "--attribute-definitions",
        "AttributeName=id,AttributeType=S",
        "--key-schema",
        "AttributeName=id,KeyType=HASH",
        "--billing-mode",
        "PAY_PER_REQUEST",
    ]);
    assert!(made.status.success());
    // Something the lab does not declare stays.
    assert!(lab.acct.aws(["logs", "create-log-group", "--log-group-name", "/rt/mine"]).status.success());

    // Without --scan there is nothing to do.
    lab.run(&["cleanup", "rt-cleanup", "--yes"])
        .code(0)
        .stdout_contains("Nothing to clean up")
        .stdout_contains("(Resources made by hand outside labrunner are found with --scan.)");
    assert_eq!(fixture_inventory(&lab).len(), 3);

    let run = lab.run(&["cleanup", "rt-cleanup", "--scan", "--yes"]);
    run.code(0)
        .stderr_contains(
            &format!("--scan: found log_group /rt/cleanup (arn:aws:logs:us-east-1:{}:log-group:/rt/cleanup, declared by step make-log-group) not recorded by labrunner\n", lab.acct.account_id()),
        )
        .stderr_contains(
            &format!("--scan: found dynamodb_table rt-cleanup-items (arn:aws:dynamodb:us-east-1:{}:table/rt-cleanup-items, declared by step make-table) not recorded by labrunner\n", lab.acct.account_id()),
        )
        .stdout_contains("  deleted       log_group /rt/cleanup (arn:aws:logs:")
        .stdout_contains("  deleted       dynamodb_table rt-cleanup-items (arn:aws:dynamodb:")
        .stdout_contains("Everything the lab created is gone.")
        .stdout_lacks("rt-cleanup-cluster")
        .stdout_lacks("/rt/mine");
    assert_eq!(fixture_inventory(&lab), set(["log_group /rt/mine".to_string()]));
}

// ---------------------------------------------------------------------------------------
// 6. Confirmation.

fn cleanup_typing(lab: &Sandboxed, answer: &str) -> Outcome {
    let args = ["cleanup", "rt-cleanup"];
    let mut cmd = lab.command(&args);
    cmd.env("LABRUNNER_INTERACTIVE", "1").stdin(Stdio::piped());
    let mut live = Live::spawn(&args, cmd);
    live.wait_stderr(
        &format!("Type the account id ({}) to delete these 3 resource(s): ", lab.acct.account_id()),
        1,
    );
    live.send(answer);
    live.finish()
}

#[test]
fn cleanup_asks_for_the_account_id_and_never_deletes_without_it() {
    let lab = fixture_lab_done();
    let all = set(FIXTURE_RESOURCES.map(String::from));

    // No terminal and no --yes: refused, with the way out.
    lab.run(&["cleanup", "rt-cleanup"])
        .code(2)
        .stderr_contains("error: deleting 3 resource(s) needs confirmation\n")
        .stderr_contains("  hint: run in a terminal to confirm by typing the account id, or pass --yes\n");
    assert_eq!(fixture_inventory(&lab), all);

    // The wrong account id: nothing deleted.
    let wrong = cleanup_typing(&lab, "000000000000");
    wrong.code(2).stderr_contains("error: the account id did not match; nothing was deleted\n");
    assert!(!wrong.stderr.contains("deleting"), "{}", wrong.stderr);
    assert_eq!(fixture_inventory(&lab), all);
    assert_eq!(lab.ledger_resources("rt-cleanup").len(), 3);

    // The right one: deleted.
    let right = cleanup_typing(&lab, lab.acct.account_id());
    right
        .code(0)
        .stdout_contains("Cleanup: 3 deleted, 0 already gone, 0 remaining.\n")
        .stdout_contains("Everything the lab created is gone.");
    assert_eq!(fixture_inventory(&lab), BTreeSet::new());
}

// ---------------------------------------------------------------------------------------
// CloudWatch alarms and dashboards (the SDK's CBOR protocol, translated by the sandbox).

#[test]
fn alarms_and_dashboards_are_checked_recorded_and_cleaned_up() {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-watch", "--auto", "--yes"])
        .code(0)
        .stdout_contains("recorded for cleanup: alarm rt-watch-cpu (arn:aws:cloudwatch:")
        .stdout_contains("recorded for cleanup: dashboard rt-watch (arn:aws:cloudwatch::");
    let alarms = || {
        lab.acct.aws_json(["cloudwatch", "describe-alarms", "--alarm-names", "rt-watch-cpu"])["MetricAlarms"]
            .as_array()
            .expect("MetricAlarms")
            .len()
    };
    let dashboards = || {
        lab.acct.aws_json(["cloudwatch", "list-dashboards", "--dashboard-name-prefix", "rt-watch"])
            ["DashboardEntries"]
            .as_array()
            .expect("DashboardEntries")
            .len()
    };
    assert_eq!((alarms(), dashboards()), (1, 1));
    lab.run(&["cleanup", "rt-watch", "--yes"])
        .code(0)
        .stdout_contains("  deleted       alarm rt-watch-cpu")
        .stdout_contains("  deleted       dashboard rt-watch")
        .stdout_contains("Everything the lab created is gone.");
    assert_eq!((alarms(), dashboards()), (0, 0), "an independent listing finds nothing");
}

// ---------------------------------------------------------------------------------------
// A flaky API: throttling and 5xx do not fail the lab or leak anything.

#[test]
fn the_shipped_lab_completes_and_cleans_to_zero_under_throttling_and_5xx() {
    let lab = Sandboxed::shipped_fast();
    let key = lab.acct.access_key_id.clone();
    let rule = |kind: &str| serde_json::json!({"kind": kind, "fraction": 0.1, "match": key});
    let faults: Vec<Value> = ["throttle", "error5xx"]
        .into_iter()
        .map(|kind| fast_sandbox().control("POST", "faults", Some(&rule(kind))).expect("fault rule"))
        .collect();
    let run = lab.run(&["start", "flask-inventory", "--auto", "--yes", "--until", "add-device"]);
    let cleanup = lab.run(&["cleanup", "flask-inventory", "--yes"]);
    let injected: u64 = faults
        .iter()
        .map(|f| {
            let all = fast_sandbox().control("GET", "faults", None).expect("fault rules");
            let mine =
                all["faults"].as_array().and_then(|rules| rules.iter().find(|r| r["id"] == f["id"]).cloned());
            let _ = fast_sandbox().control("DELETE", "faults", Some(&serde_json::json!({"id": f["id"]})));
            mine.and_then(|r| r["injected"].as_u64()).unwrap_or(0)
        })
        .sum();
    run.code(0).stdout_contains("25 of 55 steps done, 0 skipped");
    cleanup.code(0).stdout_contains("Everything the lab created is gone.");
    assert!(injected > 10, "the faults were really injected ({injected})");
    // Independent listing: nothing of the lab's kinds is left in the account.
    assert_eq!(inventory(&lab.acct, "", ""), BTreeSet::new());
}

// ---------------------------------------------------------------------------------------
// What bills by the hour in a private network: NAT gateway, Elastic IP, endpoint, instance.

#[test]
fn nat_gateway_elastic_ip_endpoint_instance_and_template_are_recorded_and_cleaned_up() {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-ec2", "--auto", "--yes"]).code(0);
    let kinds: BTreeSet<String> =
        lab.ledger_resources("rt-ec2").iter().map(|r| r.split(' ').next().unwrap().to_string()).collect();
    assert_eq!(
        kinds,
        set([
            "vpc",
            "subnet",
            "elastic_ip",
            "nat_gateway",
            "vpc_endpoint",
            "launch_template",
            "ec2_instance"
        ]
        .map(String::from))
    );
    let count = |args: &[&str]| -> usize {
        let v = lab.acct.aws_json(args);
        v.as_array().map_or(0, Vec::len)
    };
    let live = || {
        [
            count(&[
                "ec2",
                "describe-nat-gateways",
                "--filter",
                "Name=tag:Name,Values=rt-ec2-nat",
                "--query",
                "NatGateways[?State!='deleted'].NatGatewayId",
            ]),
            count(&[
                "ec2",
                "describe-addresses",
                "--filters",
                "Name=tag:Name,Values=rt-ec2-eip",
                "--query",
                "Addresses[].AllocationId",
            ]),
            count(&[
                "ec2",
                "describe-vpc-endpoints",
                "--query",
                "VpcEndpoints[?State!='deleted'].VpcEndpointId",
            ]),
            count(&[
                "ec2",
                "describe-instances",
                "--filters",
                "Name=tag:Name,Values=rt-ec2-node",
                "Name=instance-state-name,Values=pending,running,stopping,stopped",
                "--query",
                "Reservations[].Instances[].InstanceId",
            ]),
            count(&["ec2", "describe-launch-templates", "--query", "LaunchTemplates[].LaunchTemplateId"]),
        ]
    };
    assert_eq!(live(), [1, 1, 1, 1, 1]);
    lab.run(&["cleanup", "rt-ec2", "--yes"]).code(0).stdout_contains("Everything the lab created is gone.");
    assert_eq!(live(), [0, 0, 0, 0, 0], "an independent listing finds nothing");
}

// ---------------------------------------------------------------------------------------
// DNS and certificates: a record is deleted before its zone, a certificate by its ARN.

#[test]
fn hosted_zone_certificate_and_record_are_recorded_by_id_and_cleaned_up() {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-dns", "--auto", "--yes"]).code(0);
    let kinds: BTreeSet<String> =
        lab.ledger_resources("rt-dns").iter().map(|r| r.split(' ').next().unwrap().to_string()).collect();
    assert_eq!(kinds, set(["hosted_zone", "acm_certificate", "dns_record"].map(String::from)));
    // A certificate for another name, made by hand, is not the lab's.
    lab.acct.aws_json(["acm", "request-certificate", "--domain-name", "other.example.com"]);
    let live = || {
        let zones = lab.acct.aws_json([
            "route53",
            "list-hosted-zones-by-name",
            "--dns-name",
            "rt-dns.example.com",
            "--query",
            "HostedZones[?Name=='rt-dns.example.com.'].Id",
        ]);
        let certs =
            lab.acct.aws_json(["acm", "list-certificates", "--query", "CertificateSummaryList[].DomainName"]);
        (zones.as_array().map_or(0, Vec::len), certs)
    };
    assert_eq!(live().0, 1);
    lab.run(&["cleanup", "rt-dns", "--yes"]).code(0).stdout_contains("Everything the lab created is gone.");
    let (zones, certs) = live();
    assert_eq!(zones, 0, "the zone is gone, so its record went first");
    assert_eq!(certs, serde_json::json!(["other.example.com"]), "only the lab's certificate was deleted");
}

// ---------------------------------------------------------------------------------------
// The catalog: each shipped lab that runs unattended does so, and cleans to zero.

#[test]
fn retail_carts_lints_clean_runs_its_failure_and_fix_unattended_and_cleans_to_zero() {
    let lab = Sandboxed::shipped_fast();
    lab.run(&["lint", "retail-carts"]).code(0).stdout_contains("retail-carts: clean");
    let run = lab.run(&["start", "retail-carts", "--auto", "--yes"]);
    run.code(0)
        // The failure is proven by evidence, then the fix by its own checks.
        .stdout_contains("dynamodb:Query")
        .stdout_contains("✓ lab finished: 21 of 21 steps done, 0 skipped");
    let recorded = lab.ledger_resources("retail-carts");
    assert!(recorded.len() >= 10, "{recorded:?}");
    // The Cloud Map service ECS made for Service Connect after the step (no command created
    // it, and the page no longer waits for it): recorded by id once it appeared.
    let ledger = lab.ledger("retail-carts");
    let by_id: Vec<String> = ledger["entries"]
        .as_array()
        .expect("ledger entries")
        .iter()
        .filter(|e| !e["intent"].as_bool().unwrap_or(false) && e["ids"]["id"].is_string())
        .map(crate::runner::describe)
        .collect();
    assert!(by_id.contains(&"cloudmap_service carts.retailstore.local".to_string()), "{ledger}");
    // Whether ECS has made it by the time the step's commands return is up to the sandbox's
    // clock: the student is told either that it is awaited or that it was recorded.
    let awaited =
        "cloudmap_service carts.retailstore.local: AWS makes it for the lab; it is recorded when it appears";
    let recorded = "recorded for cleanup: cloudmap_service carts.retailstore.local";
    assert!(run.stdout.contains(awaited) || run.stdout.contains(recorded), "{}", run.stdout);
    lab.run(&["cleanup", "retail-carts", "--yes"])
        .code(0)
        .stdout_contains("Everything the lab created is gone.");
    // An independent listing finds nothing of the kinds the lab creates (the policy too).
    assert_eq!(inventory(&lab.acct, "", ""), BTreeSet::new());
    let policies =
        lab.acct.aws_json(["iam", "list-policies", "--scope", "Local", "--query", "Policies[].PolicyName"]);
    assert_eq!(policies, serde_json::json!([]));
}

#[test]
fn multi_service_routes_by_path_serves_https_on_its_domain_and_cleans_to_zero() {
    let lab = Sandboxed::shipped_fast();
    lab.run(&["lint", "multi-service"]).code(0).stdout_contains("multi-service: clean");
    let run = lab.run(&["start", "multi-service", "--auto", "--yes"]);
    run.code(0)
        // HTTPS is checked by labrunner itself, through TLS it verified against the sandbox's CA.
        .stdout_contains("✓ GET https://services.multi-service.example.com/ answers the base route")
        .stdout_contains("✓ lab finished: 27 of 27 steps done, 0 skipped");
    lab.run(&["cleanup", "multi-service", "--yes"])
        .code(0)
        .stdout_contains("Everything the lab created is gone.");
    assert_eq!(inventory(&lab.acct, "", ""), BTreeSet::new());
    let zones = lab.acct.aws_json(["route53", "list-hosted-zones", "--query", "HostedZones[].Name"]);
    assert_eq!(zones, serde_json::json!([]), "the lab's zone and the namespace's are gone");
    let certs =
        lab.acct.aws_json(["acm", "list-certificates", "--query", "CertificateSummaryList[].DomainName"]);
    assert_eq!(certs, serde_json::json!([]));
}

#[test]
fn ecs_on_ec2_places_tasks_on_instances_proves_its_failures_and_cleans_to_zero() {
    let lab = Sandboxed::shipped_fast();
    lab.run(&["lint", "ecs-on-ec2"]).code(0).stdout_contains("ecs-on-ec2: clean");
    let run = lab.run(&["start", "ecs-on-ec2", "--auto", "--yes"]);
    run.code(0)
        // Capacity and permission failures, proven by their evidence.
        .stdout_contains("✓ ECS reports that no container instance has enough memory for auth")
        .stdout_contains(
            "✓ ECS reports that no container instance has a free network interface for a third auth task",
        )
        .stdout_contains("✓ a products task stopped because the execution role may not read the secret")
        // Managed scaling: the empty group got the instance the jobs service needed.
        .stdout_contains("✓ service little-ecom-jobs is stable")
        .stdout_contains("✓ ECS raised the group to one instance, and it runs")
        .stdout_contains("✓ lab finished: 37 of 39 steps done, 2 shown but not verified, 0 skipped");
    lab.run(&["cleanup", "ecs-on-ec2", "--yes"])
        .code(0)
        .stdout_contains("\nEverything the lab created is gone.\n");
    assert_eq!(inventory(&lab.acct, "", ""), BTreeSet::new());
    let left = |args: &[&str]| lab.acct.aws_json(args);
    assert_eq!(
        left(&[
            "ec2",
            "describe-instances",
            "--filters",
            "Name=tag:Name,Values=little-ecom-ecs-1,little-ecom-ecs-2",
            "Name=instance-state-name,Values=pending,running,stopping,stopped",
            "--query",
            "Reservations[].Instances[].InstanceId",
        ]),
        serde_json::json!([])
    );
    assert_eq!(
        left(&["iam", "list-instance-profiles", "--query", "InstanceProfiles[].InstanceProfileName"]),
        serde_json::json!([])
    );
    assert_eq!(
        left(&["secretsmanager", "list-secrets", "--query", "SecretList[].Name"]),
        serde_json::json!([])
    );
    // The resources of the capacity-provider, ECR and Parameter Store steps, and the instance
    // the group launched.
    let none = serde_json::json!([]);
    assert_eq!(left(&["ecr", "describe-repositories", "--query", "repositories[].repositoryName"]), none);
    assert_eq!(
        left(&[
            "ssm",
            "describe-parameters",
            "--query",
            "Parameters[?starts_with(Name, '/little-ecom')].Name"
        ]),
        none
    );
    assert_eq!(
        left(&[
            "autoscaling",
            "describe-auto-scaling-groups",
            "--query",
            "AutoScalingGroups[].AutoScalingGroupName"
        ]),
        none
    );
    assert_eq!(
        left(&[
            "ecs",
            "describe-capacity-providers",
            "--capacity-providers",
            "little-ecom-nodes",
            "--query",
            "capacityProviders[?status=='ACTIVE'].name",
        ]),
        none
    );
    assert_eq!(
        left(&["ec2", "describe-launch-templates", "--query", "LaunchTemplates[].LaunchTemplateName"]),
        none
    );
    assert_eq!(
        left(&[
            "ec2",
            "describe-instances",
            "--filters",
            "Name=tag:Name,Values=little-ecom-node",
            "Name=instance-state-name,Values=pending,running,stopping,stopped",
            "--query",
            "Reservations[].Instances[].InstanceId",
        ]),
        none
    );
}

/// Two-tier's services are made in the console (`mode: console`): unattended, labrunner watches
/// the checks while someone else works. Here a scripted student does each console step the way
/// the page offers beside it, with the page's CLI alternative and the lab's values from
/// `labrunner env`, once labrunner is watching.
#[test]
fn two_tier_runs_unattended_with_a_scripted_student_for_its_console_steps_and_cleans_to_zero() {
    let lab = Sandboxed::shipped_fast();
    lab.run(&["lint", "two-tier"]).code(0).stdout_contains("two-tier: clean");
    let args = ["start", "two-tier", "--auto", "--yes"];
    let mut run = Live::spawn(&args, lab.command(&args));
    for step in ["create-backend-service", "create-frontend-service"] {
        let header = format!("[{step}]");
        run.wait_until(&format!("labrunner watching {step}"), |l| {
            let out = l.stdout();
            out.find(&header).is_some_and(|at| out[at..].contains("] checking "))
        });
        let commands = lab.run(&["show", "two-tier", "--step", step, "--commands"]);
        commands.code(0).stdout_contains("aws ecs create-service");
        lab.in_the_students_shell("two-tier", &commands.stdout);
    }
    let done = run.finish();
    done.code(0)
        .stdout_contains("✓ step create-backend-service done")
        .stdout_contains("✓ step create-frontend-service done")
        .stdout_contains("✓ lab finished: 19 of 19 steps done, 0 skipped");
    // What the student made by hand during the watched steps is the lab's, by id; so is the
    // Cloud Map service ECS made for each (recorded when it appeared).
    let recorded = lab.ledger_resources("two-tier");
    for made in [
        "ecs_service ielts-prod-cluster/ielts-backend-service",
        "ecs_service ielts-prod-cluster/ielts-frontend-service",
        "cloudmap_service backend.ielts.local",
        "cloudmap_service frontend.ielts.local",
    ] {
        assert!(recorded.iter().any(|r| r == made), "{made} not recorded: {recorded:?}");
    }
    lab.run(&["cleanup", "two-tier", "--yes"]).code(0).stdout_contains("Everything the lab created is gone.");
    assert_eq!(inventory(&lab.acct, "", ""), BTreeSet::new());
    let namespaces =
        lab.acct.aws_json(["servicediscovery", "list-namespaces", "--query", "Namespaces[].Name"]);
    assert_eq!(namespaces, serde_json::json!([]));
}
