//! `list`, `show` and `lint` over the small labs in `tests/fixtures/catalog`:
//!
//! - `ecs-basics`: clean, two modules, four steps (one show-only, one console);
//! - `findings`: loads, but has an undeclared shell variable, an undeclared created resource,
//!   a hard-coded region and account id, and a step that runs commands without checks;
//! - `broken`: does not load (a typo in a step block).

use crate::support::{LabTree, Test};

fn catalog() -> LabTree {
    LabTree::fixture("catalog")
}

const FINDINGS: &str = "\
content/findings/01-deploy.md:11:1: warning[hard-coded-region]: region `eu-west-1` is hard-coded; use `${AWS_REGION}` so the lab works in any region
content/findings/01-deploy.md:11:1: warning[undeclared-resource]: `aws ecs create-cluster` creates a resource of type `ecs_cluster`, but step `make-cluster` does not declare it under `creates:`, so cleanup would miss it
content/findings/01-deploy.md:25:1: warning[hard-coded-account]: account id `123456789012` is hard-coded; use `${ACCOUNT_ID}` so the lab works in any account
content/findings/01-deploy.md:26:1: warning[undeclared-variable]: `$CONTAINERS` is used but never declared in the manifest or set by an earlier block; declare it under `variables:`
content/findings/01-deploy.md:29:1: warning[step-without-checks]: step `look-around` runs commands but declares no checks, so labrunner cannot verify it
";

// ---- list ----

#[test]
fn list_shows_every_lab_with_its_counts() {
    let out = Test::new().arg("list").current_dir(&catalog()).run();
    out.code(0).stderr_empty().stdout_starts_with(
        "\
LAB         TITLE                                                        MODULES  STEPS  TIME
broken      (cannot be loaded: 1 error(s); run `labrunner lint broken`)        -      -  -
ecs-basics  ECS basics                                                         2      4  30 minutes
            cost: Under one dollar if you clean up the same day
findings    A lab with findings                                                1      3  -

Built into labrunner ",
    );
    // The labs shipped with labrunner follow, from any directory, with their time and cost.
    out.stdout_contains("\nflask-inventory ").stdout_contains("  3 hours\n").stdout_contains("  cost: ");
}

#[test]
fn list_of_an_empty_labs_directory() {
    let tree = LabTree::new().dir("labs");
    // Only the built-in labs.
    Test::new()
        .arg("list")
        .current_dir(&tree)
        .run()
        .code(0)
        .stderr_empty()
        .stdout_starts_with("LAB ")
        .stdout_contains("\nflask-inventory ");
    Test::new()
        .args(["--labs-dir", "labs", "list"])
        .current_dir(&tree)
        .run()
        .code(0)
        .stdout("No labs in labs.\n");
}

#[test]
fn list_without_a_labs_directory() {
    // Anywhere, the built-in labs are there; a labs directory that was asked for must exist.
    Test::new().arg("list").run().code(0).stdout_contains("\nflask-inventory ");
    Test::new().args(["--labs-dir", "labs", "list"]).run().code(2).stdout_empty().stderr(
        "error: no labs directory at labs\n  \
         hint: pass --labs-dir DIR (or set LABRUNNER_LABS) to a directory of lab manifests\n",
    );
}

#[test]
fn labs_dir_from_the_option_and_the_environment() {
    let tree = LabTree::new()
        .file(
            "workshop/labs/tiny.yaml",
            "format: 1\nid: tiny\ntitle: Tiny\nsummary: One page.\nmodules:\n  - 01.md\n",
        )
        .file("workshop/content/tiny/01.md", "# One\n\nJust words.\n");
    // A page of prose is one reading step.
    let want = "LAB   TITLE  MODULES  STEPS  TIME\ntiny  Tiny         1      1  -\n";
    Test::new().args(["--labs-dir", "workshop/labs", "list"]).current_dir(&tree).run().code(0).stdout(want);
    Test::new()
        .arg("list")
        .env("LABRUNNER_LABS", "workshop/labs")
        .current_dir(&tree)
        .run()
        .code(0)
        .stdout(want);
}

// ---- show ----

#[test]
fn show_a_lab() {
    let out = Test::new().args(["show", "ecs-basics"]).current_dir(&catalog()).run();
    out.code(0).stderr_empty();
    out.stdout_starts_with(
        "ECS basics\n══════════\n\nCreate a cluster, run a small web service on it, and open it in a browser.\n",
    )
    .stdout_contains("Developers new to Amazon ECS")
    .stdout_contains("30 minutes")
    .stdout_contains("Under one dollar if you clean up the same day")
    .stdout_contains("(2 modules, 4 steps)")
    .stdout_contains("An AWS account you may create resources in")
    .stdout_contains("basics-cluster")
    .stdout_contains("Module 1/2 · The cluster\n")
    .stdout_contains("A cluster groups the capacity your tasks run on.")
    .stdout_contains("Step 1/4 · Create the cluster ")
    .stdout_contains("cluster ${CLUSTER} is ACTIVE")
    .stdout_contains("Step 2/4 · Look at the cluster ")
    .stdout_contains("Module 2/2 · The web service\n")
    .stdout_contains("Step 3/4 · Run the service ")
    .stdout_contains("service ${SERVICE} is stable")
    .stdout_contains("up to 10m")
    .stdout_contains("service ${SERVICE} runs 2 task(s)")
    .stdout_contains("1 hint available when a check fails.")
    .stdout_contains("Step 4/4 · Open the site ")
    .stdout_contains("Console step: you do this one by hand in the AWS console.\n")
    .stdout_contains("GET http://${SITE_URL}/ answers 200")
    .stdout_lacks("labrunner:step")
    .stdout_lacks("-->");
    let order = ["Module 1/2", "Step 1/4", "Step 2/4", "Module 2/2", "Step 3/4", "Step 4/4"];
    let positions: Vec<usize> = order.iter().map(|s| out.stdout.find(s).expect("present")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of order: {positions:?}\n{}", out.stdout);
}

#[test]
fn show_one_step() {
    Test::new()
        .args(["show", "ecs-basics", "--step", "inspect-cluster"])
        .current_dir(&catalog())
        .run()
        .code(0)
        .stderr_empty()
        .stdout(
            "
Step 2/4 · Look at the cluster ─────────────────────── [inspect-cluster]
Shown, not verified: labrunner runs and checks nothing here.

Describe the cluster and read its status.

  bash · shown only, not run
    aws ecs describe-clusters --clusters \"$CLUSTER\" --query 'clusters[0].status'
",
        );
}

#[test]
fn show_an_unknown_step_lists_the_steps() {
    Test::new()
        .args(["show", "ecs-basics", "--step", "nope"])
        .current_dir(&catalog())
        .run()
        .code(2)
        .stdout_empty()
        .stderr(
            "error: lab `ecs-basics` has no step `nope`\n  \
             hint: its steps are: create-cluster, inspect-cluster, run-service, open-site\n",
        );
}

#[test]
fn show_an_unknown_lab_lists_the_labs() {
    Test::new()
        .args(["show", "nope"])
        .current_dir(&catalog())
        .run()
        .code(2)
        .stdout_empty()
        .stderr_starts_with("error: no lab `nope` in labs\n  hint: labs available: broken, ecs-basics, findings, ecs-on-ec2, flask-inventory, ");
}

#[test]
fn show_an_unknown_lab_without_labs_says_where_to_look() {
    Test::new().args(["show", "nope"]).run().code(2).stdout_empty().stderr_starts_with(
        "error: no lab `nope` in labs\n  hint: labs available: ecs-on-ec2, flask-inventory, ",
    );
    Test::new().args(["--labs-dir", "labs", "show", "nope"]).run().code(2).stdout_empty().stderr(
        "error: no lab `nope` in labs\n  \
         hint: point labrunner at your labs with --labs-dir DIR or LABRUNNER_LABS (default ./labs)\n",
    );
}

#[test]
fn show_a_lab_by_manifest_path() {
    Test::new()
        .args(["show", "labs/ecs-basics.yaml", "--step", "open-site"])
        .current_dir(&catalog())
        .run()
        .code(0)
        .stderr_empty()
        .stdout_contains("Step 4/4 · Open the site ")
        .stdout_lacks("Step 3/4");
}

// ---- lint ----

#[test]
fn lint_a_clean_lab() {
    Test::new()
        .args(["lint", "ecs-basics"])
        .current_dir(&catalog())
        .run()
        .code(0)
        .stderr_empty()
        .stdout("ecs-basics: clean (4 steps, 4 checks)\n");
}

#[test]
fn lint_findings() {
    Test::new()
        .args(["lint", "findings"])
        .current_dir(&catalog())
        .run()
        .code(1)
        .stderr_empty()
        .stdout(&format!("{FINDINGS}findings: 5 findings\n"));
}

#[test]
fn lint_a_manifest_path_is_the_same_as_its_id() {
    Test::new()
        .args(["lint", "labs/findings.yaml"])
        .current_dir(&catalog())
        .run()
        .code(1)
        .stdout(&format!("{FINDINGS}findings: 5 findings\n"));
}

#[test]
fn lint_every_lab() {
    Test::new().arg("lint").current_dir(&catalog()).run().code(2).stderr_empty().stdout(&format!(
        "content/broken/01-typo.md:5:1: error: unknown field `chekcs`, expected one of `id`, `title`, `mode`, `checks`, `creates`, `aws_creates`, `hints`, `idempotent`\n\
         broken: unusable, 1 error(s)\n\
         ecs-basics: clean (4 steps, 4 checks)\n\
         {FINDINGS}findings: 5 findings\n"
    ));
}

#[test]
fn lint_json_findings() {
    let out = Test::new().args(["lint", "findings", "--format", "json"]).current_dir(&catalog()).run();
    out.code(1).stderr_empty();
    let doc = out.json();
    assert_eq!(doc["errors"], 0);
    assert_eq!(doc["findings"], 5);
    let reports = doc["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r["target"], "findings");
    assert_eq!(r["steps"], 3);
    assert_eq!(r["checks"], 2);
    assert_eq!(r["errors"], serde_json::json!([]));
    let got: Vec<(String, u64, u64, String)> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().expect("file").to_string(),
                f["line"].as_u64().expect("line"),
                f["column"].as_u64().expect("column"),
                f["rule"].as_str().expect("rule").to_string(),
            )
        })
        .collect();
    let want = [
        (11, "hard-coded-region"),
        (11, "undeclared-resource"),
        (25, "hard-coded-account"),
        (26, "undeclared-variable"),
        (29, "step-without-checks"),
    ];
    let want: Vec<(String, u64, u64, String)> = want
        .iter()
        .map(|(line, rule)| ("content/findings/01-deploy.md".to_string(), *line, 1, rule.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        r["findings"][3]["message"],
        "`$CONTAINERS` is used but never declared in the manifest or set by an earlier block; declare it under `variables:`"
    );
}

#[test]
fn lint_json_clean() {
    let out = Test::new().args(["lint", "ecs-basics", "--format", "json"]).current_dir(&catalog()).run();
    out.code(0).stderr_empty();
    assert_eq!(
        out.json(),
        serde_json::json!({
            "errors": 0,
            "findings": 0,
            "reports": [{"target": "ecs-basics", "errors": [], "findings": [], "steps": 4, "checks": 4}],
        })
    );
}

#[test]
fn lint_json_errors() {
    let out = Test::new().args(["lint", "broken", "--format", "json"]).current_dir(&catalog()).run();
    out.code(2).stderr_empty();
    assert_eq!(
        out.json(),
        serde_json::json!({
            "errors": 1,
            "findings": 0,
            "reports": [{
                "target": "broken",
                "errors": [{
                    "file": "content/broken/01-typo.md",
                    "line": 5,
                    "column": 1,
                    "message": "unknown field `chekcs`, expected one of `id`, `title`, `mode`, `checks`, `creates`, `aws_creates`, `hints`, `idempotent`",
                    "hint": null,
                }],
                "findings": [],
                "steps": 0,
                "checks": 0,
            }],
        })
    );
}

#[test]
fn lint_a_single_page() {
    // A page on its own is linted as the lab it makes: every rule applies, as it would in a
    // lab (here, variables a manifest would declare are not declared).
    Test::new().args(["lint", "content/findings/01-deploy.md"]).current_dir(&catalog()).run().code(1).stderr_empty()
        .stdout(
            "content/findings/01-deploy.md:11:1: warning[undeclared-resource]: `aws ecs create-cluster` creates a resource of type `ecs_cluster`, but step `make-cluster` does not declare it under `creates:`, so cleanup would miss it\n\
             content/findings/01-deploy.md:26:1: warning[undeclared-variable]: `$CONTAINERS` is used but never declared in the manifest or set by an earlier block; declare it under `variables:`\n\
             content/findings/01-deploy.md:29:1: warning[step-without-checks]: step `look-around` runs commands but declares no checks, so labrunner cannot verify it\n\
             content/findings/01-deploy.md:35:1: warning[undeclared-variable]: `$ACCOUNT_ID` is used but never declared in the manifest or set by an earlier block; declare it under `variables:`\n\
             content/findings/01-deploy.md: 4 findings\n",
        );
}

#[test]
fn lint_a_clean_page_and_a_directory_of_pages() {
    Test::new()
        .args(["lint", "content/ecs-basics/02-service.md"])
        .current_dir(&catalog())
        .run()
        .code(0)
        .stdout("content/ecs-basics/02-service.md: clean (2 steps, 3 checks)\n");
    Test::new()
        .args(["lint", "content/ecs-basics"])
        .current_dir(&catalog())
        .run()
        .code(0)
        .stderr_empty()
        // A directory of pages is one lab, its pages in order.
        .stdout("content/ecs-basics: clean (4 steps, 4 checks)\n");
}

#[test]
fn lint_a_broken_page() {
    Test::new().args(["lint", "content/broken/01-typo.md"]).current_dir(&catalog()).run().code(2).stdout(
        "content/broken/01-typo.md:5:1: error: unknown field `chekcs`, expected one of `id`, `title`, `mode`, `checks`, `creates`, `aws_creates`, `hints`, `idempotent`\n\
         content/broken/01-typo.md: unusable, 1 error(s)\n",
    );
}

#[test]
fn lint_a_missing_page() {
    Test::new()
        .args(["lint", "nope.md"])
        .current_dir(&catalog())
        .run()
        .code(2)
        .stdout_empty()
        .stderr("error: no such page: nope.md\n  hint: check the path\n");
}

#[test]
fn lint_with_no_labs() {
    Test::new().arg("lint").current_dir(&LabTree::new().dir("labs")).run().code(2).stdout_empty().stderr(
        "error: no labs to lint in labs\n  \
         hint: name a lab, a manifest, a page or a directory, or pass --labs-dir DIR\n",
    );
}

#[test]
fn lint_an_unknown_lab() {
    Test::new()
        .args(["lint", "nope"])
        .current_dir(&catalog())
        .run()
        .code(2)
        .stdout_empty()
        .stderr_starts_with("error: no lab `nope` in labs\n  hint: labs available: broken, ecs-basics, findings, ecs-on-ec2, flask-inventory, ");
}

#[test]
fn lint_reads_nothing_from_stdin() {
    // Lint never prompts: input on stdin changes nothing.
    Test::new()
        .args(["lint", "ecs-basics"])
        .stdin("y\nq\n")
        .current_dir(&catalog())
        .run()
        .code(0)
        .stdout("ecs-basics: clean (4 steps, 4 checks)\n");
}

// ---- shell integration ----

#[test]
fn completions_and_the_manual_page_are_generated_from_the_commands() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        Test::new().args(["completions", shell]).run().code(0).stdout_contains("resume");
    }
    Test::new().arg("man").run().code(0).stdout_starts_with(".ie").stdout_contains("labrunner\\-start");
}

#[test]
fn show_commands_prints_only_the_commands_raw() {
    Test::new()
        .args(["show", "ecs-basics", "--step", "inspect-cluster", "--commands"])
        .current_dir(&catalog())
        .run()
        .code(0)
        .stdout("aws ecs describe-clusters --clusters \"$CLUSTER\" --query 'clusters[0].status'\n");
}

// ---- help ----

#[test]
fn every_subcommand_has_help_with_an_example() {
    let commands = [
        "list",
        "show",
        "import",
        "lint",
        "verify",
        "start",
        "resume",
        "status",
        "reset",
        "cleanup",
        "validate",
        "preflight",
        "env",
        "completions",
        "man",
    ];
    for command in commands {
        let out = Test::new().args([command, "--help"]).run();
        out.code(0).stderr_empty().stdout_contains("Example:\n  labrunner ");
        out.stdout_contains(&format!("Usage: labrunner {command}"));
    }
}

#[test]
fn an_unknown_argument_is_a_usage_error() {
    let out = Test::new().args(["lint", "--frobnicate"]).run();
    out.code(2).stdout_empty().stderr_contains("--frobnicate");
}

// ---- AWS configuration errors ----

#[test]
fn no_credentials_is_exit_3_with_a_sign_in_hint() {
    let out = Test::new()
        .args(["start", "ecs-basics", "--auto", "--yes"])
        .env("AWS_REGION", "eu-west-1")
        .current_dir(&catalog())
        .run();
    out.code(3).stdout_empty().stderr_starts_with("error: AWS credentials are missing, invalid or expired: ");
    out.stderr_contains(
        "  hint: sign in again (for SSO: `aws sso login --profile NAME`), or pass --profile; check with `aws sts get-caller-identity`\n",
    );
}

#[test]
fn no_region_is_exit_3_with_a_hint() {
    Test::new()
        .args(["cleanup", "ecs-basics", "--yes"])
        .current_dir(&catalog())
        .run()
        .code(3)
        .stdout_empty()
        .stderr("error: no AWS region is set\n  hint: pass --region, set AWS_REGION, or set a region in your AWS profile\n");
}
