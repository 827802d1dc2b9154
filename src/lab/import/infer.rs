//! What a step's commands do, read from its shell blocks: the resources they create (with
//! the fields that identify them), a check that proves the step worked, whether running the
//! commands again is harmless, and what stops them from running unattended.
//!
//! Pure: it reads command text and what earlier steps wrote (files, variables) from
//! [`Knowledge`], and never touches the file system or AWS.

use std::collections::BTreeMap;

use crate::lab::check::{
    CallerIdentity, CloudmapInstances, ClusterRef, Command as CommandCheck, Http, LogGroup, NameRef,
    ScalableTarget, ScalingPolicy, ServiceStable, TargetsHealthy, TaskDefinitionCheck,
};
use crate::lab::lint::Finding;
use crate::lab::model::Location;
use crate::lab::{Check, CheckSpec, ResourceSpec};

use super::shell::{self, Command, Part, Word};

/// What the pages did before the step at hand: files written and variables set.
#[derive(Debug, Default, Clone)]
pub(crate) struct Knowledge {
    /// Variables in the order they were first set.
    pub vars: Vec<VarFact>,
    /// Files written so far (working-directory paths without `./`), with their text as a
    /// template when a here-document wrote them.
    pub files: BTreeMap<String, Option<String>>,
    /// Some command wrote a file whose name is only known when it runs (`cat > "$1.json"`):
    /// a file the pages seem never to write may be that one.
    pub wrote_unknown: bool,
    /// Values blocks marked `{labrunner=show}` give by hand (`export CLUSTER=orders`), for
    /// readers who follow the page without labrunner: defaults, when no block that runs sets
    /// the variable. Name, value as a template, where.
    pub shown_values: Vec<(String, String, Location)>,
}

impl Knowledge {
    /// The variable `name`, if a block set it.
    pub fn var(&self, name: &str) -> Option<&VarFact> {
        self.vars.iter().find(|v| v.name == name)
    }

    fn var_mut(&mut self, name: &str) -> Option<&mut VarFact> {
        self.vars.iter_mut().find(|v| v.name == name)
    }
}

/// How a block gave a variable its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VarValue {
    /// Written by hand (`export CLUSTER=orders`): the value as a template, or why it cannot
    /// be one (`$(date)` inside it).
    Literal(Result<String, String>),
    /// The output of a command (`export VPC_ID=$(aws ...)`).
    Captured,
}

/// A variable some block sets.
#[derive(Debug, Clone)]
pub(crate) struct VarFact {
    /// The name.
    pub name: String,
    /// How its value comes about (the first assignment).
    pub value: VarValue,
    /// Some assignment exports it.
    pub exported: bool,
    /// The step that first sets it.
    pub step: String,
    /// Where it is first set.
    pub location: Location,
    /// The AWS call whose output it holds, and what that call created.
    pub origin: Option<Origin>,
    /// Set from more than one AWS call: no single resource to look it up from.
    pub ambiguous: bool,
}

/// The AWS call a variable's value came from.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The call.
    pub call: AwsCall,
    /// The resource the call created, if it created one of a known type.
    pub created: Option<ResourceSpec>,
    /// The resource a read-only call looked at (`describe-load-balancers --names x`).
    pub described: Option<ResourceSpec>,
    /// Which field of it the `--query` took: `id`, `arn` or `dns_name`.
    pub field: Option<&'static str>,
}

/// One shell block of a step, as the inference reads it.
#[derive(Debug, Clone)]
pub(crate) struct BlockIn<'a> {
    /// The code.
    pub code: &'a str,
    /// Where its opening fence stands.
    pub at: Location,
}

/// What the inference made of one step.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepPlan {
    /// Checks, in the order the commands suggest them.
    pub checks: Vec<Check>,
    /// Resources the commands create.
    pub creates: Vec<ResourceSpec>,
    /// Every command is read-only or harmless to run twice.
    pub idempotent: bool,
    /// Why labrunner cannot run the commands unattended, if it cannot (first reason).
    pub unattended_blocker: Option<String>,
    /// Every AWS command deletes something: a clean-up section.
    pub cleanup_only: bool,
    /// No AWS command changes anything (there may be none at all).
    pub reads_only: bool,
    /// The step has commands at all (after show-only blocks were left out).
    pub has_commands: bool,
    /// Findings for the author, at their places in the source page.
    pub findings: Vec<Finding>,
}

/// An `aws` command line: service, operation and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsCall {
    /// `ecs`.
    pub service: String,
    /// `create-service`.
    pub op: String,
    /// Options without their dashes, each with its values, in order.
    pub options: Vec<(String, Vec<Word>)>,
    /// `--region` or `--profile` given on the command line.
    pub own_place: Option<String>,
}

impl AwsCall {
    /// The first value of option `name` (`cluster-name`).
    pub fn first(&self, name: &str) -> Option<&Word> {
        self.options.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.first())
    }

    /// All values of option `name`.
    pub fn values(&self, name: &str) -> Vec<&Word> {
        self.options.iter().filter(|(n, _)| n == name).flat_map(|(_, v)| v.iter()).collect()
    }

    /// Whether the option is present.
    pub fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| n == name)
    }

    /// `aws ecs create-service`.
    pub fn name(&self) -> String {
        format!("aws {} {}", self.service, self.op)
    }
}

/// Global options of the AWS CLI that take a value.
const GLOBAL_WITH_VALUE: &[&str] = &[
    "--region",
    "--profile",
    "--output",
    "--endpoint-url",
    "--query",
    "--color",
    "--ca-bundle",
    "--cli-read-timeout",
    "--cli-connect-timeout",
    "--cli-binary-format",
];

/// The `aws` call a command makes, if it is one.
pub(crate) fn aws_call(cmd: &Command) -> Option<AwsCall> {
    if cmd.program().as_deref() != Some("aws") {
        return None;
    }
    let mut words = cmd.words.iter().skip(1).peekable();
    let mut positional: Vec<String> = Vec::new();
    let mut own_place = None;
    while positional.len() < 2 {
        let word = words.next()?;
        let text = word.display();
        if let Some(flag) = text.strip_prefix("--") {
            let (name, inline) = flag.split_once('=').map_or((flag, false), |(n, _)| (n, true));
            if matches!(name, "region" | "profile") {
                own_place = Some(format!("--{name}"));
            }
            if GLOBAL_WITH_VALUE.contains(&format!("--{name}").as_str()) && !inline {
                words.next();
            }
            continue;
        }
        positional.push(text);
    }
    let mut options: Vec<(String, Vec<Word>)> = Vec::new();
    for word in words {
        let text = word.display();
        if let Some(flag) = text
            .strip_prefix("--")
            .filter(|_| word.parts.first().is_some_and(|p| matches!(p, Part::Lit(l) if l.starts_with("--"))))
        {
            match flag.split_once('=') {
                Some((name, value)) => {
                    let value = Word { parts: vec![Part::Lit(value.to_string())], raw: value.to_string() };
                    let mut rest = word.clone();
                    if let Some(Part::Lit(first)) = rest.parts.first_mut() {
                        *first = first.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default();
                    }
                    let value = if word.parts.len() > 1 { rest } else { value };
                    options.push((name.to_string(), vec![value]));
                }
                None => options.push((flag.to_string(), Vec::new())),
            }
            if matches!(flag, "region" | "profile")
                || flag.starts_with("region=")
                || flag.starts_with("profile=")
            {
                own_place = Some(format!("--{}", flag.split('=').next().unwrap_or(flag)));
            }
        } else if let Some((_, values)) = options.last_mut() {
            values.push(word.clone());
        }
    }
    let (service, op) = (positional[0].clone(), positional[1].clone());
    Some(AwsCall { service, op, options, own_place })
}

/// What kind of thing an AWS operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    /// Reads only.
    Read,
    /// Creates something.
    Create,
    /// Changes something that exists.
    Update,
    /// Deletes something.
    Delete,
}

/// The kind of `aws <service> <op>`.
pub(crate) fn op_kind(service: &str, op: &str) -> OpKind {
    const READ: &[&str] = &[
        "describe-",
        "list-",
        "get-",
        "search-",
        "lookup-",
        "batch-get-",
        "filter-",
        "discover-",
        "query",
        "scan",
        "tail",
        "wait",
        "help",
        "ls",
        "head-",
        "validate-",
        "test-",
        "simulate-",
        "estimate-",
        "preview-",
    ];
    const CREATE: &[&str] = &[
        "create-",
        "register-",
        "put-",
        "allocate-",
        "request-",
        "run-",
        "import-",
        "copy-",
        "mb",
        "cp",
        "sync",
        "start-task",
    ];
    const DELETE: &[&str] = &[
        "delete-",
        "deregister-",
        "terminate-",
        "release-",
        "detach-",
        "disassociate-",
        "revoke-",
        "remove-",
        "stop-",
        "rb",
        "rm",
        "deactivate-",
        "cancel-",
        "purge-",
    ];
    if service == "sts" || (service == "configure" && matches!(op, "get" | "list")) {
        return OpKind::Read;
    }
    let starts =
        |list: &[&str]| list.iter().any(|p| if p.ends_with('-') { op.starts_with(p) } else { op == *p });
    if starts(READ) {
        OpKind::Read
    } else if starts(DELETE) {
        OpKind::Delete
    } else if starts(CREATE) {
        OpKind::Create
    } else {
        OpKind::Update
    }
}

/// Whether running `aws <service> <op>` twice creates nothing twice and does not fail.
fn naturally_idempotent(call: &AwsCall) -> bool {
    let (service, op) = (call.service.as_str(), call.op.as_str());
    match op_kind(service, op) {
        OpKind::Read => true,
        OpKind::Delete => false,
        // CreateCluster returns the existing cluster; put-* and register-scalable-target replace.
        OpKind::Create => {
            (service == "ecs" && op == "create-cluster")
                || op.starts_with("put-")
                || op == "register-scalable-target"
                || op == "register-instance"
                || op == "create-tags"
        }
        OpKind::Update => {
            !(op.starts_with("authorize-")
                || op.starts_with("associate-")
                || op == "attach-internet-gateway"
                || op == "add-role-to-instance-profile"
                || op == "attach-volume")
        }
    }
}

/// Programs that never change anything.
const READ_ONLY_PROGRAMS: &[&str] = &[
    "echo",
    "printf",
    "cat",
    "jq",
    "grep",
    "egrep",
    "fgrep",
    "sleep",
    "test",
    "[",
    "[[",
    "true",
    "false",
    "ls",
    "pwd",
    "sort",
    "uniq",
    "wc",
    "head",
    "tail",
    "tr",
    "cut",
    "awk",
    "date",
    "env",
    "printenv",
    "which",
    "type",
    "command",
    "dig",
    "nslookup",
    "host",
    "column",
    "base64",
    "basename",
    "dirname",
    "seq",
    "set",
    ":",
    "cd",
    "curl",
    "id",
    "whoami",
    "uname",
    "realpath",
    "readlink",
    "stat",
    "diff",
    "cmp",
    "yq",
    "md5sum",
    "sha256sum",
];

/// Programs that only write the files they are told to, the same way each time.
const FILE_PROGRAMS: &[&str] =
    &["mkdir", "touch", "cp", "tee", "chmod", "ln", "mv", "unzip", "tar", "wget", "sed"];

/// Why a program cannot run unattended, if it cannot.
fn program_blocker(cmd: &Command) -> Option<String> {
    let program = cmd.program()?;
    let args = cmd.args();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let short_flags =
        |c: char| args.iter().any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c));
    match program.as_str() {
        "vi" | "vim" | "nvim" | "nano" | "emacs" | "pico" | "ed" | "code" | "gedit" | "subl" => {
            Some(format!("`{program}` opens an editor"))
        }
        "less" | "more" | "man" | "top" | "htop" => Some(format!("`{program}` waits at the terminal")),
        // `while read line` reads a pipe or a file; a bare `read` (or `read -p`) waits for a person.
        "read" if !cmd.condition || has("-p") => Some("`read` waits for the student to type".into()),
        "ssh" | "telnet" | "ftp" | "sftp" => Some(format!("`{program}` opens an interactive session")),
        "sudo" => Some("`sudo` may ask for a password".into()),
        "open" | "xdg-open" => Some(format!("`{program}` opens a browser or an application")),
        "watch" => Some("`watch` never ends".into()),
        "tail" if has("-f") || has("-F") || has("--follow") => Some("`tail -f` never ends".into()),
        "docker" | "finch" | "podman" => match args.first().map(String::as_str) {
            Some("login") => Some(format!("`{program} login` needs registry credentials typed or piped in")),
            Some("push") => Some(format!("`{program} push` needs a registry login and a local image")),
            Some("run" | "exec")
                if short_flags('i') || short_flags('t') || has("--interactive") || has("--tty") =>
            {
                Some(format!("`{program} {}` with a terminal is interactive", args[0]))
            }
            _ => None,
        },
        "aws" if args.first().is_some_and(|a| a == "configure") && args.len() == 1 => {
            Some("`aws configure` asks questions at the terminal".into())
        }
        "aws" => {
            let call = aws_call(cmd)?;
            match (call.service.as_str(), call.op.as_str()) {
                ("configure", "get" | "list") => None,
                ("configure", "set") => Some("`aws configure set` changes your AWS CLI configuration".into()),
                ("configure", _) => Some("`aws configure` asks questions at the terminal".into()),
                ("sso", "login") => Some("`aws sso login` opens a browser to sign in".into()),
                ("ecs", "execute-command") | ("ssm", "start-session") => {
                    Some(format!("`{}` opens an interactive session", call.name()))
                }
                ("logs", "tail") if call.has("follow") || cmd.args().iter().any(|a| a == "-f") => {
                    Some("`aws logs tail --follow` never ends".into())
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Turns a word into a metadata value: `"$CLUSTER"-web` → `${CLUSTER}-web`. Literal dollars
/// are written `$$`. Fails (with what it is) on command substitutions, other expansions and
/// shell variables that are not lab variables.
pub(crate) fn template(word: &Word, bindings: &[(String, String)], k: &Knowledge) -> Result<String, String> {
    let mut out = String::new();
    for part in &word.parts {
        match part {
            Part::Lit(s) => out.push_str(&s.replace('$', "$$")),
            Part::Var(name) => {
                if let Some((_, value)) = bindings.iter().find(|(n, _)| n == name) {
                    out.push_str(value);
                } else if is_lab_variable(name, k) {
                    out.push_str(&format!("${{{name}}}"));
                } else {
                    return Err(format!("`${name}`, a variable of the shell block"));
                }
            }
            Part::Subst(inner) => return Err(format!("the output of `{}`", one_line(inner))),
            Part::Other(text) => return Err(format!("`{text}`")),
        }
    }
    Ok(out)
}

/// Upper-case names are lab variables by convention; any name an earlier block exported is
/// one too.
fn is_lab_variable(name: &str, k: &Knowledge) -> bool {
    !name.chars().any(|c| c.is_ascii_lowercase()) || k.var(name).is_some_and(|v| v.exported)
}

fn one_line(s: &str) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(60).collect::<String>())
    } else {
        line
    }
}

/// `file://td.json` → `td.json`.
fn file_reference(value: &str) -> Option<&str> {
    value.strip_prefix("file://").or_else(|| value.strip_prefix("fileb://"))
}

fn normalize_path(p: &str) -> String {
    p.trim_start_matches("./").to_string()
}

/// A character no template contains: it stands for a value the shell computes (`$1`,
/// `$name` of the block), so whatever holds it is not used.
const UNKNOWN: char = '\u{1}';

/// Shell text (a here-document body) as template text: lab variables (`$X`, `${X}`) become
/// `${X}`, loop variables their value, other expansions [`UNKNOWN`], literal dollars `$$`.
/// A quoted here-document keeps every dollar literal.
fn shell_text_template(body: &str, quoted: bool, bindings: &[(String, String)], k: &Knowledge) -> String {
    if quoted {
        return body.replace('$', "$$");
    }
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push_str("$$");
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        let braced = chars.get(i + 1) == Some(&'{');
        let start = if braced { i + 2 } else { i + 1 };
        let mut j = start;
        while chars.get(j).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
            j += 1;
        }
        let name: String = chars[start..j].iter().collect();
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if valid && (!braced || chars.get(j) == Some(&'}')) {
            if let Some((_, value)) = bindings.iter().find(|(n, _)| *n == name) {
                out.push_str(value);
            } else if is_lab_variable(&name, k) {
                out.push_str(&format!("${{{name}}}"));
            } else {
                out.push(UNKNOWN);
            }
            i = if braced { j + 1 } else { j };
        } else if chars.get(i + 1).is_some_and(|c| c.is_ascii_digit() || "{(@*#?!".contains(*c)) {
            out.push(UNKNOWN);
            i += 2;
        } else {
            out.push_str("$$");
            i += 1;
        }
    }
    out
}

/// A value inside shorthand or JSON (`Value=${PREFIX}-vpc,` → `${PREFIX}-vpc`): up to a comma,
/// a quote, white space or a closing bracket, with `${NAME}` references kept whole.
const VALUE: &str = r#"(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$\$|[^,"\s}\]$])+"#;

/// The value of the `Name` tag in `--tag-specifications` or `--tags`, as a template.
fn name_tag(call: &AwsCall, bindings: &[(String, String)], k: &Knowledge) -> Option<Result<String, String>> {
    static SHORTHAND: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&format!("Key=Name,Value=({VALUE})")).expect("valid regex")
    });
    static JSON: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#""Key"\s*:\s*"Name"\s*,\s*"Value"\s*:\s*"([^"]+)""#).expect("valid regex")
    });
    for word in call.values("tag-specifications").into_iter().chain(call.values("tags")) {
        let text = match template(word, bindings, k) {
            Ok(t) => t,
            Err(e) if word.display().contains("Key=Name") || word.display().contains("\"Name\"") => {
                return Some(Err(e))
            }
            Err(_) => continue,
        };
        if let Some(c) = SHORTHAND.captures(&text).or_else(|| JSON.captures(&text)) {
            return Some(Ok(c[1].to_string()));
        }
    }
    None
}

/// A JMESPath `--query` that picks one field: the field's name (`Vpc.VpcId` → `VpcId`).
fn query_field(call: &AwsCall) -> Option<String> {
    // `--query` is a global option: aws_call skipped it, so read it from the raw options.
    let query = call.first("query").map(Word::display)?;
    if query.contains(',') {
        return None;
    }
    let last = query.rsplit(['.', ']']).find(|s| !s.is_empty())?;
    Some(last.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string())
}

/// Which lookup field a query's last name stands for, for a resource of this type.
fn lookup_field(field: &str, resource: &ResourceSpec) -> Option<&'static str> {
    let lower = field.to_ascii_lowercase();
    if lower.contains("operation") {
        return None; // An operation id (Cloud Map), not the resource's.
    }
    if lower == "namespace" {
        // `get-operation --query Operation.Targets.NAMESPACE`: the namespace's id.
        return matches!(resource, ResourceSpec::CloudmapNamespace { .. }).then_some("id");
    }
    if lower.ends_with("arn") {
        return Some("arn");
    }
    if lower == "dnsname" {
        return matches!(resource, ResourceSpec::LoadBalancer { .. }).then_some("dns_name");
    }
    if lower.ends_with("id") {
        let by_id = matches!(
            resource,
            ResourceSpec::Vpc { .. }
                | ResourceSpec::Subnet { .. }
                | ResourceSpec::SecurityGroup { .. }
                | ResourceSpec::InternetGateway { .. }
                | ResourceSpec::RouteTable { .. }
                | ResourceSpec::NatGateway { .. }
                | ResourceSpec::ElasticIp { .. }
                | ResourceSpec::VpcEndpoint { .. }
                | ResourceSpec::Ec2Instance { .. }
                | ResourceSpec::LaunchTemplate { .. }
                | ResourceSpec::CloudmapNamespace { .. }
                | ResourceSpec::CloudmapService { .. }
                | ResourceSpec::HostedZone { .. }
        );
        return by_id.then_some("id");
    }
    None
}

/// The text of a JSON input option (`--cli-input-json`, `--container-definitions`): inline,
/// or the here-document an earlier command wrote to the file it names.
fn json_input(call: &AwsCall, option: &str, bindings: &[(String, String)], k: &Knowledge) -> Option<String> {
    let word = call.first(option)?;
    let text = template(word, bindings, k).ok()?;
    if let Some(path) = file_reference(&text) {
        return k.files.get(&normalize_path(path))?.clone();
    }
    Some(text)
}

/// A file path a word names, when it is known before the step runs (loop values included).
fn path_of(word: &Word, bindings: &[(String, String)], k: &Knowledge) -> Option<String> {
    template(word, bindings, k).ok().filter(|t| !t.contains('$')).map(|t| normalize_path(&t))
}

/// Reads JSON; on failure, a JSON object with only the `"key": "value"` pairs found.
fn parse_json(text: &str) -> serde_json::Value {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        return v;
    }
    static PAIR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#""([A-Za-z]+)"\s*:\s*"([^"]*)""#).expect("valid regex")
    });
    let mut map = serde_json::Map::new();
    for c in PAIR.captures_iter(text) {
        map.entry(c[1].to_string()).or_insert_with(|| serde_json::Value::String(c[2].to_string()));
    }
    serde_json::Value::Object(map)
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The family in a task definition reference: `web`, `web:3`, an ARN, or a variable that
/// holds what an earlier `register-task-definition` registered.
fn family_of(word: &Word, bindings: &[(String, String)], k: &Knowledge) -> Option<String> {
    if let [Part::Var(name)] = word.parts.as_slice() {
        return match k.var(name)?.origin.as_ref()?.created.as_ref()? {
            ResourceSpec::TaskDefinition { family } => Some(family.clone()),
            _ => None,
        };
    }
    let text = template(word, bindings, k).ok()?;
    let tail = text.rsplit("task-definition/").next().unwrap_or(&text);
    let family = tail.split(':').next().unwrap_or(tail);
    (!family.is_empty()).then(|| family.to_string())
}

/// The resource a word refers to: a variable whose value an earlier call created or looked
/// up, or a literal ARN.
fn referenced(word: &Word, k: &Knowledge) -> Option<ResourceSpec> {
    if let [Part::Var(name)] = word.parts.as_slice() {
        return var_resource(k.var(name)?);
    }
    arn_resource(&word.literal()?)
}

fn referenced_in(text: &str, k: &Knowledge) -> Option<ResourceSpec> {
    match text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
        Some(name) => var_resource(k.var(name)?),
        None => arn_resource(text),
    }
}

fn arn_resource(arn: &str) -> Option<ResourceSpec> {
    let resource = arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)?;
    let mut parts = resource.split('/');
    match parts.next()? {
        "targetgroup" => Some(ResourceSpec::TargetGroup { name: parts.next()?.to_string() }),
        "loadbalancer" => {
            let _kind = parts.next()?;
            Some(ResourceSpec::LoadBalancer { name: parts.next()?.to_string() })
        }
        _ => None,
    }
}

/// The resource a variable's value stands for: what its call created, or what a read names.
fn var_resource(v: &VarFact) -> Option<ResourceSpec> {
    if v.ambiguous {
        return None;
    }
    let origin = v.origin.as_ref()?;
    origin.created.clone().or_else(|| origin.described.clone())
}

/// The resource a read-only call looks at, when it names one the lookups know: a load
/// balancer or target group by name or by a variable holding its ARN, a namespace by the
/// name in a `--query` filter, or the namespace an operation created.
fn described_resource(call: &AwsCall, k: &Knowledge) -> Option<ResourceSpec> {
    let literal = |name: &str| call.first(name).and_then(Word::literal);
    let by_ref = |name: &str| call.first(name).and_then(|w| referenced(w, k));
    match (call.service.as_str(), call.op.as_str()) {
        ("elbv2", "describe-load-balancers") => literal("names")
            .map(|name| ResourceSpec::LoadBalancer { name })
            .or_else(|| by_ref("load-balancer-arns")),
        ("elbv2", "describe-target-groups") => literal("names")
            .map(|name| ResourceSpec::TargetGroup { name })
            .or_else(|| by_ref("target-group-arns")),
        ("servicediscovery", "list-namespaces") => {
            Some(ResourceSpec::CloudmapNamespace { name: query_name(&call.first("query")?.display())? })
        }
        ("servicediscovery", "get-operation") => {
            by_ref("operation-id").filter(|r| matches!(r, ResourceSpec::CloudmapNamespace { .. }))
        }
        _ => None,
    }
}

/// `Namespaces[?Name=='local'].Id` → `local`.
fn query_name(query: &str) -> Option<String> {
    static NAME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"Name\s*==\s*['`"]([^'`"]+)['`"]"#).expect("valid regex")
    });
    NAME.captures(query).map(|c| c[1].to_string())
}

/// A shell word for a check script: bare when safe, single-quoted otherwise. `${NAME}`
/// references stay as they are (labrunner substitutes them before bash runs the script).
fn sh(value: &str) -> String {
    let without_refs = crate::lab::vars::references(value).map_or(value.to_string(), |refs| {
        let mut rest = value.to_string();
        for r in refs.iter().rev() {
            rest.replace_range(r.offset..r.offset + r.name.len() + 3, "x");
        }
        rest
    });
    let safe = !without_refs.is_empty()
        && without_refs.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c))
        && !without_refs.contains('$');
    if safe {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

fn command_check(run: String, contains: Option<String>, label: String) -> Check {
    Check {
        spec: CheckSpec::Command(CommandCheck { run, output_contains: contains }),
        timeout: None,
        label: Some(label),
    }
}

/// The check that proves `resource` exists, for types no typed check covers.
fn existence_check(resource: &ResourceSpec) -> Option<Check> {
    let check = match resource {
        ResourceSpec::EcsCluster { cluster } => Check::new(CheckSpec::ClusterActive(ClusterRef { cluster: cluster.clone() })),
        ResourceSpec::LogGroup { name } => {
            Check::new(CheckSpec::LogGroup(LogGroup { name: name.clone(), pattern: None }))
        }
        ResourceSpec::IamRole { name } => Check::new(CheckSpec::IamRole(NameRef { name: name.clone() })),
        ResourceSpec::LoadBalancer { name } => Check::new(CheckSpec::LoadBalancerActive(NameRef { name: name.clone() })),
        ResourceSpec::CloudmapNamespace { name } => {
            Check::new(CheckSpec::CloudmapNamespace(NameRef { name: name.clone() }))
        }
        ResourceSpec::DynamodbTable { table } => {
            Check::new(CheckSpec::DynamodbTable(crate::lab::check::DynamodbTable { table: table.clone() }))
        }
        ResourceSpec::Alarm { name } => {
            Check::new(CheckSpec::Alarm(crate::lab::check::Alarm { name: name.clone(), state: None }))
        }
        ResourceSpec::Vpc { name } => command_check(
            format!("aws ec2 describe-vpcs --filters Name=tag:Name,Values={} --query 'Vpcs[].State' --output text", sh(name)),
            Some("available".into()),
            format!("VPC {name} is available"),
        ),
        ResourceSpec::Subnet { vpc, cidr } => command_check(
            format!(
                "aws ec2 describe-subnets --filters Name=vpc-id,Values={} Name=cidr-block,Values={} --query 'Subnets[].State' --output text",
                sh(vpc),
                sh(cidr)
            ),
            Some("available".into()),
            format!("subnet {cidr} of VPC {vpc} is available"),
        ),
        ResourceSpec::SecurityGroup { name, vpc } => command_check(
            format!(
                "aws ec2 describe-security-groups --filters Name=vpc-id,Values={} Name=group-name,Values={} --query 'SecurityGroups[].GroupName' --output text",
                sh(vpc),
                sh(name)
            ),
            Some(name.clone()),
            format!("security group {name} exists in VPC {vpc}"),
        ),
        ResourceSpec::InternetGateway { vpc } => command_check(
            format!(
                "aws ec2 describe-internet-gateways --filters Name=attachment.vpc-id,Values={} --query 'InternetGateways[].Attachments[].State' --output text",
                sh(vpc)
            ),
            Some("available".into()),
            format!("an internet gateway is attached to VPC {vpc}"),
        ),
        ResourceSpec::RouteTable { vpc, name } => command_check(
            format!(
                "aws ec2 describe-route-tables --filters Name=vpc-id,Values={} Name=tag:Name,Values={} --query 'RouteTables[].RouteTableId' --output text",
                sh(vpc),
                sh(name)
            ),
            Some("rtb-".into()),
            format!("route table {name} exists in VPC {vpc}"),
        ),
        ResourceSpec::NatGateway { vpc, name } => command_check(
            format!(
                "aws ec2 describe-nat-gateways --filter Name=vpc-id,Values={} Name=tag:Name,Values={} --query 'NatGateways[].State' --output text",
                sh(vpc),
                sh(name)
            ),
            Some("available".into()),
            format!("NAT gateway {name} is available"),
        ),
        ResourceSpec::ElasticIp { name } => command_check(
            format!("aws ec2 describe-addresses --filters Name=tag:Name,Values={} --query 'Addresses[].AllocationId' --output text", sh(name)),
            Some("eipalloc-".into()),
            format!("Elastic IP {name} is allocated"),
        ),
        ResourceSpec::VpcEndpoint { vpc, service } => command_check(
            format!(
                "aws ec2 describe-vpc-endpoints --filters Name=vpc-id,Values={} Name=service-name,Values={} --query 'VpcEndpoints[].State' --output text",
                sh(vpc),
                sh(service)
            ),
            Some("vailable".into()),
            format!("the VPC endpoint for {service} is available"),
        ),
        ResourceSpec::Ec2Instance { name } => command_check(
            format!(
                "aws ec2 describe-instances --filters Name=tag:Name,Values={} Name=instance-state-name,Values=running --query 'Reservations[].Instances[].InstanceId' --output text",
                sh(name)
            ),
            Some("i-".into()),
            format!("instance {name} is running"),
        ),
        ResourceSpec::LaunchTemplate { name } => command_check(
            format!("aws ec2 describe-launch-templates --launch-template-names {} --query 'LaunchTemplates[].LaunchTemplateName' --output text", sh(name)),
            Some(name.clone()),
            format!("launch template {name} exists"),
        ),
        ResourceSpec::TargetGroup { name } => command_check(
            format!("aws elbv2 describe-target-groups --names {} --query 'TargetGroups[].TargetGroupName' --output text", sh(name)),
            Some(name.clone()),
            format!("target group {name} exists"),
        ),
        ResourceSpec::Listener { load_balancer, port } => command_check(
            format!(
                "aws elbv2 describe-listeners --load-balancer-arn \"$(aws elbv2 describe-load-balancers --names {} --query 'LoadBalancers[0].LoadBalancerArn' --output text)\" --query 'Listeners[?Port==`{port}`].ListenerArn' --output text",
                sh(load_balancer)
            ),
            Some("listener/".into()),
            format!("load balancer {load_balancer} listens on port {port}"),
        ),
        ResourceSpec::ListenerRule { load_balancer, port, priority } => command_check(
            format!(
                "aws elbv2 describe-rules --listener-arn \"$(aws elbv2 describe-listeners --load-balancer-arn \"$(aws elbv2 describe-load-balancers --names {} --query 'LoadBalancers[0].LoadBalancerArn' --output text)\" --query 'Listeners[?Port==`{port}`].ListenerArn' --output text)\" --query 'Rules[].Priority' --output text",
                sh(load_balancer)
            ),
            Some(priority.to_string()),
            format!("the listener on port {port} of {load_balancer} has a rule at priority {priority}"),
        ),
        ResourceSpec::CloudmapService { namespace, name } => command_check(
            "aws servicediscovery list-services --query 'Services[].Name' --output text".to_string(),
            Some(name.clone()),
            format!("Cloud Map service {name} exists (namespace {namespace})"),
        ),
        ResourceSpec::InstanceProfile { name } => command_check(
            format!("aws iam get-instance-profile --instance-profile-name {} --query 'InstanceProfile.InstanceProfileName' --output text", sh(name)),
            Some(name.clone()),
            format!("instance profile {name} exists"),
        ),
        ResourceSpec::AutoscalingGroup { .. }
        | ResourceSpec::CapacityProvider { .. }
        | ResourceSpec::EcrRepository { .. }
        | ResourceSpec::SsmParameter { .. } => Check::new(CheckSpec::Exists(crate::lab::check::ResourceRef(resource.clone()))),
        ResourceSpec::Secret { name } => command_check(
            format!("aws secretsmanager describe-secret --secret-id {} --query 'Name' --output text", sh(name)),
            Some(name.clone()),
            format!("secret {name} exists"),
        ),
        ResourceSpec::IamPolicy { name } => command_check(
            "aws iam list-policies --scope Local --query 'Policies[].PolicyName' --output text".to_string(),
            Some(name.clone()),
            format!("IAM policy {name} exists"),
        ),
        ResourceSpec::AcmCertificate { domain } => command_check(
            "aws acm list-certificates --query 'CertificateSummaryList[].DomainName' --output text".to_string(),
            Some(domain.clone()),
            format!("a certificate for {domain} is requested"),
        ),
        ResourceSpec::HostedZone { name } => command_check(
            format!("aws route53 list-hosted-zones-by-name --dns-name {} --query 'HostedZones[].Name' --output text", sh(name)),
            Some(name.trim_end_matches('.').to_string()),
            format!("hosted zone {name} exists"),
        ),
        ResourceSpec::Dashboard { name } => command_check(
            format!("aws cloudwatch get-dashboard --dashboard-name {} --query DashboardName --output text", sh(name)),
            Some(name.clone()),
            format!("dashboard {name} exists"),
        ),
        // Covered by the typed check their command gives (task_definition, service_stable,
        // scalable_target, scaling_policy), or written with the record (dns_record).
        ResourceSpec::TaskDefinition { .. }
        | ResourceSpec::EcsService { .. }
        | ResourceSpec::ScalableTarget { .. }
        | ResourceSpec::ScalingPolicy { .. }
        | ResourceSpec::DnsRecord { .. } => return None,
    };
    Some(check)
}

/// The state of one step's inference while its commands are read.
struct StepState<'a> {
    step: &'a str,
    plan: StepPlan,
    /// Commands that read only and can run again as a check: (script, what it is).
    rereadable: Vec<(String, String)>,
    /// Variables the step assigns by hand (for a "has a value" check).
    assigned: Vec<String>,
    /// Files the step writes.
    written: Vec<String>,
    /// URLs fetched with curl.
    urls: Vec<String>,
    /// Saw `aws sts get-caller-identity`.
    identity: bool,
    /// Saw an AWS call that does not delete.
    non_delete: bool,
    /// Saw an AWS call that deletes.
    deletes: bool,
    /// Saw an AWS call that creates, changes or deletes something.
    changes: bool,
    /// Internet gateways created (by variable) and not attached yet.
    gateways: Vec<(Option<String>, Location)>,
    /// Resources whose `Name` tag was not given yet: (kind, variable holding its id, where).
    unnamed: Vec<(&'static str, Option<String>, Location, Option<String>)>,
    /// Variables assigned without `export` in this block, and whether later blocks use them.
    local_vars: Vec<(String, Location)>,
}

impl StepState<'_> {
    fn finding(&mut self, location: Location, rule: &'static str, message: String) {
        if !self.plan.findings.iter().any(|f| f.location == location && f.rule == rule) {
            self.plan.findings.push(Finding { location, rule, message });
        }
    }

    fn check(&mut self, check: Check) {
        if !self.plan.checks.contains(&check) {
            self.plan.checks.push(check);
        }
    }

    fn creates(&mut self, resource: ResourceSpec) {
        if !self.plan.creates.contains(&resource) {
            if let Some(check) = existence_check(&resource) {
                self.check(check);
            }
            self.plan.creates.push(resource);
        }
    }

    fn blocker(&mut self, location: Location, reason: String) {
        let message = format!(
            "{reason}, so labrunner cannot run this step unattended; the step is marked `mode: console` (its commands are shown and its checks verify what the student did). To let labrunner run the rest, put this command in a block of its own marked ```bash {{labrunner=show}} and remove `mode: console`"
        );
        self.finding(location, "import-unattended", message);
        if self.plan.unattended_blocker.is_none() {
            self.plan.unattended_blocker = Some(reason);
        }
    }
}

/// Reads one step's blocks, in order, and says what the step does. `k` learns the files
/// and variables the step sets, for the steps after it.
pub(crate) fn infer_step(k: &mut Knowledge, step: &str, blocks: &[BlockIn<'_>]) -> StepPlan {
    let mut st = StepState {
        step,
        plan: StepPlan { idempotent: true, ..StepPlan::default() },
        rereadable: Vec::new(),
        assigned: Vec::new(),
        written: Vec::new(),
        urls: Vec::new(),
        identity: false,
        non_delete: false,
        deletes: false,
        changes: false,
        gateways: Vec::new(),
        unnamed: Vec::new(),
        local_vars: Vec::new(),
    };
    for block in blocks {
        let commands = shell::parse(block.code);
        // Uses of variables an earlier block assigned without `export`.
        let locals = std::mem::take(&mut st.local_vars);
        for (name, at) in &locals {
            if uses_var(&commands, name) {
                st.finding(
                    at.clone(),
                    "import-not-exported",
                    format!("`{name}` is set without `export`, but a later block uses it: labrunner runs each block in a shell of its own and keeps only exported variables; write `export {name}=...`"),
                );
            }
        }
        let mut still_local: Vec<(String, Location)> =
            locals.into_iter().filter(|(n, _)| !exports_var(&commands, n)).collect();
        for cmd in &commands {
            st.plan.has_commands = true;
            let at = Location::new(
                &block.at.file,
                block.at.line + cmd.line,
                block.at.column + cmd.column.saturating_sub(1),
            );
            for bindings in loop_bindings(cmd, k) {
                read_command(k, &mut st, cmd, &bindings, &at);
            }
            for assign in
                cmd.assigns.iter().filter(|a| cmd.words.is_empty() && !a.exported && a.value.is_some())
            {
                if !still_local.iter().any(|(n, _)| *n == assign.name) {
                    still_local.push((assign.name.clone(), at.clone()));
                }
            }
        }
        st.local_vars = still_local;
    }
    finish(k, st)
}

/// Learns the values a block that is only shown sets by hand (nothing else of it).
pub(crate) fn shown_values(k: &mut Knowledge, block: &BlockIn<'_>) {
    for cmd in shell::parse(block.code) {
        if !cmd.words.is_empty() {
            continue;
        }
        for assign in cmd.assigns.iter().filter(|a| a.exported) {
            let Some(value) = &assign.value else { continue };
            if value.whole_substitution().is_some()
                || k.shown_values.iter().any(|(n, _, _)| *n == assign.name)
            {
                continue;
            }
            if let Ok(template) = template(value, &[], k) {
                let at = Location::new(&block.at.file, block.at.line + cmd.line, block.at.column);
                k.shown_values.push((assign.name.clone(), template, at));
            }
        }
    }
}

/// Whether any command (or an unquoted here-document) uses `$name`.
fn uses_var(commands: &[Command], name: &str) -> bool {
    let in_word = |w: &Word| w.parts.iter().any(|p| matches!(p, Part::Var(n) if n == name));
    commands.iter().any(|c| {
        c.words.iter().any(in_word)
            || c.assigns.iter().filter_map(|a| a.value.as_ref()).any(in_word)
            || c.heredoc.as_ref().is_some_and(|h| {
                !h.quoted
                    && (h.body.contains(&format!("${name}")) || h.body.contains(&format!("${{{name}}}")))
            })
    })
}

fn exports_var(commands: &[Command], name: &str) -> bool {
    commands.iter().any(|c| c.assigns.iter().any(|a| a.name == name && a.exported))
}

/// The loop-variable values a command runs with: one binding set per iteration (at most 16).
fn loop_bindings(cmd: &Command, k: &Knowledge) -> Vec<Vec<(String, String)>> {
    let mut sets: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for l in &cmd.loops {
        let values: Vec<String> = l.values.iter().filter_map(|w| template(w, &[], k).ok()).collect();
        if values.is_empty() || values.len() != l.values.len() {
            continue;
        }
        let mut next = Vec::new();
        for set in &sets {
            for v in &values {
                let mut s = set.clone();
                s.push((l.var.clone(), v.clone()));
                next.push(s);
            }
        }
        sets = next.into_iter().take(16).collect();
    }
    sets
}

fn read_command(
    k: &mut Knowledge,
    st: &mut StepState<'_>,
    cmd: &Command,
    bindings: &[(String, String)],
    at: &Location,
) {
    if let Some(reason) = program_blocker(cmd) {
        st.blocker(at.clone(), reason);
    }
    // Files it reads that nothing wrote.
    let mut reads: Vec<String> = cmd.reads.iter().filter_map(|w| path_of(w, bindings, k)).collect();
    for word in cmd.words.iter().skip(1) {
        if let Some(path) = path_of(word, bindings, k).as_deref().and_then(file_reference) {
            reads.push(normalize_path(path));
        }
    }
    for path in reads {
        if path.starts_with('/') || path.starts_with('~') || k.wrote_unknown {
            continue;
        }
        if !k.files.contains_key(&path) {
            st.blocker(
                at.clone(),
                format!("it reads `{path}`, which no earlier command of the pages writes (write it in a block, with `cat > {path} <<'EOF'`)"),
            );
        }
    }
    // Files it writes.
    let mut appended = false;
    let mut writes: Vec<(String, Option<String>)> = Vec::new();
    let heredoc = cmd.heredoc.as_ref().map(|h| shell_text_template(&h.body, h.quoted, bindings, k));
    let mut targets: Vec<&Word> = Vec::new();
    for redirect in &cmd.writes {
        appended |= redirect.append;
        targets.push(&redirect.target);
    }
    let program = cmd.program().unwrap_or_default();
    let args = cmd.args();
    let operands: Vec<&Word> = cmd.words.iter().skip(1).filter(|w| !w.display().starts_with('-')).collect();
    match program.as_str() {
        "tee" => {
            appended |= args.iter().any(|a| a == "-a" || a == "--append");
            targets.extend(operands.iter().copied());
        }
        "cp" | "mv" | "ln" => targets.extend(operands.last().copied()),
        "touch" => targets.extend(operands.iter().copied()),
        _ => {}
    }
    for target in targets {
        match path_of(target, bindings, k) {
            Some(path) if path.starts_with("/dev/") => {}
            Some(path) => {
                writes.push((path, if program == "cp" || program == "mv" { None } else { heredoc.clone() }))
            }
            None => k.wrote_unknown = true,
        }
    }
    match program.as_str() {
        "curl" | "wget" => {
            let flag = if program == "curl" { ["-o", "--output"] } else { ["-O", "--output-document"] };
            if let Some(i) = args.iter().position(|a| flag.contains(&a.as_str())) {
                match cmd.words.get(i + 2).and_then(|w| path_of(w, bindings, k)) {
                    Some(path) => writes.push((path, None)),
                    None => k.wrote_unknown = true,
                }
            }
            if program == "curl" {
                let mutating = args.iter().any(|a| {
                    matches!(
                        a.as_str(),
                        "-X" | "--request" | "-d" | "--data" | "--data-raw" | "-F" | "--form" | "-T"
                    )
                });
                if mutating {
                    st.plan.idempotent = false;
                }
                if let Some(url) = cmd.words.iter().skip(1).find(|w| {
                    let d = w.display();
                    d.starts_with("http://") || d.starts_with("https://")
                }) {
                    if let Ok(url) = template(url, bindings, k) {
                        if !mutating && !st.urls.contains(&url) {
                            st.urls.push(url);
                        }
                    }
                }
            }
        }
        _ => {}
    }
    for (path, content) in writes {
        if !st.written.contains(&path) {
            st.written.push(path.clone());
        }
        k.files.insert(path, content);
    }
    if appended {
        st.plan.idempotent = false;
    }
    // Assignments that stay (no program after them).
    if cmd.words.is_empty() {
        for assign in &cmd.assigns {
            record_assignment(k, st, assign, bindings, at);
        }
    }
    // The program itself.
    if program == "aws" {
        if let Some(call) = aws_call(cmd) {
            read_aws(k, st, cmd, &call, bindings, at);
        }
        return;
    }
    if program.is_empty() {
        return;
    }
    let harmless = READ_ONLY_PROGRAMS.contains(&program.as_str())
        || FILE_PROGRAMS.contains(&program.as_str())
        || matches!(program.as_str(), "export" | "declare" | "local" | "readonly" | "unset" | "source" | ".");
    let mkdir_ok = program != "mkdir" || args.iter().any(|a| a == "-p");
    if !((harmless && mkdir_ok) || cmd.guarded || cmd.tolerated) {
        st.plan.idempotent = false;
    }
}

fn record_assignment(
    k: &mut Knowledge,
    st: &mut StepState<'_>,
    assign: &shell::Assign,
    bindings: &[(String, String)],
    at: &Location,
) {
    let Some(value) = &assign.value else {
        if let Some(v) = k.var_mut(&assign.name) {
            v.exported = true;
        }
        return;
    };
    if matches!(assign.name.as_str(), "AWS_REGION" | "AWS_DEFAULT_REGION" | "AWS_PROFILE") && assign.exported
    {
        st.finding(
            at.clone(),
            "import-region",
            format!("the page sets `{}` itself; labrunner runs every block with the identity and region it shows, so this line would send the commands elsewhere: remove it, or move it to a block marked {{labrunner=show}}", assign.name),
        );
    }
    if value.whole_substitution().is_some() {
        // The captured command was read first; an AWS call recorded the variable already.
        match k.var_mut(&assign.name) {
            Some(v) => v.exported |= assign.exported,
            None => k.vars.push(VarFact {
                name: assign.name.clone(),
                value: VarValue::Captured,
                exported: assign.exported,
                step: st.step.to_string(),
                location: at.clone(),
                origin: None,
                ambiguous: false,
            }),
        }
        return;
    }
    let literal = template(value, bindings, k);
    if !st.assigned.contains(&assign.name) {
        st.assigned.push(assign.name.clone());
    }
    match k.var_mut(&assign.name) {
        Some(v) => {
            v.exported |= assign.exported;
        }
        None => k.vars.push(VarFact {
            name: assign.name.clone(),
            value: VarValue::Literal(literal),
            exported: assign.exported,
            step: st.step.to_string(),
            location: at.clone(),
            origin: None,
            ambiguous: false,
        }),
    }
}

fn read_aws(
    k: &mut Knowledge,
    st: &mut StepState<'_>,
    cmd: &Command,
    call: &AwsCall,
    bindings: &[(String, String)],
    at: &Location,
) {
    if let Some(flag) = &call.own_place {
        st.finding(
            at.clone(),
            "import-region",
            format!("`{}` sets `{flag}` itself; labrunner runs every command with the identity and region it shows, and looks for what the step creates there: remove `{flag}`", call.name()),
        );
    }
    let kind = op_kind(&call.service, &call.op);
    st.changes |= kind != OpKind::Read;
    match kind {
        OpKind::Delete => st.deletes = true,
        _ => st.non_delete = true,
    }
    if !(naturally_idempotent(call) || cmd.guarded || cmd.tolerated) {
        st.plan.idempotent = false;
    }
    let (handled, created) = apply_rules(k, st, call, bindings, at);
    if kind == OpKind::Read {
        if call.service == "sts" && call.op == "get-caller-identity" {
            st.identity = true;
        }
        if cmd.heredoc.is_none() && cmd.loops.is_empty() {
            if let Some(script) = check_script(&cmd.text, k) {
                st.rereadable.push((script, call.name()));
            }
        }
    }
    if kind == OpKind::Create && !handled {
        if let Some(what) = untyped_creation(call) {
            st.finding(
                at.clone(),
                "import-no-resource-type",
                format!("`{}` creates {what}, for which labrunner has no resource type: cleanup will not remove it; tell the student to delete it by hand at the end, or leave it out of the lab", call.name()),
            );
        }
    }
    // The variable this call's output is assigned to.
    if let Some((name, exported)) = &cmd.captured_by {
        let described = if created.is_none() { described_resource(call, k) } else { None };
        let field = created
            .as_ref()
            .or(described.as_ref())
            .and_then(|r| query_field(call).and_then(|f| lookup_field(&f, r)));
        let origin = Origin { call: call.clone(), created: created.clone(), described, field };
        let set_by_create = created.is_some();
        match k.var_mut(name) {
            Some(v) => {
                v.exported |= exported;
                if v.value == VarValue::Captured
                    && set_by_create
                    && v.origin.as_ref().is_some_and(|o| o.created.is_some())
                {
                    v.ambiguous |= v.origin.as_ref().and_then(|o| o.created.as_ref()) != created.as_ref();
                }
                v.origin = Some(origin);
            }
            None => k.vars.push(VarFact {
                name: name.clone(),
                value: VarValue::Captured,
                exported: *exported,
                step: st.step.to_string(),
                location: at.clone(),
                origin: Some(origin),
                ambiguous: false,
            }),
        }
        // An internet gateway held in a variable, waiting to be attached.
        if call.service == "ec2" && call.op == "create-internet-gateway" {
            if let Some(g) = st.gateways.last_mut().filter(|g| g.0.is_none()) {
                g.0 = Some(name.clone());
            }
        }
        if let Some(u) = st.unnamed.last_mut().filter(|u| u.1.is_none() && u.2 == *at) {
            u.1 = Some(name.clone());
        }
    }
}

/// What an AWS call outside the resource types creates, in words; `None` for calls that
/// create nothing to clean up (routes, tags, service-linked roles).
fn untyped_creation(call: &AwsCall) -> Option<String> {
    let op = call.op.as_str();
    if matches!(
        op,
        "create-route"
            | "create-tags"
            | "put-retention-policy"
            | "create-service-linked-role"
            | "register-instance"
            | "register-targets"
    ) || op.starts_with("put-")
        || call.service == "s3"
        || call.service == "sts"
    {
        return None;
    }
    let thing = op
        .strip_prefix("create-")
        .or_else(|| op.strip_prefix("register-"))
        .or_else(|| op.strip_prefix("run-"))
        .or_else(|| op.strip_prefix("request-"))
        .or_else(|| op.strip_prefix("allocate-"))
        .or_else(|| op.strip_prefix("import-"))
        .unwrap_or(op)
        .replace('-', " ");
    Some(format!("something ({} {thing})", call.service))
}

/// A read-only command as a check script, when every variable it uses is a lab variable.
fn check_script(text: &str, k: &Knowledge) -> Option<String> {
    let words = shell::parse(text);
    let all_known = words.iter().all(|c| {
        c.words.iter().all(|w| {
            w.parts.iter().all(|p| match p {
                Part::Var(n) => is_lab_variable(n, k),
                Part::Other(_) => false,
                _ => true,
            })
        })
    });
    if !all_known || text.contains("$$") {
        return None;
    }
    // `${NAME}` is substituted by labrunner; other braces are bash's own and are escaped.
    let mut out = String::new();
    let mut rest = text.trim();
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        match crate::lab::vars::references(after) {
            Ok(refs) if refs.first().is_some_and(|r| r.offset == 0) => {
                let len = refs[0].name.len() + 3;
                out.push_str(&after[..len]);
                rest = &after[len..];
            }
            _ => {
                out.push_str("$$");
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// The required option `name` as a template, or a finding saying why it is missing.
fn need(
    st: &mut StepState<'_>,
    k: &Knowledge,
    call: &AwsCall,
    bindings: &[(String, String)],
    at: &Location,
    option: &str,
) -> Option<String> {
    let Some(word) = call.first(option) else {
        st.finding(
            at.clone(),
            "import-unknown-value",
            format!("`{}` has no `--{option}` labrunner can read, so what it creates is not declared for cleanup; add its `creates` entry by hand", call.name()),
        );
        return None;
    };
    match template(word, bindings, k) {
        Ok(value) => Some(value),
        Err(why) => {
            st.finding(
                at.clone(),
                "import-unknown-value",
                format!("`--{option}` of `{}` is {why}, which labrunner cannot know before the step runs, so what it creates is not declared for cleanup; use a literal or an exported variable, or add its `creates` entry by hand", call.name()),
            );
            None
        }
    }
}

fn opt(k: &Knowledge, call: &AwsCall, bindings: &[(String, String)], option: &str) -> Option<String> {
    call.first(option).and_then(|w| template(w, bindings, k).ok())
}

fn number<T: std::str::FromStr>(text: Option<String>) -> Option<T> {
    text.and_then(|t| t.trim().parse().ok())
}

/// The name of the namespace a `--namespace-id` (or `NamespaceId=` in `--dns-config`) names.
fn namespace_of(call: &AwsCall, k: &Knowledge) -> Option<String> {
    if let Some(word) = call.first("namespace-id") {
        if let Some(ResourceSpec::CloudmapNamespace { name }) = referenced(word, k) {
            return Some(name);
        }
    }
    static NS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"NamespaceId"?\s*[=:]\s*"?(\$\{[A-Za-z_][A-Za-z0-9_]*\})"#).expect("valid regex")
    });
    let config = call.first("dns-config").and_then(|w| template(w, &[], k).ok())?;
    match referenced_in(&NS.captures(&config)?[1], k)? {
        ResourceSpec::CloudmapNamespace { name } => Some(name),
        _ => None,
    }
}

/// The rules: what each known AWS call creates and which check proves it. Returns whether a
/// rule knows the call, and the resource it created (for a variable that captures its output).
fn apply_rules(
    k: &mut Knowledge,
    st: &mut StepState<'_>,
    call: &AwsCall,
    b: &[(String, String)],
    at: &Location,
) -> (bool, Option<ResourceSpec>) {
    let mut handled = true;
    let created = rule(k, st, call, b, at, &mut handled);
    if let Some(resource) = &created {
        st.creates(resource.clone());
    }
    (handled, created)
}

fn rule(
    k: &mut Knowledge,
    st: &mut StepState<'_>,
    call: &AwsCall,
    b: &[(String, String)],
    at: &Location,
    handled: &mut bool,
) -> Option<ResourceSpec> {
    match (call.service.as_str(), call.op.as_str()) {
        ("ecs", "create-cluster") => {
            let cluster = match call.first("cluster-name") {
                Some(_) => need(st, k, call, b, at, "cluster-name")?,
                None => "default".to_string(),
            };
            Some(ResourceSpec::EcsCluster { cluster })
        }
        ("ecs", "register-task-definition") => {
            let input = json_input(call, "cli-input-json", b, k).map(|t| parse_json(&t));
            let family = opt(k, call, b, "family")
                .or_else(|| input.as_ref().and_then(|j| j.get("family")).and_then(json_text))
                .filter(|f| !f.contains(UNKNOWN) && !f.is_empty());
            let Some(family) = family else {
                st.finding(
                    at.clone(),
                    "import-unknown-value",
                    "`aws ecs register-task-definition` names no family labrunner can read (`--family`, or `family` in a `--cli-input-json` file the pages write), so the task definition is not declared for cleanup; add `task_definition: { family: ... }` to `creates`".into(),
                );
                return None;
            };
            let containers = json_input(call, "container-definitions", b, k)
                .map(|t| parse_json(&t))
                .or_else(|| input.as_ref().and_then(|j| j.get("containerDefinitions").cloned()));
            let field = |key: &str, option: &str| {
                opt(k, call, b, option)
                    .or_else(|| input.as_ref().and_then(|j| j.get(key)).and_then(json_text))
                    .filter(|v| !v.contains(UNKNOWN) && !v.contains('$'))
            };
            let port = containers
                .as_ref()
                .and_then(|c| c.get(0))
                .and_then(|c| c.get("portMappings"))
                .and_then(|p| p.get(0))
                .and_then(|p| p.get("containerPort"))
                .and_then(json_text)
                .and_then(|p| p.parse().ok());
            st.check(Check::new(CheckSpec::TaskDefinition(TaskDefinitionCheck {
                family: family.clone(),
                revision: None,
                container: None,
                image: None,
                cpu: field("cpu", "cpu"),
                memory: field("memory", "memory"),
                network_mode: field("networkMode", "network-mode"),
                container_port: port,
                health_check: None,
            })));
            Some(ResourceSpec::TaskDefinition { family })
        }
        ("ecs", "create-service") => {
            let input = json_input(call, "cli-input-json", b, k).map(|t| parse_json(&t));
            let from_input = |key: &str| {
                input.as_ref().and_then(|j| j.get(key)).and_then(json_text).filter(|v| !v.contains(UNKNOWN))
            };
            let cluster = opt(k, call, b, "cluster")
                .or_else(|| from_input("cluster"))
                .unwrap_or_else(|| "default".into());
            let service = match opt(k, call, b, "service-name").or_else(|| from_input("serviceName")) {
                Some(s) => s,
                None => need(st, k, call, b, at, "service-name")?,
            };
            let family = call.first("task-definition").and_then(|w| family_of(w, b, k));
            st.check(Check::new(CheckSpec::ServiceStable(ServiceStable {
                cluster: cluster.clone(),
                service: service.clone(),
                task_definition: family,
            })));
            for word in call.values("load-balancers") {
                for tg in target_groups_in(word, b, k) {
                    st.check(Check::new(CheckSpec::TargetsHealthy(TargetsHealthy {
                        target_group: tg,
                        min_healthy: None,
                        all_healthy: None,
                        cluster: Some(cluster.clone()),
                        service: Some(service.clone()),
                    })));
                }
            }
            for word in call.values("service-registries") {
                if let Some(ResourceSpec::CloudmapService { namespace, name }) = registry_in(word, b, k) {
                    st.check(Check::new(CheckSpec::CloudmapInstances(CloudmapInstances {
                        namespace: Some(namespace),
                        service: name,
                        min: None,
                        healthy_only: None,
                    })));
                }
            }
            Some(ResourceSpec::EcsService { cluster, service })
        }
        ("ecs", "update-service") => {
            let cluster = opt(k, call, b, "cluster").unwrap_or_else(|| "default".into());
            if let Some(service) = opt(k, call, b, "service") {
                let family = call.first("task-definition").and_then(|w| family_of(w, b, k));
                st.check(Check::new(CheckSpec::ServiceStable(ServiceStable {
                    cluster,
                    service,
                    task_definition: family,
                })));
            }
            None
        }
        ("elbv2", "create-load-balancer") => {
            Some(ResourceSpec::LoadBalancer { name: need(st, k, call, b, at, "name")? })
        }
        ("elbv2", "create-target-group") => {
            Some(ResourceSpec::TargetGroup { name: need(st, k, call, b, at, "name")? })
        }
        ("elbv2", "create-listener") => {
            let lb = call.first("load-balancer-arn").and_then(|w| referenced(w, k));
            let port: Option<u16> = number(opt(k, call, b, "port"));
            match (lb, port) {
                (Some(ResourceSpec::LoadBalancer { name }), Some(port)) => {
                    Some(ResourceSpec::Listener { load_balancer: name, port })
                }
                _ => {
                    st.finding(at.clone(), "import-unknown-value", "labrunner cannot tell the load balancer (by name) or the port of this listener, so it is not declared for cleanup; add `listener: { load_balancer: NAME, port: PORT }` to `creates`".into());
                    None
                }
            }
        }
        ("elbv2", "create-rule") => {
            let listener = call.first("listener-arn").and_then(|w| referenced(w, k));
            let priority: Option<u32> = number(opt(k, call, b, "priority"));
            match (listener, priority) {
                (Some(ResourceSpec::Listener { load_balancer, port }), Some(priority)) => {
                    Some(ResourceSpec::ListenerRule { load_balancer, port, priority })
                }
                _ => {
                    st.finding(at.clone(), "import-unknown-value", "labrunner cannot tell the listener (load balancer and port) or the priority of this rule, so it is not declared for cleanup; add `listener_rule: { load_balancer: NAME, port: PORT, priority: N }` to `creates`".into());
                    None
                }
            }
        }
        (
            "servicediscovery",
            "create-private-dns-namespace" | "create-public-dns-namespace" | "create-http-namespace",
        ) => Some(ResourceSpec::CloudmapNamespace { name: need(st, k, call, b, at, "name")? }),
        ("servicediscovery", "create-service") => {
            let name = need(st, k, call, b, at, "name")?;
            match namespace_of(call, k) {
                Some(namespace) => Some(ResourceSpec::CloudmapService { namespace, name }),
                None => {
                    st.finding(at.clone(), "import-unknown-value", format!("labrunner cannot tell which namespace Cloud Map service `{name}` is in, so it is not declared for cleanup; add `cloudmap_service: {{ namespace: NAME, name: {name} }}` to `creates`"));
                    None
                }
            }
        }
        ("logs", "create-log-group") => {
            Some(ResourceSpec::LogGroup { name: need(st, k, call, b, at, "log-group-name")? })
        }
        ("iam", "create-role") => {
            Some(ResourceSpec::IamRole { name: need(st, k, call, b, at, "role-name")? })
        }
        ("iam", "create-policy") => {
            Some(ResourceSpec::IamPolicy { name: need(st, k, call, b, at, "policy-name")? })
        }
        ("iam", "create-instance-profile") => {
            Some(ResourceSpec::InstanceProfile { name: need(st, k, call, b, at, "instance-profile-name")? })
        }
        ("secretsmanager", "create-secret") => {
            Some(ResourceSpec::Secret { name: need(st, k, call, b, at, "name")? })
        }
        ("autoscaling", "create-auto-scaling-group") => Some(ResourceSpec::AutoscalingGroup {
            name: need(st, k, call, b, at, "auto-scaling-group-name")?,
        }),
        // The cluster is learnt from a put-cluster-capacity-providers later in the step.
        ("ecs", "put-cluster-capacity-providers") => {
            if let Some(cluster) = opt(k, call, b, "cluster") {
                let named: Vec<String> = call
                    .values("capacity-providers")
                    .into_iter()
                    .filter_map(|w| template(w, b, k).ok())
                    .collect();
                for created in st.plan.creates.iter_mut() {
                    if let ResourceSpec::CapacityProvider { name, cluster: which @ None } = created {
                        if named.iter().any(|n| n == name) {
                            *which = Some(cluster.clone());
                        }
                    }
                }
            }
            None
        }
        ("ecs", "create-capacity-provider") => {
            Some(ResourceSpec::CapacityProvider { name: need(st, k, call, b, at, "name")?, cluster: None })
        }
        ("ecr", "create-repository") => {
            Some(ResourceSpec::EcrRepository { name: need(st, k, call, b, at, "repository-name")? })
        }
        ("ssm", "put-parameter") => {
            Some(ResourceSpec::SsmParameter { name: need(st, k, call, b, at, "name")? })
        }
        ("iam", "attach-role-policy") => {
            if let (Some(role), Some(policy)) = (opt(k, call, b, "role-name"), opt(k, call, b, "policy-arn"))
            {
                st.check(command_check(
                    format!("aws iam list-attached-role-policies --role-name {} --query 'AttachedPolicies[].PolicyArn' --output text", sh(&role)),
                    Some(policy.clone()),
                    format!("role {role} has {} attached", policy.rsplit('/').next().unwrap_or(&policy)),
                ));
            }
            None
        }
        ("iam", "put-role-policy") => {
            if let (Some(role), Some(policy)) = (opt(k, call, b, "role-name"), opt(k, call, b, "policy-name"))
            {
                st.check(command_check(
                    format!("aws iam get-role-policy --role-name {} --policy-name {} --query PolicyName --output text", sh(&role), sh(&policy)),
                    Some(policy.clone()),
                    format!("role {role} has the inline policy {policy}"),
                ));
            }
            None
        }
        ("ec2", "create-vpc") => {
            named(st, k, call, b, at, "vpc", None).map(|name| ResourceSpec::Vpc { name })
        }
        ("ec2", "create-subnet") => {
            let vpc = need(st, k, call, b, at, "vpc-id")?;
            let cidr = need(st, k, call, b, at, "cidr-block")?;
            Some(ResourceSpec::Subnet { vpc, cidr })
        }
        ("ec2", "create-security-group") => {
            let name = need(st, k, call, b, at, "group-name")?;
            let vpc = need(st, k, call, b, at, "vpc-id")?;
            Some(ResourceSpec::SecurityGroup { name, vpc })
        }
        ("ec2", "authorize-security-group-ingress") => {
            if let (Some(group), Some(port)) = (opt(k, call, b, "group-id"), opt(k, call, b, "port")) {
                let from = port.split('-').next().unwrap_or(&port).to_string();
                st.check(command_check(
                    format!("aws ec2 describe-security-groups --group-ids {} --query 'SecurityGroups[].IpPermissions[].FromPort' --output text", sh(&group)),
                    Some(from),
                    format!("security group {group} admits port {port}"),
                ));
            }
            None
        }
        ("ec2", "create-internet-gateway") => {
            st.gateways.push((None, at.clone()));
            None
        }
        ("ec2", "attach-internet-gateway") => {
            let gateway = call.first("internet-gateway-id").and_then(|w| match w.parts.as_slice() {
                [Part::Var(n)] => Some(n.clone()),
                _ => None,
            });
            let vpc = opt(k, call, b, "vpc-id");
            if let (Some(vpc), Some(i)) =
                (vpc, st.gateways.iter().position(|g| g.0.is_some() && g.0 == gateway))
            {
                st.gateways.remove(i);
                let resource = ResourceSpec::InternetGateway { vpc };
                st.creates(resource.clone());
                if let Some(v) = gateway.and_then(|g| k.var_mut(&g)) {
                    if let Some(o) = v.origin.as_mut() {
                        o.field = Some("id");
                        o.created = Some(resource);
                    }
                }
            }
            None
        }
        ("ec2", "create-route-table") => {
            let vpc = need(st, k, call, b, at, "vpc-id")?;
            named(st, k, call, b, at, "route_table", Some(vpc.clone()))
                .map(|name| ResourceSpec::RouteTable { vpc, name })
        }
        ("ec2", "create-nat-gateway") => {
            let vpc = call.first("subnet-id").and_then(|w| match referenced(w, k) {
                Some(ResourceSpec::Subnet { vpc, .. }) => Some(vpc),
                _ => None,
            });
            let Some(vpc) = vpc else {
                st.finding(at.clone(), "import-unknown-value", "labrunner cannot tell the VPC of this NAT gateway (its `--subnet-id` is not a subnet the pages create), so it is not declared for cleanup; add `nat_gateway: { vpc: ..., name: ... }` to `creates`".into());
                return None;
            };
            named(st, k, call, b, at, "nat_gateway", Some(vpc.clone()))
                .map(|name| ResourceSpec::NatGateway { vpc, name })
        }
        ("ec2", "allocate-address") => {
            named(st, k, call, b, at, "elastic_ip", None).map(|name| ResourceSpec::ElasticIp { name })
        }
        ("ec2", "run-instances") => {
            named(st, k, call, b, at, "ec2_instance", None).map(|name| ResourceSpec::Ec2Instance { name })
        }
        ("ec2", "create-launch-template") => {
            Some(ResourceSpec::LaunchTemplate { name: need(st, k, call, b, at, "launch-template-name")? })
        }
        ("ec2", "create-vpc-endpoint") => {
            let vpc = need(st, k, call, b, at, "vpc-id")?;
            let service = need(st, k, call, b, at, "service-name")?;
            Some(ResourceSpec::VpcEndpoint { vpc, service })
        }
        ("ec2", "create-tags") => {
            if let Some(Ok(name)) = name_tag(call, b, k) {
                let vars: Vec<String> = call
                    .values("resources")
                    .iter()
                    .filter_map(|w| match w.parts.as_slice() {
                        [Part::Var(n)] => Some(n.clone()),
                        _ => None,
                    })
                    .collect();
                for var in vars {
                    if let Some(i) = st.unnamed.iter().position(|u| u.1.as_deref() == Some(var.as_str())) {
                        let (kind, _, _, vpc) = st.unnamed.remove(i);
                        if let Some(resource) = with_name(kind, name.clone(), vpc) {
                            st.creates(resource.clone());
                            if let Some(o) = k.var_mut(&var).and_then(|v| v.origin.as_mut()) {
                                o.field = Some("id");
                                o.created = Some(resource);
                            }
                        }
                    }
                }
            }
            None
        }
        ("dynamodb", "create-table") => {
            Some(ResourceSpec::DynamodbTable { table: need(st, k, call, b, at, "table-name")? })
        }
        ("acm", "request-certificate") => {
            Some(ResourceSpec::AcmCertificate { domain: need(st, k, call, b, at, "domain-name")? })
        }
        ("route53", "create-hosted-zone") => {
            Some(ResourceSpec::HostedZone { name: need(st, k, call, b, at, "name")? })
        }
        ("route53", "change-resource-record-sets") => {
            st.finding(at.clone(), "import-unknown-value", "labrunner does not read change batches, so the records this command creates are not declared for cleanup; add `dns_record: { zone: ..., name: ..., type: ... }` entries to `creates`".into());
            None
        }
        ("cloudwatch", "put-metric-alarm") => {
            Some(ResourceSpec::Alarm { name: need(st, k, call, b, at, "alarm-name")? })
        }
        ("cloudwatch", "put-dashboard") => {
            Some(ResourceSpec::Dashboard { name: need(st, k, call, b, at, "dashboard-name")? })
        }
        ("application-autoscaling", "register-scalable-target") => {
            let service_namespace = need(st, k, call, b, at, "service-namespace")?;
            let resource_id = need(st, k, call, b, at, "resource-id")?;
            let dimension = need(st, k, call, b, at, "scalable-dimension")?;
            st.check(Check::new(CheckSpec::ScalableTarget(ScalableTarget {
                service_namespace: (service_namespace != "ecs").then(|| service_namespace.clone()),
                resource_id: resource_id.clone(),
                dimension: (dimension != "ecs:service:DesiredCount").then(|| dimension.clone()),
                min_capacity: number(opt(k, call, b, "min-capacity")),
                max_capacity: number(opt(k, call, b, "max-capacity")),
            })));
            Some(ResourceSpec::ScalableTarget { service_namespace, resource_id, dimension })
        }
        ("application-autoscaling", "put-scaling-policy") => {
            let service_namespace = need(st, k, call, b, at, "service-namespace")?;
            let resource_id = need(st, k, call, b, at, "resource-id")?;
            let dimension = need(st, k, call, b, at, "scalable-dimension")?;
            let policy_name = need(st, k, call, b, at, "policy-name")?;
            st.check(Check::new(CheckSpec::ScalingPolicy(ScalingPolicy {
                service_namespace: (service_namespace != "ecs").then(|| service_namespace.clone()),
                resource_id: resource_id.clone(),
                policy_name: policy_name.clone(),
                policy_type: opt(k, call, b, "policy-type"),
            })));
            Some(ResourceSpec::ScalingPolicy { service_namespace, resource_id, dimension, policy_name })
        }
        _ => {
            *handled = false;
            None
        }
    }
}

/// A resource type identified by its `Name` tag: the name, or `None` (and a note kept until
/// the step ends, in case `create-tags` names it later).
fn named(
    st: &mut StepState<'_>,
    k: &Knowledge,
    call: &AwsCall,
    b: &[(String, String)],
    at: &Location,
    kind: &'static str,
    vpc: Option<String>,
) -> Option<String> {
    match name_tag(call, b, k) {
        Some(Ok(name)) => Some(name),
        Some(Err(why)) => {
            st.finding(at.clone(), "import-unknown-value", format!("the `Name` tag of `{}` is {why}, which labrunner cannot know before the step runs; labrunner identifies a {kind} by that tag, so it is not declared for cleanup: use a literal or an exported variable", call.name()));
            None
        }
        None => {
            st.unnamed.push((kind, None, at.clone(), vpc));
            None
        }
    }
}

fn with_name(kind: &str, name: String, vpc: Option<String>) -> Option<ResourceSpec> {
    Some(match kind {
        "vpc" => ResourceSpec::Vpc { name },
        "route_table" => ResourceSpec::RouteTable { vpc: vpc?, name },
        "nat_gateway" => ResourceSpec::NatGateway { vpc: vpc?, name },
        "elastic_ip" => ResourceSpec::ElasticIp { name },
        "ec2_instance" => ResourceSpec::Ec2Instance { name },
        _ => return None,
    })
}

/// Target group names in a `--load-balancers` value (shorthand or JSON).
fn target_groups_in(word: &Word, b: &[(String, String)], k: &Knowledge) -> Vec<String> {
    static ARN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&format!(r#"targetGroupArn"?\s*[=:]\s*"?({VALUE})"#)).expect("valid regex")
    });
    let Ok(text) = template(word, b, k) else { return Vec::new() };
    ARN.captures_iter(&text)
        .filter_map(|c| match referenced_in(&c[1], k)? {
            ResourceSpec::TargetGroup { name } => Some(name),
            _ => None,
        })
        .collect()
}

/// The Cloud Map service a `--service-registries` value names.
fn registry_in(word: &Word, b: &[(String, String)], k: &Knowledge) -> Option<ResourceSpec> {
    static ARN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&format!(r#"registryArn"?\s*[=:]\s*"?({VALUE})"#)).expect("valid regex")
    });
    let text = template(word, b, k).ok()?;
    referenced_in(&ARN.captures(&text)?[1], k)
}

/// Ends the step: resources never named, gateways never attached, and a check when the
/// commands suggested none.
fn finish(k: &Knowledge, mut st: StepState<'_>) -> StepPlan {
    for (kind, _, at, _) in std::mem::take(&mut st.unnamed) {
        st.finding(
            at,
            "import-no-name",
            format!("labrunner identifies a {kind} by its `Name` tag, and this command gives none, so it is not declared for cleanup: add `--tag-specifications 'ResourceType=...,Tags=[{{Key=Name,Value=...}}]'` to the command"),
        );
    }
    for (_, at) in std::mem::take(&mut st.gateways) {
        st.finding(
            at,
            "import-unknown-value",
            "labrunner identifies an internet gateway by the VPC it is attached to, and this step does not attach it (`aws ec2 attach-internet-gateway --internet-gateway-id \"$IGW_ID\" --vpc-id ...` in the same step), so it is not declared for cleanup".into(),
        );
    }
    st.plan.cleanup_only = st.deletes && !st.non_delete;
    st.plan.reads_only = !st.changes;
    if st.plan.checks.is_empty() && !st.plan.cleanup_only {
        if st.identity {
            st.plan.checks.push(Check::new(CheckSpec::CallerIdentity(CallerIdentity::default())));
        } else if let Some((script, what)) = st.rereadable.last().cloned() {
            st.plan.checks.push(command_check(script, None, format!("`{what}` succeeds (it only reads)")));
        } else if let Some(url) = st.urls.first().cloned() {
            st.plan.checks.push(Check::new(CheckSpec::Http(Http {
                url,
                method: None,
                headers: BTreeMap::new(),
                body: None,
                status: None,
                body_contains: None,
                json_path: None,
                equals: None,
            })));
        } else if !st.written.is_empty() {
            let run =
                st.written.iter().map(|f| format!("test -s {}", sh(f))).collect::<Vec<_>>().join(" && ");
            let label = format!("{} written in the lab's working directory", st.written.join(", "));
            st.plan.checks.push(command_check(run, None, label));
        } else if !st.assigned.is_empty() {
            // The identity and place are labrunner's to set: no check that they have values.
            let names: Vec<&String> = st
                .assigned
                .iter()
                .filter(|n| !n.starts_with("AWS_") && k.var(n).is_some_and(|v| v.exported))
                .collect();
            if !names.is_empty() {
                let run =
                    names.iter().map(|n| format!("test -n \"${{{n}}}\"")).collect::<Vec<_>>().join(" && ");
                let label = format!(
                    "{} {} a value",
                    names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", "),
                    if names.len() == 1 { "has" } else { "have" }
                );
                st.plan.checks.push(command_check(run, None, label));
            }
        }
    }
    st.plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(code: &str) -> (StepPlan, Knowledge) {
        plan_with(Knowledge::default(), code)
    }

    fn plan_with(mut k: Knowledge, code: &str) -> (StepPlan, Knowledge) {
        let block = BlockIn { code, at: Location::new("p.md", 10, 1) };
        let plan = infer_step(&mut k, "s", &[block]);
        (plan, k)
    }

    fn creates(code: &str) -> Vec<String> {
        plan_of(code).0.creates.iter().map(ResourceSpec::describe).collect()
    }

    fn kinds(plan: &StepPlan) -> Vec<String> {
        plan.checks.iter().map(|c| format!("{} {}", c.kind(), c.describe())).collect()
    }

    #[test]
    fn creating_commands_declare_what_they_create() {
        let cases: &[(&str, &[&str])] = &[
            ("aws ecs create-cluster --cluster-name \"$CLUSTER_NAME\"", &["ecs_cluster ${CLUSTER_NAME}"]),
            ("aws ecs create-cluster", &["ecs_cluster default"]),
            ("aws ecs create-service --cluster demo --service-name web --task-definition web:3", &["ecs_service demo/web"]),
            ("aws ecs register-task-definition --family web --container-definitions '[]'", &["task_definition web"]),
            ("aws logs create-log-group --log-group-name /ecs/web", &["log_group /ecs/web"]),
            ("aws iam create-role --role-name r --assume-role-policy-document '{}'", &["iam_role r"]),
            ("aws elbv2 create-target-group --name web-tg --port 80", &["target_group web-tg"]),
            ("aws elbv2 create-load-balancer --name web-alb --subnets a b", &["load_balancer web-alb"]),
            ("aws servicediscovery create-private-dns-namespace --name local --vpc \"$VPC_ID\"", &["cloudmap_namespace local"]),
            ("aws ec2 create-vpc --cidr-block 10.0.0.0/16 --tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=demo-vpc}]'", &["vpc demo-vpc"]),
            ("aws ec2 create-subnet --vpc-id $VPC_ID --cidr-block 10.0.1.0/24", &["subnet 10.0.1.0/24 in ${VPC_ID}"]),
            ("aws ec2 create-security-group --group-name sg1 --description x --vpc-id \"${VPC_ID}\"", &["security_group sg1 in ${VPC_ID}"]),
            ("aws dynamodb create-table --table-name items --billing-mode PAY_PER_REQUEST", &["dynamodb_table items"]),
            ("aws cloudwatch put-metric-alarm --alarm-name high-cpu", &["alarm high-cpu"]),
            ("aws route53 create-hosted-zone --name example.com --caller-reference x", &["hosted_zone example.com"]),
            ("aws acm request-certificate --domain-name api.example.com", &["acm_certificate api.example.com"]),
            ("for g in /a /b; do aws logs create-log-group --log-group-name \"$g\"; done", &["log_group /a", "log_group /b"]),
            ("aws --region eu-west-1 logs create-log-group --log-group-name x", &["log_group x"]),
            ("aws ecr create-repository --repository-name lab/auth", &["ecr_repository lab/auth"]),
            ("aws ssm put-parameter --name /lab/db-port --type String --value 5432", &["ssm_parameter /lab/db-port"]),
            (
                "aws autoscaling create-auto-scaling-group --auto-scaling-group-name nodes --min-size 0 --max-size 1",
                &["autoscaling_group nodes"],
            ),
            ("aws ecs create-capacity-provider --name cp --auto-scaling-group-provider x", &["capacity_provider cp"]),
            (
                "aws ecs create-capacity-provider --name cp --auto-scaling-group-provider x\naws ecs put-cluster-capacity-providers --cluster \"$CLUSTER_NAME\" --capacity-providers FARGATE cp --default-capacity-provider-strategy '[]'",
                &["capacity_provider cp (cluster ${CLUSTER_NAME})"],
            ),
            ("aws logs create-log-group --log-group-name \"$(date +%s)\"", &[]),
            ("aws ec2 create-vpc --cidr-block 10.0.0.0/16", &[]),
            (
                "export VPC_ID=$(aws ec2 create-vpc --cidr-block 10.0.0.0/16 --query Vpc.VpcId --output text)\naws ec2 create-tags --resources $VPC_ID --tags Key=Name,Value=tagged",
                &["vpc tagged"],
            ),
            (
                "export IGW_ID=$(aws ec2 create-internet-gateway --query InternetGateway.InternetGatewayId --output text)\naws ec2 attach-internet-gateway --internet-gateway-id \"$IGW_ID\" --vpc-id \"$VPC_ID\"",
                &["internet_gateway attached to ${VPC_ID}"],
            ),
        ];
        for (code, want) in cases {
            assert_eq!(creates(code), *want, "{code}");
        }
    }

    #[test]
    fn each_step_gets_a_check_that_fits() {
        let cases: &[(&str, &[&str])] = &[
            ("aws ecs create-cluster --cluster-name c1", &["cluster_active cluster c1 is ACTIVE"]),
            ("aws logs create-log-group --log-group-name /x", &["log_group log group /x exists"]),
            (
                "aws ecs create-service --cluster c1 --service-name web --task-definition web:2",
                &["service_stable service web is stable"],
            ),
            ("aws servicediscovery create-private-dns-namespace --name local --vpc v", &["cloudmap_namespace namespace local exists"]),
            ("aws ec2 create-subnet --vpc-id $VPC_ID --cidr-block 10.0.1.0/24", &["command subnet 10.0.1.0/24 of VPC ${VPC_ID} is available"]),
            ("aws sts get-caller-identity", &["caller_identity AWS credentials work"]),
            (
                "export AZ=$(aws ec2 describe-availability-zones --query 'AvailabilityZones[0].ZoneName' --output text)",
                &["command `aws ec2 describe-availability-zones` succeeds (it only reads)"],
            ),
            ("cat > f.json <<'EOF'\n{}\nEOF", &["command f.json written in the lab's working directory"]),
            ("export CLUSTER_NAME=orders", &["command CLUSTER_NAME has a value"]),
            ("vim app.py", &[]),
        ];
        for (code, want) in cases {
            assert_eq!(kinds(&plan_of(code).0), *want, "{code}");
        }
        let td = plan_of("cat > td.json <<EOF\n{\"family\": \"web\", \"cpu\": \"256\", \"memory\": \"512\", \"networkMode\": \"awsvpc\", \"containerDefinitions\": [{\"name\": \"w\", \"image\": \"$IMAGE\", \"portMappings\": [{\"containerPort\": 8080}]}]}\nEOF\naws ecs register-task-definition --cli-input-json file://td.json").0;
        assert_eq!(
            td.checks,
            [Check::new(CheckSpec::TaskDefinition(TaskDefinitionCheck {
                family: "web".into(),
                revision: None,
                container: None,
                image: None,
                cpu: Some("256".into()),
                memory: Some("512".into()),
                network_mode: Some("awsvpc".into()),
                container_port: Some(8080),
                health_check: None,
            }))]
        );
    }

    #[test]
    fn services_tie_to_their_target_groups_and_registries() {
        let (_, k) = plan_of("export TG_ARN=$(aws elbv2 create-target-group --name web-tg --query 'TargetGroups[0].TargetGroupArn' --output text)\nexport NS_ID=$(aws servicediscovery list-namespaces --query \"Namespaces[?Name=='local'].Id\" --output text)\nexport SD_ARN=$(aws servicediscovery create-service --name web --namespace-id $NS_ID --query Service.Arn --output text)");
        assert_eq!(k.var("TG_ARN").and_then(|v| v.origin.as_ref()).and_then(|o| o.field), Some("arn"));
        assert!(matches!(
            k.var("SD_ARN").and_then(|v| v.origin.clone()).and_then(|o| o.created),
            Some(ResourceSpec::CloudmapService { .. })
        ));
        let (plan, _) = plan_with(k, "aws ecs create-service --cluster c --service-name web --task-definition $TD \\\n  --load-balancers targetGroupArn=$TG_ARN,containerName=w,containerPort=80 \\\n  --service-registries \"registryArn=$SD_ARN\"");
        assert_eq!(
            kinds(&plan),
            [
                "service_stable service web is stable",
                "targets_healthy target group web-tg has healthy targets",
                "cloudmap_instances Cloud Map service web has instances"
            ]
        );
    }

    #[test]
    fn idempotence_is_claimed_only_where_it_holds() {
        let cases: &[(&str, bool)] = &[
            ("aws ecs describe-clusters --clusters c", true),
            ("aws ecs create-cluster --cluster-name c", true),
            ("aws logs put-retention-policy --log-group-name g --retention-in-days 7", true),
            ("aws logs create-log-group --log-group-name g", false),
            ("aws logs create-log-group --log-group-name g || true", true),
            ("if ! aws iam get-role --role-name r; then aws iam create-role --role-name r --assume-role-policy-document x; fi", true),
            ("aws ec2 authorize-security-group-ingress --group-id g --port 80 --protocol tcp --cidr 0.0.0.0/0", false),
            ("echo hi >> log.txt", false),
            ("cat > a.json <<EOF\n{}\nEOF", true),
            ("make build", false),
        ];
        for (code, want) in cases {
            assert_eq!(plan_of(code).0.idempotent, *want, "{code}");
        }
    }

    #[test]
    fn what_cannot_run_unattended_is_named() {
        let cases: &[(&str, Option<&str>)] = &[
            ("vim task.json", Some("`vim` opens an editor")),
            ("aws logs tail /ecs/web --follow", Some("`aws logs tail --follow` never ends")),
            (
                "docker push 1.dkr.ecr/x:latest",
                Some("`docker push` needs a registry login and a local image"),
            ),
            (
                "aws ecr get-login-password | docker login --username AWS --password-stdin x",
                Some("`docker login` needs registry credentials typed or piped in"),
            ),
            (
                "aws ecs register-task-definition --cli-input-json file://missing.json",
                Some("it reads `missing.json`"),
            ),
            ("aws configure", Some("`aws configure` asks questions at the terminal")),
            ("aws logs tail /ecs/web --since 5m", None),
        ];
        for (code, want) in cases {
            let got = plan_of(code).0.unattended_blocker;
            match want {
                Some(w) => assert!(got.as_deref().is_some_and(|g| g.starts_with(w)), "{code}: {got:?}"),
                None => assert_eq!(got, None, "{code}"),
            }
        }
    }

    #[test]
    fn variables_are_learned_with_their_origins() {
        let (_, k) = plan_of("export CLUSTER_NAME=orders\nexport VPC_ID=$(aws ec2 create-vpc --cidr-block 10.0.0.0/16 \\\n  --tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=demo}]' --query Vpc.VpcId --output text)\nLOCAL=$(aws sts get-caller-identity --query Account --output text)\n");
        let cluster = k.var("CLUSTER_NAME").unwrap();
        assert_eq!(cluster.value, VarValue::Literal(Ok("orders".into())));
        let vpc = k.var("VPC_ID").unwrap();
        assert_eq!(vpc.value, VarValue::Captured);
        assert!(vpc.exported);
        let origin = vpc.origin.as_ref().unwrap();
        assert_eq!(
            (origin.created.clone(), origin.field),
            (Some(ResourceSpec::Vpc { name: "demo".into() }), Some("id"))
        );
        assert_eq!(vpc.location.line, 12);
        assert!(!k.var("LOCAL").unwrap().exported);
    }

    #[test]
    fn values_become_templates() {
        let k = Knowledge::default();
        let word = |code: &str| shell::parse(code).remove(0).words.remove(1);
        assert_eq!(template(&word("x \"$CLUSTER\"-web"), &[], &k), Ok("${CLUSTER}-web".into()));
        assert_eq!(template(&word("x 'cost $5'"), &[], &k), Ok("cost $$5".into()));
        assert!(template(&word("x $lower"), &[], &k).is_err());
        assert_eq!(template(&word("x $g"), &[("g".into(), "/a".into())], &k), Ok("/a".into()));
        assert!(template(&word("x ${X:-y}"), &[], &k).is_err());
        assert_eq!(
            shell_text_template("{\"a\": \"$X\", \"b\": \"${Y}\", \"c\": \"\\$Z $1\"}", false, &[], &k),
            "{\"a\": \"${X}\", \"b\": \"${Y}\", \"c\": \"$$Z \u{1}\"}"
        );
        assert_eq!(
            check_script("aws ecs describe-services --cluster \"$C\" --services ${S}", &k).as_deref(),
            Some("aws ecs describe-services --cluster \"$C\" --services ${S}")
        );
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("${VPC_ID}"), "${VPC_ID}");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }

    #[test]
    fn reads_of_created_resources_give_lookups() {
        let (plan, k) = plan_of(
            "export ALB_ARN=$(aws elbv2 create-load-balancer --name web-alb --query 'LoadBalancers[0].LoadBalancerArn' --output text)\n\
             export ALB_DNS=$(aws elbv2 describe-load-balancers --load-balancer-arns \"$ALB_ARN\" --query 'LoadBalancers[0].DNSName' --output text)\n\
             export OPERATION_ID=$(aws servicediscovery create-private-dns-namespace --name local --vpc v --query OperationId --output text)\n\
             export NAMESPACE_ID=$(aws servicediscovery get-operation --operation-id \"$OPERATION_ID\" --query 'Operation.Targets.NAMESPACE' --output text)\n\
             aws servicediscovery create-service --name web --namespace-id \"$NAMESPACE_ID\"\n",
        );
        let lookup = |name: &str| {
            let o = k.var(name).and_then(|v| v.origin.clone()).unwrap();
            (o.created.or(o.described).map(|r| r.describe()), o.field)
        };
        assert_eq!(lookup("ALB_DNS"), (Some("load_balancer web-alb".into()), Some("dns_name")));
        assert_eq!(lookup("OPERATION_ID"), (Some("cloudmap_namespace local".into()), None));
        assert_eq!(lookup("NAMESPACE_ID"), (Some("cloudmap_namespace local".into()), Some("id")));
        assert!(plan
            .creates
            .contains(&ResourceSpec::CloudmapService { namespace: "local".into(), name: "web".into() }));
    }

    #[test]
    fn files_written_in_loops_are_read_back() {
        let (plan, _) = plan_of(
            "for f in api web; do\n  cat > \"$f.json\" <<EOF\n{\"family\": \"$f\", \"cpu\": \"$1\"}\nEOF\ndone\nfor f in api web; do aws ecs register-task-definition --cli-input-json \"file://$f.json\"; done\n",
        );
        let families: Vec<String> = plan.creates.iter().map(ResourceSpec::describe).collect();
        assert_eq!(families, ["task_definition api", "task_definition web"]);
        assert!(
            plan.checks.iter().all(|c| !format!("{:?}", c.spec).contains("cpu: Some")),
            "an unknown cpu is left out: {:?}",
            plan.checks
        );
        assert_eq!(plan.unattended_blocker, None);
        // A file written under a name only known at run time may be any file.
        let (plan, _) = plan_of("write() { cat > \"$1.json\" <<EOF\n{}\nEOF\n}\nwrite td\naws ecs register-task-definition --cli-input-json file://td.json\n");
        assert_eq!(plan.unattended_blocker, None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 512, failure_persistence: None, ..Default::default() })]

        /// Any text read as a shell block gives some plan, never a panic.
        #[test]
        fn any_block_gives_a_plan(code in "[ -~\\n\\t\u{e9}]{0,200}") {
            let _ = plan_of(&code);
        }

        /// So do blocks assembled from the shell that matters.
        #[test]
        fn assembled_blocks_give_a_plan(picks in proptest::collection::vec(0..PIECES.len(), 0..30)) {
            let code: String = picks.iter().map(|i| PIECES[*i]).collect();
            let _ = plan_of(&code);
        }
    }

    const PIECES: &[&str] = &[
        "aws ",
        "ecs ",
        "ec2 ",
        "create-service ",
        "create-vpc ",
        "--cluster ",
        "--name ",
        "x ",
        "\"$X\" ",
        "$(",
        ")",
        "${",
        "}",
        "'",
        "\"",
        "`",
        "\\\n",
        "\n",
        "; ",
        "&& ",
        "|| ",
        "| ",
        "> f ",
        ">> f ",
        "<<EOF\n",
        "<<'E'\n",
        "EOF\n",
        "E\n",
        "for i in a b; do ",
        "done ",
        "if ",
        "then ",
        "fi ",
        "export A=",
        "A=$(aws sts get-caller-identity)",
        "--tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=n}]' ",
        "file://f ",
        "--query Vpc.VpcId ",
        "case x in a) echo;; esac ",
        "$((1+2)) ",
        "2>&1 ",
        "&> /dev/null ",
        "# comment\n",
        "read x ",
        "while read l; do ",
    ];

    #[test]
    fn odd_commands_never_panic() {
        for code in [
            "aws",
            "aws ecs",
            "aws ecs create-service",
            "aws ec2 create-tags --tags",
            "aws elbv2 create-listener --port x",
            "export =1",
            "aws --region",
            "aws ecs register-task-definition --cli-input-json '{'",
            "for x in; do aws logs create-log-group --log-group-name $x; done",
        ] {
            let _ = plan_of(code);
        }
    }
}
