//! Lint: findings about a lab that loads. Pure functions over the model; the command in
//! `commands/lint.rs` finds the labs and prints.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::check::CheckSpec;
use super::model::{Lab, Location, Module, Step, VariableSource};
use super::vars;

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Where.
    #[serde(flatten)]
    pub location: Location,
    /// The rule's name, e.g. `hard-coded-region`.
    pub rule: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: warning[{}]: {}", self.location, self.rule, self.message)
    }
}

/// Every finding for a loaded lab, in file order.
pub fn lint_lab(lab: &Lab) -> Vec<Finding> {
    let mut findings = Vec::new();
    let account_var =
        lab.manifest.variables.iter().find(|v| v.source == VariableSource::Account).map(|v| v.name.as_str());
    let region_var =
        lab.manifest.variables.iter().find(|v| v.source == VariableSource::Region).map(|v| v.name.as_str());
    let usage = variable_usage(lab);
    for (name, location) in &usage.unset {
        findings.push(Finding {
            location: location.clone(),
            rule: "undeclared-variable",
            message: format!(
                "`${name}` is used but never declared in the manifest or set by an earlier block; declare it under `variables:`"
            ),
        });
    }

    for module in &lab.modules {
        findings.extend(shell_outside_steps(module));
        for step in &module.steps {
            for block in &step.shell {
                for (line, text) in block.code.lines().enumerate() {
                    findings.extend(hard_coded(
                        text,
                        account_var,
                        region_var,
                        &offset_location(&block.location, line + 1),
                    ));
                }
            }
            findings.extend(untagged_shell(step));
            findings.extend(undeclared_resources(step));
            findings.extend(check_parameters(step));
            if step.declared && step.checks.is_empty() && step.runnable_blocks().next().is_some() {
                findings.push(Finding {
                    location: step.location.clone(),
                    rule: "step-without-checks",
                    message: format!(
                        "step `{}` runs commands but declares no checks, so labrunner cannot verify it",
                        step.id
                    ),
                });
            }
            for check in &step.checks {
                for text in vars::value_strings(&check.spec) {
                    let location = step.meta.as_ref().map_or(step.location.clone(), |m| m.locate(&text));
                    findings.extend(hard_coded(&text, account_var, region_var, &location));
                }
            }
        }
    }
    findings.extend(lookups_of_resources_never_created(lab));
    for v in &lab.manifest.variables {
        if usage.never_set.contains(&v.name) {
            findings.push(Finding {
                location: v.location.clone(),
                rule: "variable-never-set",
                message: format!(
                    "`{}` comes `from: step`, but no shell block of the lab sets it (`export {}=...`)",
                    v.name, v.name
                ),
            });
        } else if usage.unused.contains(&v.name) {
            findings.push(Finding {
                location: v.location.clone(),
                rule: "unused-variable",
                message: format!("`{}` is declared but never used", v.name),
            });
        }
    }
    findings.sort_by(|a, b| {
        (&a.location.file, a.location.line, a.location.column).cmp(&(
            &b.location.file,
            b.location.line,
            b.location.column,
        ))
    });
    findings
}

/// A variable's `lookup` of a resource no step declares under `creates` or `aws_creates`: in a
/// student's account it finds nothing, or something that is not the lab's.
fn lookups_of_resources_never_created(lab: &Lab) -> Vec<Finding> {
    let declared: Vec<_> = lab.steps().flat_map(|(_, s)| s.creates.iter().chain(&s.aws_creates)).collect();
    lab.manifest
        .variables
        .iter()
        .filter_map(|v| Some((v, v.lookup.as_ref()?)))
        .filter(|(_, lookup)| !declared.contains(&&lookup.resource))
        .map(|(v, lookup)| Finding {
            location: v.location.clone(),
            rule: "lookup-not-created",
            message: format!(
                "`{}` is looked up from `{}`, which no step declares under `creates` or `aws_creates`; write the resource exactly as the step that makes it declares it",
                v.name,
                lookup.resource.describe()
            ),
        })
        .collect()
}

/// How a lab's variables are set and used, as lint judges it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VariableUsage {
    /// `$NAME` used by a block that nothing declares or sets before it, with where.
    pub unset: Vec<(String, Location)>,
    /// Declared `from: step`, but no block sets it.
    pub never_set: Vec<String>,
    /// Declared, set if it must be, and used nowhere.
    pub unused: Vec<String>,
}

/// The variables a lab's blocks use without a declaration or an earlier assignment, and the
/// declared ones that are never set or never used.
pub(crate) fn variable_usage(lab: &Lab) -> VariableUsage {
    let mut usage = VariableUsage::default();
    let declared: BTreeSet<&str> = lab.manifest.variables.iter().map(|v| v.name.as_str()).collect();
    let mut assigned: BTreeSet<String> = BTreeSet::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for (_, step) in lab.steps() {
        for block in &step.shell {
            let scan = scan_shell(&block.code);
            for (name, line) in &scan.uses {
                used.insert(name.clone());
                let known = declared.contains(name.as_str())
                    || assigned.contains(name)
                    || scan.assigns_before(name, *line)
                    || WELL_KNOWN_ENV.contains(&name.as_str());
                if !known {
                    usage.unset.push((name.clone(), offset_location(&block.location, *line)));
                }
            }
            assigned.extend(scan.assigns.iter().map(|(n, _)| n.clone()));
        }
        for check in &step.checks {
            used.extend(check.variables());
        }
        for resource in step.creates.iter().chain(&step.aws_creates) {
            used.extend(resource.variables());
        }
    }
    for v in &lab.manifest.variables {
        if let Some(d) = &v.default {
            used.extend(vars::references(d).unwrap_or_default().into_iter().map(|r| r.name));
        }
        if let Some(lookup) = &v.lookup {
            used.extend(lookup.resource.variables());
        }
    }
    for v in &lab.manifest.variables {
        if v.source == VariableSource::Step && !assigned.contains(&v.name) {
            usage.never_set.push(v.name.clone());
        } else if !used.contains(&v.name) {
            usage.unused.push(v.name.clone());
        }
    }
    usage
}

/// Findings for a page linted on its own, without a manifest.
pub fn lint_module(module: &Module) -> Vec<Finding> {
    let mut findings = shell_outside_steps(module);
    for step in &module.steps {
        findings.extend(undeclared_resources(step));
        findings.extend(check_parameters(step));
        findings.extend(step_without_checks(step));
    }
    findings
}

/// Fences without a language whose lines read as shell commands: labrunner shows them as
/// commands to copy, but never runs them.
fn untagged_shell(step: &Step) -> Vec<Finding> {
    step.shell
        .iter()
        .filter(|b| b.untagged)
        .map(|b| Finding {
            location: b.location.clone(),
            rule: "untagged-shell",
            message: "this code block has no language but reads as shell commands: labrunner shows it as commands to copy and never runs it; tag it ```bash (to run it in an annotated step) or ```text (if it is output)".into(),
        })
        .collect()
}

fn step_without_checks(step: &Step) -> Option<Finding> {
    (step.declared && step.checks.is_empty() && step.runnable_blocks().next().is_some()).then(|| Finding {
        location: step.location.clone(),
        rule: "step-without-checks",
        message: format!(
            "step `{}` runs commands but declares no checks, so labrunner cannot verify it",
            step.id
        ),
    })
}

/// Shell variables every shell has; never lab variables.
const WELL_KNOWN_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "PWD",
    "OLDPWD",
    "USER",
    "SHELL",
    "TERM",
    "LANG",
    "HOSTNAME",
    "RANDOM",
    "SECONDS",
    "TMPDIR",
    "EDITOR",
    "PAGER",
    // labrunner sets these for every block: the identity and place it showed.
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_PAGER",
    "IFS",
];

fn offset_location(block: &Location, line_in_code: usize) -> Location {
    // Code starts on the line after the opening fence.
    Location::new(&block.file, block.line + line_in_code, 1)
}

/// What a shell block reads and sets, by line (1-based within the code).
#[derive(Debug, Default, PartialEq)]
struct ShellScan {
    uses: Vec<(String, usize)>,
    assigns: Vec<(String, usize)>,
}

impl ShellScan {
    fn assigns_before(&self, name: &str, line: usize) -> bool {
        self.assigns.iter().any(|(n, l)| n == name && *l <= line)
    }
}

static USE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\$\{?([A-Z][A-Z0-9_]*)").expect("valid regex"));
static ASSIGN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s;(&|])(?:export\s+|local\s+|readonly\s+)?([A-Z][A-Z0-9_]*)\+?=|(?:read(?:\s+-\w+)*|for)\s+([A-Z][A-Z0-9_]*)")
        .expect("valid regex")
});
static HEREDOC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)(['"]?)"#).expect("valid regex"));

/// Reads variable uses and assignments from bash, skipping single-quoted text, comments
/// and quoted here-documents (where bash does not expand variables either).
fn scan_shell(code: &str) -> ShellScan {
    let mut scan = ShellScan::default();
    let mut heredoc: Option<(String, bool)> = None;
    for (i, raw) in code.lines().enumerate() {
        let line = i + 1;
        if let Some((end, quoted)) = &heredoc {
            if raw.trim() == end {
                heredoc = None;
            } else if !quoted {
                scan.uses.extend(USE.captures_iter(raw).map(|c| (c[1].to_string(), line)));
            }
            continue;
        }
        let text = strip_single_quotes_and_comment(raw);
        for c in ASSIGN.captures_iter(&text) {
            if let Some(m) = c.get(1).or_else(|| c.get(2)) {
                scan.assigns.push((m.as_str().to_string(), line));
            }
        }
        scan.uses.extend(USE.captures_iter(&text).map(|c| (c[1].to_string(), line)));
        if let Some(c) = HEREDOC.captures(raw) {
            heredoc = Some((c[2].to_string(), !c[1].is_empty()));
        }
    }
    scan
}

fn strip_single_quotes_and_comment(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_single = false;
    let mut in_double = false;
    let mut prev = ' ';
    for c in line.chars() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '#' if !in_single && !in_double && (prev.is_whitespace() || out.is_empty()) => break,
            _ if in_single => {}
            _ => out.push(c),
        }
        prev = c;
    }
    out
}

/// `aws <service> <operation>` commands that create something, and the resource type that
/// should then be declared in `creates`.
const CREATING_COMMANDS: &[(&str, &str, &str)] = &[
    ("ecs", "create-cluster", "ecs_cluster"),
    ("ecs", "create-service", "ecs_service"),
    ("ecs", "register-task-definition", "task_definition"),
    ("elbv2", "create-load-balancer", "load_balancer"),
    ("elbv2", "create-listener", "listener"),
    ("elbv2", "create-rule", "listener_rule"),
    ("elbv2", "create-target-group", "target_group"),
    ("servicediscovery", "create-private-dns-namespace", "cloudmap_namespace"),
    ("servicediscovery", "create-public-dns-namespace", "cloudmap_namespace"),
    ("servicediscovery", "create-http-namespace", "cloudmap_namespace"),
    ("servicediscovery", "create-service", "cloudmap_service"),
    ("application-autoscaling", "register-scalable-target", "scalable_target"),
    ("application-autoscaling", "put-scaling-policy", "scaling_policy"),
    ("cloudwatch", "put-metric-alarm", "alarm"),
    ("cloudwatch", "put-dashboard", "dashboard"),
    ("logs", "create-log-group", "log_group"),
    ("dynamodb", "create-table", "dynamodb_table"),
    ("iam", "create-role", "iam_role"),
    ("iam", "create-instance-profile", "instance_profile"),
    ("secretsmanager", "create-secret", "secret"),
    ("iam", "create-policy", "iam_policy"),
    ("ec2", "create-security-group", "security_group"),
    ("ec2", "create-subnet", "subnet"),
    ("ec2", "create-route-table", "route_table"),
    ("ec2", "create-internet-gateway", "internet_gateway"),
    ("ec2", "create-vpc", "vpc"),
    ("ec2", "create-nat-gateway", "nat_gateway"),
    ("ec2", "allocate-address", "elastic_ip"),
    ("ec2", "create-vpc-endpoint", "vpc_endpoint"),
    ("ec2", "run-instances", "ec2_instance"),
    ("ec2", "create-launch-template", "launch_template"),
    ("autoscaling", "create-auto-scaling-group", "autoscaling_group"),
    ("ecs", "create-capacity-provider", "capacity_provider"),
    ("ecr", "create-repository", "ecr_repository"),
    ("ssm", "put-parameter", "ssm_parameter"),
    ("acm", "request-certificate", "acm_certificate"),
    ("acm", "import-certificate", "acm_certificate"),
    ("route53", "create-hosted-zone", "hosted_zone"),
];

static AWS_COMMAND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\baws\s+(?:--\S+\s+)*([a-z0-9-]+)\s+([a-z0-9-]+)").expect("valid regex"));

fn undeclared_resources(step: &Step) -> Vec<Finding> {
    let mut findings = Vec::new();
    for block in step.runnable_blocks() {
        let joined = block.code.replace("\\\n", " ");
        for caps in AWS_COMMAND.captures_iter(&joined) {
            let (service, operation) = (&caps[1], &caps[2]);
            let Some((_, _, kind)) =
                CREATING_COMMANDS.iter().find(|(s, o, _)| *s == service && *o == operation)
            else {
                continue;
            };
            if step.creates.iter().any(|r| r.kind() == *kind) {
                continue;
            }
            let line = block.code[..block.code.find(operation).unwrap_or(0)].matches('\n').count() + 1;
            findings.push(Finding {
                location: offset_location(&block.location, line),
                rule: "undeclared-resource",
                message: format!(
                    "`aws {service} {operation}` creates a resource of type `{kind}`, but step `{}` does not declare it under `creates:`, so cleanup would miss it",
                    step.id
                ),
            });
        }
    }
    findings
}

/// A problem with a check's regular-expression parameter (variables are allowed in it).
fn bad_pattern(key: &str, text: &str) -> Option<String> {
    if text.contains("${") {
        return None;
    }
    regex::Regex::new(text).err().map(|e| {
        format!("`{key}` is not a valid regular expression: {}", super::parse::regex_problem(&e.to_string()))
    })
}

fn check_parameters(step: &Step) -> Vec<Finding> {
    let mut findings = Vec::new();
    for check in &step.checks {
        let problem = match &check.spec {
            CheckSpec::Http(h) if h.json_path.is_some() != h.equals.is_some() => {
                Some("`json_path` and `equals` go together: give both or neither".to_string())
            }
            CheckSpec::Http(h) if h.status.is_some_and(|s| !(100..=599).contains(&s)) => {
                Some(format!("status {} is not an HTTP status", h.status.unwrap_or(0)))
            }
            CheckSpec::Http(h)
                if !h.url.starts_with("http://")
                    && !h.url.starts_with("https://")
                    && !h.url.starts_with("${") =>
            {
                Some(format!("url `{}` should start with http:// or https://", h.url))
            }
            CheckSpec::TargetsHealthy(t) if t.cluster.is_some() != t.service.is_some() => Some(
                "`cluster` and `service` go together: give both to tie targets to a service's tasks"
                    .to_string(),
            ),
            CheckSpec::Command(c) if c.run.trim().is_empty() => Some("`run` is empty".to_string()),
            CheckSpec::Alarm(a)
                if a.state.as_deref().is_some_and(|s| !["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&s)) =>
            {
                Some("`state` must be OK, ALARM or INSUFFICIENT_DATA".to_string())
            }
            CheckSpec::TaskDefinition(t) if t.revision == Some(0) => Some("revisions start at 1".to_string()),
            CheckSpec::PrivateDns(d) if !d.name.contains('.') => {
                Some(format!("`{}` needs the namespace too, such as `invsys.local`", d.name))
            }
            CheckSpec::ScalableTarget(t)
                if t.min_capacity.zip(t.max_capacity).is_some_and(|(a, b)| a > b) =>
            {
                Some("`min_capacity` is larger than `max_capacity`".to_string())
            }
            CheckSpec::TaskStopped(t) => bad_pattern("reason", &t.reason),
            CheckSpec::ServiceEvent(e) => bad_pattern("pattern", &e.pattern),
            _ => None,
        };
        if let Some(message) = problem {
            let location =
                step.meta.as_ref().map_or(step.location.clone(), |m| m.locate(&format!("{}:", check.kind())));
            findings.push(Finding {
                location,
                rule: "check-parameters",
                message: format!("{}: {message}", check.kind()),
            });
        }
    }
    findings
}

fn shell_outside_steps(module: &Module) -> Vec<Finding> {
    if module.steps.iter().all(|s| !s.declared) || !module.intro.contains("```") {
        return Vec::new();
    }
    let has_shell = module.intro.lines().any(|l| {
        let l = l.trim_start();
        ["```bash", "```sh", "```shell"].iter().any(|f| l.starts_with(f))
    });
    if !has_shell {
        return Vec::new();
    }
    vec![Finding {
        location: Location::new(&module.path, 1, 1),
        rule: "shell-outside-step",
        message: "a shell block stands before the first step; labrunner never runs it: move it into a step or mark it {labrunner=show}".into(),
    }]
}

static ACCOUNT_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^0-9])([0-9]{12})(?:[^0-9]|$)").expect("valid regex"));
static REGION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b((?:us|eu|ap|sa|ca|me|af|il|mx)-(?:gov-)?(?:east|west|north|south|central|northeast|southeast|northwest|southwest)-[0-9])\b")
        .expect("valid regex")
});

fn hard_coded(
    text: &str,
    account_var: Option<&str>,
    region_var: Option<&str>,
    location: &Location,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(var) = account_var {
        if let Some(c) = ACCOUNT_ID.captures(text) {
            findings.push(Finding {
                location: location.clone(),
                rule: "hard-coded-account",
                message: format!(
                    "account id `{}` is hard-coded; use `${{{var}}}` so the lab works in any account",
                    &c[1]
                ),
            });
        }
    }
    if let Some(var) = region_var {
        if let Some(c) = REGION.captures(text) {
            findings.push(Finding {
                location: location.clone(),
                rule: "hard-coded-region",
                message: format!(
                    "region `{}` is hard-coded; use `${{{var}}}` so the lab works in any region",
                    &c[1]
                ),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-variable lab whose looked-up resources are declared as `creates`, `aws_creates`,
    /// or nowhere.
    fn lab_with_lookups(creates: &str, aws_creates: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("content/l")).unwrap();
        std::fs::create_dir_all(dir.path().join("labs")).unwrap();
        std::fs::write(
            dir.path().join("labs/l.yaml"),
            "format: 1\nid: l\ntitle: L\nsummary: S\nmodules: [01.md]\nvariables:\n  - name: LB_DNS\n    from: step\n    lookup: { load_balancer: { name: web-alb }, field: dns_name }\n  - name: SC_ID\n    from: step\n    lookup: { cloudmap_service: { namespace: local, name: web } }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("content/l/01.md"),
            format!(
                "# L\n\n<!-- labrunner:step\nid: make\nchecks:\n  - command: {{ run: 'echo $LB_DNS $SC_ID' }}\ncreates: [{creates}]\naws_creates: [{aws_creates}]\n-->\n```bash\nexport LB_DNS=x SC_ID=y\n```\n"
            ),
        )
        .unwrap();
        crate::lab::load_lab(&dir.path().join("labs/l.yaml")).unwrap()
    }

    #[test]
    fn a_lookup_must_name_a_resource_some_step_creates_or_aws_creates() {
        let rules = |lab: &Lab| -> Vec<String> {
            lint_lab(lab).into_iter().filter(|f| f.rule == "lookup-not-created").map(|f| f.message).collect()
        };
        let both = lab_with_lookups(
            "{ load_balancer: { name: web-alb } }",
            "{ cloudmap_service: { namespace: local, name: web } }",
        );
        assert_eq!(rules(&both), Vec::<String>::new());
        let neither = lab_with_lookups("{ load_balancer: { name: other-alb } }", "");
        assert_eq!(
            rules(&neither),
            [
                "`LB_DNS` is looked up from `load_balancer web-alb`, which no step declares under `creates` or `aws_creates`; write the resource exactly as the step that makes it declares it",
                "`SC_ID` is looked up from `cloudmap_service web.local`, which no step declares under `creates` or `aws_creates`; write the resource exactly as the step that makes it declares it",
            ]
        );
    }

    #[test]
    fn shell_scan_table() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("echo $A ${B}", &["A", "B"], &[]),
            ("export VPC_ID=$(aws ec2 x)", &[], &["VPC_ID"]),
            ("X=1; echo $X", &["X"], &["X"]),
            ("echo '$NOT_ME' \"$ME\"", &["ME"], &[]),
            ("echo hi # $COMMENT", &[], &[]),
            ("for NAME in a b; do echo $NAME; done", &["NAME"], &["NAME"]),
            ("cat > f <<'EOF'\n$INSIDE\nEOF\necho $AFTER", &["AFTER"], &[]),
            ("cat > f <<EOF\n$EXPANDED\nEOF", &["EXPANDED"], &[]),
            ("echo $lower $1", &[], &[]),
        ];
        for (code, uses, assigns) in cases {
            let scan = scan_shell(code);
            let got_uses: Vec<&str> = scan.uses.iter().map(|(n, _)| n.as_str()).collect();
            let got_assigns: Vec<&str> = scan.assigns.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(&got_uses, uses, "uses in {code:?}");
            assert_eq!(&got_assigns, assigns, "assigns in {code:?}");
        }
    }

    #[test]
    fn hard_coded_table() {
        let at = Location::new("f.md", 1, 1);
        let cases: &[(&str, &[&str])] = &[
            ("arn:aws:iam::123456789012:role/x", &["hard-coded-account"]),
            ("--region eu-west-1", &["hard-coded-region"]),
            ("1234567890123 is thirteen digits", &[]),
            ("${ACCOUNT_ID} in ${AWS_REGION}", &[]),
            ("us-gov-west-1 and 210987654321", &["hard-coded-account", "hard-coded-region"]),
        ];
        for (text, rules) in cases {
            let got: Vec<&str> = hard_coded(text, Some("ACCOUNT_ID"), Some("AWS_REGION"), &at)
                .iter()
                .map(|f| f.rule)
                .collect();
            assert_eq!(&got, rules, "{text}");
        }
        assert!(hard_coded("123456789012", None, None, &at).is_empty(), "no variable, nothing to suggest");
    }
}
