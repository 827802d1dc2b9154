//! Command-line definitions. Help text comes from the doc comments; every command also
//! shows an example under `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A guided, verifying runner for hands-on cloud labs.
///
/// labrunner walks you through a lab step by step, runs or shows each step's commands,
/// checks the real state of your AWS account before moving on, and removes exactly what
/// the lab created when you are done.
#[derive(Debug, Parser)]
#[command(name = "labrunner", version, about, long_about = None, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 success, 1 problems found, 2 unusable input, 3 AWS unusable, 4 refused for safety, 130 interrupted."
)]
pub struct Cli {
    /// Shared options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory of lab manifests (content/ sits beside it); only its labs are used. Without
    /// it: ./labs, then the labs built into labrunner.
    #[arg(long, global = true, env = "LABRUNNER_LABS", value_name = "DIR")]
    pub labs_dir: Option<PathBuf>,
    /// Directory for progress and cleanup ledgers [default: the platform data directory].
    #[arg(long, global = true, env = "LABRUNNER_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// AWS profile to use (otherwise the standard credential chain).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (otherwise AWS_REGION or the profile's region).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (a local sandbox); AWS_ENDPOINT_URL works too.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the labs found, with their module and step counts.
    #[command(after_help = "Example:\n  labrunner list\n  labrunner --labs-dir ~/workshops/labs list")]
    List,
    /// Show a lab (or one step) in the terminal: instructions, commands, checks and resources.
    #[command(
        after_help = "Example:\n  labrunner show flask-inventory\n  labrunner show ./my-workshop/content          # a Hugo site or a directory of pages\n  labrunner show flask-inventory --step create-namespace --commands"
    )]
    Show(ShowArgs),
    /// Make a lab of plain workshop pages, with the step metadata their commands imply.
    ///
    /// The pages are copied as they are, with a step comment at each section that has shell
    /// commands: the resources its `aws` commands create (for cleanup), a check that proves it
    /// worked, and the variables it uses. What cannot be inferred is printed like lint findings.
    #[command(
        after_help = "Exit codes: 0 imported with nothing to review, 1 imported with findings to review, 2 unusable input.\n\nExample:\n  labrunner import ./my-workshop/content --id my-workshop\n  labrunner import page.md --id one-page --out ~/labs-repo --force"
    )]
    Import(ImportArgs),
    /// Check labs for mistakes without running them.
    #[command(
        after_help = "Exit codes: 0 clean, 1 findings, 2 unusable input.\n\nExample:\n  labrunner lint\n  labrunner lint flask-inventory --format json\n  labrunner lint content/flask-inventory/03-inventory-service.md"
    )]
    Lint(LintArgs),
    /// Run a lab's checks against your account without running any step.
    #[command(
        after_help = "Exit codes: 0 all pass, 1 some fail, 2 bad input, 3 AWS unusable.\n\nExample:\n  labrunner verify flask-inventory\n  labrunner verify flask-inventory --step deploy-invsys --json"
    )]
    Verify(VerifyArgs),
    /// Start a lab: a guided walk that verifies each step before moving on.
    #[command(
        after_help = "Example:\n  labrunner start flask-inventory\n  labrunner start flask-inventory --auto --yes   # unattended, for authors and CI"
    )]
    Start(RunArgs),
    /// Continue a lab where you left it, re-checking what was done before.
    #[command(after_help = "Example:\n  labrunner resume flask-inventory")]
    Resume(RunArgs),
    /// Show progress: steps done, the current step, resources still running.
    #[command(after_help = "Example:\n  labrunner status\n  labrunner status flask-inventory")]
    Status(StatusArgs),
    /// Forget a lab's progress (never its cleanup ledger).
    #[command(after_help = "Example:\n  labrunner reset flask-inventory --yes")]
    Reset(ResetArgs),
    /// Delete what a lab created, in an order AWS accepts, and prove it is gone.
    #[command(
        after_help = "Exit codes: 0 nothing remains, 1 something remains, 4 wrong account or region.\n\nExample:\n  labrunner cleanup flask-inventory --dry-run\n  labrunner cleanup flask-inventory\n  labrunner cleanup --all --yes"
    )]
    Cleanup(CleanupArgs),
    /// Validate many student accounts read-only and report who reached which checkpoint.
    #[command(
        after_help = "Example:\n  labrunner validate flask-inventory --accounts class.csv --format junit --output report.xml\n  labrunner validate flask-inventory --accounts class.csv --watch 1m --output class.html\n  labrunner validate flask-inventory --profiles alice,bob --preflight"
    )]
    Validate(ValidateArgs),
    /// Check that your account is ready for a lab before you start it.
    #[command(after_help = "Example:\n  labrunner preflight flask-inventory")]
    Preflight(PreflightArgs),
    /// Print a lab's variables as `export` lines for your own shell.
    #[command(
        after_help = "Example:\n  labrunner env flask-inventory\n  eval \"$(labrunner env flask-inventory)\"    # the lab's values in your own shell"
    )]
    Env(EnvArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  labrunner completions bash > ~/.local/share/bash-completion/completions/labrunner\n  labrunner completions zsh > \"${fpath[1]}/_labrunner\"\n  labrunner completions fish > ~/.config/fish/completions/labrunner.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the manual page (roff).
    #[command(
        after_help = "Example:\n  labrunner man > ~/.local/share/man/man1/labrunner.1 && man labrunner"
    )]
    Man,
}

/// `env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Lab id (or manifest, page or directory) whose run's variables to print.
    pub lab: String,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Lab id, manifest, Markdown page, or directory of pages (a Hugo site).
    pub lab: String,
    /// Show only this step.
    #[arg(long, value_name = "ID")]
    pub step: Option<String>,
    /// Print only the shell commands, raw (to copy or pipe into a shell); each step's are
    /// headed by a `# step: title` comment.
    #[arg(long)]
    pub commands: bool,
    /// Never page the output (on a terminal, `show` pages with `$PAGER`, `less -FRX` by default).
    #[arg(long)]
    pub no_pager: bool,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A Markdown page, a directory of pages or a Hugo site, without labrunner metadata.
    pub source: PathBuf,
    /// Id of the new lab: lower-case letters, digits and dashes.
    #[arg(long, value_name = "NEW-LAB")]
    pub id: String,
    /// Write `labs/<id>.yaml` and `content/<id>/` under this directory [default: the current
    /// directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite a lab with that id already there.
    #[arg(long)]
    pub force: bool,
}

/// Output format of `lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// `file:line:column: severity[rule]: message` lines.
    Text,
    /// One JSON document.
    Json,
}

/// `lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Lab ids, manifest paths, Markdown pages or directories [default: every lab].
    pub targets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub format: LintFormat,
}

/// Options of commands that run checks.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Give every check this long instead of its own deadline (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// DNS server for DNS checks, as IP:PORT (the sandbox prints one).
    #[arg(long, env = "LABRUNNER_DNS_SERVER", value_name = "ADDR")]
    pub dns_server: Option<SocketAddr>,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Lab id, manifest, Markdown page, or directory of pages (a Hugo site).
    pub lab: String,
    /// Only this step's checks.
    #[arg(long, value_name = "ID")]
    pub step: Option<String>,
    /// Write the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Set a variable (repeatable): NAME=VALUE, e.g. an id a step would have captured.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Check options.
    #[command(flatten)]
    pub checks: CheckArgs,
}

/// `start` and `resume`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Lab id, manifest, Markdown page, or directory of pages (a Hugo site).
    pub lab: String,
    /// Run every step unattended, stop at the first failure (exit 1).
    #[arg(long)]
    pub auto: bool,
    /// Answer yes to confirmations.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Write events as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Start at this step (earlier steps count as done by hand).
    #[arg(long, value_name = "ID")]
    pub from: Option<String>,
    /// Stop after this step (progress is saved; `resume` goes on from there).
    #[arg(long, value_name = "ID")]
    pub until: Option<String>,
    /// Set a variable (repeatable): NAME=VALUE.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Check options.
    #[command(flatten)]
    pub checks: CheckArgs,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Lab id [default: every lab with progress].
    pub lab: Option<String>,
}

/// `reset`.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Lab id, manifest, Markdown page, or directory of pages (a Hugo site).
    pub lab: String,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Lab id (or --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub lab: Option<String>,
    /// Every lab with a ledger in this account and region.
    #[arg(long)]
    pub all: bool,
    /// Show the plan, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask to type the account id.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also look for resources the lab declares that are not in the ledger (made by hand).
    #[arg(long)]
    pub scan: bool,
}

/// Report formats of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// JSON document.
    Json,
    /// CSV, one row per account.
    Csv,
    /// JUnit XML, one test case per account and checkpoint.
    Junit,
    /// One self-contained HTML page: the matrix (sortable, filterable), evidence on demand,
    /// the summary and a progress chart per checkpoint.
    Html,
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Lab id, manifest, Markdown page, or directory of pages (a Hugo site).
    pub lab: String,
    /// Accounts to validate: CSV or YAML with account id and optional name/email.
    #[arg(long, value_name = "FILE", conflicts_with = "profiles", required_unless_present = "profiles")]
    pub accounts: Option<PathBuf>,
    /// Role to assume in each account.
    #[arg(long, value_name = "NAME", default_value = "OrganizationAccountAccessRole")]
    pub role_name: String,
    /// External id for the assume-role call.
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// Profiles to validate instead of assumed roles (comma-separated).
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub profiles: Vec<String>,
    /// Readiness checks instead of checkpoints.
    #[arg(long)]
    pub preflight: bool,
    /// How many accounts at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Also write a report in this format [default: from --output's extension].
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Keep watching: a round every INTERVAL [default: 30s] re-checks the accounts not yet
    /// complete (complete ones every 10 rounds, Enter re-checks all), redraws the matrix and
    /// rewrites --output; Ctrl-C ends.
    #[arg(
        long,
        value_name = "INTERVAL",
        num_args = 0..=1,
        default_missing_value = "30s",
        value_parser = parse_duration
    )]
    pub watch: Option<Duration>,
    /// Where to write the report [default: stdout].
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Show evidence for every cell.
    #[arg(long, short)]
    pub verbose: bool,
    /// Check options.
    #[command(flatten)]
    pub checks: CheckArgs,
}

/// `preflight`.
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// Lab id, manifest, Markdown page, or directory of pages (a Hugo site).
    pub lab: String,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::lab::check::parse_duration(text)
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or("expected NAME=VALUE")?;
    if !crate::lab::vars::is_valid_name(name) {
        return Err(format!("`{name}` is not a variable name (letters, digits, underscores)"));
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
