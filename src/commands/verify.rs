//! `labrunner verify`: one look at each of a lab's checks, no actions, and a report.
//!
//! Variables come from the caller identity, the progress saved for this lab, account and region
//! (if any), and declared defaults. A check whose variables cannot be resolved is reported as an
//! error with advice, not a crash. Checks run concurrently, at most [`CONCURRENCY`] at once.
//! Exit 0 when every check passes, 1 when one fails or errors.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::cli::VerifyArgs;
use crate::commands::Context;
use crate::concurrent::bounded;
use crate::error::{Error, EXIT_FINDINGS, EXIT_OK};
use crate::lab::{Check, Lab, Step};
use crate::session::vars::{missing_advice, Values};
use crate::state::progress::{Progress, PROGRESS_VERSION};
use crate::state::{read_versioned, Loaded, RunDir};
use crate::ui::{Styles, Ui};
use crate::verify::{matching_hints, Outcome, Status, Verifier, VerifySettings};
use crate::{err, out};

/// How many checks look at the account at once.
const CONCURRENCY: usize = 8;

/// The whole result, as `--json` writes it.
#[derive(Debug, Serialize)]
struct Report {
    lab: String,
    account: String,
    region: String,
    steps: Vec<StepReport>,
    summary: Summary,
}

/// The outcomes of one step's checks, in declaration order.
#[derive(Debug, Serialize)]
struct StepReport {
    id: String,
    checks: Vec<Outcome>,
    /// Hints whose `when` matched a failure (text only; not in the JSON).
    #[serde(skip)]
    hints: Vec<String>,
}

/// Counts by status.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
struct Summary {
    passed: usize,
    failed: usize,
    errors: usize,
}

impl Summary {
    fn of(steps: &[StepReport]) -> Self {
        let mut s = Summary::default();
        for o in steps.iter().flat_map(|st| &st.checks) {
            match o.status {
                Status::Pass => s.passed += 1,
                Status::Fail => s.failed += 1,
                Status::Error => s.errors += 1,
            }
        }
        s
    }

    fn all_passed(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errors = if self.errors == 1 { "error" } else { "errors" };
        write!(f, "{} passed, {} failed, {} {errors}", self.passed, self.failed, self.errors)
    }
}

/// Runs the lab's checks once each and reports.
pub async fn cmd_verify(ui: &mut Ui, ctx: &Context, args: &VerifyArgs) -> Result<u8, Error> {
    let lab = ctx.load_lab(&args.lab)?;
    let steps = chosen_steps(&lab, args.step.as_deref())?;
    let clients = Arc::new(ctx.clients().await?);
    let identity = crate::aws::whoami(&clients).await?;
    let s = ui.err_styles();
    err!(ui, "{} {} as {identity}", s.heading.apply_to("Verifying"), lab.id());

    let mut values = Values::from_identity(&lab, &identity);
    for (name, value) in &args.vars {
        values.set(&lab, name, value.clone());
    }
    let run = match ctx.state_dir() {
        Ok(dir) => Some(RunDir::new(&dir, lab.id(), &identity.account, &identity.region)),
        Err(_) => None,
    };
    if let Some(run) = &run {
        // Read-only: a corrupt file is reported and left where it is.
        match read_versioned::<Progress>(&run.progress(), PROGRESS_VERSION, "progress file", false) {
            Ok(Loaded::Found(progress)) => values.extend_missing(&progress.variables),
            Ok(Loaded::Missing | Loaded::Corrupt { .. }) => {}
            Err(e) => err!(ui, "{} {e}; checking without saved variables", s.warn.apply_to("warning:")),
        }
    }
    values.apply_defaults(&lab);
    values.resolve_lookups(&lab, &clients).await;

    let shell = clients.shell_env().await?;
    let mut command_env = values.env();
    command_env.extend(shell.set.clone());
    let settings = VerifySettings {
        timeout_override: args.checks.timeout,
        dns_server: args.checks.dns_server,
        command_env: command_env.into_iter().collect(),
        command_unset: shell.unset.clone(),
        workdir: run.as_ref().map(RunDir::workdir).filter(|d| d.is_dir()),
        ..VerifySettings::default()
    };
    let verifier = Arc::new(Verifier::new(clients, settings));
    let report = Report {
        lab: lab.id().to_string(),
        account: identity.account.clone(),
        region: identity.region.clone(),
        steps: verify_steps(&lab, &steps, &values, verifier).await,
        summary: Summary::default(),
    };
    let report = Report { summary: Summary::of(&report.steps), ..report };

    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Io {
            action: "write",
            path: "standard output".into(),
            detail: e.to_string(),
        })?;
        out!(ui, "{text}");
    } else {
        let text = render(&report, &ui.styles());
        let _ = ui.out().write_all(text.as_bytes());
    }
    Ok(if report.summary.all_passed() { EXIT_OK } else { EXIT_FINDINGS })
}

/// The steps to verify: all steps that declare checks, or the one asked for.
fn chosen_steps<'a>(lab: &'a Lab, wanted: Option<&str>) -> Result<Vec<&'a Step>, Error> {
    match wanted {
        Some(id) => match lab.step(id) {
            Some(step) => Ok(vec![step]),
            None => {
                let ids: Vec<&str> = lab.steps().map(|(_, s)| s.id.as_str()).collect();
                Err(Error::usage(
                    format!("lab `{}` has no step `{id}`", lab.id()),
                    format!("its steps are: {}", ids.join(", ")),
                ))
            }
        },
        None => Ok(lab.steps().map(|(_, s)| s).filter(|s| !s.checks.is_empty()).collect()),
    }
}

/// Every check of `steps` once, at most [`CONCURRENCY`] at a time; outcomes in declaration order.
async fn verify_steps(
    lab: &Lab,
    steps: &[&Step],
    values: &Values,
    verifier: Arc<Verifier>,
) -> Vec<StepReport> {
    let mut slots: Vec<Vec<Option<Outcome>>> = Vec::new();
    let mut looks = Vec::new();
    for (si, step) in steps.iter().enumerate() {
        slots.push(vec![None; step.checks.len()]);
        for (ci, check) in step.checks.iter().enumerate() {
            match values.resolve_check(check) {
                Ok(resolved) => {
                    let verifier = verifier.as_ref();
                    looks.push(async move { (si, ci, verifier.check_once(&resolved).await) });
                }
                Err(message) => {
                    let advice = match values.first_missing(check) {
                        Some(name) => missing_advice(lab, &name),
                        None => message,
                    };
                    slots[si][ci] = Some(unresolved(check, &advice));
                }
            }
        }
    }
    let mut running = std::pin::pin!(bounded(looks, CONCURRENCY));
    while let Some((si, ci, outcome)) = running.next().await {
        slots[si][ci] = Some(outcome);
    }
    steps
        .iter()
        .zip(slots)
        .map(|(step, slots)| {
            let checks: Vec<Outcome> = step
                .checks
                .iter()
                .zip(slots)
                .map(|(check, o)| o.unwrap_or_else(|| unresolved(check, "the check did not finish")))
                .collect();
            let hints =
                matching_hints(&step.hints, &checks).iter().map(|h| h.text.trim().to_string()).collect();
            StepReport { id: step.id.clone(), checks, hints }
        })
        .collect()
}

/// The outcome of a check that could not be run.
fn unresolved(check: &Check, why: &str) -> Outcome {
    Outcome {
        kind: check.kind(),
        description: check.describe(),
        status: Status::Error,
        evidence: format!("not checked: {why}"),
        diagnostics: Vec::new(),
        attempts: 0,
        elapsed: Duration::ZERO,
    }
}

/// The text report: a table grouped by step with diagnostics under failures, the matched hints,
/// and the summary line.
fn render(report: &Report, s: &Styles) -> String {
    let mut text = String::new();
    let step_w = report.steps.iter().map(|st| st.id.width()).max().unwrap_or(0).max("STEP".len());
    let check_w = report
        .steps
        .iter()
        .flat_map(|st| &st.checks)
        .map(|o| o.description.width())
        .max()
        .unwrap_or(0)
        .clamp("CHECK".len(), 60);
    let pad = |t: &str, w: usize| format!("{t}{}", " ".repeat(w.saturating_sub(t.width())));
    if !report.steps.is_empty() {
        let header = format!("{}  {}  {}", pad("STEP", step_w), pad("  CHECK", check_w + 2), "EVIDENCE");
        text.push_str(&format!("{}\n", s.bold.apply_to(header)));
    }
    for step in &report.steps {
        if step.checks.is_empty() {
            text.push_str(&format!("{}  {}\n", pad(&step.id, step_w), s.dim.apply_to("(no checks)")));
        }
        for (i, o) in step.checks.iter().enumerate() {
            let id = if i == 0 { step.id.as_str() } else { "" };
            let mark = match o.status {
                Status::Pass => s.mark(true),
                Status::Fail => s.mark(false),
                Status::Error => s.warn.apply_to("!").to_string(),
            };
            text.push_str(&format!(
                "{}  {mark} {}  {}\n",
                pad(id, step_w),
                pad(&o.description, check_w),
                s.dim.apply_to(&o.evidence)
            ));
            for d in &o.diagnostics {
                text.push_str(&format!("{}      {}\n", " ".repeat(step_w), s.dim.apply_to(format!("· {d}"))));
            }
        }
    }
    let hints: Vec<(&str, &str)> = report
        .steps
        .iter()
        .flat_map(|st| st.hints.iter().map(move |h| (st.id.as_str(), h.as_str())))
        .collect();
    if !hints.is_empty() {
        text.push('\n');
        for (step, hint) in hints {
            let mut lines = hint.lines();
            let first = lines.next().unwrap_or_default();
            text.push_str(&format!("{} ({step}): {first}\n", s.warn.apply_to("hint")));
            for line in lines {
                text.push_str(&format!("  {line}\n"));
            }
        }
    }
    text.push('\n');
    let summary = report.summary.to_string();
    let summary = if report.summary.all_passed() { s.ok.apply_to(summary) } else { s.fail.apply_to(summary) };
    text.push_str(&format!("{summary}\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Status, description: &str, evidence: &str, diagnostics: &[&str]) -> Outcome {
        Outcome {
            kind: "service_stable",
            description: description.into(),
            status,
            evidence: evidence.into(),
            diagnostics: diagnostics.iter().map(|d| d.to_string()).collect(),
            attempts: 1,
            elapsed: Duration::from_millis(20),
        }
    }

    fn report() -> Report {
        let steps = vec![
            StepReport {
                id: "check-identity".into(),
                checks: vec![outcome(Status::Pass, "AWS credentials work", "account 1 in us-east-1", &[])],
                hints: vec![],
            },
            StepReport {
                id: "deploy".into(),
                checks: vec![
                    outcome(
                        Status::Fail,
                        "service web is stable",
                        "web: 0/2 running",
                        &["event: CannotPull"],
                    ),
                    outcome(Status::Error, "table t is ACTIVE", "not checked: T has no value", &[]),
                ],
                hints: vec!["Push the image first.".into()],
            },
        ];
        Report {
            lab: "lab".into(),
            account: "1".into(),
            region: "us-east-1".into(),
            summary: Summary::of(&steps),
            steps,
        }
    }

    #[test]
    fn text_report_groups_by_step_with_diagnostics_hints_and_summary() {
        let text = render(&report(), &Styles::new(false));
        let want = "\
STEP              CHECK                  EVIDENCE
check-identity  ✓ AWS credentials work   account 1 in us-east-1
deploy          ✗ service web is stable  web: 0/2 running
                    · event: CannotPull
                ! table t is ACTIVE      not checked: T has no value

hint (deploy): Push the image first.

1 passed, 1 failed, 1 error
";
        assert_eq!(text, want);
    }

    #[test]
    fn json_report_has_steps_checks_and_summary() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["steps"][1]["id"], "deploy");
        assert_eq!(json["steps"][1]["checks"][0]["status"], "fail");
        assert_eq!(json["steps"][1]["checks"][0]["diagnostics"][0], "event: CannotPull");
        assert_eq!(json["summary"], serde_json::json!({"passed": 1, "failed": 1, "errors": 1}));
        assert!(json["steps"][1].get("hints").is_none());
    }

    #[test]
    fn summary_wording() {
        let s = Summary { passed: 12, failed: 3, errors: 2 };
        assert_eq!(s.to_string(), "12 passed, 3 failed, 2 errors");
        assert!(!s.all_passed());
        assert!(Summary { passed: 1, failed: 0, errors: 0 }.all_passed());
    }
}
