//! Safety: labrunner acts only where it says it acts, a resume never makes a second copy of
//! anything, and cleanup deletes only what the ledger recorded, by id. Each test is one of the
//! reproductions that once broke those promises, run against the sandbox in an account of its
//! own with a state directory of its own (issue: "Safety: a run never acts outside the account
//! and region shown ...").

use std::path::Path;

use serde_json::Value;

use crate::runner::{descendants, poll, Live, Sandboxed};
use crate::support::sandbox::{sandbox, TestAccount, REGION};

/// The ids of the VPCs named `name` in `acct` and `region`.
fn vpcs(acct: &TestAccount, region: &str, name: &str) -> Vec<String> {
    let out = acct.aws_json([
        "ec2",
        "describe-vpcs",
        "--region",
        region,
        "--filters",
        &format!("Name=tag:Name,Values={name}"),
        "--query",
        "Vpcs[].VpcId",
    ]);
    let mut ids: Vec<String> =
        out.as_array().expect("a list").iter().map(|v| v.as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

/// Whether the log group `name` exists in `acct` and `region`.
fn log_group(acct: &TestAccount, region: &str, name: &str) -> bool {
    let out =
        acct.aws_json(["logs", "describe-log-groups", "--region", region, "--log-group-name-prefix", name]);
    out["logGroups"].as_array().expect("logGroups").iter().any(|g| g["logGroupName"] == name)
}

/// A hand-made VPC called `name`: not the lab's.
fn hand_made_vpc(acct: &TestAccount, name: &str) -> String {
    let out = acct.aws_json([
        "ec2",
        "create-vpc",
        "--cidr-block",
        "10.50.0.0/16",
        "--tag-specifications",
        &format!("ResourceType=vpc,Tags=[{{Key=Name,Value={name}}}]"),
    ]);
    out["Vpc"]["VpcId"].as_str().expect("VpcId").to_string()
}

/// The ids the ledger of `lab` records, in order.
fn ledger_ids(lab: &Sandboxed, id: &str) -> Vec<String> {
    let ledger = lab.ledger(id);
    ledger["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["ids"]["id"].as_str().or_else(|| e["ids"]["arn"].as_str()).map(str::to_string))
        .collect()
}

/// A sandbox fault for this account only (its access key), removed when dropped.
struct Fault(Value);

impl Fault {
    fn inject(acct: &TestAccount, rule: Value) -> Fault {
        let mut rule = rule;
        rule["match"] = Value::String(acct.access_key_id.clone());
        Fault(sandbox().control("POST", "faults", Some(&rule)).expect("fault rule"))
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        let _ = sandbox().control("DELETE", "faults", Some(&serde_json::json!({"id": self.0["id"]})));
    }
}

// ---------------------------------------------------------------------------------------
// 1. Where: --region and --profile reach every command.

#[test]
fn a_region_on_the_command_line_reaches_an_aws_cli_that_reads_only_aws_default_region() {
    let lab = Sandboxed::fixture();
    // The environment says us-east-1 the CLI-v1 way only; the command line says us-west-2.
    let args = ["--region", "us-west-2", "start", "rt-vpc", "--auto", "--yes"];
    let mut cmd = lab.command(&args);
    cmd.env_remove("AWS_REGION").env("AWS_DEFAULT_REGION", REGION);
    let run = crate::runner::outcome(&args, cmd);
    run.code(0)
        .stderr_contains("Region: us-west-2\n")
        // Both variables: CLI v1 reads AWS_DEFAULT_REGION, v2 AWS_REGION first.
        .stdout_contains("region=us-west-2 default=us-west-2 vpc=vpc-");
    assert_eq!(vpcs(&lab.acct, "us-west-2", "rt-vpc").len(), 1);
    assert!(vpcs(&lab.acct, REGION, "rt-vpc").is_empty(), "nothing may land in the environment's region");
    assert!(log_group(&lab.acct, "us-west-2", "/rt/vpc"));
    assert!(!log_group(&lab.acct, REGION, "/rt/vpc"));
    let ledger_dir = lab.state().join("rt-vpc").join(format!("{}-us-west-2", lab.acct.account_id()));
    let ledger = crate::runner::read_json(&ledger_dir.join("ledger.json"));
    assert_eq!(ledger["region"], "us-west-2");
    assert_eq!(ledger["entries"].as_array().unwrap().len(), 2);
}

#[test]
fn a_profile_wins_over_credentials_in_the_environment_and_brings_its_region() {
    let lab = Sandboxed::fixture();
    let other = sandbox().account();
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, credentials) = (dir.path().join("config"), dir.path().join("credentials"));
    std::fs::write(&config, "[profile probe]\nregion = eu-west-1\n").unwrap();
    std::fs::write(
        &credentials,
        format!(
            "[probe]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            other.access_key_id, other.secret_access_key, other.session_token
        ),
    )
    .unwrap();
    let args = ["--profile", "probe", "start", "rt-vpc", "--auto", "--yes"];
    let mut cmd = lab.command(&args);
    // The environment holds this test's own account and no region at all.
    cmd.env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
    let run = crate::runner::outcome(&args, cmd);
    run.code(0)
        .stderr_contains(&format!("Account: {}\n", other.account_id()))
        .stderr_contains("Region: eu-west-1\n")
        .stdout_contains("region=eu-west-1 default=eu-west-1 vpc=vpc-");
    assert_eq!(vpcs(&other, "eu-west-1", "rt-vpc").len(), 1, "created with the profile's identity");
    assert!(vpcs(&lab.acct, "eu-west-1", "rt-vpc").is_empty(), "never with the environment's keys");
    assert!(vpcs(&lab.acct, REGION, "rt-vpc").is_empty());
}

// ---------------------------------------------------------------------------------------
// 2. A kill between a step's command and its checks, then resume.

/// Starts rt-vpc slowly (temporary files in `tmp`) and waits until the VPC exists and the
/// block sleeps, then kills labrunner with SIGKILL.
fn killed_after_the_vpc(lab: &Sandboxed, tmp: &Path) -> (Vec<u32>, String) {
    let args = ["start", "rt-vpc", "--auto", "--yes"];
    let mut cmd = lab.command(&args);
    cmd.env("RT_SLOW", "1").env("TMPDIR", tmp);
    let mut live = Live::spawn(&args, cmd);
    let pid = live.pid();
    live.wait_until("the block's `sleep 30` after create-vpc", |_| {
        descendants(pid).iter().any(|(_, argv)| argv == &["sleep", "30"])
    });
    let below: Vec<u32> = descendants(pid).into_iter().map(|(p, _)| p).collect();
    let made = vpcs(&lab.acct, REGION, "rt-vpc");
    assert_eq!(made.len(), 1);
    live.signal(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(live.finish().code, -9);
    (below, made[0].clone())
}

#[test]
fn sigkill_after_create_then_resume_makes_no_second_copy_and_leaves_nothing_running() {
    let lab = Sandboxed::fixture();
    let tmp = tempfile::tempdir().expect("temp dir");
    let (below, vpc) = killed_after_the_vpc(&lab, tmp.path());
    // Nothing of the block runs on after labrunner died.
    poll(
        "the killed run's block to end",
        || below.iter().copied().filter(|p| crate::runner::alive(*p)).collect::<Vec<_>>(),
        Vec::is_empty,
    );
    // What the step may have created is findable: an intent, or the VPC itself.
    let progress = lab.progress("rt-vpc");
    assert_eq!(progress["current"], "make-vpc");
    assert_eq!(progress["commands_began"], true);
    let ledger = lab.ledger("rt-vpc");
    assert!(
        ledger["entries"].as_array().unwrap().iter().any(|e| e["resource"]["vpc"]["name"] == "rt-vpc"),
        "{ledger}"
    );
    // No file labrunner leaves (state, work directory, temporary files) holds the run's
    // credentials.
    assert_no_secret(lab.state(), &lab.acct);
    assert_no_secret(tmp.path(), &lab.acct);

    let run = lab.run(&["resume", "rt-vpc", "--auto", "--yes"]);
    run.code(0).stdout_lacks("▶ block 1: export VPC_ID");
    assert_eq!(vpcs(&lab.acct, REGION, "rt-vpc"), std::slice::from_ref(&vpc), "no second VPC");
    assert!(ledger_ids(&lab, "rt-vpc").contains(&vpc));

    lab.run(&["cleanup", "rt-vpc", "--yes"]).code(0);
    assert!(vpcs(&lab.acct, REGION, "rt-vpc").is_empty());
}

/// Fails if any file under `dir` holds the account's secret key or session token.
fn assert_no_secret(dir: &Path, acct: &TestAccount) {
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&acct.secret_access_key), "secret key in {}", entry.display());
        assert!(!text.contains(&acct.session_token), "session token in {}", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

// ---------------------------------------------------------------------------------------
// 3 and 4. Cleanup deletes by recorded id, never a same-named resource.

#[test]
fn a_hand_made_vpc_with_the_labs_name_is_never_recorded_or_deleted() {
    let lab = Sandboxed::fixture();
    let theirs = hand_made_vpc(&lab.acct, "rt-vpc");
    let marker = tempfile::tempdir().expect("temp dir");
    let once = marker.path().join("failed-once");
    let args = ["start", "rt-vpc", "--auto", "--yes"];
    let mut cmd = lab.command(&args);
    cmd.env("RT_FAIL_ONCE", &once);
    crate::runner::outcome(&args, cmd).code(1).stdout_contains("failing once after the VPC was made");
    let ours: Vec<String> = vpcs(&lab.acct, REGION, "rt-vpc").into_iter().filter(|v| v != &theirs).collect();
    assert_eq!(ours.len(), 1);
    let ours = ours[0].clone();

    let mut cmd = lab.command(&["resume", "rt-vpc", "--auto", "--yes"]);
    cmd.env("RT_FAIL_ONCE", &once);
    crate::runner::outcome(&["resume"], cmd).code(0);
    let recorded = ledger_ids(&lab, "rt-vpc");
    assert!(recorded.contains(&ours), "{recorded:?}");
    assert!(!recorded.contains(&theirs), "the hand-made VPC was recorded: {recorded:?}");
    assert_eq!(vpcs(&lab.acct, REGION, "rt-vpc").len(), 2, "no third VPC");

    lab.run(&["cleanup", "rt-vpc", "--dry-run"]).code(0).stdout_contains(&ours).stdout_lacks(&theirs);
    lab.run(&["cleanup", "rt-vpc", "--yes"]).code(0);
    assert_eq!(vpcs(&lab.acct, REGION, "rt-vpc"), [theirs], "only the lab's VPC is gone");
}

#[test]
fn cleanup_goes_by_the_recorded_id_and_leaves_a_same_named_vpc_alone() {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-vpc", "--auto", "--yes"]).code(0);
    let ours = vpcs(&lab.acct, REGION, "rt-vpc");
    assert_eq!(ours.len(), 1);
    // The lab's VPC goes behind labrunner's back; an empty one with the same name appears.
    let deleted = lab.acct.aws(["ec2", "delete-vpc", "--vpc-id", &ours[0]]);
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    let theirs = hand_made_vpc(&lab.acct, "rt-vpc");

    let run = lab.run(&["cleanup", "rt-vpc", "--yes"]);
    run.code(0).stdout_contains(&format!("  already gone  vpc rt-vpc ({})\n", ours[0]));
    assert_eq!(vpcs(&lab.acct, REGION, "rt-vpc"), [theirs]);
    assert!(lab.ledger("rt-vpc")["entries"].as_array().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// 5. Errors while re-checking are "could not check", never drift.

#[test]
fn throttling_and_5xx_during_resumes_recheck_rerun_nothing() {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-vpc", "--auto", "--yes"]).code(0);
    let vpc = vpcs(&lab.acct, REGION, "rt-vpc");
    // Make the lab unfinished again so that resume re-checks the finished steps.
    let progress_path = lab.run_dir("rt-vpc").join("progress.json");
    let mut progress = lab.progress("rt-vpc");
    progress["finished"].as_array_mut().unwrap().retain(|r| r["step"] == "make-vpc");
    std::fs::write(&progress_path, progress.to_string()).unwrap();
    let faults = [
        Fault::inject(&lab.acct, serde_json::json!({"kind": "error5xx", "services": ["ec2"], "status": 503})),
        Fault::inject(&lab.acct, serde_json::json!({"kind": "throttle", "services": ["ec2"]})),
    ];
    let run = lab.run(&["resume", "rt-vpc", "--auto", "--yes"]);
    drop(faults);
    run.code(0)
        .stdout_contains("step make-vpc could not be checked again; it stays done and nothing is re-run")
        .stdout_lacks("no longer checks out")
        .stdout_lacks("▶ block 1: export VPC_ID");
    assert_eq!(vpcs(&lab.acct, REGION, "rt-vpc"), vpc, "no second VPC");
}

#[test]
fn definite_drift_of_a_step_whose_resources_exist_is_not_rerun_unattended() {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-vpc", "--auto", "--yes"]).code(0);
    let vpc = vpcs(&lab.acct, REGION, "rt-vpc");
    let off = lab.acct.aws([
        "ec2",
        "modify-vpc-attribute",
        "--vpc-id",
        &vpc[0],
        "--enable-dns-support",
        r#"{"Value":false}"#,
    ]);
    assert!(off.status.success(), "{}", String::from_utf8_lossy(&off.stderr));
    let run = lab.run(&["resume", "rt-vpc", "--auto", "--yes"]);
    run.code(1)
        .stdout_contains("step make-vpc no longer checks out")
        .stdout_contains("step make-vpc ran before; of what it creates, these exist now:")
        .stdout_contains(&format!("    vpc rt-vpc ({})", vpc[0]))
        .stdout_contains("step `make-vpc` is not run again unattended");
    assert_eq!(vpcs(&lab.acct, REGION, "rt-vpc"), vpc, "no second VPC");
}

// ---------------------------------------------------------------------------------------
// 6. Lost progress with a full ledger: rebuilt by checking, nothing re-run.

#[test]
fn a_truncated_progress_file_with_a_full_ledger_is_rebuilt_by_checking() {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-vpc", "--auto", "--yes"]).code(0);
    let vpc = vpcs(&lab.acct, REGION, "rt-vpc");
    let progress_path = lab.run_dir("rt-vpc").join("progress.json");
    let text = std::fs::read_to_string(&progress_path).unwrap();
    std::fs::write(&progress_path, &text[..text.len() / 2]).unwrap();

    // status only reads: the broken file stays where it is, untouched.
    lab.run(&["status", "rt-vpc"]).code(0).stdout_contains("progress file cannot be read");
    assert_eq!(std::fs::read_to_string(&progress_path).unwrap(), &text[..text.len() / 2]);
    assert_eq!(std::fs::read_dir(lab.run_dir("rt-vpc")).unwrap().count(), 5, "no file moved or added");

    let run = lab.run(&["resume", "rt-vpc", "--auto", "--yes"]);
    run.code(0)
        .stderr_contains("progress is rebuilt by checking each step against the account")
        .stdout_contains("progress rebuilt from the account and the cleanup ledger: all 2 step(s) check out")
        .stdout_lacks("▶ block");
    assert_eq!(vpcs(&lab.acct, REGION, "rt-vpc"), vpc);
    assert!(lab.progress("rt-vpc")["finished"].as_array().unwrap().len() == 2);
}

// ---------------------------------------------------------------------------------------
// 7. Refusals that name where the lab's state is.

#[test]
fn resume_and_cleanup_elsewhere_refuse_with_exit_4_and_name_the_labs_account_and_region() {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-vpc", "--auto", "--yes"]).code(0);
    let other = sandbox().account();
    let run = lab.run_as(&other, &["resume", "rt-vpc", "--auto", "--yes"]);
    run.code(4).stderr_contains(&format!(
        "error: refusing to resume lab `rt-vpc` here: this lab's progress belongs to account {} in {REGION}, but the current credentials are for account {} in {REGION}",
        lab.acct.account_id(),
        other.account_id()
    ));
    assert!(
        !lab.state().join("rt-vpc").join(format!("{}-{REGION}", other.account_id())).exists(),
        "nothing is created for the other account"
    );
    lab.run_as(&other, &["cleanup", "rt-vpc", "--yes"]).code(4).stderr_contains(&format!(
        "this lab's cleanup ledger belongs to account {} in {REGION}",
        lab.acct.account_id()
    ));
    lab.run_as(&other, &["cleanup", "--all", "--yes"]).code(0).stdout_contains(&format!(
        "Lab `rt-vpc` has 2 resource(s) recorded in account {} in {REGION}",
        lab.acct.account_id()
    ));
    assert_eq!(vpcs(&lab.acct, REGION, "rt-vpc").len(), 1, "nothing deleted from elsewhere");
}

/// The ids of the internet gateways tagged `rt-igw`, attached or not.
fn gateways(acct: &TestAccount) -> Vec<String> {
    let out = acct.aws_json([
        "ec2",
        "describe-internet-gateways",
        "--filters",
        "Name=tag:Name,Values=rt-igw",
        "--query",
        "InternetGateways[].InternetGatewayId",
    ]);
    out.as_array().expect("a list").iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

#[test]
fn a_gateway_killed_before_it_was_attached_is_recorded_by_its_exported_id_and_never_made_twice() {
    let lab = Sandboxed::fixture();
    let args = ["start", "rt-igw", "--auto", "--yes"];
    let mut cmd = lab.command(&args);
    cmd.env("RT_SLOW", "1");
    let mut live = Live::spawn(&args, cmd);
    let pid = live.pid();
    live.wait_until("the block's `sleep 30` after create-internet-gateway", |_| {
        descendants(pid).iter().any(|(_, argv)| argv == &["sleep", "30"])
    });
    let made = gateways(&lab.acct);
    assert_eq!(made.len(), 1);
    live.signal(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(live.finish().code, -9);

    // The detached gateway matches no "attached to the VPC" lookup; the id the block exported
    // (kept when labrunner died) identifies it. Running the block again would make another.
    let run = lab.run(&["resume", "rt-igw", "--auto", "--yes"]);
    run.code(1).stdout_contains("step `attach-gateway` is not run again unattended");
    assert_eq!(gateways(&lab.acct), made, "no second gateway");
    assert!(ledger_ids(&lab, "rt-igw").contains(&made[0]), "the gateway is recorded by its id");

    lab.run(&["cleanup", "rt-igw", "--yes"]).code(0);
    assert!(gateways(&lab.acct).is_empty(), "nothing leaked");
}
