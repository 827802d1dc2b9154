//! `labrunner validate` and `labrunner preflight` against the sandbox: a class of student
//! accounts at different checkpoints, reached by AssumeRole from an instructor account; the
//! matrix, the three report formats, exit codes, and the session policy on every AssumeRole.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;

use crate::support::sandbox::{sandbox, TestAccount};

/// Tests that inject sandbox faults run one at a time.
static FAULTS: Mutex<()> = Mutex::new(());

fn labs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate/labs")
}

/// `labrunner <args>` with `who`'s credentials and the fixture labs.
fn labrunner(who: &TestAccount, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_labrunner"));
    who.apply(&mut cmd);
    cmd.arg("--labs-dir").arg(labs_dir()).arg("--color").arg("never").args(args).current_dir(who.home());
    cmd.output().expect("running labrunner")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds a student's lab state up to `steps` checkpoints (0..=4) with the aws CLI acting in
/// the student's account.
fn reach(student: &TestAccount, steps: usize) {
    let calls: [&[&str]; 4] = [
        &["ecs", "create-cluster", "--cluster-name", "class-demo-cluster"],
        &["logs", "create-log-group", "--log-group-name", "/ecs/class-demo"],
        &[
            "ecs",
            "register-task-definition",
            "--family",
            "class-demo-web",
            "--container-definitions",
            r#"[{"name":"web","image":"nginx","memory":128}]"#,
        ],
        &[
            "dynamodb",
            "create-table",
            "--table-name",
            "class-demo-items",
            "--attribute-definitions",
            "AttributeName=id,AttributeType=S",
            "--key-schema",
            "AttributeName=id,KeyType=HASH",
            "--billing-mode",
            "PAY_PER_REQUEST",
        ],
    ];
    for call in calls.iter().take(steps) {
        let out = student.aws(*call);
        assert!(out.status.success(), "{call:?}: {}", text(&out.stderr));
    }
}

/// moto's record of every AssumeRole: (account, session name, policy).
fn assumed_roles(who: &TestAccount) -> Vec<(String, String, Option<String>)> {
    let endpoint = who.env().into_iter().find(|(k, _)| k == "AWS_ENDPOINT_URL").unwrap().1;
    let out = Command::new(sandbox().venv_bin().join("python"))
        .args([
            "-c",
            "import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
            &format!("{endpoint}/moto-api/data.json"),
        ])
        .output()
        .unwrap();
    let data: serde_json::Value = serde_json::from_slice(&out.stdout).expect("data.json");
    data["sts"]["AssumedRole"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r["account_id"].as_str().unwrap_or_default().to_string(),
                r["session_name"].as_str().unwrap_or_default().to_string(),
                r["policy"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Every well-formedness a test needs of JUnit: tags open and close in order.
fn assert_balanced_xml(xml: &str) {
    let mut stack = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.ends_with('/') {
            continue;
        }
        let name = tag.trim_start_matches('/').split_whitespace().next().unwrap().to_string();
        if tag.starts_with('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "mismatched </{name}>");
        } else {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn a_class_at_different_checkpoints() {
    let sbx = sandbox();
    let instructor = sbx.account();
    let (done, half, fresh) = (sbx.account(), sbx.account(), sbx.account());
    reach(&done, 4);
    reach(&half, 2);
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("class.csv");
    std::fs::write(
        &class,
        format!(
            "account_id,name,email\n{},Ann,ann@example.com\n{},Bob,\n{},\"Cy, Jr.\",cy@example.com\n",
            done.account_id(),
            half.account_id(),
            fresh.account_id()
        ),
    )
    .unwrap();
    let class = class.to_str().unwrap();

    // The terminal matrix.
    let out =
        labrunner(&instructor, &["validate", "class-demo", "--accounts", class, "--role-name", "Teacher"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        rows[0].split_whitespace().collect::<Vec<_>>(),
        ["account", "name", "email", "cluster", "logs", "taskdef", "table", "web"]
    );
    let marks = |id: &str| -> Vec<String> {
        let row = rows.iter().find(|r| r.starts_with(id)).unwrap_or_else(|| panic!("no row {id}: {stdout}"));
        row.split_whitespace()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(marks(done.account_id()), ["✓", "✓", "✓", "✓", "–"]);
    assert_eq!(marks(half.account_id()), ["✓", "✓", "✗", "✗", "–"]);
    assert_eq!(marks(fresh.account_id()), ["✗", "✗", "✗", "✗", "–"]);
    assert!(stdout.contains("1/3 accounts complete; 2 incomplete; 0 errors"), "{stdout}");

    // Verbose: evidence and the reasons for not-checkable cells.
    let out = labrunner(&instructor, &["validate", "class-demo", "--accounts", class, "--verbose"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("WEB_URL is set by step `web`"), "{stdout}");
    assert!(stdout.contains("not run (command checks could write"), "{stdout}");

    // JSON on stdout, the matrix on stderr.
    let out = labrunner(&instructor, &["validate", "class-demo", "--accounts", class, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("1/3 accounts complete"), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(json["summary"]["complete"], 1);
    assert_eq!(json["accounts"][0]["name"], "Ann");
    assert_eq!(json["accounts"][0]["status"], "complete");
    assert_eq!(json["accounts"][1]["cells"][2]["checks"][0]["status"], "fail");
    assert_eq!(json["accounts"][1]["cells"][3]["checks"][1]["kind"], "command");
    assert_eq!(json["accounts"][2]["cells"][0]["checks"][0]["kind"], "cluster_active");

    // CSV to a file.
    let csv_path = dir.path().join("report.csv");
    let out = labrunner(
        &instructor,
        &[
            "validate",
            "class-demo",
            "--accounts",
            class,
            "--format",
            "csv",
            "--output",
            csv_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "account_id,name,email,status,cluster,logs,taskdef,table,web");
    assert_eq!(
        lines[1],
        format!("{},Ann,ann@example.com,complete,pass,pass,pass,pass,not_checkable", done.account_id())
    );
    assert_eq!(lines[2], format!("{},Bob,,incomplete,pass,pass,fail,fail,not_checkable", half.account_id()));
    assert_eq!(
        lines[3],
        format!(
            "{},\"Cy, Jr.\",cy@example.com,incomplete,fail,fail,fail,fail,not_checkable",
            fresh.account_id()
        )
    );

    // JUnit (format from the extension).
    let xml_path = dir.path().join("report.xml");
    let out = labrunner(
        &instructor,
        &["validate", "class-demo", "--accounts", class, "--output", xml_path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert_balanced_xml(&xml);
    assert_eq!(xml.matches("<testsuite ").count(), 3);
    assert_eq!(xml.matches("<testcase ").count(), 15);
    assert_eq!(xml.matches("<failure ").count(), 6, "{xml}");
    assert_eq!(xml.matches("<skipped ").count(), 3);
    assert!(xml.contains("failures=\"6\""), "{xml}");

    // Every AssumeRole into a student account carried the read-only session policy.
    let policy = labrunner::validate::policy::session_policy();
    let roles = assumed_roles(&instructor);
    for student in [&done, &half, &fresh] {
        let ours: Vec<_> =
            roles.iter().filter(|(a, s, _)| a == student.account_id() && s == "labrunner-validate").collect();
        assert_eq!(ours.len(), 5, "one AssumeRole per run into {}", student.account_id());
        assert!(ours.iter().all(|(_, _, p)| p.as_deref() == Some(policy.as_str())), "{ours:?}");
    }
}

#[test]
fn only_a_complete_class_exits_0() {
    let sbx = sandbox();
    let instructor = sbx.account();
    let students = [sbx.account(), sbx.account()];
    for s in &students {
        reach(s, 4);
    }
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("class.yaml");
    let yaml: String = students.iter().map(|s| format!("- account_id: \"{}\"\n", s.account_id())).collect();
    std::fs::write(&class, yaml).unwrap();
    let out = labrunner(
        &instructor,
        &["validate", "class-demo", "--accounts", class.to_str().unwrap(), "--concurrency", "1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("2/2 accounts complete; 0 incomplete; 0 errors"));
}

#[test]
fn an_account_whose_assume_role_fails_is_isolated() {
    let _one = FAULTS.lock().unwrap_or_else(|e| e.into_inner());
    let sbx = sandbox();
    let instructor = sbx.account();
    let (broken, fine) = (sbx.account(), sbx.account());
    reach(&fine, 4);
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("class.csv");
    std::fs::write(&class, format!("account_id\n{}\n{}\n", broken.account_id(), fine.account_id())).unwrap();
    // moto lets any role be assumed, so the refusal is injected, for the broken account's
    // role only: other tests assuming roles at the same time are not touched.
    let fault = sbx
        .control(
            "POST",
            "faults",
            Some(&serde_json::json!({
                "kind": "access_denied",
                "services": ["sts"],
                "actions": ["AssumeRole"],
                "match": format!("arn:aws:iam::{}:role/", broken.account_id()),
            })),
        )
        .unwrap();
    let out = labrunner(
        &instructor,
        &[
            "validate",
            "class-demo",
            "--accounts",
            class.to_str().unwrap(),
            "--concurrency",
            "1",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["accounts"][0]["status"], "error");
    assert_eq!(json["accounts"][0]["problem"]["kind"], "access_denied");
    assert!(json["accounts"][0]["problem"]["message"].as_str().unwrap().contains("could not assume"));
    assert_eq!(json["accounts"][1]["status"], "complete");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("1/2 accounts complete; 0 incomplete; 1 error"), "{stderr}");
    assert!(stderr.contains("    ! could not assume arn:aws:iam::"), "{stderr}");
    sbx.control("DELETE", "faults", Some(&serde_json::json!({"id": fault["id"]}))).unwrap();
}

#[test]
fn profiles_mode_and_a_profile_without_credentials() {
    let sbx = sandbox();
    let (ann, bob) = (sbx.account(), sbx.account());
    reach(&ann, 4);
    reach(&bob, 1);
    let runner = sbx.account();
    let creds = runner.home().join("credentials");
    let config = runner.home().join("config");
    let mut file = String::new();
    for (name, s) in [("ann", &ann), ("bob", &bob)] {
        file.push_str(&format!(
            "[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            s.access_key_id, s.secret_access_key, s.session_token
        ));
    }
    std::fs::write(&creds, file).unwrap();
    std::fs::write(&config, "[profile ann]\nregion = us-east-1\n[profile bob]\nregion = us-east-1\n")
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_labrunner"));
    runner.apply(&mut cmd);
    cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").env_remove("AWS_SESSION_TOKEN");
    cmd.env("AWS_SHARED_CREDENTIALS_FILE", &creds).env("AWS_CONFIG_FILE", &config);
    cmd.arg("--labs-dir").arg(labs_dir()).args([
        "--color",
        "never",
        "validate",
        "class-demo",
        "--profiles",
        "ann,bob,ghost",
    ]);
    let out = cmd.output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&format!("{}  ann", ann.account_id())), "{stdout}");
    assert!(stdout.contains(&format!("{}  bob", bob.account_id())), "{stdout}");
    let ghost = stdout.lines().find(|l| l.contains("ghost")).unwrap();
    assert!(ghost.contains('!'), "{stdout}");
    assert!(stdout.contains("1/3 accounts complete; 1 incomplete; 1 error"), "{stdout}");
}

#[test]
fn preflight_finds_leftovers() {
    let sbx = sandbox();
    let instructor = sbx.account();
    let (used, clean) = (sbx.account(), sbx.account());
    reach(&used, 2);
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("class.csv");
    std::fs::write(&class, format!("account_id\n{}\n{}\n", used.account_id(), clean.account_id())).unwrap();
    let out = labrunner(
        &instructor,
        &["validate", "class-demo", "--accounts", class.to_str().unwrap(), "--preflight", "-v"],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let row = |id: &str| {
        stdout.lines().find(|l| l.starts_with(id)).unwrap().split_whitespace().skip(1).collect::<Vec<_>>()
    };
    assert_eq!(row(used.account_id()), ["✓", "✓", "✓", "✓", "✗"], "{stdout}");
    assert_eq!(row(clean.account_id()), ["✓", "✓", "✓", "✓", "✓"], "{stdout}");
    assert!(stdout.contains("ecs_cluster class-demo-cluster exists already"), "{stdout}");
    assert!(stdout.contains("log_group /ecs/class-demo exists already"), "{stdout}");
    assert!(stdout.contains("1/2 accounts ready; 1 not ready; 0 errors"), "{stdout}");

    // The student's own check.
    let out = labrunner(&clean, &["preflight", "class-demo"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!(
            "Preflight for class-demo in account {} (us-east-1)\n✓ Region is set\n",
            clean.account_id()
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with("Ready to start.\n"), "{stdout}");
    let out = labrunner(&used, &["preflight", "class-demo"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("✗ No leftovers with the lab's names"), "{stdout}");
    assert!(stdout.contains("what to do: delete it first (labrunner cleanup class-demo --scan"), "{stdout}");
    assert!(stdout.ends_with("Not ready: 1 problem above.\n"), "{stdout}");
}

#[test]
fn bad_input_exits_2_and_unusable_credentials_exit_3() {
    let sbx = sandbox();
    let instructor = sbx.account();
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("class.csv");
    std::fs::write(&class, "account_id,name\n111111111111,Ann\n12345,Bob\n111111111111,Cy\n").unwrap();
    let out = labrunner(&instructor, &["validate", "class-demo", "--accounts", class.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let shown = class.display();
    assert!(stderr.contains(&format!("{shown}:3: account id `12345` is not 12 digits")), "{stderr}");
    assert!(
        stderr.contains(&format!("{shown}:4: account 111111111111 is listed twice (first on line 2)")),
        "{stderr}"
    );

    std::fs::write(&class, "account_id\n111111111111\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_labrunner"));
    instructor.apply(&mut cmd);
    cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").env_remove("AWS_SESSION_TOKEN");
    cmd.arg("--labs-dir").arg(labs_dir()).args([
        "validate",
        "class-demo",
        "--accounts",
        class.to_str().unwrap(),
    ]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}
