//! The lab model: what a parsed lab is, independent of how it was written down.
//!
//! A [`Lab`] is a manifest plus its ordered [`Module`]s; a module holds [`Step`]s; a step holds
//! its instructions, its shell blocks, the [`Check`]s that prove it worked, the resources it
//! creates (for cleanup) and hints. Nothing here touches the file system, YAML or AWS.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::check::{Check, CheckSpec};
pub use super::resource::ResourceSpec;

/// The lab format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A position in a source file, 1-based, for error messages and lint findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, as it was given (relative paths stay relative).
    pub file: PathBuf,
    /// Line, starting at 1.
    pub line: usize,
    /// Column in characters, starting at 1.
    pub column: usize,
}

impl Location {
    /// A location in `file` at `line`:`column`.
    pub fn new(file: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Location { file: file.into(), line, column }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A whole lab: the manifest and its modules in order.
#[derive(Debug, Clone)]
pub struct Lab {
    /// The manifest (`labs/<id>.yaml`).
    pub manifest: Manifest,
    /// The manifest's path.
    pub manifest_path: PathBuf,
    /// The modules, in the manifest's order.
    pub modules: Vec<Module>,
}

impl Lab {
    /// The lab id.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// Every step of the lab in order, with the module it belongs to.
    pub fn steps(&self) -> impl Iterator<Item = (&Module, &Step)> {
        self.modules.iter().flat_map(|m| m.steps.iter().map(move |s| (m, s)))
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps().map(|(_, s)| s).find(|s| s.id == id)
    }

    /// Position of the step with this id in [`Lab::steps`].
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps().position(|(_, s)| s.id == id)
    }

    /// The number of steps.
    pub fn step_count(&self) -> usize {
        self.modules.iter().map(|m| m.steps.len()).sum()
    }

    /// The declared variable with this name.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.manifest.variables.iter().find(|v| v.name == name)
    }
}

/// The lab manifest: identity, description, modules and variables.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// Format version (see [`FORMAT_VERSION`]).
    pub format: u32,
    /// Lab id: lower-case letters, digits and dashes; also the manifest's file stem.
    pub id: String,
    /// Human title.
    pub title: String,
    /// One-paragraph summary.
    pub summary: String,
    /// Who the lab is for.
    pub audience: Option<String>,
    /// How long the lab takes, as written ("90 minutes").
    pub estimated_time: Option<String>,
    /// What the lab costs and how to keep it low.
    pub cost: Option<String>,
    /// Module files, relative to `content/<id>/`.
    pub modules: Vec<String>,
    /// Declared variables, in declaration order.
    pub variables: Vec<Variable>,
    /// What the student needs before starting.
    pub prerequisites: Vec<String>,
}

/// A lab variable such as `CLUSTER_NAME`, used as `${CLUSTER_NAME}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Upper-case name: letters, digits, underscores.
    pub name: String,
    /// What the value is for, shown at the prompt.
    pub description: String,
    /// How the value is obtained.
    pub source: VariableSource,
    /// Default value; may reference other variables.
    pub default: Option<String>,
    /// A regular expression the value must match entirely.
    pub pattern: Option<String>,
    /// Never printed or written to disk.
    pub secret: bool,
    /// For a step variable: how to find its value read-only when it was not captured (a
    /// resumed run whose block was killed, a student who did the step by hand).
    pub lookup: Option<Lookup>,
    /// Where it was declared.
    pub location: Location,
}

/// A read-only way to a step variable's value: a field of one resource.
///
/// ```yaml
/// lookup: { vpc: { name: flask-inventory-vpc }, field: id }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The resource, as in `creates` (it may use other variables).
    pub resource: super::ResourceSpec,
    /// `id` (the id, or the ARN where there is no id), `arn`, or another recorded id.
    pub field: String,
}

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableSource {
    /// Asked from the student (the default is offered).
    Prompt,
    /// The standard output of a shell command, trimmed.
    Command(String),
    /// The caller identity's account id.
    Account,
    /// The caller identity's ARN.
    CallerArn,
    /// The region labrunner runs in.
    Region,
    /// Exported by a shell block of a step (`export NAME=...`).
    Step,
}

impl VariableSource {
    /// The word used for this source in the manifest.
    pub fn keyword(&self) -> &'static str {
        match self {
            VariableSource::Prompt => "prompt",
            VariableSource::Command(_) => "command",
            VariableSource::Account => "account",
            VariableSource::CallerArn => "caller_arn",
            VariableSource::Region => "region",
            VariableSource::Step => "step",
        }
    }
}

/// One Markdown page of a lab.
#[derive(Debug, Clone)]
pub struct Module {
    /// The file.
    pub path: PathBuf,
    /// Title from the front matter, or the first heading, or the file stem.
    pub title: String,
    /// Hugo weight from the front matter, if any.
    pub weight: Option<i64>,
    /// Markdown before the first step (introduction).
    pub intro: String,
    /// The steps in page order.
    pub steps: Vec<Step>,
}

/// Whether the student does a step on the command line or in the AWS console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepMode {
    /// Shell commands labrunner can run for the student, or show to copy.
    #[default]
    Cli,
    /// Done by hand in the console; labrunner only shows and verifies.
    Console,
}

/// One step: instructions, commands, checks, created resources, hints.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique id within the lab.
    pub id: String,
    /// Short title.
    pub title: String,
    /// Command line or console.
    pub mode: StepMode,
    /// The instructions as Markdown (the page text of the step, metadata removed).
    pub body: String,
    /// Shell blocks in order.
    pub shell: Vec<ShellBlock>,
    /// Checks that prove the step worked.
    pub checks: Vec<Check>,
    /// Resources the step creates, for the cleanup ledger.
    pub creates: Vec<ResourceSpec>,
    /// Resources AWS creates on the lab's behalf because of this step, some time after its
    /// commands return (the Cloud Map service ECS makes for Service Connect): recorded when
    /// they appear, never a failure while they have not.
    pub aws_creates: Vec<ResourceSpec>,
    /// Hints, matched against diagnostics or shown on request.
    pub hints: Vec<Hint>,
    /// Its commands may run again safely when an earlier run of them was interrupted (they
    /// create nothing twice): an unattended resume re-runs it even if some of what it
    /// creates exists.
    pub idempotent: bool,
    /// False for steps synthesised from plain Markdown (no metadata).
    pub declared: bool,
    /// Where the step starts (its metadata block, or its code block).
    pub location: Location,
    /// The metadata block as written, for pointing later findings at it.
    pub meta: Option<MetaSource>,
}

/// A step's YAML metadata as it stands in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaSource {
    /// The file.
    pub file: PathBuf,
    /// The YAML text between `labrunner:step` and `-->`.
    pub yaml: String,
    /// Line where the YAML text starts.
    pub line: usize,
    /// Column where the YAML text starts.
    pub column: usize,
    /// Where the `<!--` of the block stands.
    pub block: Location,
}

impl MetaSource {
    /// The position of the first occurrence of `needle` in the metadata, or of the block.
    pub fn locate(&self, needle: &str) -> Location {
        let Some(offset) = self.yaml.find(needle).filter(|_| !needle.is_empty()) else {
            return self.block.clone();
        };
        let before = &self.yaml[..offset];
        let line_in = before.matches('\n').count();
        let col_in = before.rsplit('\n').next().unwrap_or("").chars().count();
        if line_in == 0 {
            Location::new(&self.file, self.line, self.column + col_in)
        } else {
            Location::new(&self.file, self.line + line_in, col_in + 1)
        }
    }
}

impl Step {
    /// The shell blocks labrunner may run for the student.
    pub fn runnable_blocks(&self) -> impl Iterator<Item = &ShellBlock> {
        self.shell.iter().filter(|b| b.runnable)
    }
}

/// A fenced shell code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellBlock {
    /// The code, as written.
    pub code: String,
    /// False for blocks marked `{labrunner=show}` and for every block of a console step.
    pub runnable: bool,
    /// A fence without a language whose lines read as shell commands: shown, never run.
    pub untagged: bool,
    /// Where the fence starts.
    pub location: Location,
}

/// A hint for a step: shown on request, and offered first when `when` matches a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hint {
    /// A regular expression (case-insensitive) matched against diagnostics and errors.
    #[serde(default)]
    pub when: Option<String>,
    /// The hint, Markdown.
    pub text: String,
}
