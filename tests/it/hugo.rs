//! Real workshop pages, written for Hugo and without any labrunner metadata, still make a lab:
//! each section of a page (at its headings) becomes a show-only step with no checks, its shell
//! blocks shown to copy, and front matter, notices, tabs, images and tables load and show
//! without Hugo syntax leaking through. The pages are in `tests/fixtures/hugo/content/orders-workshop/`.

use std::path::Path;

use labrunner::lab::{load_lab, ShellBlock, StepMode};

use crate::support::{LabTree, Test};

const MODULES: [&str; 3] =
    ["1-setup/1.1-environment.md", "2-service/2.1-task-definition.md", "2-service/2.2-create-service.md"];

fn workshop() -> LabTree {
    LabTree::fixture("hugo")
}

/// Each shell fence of a page as (1-based line of the fence, code inside it).
fn shell_blocks(page: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    let mut in_other = false;
    for (n, line) in page.lines().enumerate() {
        match (&mut open, line.starts_with("```")) {
            (Some(_), true) => blocks.extend(open.take()),
            (Some((_, code)), false) => {
                code.push_str(line);
                code.push('\n');
            }
            (None, true) if in_other => in_other = false,
            (None, true) if matches!(line.trim_end(), "```bash" | "```sh") => {
                open = Some((n + 1, String::new()))
            }
            (None, true) => in_other = true,
            (None, false) => {}
        }
    }
    blocks
}

#[test]
fn each_section_becomes_a_show_only_step_with_its_shell_blocks() {
    let tree = workshop();
    let lab = load_lab(&tree.path().join("labs/orders-workshop.yaml")).expect("the workshop loads");

    let titles: Vec<(&str, Option<i64>)> = lab.modules.iter().map(|m| (m.title.as_str(), m.weight)).collect();
    assert_eq!(
        titles,
        [
            ("Prepare your environment", Some(1)),
            ("Register the task definition", Some(1)),
            ("Create the service", Some(2))
        ]
    );

    // Ids come from the page's path in the lab, so two `_index.md` never collide.
    let steps: Vec<(&str, &str)> = lab.steps().map(|(_, s)| (s.id.as_str(), s.title.as_str())).collect();
    assert_eq!(
        steps,
        [
            ("1-setup-1-1-environment-1", "Check the AWS CLI"),
            ("1-setup-1-1-environment-2", "Set the working variables"),
            ("2-service-2-1-task-definition-1", "Write the task definition"),
            ("2-service-2-1-task-definition-2", "Register it"),
            ("2-service-2-2-create-service-1", "In the console"),
            ("2-service-2-2-create-service-2", "Or with the AWS CLI"),
            ("2-service-2-2-create-service-3", "Check the deployment"),
        ]
    );

    for (module, name) in lab.modules.iter().zip(MODULES) {
        let page =
            std::fs::read_to_string(tree.path().join("content/orders-workshop").join(name)).expect("page");
        let blocks: Vec<&ShellBlock> = module.steps.iter().flat_map(|s| &s.shell).collect();
        let want = shell_blocks(&page);
        assert_eq!(blocks.len(), want.len(), "{name}: every shell block is in a step");
        for (block, (line, code)) in blocks.iter().zip(want) {
            assert!(!block.runnable, "{name}: a page without metadata is never run");
            assert_eq!(block.code, code, "{name}");
            assert!(block.location.file.ends_with(Path::new(name)), "{name}: {:?}", block.location);
            assert_eq!((block.location.line, block.location.column), (line, 1), "{name}");
        }
        for step in &module.steps {
            assert!(!step.declared, "{}: synthesised, not declared", step.id);
            assert_eq!(step.mode, StepMode::Cli, "{}", step.id);
            assert!(step.checks.is_empty() && step.creates.is_empty(), "{}", step.id);
            for block in &step.shell {
                assert!(step.body.contains(&block.code), "{}: the body holds its blocks", step.id);
            }
        }
    }
    // The console section is a reading step; the PowerShell tab and the JSON sample are not shell.
    assert!(lab.step("2-service-2-2-create-service-1").is_some_and(|s| s.shell.is_empty()));
    assert!(lab.steps().all(|(_, s)| s.shell.iter().all(|b| !b.code.contains("$Env:"))));
}

#[test]
fn lint_finds_nothing_wrong() {
    Test::new()
        .args(["lint", "orders-workshop"])
        .current_dir(&workshop())
        .run()
        .code(0)
        .stderr_empty()
        .stdout("orders-workshop: clean (7 steps, 0 checks)\n");
    // The same pages without the manifest: the same lab.
    Test::new()
        .args(["lint", "content/orders-workshop"])
        .current_dir(&workshop())
        .run()
        .code(0)
        .stdout("content/orders-workshop: clean (7 steps, 0 checks)\n");
}

#[test]
fn list_counts_the_synthesised_steps() {
    Test::new().arg("list").current_dir(&workshop()).run().code(0).stdout_starts_with(
        "LAB              TITLE                         MODULES  STEPS  TIME\n\
         orders-workshop  Orders service on Amazon ECS        3      7  45 minutes\n",
    );
}

#[test]
fn show_renders_without_hugo_syntax() {
    let out = Test::new().args(["show", "orders-workshop"]).current_dir(&workshop()).run();
    out.code(0).stderr_empty();
    out.stdout_lacks("{{%")
        .stdout_lacks("{{<")
        .stdout_lacks("%}}")
        .stdout_lacks(">}}")
        .stdout_lacks("\ntitle:");
    out.stdout_contains("Module 1/3 · Prepare your environment\n")
        .stdout_contains("Module 2/3 · Register the task definition\n")
        .stdout_contains("Module 3/3 · Create the service\n")
        .stdout_contains("Step 1/7 · Check the AWS CLI ")
        .stdout_contains(" [1-setup-1-1-environment-1]\n")
        .stdout_contains("Step 7/7 · Check the deployment ")
        .stdout_contains(" [2-service-2-2-create-service-3]\n")
        .stdout_contains("Every command here runs in AWS CloudShell")
        .stdout_contains("Keep this terminal open.")
        .stdout_contains("    aws ecs create-service \\\n      --cluster \"$CLUSTER_NAME\"")
        .stdout_contains("Fill in the form with these values")
        .stdout_contains("Turned off")
        .stdout_contains("The same service in one command.")
        .stdout_lacks("labrunner checks");
    // A page without metadata has no checks to announce for any step.
    Test::new()
        .args(["show", "orders-workshop", "--step", "2-service-2-1-task-definition-2"])
        .current_dir(&workshop())
        .run()
        .code(0)
        .stdout_starts_with("\nStep 4/7 · Register it ")
        .stdout_contains("aws ecs register-task-definition --cli-input-json file://orders-taskdef.json")
        .stdout_contains("Running the command again is harmless")
        .stdout_lacks("{{%");
}

#[test]
fn toml_front_matter_and_pages_without_shell_blocks() {
    let tree = LabTree::new()
        .manifest(
            "toml",
            "format: 1\nid: toml\ntitle: TOML pages\nsummary: Hugo's other front matter.\nmodules:\n  - _index.md\n  - setup.md\n",
        )
        .page(
            "toml",
            "_index.md",
            "+++\ntitle = \"Introduction\"\nweight = 10\nchapter = true\n+++\n\n# Welcome\n\n{{% children %}}\n",
        )
        .page(
            "toml",
            "setup.md",
            "+++\ntitle = 'Setup'\n+++\n\n```shell\naws configure list\n```\n\n```zsh\nwhich aws\n```\n",
        );
    let lab = load_lab(&tree.path().join("labs/toml.yaml")).expect("loads");
    assert_eq!(lab.modules[0].title, "Introduction");
    assert_eq!(lab.modules[0].weight, Some(10));
    // A page of prose is one reading step; the page's key is the lab id for the top `_index.md`.
    assert_eq!(lab.modules[0].steps.len(), 1);
    assert!(lab.modules[0].steps[0].body.contains("Welcome") && lab.modules[0].steps[0].shell.is_empty());
    assert_eq!(lab.modules[1].title, "Setup");
    let ids: Vec<&str> = lab.steps().map(|(_, s)| s.id.as_str()).collect();
    assert_eq!(ids, ["toml-1", "setup-1"]);
    assert_eq!(lab.modules[1].steps[0].shell.len(), 2, "no headings: the whole page is one step");
    let out = Test::new().args(["show", "toml"]).current_dir(&tree).run();
    out.code(0).stdout_lacks("{{%").stdout_lacks("+++").stdout_contains("Welcome");
}
