//! `labrunner import`: a Hugo section of plain pages (`tests/fixtures/import/orders-workshop`,
//! no labrunner metadata at all) becomes a lab whose pages differ from the source only by the
//! step comments, which lints clean, runs unattended in the sandbox and cleans up to nothing.
//! Plus the exit codes: findings (1), unusable input and refusals (2).

use std::path::{Path, PathBuf};

use crate::runner::Sandboxed;
use crate::support::{fixtures, LabTree, Test};

fn source() -> PathBuf {
    fixtures().join("import").join("orders-workshop")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The page with every inserted step comment (and the blank line after it) taken out.
fn without_comments(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(start) = rest.find("<!-- labrunner:step\n") {
        out.push_str(&rest[..start]);
        let end =
            rest[start..].find("-->\n\n").map(|i| start + i + "-->\n\n".len()).expect("a closed comment");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn a_plain_section_imports_lints_clean_runs_unattended_and_cleans_up() {
    let out = tempfile::Builder::new().prefix("labrunner-import-").tempdir().expect("temporary directory");
    let src = source();
    let run = Test::new()
        .args([
            "import".as_ref(),
            src.as_os_str(),
            "--id".as_ref(),
            "orders-demo".as_ref(),
            "--out".as_ref(),
            out.path().as_os_str(),
        ])
        .run();
    run.code(0)
        .stderr_empty()
        .stdout_contains("Imported 3 pages into ")
        .stdout_contains("    the-vpc (runs) · checks: command\n      creates: vpc ${CLUSTER_NAME}-vpc\n")
        .stdout_contains("orders-demo: 12 steps, 15 checks, 10 resources, 7 variables; nothing to review\n");

    let content = out.path().join("content").join("orders-demo");
    for page in ["_index.md", "10-foundations.md", "20-service.md"] {
        let written = read(&content.join(page));
        assert_eq!(without_comments(&written), read(&src.join(page)), "{page}: only comments were added");
    }

    // A step whose section carries the heading above it, with a resource named by its tag.
    let foundations = read(&content.join("10-foundations.md"));
    assert!(
        foundations.contains(
            "```\n\n<!-- labrunner:step\nid: the-vpc\ntitle: The VPC\nchecks:\n  - command:\n      run: \"aws ec2 describe-vpcs --filters Name=tag:Name,Values=${CLUSTER_NAME}-vpc --query 'Vpcs[].State' --output text\"\n      output_contains: available\n    label: \"VPC ${CLUSTER_NAME}-vpc is available\"\ncreates:\n  - vpc: { name: \"${CLUSTER_NAME}-vpc\" }\n-->\n\n## Build the network\n### The VPC\n"
        ),
        "{foundations}"
    );
    assert!(foundations.contains(
        "<!-- labrunner:step\nid: create-the-cluster\ntitle: Create the cluster\nidempotent: true\nchecks:\n  - cluster_active: { cluster: \"${CLUSTER_NAME}\" }\ncreates:\n  - ecs_cluster: { cluster: \"${CLUSTER_NAME}\" }\n-->\n"
    ));
    // Typed checks from the commands: the task definition read from the here-document the
    // page writes, the service tied to its task definition and its Cloud Map registry.
    let service = read(&content.join("20-service.md"));
    assert!(service.contains(
        "<!-- labrunner:step\nid: describe-the-task\ntitle: Describe the task\nchecks:\n  - task_definition: { family: orders-api, cpu: \"256\", memory: \"512\", network_mode: awsvpc, container_port: 8080 }\ncreates:\n  - task_definition: { family: orders-api }\n-->\n"
    ), "{service}");
    assert!(service.contains(
        "<!-- labrunner:step\nid: start-the-service\ntitle: Start the service\nchecks:\n  - service_stable: { cluster: \"${CLUSTER_NAME}\", service: orders-api, task_definition: orders-api }\n  - cloudmap_instances: { namespace: orders.internal, service: api }\ncreates:\n  - ecs_service: { cluster: \"${CLUSTER_NAME}\", service: orders-api }\n-->\n"
    ), "{service}");
    // Variables: the name set by hand is asked (the page's value offered), ids are looked up.
    let manifest = read(&out.path().join("labs").join("orders-demo.yaml"));
    for declared in [
        "  - name: ACCOUNT_ID\n    description: The AWS account the lab runs in (from your credentials).\n    from: account\n",
        "  - name: CLUSTER_NAME\n    description: The page sets it by hand (`export CLUSTER_NAME=orders-demo`); labrunner offers that value.\n    from: prompt\n    default: orders-demo\n",
        "    lookup: { vpc: { name: \"${CLUSTER_NAME}-vpc\" }, field: id }\n",
        "    lookup: { subnet: { vpc: \"${VPC_ID}\", cidr: 10.42.1.0/24 }, field: id }\n",
        "    lookup: { cloudmap_service: { namespace: orders.internal, name: api }, field: arn }\n",
    ] {
        assert!(manifest.contains(declared), "{declared}\nnot in:\n{manifest}");
    }

    Test::new()
        .args(["lint", "orders-demo"])
        .current_dir(out.path())
        .run()
        .code(0)
        .stdout("orders-demo: clean (12 steps, 15 checks)\n");

    let lab = Sandboxed::with_labs(out.path().join("labs"));
    lab.run(&["start", "orders-demo", "--auto", "--yes"])
        .code(0)
        .stdout_contains("✓ step the-vpc done")
        .stdout_contains("✓ step start-the-service done")
        .stdout_contains("✓ lab finished: 12 of 12 steps done, 0 skipped");
    let mut recorded = lab.ledger_resources("orders-demo");
    recorded.sort();
    let mut want = vec![
        "cloudmap_namespace orders.internal",
        "cloudmap_service api.orders.internal",
        "ecs_cluster orders-demo",
        "ecs_service orders-demo/orders-api",
        "iam_role orders-demo-execution",
        "log_group /ecs/orders-demo",
        "security_group orders-demo-tasks in ",
        "subnet 10.42.1.0/24 in ",
        "task_definition orders-api",
        "vpc orders-demo-vpc",
    ];
    want.sort();
    assert_eq!(recorded.len(), want.len(), "{recorded:?}");
    for (got, want) in recorded.iter().zip(&want) {
        assert!(got.starts_with(want), "{got} is not {want}…\n{recorded:?}");
    }
    lab.run(&["cleanup", "orders-demo", "--yes"])
        .code(0)
        .stdout_contains("Cleanup: 10 deleted, 0 already gone, 0 remaining.\n")
        .stdout_contains("\nEverything the lab created is gone.\n");
}

#[test]
fn what_cannot_be_inferred_is_a_finding_and_existing_labs_are_kept() {
    let tree = LabTree::new().file(
        "pages/net.md",
        "# Network\n\n## Make a VPC\n\n```bash\naws ec2 create-vpc --cidr-block 10.9.0.0/16\n```\n",
    );
    let import = |extra: &[&str]| {
        Test::new().args(["import", "pages/net.md", "--id", "net"]).args(extra).current_dir(&tree).run()
    };
    import(&[]).code(1).stdout_contains(
        "content/net/net.md:11:1: warning[import-no-name]: labrunner identifies a vpc by its `Name` tag, and this command gives none, so it is not declared for cleanup",
    )
    .stdout_contains("net: 1 step, 0 checks, 0 resources, 0 variables; 2 findings to review");
    // Lint sees what import reported (the step cannot be verified yet).
    Test::new().args(["lint", "net"]).current_dir(&tree).run().code(1).stdout_contains(
        "content/net/net.md:3:1: warning[step-without-checks]: step `make-a-vpc` runs commands but declares no checks",
    );
    import(&[]).code(2).stderr_contains("a lab with this id already exists: labs/net.yaml");
    import(&["--force"]).code(1);
    Test::new()
        .args(["import", "content/net", "--id", "net", "--force"])
        .current_dir(&tree)
        .run()
        .code(2)
        .stderr_contains("would be written over the pages being imported");
    Test::new().args(["import", "pages/net.md", "--id", "Bad_Id"]).current_dir(&tree).run().code(2);
    Test::new().args(["import", "no/such/dir", "--id", "x"]).current_dir(&tree).run().code(2);
}
