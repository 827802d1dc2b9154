//! The malformed-lab corpus: one broken lab per parser error under
//! `tests/fixtures/malformed/<case>/`, each a `labs/demo.yaml` and its `content/demo/` pages.
//!
//! Every case runs `labrunner lint demo` (errors on stdout as `path:line:column: error: ...`,
//! exit 2) and `labrunner show demo` (the same errors on stderr as `error: path:line:column:
//! ...`, exit 2, nothing on stdout). Where a message is known to be imprecise (see the notes
//! on each such case) only the part that is right is pinned, so that fixing it does not
//! break the corpus while breaking what works still does.

use crate::support::{LabTree, Outcome, Test};

const SHOW_TRAILER: &str = "error: the lab cannot be loaded (1 error)\n  hint: fix the errors above; `labrunner lint` checks a lab without running it\n";

fn lint(case: &str) -> Outcome {
    let tree = LabTree::fixture(&format!("malformed/{case}"));
    Test::new().args(["lint", "demo"]).current_dir(&tree).run()
}

fn show(case: &str) -> Outcome {
    let tree = LabTree::fixture(&format!("malformed/{case}"));
    Test::new().args(["show", "demo"]).current_dir(&tree).run()
}

/// Lint's `path:line:column: error: message` as show renders it: `error: path:line:column: message`.
fn as_show_line(lint_line: &str) -> String {
    if lint_line.starts_with("  hint:") {
        return lint_line.to_string();
    }
    let (location, message) =
        lint_line.split_once(": error: ").unwrap_or_else(|| panic!("not an error line: {lint_line:?}"));
    format!("error: {location}: {message}")
}

/// Pins the whole output of `lint demo` and `show demo` for a lab with the errors in
/// `errors` (error lines, each optionally followed by its `  hint:` line, in order).
#[track_caller]
fn exact(case: &str, errors: &str) {
    let count = errors.lines().filter(|l| !l.starts_with("  hint:")).count();
    lint(case).code(2).stderr_empty().stdout(&format!("{errors}demo: unusable, {count} error(s)\n"));
    let shown: String = errors.lines().map(|l| as_show_line(l) + "\n").collect();
    let trailer = if count == 1 {
        SHOW_TRAILER.to_string()
    } else {
        SHOW_TRAILER.replace("(1 error)", &format!("({count} errors)"))
    };
    show(case).code(2).stdout_empty().stderr(&format!("{shown}{trailer}"));
}

/// Pins exit code 2, a single error, and the start of its line (position and the reliable
/// part of the message), for both lint and show.
#[track_caller]
fn starts(case: &str, prefix: &str) {
    let out = lint(case);
    out.code(2).stderr_empty().stdout_starts_with(prefix);
    assert!(out.stdout.ends_with("\ndemo: unusable, 1 error(s)\n"), "lint summary:\n{}", out.stdout);
    show(case).code(2).stdout_empty().stderr_starts_with(&as_show_line(prefix));
}

// ---- step metadata: YAML and schema ----

#[test]
fn step_yaml_syntax_error() {
    // The unclosed `{` opens at 8:21; the error points there, not where the YAML parser gave up.
    starts(
        "step-yaml-syntax",
        "content/demo/01-start.md:8:21: error: did not find expected ',' or '}', while parsing a flow mapping\n",
    );
}

#[test]
fn unknown_key_in_step_metadata() {
    exact(
        "unknown-step-key",
        "content/demo/01-start.md:7:1: error: unknown field `chekcs`, expected one of `id`, `title`, `mode`, `checks`, `creates`, `aws_creates`, `hints`, `idempotent`\n",
    );
}

#[test]
fn unknown_check_parameter() {
    exact(
        "unknown-check-parameter",
        "content/demo/01-start.md:8:46: error: checks[0].cluster_active: unknown field `colour`, expected `cluster`\n",
    );
}

#[test]
fn unknown_check_kind() {
    exact(
        "unknown-check-kind",
        "content/demo/01-start.md:8:5: error: checks[0]: unknown check kind `cluster_activ`, expected one of \
         `caller_identity`, `cluster_active`, `task_definition`, `service_stable`, `service_active`, `deployment_failed`, `task_stopped`, `service_event`, `service_desired_count`, \
         `service_task_definition`, `targets_healthy`, `load_balancer_active`, `dns_resolves`, `private_dns`, \
         `service_connect`, `cloudmap_namespace`, `cloudmap_instances`, `http`, `scalable_target`, \
         `scaling_policy`, `alarm`, `log_group`, `iam_role`, `role_allows`, `role_denies`, `dynamodb_table`, `exists`, `command`\n",
    );
}

#[test]
fn unknown_resource_type() {
    exact(
        "unknown-resource-type",
        "content/demo/01-start.md:10:5: error: creates[0]: unknown resource type `ecs_clustr`, expected one of \
         `ecs_cluster`, `ecs_service`, `task_definition`, `load_balancer`, `listener`, `listener_rule`, \
         `target_group`, `cloudmap_namespace`, `cloudmap_service`, `scalable_target`, `scaling_policy`, `alarm`, \
         `dashboard`, `log_group`, `dynamodb_table`, `iam_role`, `iam_policy`, `instance_profile`, `secret`, `security_group`, `subnet`, \
         `route_table`, `internet_gateway`, `vpc`, `nat_gateway`, `elastic_ip`, `vpc_endpoint`, `ec2_instance`, \
         `launch_template`, `autoscaling_group`, `capacity_provider`, `ecr_repository`, `ssm_parameter`, \
         `acm_certificate`, `hosted_zone`, `dns_record`\n",
    );
}

#[test]
fn two_kinds_in_one_check() {
    exact(
        "two-kinds-in-one-check",
        "content/demo/01-start.md:8:5: error: checks[0]: a check has exactly one kind, found `cluster_active` and `http`; write each check as its own list item\n",
    );
}

#[test]
fn missing_required_check_parameter() {
    exact(
        "missing-check-parameter",
        "content/demo/01-start.md:8:21: error: checks[0].service_stable: missing field `service`\n",
    );
}

#[test]
fn string_where_a_number_is_expected() {
    exact(
        "wrong-parameter-type",
        "content/demo/01-start.md:8:74: error: checks[0].service_desired_count.count: invalid type: string \"two\", expected a whole number\n",
    );
}

#[test]
fn invalid_timeout() {
    // Points at the check (8:5), not at `timeout: soon` on line 9, and carries humantime's
    // "(expected number at 0)"; only the start is pinned.
    starts(
        "invalid-timeout",
        "content/demo/01-start.md:9:14: error: checks[0].timeout: invalid duration \"soon\": write it like 90s, 5m or 1h 30m\n",
    );
}

#[test]
fn bad_hint_regex() {
    // The detail reads "...: error: unclosed group" (a doubled "error:"); the position and the
    // start of the message are right.
    starts(
        "bad-hint-regex",
        "content/demo/01-start.md:10:12: error: hint `when` is not a valid regular expression: ",
    );
}

#[test]
fn invalid_step_id() {
    exact(
        "invalid-step-id",
        "content/demo/01-start.md:6:1: error: invalid step id `Make_Cluster`: expected lower-case letters, digits and dashes, such as `create-service`\n",
    );
}

#[test]
fn empty_step_metadata() {
    exact(
        "empty-step-metadata",
        "content/demo/01-start.md:5:1: error: empty step metadata: a step needs at least an `id`\n  \
         hint: write `id: my-step` on the line after `<!-- labrunner:step`\n",
    );
}

// ---- variables in step metadata ----

#[test]
fn undeclared_variable_in_a_check() {
    exact(
        "undeclared-variable-in-check",
        "content/demo/01-start.md:8:33: error: variable `CLUSTR` is used but not declared in the manifest\n  \
         hint: declare it under `variables:` in labs/demo.yaml\n",
    );
}

#[test]
fn unterminated_variable_reference() {
    exact(
        "unterminated-variable-reference",
        "content/demo/01-start.md:8:33: error: unterminated variable reference: `${` has no closing `}`\n",
    );
}

#[test]
fn empty_variable_reference() {
    exact(
        "empty-variable-reference",
        "content/demo/01-start.md:8:40: error: malformed variable reference `${}`: expected a name of letters, digits and underscores, such as `${CLUSTER_NAME}`\n",
    );
}

#[test]
fn invalid_name_in_variable_reference() {
    exact(
        "invalid-variable-name-in-reference",
        "content/demo/01-start.md:8:33: error: malformed variable reference `${a-b}`: expected a name of letters, digits and underscores, such as `${CLUSTER_NAME}`\n",
    );
}

// ---- the page around the metadata ----

#[test]
fn unterminated_metadata_comment() {
    exact(
        "unterminated-metadata-comment",
        "content/demo/01-start.md:5:1: error: unterminated metadata block: `<!-- labrunner:step` is never closed\n  \
         hint: end the block with `-->` on a line of its own\n",
    );
}

#[test]
fn metadata_comment_inside_a_paragraph() {
    exact(
        "inline-metadata-comment",
        "content/demo/01-start.md:3:16: error: a labrunner metadata comment must start on a line of its own\n  \
         hint: put a blank line before `<!-- labrunner:step` and start it at the beginning of the line\n",
    );
}

#[test]
fn unknown_block_keyword() {
    exact(
        "unknown-block-keyword",
        "content/demo/01-start.md:3:1: error: unknown metadata block `labrunner:stpe`: expected `labrunner:step` or `labrunner:end`\n",
    );
}

#[test]
fn end_marker_with_metadata() {
    exact(
        "end-marker-with-metadata",
        "content/demo/01-start.md:16:1: error: `<!-- labrunner:end -->` takes no metadata\n",
    );
}

#[test]
fn unknown_code_fence_option() {
    exact(
        "unknown-code-fence-option",
        "content/demo/01-start.md:10:1: error: unknown code block option `labrunner=skip`: expected `labrunner=show` or `labrunner=run`\n  \
         hint: mark a block that must not be run with {labrunner=show}, or remove the option\n",
    );
}

#[test]
fn duplicate_step_id_in_one_page() {
    exact(
        "duplicate-step-id-in-page",
        "content/demo/01-start.md:11:1: error: duplicate step id `make-cluster`\n  \
         hint: step ids must be unique across the whole lab; rename one of them\n",
    );
}

#[test]
fn duplicate_step_id_across_pages() {
    exact(
        "duplicate-step-id-across-pages",
        "content/demo/02-more.md:4:1: error: duplicate step id `make-cluster`\n  \
         hint: step ids must be unique across the whole lab; `make-cluster` is first used at content/demo/01-start.md:3:1\n",
    );
}

#[test]
fn broken_front_matter() {
    // The unterminated quote opens at 2:8, and that is where the error points.
    starts(
        "broken-front-matter",
        "content/demo/01-start.md:2:8: error: front matter is not valid YAML: found unexpected end of stream, while scanning a quoted scalar\n",
    );
}

#[test]
fn errors_in_two_pages_are_all_reported() {
    exact(
        "errors-in-two-pages",
        "content/demo/01-start.md:7:1: error: unknown field `chekcs`, expected one of `id`, `title`, `mode`, `checks`, `creates`, `aws_creates`, `hints`, `idempotent`\n\
         content/demo/02-more.md:8:5: error: checks[0]: unknown check kind `cluster_activ`, expected one of \
         `caller_identity`, `cluster_active`, `task_definition`, `service_stable`, `service_active`, `deployment_failed`, `task_stopped`, `service_event`, `service_desired_count`, \
         `service_task_definition`, `targets_healthy`, `load_balancer_active`, `dns_resolves`, `private_dns`, \
         `service_connect`, `cloudmap_namespace`, `cloudmap_instances`, `http`, `scalable_target`, \
         `scaling_policy`, `alarm`, `log_group`, `iam_role`, `role_allows`, `role_denies`, `dynamodb_table`, `exists`, `command`\n",
    );
}

// ---- the manifest ----

#[test]
fn manifest_yaml_syntax_error() {
    // The error points at the quote left open at 3:8, not at the end of the file.
    exact(
        "manifest-yaml-syntax",
        "labs/demo.yaml:3:8: error: found unexpected end of stream, while scanning a quoted scalar\n",
    );
}

#[test]
fn manifest_without_format() {
    exact(
        "manifest-missing-format",
        "labs/demo.yaml:1:1: error: missing `format`: a lab manifest starts with its format version\n  \
         hint: add `format: 1` as the first line\n",
    );
}

#[test]
fn manifest_in_a_newer_format_asks_for_an_upgrade() {
    // The unknown `steps_v2` key is not reported: a newer format gets the upgrade message only.
    exact(
        "manifest-newer-format",
        "labs/demo.yaml:1:1: error: this lab is written in lab format 2, but this labrunner reads format 1\n  \
         hint: upgrade labrunner to a release that reads this format (see the README's install section)\n",
    );
}

#[test]
fn manifest_format_that_is_not_a_number() {
    exact(
        "manifest-format-not-a-number",
        "labs/demo.yaml:1:1: error: `format` must be a whole number such as 1\n",
    );
}

#[test]
fn manifest_id_not_matching_the_file_name() {
    exact(
        "manifest-id-mismatch",
        "labs/demo.yaml:2:1: error: lab id `demo-lab` does not match the file name `demo.yaml`\n  \
         hint: name the manifest after the lab id, or change the id\n",
    );
}

#[test]
fn manifest_without_modules() {
    exact("manifest-without-modules", "labs/demo.yaml:5:1: error: a lab needs at least one module\n");
}

#[test]
fn unknown_key_in_the_manifest() {
    exact(
        "unknown-manifest-key",
        "labs/demo.yaml:10:5: error: variables[0]: unknown field `prompt`, expected one of `name`, `description`, `from`, `command`, `default`, `pattern`, `secret`, `lookup`\n",
    );
}

#[test]
fn module_file_missing() {
    exact(
        "module-file-missing",
        "labs/demo.yaml:7:5: error: module `02-missing.md` cannot be read at content/demo/02-missing.md: No such file or directory (os error 2)\n  \
         hint: module paths are relative to content/<lab id>/\n",
    );
}

#[test]
fn variable_from_command_without_command() {
    exact(
        "variable-command-without-command",
        "labs/demo.yaml:10:5: error: variable `VPC_ID` comes `from: command` but has no `command`\n  \
         hint: add `command: \"aws ... --output text\"`\n",
    );
}

#[test]
fn variable_default_uses_a_later_variable() {
    exact(
        "variable-default-uses-later-variable",
        "labs/demo.yaml:10:15: error: the default of `CLUSTER` uses `${PREFIX}`, which is not declared before it\n  \
         hint: declare that variable earlier in `variables`\n",
    );
}

#[test]
fn invalid_variable_name() {
    exact(
        "invalid-variable-name",
        "labs/demo.yaml:8:5: error: invalid variable name `cluster-name`: expected letters, digits and underscores, such as CLUSTER_NAME\n",
    );
}

#[test]
fn variable_declared_twice() {
    // Reported at the first declaration (8:5) rather than the second (10:5); only the message
    // is pinned.
    let out = lint("variable-declared-twice");
    out.code(2)
        .stderr_empty()
        .stdout_starts_with("labs/demo.yaml:")
        .stdout_contains(": error: variable `CLUSTER` is declared twice\ndemo: unusable, 1 error(s)\n");
    show("variable-declared-twice").code(2).stdout_empty().stderr_starts_with("error: labs/demo.yaml:");
}

#[test]
fn bad_variable_pattern() {
    // Same doubled "error:" in the detail as `bad_hint_regex`.
    starts(
        "bad-variable-pattern",
        "labs/demo.yaml:10:15: error: pattern of `CLUSTER` is not a valid regular expression: ",
    );
}

// ---- the corpus itself ----

/// Every fixture directory has a test above, and every test a fixture: a case cannot be
/// added on one side only.
#[test]
fn every_fixture_is_a_case() {
    let source = include_str!("malformed.rs");
    let dir = crate::support::fixtures().join("malformed");
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .expect("malformed fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(cases.len() >= 22, "the corpus has {} cases", cases.len());
    for case in &cases {
        assert!(source.contains(&format!("\"{case}\"")), "fixture malformed/{case} has no test");
        let tree = dir.join(case);
        assert!(tree.join("labs/demo.yaml").is_file(), "malformed/{case} has no labs/demo.yaml");
    }
}
