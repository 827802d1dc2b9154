//! `labrunner lint`: schema errors and findings for labs, manifests and single pages.
//!
//! Exit 0 when clean, 1 with findings, 2 when some input cannot be loaded at all.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{LintArgs, LintFormat};
use crate::commands::Context;
use crate::error::{Error, EXIT_FINDINGS, EXIT_INPUT, EXIT_OK};
use crate::lab::lint::{lint_lab, Finding};
use crate::lab::{list_labs, LabError, LabSource};
use crate::out;
use crate::ui::page::plural;
use crate::ui::Ui;

/// What was linted and what was found.
#[derive(Debug, Serialize)]
struct Report {
    /// The lab id or page path.
    target: String,
    /// Load errors: the target is unusable.
    errors: Vec<ErrorJson>,
    /// Findings: the target loads but has problems.
    findings: Vec<Finding>,
    /// Steps and checks seen (when it loads).
    steps: usize,
    checks: usize,
}

#[derive(Debug, Serialize)]
struct ErrorJson {
    file: PathBuf,
    line: usize,
    column: usize,
    message: String,
    hint: Option<String>,
}

impl From<&LabError> for ErrorJson {
    fn from(e: &LabError) -> Self {
        ErrorJson {
            file: e.location.file.clone(),
            line: e.location.line,
            column: e.location.column,
            message: e.message.clone(),
            hint: e.hint.clone(),
        }
    }
}

/// Lints every target (or every lab) and prints the findings.
pub fn cmd_lint(ui: &mut Ui, ctx: &Context, args: &LintArgs) -> Result<u8, Error> {
    let mut targets: Vec<Target> = Vec::new();
    if args.targets.is_empty() {
        let labs = list_labs(&ctx.dirs);
        if labs.is_empty() {
            return Err(Error::usage(
                format!("no labs to lint in {}", ctx.dirs.labs.display()),
                "name a lab, a manifest, a page or a directory, or pass --labs-dir DIR",
            ));
        }
        targets.extend(labs.into_iter().map(Target::Manifest));
    }
    for t in &args.targets {
        targets.extend(resolve_target(ctx, t)?);
    }
    let reports: Vec<Report> = targets.iter().map(lint_target).collect();
    match args.format {
        LintFormat::Json => {
            let doc = serde_json::json!({
                "reports": reports,
                "errors": reports.iter().map(|r| r.errors.len()).sum::<usize>(),
                "findings": reports.iter().map(|r| r.findings.len()).sum::<usize>(),
            });
            out!(ui, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        LintFormat::Text => print_text(ui, &reports),
    }
    Ok(if reports.iter().any(|r| !r.errors.is_empty()) {
        EXIT_INPUT
    } else if reports.iter().any(|r| !r.findings.is_empty()) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

enum Target {
    Manifest(PathBuf),
    Pages(PathBuf),
}

fn resolve_target(ctx: &Context, wanted: &str) -> Result<Vec<Target>, Error> {
    let path = Path::new(wanted);
    let has_manifests = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                matches!(e.path().extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
                    && !crate::lab::site::is_site_config(&e.path())
            })
        })
    };
    if path.is_dir() && has_manifests(path) {
        let mut found = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| crate::state::io_error("read", path, &e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            match p.extension().and_then(|e| e.to_str()) {
                Some("yaml" | "yml") => found.push(Target::Manifest(p)),
                Some("md") => found.push(Target::Pages(p)),
                _ => {}
            }
        }
        if found.is_empty() {
            return Err(Error::usage(
                format!("{wanted} holds no lab manifests (.yaml) or pages (.md)"),
                "name a lab id, a manifest, a page, or a directory of them",
            ));
        }
        return Ok(found);
    }
    if path.extension().and_then(|e| e.to_str()) == Some("md") && !path.is_file() {
        return Err(Error::usage(format!("no such page: {wanted}"), "check the path"));
    }
    Ok(vec![match ctx.find_lab(wanted)? {
        LabSource::Manifest(p) => Target::Manifest(p),
        LabSource::Pages(p) => Target::Pages(p),
    }])
}

fn lint_target(target: &Target) -> Report {
    let (name, source) = match target {
        Target::Manifest(path) => (
            path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string(),
            LabSource::Manifest(path.clone()),
        ),
        Target::Pages(path) => (path.display().to_string(), LabSource::Pages(path.clone())),
    };
    match source.load() {
        Ok(lab) => Report {
            target: name,
            errors: Vec::new(),
            findings: lint_lab(&lab),
            steps: lab.step_count(),
            checks: lab.steps().map(|(_, s)| s.checks.len()).sum(),
        },
        Err(errors) => report_errors(name, &errors),
    }
}

fn report_errors(target: String, errors: &[LabError]) -> Report {
    Report {
        target,
        errors: errors.iter().map(ErrorJson::from).collect(),
        findings: Vec::new(),
        steps: 0,
        checks: 0,
    }
}

fn print_text(ui: &mut Ui, reports: &[Report]) {
    let s = ui.styles();
    for r in reports {
        for e in &r.errors {
            out!(
                ui,
                "{}:{}:{}: {} {}",
                e.file.display(),
                e.line,
                e.column,
                s.fail.apply_to("error:"),
                e.message
            );
            if let Some(hint) = &e.hint {
                out!(ui, "  {} {hint}", s.dim.apply_to("hint:"));
            }
        }
        for f in &r.findings {
            out!(ui, "{}: {} {}", f.location, s.warn.apply_to(format!("warning[{}]:", f.rule)), f.message);
        }
        let summary = if !r.errors.is_empty() {
            s.fail.apply_to(format!("{}: unusable, {} error(s)", r.target, r.errors.len())).to_string()
        } else if !r.findings.is_empty() {
            s.warn.apply_to(format!("{}: {}", r.target, plural(r.findings.len(), "finding"))).to_string()
        } else {
            s.ok.apply_to(format!(
                "{}: clean ({}, {})",
                r.target,
                plural(r.steps, "step"),
                plural(r.checks, "check")
            ))
            .to_string()
        };
        out!(ui, "{summary}");
    }
}
